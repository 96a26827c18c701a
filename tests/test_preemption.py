# coding=utf-8
"""Preemption and exact resume: a stop signal during training saves a
checkpoint at the current step and says so in one line; the same command
then finishes the run, bit-identical to a run that was never stopped
(docs/reliability.md#exact-resume)."""

import glob
import io
import os
import re
import signal
import sys
import pytest
from conftest import REPO, run_script, stop_midway, tiny_config
from conftest import write_config
from pretraining_helpers import build_model_fn, run_settings
from pretraining_helpers import PRED, SEQ, VOCAB, write_records

import numpy as np
import tensorflow.compat.v1 as tf

from lert.contract import script_errors
from lert.model import lert_model
from lert.running import estimator_runner
from lert.running import input_pipeline

STOPPED_LINE = re.compile(r"stopped by SIGTERM at step (\d+); run the same "
                          r"command to resume\.")


def assert_same_checkpoints(expected_prefix, actual_prefix):
  """Every tensor of the two checkpoints equal bit for bit."""
  expected = tf.train.load_checkpoint(expected_prefix)
  actual = tf.train.load_checkpoint(actual_prefix)
  names = sorted(expected.get_variable_to_shape_map())
  assert names == sorted(actual.get_variable_to_shape_map())
  differ = [name for name in names if not np.array_equal(
      expected.get_tensor(name), actual.get_tensor(name))]
  assert not differ, "%d of %d tensors differ: %s" % (len(differ),
                                                       len(names), differ[:3])


class SignalAtStep(tf.train.SessionRunHook):
  """Sends this process SIGTERM once, after the run of the micro-batch that
  reads global step `step`; first in the hook list, so that the stop hook
  sees the signal after that same run."""

  def __init__(self, step):
    self.step = step
    self.sent = False

  def begin(self):
    self.global_step = tf.train.get_global_step()

  def before_run(self, run_context):
    return tf.train.SessionRunArgs(self.global_step)

  def after_run(self, run_context, run_values):
    if run_values.results == self.step and not self.sent:
      self.sent = True
      os.kill(os.getpid(), signal.SIGTERM)


def train(output_dir, paths, accumulation, signal_at=None, steps=10):
  """Trains the tiny LERT (dropout 0.1, a shuffle buffer smaller than the
  data) through EstimatorRunner and the scripts' error reporter."""
  model_fn = build_model_fn(
      tiny_config(VOCAB, dropout=0.1), tasks=("pos", "ner", "dep"),
      num_train_steps=steps, num_warmup_steps=2,
      gradient_accumulation_steps=accumulation)
  runner = estimator_runner.EstimatorRunner(
      model_fn, run_settings(output_dir, save_checkpoints_steps=4,
                             keep_checkpoint_max=3),
      train_batch_size=4 // accumulation)
  if signal_at is not None:
    train_with = runner.estimator.train

    def train_with_signal(**kwargs):
      kwargs["hooks"] = [SignalAtStep(signal_at)] + kwargs["hooks"]
      return train_with(**kwargs)
    runner.estimator.train = train_with_signal
  required, optional = lert_model.pretraining_features(
      SEQ, PRED, ["pos", "ner", "dep"])
  required.update(optional)
  input_fn = input_pipeline.input_fn_builder(
      paths, required, is_training=True, seed=3, shuffle_buffer_size=7)
  script_errors.run_reporting_errors(
      lambda: runner.train(input_fn, max_steps=steps), "train")


@pytest.mark.slow
@pytest.mark.parametrize("accumulation,stopped_at", [
    (1, 6),
    # The signal comes after the first of two micro-batches of step 6: the
    # stop waits for the update (the accumulators are not checkpointed).
    (2, 6)])
def test_sigterm_saves_at_the_step_and_the_resumed_run_is_bit_identical(
    tmp_path, capsys, accumulation, stopped_at):
  paths = write_records(tmp_path)
  straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
  train(straight, paths, accumulation)
  with pytest.raises(SystemExit) as exit_info:
    train(stopped, paths, accumulation, signal_at=stopped_at - 1)
  assert exit_info.value.code == 128 + signal.SIGTERM
  line = capsys.readouterr().err.strip().splitlines()[-1]
  assert line == ("train: stopped by SIGTERM at step %d; run the same "
                  "command to resume." % stopped_at)
  # The checkpoint of that step (not only the periodic one at step 4), and
  # the input pipeline's state beside it.
  latest = tf.train.latest_checkpoint(stopped)
  assert latest.endswith("model.ckpt-%d" % stopped_at)
  assert tf.train.load_variable(latest, "global_step") == stopped_at
  assert os.path.exists(os.path.join(
      stopped, "input.ckpt-%d.index" % stopped_at))
  train(stopped, paths, accumulation)
  assert_same_checkpoints(os.path.join(straight, "model.ckpt-10"),
                          os.path.join(stopped, "model.ckpt-10"))


@pytest.mark.slow
def test_without_the_input_state_the_resumed_run_reads_from_the_start(
    tmp_path, caplog):
  """The input state is what makes the resume exact: without it the run
  says so and reads other batches."""
  paths = write_records(tmp_path)
  straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
  train(straight, paths, 1)
  with pytest.raises(SystemExit):
    train(stopped, paths, 1, signal_at=5)
  for name in glob.glob(os.path.join(stopped, "input.ckpt-6*")):
    os.remove(name)
  train(stopped, paths, 1)
  with pytest.raises(AssertionError, match="tensors differ"):
    assert_same_checkpoints(os.path.join(straight, "model.ckpt-10"),
                            os.path.join(stopped, "model.ckpt-10"))


# ----------------------------------------------------------------------------
# The scripts, stopped from outside as a scheduler stops them.


def stop_and_resume(tmp_path, script, args, output_flag="--output_dir"):
  """Runs `script` to the end in one directory; in another, sends it SIGTERM
  once its first periodic checkpoint is written, checks the line and the
  checkpoint of the step it names, runs the same command again, and checks
  that the final checkpoints are bit-identical."""
  straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
  result = run_script(script, output_flag + "=" + straight, *args)
  assert result.returncode == 0, result.stderr[-3000:]
  command = [sys.executable, os.path.join(REPO, script),
             output_flag + "=" + stopped] + list(args)
  os.makedirs(str(tmp_path / "logs"))
  result = stop_midway(command, os.path.join(stopped, "model.ckpt-20.index"),
                       signal.SIGTERM, tmp_path / "logs")
  assert result.returncode == 128 + signal.SIGTERM, result.stderr[-3000:]
  last = result.stderr.strip().splitlines()[-1]
  found = STOPPED_LINE.search(last)
  assert found and last.startswith(script + ": "), last
  step = int(found.group(1))
  assert tf.train.latest_checkpoint(stopped).endswith("model.ckpt-%d" % step)
  assert os.path.exists(os.path.join(stopped, "input.ckpt-%d.index" % step))
  final = tf.train.latest_checkpoint(straight)
  assert step < int(final.rsplit("-", 1)[1]), "stopped after the last step"
  result = run_script(script, output_flag + "=" + stopped, *args)
  assert result.returncode == 0, result.stderr[-3000:]
  assert_same_checkpoints(final, os.path.join(stopped,
                                              os.path.basename(final)))
  return result


@pytest.mark.slow
def test_run_pretraining_stopped_by_sigterm_resumes_exactly(tmp_path):
  write_records(tmp_path, records_per_file=40)
  config_file = write_config(str(tmp_path / "config.json"),
                             tiny_config(VOCAB, dropout=0.1))
  stop_and_resume(tmp_path, "run_pretraining.py", [
      "--bert_config_file=" + config_file,
      "--input_file=" + str(tmp_path / "part-*.tfrecord"), "--do_train",
      "--train_batch_size=4", "--max_seq_length=%d" % SEQ,
      "--max_predictions_per_seq=%d" % PRED, "--num_train_steps=400",
      "--num_warmup_steps=10", "--save_checkpoints_steps=20",
      "--save_summary_steps=50"])


@pytest.mark.slow
def test_run_classifier_stopped_by_sigterm_resumes_exactly(tmp_path):
  rows = [(u"这家酒店很好，服务周到。", "1"), (u"房间太差了，不推荐。", "0"),
          (u"早餐丰富，位置方便。", "1"), (u"服务很差，很吵。", "0")] * 3
  train_file = str(tmp_path / "train.tsv")
  with io.open(train_file, "w", encoding="utf-8") as f:
    f.write(u"label\ttext_a\n" + u"".join(u"%s\t%s\n" % (label, text)
                                          for text, label in rows))
  characters = sorted(set(u"".join(text for text, _ in rows)))
  vocab_file = str(tmp_path / "vocab.txt")
  with io.open(vocab_file, "w", encoding="utf-8") as f:
    f.write(u"\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] +
                       characters) + u"\n")
  config_file = write_config(str(tmp_path / "config.json"), tiny_config(
      5 + len(characters), dropout=0.1))
  stop_and_resume(tmp_path, "run_classifier.py", [
      "--task_name=chnsenticorp", "--bert_config_file=" + config_file,
      "--vocab_file=" + vocab_file, "--train_file=" + train_file,
      "--do_train", "--max_seq_length=12", "--train_batch_size=4",
      "--num_train_epochs=120", "--learning_rate=1e-3",
      "--save_checkpoints_steps=20", "--train_from_scratch"])
