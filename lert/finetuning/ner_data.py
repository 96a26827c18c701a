# coding=utf-8
"""Character-level BIO NER data: MSRA-NER and People's Daily.

One character and its tag per line (separated by a space or a tab), a blank
line between sentences; plain or gzipped. The labels are BIO over PER, LOC
and ORG. A line with another number of fields, an unknown tag or an empty
file is an error naming the file and line.

Every character becomes the WordPiece tokens of that character alone (a
character the tokenizer drops becomes [UNK], so none is lost); its label is
carried by its first token. A sentence longer than the model input is split
into consecutive windows at character boundaries; predictions are stitched
back per sentence.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections

from lert.contract import atomic_files
from lert.contract import input_reading
from lert.contract import script_errors
from lert.finetuning import packing

LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")

# A sentence: its characters, tags, where it starts (file:line) and the
# separator its file uses between character and tag.
Sentence = collections.namedtuple("Sentence",
                                  ["chars", "tags", "source", "separator"])

# A model input: a window of a sentence, from character `start` on.
Window = collections.namedtuple(
    "Window", ["sentence", "start", "chars", "tokens", "first_token"])


def read_sentences(path, require_tags=True):
  """The sentences of a BIO file."""
  sentences = []
  chars, tags, start, separator = [], [], None, None

  def flush():
    if chars:
      sentences.append(Sentence(list(chars), list(tags), start, separator))
      del chars[:]
      del tags[:]

  for number, line in input_reading.read_lines(path):
    where = "%s:%d" % (path, number)
    if not line.strip():
      flush()
      continue
    fields = line.split("\t") if "\t" in line else line.split(" ")
    if len(fields) != 2 or not fields[0]:
      if not require_tags and len(fields) == 1 and fields[0]:
        fields = [fields[0], "O"]
      else:
        raise script_errors.InputError(
            "%s: expected a character and its tag separated by one space or "
            "tab, got %r." % (where, line))
    char, tag = fields[0], fields[1].strip()
    if len(char) != 1:
      raise script_errors.InputError("%s: %r is not one character." %
                                 (where, char))
    if tag not in LABELS:
      raise script_errors.InputError("%s: unknown tag %r (tags: %s)." %
                                 (where, tag, " ".join(LABELS)))
    if not chars:
      start = where
      separator = "\t" if "\t" in line else " "
    chars.append(char)
    tags.append(tag)
  flush()
  if not sentences:
    raise script_errors.InputError("%s holds no sentence." % path)
  return sentences


def unstarted_entities(sentences):
  """Where (file:line) an I-X tag follows O or a tag of another type: an
  entity without its B-X. It is kept, and read as the start of an entity,
  as conlleval reads it (metrics.bio_entities), so scores stay
  conlleval's; run_ner.py counts and prints these, and records the count.
  (People's Daily 1998 as ../shared has it: 6 in train, 11 in dev.)"""
  found = []
  for sentence in sentences:
    path, line = sentence.source.rsplit(":", 1)
    for i, tag in enumerate(sentence.tags):
      if tag.startswith("I-") and (i == 0 or
                                   sentence.tags[i - 1][2:] != tag[2:]):
        found.append("%s:%d" % (path, int(line) + i))
  return found


def char_tokens(tokenizer, char):
  return tokenizer.tokenize(char) or ["[UNK]"]


def windows(sentences, tokenizer, max_seq_length):
  """Splits every sentence into windows of at most max_seq_length - 2
  tokens, at character boundaries, in order."""
  limit = max_seq_length - 2
  result = []
  for index, sentence in enumerate(sentences):
    start, tokens, first = 0, [], []
    for i, char in enumerate(sentence.chars):
      pieces = char_tokens(tokenizer, char)[:limit]
      if tokens and len(tokens) + len(pieces) > limit:
        result.append(Window(index, start, sentence.chars[start:i], tokens,
                             first))
        start, tokens, first = i, [], []
      first.append(len(tokens))
      tokens = tokens + pieces
    result.append(Window(index, start, sentence.chars[start:], tokens, first))
  return result


def window_features(window, sentence, index, tokenizer, max_seq_length):
  """The feature row of a window: token labels at each character's first
  token (label_mask 1), 0 elsewhere."""
  row = packing.pack_tokens(tokenizer, list(window.tokens), [],
                            max_seq_length)
  label_ids = [0] * max_seq_length
  label_mask = [0] * max_seq_length
  for offset, position in enumerate(window.first_token):
    label_ids[position + 1] = LABELS.index(
        sentence.tags[window.start + offset])
    label_mask[position + 1] = 1
  row["label_ids"] = label_ids
  row["label_mask"] = label_mask
  row["example_index"] = [index]
  return row


def stitch(sentences, windows_, probabilities):
  """Predicted tags per sentence from the windows' token probabilities."""
  predicted = [[None] * len(s.chars) for s in sentences]
  for window, probs in zip(windows_, probabilities):
    for offset, position in enumerate(window.first_token):
      predicted[window.sentence][window.start + offset] = LABELS[
          int(probs[position + 1].argmax())]
  return predicted


def write_sentences(path, sentences, tags):
  """Writes characters with `tags` in the input's own format (atomically)."""
  with atomic_files.atomic_open(path) as writer:
    for sentence, sentence_tags in zip(sentences, tags):
      for char, tag in zip(sentence.chars, sentence_tags):
        writer.write(char + sentence.separator + tag + "\n")
      writer.write(u"\n")
  return path
