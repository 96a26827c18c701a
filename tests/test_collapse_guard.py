# coding=utf-8
"""The collapse guard (check_collapse.py, lert/model/collapse_guard.py,
checkpoint_health.py): its figures against NumPy, its verdicts on a
checkpoint whose final layer gives every token the same state and on one
that has learned, and run_pretraining.py --do_eval's report."""

import collections
import json
import math
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from conftest import run_script
from conftest import tiny_config
from conftest import write_config
from lert.contract import script_errors
from lert.model import checkpoint_health
from lert.model import collapse_guard
from lert.running import input_pipeline
import pretraining_helpers
import modeling

SEQ, PRED, VOCAB = 16, 3, 120


def brute_force_cosine(states, mask):
  """The mean cosine over every pair of distinct unpadded tokens."""
  tokens = states[mask.astype(bool)]
  units = tokens / np.linalg.norm(tokens, axis=-1, keepdims=True)
  gram = units @ units.T
  n = len(units)
  return (gram.sum() - np.trace(gram)) / (n * (n - 1))


def test_the_cosine_of_unit_sums_is_the_mean_over_all_pairs(graph):
  rng = np.random.RandomState(0)
  batches = [rng.normal(size=(3, 5, 8)).astype(np.float32) + offset
             for offset in (0.5, 2.0)]
  masks = [(rng.uniform(size=(3, 5)) < 0.7).astype(np.int32)
           for _ in range(2)]
  states = tf.placeholder(tf.float32, [None, 5, 8])
  mask = tf.placeholder(tf.int32, [None, 5])
  sums, counts = collapse_guard.unit_state_sums(states, mask)
  value, update = collapse_guard.cosine_metric(sums, counts)
  with tf.Session() as session:
    session.run(tf.local_variables_initializer())
    first_sums, first_counts = session.run(
        [sums, counts], {states: batches[0], mask: masks[0]})
    for s, m in zip(batches, masks):
      session.run(update, {states: s, mask: m})
    metric = session.run(value)
  expected = brute_force_cosine(batches[0], masks[0])
  assert collapse_guard.mean_pairwise_cosine(
      first_sums.sum(0), first_counts.sum()) == pytest.approx(expected,
                                                              abs=1e-6)
  both = brute_force_cosine(np.concatenate(batches), np.concatenate(masks))
  assert metric == pytest.approx(both, abs=1e-5)
  assert abs(both - expected) > 1e-3  # the second batch counted


def test_the_unigram_entropy_of_a_hand_worked_case():
  # p = (1/2, 1/4, 1/4): -(1/2 ln 1/2 + 2 * 1/4 ln 1/4) = 1.5 ln 2.
  counts = collections.Counter({5: 2, 7: 1, 9: 1})
  assert collapse_guard.unigram_entropy(counts) == pytest.approx(
      1.5 * math.log(2), abs=1e-12)


def test_the_verdicts_of_issue_34_s_figures():
  # +NER without warm-up at the old mini recipe; MLM alone; +NER with LIP.
  assert collapse_guard.judge(6.60, 6.53, 1.0).verdict == "collapsed"
  assert collapse_guard.judge(6.00, 6.53, 0.95).verdict == "collapsed"
  assert collapse_guard.judge(6.60, 6.53, 0.37).verdict == (
      "no better than unigram")
  assert collapse_guard.judge(6.105, 6.53, 0.33).verdict == "healthy"


def copy_records(path, count, seed):
  """Records whose every token is one id (drawn uniformly from 100), 3 of
  them masked: the masked token is in plain sight, so a model that reads
  its context beats the unigram entropy (about ln 100) at once."""
  rng = np.random.RandomState(seed)
  with tf.io.TFRecordWriter(path) as writer:
    for _ in range(count):
      token = rng.randint(10, 110)
      positions = sorted(rng.choice(np.arange(1, SEQ - 1), PRED,
                                    replace=False))
      ids = [token] * SEQ
      for p in positions:
        ids[p] = 3  # [MASK] of the tests' vocabulary
      writer.write(input_pipeline.make_example(
          {"input_ids": ids, "input_mask": [1] * SEQ,
           "segment_ids": [0] * SEQ, "masked_lm_positions": positions,
           "masked_lm_ids": [token] * PRED},
          {"masked_lm_weights": [1.0] * PRED}).SerializeToString())
  return path


def rewrite_checkpoint(source, target, changes):
  """A copy of checkpoint `source` at `target` with some variables
  replaced (name -> value)."""
  reader = tf.train.load_checkpoint(source)
  with tf.Graph().as_default():
    variables = {name: tf.Variable(changes.get(name,
                                               reader.get_tensor(name)))
                 for name, _ in tf.train.list_variables(source)}
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      tf.train.Saver(variables).save(session, target)
  return target


def final_states(config, checkpoint, path, count):
  """The final-layer states of the first `count` records, computed by a
  plain BertModel restored here (not by the guard's metric)."""
  examples = [tf.train.Example.FromString(r).features.feature
              for r in tf.io.tf_record_iterator(path)][:count]
  ids = np.array([e["input_ids"].int64_list.value for e in examples])
  mask = np.array([e["input_mask"].int64_list.value for e in examples])
  with tf.Graph().as_default():
    model = modeling.BertModel(config, False, tf.constant(ids, tf.int32),
                               tf.constant(mask, tf.int32))
    tf.train.init_from_checkpoint(checkpoint, {"bert/": "bert/"})
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      return session.run(model.get_sequence_output()), mask


@pytest.mark.slow
def test_the_guard_marks_a_collapsed_encoder_and_passes_a_learned_one(
    tmp_path):
  config = tiny_config(VOCAB)
  config_file = write_config(str(tmp_path / "config.json"), config)
  records = copy_records(str(tmp_path / "copy.tfrecord"), 96, seed=1)
  with tf.Graph().as_default():
    learned = pretraining_helpers.train_tiny_checkpoint(
        str(tmp_path / "learned"), [records], config, tasks=(), steps=60,
        seq_length=SEQ, max_predictions=PRED, learning_rate=3e-3,
        batch_size=16)

  # Every token's final state is the last LayerNorm's beta.
  last = "bert/encoder/layer_%d/output/LayerNorm/" % (
      config.num_hidden_layers - 1)
  beta = np.random.RandomState(2).normal(size=config.hidden_size)
  collapsed = rewrite_checkpoint(
      learned, str(tmp_path / "collapsed" / "model.ckpt-60"),
      {last + "gamma": np.zeros(config.hidden_size, np.float32),
       last + "beta": beta.astype(np.float32)})

  examples = 32
  report, metrics, sample = checkpoint_health.check(
      config, learned, [records], max_examples=examples, batch_size=8)
  states, mask = final_states(config, learned, records, examples)
  assert report.final_layer_cosine == pytest.approx(
      brute_force_cosine(states, mask), abs=1e-5)
  masked = collections.Counter(
      tf.train.Example.FromString(r).features.feature[
          "masked_lm_ids"].int64_list.value[0]
      for r in tf.io.tf_record_iterator(records))
  p = np.array(list(masked.values()), float) / sum(masked.values())
  assert report.unigram_entropy == pytest.approx(-(p * np.log(p)).sum(),
                                                 abs=1e-9)
  assert (sample.examples, sample.entropy_records, sample.masked_tokens) == (
      examples, 96, 96 * PRED)
  assert report.verdict == "healthy", report
  assert report.mlm_loss < report.unigram_entropy - 1.0
  assert metrics["masked_lm_accuracy"] > 0.1  # chance: 0.01

  result = run_script(
      "check_collapse.py", "--bert_config_file=" + config_file,
      "--init_checkpoint=" + str(tmp_path / "collapsed"),
      "--input_file=" + records, "--max_eval_examples=32",
      "--eval_batch_size=8", "--output_file=" + str(tmp_path / "g.json"))
  assert result.returncode == 0, result.stderr[-3000:]
  written = json.loads((tmp_path / "g.json").read_text())
  assert written["verdict"] == "collapsed" and written["collapsed"] is True
  assert written["final_layer_cosine"] == pytest.approx(1.0, abs=1e-5)
  assert written["unigram_entropy"] == pytest.approx(report.unigram_entropy,
                                                     abs=1e-9)
  assert written["checkpoint"] == collapsed
  assert result.stdout.startswith(collapsed + ": collapsed: MLM loss ")


@pytest.mark.slow
def test_run_pretraining_do_eval_reports_the_guard(tmp_path):
  config_file = write_config(str(tmp_path / "config.json"),
                             tiny_config(VOCAB))
  records = copy_records(str(tmp_path / "copy.tfrecord"), 24, seed=3)
  result = run_script(
      "run_pretraining.py", "--bert_config_file=" + config_file,
      "--input_file=" + records, "--output_dir=" + str(tmp_path / "out"),
      "--do_train", "--do_eval", "--linguistic_tasks=",
      "--train_batch_size=8", "--eval_batch_size=8", "--max_eval_steps=3",
      "--max_seq_length=%d" % SEQ, "--max_predictions_per_seq=%d" % PRED,
      "--num_train_steps=2", "--num_warmup_steps=1", timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  values = dict(line.split(" = ") for line in
                (tmp_path / "out" / "eval_results.txt").read_text()
                .splitlines())
  checkpoint = str(tmp_path / "out" / "model.ckpt-2")
  report, _, _ = checkpoint_health.check(
      tiny_config(VOCAB), checkpoint, [records], max_examples=24,
      batch_size=8)
  assert float(values["final_layer_cosine"]) == pytest.approx(
      report.final_layer_cosine, abs=1e-5)
  assert float(values["masked_lm_unigram_entropy"]) == pytest.approx(
      report.unigram_entropy, abs=1e-9)
  assert values["collapse_guard"] == report.verdict
  assert "Collapse guard: " + report.verdict in result.stderr
  assert os.path.exists(checkpoint + ".index")


def test_a_file_that_is_not_records_is_one_line(tmp_path):
  path = tmp_path / "notes.txt"
  path.write_text(u"not a record\n")
  with pytest.raises(script_errors.InputError) as error:
    checkpoint_health.record_lengths(str(path))
  assert str(error.value).startswith(
      "%s: record 1: not a readable TFRecord (truncated or corrupt?): " %
      path)
