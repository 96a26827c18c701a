# coding=utf-8
"""The benchmark that `make bench` leads with, at a size that runs in
seconds: run_pretraining.py beside its stripped loop
(bench/pretrain_throughput.py). It breaks silently if the hook it adds to
the script's Estimator stops marking steps, or if the two time different
steps."""

import json
import os
import re

import pytest
import tensorflow.compat.v1 as tf

from conftest import run_module, tiny_config
from lert.pretraining_data import synthetic_data


def write_records(tmp_path):
  """Four files of 8 records of length 32 (5 predictions); their glob."""
  records = tmp_path / "records"
  records.mkdir()
  for i in range(4):
    synthetic_data.write_synthetic_records(
        str(records / ("synthetic-%d.tfrecord" % i)), 8, 32, 5, 21128,
        seed=i, missing_label_rate=0.05)
  return os.path.join(str(records), "synthetic-*.tfrecord")


@pytest.mark.slow
def test_pretrain_throughput_times_the_same_steps_of_script_and_loop(
    tmp_path):
  config = tmp_path / "config.json"
  config.write_text(tiny_config(vocab_size=21128).to_json_string())
  args = ["--config=%s" % config, "--max_seq_length=32", "--batch_size=4",
          "--steps=3", "--warmup_steps=2", "--repeats=1"]
  result = run_module("bench.pretrain_throughput", *args)
  assert result.returncode == 0, result.stderr[-3000:]
  rows = dict(re.findall(r"^\| (loop|script) \| (.*)$", result.stdout,
                         re.MULTILINE))
  assert sorted(rows) == ["loop", "script"], result.stdout
  assert re.search(r"^script / loop: \d+\.\d\d \(by the mean step: "
                   r"\d+\.\d\d; each turn: \d+\.\d\d, median \d+\.\d\d\)$",
                   result.stdout, re.MULTILINE)

  # Each kind alone: exactly --steps step times, every one positive.
  records = write_records(tmp_path)
  for kind in ("loop", "script"):
    result = run_module("bench.pretrain_throughput", "--only=" + kind,
                        "--records=" + records,
                        *args)
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(measured["step_seconds"]) == 3, (kind, measured)
    assert all(seconds > 0 for seconds in measured["step_seconds"])


# A stand-in for the released LERT script (which the repository does not
# ship): the same flags, a TPUEstimator on the CPU as the release builds
# it, and a step that takes at least 0.2 s, so that the bench's hook must
# mark each step (not the run) to measure it.
RELEASE_STAND_IN = '''
import time
import numpy as np
import tensorflow as tf
flags = tf.flags
FLAGS = flags.FLAGS
for name in ("bert_config_file", "input_file", "output_dir"):
  flags.DEFINE_string(name, None, "")
for name in ("max_seq_length", "max_predictions_per_seq", "train_batch_size",
             "num_train_steps", "num_warmup_steps"):
  flags.DEFINE_integer(name, 0, "")
flags.DEFINE_bool("do_train", False, "")
flags.DEFINE_float("learning_rate", 0.0, "")


def model_fn(features, labels, mode, params):
  step = tf.train.get_or_create_global_step()
  pause = tf.py_func(lambda: np.float32(time.sleep(0.2) or 0), [],
                     tf.float32)
  loss = tf.reduce_mean(tf.cast(features["input_ids"], tf.float32)) + pause
  with tf.control_dependencies([loss]):
    train_op = tf.assign_add(step, 1)
  return tf.contrib.tpu.TPUEstimatorSpec(mode=mode, loss=loss,
                                         train_op=train_op)


def input_fn(params):
  feature = {"input_ids": tf.FixedLenFeature([FLAGS.max_seq_length],
                                             tf.int64)}
  d = tf.data.TFRecordDataset(tf.gfile.Glob(FLAGS.input_file)).repeat()
  d = d.map(lambda record: tf.parse_single_example(record, feature))
  return d.batch(params["batch_size"], drop_remainder=True)


def main(_):
  estimator = tf.contrib.tpu.TPUEstimator(
      use_tpu=False, model_fn=model_fn,
      config=tf.contrib.tpu.RunConfig(model_dir=FLAGS.output_dir),
      train_batch_size=FLAGS.train_batch_size)
  estimator.train(input_fn=input_fn, max_steps=FLAGS.num_train_steps)


if __name__ == "__main__":
  tf.app.run()
'''


@pytest.mark.slow
@pytest.mark.skipif(not tf.__version__.startswith("1."), reason="the "
                    "released LERT script runs on TensorFlow 1.15 only")
def test_pretrain_throughput_times_each_step_of_the_release(tmp_path):
  release = tmp_path / "release"
  release.mkdir()
  (release / "run_pretraining.py").write_text(RELEASE_STAND_IN)
  (release / "modeling.py").write_text("")
  # Google's optimization.py comes from --google_bert, as make bench has it.
  google = tmp_path / "google"
  (google / "bert").mkdir(parents=True)
  (google / "bert" / "optimization.py").write_text("")
  config = tmp_path / "config.json"
  config.write_text(tiny_config(vocab_size=21128).to_json_string())
  args = ["--config=%s" % config, "--max_seq_length=32", "--batch_size=4",
          "--steps=3", "--warmup_steps=2", "--release_dir=%s" % release,
          "--google_bert=%s" % google]
  records = write_records(tmp_path)
  result = run_module("bench.pretrain_throughput", "--only=release",
                      "--records=" + records,
                      *args)
  assert result.returncode == 0, result.stderr[-3000:]
  measured = json.loads(result.stdout.strip().splitlines()[-1])
  # Three steps, each of one pause (not two, not the start-up).
  assert len(measured["step_seconds"]) == 3, measured
  assert all(0.2 <= seconds < 1.0 for seconds in measured["step_seconds"])

  result = run_module("bench.pretrain_throughput", "--repeats=1", *args)
  assert result.returncode == 0, result.stderr[-3000:]
  rows = dict(re.findall(r"^\| (loop|script|release) \| (.*)$",
                         result.stdout, re.MULTILINE))
  assert sorted(rows) == ["loop", "release", "script"], result.stdout
  assert re.search(r"^script / release: \d+\.\d\d \(by the mean step: "
                   r"\d+\.\d\d; each turn: \d+\.\d\d, median \d+\.\d\d\); "
                   r"peak RSS, smallest of each: \d+ / \d+ MiB = \d+\.\d\d$",
                   result.stdout, re.MULTILINE)


def test_pretrain_throughput_refuses_a_release_dir_it_cannot_run(tmp_path):
  result = run_module("bench.pretrain_throughput",
                      "--release_dir=%s" % tmp_path)
  assert result.returncode != 0
  expected = ("needs TensorFlow 1.15" if tf.__version__.startswith("2.")
              else "has no run_pretraining.py or modeling.py")
  assert expected in result.stderr, result.stderr


def test_pretrain_throughput_refuses_only_without_its_records():
  """--only loop crashed with a traceback (args.records is None)."""
  result = run_module("bench.pretrain_throughput", "--only=loop")
  assert result.returncode == 2
  assert "Traceback" not in result.stderr
  assert result.stderr.strip().splitlines()[-1].endswith(
      "error: --only times one kind over records the bench wrote, for its "
      "own child processes: run without --only.")
