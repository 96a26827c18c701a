# coding=utf-8
"""Multi-worker training (TF_CONFIG, MultiWorkerMirroredStrategy): two
worker processes on localhost against one process at twice the batch; a
worker that dies; the lock; TF_CONFIG's checks."""

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import pytest
from conftest import REPO, run_script, tiny_config, write_config
from pretraining_helpers import PRED, SEQ, VOCAB, write_records

import numpy as np
import tensorflow.compat.v1 as tf

from lert.contract import outputs
from lert.contract import script_errors
from lert.pretraining_data import records
from lert.pretraining_data import synthetic_data
from lert.running import run_config


def write_even_records(directory, num_files=2, records_per_file=20):
  """Records whose every masked position is weighted 1 for every head: a
  worker's mean loss over its half of a batch is then half of the global
  mean's sum (each replica normalises its loss by its own positions, as
  TPU cores do)."""
  rng = np.random.RandomState(0)
  for i in range(num_files):
    path = os.path.join(str(directory), "part-%d.tfrecord" % i)
    with tf.io.TFRecordWriter(path) as writer:
      for _ in range(records_per_file):
        values = synthetic_data.synthetic_example(rng, SEQ, PRED, VOCAB, 0.0)
        for name in values:
          if name.endswith("weights"):
            values[name][:] = 1.0
        writer.write(records.serialize_record(values, SEQ, PRED))


def free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(("localhost", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def tf_config(ports, index):
  return json.dumps({"cluster": {"worker": ["localhost:%d" % p
                                            for p in ports]},
                     "task": {"type": "worker", "index": index}})


def start_workers(args, ports, log_dir):
  """The workers of a localhost cluster, each a run_pretraining.py with
  TF_CONFIG naming its task; their output goes to files in `log_dir`."""
  processes = []
  for index in range(len(ports)):
    log = open(os.path.join(str(log_dir), "worker-%d.txt" % index), "w")
    processes.append(subprocess.Popen(
        [sys.executable, os.path.join(REPO, "run_pretraining.py")] + args,
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                 TF_CONFIG=tf_config(ports, index))))
  return processes


def log_of(log_dir, index):
  with open(os.path.join(str(log_dir), "worker-%d.txt" % index)) as f:
    return f.read()


def last_script_line(log):
  """The script's last line of a worker's log. TensorFlow's native
  coordination agent may log its lost heartbeat after it (a peer that
  ended first), from a C++ thread as the process exits, on a loaded
  machine."""
  lines = log.strip().splitlines()
  own = [line for line in lines if line.startswith("run_pretraining.py:")]
  return own[-1] if own else lines[-1]


def wait_for_checkpoint(output_dir, step, chief, log_dir, timeout=300):
  """Waits until the chief has saved model.ckpt-`step` in `output_dir`."""
  deadline = time.time() + timeout
  while not os.path.exists(os.path.join(output_dir,
                                        "model.ckpt-%d.index" % step)):
    assert chief.poll() is None, log_of(log_dir, 0)[-3000:]
    assert time.time() < deadline, log_of(log_dir, 0)[-3000:]
    time.sleep(0.1)


def pretraining_args(tmp_path, output_dir, steps, save_steps):
  config_file = write_config(str(tmp_path / "config.json"),
                             tiny_config(VOCAB))
  return ["--bert_config_file=" + config_file,
          "--input_file=" + str(tmp_path / "part-*.tfrecord"),
          "--output_dir=" + output_dir, "--do_train",
          "--train_batch_size=8", "--max_seq_length=%d" % SEQ,
          "--max_predictions_per_seq=%d" % PRED,
          "--num_train_steps=%d" % steps, "--num_warmup_steps=1",
          "--learning_rate=1e-3", "--save_checkpoints_steps=%d" % save_steps,
          "--save_summary_steps=1"]


@pytest.mark.slow
def test_two_workers_train_as_one_process_at_twice_the_batch(tmp_path):
  """Each worker trains on its half of every global batch of 8 (4 each):
  after 3 steps every variable, Adam's moments included, equals one
  process's at batch 8 within float tolerance (a worker on the other's
  half, or gradients summed instead of averaged, moves the moments by far
  more). The chief alone writes the directory: one event file, the
  record, the checkpoints."""
  write_even_records(tmp_path)
  # Both start from the same weights (random initialisers depend on the
  # graph, which the strategy changes on TensorFlow 1.15).
  result = run_script("run_pretraining.py", *pretraining_args(
      tmp_path, str(tmp_path / "init"), 1, 1))
  assert result.returncode == 0, result.stderr[-3000:]
  start = ["--init_checkpoint=" + str(tmp_path / "init" / "model.ckpt-1")]
  single = str(tmp_path / "single")
  result = run_script("run_pretraining.py",
                      *pretraining_args(tmp_path, single, 3, 3) + start)
  assert result.returncode == 0, result.stderr[-3000:]
  multi = str(tmp_path / "multi")
  workers = start_workers(pretraining_args(tmp_path, multi, 3, 3) + start,
                          free_ports(2), tmp_path)
  for index, process in enumerate(workers):
    assert process.wait(timeout=300) == 0, log_of(tmp_path, index)[-3000:]
  assert "Worker 1 of 2 (TF_CONFIG): the chief writes" in log_of(tmp_path, 1)
  expected = tf.train.load_checkpoint(os.path.join(single, "model.ckpt-3"))
  actual = tf.train.load_checkpoint(os.path.join(multi, "model.ckpt-3"))
  names = sorted(expected.get_variable_to_shape_map())
  assert names == sorted(actual.get_variable_to_shape_map())
  for name in names:
    np.testing.assert_allclose(actual.get_tensor(name),
                               expected.get_tensor(name), rtol=1e-5,
                               atol=1e-6, err_msg=name)
  initial = tf.train.load_checkpoint(os.path.join(str(tmp_path), "init",
                                                  "model.ckpt-1"))
  assert not np.allclose(
      initial.get_tensor("bert/embeddings/LayerNorm/gamma"),
      expected.get_tensor("bert/embeddings/LayerNorm/gamma"))
  # The same files as one process writes (a worker writes nothing), save
  # the input state, which is not kept over several replicas.
  def kinds(directory):
    return sorted(re.sub(r"events\.out\.tfevents\..*?(\.v2)?$",
                         r"events\1", name) for name in os.listdir(directory)
                  if not name.startswith("input.ckpt") and
                  name != "checkpoint_input")
  assert kinds(multi) == kinds(single)


@pytest.mark.slow
def test_a_dead_worker_stops_the_others_with_one_line(tmp_path):
  """Worker 1 killed (SIGKILL: no clean-up) mid-run: the chief stops within
  --worker_timeout_secs plus a step with one line, not hanging in its
  all-reduce. While the chief runs, another run into its directory is
  refused by the lock; after it, one process resumes its checkpoint."""
  write_records(tmp_path, records_per_file=20)
  output_dir = str(tmp_path / "multi")
  args = pretraining_args(tmp_path, output_dir, 100000, 5) + [
      "--worker_timeout_secs=10"]
  workers = start_workers(args, free_ports(2), tmp_path)
  try:
    wait_for_checkpoint(output_dir, 5, workers[0], tmp_path)
    second = run_script("run_pretraining.py",
                        *pretraining_args(tmp_path, output_dir, 100000, 5))
    assert second.returncode == 1
    assert "is in use by another run" in second.stderr.strip().splitlines()[-1]
    workers[1].send_signal(signal.SIGKILL)
    killed = time.time()
    assert workers[0].wait(timeout=120) == 1, log_of(tmp_path, 0)[-3000:]
    assert time.time() - killed < 90
  finally:
    for process in workers:
      if process.poll() is None:
        process.kill()
        process.wait()
  last = last_script_line(log_of(tmp_path, 0))
  assert last.startswith("run_pretraining.py: error: worker 0 of the "
                         "TF_CONFIG cluster lost the other workers ("), last
  # The directory is free again, and its last checkpoint resumes.
  step = int(tf.train.latest_checkpoint(output_dir).rsplit("-", 1)[1])
  result = run_script("run_pretraining.py", *pretraining_args(
      tmp_path, output_dir, step, 5))
  assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("value,message", [
    ("{not json", "TF_CONFIG is not the JSON of a tf.distribute cluster"),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:1"]}, "task": {"type": '
     '"worker", "index": 0}}', "TF_CONFIG names ps tasks"),
    ('{"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", '
     '"index": 2}}', "is not one of its cluster's 0 chief and 2 worker"),
])
def test_a_bad_tf_config_is_one_line(value, message):
  with pytest.raises(script_errors.InputError, match=message):
    run_config.cluster_from_environment({"TF_CONFIG": value})


def test_the_chief_and_each_worker_know_their_place():
  cluster = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
  places = [run_config.cluster_from_environment({"TF_CONFIG": json.dumps(
      {"cluster": cluster, "task": {"type": kind, "index": index}})})
            for kind, index in (("chief", 0), ("worker", 0), ("worker", 1))]
  assert [(p.num_workers, p.is_chief, p.worker_number) for p in places] == [
      (3, True, 0), (3, False, 1), (3, False, 2)]
  assert [p.other_addresses for p in places] == [
      ("b:1", "c:1"), ("a:1", "c:1"), ("a:1", "b:1")]
  alone = run_config.cluster_from_environment({})
  assert (alone.num_workers, alone.is_chief) == (1, True)


def test_the_batch_must_split_over_the_workers(tmp_path):
  ports = free_ports(3)
  result = run_script(
      "run_pretraining.py", "--bert_config_file=x", "--input_file=x",
      "--output_dir=" + str(tmp_path), "--do_train", "--train_batch_size=8",
      env={"TF_CONFIG": tf_config(ports, 0)})
  assert result.returncode == 1
  assert ("--train_batch_size must be a multiple of the workers that "
          "TF_CONFIG names") in result.stderr


def start_workers_of(script, args, ports, log_dir):
  processes = []
  for index in range(len(ports)):
    log = open(os.path.join(str(log_dir), "worker-%d.txt" % index), "w")
    processes.append(subprocess.Popen(
        [sys.executable, os.path.join(REPO, script)] + args,
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                 TF_CONFIG=tf_config(ports, index))))
  return processes


@pytest.mark.slow
def test_two_workers_fine_tune_as_one_process_at_twice_the_batch(tmp_path):
  """run_classifier.py on two workers at 4 examples each against one process
  at 8 (the loss is a mean over examples, so the halves' means average to
  the batch's): the same variables after 3 steps; the worker writes its
  features elsewhere and nothing in --output_dir."""
  rows = [(u"这家酒店很好，服务周到。", "1"), (u"房间太差了，不推荐。", "0"),
          (u"早餐丰富，位置方便。", "1"), (u"服务很差，很吵。", "0")] * 4
  train_file = str(tmp_path / "train.tsv")
  with io.open(train_file, "w", encoding="utf-8") as f:
    f.write(u"label\ttext_a\n" + u"".join(u"%s\t%s\n" % (label, text)
                                          for text, label in rows))
  characters = sorted(set(u"".join(text for text, _ in rows)))
  vocab_file = str(tmp_path / "vocab.txt")
  with io.open(vocab_file, "w", encoding="utf-8") as f:
    f.write(u"\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] +
                       characters) + u"\n")
  config_file = write_config(str(tmp_path / "config.json"),
                             tiny_config(5 + len(characters)))

  def args(output_dir, *more):
    return ["--task_name=chnsenticorp", "--bert_config_file=" + config_file,
            "--vocab_file=" + vocab_file, "--train_file=" + train_file,
            "--output_dir=" + output_dir, "--do_train",
            "--max_seq_length=12", "--train_batch_size=8",
            "--learning_rate=1e-3", "--output_dropout_prob=0",
            "--save_checkpoints_steps=100"] + list(more)

  # The same start, output layer included (initialisers depend on the
  # graph on TensorFlow 1.15): one step from scratch.
  result = run_script("run_classifier.py", *args(
      str(tmp_path / "init"), "--max_train_steps=1", "--train_from_scratch"))
  assert result.returncode == 0, result.stderr[-3000:]
  start = "--init_checkpoint=" + str(tmp_path / "init" / "model.ckpt-1")
  single, multi = str(tmp_path / "single"), str(tmp_path / "multi")
  result = run_script("run_classifier.py", *args(single, start,
                                                 "--max_train_steps=3"))
  assert result.returncode == 0, result.stderr[-3000:]
  workers = start_workers_of("run_classifier.py", args(
      multi, start, "--max_train_steps=3"), free_ports(2), tmp_path)
  for index, process in enumerate(workers):
    assert process.wait(timeout=300) == 0, log_of(tmp_path, index)[-3000:]
  assert "this worker's features go to" in log_of(tmp_path, 1)
  expected = tf.train.load_checkpoint(os.path.join(single, "model.ckpt-3"))
  actual = tf.train.load_checkpoint(os.path.join(multi, "model.ckpt-3"))
  names = sorted(expected.get_variable_to_shape_map())
  assert names == sorted(actual.get_variable_to_shape_map())
  for name in names:
    np.testing.assert_allclose(actual.get_tensor(name),
                               expected.get_tensor(name), rtol=1e-5,
                               atol=1e-6, err_msg=name)
  assert not np.allclose(expected.get_tensor("output_weights"), tf.train
                         .load_variable(start.split("=", 1)[1],
                                        "output_weights"))
  assert sorted(n for n in os.listdir(multi) if not n.startswith(
      ("events.", "input.ckpt", "checkpoint_input"))) == sorted(
          n for n in os.listdir(single) if not n.startswith(
              ("events.", "input.ckpt", "checkpoint_input")))


def test_fine_tuning_on_a_cluster_trains_only(tmp_path):
  result = run_script(
      "run_classifier.py", "--task_name=chnsenticorp",
      "--bert_config_file=" + write_config(str(tmp_path / "c.json"),
                                           tiny_config(VOCAB)),
      "--output_dir=" + str(tmp_path / "out"), "--do_train", "--do_eval",
      "--train_file=x", "--eval_file=x", "--train_from_scratch",
      "--train_batch_size=8", env={"TF_CONFIG": tf_config(free_ports(2), 1)})
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      "run_classifier.py: error: TF_CONFIG names a 2-worker cluster: run "
      "--do_train alone there, and --do_eval or --do_predict in a run of "
      "one process (TF_CONFIG unset) on its --output_dir.")
  assert not os.path.exists(str(tmp_path / "out"))


def test_slurm_tf_config_names_every_node_and_this_task(tmp_path):
  """scripts/slurm_tf_config.sh under a fake scontrol: its TF_CONFIG is
  one that cluster_from_environment reads as worker 1 of 2."""
  fake = tmp_path / "scontrol"
  fake.write_text(u"#!/bin/sh\necho gpu-node-a\necho gpu-node-b\n")
  fake.chmod(0o755)
  result = subprocess.run(
      ["bash", os.path.join(REPO, "scripts", "slurm_tf_config.sh"), "2222"],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      universal_newlines=True,
      env=dict(os.environ, PATH=str(tmp_path) + os.pathsep +
               os.environ["PATH"], SLURM_JOB_NODELIST="gpu-node-[a-b]",
               SLURM_PROCID="1"))
  assert result.returncode == 0, result.stderr
  config = json.loads(result.stdout)
  assert config["cluster"] == {"worker": ["gpu-node-a:2222",
                                          "gpu-node-b:2222"]}
  cluster = run_config.cluster_from_environment(
      {"TF_CONFIG": result.stdout})
  assert (cluster.num_workers, cluster.task_index, cluster.is_chief) == (
      2, 1, False)


def _stopped_step(line):
  found = re.match(r"run_pretraining\.py: stopped by SIGTERM at step (\d+); "
                   r"run the same command to resume\.$", line)
  assert found, line
  return int(found.group(1))


@pytest.mark.slow
@pytest.mark.parametrize("signalled", [(0, 1), (1,)])
def test_sigterm_stops_every_worker_after_one_step_with_a_checkpoint(
    tmp_path, signalled):
  """TensorFlow 2's preemption notifier took SIGTERM from the script: both
  workers logged "SIGTERM caught", trained on to the end and exited 0, with
  no checkpoint at the signal. Now every worker ends after the same step
  (the workers agree on it with the step's all-reduce), the chief saves
  that step, and the same command resumes. A worker that the signal did not
  reach stops with the others and says why."""
  write_records(tmp_path, records_per_file=20)
  output_dir = str(tmp_path / "multi")
  ports = free_ports(2)
  args = pretraining_args(tmp_path, output_dir, 100000, 5)
  workers = start_workers(args, ports, tmp_path)
  try:
    wait_for_checkpoint(output_dir, 5, workers[0], tmp_path)
    for index in signalled:
      workers[index].send_signal(signal.SIGTERM)
    codes = [process.wait(timeout=120) for process in workers]
  finally:
    for process in workers:
      if process.poll() is None:
        process.kill()
        process.wait()
  lasts = [last_script_line(log_of(tmp_path, i)) for i in range(2)]
  assert codes[1] == 143, log_of(tmp_path, 1)[-3000:]
  step = _stopped_step(lasts[1])
  if 0 in signalled:
    assert codes[0] == 143 and _stopped_step(lasts[0]) == step, lasts[0]
  else:
    assert codes[0] == 1, log_of(tmp_path, 0)[-3000:]
    assert lasts[0] == (
        "run_pretraining.py: error: worker 0 of the TF_CONFIG cluster "
        "stopped at step %d with the others: another worker was stopped by "
        "a signal (its log says which), and the chief saved the checkpoint "
        "of that step. Start every worker again with the same command to "
        "resume." % step)
  assert step >= 5
  assert tf.train.latest_checkpoint(output_dir) == os.path.join(
      output_dir, "model.ckpt-%d" % step)
  assert not os.path.exists(os.path.join(output_dir, outputs.LOCK))
  # The same command (here to two steps more) resumes from it.
  log_dir = tmp_path / "resumed"
  log_dir.mkdir()
  resumed = start_workers(pretraining_args(tmp_path, output_dir, step + 2, 5),
                          ports, log_dir)
  for index, process in enumerate(resumed):
    assert process.wait(timeout=300) == 0, log_of(log_dir, index)[-3000:]
  assert tf.train.latest_checkpoint(output_dir).endswith(
      "model.ckpt-%d" % (step + 2))


@pytest.mark.slow
def test_a_worker_that_never_starts_is_waited_for_within_limits(tmp_path):
  """The chief of a cluster whose other worker never started hung for ever:
  SIGTERM and SIGINT did nothing, --worker_timeout_secs did not apply. Now
  it waits in Python: a signal stops it at once, and the timeout with one
  line naming the address that does not answer."""
  write_records(tmp_path, records_per_file=20)
  ports = free_ports(2)
  for timeout, signum in ((600, signal.SIGTERM), (600, signal.SIGINT),
                          (5, None)):
    output_dir = str(tmp_path / ("out-%s" % signum))
    args = pretraining_args(tmp_path, output_dir, 10, 5) + [
        "--worker_timeout_secs=%d" % timeout]
    # The chief alone, of a two-worker TF_CONFIG.
    log = open(str(tmp_path / "worker-0.txt"), "w")
    chief = subprocess.Popen(
        [sys.executable, os.path.join(REPO, "run_pretraining.py")] + args,
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                 TF_CONFIG=tf_config(ports, 0)))
    try:
      if signum is not None:
        deadline = time.time() + 120
        while "λ_dep" not in log_of(tmp_path, 0):
          assert time.time() < deadline and chief.poll() is None
          time.sleep(0.1)
        time.sleep(3)
        chief.send_signal(signum)
        sent = time.time()
        assert chief.wait(timeout=30) == 128 + signum
        assert time.time() - sent < 30
        assert log_of(tmp_path, 0).strip().splitlines()[-1] == (
            "run_pretraining.py: stopped by %s." % signal.Signals(signum).name)
      else:
        assert chief.wait(timeout=120) == 1
        assert log_of(tmp_path, 0).strip().splitlines()[-1] == (
            "run_pretraining.py: error: worker 0 of the TF_CONFIG cluster "
            "waited more than --worker_timeout_secs=5 for the other workers "
            "to start (none answers at localhost:%d): start each with the "
            "same command and a TF_CONFIG naming its own task, and check "
            "that their addresses are reachable from here." % ports[1])
    finally:
      if chief.poll() is None:
        chief.kill()
        chief.wait()
    assert sorted(os.listdir(output_dir)) == ["lert_run.json"]
