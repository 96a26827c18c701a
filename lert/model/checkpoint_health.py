# coding=utf-8
"""The collapse guard's figures of a checkpoint on pre-training records
(check_collapse.py; run_experiments.py runs it after each pre-training):
the MLM loss and the final layer's mean pairwise cosine over a fixed sample
(the first records, in file order), computed by the evaluation metrics of
run_pretraining.py --do_eval, and the unigram entropy of the records'
masked tokens (collapse_guard).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections

import tensorflow.compat.v1 as tf

from lert.contract import script_errors
from lert.model import collapse_guard
from lert.model import lert_model
from lert.running import input_pipeline

# The records the unigram entropy is taken over, at most (a few seconds).
MAX_ENTROPY_RECORDS = 100000

# What the sample was: records evaluated and masked tokens in the entropy.
Sample = collections.namedtuple("Sample", ["examples", "entropy_records",
                                           "masked_tokens"])


def record_lengths(path):
  """(sequence length, predictions per sequence) of the first record."""
  for _, serialized in input_pipeline.read_records(path):
    feature = tf.train.Example.FromString(serialized).features.feature
    if "input_ids" not in feature or "masked_lm_positions" not in feature:
      raise script_errors.InputError(
          "%s: not a pre-training record of create_pretraining_data.py (no "
          "input_ids or masked_lm_positions)." % path)
    return (len(feature["input_ids"].int64_list.value),
            len(feature["masked_lm_positions"].int64_list.value))
  raise script_errors.InputError("%s holds no record." % path)


def records_entropy(input_files, max_records=MAX_ENTROPY_RECORDS):
  """(unigram entropy in nats, records read, masked tokens) of the masked
  tokens of the first `max_records` records."""
  counts, read = collapse_guard.masked_token_counts(input_files,
                                                    max_records)
  return (collapse_guard.unigram_entropy(counts), read,
          sum(counts.values()))


def evaluate(bert_config, checkpoint, input_files, max_examples,
             batch_size):
  """name -> value of the MLM evaluation metrics (masked_lm_loss,
  masked_lm_accuracy, final_layer_cosine) of `checkpoint` over the first
  batches of `input_files` holding `max_examples` records (rounded up to
  a whole batch), and the number of records evaluated."""
  seq_length, predictions = record_lengths(input_files[0])
  required, optional = lert_model.pretraining_features(
      seq_length, predictions, (), with_mask_tags=True)
  present = input_pipeline.check_input_files(
      input_files, required, optional, value_ranges=lert_model.value_ranges(
          bert_config, seq_length, ()))
  features = dict(required)
  features.update({name: optional[name] for name in present})
  batches = -(-max_examples // batch_size)
  with tf.Graph().as_default():
    dataset = input_pipeline.input_fn_builder(
        input_files, features, is_training=False, drop_remainder=False)(
            {"batch_size": batch_size}).take(batches)
    batch = tf.data.make_one_shot_iterator(dataset).get_next()
    model_fn = lert_model.model_fn_builder(bert_config, (),
                                           init_checkpoint=checkpoint)
    spec = model_fn(batch, None, tf.estimator.ModeKeys.EVAL, {})
    metric_fn, tensors = spec.eval_metrics
    metrics = metric_fn(**tensors)
    examples = tf.shape(batch["input_ids"])[0]
    with tf.Session() as session:
      session.run([tf.global_variables_initializer(),
                   tf.local_variables_initializer()])
      updates = {name: update for name, (_, update) in metrics.items()}
      evaluated = 0
      while True:
        try:
          evaluated += int(session.run([updates, examples])[1])
        except tf.errors.OutOfRangeError:
          break
      values = session.run({name: value for name, (value, _) in
                            metrics.items()})
  return {name: float(value) for name, value in values.items()}, evaluated


def check(bert_config, checkpoint, input_files, max_examples=1024,
          batch_size=32, cosine_limit=collapse_guard.COSINE_LIMIT,
          max_entropy_records=MAX_ENTROPY_RECORDS):
  """(GuardReport, metrics, Sample) of a checkpoint on records."""
  metrics, evaluated = evaluate(bert_config, checkpoint, input_files,
                                max_examples, batch_size)
  entropy, read, tokens = records_entropy(input_files, max_entropy_records)
  report = collapse_guard.judge(metrics["masked_lm_loss"], entropy,
                                metrics["final_layer_cosine"], cosine_limit)
  return report, metrics, Sample(evaluated, read, tokens)
