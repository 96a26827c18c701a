# coding=utf-8
r"""People's Daily (PKU annotation) -> the tagged JSON Lines of the pipeline.

The Peking University / Fujitsu annotation of the People's Daily 1998
corpus (and the corpora that copied its format) gives gold words, PKU
part-of-speech tags and bracketed compound entities:

  19980101-01-001-006/m  在/p  [中央/n  人民/n  广播/vn  电台/n]nt  、/w ...

one paragraph per line, starting with its id (date-page-article-paragraph),
tokens `word/tag` separated by whitespace, `[ ... ]tag` around a compound.
This writes what create_pretraining_data.py reads (docs/data.md), one
article per line:

  * words as annotated (full-width digits and letters kept: the Chinese BERT
    vocabulary has them);
  * POS mapped from the PKU tags to LTP's 28 (docs/data.md gives the table,
    PKU_TO_LTP below is its one home);
  * NER as BIES-O over Nh/Ns/Ni: a compound bracketed `]nt`, `]ns` or `]nr`
    is one entity (the outermost such bracket wins); outside those, a word
    tagged nt or ns is a one-word entity and a run of nr words one person
    (PKU splits 江/nr 泽民/nr);
  * DEP missing (null): the corpus has no dependency annotation.

Paragraphs are split into sentences by the tagger's rule
(ltp_tagging.split_sentences). Usage:

  python convert_pku_corpus.py \
    --input_file=../shared/data/pd1998/199801.txt.gz \
    --output_file=pd1998/tagged.jsonl

For experiments, --held_out_file sets a seeded random share of the articles
aside (gold annotation that pre-training never sees: run_probe.py's), and
--shuffle_articles writes the others in a seeded random order, so that
records made from them mix articles within a batch.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import json
import random
import re
import sys

from absl import app
from absl import flags

from lert.contract import atomic_files
from lert.contract import fingerprints
from lert.contract import input_reading
from lert.contract import script_errors
from lert.contract import script_flags
from lert.tagging import ltp_tagging

FLAGS = flags.FLAGS

# PKU tag -> LTP 863 tag (docs/spec.md §1). The PKU tags absent from LTP's
# set go to the nearest LTP class: verbal and adverbial verbs to v, nouns of
# adjectives and adverbial adjectives to a, morphemes (Ng, Vg, ...) to their
# class, the modal particle y to the auxiliary u, the fixed expression l to
# the idiom i. vvn, na and Yg are typos of the 1998 corpus.
PKU_TO_LTP = {
    "n": "n", "v": "v", "w": "wp", "u": "u", "d": "d", "a": "a", "m": "m",
    "p": "p", "r": "r", "ns": "ns", "c": "c", "q": "q", "t": "nt",
    "nr": "nh", "f": "nd", "j": "j", "i": "i", "b": "b", "nt": "ni",
    "nz": "nz", "s": "nl", "z": "z", "k": "k", "nx": "ws", "o": "o", "h": "h",
    "e": "e", "x": "x",
    "vn": "v", "vd": "v", "an": "a", "ad": "a", "y": "u", "l": "i",
    "Ng": "n", "Vg": "v", "Ag": "a", "Dg": "d", "Tg": "nt", "Rg": "r",
    "Bg": "b", "Mg": "m", "Yg": "u", "vvn": "v", "na": "n"}

# A bracketed compound's tag -> its entity type; other compounds (nz, i, l)
# are no entity.
ENTITY_OF_BRACKET = {"nr": "Nh", "ns": "Ns", "nt": "Ni"}
# A word's own tag -> its entity type, outside an entity bracket.
ENTITY_OF_WORD = {"ns": "Ns", "nt": "Ni"}
PERSON = "nr"

_TOKEN = re.compile(r"^(\[*)(.+)/([A-Za-z]+)((?:\][A-Za-z]+)*)$")
_PARAGRAPH_ID = re.compile(r"^\d{8}-\d+-\d+-\d+$")

# A parsed paragraph: its id, its words, their PKU tags, and per word the
# (entity type, first word) of the entity bracket it is in, or None.
Paragraph = collections.namedtuple("Paragraph", ["id", "words", "pos", "ner"])


def define_flags(flag_values=FLAGS):
  define = script_flags.FlagDefiner(flag_values)
  define.string("input_file", None,
                "Comma-separated globs of PKU-format files (.txt or "
                ".txt.gz, UTF-8).")
  define.string("output_file", None,
                "Tagged JSON Lines to write (one article per line).")
  define.integer("max_sentence_chars", 500,
                 "Sentences longer than this are split again at a "
                 "comma (as linguistic_tagger.py does).")
  define.string("held_out_file", None,
                "Write --held_out_share of the articles, chosen at random "
                "(--random_seed), here instead of --output_file: text "
                "that pre-training never sees, e.g. for run_probe.py.")
  define.float("held_out_share", 0.05, "The share of articles held out "
               "with --held_out_file.")
  define.bool("shuffle_articles", False,
              "Write the articles of --output_file in a random order "
              "(--random_seed) instead of the corpus's: a training "
              "pipeline that reads records in order through a shuffle "
              "buffer then mixes articles of the whole corpus.")
  define.integer("random_seed", 12345, "Seeds --held_out_file's choice "
                 "and --shuffle_articles' order.")
  define.required("input_file", "output_file")
  define.validator("held_out_share", lambda x: 0 < x < 1,
                   message="--held_out_share must be between 0 and 1.")
  define.validator("max_sentence_chars", lambda n: n >= 1,
                   "--max_sentence_chars must be at least 1.")


def parse_paragraph(line, where):
  """One annotated line -> its Paragraph (None for a blank line).

  The tokens after the paragraph id are `word/tag`, a compound's first word
  prefixed by `[` (one per open compound) and its last suffixed by `]tag`
  (one per closing compound).
  """
  tokens = line.split()
  if not tokens:
    return None
  first = tokens[0]
  paragraph_id = first.rsplit("/", 1)[0]
  if not _PARAGRAPH_ID.match(paragraph_id):
    raise script_errors.InputError(
        "%s: expected the paragraph id (19980101-01-001-001/m) first, got "
        "%r." % (where, first))
  words, pos = [], []
  entity_of = []  # per word: (entity type, first word) of its entity bracket
  open_brackets = []  # the first word of each open compound
  for token in tokens[1:]:
    match = _TOKEN.match(token)
    if not match:
      raise script_errors.InputError(
          "%s: %r is not word/tag (or [word/tag, word/tag]tag)." % (where,
                                                                   token))
    opens, word, tag, closes = match.groups()
    if tag not in PKU_TO_LTP:
      raise script_errors.InputError(
          "%s: unknown PKU tag %r (word %r); the known ones are in "
          "convert_pku_corpus.PKU_TO_LTP." % (where, tag, word))
    open_brackets.extend([len(words)] * len(opens))
    words.append(word)
    pos.append(tag)
    entity_of.append(None)
    for bracket_tag in re.findall(r"\]([A-Za-z]+)", closes):
      if not open_brackets:
        raise script_errors.InputError(
            "%s: %r closes a compound that was not opened." % (where, token))
      start = open_brackets.pop()
      entity = ENTITY_OF_BRACKET.get(bracket_tag)
      if entity:  # outer brackets close later and overwrite: they win
        for i in range(start, len(words)):
          entity_of[i] = (entity, start)
  if open_brackets:
    raise script_errors.InputError(
        "%s: a compound opened at %r is not closed." % (
            where, words[open_brackets[-1]]))
  if not words:
    raise script_errors.InputError("%s: a paragraph id without words." %
                                   where)
  return Paragraph(paragraph_id, words, pos, entity_of)


def entity_spans(paragraph):
  """The entities of a Paragraph: (type, text, first word, last word)."""
  spans = []
  i = 0
  words = paragraph.words
  while i < len(words):
    bracket = paragraph.ner[i]
    if bracket is not None:
      entity, start = bracket
      end = i
      while end + 1 < len(words) and paragraph.ner[end + 1] == bracket:
        end += 1
    elif paragraph.pos[i] == PERSON:
      entity, end = "Nh", i
      while (end + 1 < len(words) and paragraph.pos[end + 1] == PERSON and
             paragraph.ner[end + 1] is None):
        end += 1
    elif paragraph.pos[i] in ENTITY_OF_WORD:
      entity, end = ENTITY_OF_WORD[paragraph.pos[i]], i
    else:
      i += 1
      continue
    spans.append((entity, "".join(words[i:end + 1]), i, end))
    i = end + 1
  return spans


def tagged_sentences(paragraph, max_sentence_chars=500):
  """A Paragraph -> its sentences in the tagged JSON format (DEP null)."""
  ner = ltp_tagging.entities_to_bieso(entity_spans(paragraph),
                                      len(paragraph.words))
  pos = [PKU_TO_LTP[tag] for tag in paragraph.pos]
  # Each word goes to the sentence that holds its first character.
  text = "".join(paragraph.words)
  texts = ltp_tagging.split_sentences(text, max_sentence_chars)
  if sum(len(t) for t in texts) != len(text):  # whitespace inside a word
    texts = [text]
  ends, total = [], 0
  for text in texts:
    total += len(text)
    ends.append(total)
  sentences = [[] for _ in texts]
  offset, current = 0, 0
  for i, word in enumerate(paragraph.words):
    while offset >= ends[current]:
      current += 1
    sentences[current].append(i)
    offset += len(word)
  return [{"text": "".join(paragraph.words[i] for i in members),
           "words": [paragraph.words[i] for i in members],
           "pos": [pos[i] for i in members], "ner": [ner[i] for i in members],
           "dep_head": [None] * len(members),
           "dep_label": [None] * len(members)}
          for members in sentences if members]


def article_id(paragraph_id):
  """19980101-01-001-006 -> 19980101-01-001 (date, page, article)."""
  return paragraph_id.rsplit("-", 1)[0]


# What a conversion read and wrote, for the summary.
Counts = collections.namedtuple("Counts", [
    "articles", "paragraphs", "sentences", "words", "entities"])


def convert(input_files, write, max_sentence_chars=500):
  """Writes one JSON line per article through `write`; returns Counts and
  the Counter of PKU tags."""
  articles = paragraphs = sentences = words = 0
  entities = collections.Counter()
  tags = collections.Counter()
  current, document = None, []

  def flush():
    if document:
      write(json.dumps({"source": document[0][0], "sentences": [
          s for _, part in document for s in part]},
                       ensure_ascii=False) + "\n")

  for path in input_files:
    for number, line in input_reading.read_lines(path):
      where = "%s:%d" % (path, number)
      paragraph = parse_paragraph(line, where)
      if paragraph is None:
        continue
      if article_id(paragraph.id) != current:
        flush()
        articles += 1
        current, document = article_id(paragraph.id), []
      part = tagged_sentences(paragraph, max_sentence_chars)
      document.append((where, part))
      paragraphs += 1
      sentences += len(part)
      words += len(paragraph.words)
      tags.update(paragraph.pos)
      # An entity starts at its S- or B- tag.
      entities.update(tag[2:] for sentence in part for tag in sentence["ner"]
                      if tag[0] in "SB")
  flush()
  if not paragraphs:
    raise script_errors.InputError("%s: no annotated paragraph." %
                                   ", ".join(input_files))
  return Counts(articles, paragraphs, sentences, words, dict(entities)), tags


def split_articles(articles, held_out_share, shuffle, seed):
  """(kept, held out): round(share * n) articles chosen at random held out
  (in corpus order), the others in corpus order or, with `shuffle`, in a
  random order; both drawn from `seed`."""
  rng = random.Random(seed)
  order = list(range(len(articles)))
  rng.shuffle(order)
  held = set(order[:int(round(held_out_share * len(articles)))])
  kept = [i for i in order if i not in held] if shuffle else [
      i for i in range(len(articles)) if i not in held]
  return ([articles[i] for i in kept],
          [articles[i] for i in sorted(held)])


def main(_):
  script_errors.run_reporting_errors(run, "convert_pku_corpus.py")


def run():
  input_files = input_reading.expand_input_files(FLAGS.input_file)
  fingerprints.check_not_input(FLAGS.output_file, input_files, "--output_file")
  if FLAGS.held_out_file:
    fingerprints.check_not_input(FLAGS.held_out_file, input_files,
                                 "--held_out_file")
  if not FLAGS.held_out_file and not FLAGS.shuffle_articles:
    with atomic_files.atomic_open(FLAGS.output_file) as writer:
      counts, tags = convert(input_files, writer.write,
                             FLAGS.max_sentence_chars)
  else:
    articles = []
    counts, tags = convert(input_files, articles.append,
                           FLAGS.max_sentence_chars)
    kept, held = split_articles(articles, FLAGS.held_out_share if
                                FLAGS.held_out_file else 0,
                                FLAGS.shuffle_articles, FLAGS.random_seed)
    if FLAGS.held_out_file:
      if not held or not kept:
        raise script_errors.InputError(
            "--held_out_share=%g of %d articles leaves %s empty." % (
                FLAGS.held_out_share, len(articles), "--held_out_file"
                if not held else "--output_file"))
      atomic_files.write_text(FLAGS.held_out_file, "".join(held))
      print("Held out %d articles in %s" % (len(held), FLAGS.held_out_file))
    atomic_files.write_text(FLAGS.output_file, "".join(kept))
  print("Articles: %d, paragraphs: %d, sentences: %d, words: %d" % (
      counts.articles, counts.paragraphs, counts.sentences, counts.words))
  print("Entities: " + ", ".join("%s %d" % (t, counts.entities.get(t, 0))
                                 for t in ("Nh", "Ns", "Ni")))
  print("PKU tags: " + ", ".join("%s %d" % item for item in tags.most_common()))
  print("Wrote %s" % FLAGS.output_file)
  sys.stdout.flush()


if __name__ == "__main__":
  define_flags()
  app.run(main)
