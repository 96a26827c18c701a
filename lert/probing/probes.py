# coding=utf-8
"""Layer-wise linear probes: for each task and each layer (0: the
embeddings), a logistic regression (logistic.py) trained on the frozen
encoder's word features of the training sentences and scored by accuracy
on the test sentences, beside the majority-label baseline. A `deprel`
example is the word's features beside its gold head's (zeros for the
root): the probe names the relation of a given arc.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections

import numpy as np

from lert.probing import logistic

# The examples of a task in a set of sentences: rows of the words'
# features, of their heads' (-1: the root; None: not a relation task), the
# gold labels, and the labelled words that have no features (too long a
# sentence, no WordPiece).
TaskExamples = collections.namedtuple("TaskExamples", [
    "rows", "head_rows", "labels", "skipped"])

# One probe's score.
ProbeResult = collections.namedtuple("ProbeResult", [
    "task", "layer", "accuracy", "majority", "train_examples",
    "test_examples", "unseen", "iterations", "converged"])


def task_examples(sentences, rows, task):
  """The TaskExamples of `task` in `sentences`, whose words' feature rows
  are `rows` (features.WordFeatures.rows, in sentence and word order)."""
  word_rows, head_rows, labels = [], [], []
  skipped, index = 0, 0
  for sentence in sentences:
    mine = rows[index:index + len(sentence.words)]
    index += len(sentence.words)
    for i, label in enumerate(sentence.labels.get(task) or ()):
      if label is None:
        continue
      head = sentence.heads[i] if task == "deprel" else None
      if mine[i] is None or (head is not None and head >= 0 and
                             mine[head] is None):
        skipped += 1
        continue
      word_rows.append(mine[i])
      head_rows.append(-1 if head is None or head < 0 else mine[head])
      labels.append(label)
  return TaskExamples(np.array(word_rows, np.int64),
                      np.array(head_rows, np.int64) if task == "deprel"
                      else None, labels, skipped)


def design(layer, examples):
  """The feature matrix of `examples` at one layer's [words, hidden]."""
  x = layer[examples.rows]
  if examples.head_rows is None:
    return x
  heads = np.where(examples.head_rows[:, None] >= 0,
                   layer[np.maximum(examples.head_rows, 0)], 0.0)
  return np.concatenate([x, heads], axis=1)


def subsample(examples, limit, seed):
  """At most `limit` of the TaskExamples, chosen at random from `seed` (in
  their order); all of them with no limit."""
  if not limit or len(examples.labels) <= limit:
    return examples
  chosen = np.sort(np.random.RandomState(seed).choice(
      len(examples.labels), limit, replace=False))
  return TaskExamples(
      examples.rows[chosen], None if examples.head_rows is None else
      examples.head_rows[chosen], [examples.labels[i] for i in chosen],
      examples.skipped)


def probe_task(task, train_layers, train, test_layers, test, c=1.0,
               tolerance=1e-4):
  """A ProbeResult per layer: fit on `train` (TaskExamples over
  train_layers' features), score on `test`. A test label never seen in
  training counts as an error (`unseen` of them)."""
  classes = sorted(set(train.labels))
  index = {label: i for i, label in enumerate(classes)}
  y_train = np.array([index[label] for label in train.labels])
  y_test = np.array([index.get(label, -1) for label in test.labels])
  majority = collections.Counter(train.labels).most_common(1)[0][0]
  majority_accuracy = float(np.mean([label == majority
                                     for label in test.labels]))
  results = []
  for layer, (train_layer, test_layer) in enumerate(zip(train_layers,
                                                        test_layers)):
    probe = logistic.fit(design(train_layer, train), y_train, len(classes),
                         c=c, tolerance=tolerance)
    predicted = logistic.predict(probe, design(test_layer, test))
    results.append(ProbeResult(
        task, layer, float(np.mean(predicted == y_test)), majority_accuracy,
        len(y_train), len(y_test), int(np.sum(y_test < 0)), probe.iterations,
        probe.converged))
  return results
