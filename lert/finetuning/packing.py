# coding=utf-8
"""Token packing shared by the task readers: `[CLS] A [SEP] (B [SEP])` and
BERT's truncation of a pair. No TensorFlow here, so the readers
(classifier_data, ner_data, squad_data) import none.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections


def truncate_pair(tokens_a, tokens_b, max_length):
  """Trims the longer sequence one token at a time from its end until the
  pair fits, as BERT does. Returns whether anything was cut."""
  truncated = False
  while len(tokens_a) + len(tokens_b) > max_length:
    truncated = True
    if len(tokens_a) > len(tokens_b):
      tokens_a.pop()
    else:
      tokens_b.pop()
  return truncated


def pack_tokens(tokenizer, tokens_a, tokens_b, max_seq_length):
  """`[CLS] A [SEP] (B [SEP])` -> input_ids, input_mask, segment_ids, each
  padded to max_seq_length."""
  tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
  segment_ids = [0] * len(tokens)
  if tokens_b:
    tokens += tokens_b + ["[SEP]"]
    segment_ids += [1] * (len(tokens_b) + 1)
  input_ids = tokenizer.convert_tokens_to_ids(tokens)
  padding = max_seq_length - len(input_ids)
  return collections.OrderedDict([
      ("input_ids", input_ids + [0] * padding),
      ("input_mask", [1] * len(tokens) + [0] * padding),
      ("segment_ids", segment_ids + [0] * padding)])
