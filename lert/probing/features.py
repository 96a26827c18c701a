# coding=utf-8
"""Word features of a frozen encoder, layer by layer: the mean of each
word's WordPiece token states at the embeddings' output and at every
Transformer layer's, for the linear probes (run_probe.py).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections

import numpy as np
import tensorflow.compat.v1 as tf

from lert.running import checkpoints
import modeling

# The features of a set of sentences: per layer (0: the embeddings) an
# array [words, hidden] of the words that have features, and for every
# word of every sentence (in order) its row in those arrays or None (a
# word with no WordPiece, or beyond --max_seq_length).
WordFeatures = collections.namedtuple("WordFeatures", ["layers", "rows"])


def word_spans(tokenizer, words, max_seq_length):
  """(token ids, [(start, end) or None per word]) of `[CLS] words [SEP]`,
  the words that do not fit left out."""
  tokens, spans = ["[CLS]"], []
  for word in words:
    pieces = tokenizer.tokenize(word)
    if not pieces or len(tokens) + len(pieces) > max_seq_length - 1:
      spans.append(None)
      continue
    spans.append((len(tokens), len(tokens) + len(pieces)))
    tokens.extend(pieces)
  tokens.append("[SEP]")
  return tokenizer.convert_tokens_to_ids(tokens), spans


def word_features(bert_config, checkpoint, tokenizer, sentences,
                  max_seq_length=128, batch_size=32, seed=12345,
                  progress=None):
  """The WordFeatures of `sentences` (lists of words) under the encoder of
  `checkpoint` (None: random weights drawn from `seed`, the control).
  `progress(done, total)` is called after each batch."""
  encoded = [word_spans(tokenizer, words, max_seq_length)
             for words in sentences]
  layers = [[] for _ in range(bert_config.num_hidden_layers + 1)]
  rows = []
  with tf.Graph().as_default():
    tf.set_random_seed(seed)
    input_ids = tf.placeholder(tf.int32, [None, None])
    input_mask = tf.placeholder(tf.int32, [None, None])
    model = modeling.BertModel(bert_config, False, input_ids, input_mask,
                               add_pooler=False)
    outputs = [model.get_embedding_output()] + model.get_all_encoder_layers()
    if checkpoint:
      checkpoints.init_from_checkpoint(checkpoint, use_tpu=False)
    with tf.Session() as session:
      session.run(tf.global_variables_initializer())
      count = 0
      for start in range(0, len(encoded), batch_size):
        batch = encoded[start:start + batch_size]
        length = max(len(ids) for ids, _ in batch)
        ids = np.zeros([len(batch), length], np.int32)
        mask = np.zeros([len(batch), length], np.int32)
        for i, (token_ids, _) in enumerate(batch):
          ids[i, :len(token_ids)] = token_ids
          mask[i, :len(token_ids)] = 1
        states = session.run(outputs, {input_ids: ids, input_mask: mask})
        for i, (_, spans) in enumerate(batch):
          for span in spans:
            if span is None:
              rows.append(None)
              continue
            for layer, value in zip(layers, states):
              layer.append(value[i, span[0]:span[1]].mean(axis=0))
            rows.append(count)
            count += 1
        if progress:
          progress(min(start + batch_size, len(encoded)), len(encoded))
  hidden = bert_config.hidden_size
  return WordFeatures([np.array(layer, np.float32).reshape(-1, hidden)
                       for layer in layers], rows)
