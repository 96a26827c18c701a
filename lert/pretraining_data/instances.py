# coding=utf-8
"""Instances: a tokenized document -> packed `[CLS] A [SEP] B [SEP]`
instances (no next-sentence prediction) -> masked -> serialized records.

`InstanceMaker` is the one document -> records step that
create_pretraining_data.py, the Beam pipeline and predict_linguistic.py
share; each document gives `dupe_factor` sets of instances from its own
random generator, so the records do not depend on the number of workers or
the runner. No TensorFlow here.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import random

from lert.contract import script_errors
from lert.pretraining_data import data_summary
from lert.pretraining_data import masking
from lert.pretraining_data import records
from lert.pretraining_data import tagged_documents
from lert.tagging import linguistic_tags
import tokenization


SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


# What InstanceMaker makes of one document: its serialized records, its
# Summary and its first instances (for --dump_examples).
DocumentRecords = collections.namedtuple(
    "DocumentRecords", ["records", "summary", "first_instances"])




def create_instances_from_document(sentences, max_seq_length, short_seq_prob,
                                   masked_lm_prob, max_predictions_per_seq,
                                   max_ngram, vocab_words, rng,
                                   mask_token=None):
  """Packs consecutive sentences into `[CLS] A [SEP] B [SEP]` instances.

  An instance is closed before the sentence that would not fit, which then
  starts the next one; a sentence longer than an instance is split at word
  boundaries. So every token of the document reaches exactly one instance
  (at --dupe_factor 1), none is truncated away. `mask_token`: as
  create_masked_lm_predictions.
  """
  max_num_tokens = max_seq_length - 3

  def new_target():
    if rng.random() < short_seq_prob:
      return rng.randint(2, max_num_tokens)
    return max_num_tokens

  pieces = [piece for sentence in sentences if sentence.tokens
            for piece in tagged_documents.split_long_sentence(
                sentence, max_num_tokens)]
  instances = []
  chunk, chunk_length = [], 0
  target_length = new_target()
  for piece in pieces:
    if chunk and chunk_length + len(piece.tokens) > target_length:
      instances.append(_instance_from_chunk(
          chunk, max_num_tokens, masked_lm_prob, max_predictions_per_seq,
          max_ngram, vocab_words, rng, mask_token))
      chunk, chunk_length = [], 0
      target_length = new_target()
    chunk.append(piece)
    chunk_length += len(piece.tokens)
  if chunk:
    instances.append(_instance_from_chunk(
        chunk, max_num_tokens, masked_lm_prob, max_predictions_per_seq,
        max_ngram, vocab_words, rng, mask_token))
  return instances


def _flatten(sentences, offset):
  """Concatenates sentences: tokens, global word ids and per-token tags."""
  tokens, words, tags = [], [], []
  for number, sentence in enumerate(sentences, offset):
    tokens.extend(sentence.tokens)
    # One int per word of the chunk (sentence number, word index).
    words.extend([number << 20 | word for word in sentence.word_ids])
    tags.extend(sentence.token_tags)
  return tokens, words, tags


def _instance_from_chunk(chunk, max_num_tokens, masked_lm_prob,
                         max_predictions_per_seq, max_ngram, vocab_words,
                         rng, mask_token):
  if len(chunk) >= 2:
    a_end = rng.randint(1, len(chunk) - 1)
    a = _flatten(chunk[:a_end], 0)
    b = _flatten(chunk[a_end:], a_end)
  else:
    # One sentence: split it at a word boundary so that both segments exist.
    tokens, words, tags = _flatten(chunk, 0)
    boundaries = [i for i in range(1, len(tokens)) if words[i] != words[i - 1]]
    split = rng.choice(boundaries) if boundaries else len(tokens)
    a = (tokens[:split], words[:split], tags[:split])
    b = (tokens[split:], words[split:], tags[split:])
  a, b = [list(part) for part in a], [list(part) for part in b]
  _truncate_pair(a, b, max_num_tokens, rng)

  tokens = ["[CLS]"] + a[0] + ["[SEP]"]
  segment_ids = [0] * len(tokens)
  words = [None] + a[1] + [None]
  tags = [None] + a[2] + [None]
  if b[0]:
    tokens += b[0] + ["[SEP]"]
    segment_ids += [1] * (len(b[0]) + 1)
    words += b[1] + [None]
    tags += b[2] + [None]
  return masking.create_masked_lm_predictions(
      tokens, segment_ids, words, tags, masked_lm_prob,
      max_predictions_per_seq, max_ngram, vocab_words, rng, mask_token)


def _truncate_pair(a, b, max_num_tokens, rng):
  """Trims the longer segment from a random end until the pair fits."""
  while len(a[0]) + len(b[0]) > max_num_tokens:
    longer = a if len(a[0]) > len(b[0]) else b
    index = 0 if rng.random() < 0.5 else -1
    for part in longer:
      del part[index]


def instance_to_features(instance, tokenizer, max_seq_length,
                         max_predictions_per_seq, with_mask_tag_ids=False):
  """The record values of an instance: name -> list (lert_model schema).

  A tag mask token becomes its vocabulary slot; for "all" the first tag's
  slot is the input id and the others go to `mask_tag_ids` (written with
  `with_mask_tag_ids`: two per position, 0 = none), whose embeddings the
  model adds at that position.
  """
  tokens = list(instance.tokens)
  mask_tag_ids = None
  if with_mask_tag_ids:
    mask_tag_ids = [0] * (records.MASK_TAGS_PER_POSITION * max_seq_length)
  for i in instance.masked_positions:
    if tokens[i].startswith("[MASK-"):
      slots = masking.mask_tag_slots(tokens[i])
      tokens[i] = slots[0]
      if len(slots) > 1:
        start = records.MASK_TAGS_PER_POSITION * i
        mask_tag_ids[start:start + len(slots) - 1] = (
            tokenizer.convert_tokens_to_ids(slots[1:]))
  input_ids = tokenizer.convert_tokens_to_ids(tokens)
  input_mask = [1] * len(input_ids)
  segment_ids = list(instance.segment_ids)
  padding = max_seq_length - len(input_ids)
  input_ids += [0] * padding
  input_mask += [0] * padding
  segment_ids += [0] * padding

  num_masked = len(instance.masked_positions)
  pad = max_predictions_per_seq - num_masked
  values = {
      "input_ids": input_ids, "input_mask": input_mask,
      "segment_ids": segment_ids,
      "masked_lm_positions": list(instance.masked_positions) + [0] * pad,
      "masked_lm_ids": (tokenizer.convert_tokens_to_ids(
          instance.masked_labels) + [0] * pad),
      "masked_lm_weights": [1.0] * num_masked + [0.0] * pad}
  if mask_tag_ids is not None:
    values[records.MASK_TAG_FEATURE] = mask_tag_ids
  for column, task in enumerate(linguistic_tags.TASKS):
    labels = [tags[column] for tags in instance.tags]
    values[records.labels_feature(task)] = (
        [0 if t is None else t for t in labels] + [0] * pad)
    values[records.label_weights_feature(task)] = (
        [0.0 if t is None else 1.0 for t in labels] + [0.0] * pad)
  return values


def describe_instance(instance):
  """A human-readable dump of an instance with the tags of masked tokens."""
  lines = ["tokens: " + " ".join(instance.tokens),
           "segment_ids: " + " ".join(str(s) for s in instance.segment_ids)]
  for position, label, tags in zip(instance.masked_positions,
                                   instance.masked_labels, instance.tags):
    names = [linguistic_tags.id_to_tag(task, t) if t is not None else "-"
             for task, t in zip(linguistic_tags.TASKS, tags)]
    lines.append("  %3d %s -> %s  POS=%s NER=%s DEP=%s" % (
        position, instance.tokens[position], label, names[0], names[1],
        names[2]))
  return "\n".join(lines) + "\n"


class InstanceMaker(object):
  """Turns documents into instances; one per worker process."""

  def __init__(self, vocab_file, do_lower_case, max_seq_length,
               max_predictions_per_seq, masked_lm_prob, short_seq_prob,
               max_ngram, dupe_factor, random_seed, keep_instances=0,
               fast_tokenizer=True, linguistic_masking="none"):
    self.tokenizer = tokenization.full_tokenizer(vocab_file, do_lower_case,
                                                 fast_tokenizer)
    missing = [t for t in SPECIAL_TOKENS if t not in self.tokenizer.vocab]
    if missing:
      raise script_errors.InputError(
          "%s has no %s: a BERT vocabulary holds %s (configs/vocab.txt is "
          "Chinese BERT's)." % (vocab_file, ", ".join(missing),
                                ", ".join(SPECIAL_TOKENS)))
    self.linguistic_masking = linguistic_masking
    if linguistic_masking != "none":
      masking.check_mask_tag_slots(self.tokenizer.vocab, vocab_file)
    # Random replacements come from real words, not [PAD]/[CLS]/[unused].
    self.vocab_words = [w for w in self.tokenizer.vocab
                        if w not in SPECIAL_TOKENS and
                        not w.startswith("[unused")]
    self.max_seq_length = max_seq_length
    self.max_predictions_per_seq = max_predictions_per_seq
    self.masked_lm_prob = masked_lm_prob
    self.short_seq_prob = short_seq_prob
    self.max_ngram = max_ngram
    self.dupe_factor = dupe_factor
    self.random_seed = random_seed
    self.keep_instances = keep_instances

  def document(self, where, line):
    """A tagged JSON line -> its TokenizedDocument."""
    parsed = tagged_documents.parse_document(line, where)
    pieces = self.tokenizer.tokenize_batch_with_offsets(
        [text for text, _, _ in parsed.sentences])
    sentences = []
    for number, ((text, words, ids), tokens) in enumerate(
        zip(parsed.sentences, pieces), 1):
      here = "%s: sentence %d" % (where, number)
      sentence = tagged_documents.tokenize_sentence(
          text, words, ids, self.tokenizer, here, tokens)
      tagged_documents.check_word_lengths(sentence, words,
                                          self.max_seq_length - 3, here)
      sentences.append(sentence)
    return tagged_documents.TokenizedDocument(
        tagged_documents.document_key(parsed.source, where), sentences)

  def instances(self, document):
    """A TokenizedDocument -> its instances, `dupe_factor` times over, with
    masks drawn from --random_seed and the document's key."""
    result = []
    for dupe in range(self.dupe_factor):
      seed = "%d-%s-%d" % (self.random_seed, document.key, dupe)
      mask_token = None
      if self.linguistic_masking != "none":
        mask_token = masking.TagMasker(self.linguistic_masking,
                                       random.Random(seed + "-mix"))
      result.extend(create_instances_from_document(
          document.sentences, self.max_seq_length, self.short_seq_prob,
          self.masked_lm_prob, self.max_predictions_per_seq, self.max_ngram,
          self.vocab_words, random.Random(seed), mask_token))
    return result

  def __call__(self, item):
    """(where, line) of a tagged document -> its DocumentRecords.

    Workers serialize the records themselves so that the writing process
    only writes; the first `keep_instances` instances come back for
    --dump_examples.
    """
    where, line = item
    serialized, summary = [], data_summary.Summary()
    summary.documents = 1
    document = self.document(where, line)
    summary.corpus_tokens = self.dupe_factor * sum(
        len(s.tokens) for s in document.sentences)
    tagged = tagged_documents.tagged_tasks(tags for s in document.sentences
                                           for tags in s.token_tags)
    for task in linguistic_tags.TASKS:
      summary.untagged[task] = int(task not in tagged)
    instances = self.instances(document)
    for instance in instances:
      values = instance_to_features(
          instance, self.tokenizer, self.max_seq_length,
          self.max_predictions_per_seq,
          with_mask_tag_ids=self.linguistic_masking == "all")
      serialized.append(records.serialize_record(
          values, self.max_seq_length, self.max_predictions_per_seq))
      summary.add(instance)
    return DocumentRecords(serialized, summary,
                           instances[:self.keep_instances])
