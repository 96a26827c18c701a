# coding=utf-8
"""The collapse guard: has a pre-trained encoder learned anything?

A small model trained with a large learning rate, or with a linguistic head
at full weight from step 0, can pass through (or stay in) a phase where
every token gets nearly the same final hidden state: the encoder then gives
the same output for every input, and every downstream number is an
artifact. Two figures tell (docs/experiments.md#the-collapse-guard):

  * the mean pairwise cosine of the final-layer token states over a fixed
    sample of text: near 1 when every token has the same state;
  * the MLM loss against the unigram entropy of the masked tokens: a model
    whose loss is not below the entropy of the masked tokens' frequencies
    predicts no better than those frequencies, whatever its context.

Here: the figures' arithmetic, the Estimator metric of the cosine (which
run_pretraining.py --do_eval and check_collapse.py share), the entropy of
the masked tokens of records, and the verdict.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import math

import numpy as np
import tensorflow.compat.v1 as tf

from lert.contract import script_errors
from lert.running import input_pipeline

# A final layer whose token states have a mean pairwise cosine at or above
# this is collapsed (the collapsed +NER of issue 34: 1.0000; healthy tiny
# models: about 0.3-0.4).
COSINE_LIMIT = 0.95

# The verdicts, worst first.
COLLAPSED = "collapsed"
UNLEARNED = "no better than unigram"
HEALTHY = "healthy"


def unit_state_sums(sequence_output, input_mask):
  """Per example, the sum of its tokens' final-layer states scaled to unit
  length, and its number of tokens: ([batch, hidden], [batch]). Padding is
  left out; a state of length 0 adds nothing (and counts as a token)."""
  mask = tf.cast(input_mask, tf.float32)
  units = tf.math.l2_normalize(tf.cast(sequence_output, tf.float32), axis=-1)
  return (tf.reduce_sum(units * tf.expand_dims(mask, -1), axis=1),
          tf.reduce_sum(mask, axis=1))


def mean_pairwise_cosine(unit_sum, count):
  """The mean cosine over all pairs of distinct tokens, from the sum of the
  unit states and their number N: sum_i sum_j u_i.u_j = |sum u|^2 holds
  N diagonal terms of 1, so the mean of the others is
  (|sum u|^2 - N) / (N (N - 1)). NumPy arrays or tensors."""
  if isinstance(unit_sum, np.ndarray) or np.isscalar(count):
    unit_sum = np.asarray(unit_sum, dtype=np.float64)
    if count < 2:
      return float("nan")
    return float((np.dot(unit_sum, unit_sum) - count) /
                 (count * (count - 1.0)))
  return tf.math.divide_no_nan(tf.reduce_sum(tf.square(unit_sum)) - count,
                               count * (count - 1.0))


def _metric_variable(name, shape):
  return tf.Variable(tf.zeros(shape, tf.float32), trainable=False, name=name,
                     collections=[tf.GraphKeys.LOCAL_VARIABLES,
                                  tf.GraphKeys.METRIC_VARIABLES])


def cosine_metric(unit_sums, counts):
  """An Estimator metric (value, update_op): the mean pairwise cosine of
  every token state evaluated, from `unit_state_sums`' tensors."""
  with tf.variable_scope(None, default_name="final_layer_cosine"):
    total = _metric_variable("unit_sum", [unit_sums.shape[-1]])
    number = _metric_variable("count", [])
    update = tf.group(total.assign_add(tf.reduce_sum(unit_sums, axis=0)),
                      number.assign_add(tf.reduce_sum(counts)))
    value = mean_pairwise_cosine(total, number)
    with tf.control_dependencies([update]):
      update_value = mean_pairwise_cosine(tf.identity(total),
                                          tf.identity(number))
  return value, update_value


def masked_token_counts(input_files, max_records=None):
  """(id -> count, records read) of the masked tokens (weight > 0) of
  TFRecord files written by create_pretraining_data.py: the first
  `max_records` records of their concatenation, or all."""
  counts = collections.Counter()
  read = 0
  for path in input_files:
    for number, serialized in input_pipeline.read_records(path):
      if max_records is not None and read >= max_records:
        return counts, read
      feature = tf.train.Example.FromString(serialized).features.feature
      if "masked_lm_ids" not in feature:
        raise script_errors.InputError(
            "%s: record %d has no masked_lm_ids: not a pre-training record "
            "of create_pretraining_data.py." % (path, number))
      ids = feature["masked_lm_ids"].int64_list.value
      weights = feature["masked_lm_weights"].float_list.value
      counts.update(i for i, w in zip(ids, weights) if w > 0)
      read += 1
  return counts, read


def unigram_entropy(counts):
  """The entropy in nats of the distribution of `counts` (id -> count): the
  MLM loss of a model that answers every masked position with the masked
  tokens' frequencies."""
  total = float(sum(counts.values()))
  if not total:
    raise script_errors.InputError("No masked token to take the entropy "
                                   "of.")
  return -sum(c / total * math.log(c / total) for c in counts.values() if c)


# The guard's figures and verdict.
GuardReport = collections.namedtuple("GuardReport", [
    "mlm_loss", "unigram_entropy", "final_layer_cosine", "verdict"])


def judge(mlm_loss, entropy, cosine, cosine_limit=COSINE_LIMIT):
  """The GuardReport of the figures: collapsed when the final layer's mean
  pairwise cosine reaches `cosine_limit`, else no better than unigram when
  the MLM loss is not below the unigram entropy, else healthy."""
  if cosine >= cosine_limit:
    verdict = COLLAPSED
  elif mlm_loss >= entropy:
    verdict = UNLEARNED
  else:
    verdict = HEALTHY
  return GuardReport(mlm_loss, entropy, cosine, verdict)


def describe(report):
  """One line for a log or a table."""
  return ("%s: MLM loss %.3f against the masked tokens' unigram entropy "
          "%.3f nats; mean pairwise cosine of final-layer token states "
          "%.4f" % (report.verdict, report.mlm_loss, report.unigram_entropy,
                    report.final_layer_cosine))
