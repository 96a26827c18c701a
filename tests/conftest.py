# coding=utf-8
"""Shared test set-up: the repository on sys.path and small helpers."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")
if REPO not in sys.path:
  sys.path.insert(0, REPO)

import tensorflow.compat.v1 as tf

import modeling


def run_script(script, *args, **kwargs):
  """Runs a script of the repository (a path relative to it) in a child
  Python with TensorFlow's log quiet; the one subprocess runner of the
  tests. Returns the CompletedProcess with stdout and stderr as text.
  `env` adds variables; `cwd` (the repository) and `timeout` (600 s) may be
  given."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.update(kwargs.pop("env", None) or {})
  kwargs.setdefault("cwd", REPO)
  kwargs.setdefault("timeout", 600)
  return subprocess.run(
      [sys.executable, os.path.join(REPO, script)] + [str(a) for a in args],
      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      universal_newlines=True, **kwargs)


def run_module(module, *args, **kwargs):
  """Runs a module of the repository (`python -m bench.pretrain_throughput`,
  from the repository, as the benches are run), as run_script does."""
  kwargs.setdefault("cwd", REPO)
  kwargs.setdefault("timeout", 600)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  env.update(kwargs.pop("env", None) or {})
  return subprocess.run(
      [sys.executable, "-m", module] + [str(a) for a in args],
      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      universal_newlines=True, **kwargs)


SAMPLE_TAGGED = os.path.join(REPO, "data", "sample", "tagged.jsonl")


def write_sample_without(path, *keys):
  """The sample corpus (data/sample/tagged.jsonl) written to `path` with
  every tag of `keys` null, as a corpus that lacks them (People's Daily:
  "dep_head", "dep_label"). Returns the path as a string."""
  import io
  import json
  with io.open(SAMPLE_TAGGED, encoding="utf-8") as f:
    documents = [json.loads(line) for line in f if line.strip()]
  for document in documents:
    for sentence in document["sentences"]:
      for key in keys:
        sentence[key] = [None] * len(sentence["words"])
  with io.open(str(path), "w", encoding="utf-8") as f:
    f.write(u"".join(json.dumps(d, ensure_ascii=False) + u"\n"
                     for d in documents))
  return str(path)


def tiny_config(vocab_size=200, dropout=0.0, **overrides):
  """A 2-layer BERT small enough to train in seconds."""
  values = dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                num_attention_heads=4, intermediate_size=64,
                hidden_act="gelu", hidden_dropout_prob=dropout,
                attention_probs_dropout_prob=dropout,
                max_position_embeddings=64, type_vocab_size=2,
                initializer_range=0.02)
  values.update(overrides)
  return modeling.BertConfig(**values)


def write_config(path, config):
  with open(path, "w") as f:
    f.write(config.to_json_string())
  return path


@pytest.fixture
def shared_dir():
  if not os.path.isdir(SHARED):
    pytest.skip("../shared is absent: the real data and vocabulary live "
                "there (%s)." % SHARED)
  return SHARED


@pytest.fixture(autouse=True)
def graph():
  """Every test builds in a fresh graph (graph mode on TF 2 too)."""
  with tf.Graph().as_default() as g:
    yield g


def event_scalars(directory):
  """{tag: {step: value}} of every scalar in the event files of a directory."""
  scalars = {}
  for name in sorted(os.listdir(directory)):
    if not name.startswith("events.out.tfevents"):
      continue
    for event in tf.train.summary_iterator(os.path.join(directory, name)):
      for value in event.summary.value:
        if value.HasField("tensor"):
          number = float(tf.make_ndarray(value.tensor))
        elif value.HasField("simple_value"):
          number = value.simple_value
        else:
          continue
        scalars.setdefault(value.tag, {})[event.step] = number
  return scalars


def stop_midway(command, watch, signum, log_dir, timeout=300):
  """Runs `command` until a file matching the glob `watch` exists (the run
  is midway: writing it) and, when `watch` is a pair (glob, text), its
  stderr holds `text` too; then sends it `signum`; returns the finished
  subprocess.CompletedProcess. Its output goes to files in `log_dir` (a pipe
  it filled would stop it before `watch` appears)."""
  import glob
  import subprocess
  import time
  out_path = os.path.join(str(log_dir), "stdout.txt")
  err_path = os.path.join(str(log_dir), "stderr.txt")
  with open(out_path, "w") as out, open(err_path, "w") as err:
    process = subprocess.Popen(
        command, cwd=REPO, stdout=out, stderr=err,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    pattern, text = watch if isinstance(watch, tuple) else (watch, "")
    deadline = time.time() + timeout
    try:
      while not (glob.glob(pattern) and text in open(err_path).read()):
        if process.poll() is not None or time.time() > deadline:
          raise AssertionError("%s did not appear while the run ran:\n%s" % (
              watch, open(err_path).read()[-3000:]))
        time.sleep(0.01)
      process.send_signal(signum)
      process.wait(timeout=timeout)
    finally:
      if process.poll() is None:
        process.kill()
        process.wait()
  return subprocess.CompletedProcess(command, process.returncode,
                                     open(out_path).read(),
                                     open(err_path).read())
