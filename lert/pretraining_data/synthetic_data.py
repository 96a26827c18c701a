# coding=utf-8
"""Valid LERT pre-training records with random content, for tests and benches.

The records have the layout create_pretraining_data.py writes (docs/spec.md §4):
`[CLS] A [SEP] B [SEP]`, padding, ~15% masked positions with their original
ids and random POS/NER/DEP labels, and optionally per-task label weights
with some labels marked missing.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse

import numpy as np
import tensorflow.compat.v1 as tf

from lert.pretraining_data import records
from lert.tagging import linguistic_tags

# Special token ids of the Chinese BERT vocabulary.
CLS_ID, SEP_ID, MASK_ID = 101, 102, 103
FIRST_WORD_ID = 104


def synthetic_example(rng, max_seq_length, max_predictions_per_seq,
                      vocab_size, missing_label_rate=None):
  """Returns the values (name -> array) of one random record."""
  length = int(rng.randint(max_seq_length // 2, max_seq_length + 1))
  length = max(length, 5)
  split = length // 2
  ids = rng.randint(FIRST_WORD_ID, vocab_size, size=length)
  ids[0], ids[split], ids[length - 1] = CLS_ID, SEP_ID, SEP_ID
  segment_ids = np.zeros(max_seq_length, np.int64)
  segment_ids[split + 1:length] = 1

  candidates = [i for i in range(1, length - 1) if i != split]
  num_masked = min(max_predictions_per_seq, len(candidates),
                   max(1, int(round(length * 0.15))))
  positions = np.sort(rng.choice(candidates, num_masked, replace=False))
  masked_ids = ids[positions].copy()
  input_ids = np.zeros(max_seq_length, np.int64)
  input_ids[:length] = ids
  input_ids[positions[rng.rand(num_masked) < 0.8]] = MASK_ID
  input_mask = np.zeros(max_seq_length, np.int64)
  input_mask[:length] = 1

  def padded(values, dtype=np.int64):
    out = np.zeros(max_predictions_per_seq, dtype)
    out[:num_masked] = values
    return out

  values = {
      "input_ids": input_ids, "input_mask": input_mask,
      "segment_ids": segment_ids,
      "masked_lm_positions": padded(positions),
      "masked_lm_ids": padded(masked_ids),
      "masked_lm_weights": padded(1.0, np.float32)}
  for task in linguistic_tags.TASKS:
    labels = rng.randint(0, linguistic_tags.NUM_TAGS[task], size=num_masked)
    if missing_label_rate is not None:
      present = (rng.rand(num_masked) >= missing_label_rate).astype(np.float32)
      labels = labels * present.astype(np.int64)  # missing labels carry 0
      values[records.label_weights_feature(task)] = padded(present,
                                                              np.float32)
    values[records.labels_feature(task)] = padded(labels)
  return values


def write_synthetic_records(path, num_records, max_seq_length,
                            max_predictions_per_seq, vocab_size, seed=0,
                            missing_label_rate=None):
  """Writes `num_records` random records to the TFRecord file `path`."""
  rng = np.random.RandomState(seed)
  with tf.io.TFRecordWriter(path) as writer:
    for _ in range(num_records):
      values = synthetic_example(rng, max_seq_length, max_predictions_per_seq,
                                 vocab_size, missing_label_rate)
      writer.write(records.serialize_record(values, max_seq_length,
                                               max_predictions_per_seq))
  return path


def main():
  parser = argparse.ArgumentParser(
      description="Writes random but valid LERT pre-training records.")
  parser.add_argument("--output_file", required=True)
  parser.add_argument("--num_records", type=int, default=1000)
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--max_predictions_per_seq", type=int, default=20)
  parser.add_argument("--vocab_size", type=int, default=21128)
  parser.add_argument("--missing_label_rate", type=float, default=0.05,
                      help="Share of labels marked missing (negative: write "
                      "no label weights).")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  write_synthetic_records(
      args.output_file, args.num_records, args.max_seq_length,
      args.max_predictions_per_seq, args.vocab_size, args.seed,
      args.missing_label_rate if args.missing_label_rate >= 0 else None)
  print("Wrote %d records to %s" % (args.num_records, args.output_file))


if __name__ == "__main__":
  main()
