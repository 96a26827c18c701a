# coding=utf-8
"""The fine-tuning metrics, computed on the host from the predictions (so
they are the same on TPU, GPU and CPU): accuracy, the confusion matrix, and
entity-level precision, recall and F1 overall and per type (the CoNLL
scorer's counting: an entity is right when its type and both ends are).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections

import numpy as np


def accuracy(labels, predictions):
  labels, predictions = np.asarray(labels), np.asarray(predictions)
  if not len(labels):
    return 0.0
  return float((labels == predictions).mean())


def confusion_matrix(labels, predictions, num_labels):
  """matrix[gold][predicted] counts."""
  matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
  for gold, predicted in zip(labels, predictions):
    matrix[gold][predicted] += 1
  return matrix


def bio_entities(tags):
  """The entities of a BIO sequence: a list of (type, start, end), end
  exclusive. B-X starts an entity, I-X continues one of type X; an I-X that
  follows O or another type starts a new entity (as conlleval reads it)."""
  entities = []
  current = None
  for i, tag in enumerate(list(tags) + ["O"]):
    if tag.startswith("I-") and current and current[0] == tag[2:]:
      continue
    if current:
      entities.append((current[0], current[1], i))
      current = None
    if tag.startswith("B-") or tag.startswith("I-"):
      current = (tag[2:], i)
  return entities


# Entity-level scores, overall and per type.
EntityScores = collections.namedtuple(
    "EntityScores", ["precision", "recall", "f1", "gold", "predicted",
                     "correct", "by_type"])


def entity_scores(gold_sequences, predicted_sequences):
  """Precision, recall and F1 of entities: a predicted entity counts only
  when its type and both boundaries match a gold one."""
  counts = collections.defaultdict(lambda: [0, 0, 0])  # gold, pred, correct
  for gold_tags, predicted_tags in zip(gold_sequences, predicted_sequences):
    gold = set(bio_entities(gold_tags))
    predicted = set(bio_entities(predicted_tags))
    for kind, _, _ in gold:
      counts[kind][0] += 1
    for kind, _, _ in predicted:
      counts[kind][1] += 1
    for kind, _, _ in gold & predicted:
      counts[kind][2] += 1

  def score(gold, predicted, correct):
    precision = correct / float(predicted) if predicted else 0.0
    recall = correct / float(gold) if gold else 0.0
    f1 = (2 * precision * recall / (precision + recall)
          if precision + recall else 0.0)
    return precision, recall, f1

  totals = [sum(c[i] for c in counts.values()) for i in range(3)]
  by_type = {kind: score(*c) for kind, c in sorted(counts.items())}
  return EntityScores(*(score(*totals) + tuple(totals) + (by_type,)))
