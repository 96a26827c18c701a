# coding=utf-8
"""The gold annotation the probes are trained and scored on, as sentences
of words with a label per word and task:

  * tagged JSON Lines (convert_pku_corpus.py's People's Daily, with gold
    words, POS and NER): tasks `pos` and `ner`, split into train and test
    by article (a seeded share of the articles for testing);
  * CoNLL-U (Universal Dependencies): tasks `upos` and `deprel`, the
    relation of each word to its gold head (its features are the word's
    and its head's); the train and test files are the treebank's own
    splits.

No TensorFlow here.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import json
import random

from lert.contract import input_reading
from lert.contract import script_errors

TAGGED_TASKS = ("pos", "ner")
CONLLU_TASKS = ("upos", "deprel")

# A sentence: its words, task -> one label per word (None: no gold label
# for that word), and each word's head (0-based index into words, -1 the
# root; None without dependency annotation).
Sentence = collections.namedtuple("Sentence", ["words", "labels", "heads"])


def read_tagged(path):
  """The articles of a tagged JSON Lines file: a list of lists of
  Sentences with `pos` and `ner` labels."""
  articles = []
  for number, line in input_reading.read_lines(path):
    if not line.strip():
      continue
    where = "%s:%d" % (path, number)
    try:
      document = json.loads(line)
      sentences = []
      for sentence in document["sentences"]:
        words = list(sentence["words"])
        labels = {}
        for task in TAGGED_TASKS:
          tags = sentence.get(task)
          if tags is not None and len(tags) != len(words):
            raise ValueError("%d %s tags for %d words" % (
                len(tags), task, len(words)))
          labels[task] = list(tags) if tags is not None else [None] * len(
              words)
        sentences.append(Sentence(words, labels, None))
    except (ValueError, KeyError, TypeError) as e:
      raise script_errors.InputError(
          "%s: not a tagged document (%s): convert_pku_corpus.py and "
          "linguistic_tagger.py write one JSON object with \"sentences\" "
          "per line." % (where, e))
    articles.append(sentences)
  if not articles:
    raise script_errors.InputError("%s: no document." % path)
  return articles


def split_articles(articles, test_share=0.2, seed=12345):
  """(train sentences, test sentences): round(test_share * n) articles,
  chosen at random from `seed`, are the test set."""
  order = list(range(len(articles)))
  random.Random(seed).shuffle(order)
  test = set(order[:max(1, int(round(test_share * len(articles))))])
  if len(test) == len(articles):
    raise script_errors.InputError(
        "%d article(s): too few to hold some out for testing." %
        len(articles))
  return ([s for i, a in enumerate(articles) if i not in test for s in a],
          [s for i, a in enumerate(articles) if i in test for s in a])


def read_conllu(path):
  """The Sentences of a CoNLL-U file, with `upos` and `deprel` labels and
  heads. Multiword-token ranges (1-2) and empty nodes (1.1) are left out:
  the words are the syntactic words."""
  sentences, rows = [], []

  def flush():
    if rows:
      words = [r[1] for r in rows]
      heads = [r[6] - 1 for r in rows]
      sentences.append(Sentence(words, {"upos": [r[3] for r in rows],
                                        "deprel": [r[7] for r in rows]},
                                heads))
      del rows[:]

  for number, line in input_reading.read_lines(path):
    if not line.strip():
      flush()
      continue
    if line.startswith("#"):
      continue
    fields = line.split("\t")
    where = "%s:%d" % (path, number)
    if len(fields) != 10:
      raise script_errors.InputError(
          "%s: a CoNLL-U word line has 10 tab-separated fields, this one "
          "%d." % (where, len(fields)))
    if "-" in fields[0] or "." in fields[0]:
      continue
    try:
      index, head = int(fields[0]), int(fields[6])
    except ValueError:
      raise script_errors.InputError(
          "%s: ID %r and HEAD %r must be numbers." % (where, fields[0],
                                                      fields[6]))
    if index != len(rows) + 1 or not 0 <= head:
      raise script_errors.InputError(
          "%s: word %d out of order, or head %d out of range." % (
              where, index, head))
    rows.append([index, fields[1], fields[2], fields[3], fields[4],
                 fields[5], head, fields[7]])
  flush()
  for sentence in sentences:
    if max(sentence.heads) >= len(sentence.words):
      raise script_errors.InputError(
          "%s: a head beyond the sentence's %d words (%s)." % (
              path, len(sentence.words), "".join(sentence.words)[:30]))
  if not sentences:
    raise script_errors.InputError("%s: no sentence." % path)
  return sentences
