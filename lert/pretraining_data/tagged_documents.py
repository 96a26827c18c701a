# coding=utf-8
"""Tagged documents: reading the tagger's JSON lines, checking which tags a
corpus carries, and aligning each sentence's words and tags with its
WordPiece tokens.

Each tagged document (the tagger's JSON line: {"sentences": [{"text",
"words", "pos", "ner", "dep_head", "dep_label"}, ...]}) becomes a
`TokenizedDocument`: its key (document_key: the file name and line of its
first raw corpus line, which seeds its random generator) and its
`TokenizedSentence`s. No TensorFlow here.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import itertools
import json

from lert.contract import input_reading
from lert.contract import script_errors
from lert.tagging import linguistic_tags


# One tokenized sentence: WordPiece tokens, the index of each token's word,
# and each token's (POS, NER, DEP) tag ids, its word's (None = missing).
TokenizedSentence = collections.namedtuple(
    "TokenizedSentence", ["tokens", "word_ids", "token_tags"])


# A tagged document as parse_document reads it.
ParsedDocument = collections.namedtuple("ParsedDocument",
                                        ["source", "sentences"])


# A document ready for masking: its key (document_key) and its
# TokenizedSentences.
TokenizedDocument = collections.namedtuple("TokenizedDocument",
                                           ["key", "sentences"])


# tag -> id per task, LTP's spellings included; None (null) is a missing
# label.
_TAG_INDEX = {task: linguistic_tags.tag_index(task)
              for task in linguistic_tags.TASKS}


for _index in _TAG_INDEX.values():
  _index[None] = None


def parse_document(line, where):
  """Validates one JSON line of the tagger's format.

  Returns a ParsedDocument: its `source` (the raw corpus's "file:line" that
  the tagger records, or None) and its sentences as (text, words, tag ids).
  Raises script_errors.InputError naming `where` (file:line) on any problem.
  """
  try:
    document = json.loads(line)
  except ValueError as e:
    raise script_errors.InputError("%s: not valid JSON (%s)." % (where, e))
  if not isinstance(document, dict) or not isinstance(
      document.get("sentences"), list):
    raise script_errors.InputError(
        "%s: expected an object with a 'sentences' list." % where)
  sentences = []
  for number, sentence in enumerate(document["sentences"], 1):
    here = "%s: sentence %d" % (where, number)
    if not isinstance(sentence, dict):
      raise script_errors.InputError("%s is not an object." % here)
    for key in ("words", "pos", "ner", "dep_head", "dep_label"):
      if not isinstance(sentence.get(key), list):
        raise script_errors.InputError("%s lacks the list %r." % (here, key))
    num_words = len(sentence["words"])
    for key in ("pos", "ner", "dep_head", "dep_label"):
      if len(sentence[key]) != num_words:
        raise script_errors.InputError("%s: %d words but %d %s entries." %
                        (here, num_words, len(sentence[key]), key))
    ids = {}
    for task, key in (("pos", "pos"), ("ner", "ner"), ("dep", "dep_label")):
      index = _TAG_INDEX[task]  # null (a missing label) -> None
      try:
        ids[task] = [index[tag] for tag in sentence[key]]
      except (KeyError, TypeError):
        word, tag = [(w, t) for w, t in zip(sentence["words"], sentence[key])
                     if isinstance(t, (list, dict)) or t not in index][0]
        raise script_errors.InputError(
            "%s: unknown %s tag %r (word %r); the tags are "
            "those of docs/spec.md §1, null for a missing label." %
            (here, task.upper(), tag, word))
    for head in sentence["dep_head"]:  # null: no parse (a gold corpus)
      if head is not None and (not isinstance(head, int) or
                               not 0 <= head <= num_words):
        raise script_errors.InputError(
            "%s: dep_head %r is not in 0..%d (or null)." % (here, head,
                                                            num_words))
    text = sentence.get("text")
    if text is None:
      text = "".join(sentence["words"])
    sentences.append((text, sentence["words"], ids))
  source = document.get("source")
  return ParsedDocument(source if isinstance(source, str) else None,
                        sentences)


def document_key(source, where):
  """The stable key that seeds a document's masks: "file:line" of the raw
  corpus line that starts it (the tagger's `source`), else of the tagged
  line, with the file's directory left out. It does not depend on the
  order, the sharding or the machine the documents are read in (Beam), nor
  on where the corpus lies."""
  path, _, line = (source or where).rpartition(":")
  return "%s:%s" % (path.replace("\\", "/").rsplit("/", 1)[-1], line)


def read_documents(input_files, skipped=None,
                   open_file=input_reading.open_binary):
  """Yields (where, line) for every non-empty line of the input files,
  read by input_reading.read_lines (a BOM dropped, CRLF taken as LF).

  A line that is not UTF-8 or holds a NUL raises InputError naming it, or
  with `skipped` (a list) is left out and given to it as a SkippedLine.
  """
  for path in input_files:
    for line_number, line in input_reading.read_lines(
        path, on_error="stop" if skipped is None else "skip",
        skipped=skipped, open_file=open_file):
      if line.strip():
        yield "%s:%d" % (path, line_number), line


def masking_tasks(mode):
  """The tasks whose tags a --linguistic_masking mode writes in its mask
  tokens (docs/spec.md §8): one, all three (all, mix), or none."""
  if mode in ("all", "mix"):
    return tuple(linguistic_tags.TASKS)
  return () if mode == "none" else (mode,)


def tagged_tasks(tag_rows):
  """The tasks of which a document carries at least one tag (not null),
  from its (POS, NER, DEP) tag ids per word or per token."""
  found = set()
  for row in tag_rows:
    found.update(task for task, tag in zip(linguistic_tags.TASKS, row)
                 if tag is not None)
  return found


def find_corpus_tags(input_files, tasks=linguistic_tags.TASKS,
                     open_file=input_reading.open_binary):
  """Which of `tasks` some document of the input carries tags of. Reads
  until each is found (a tagged corpus costs a line), else to the end; bad
  lines are left to the real pass."""
  needed, found = set(tasks), set()
  for path in input_files:
    if found >= needed:
      break
    for line_number, line in input_reading.read_lines(
        path, on_error="skip", skipped=[], open_file=open_file):
      if not line.strip():
        continue
      try:
        parsed = parse_document(line, "%s:%d" % (path, line_number))
      except script_errors.InputError:
        continue
      found |= tagged_tasks(
          row for _, _, ids in parsed.sentences
          for row in zip(*(ids[task] for task in linguistic_tags.TASKS))
      ) & needed
      if found >= needed:
        break
  return found


def check_corpus_tags(input_files, mode, open_file=input_reading.open_binary):
  """Before any record is made: raises InputError when no document of the
  input carries a tag that --linguistic_masking=`mode` writes (its records
  would be those of --linguistic_masking=none, or a part of them)."""
  needed = masking_tasks(mode)
  found = find_corpus_tags(input_files, needed, open_file)
  missing = [task for task in needed if task not in found]
  if missing:
    raise script_errors.InputError(
        "%s: no document carries %s tags, which --linguistic_masking=%s "
        "writes (every \"%s\" is null): tag the corpus with "
        "linguistic_tagger.py, or choose a mode of the tags it has." % (
            input_reading.describe_files(input_files),
            "/".join(t.upper() for t in missing), mode,
            "dep_label" if missing[0] == "dep" else missing[0]))


def word_char_spans(text, words, where):
  """[start, end) of each word in `text`, found in order (spaces skipped)."""
  if "".join(words) == text:  # the usual case: no space between words
    ends = list(itertools.accumulate(len(word) for word in words))
    return list(zip([0] + ends[:-1], ends))
  spans = []
  cursor = 0
  for word in words:
    if text.startswith(word, cursor):  # the usual case: no space between
      start = cursor
    else:
      start = text.find(word, cursor)
    if start < 0 or (start > cursor and text[cursor:start].strip()):
      raise script_errors.InputError(
          "%s: word %r is not found in the sentence text after "
          "offset %d." % (where, word, cursor))
    spans.append((start, start + len(word)))
    cursor = start + len(word)
  return spans


def tokenize_sentence(text, words, tag_ids, tokenizer, where, pieces=None):
  """WordPiece tokens of a sentence, each with the index of its LTP word.

  A token belongs to the word holding its first character. Words that the
  tokenizer drops entirely (whitespace, control characters) get no token.
  `pieces`: the text's tokenize_with_offsets, when already computed.
  """
  word_of_char = [-1] * len(text)
  for index, (start, end) in enumerate(word_char_spans(text, words, where)):
    word_of_char[start:end] = [index] * (end - start)
  if pieces is None:
    pieces = tokenizer.tokenize_with_offsets(text)
  tokens = [token for token, _, _ in pieces]
  word_ids = [word_of_char[start] for _, start, _ in pieces]
  if -1 in word_ids:
    token, start, _ = pieces[word_ids.index(-1)]
    raise script_errors.InputError(
        "%s: token %r at offset %d lies outside every word." %
        (where, token, start))
  # Each token's (POS, NER, DEP) ids: its word's.
  word_tags = list(zip(tag_ids["pos"], tag_ids["ner"], tag_ids["dep"]))
  return TokenizedSentence(tokens, word_ids,
                           [word_tags[w] for w in word_ids])


def check_word_lengths(sentence, words, max_num_tokens, where):
  """Raises InputError when one word of a TokenizedSentence has more tokens
  than an instance holds: it would be cut over several instances and, being
  masked only whole, never masked (a 1 MB "word" made 16,394 instances with
  nothing to predict). Only a sentence longer than an instance can hold
  such a word: the others cost one len()."""
  if len(sentence.tokens) <= max_num_tokens:
    return
  counts = collections.Counter(sentence.word_ids)
  word, count = max(counts.items(), key=lambda item: (item[1], -item[0]))
  if count > max_num_tokens:
    text = words[word]
    raise script_errors.InputError(
        "%s: word %d (%s, %d characters) is %d WordPiece tokens, more than "
        "an instance holds (--max_seq_length - 3 = %d): it could never be "
        "masked whole. Split it in the tagged file, or tag the text again." %
        (where, word + 1, json.dumps(text[:20] + (u"…" if len(text) > 20
                                                  else u""),
                                     ensure_ascii=False),
         len(text), count, max_num_tokens))


def split_long_sentence(sentence, max_num_tokens):
  """Pieces of at most max_num_tokens tokens, cut at word boundaries (inside
  a word only when one word alone is longer): no token is lost."""
  if len(sentence.tokens) <= max_num_tokens:
    return [sentence]
  pieces, start = [], 0
  while start < len(sentence.tokens):
    end = min(start + max_num_tokens, len(sentence.tokens))
    if end < len(sentence.tokens):
      boundaries = [i for i in range(start + 1, end + 1)
                    if sentence.word_ids[i] != sentence.word_ids[i - 1]]
      if boundaries:
        end = boundaries[-1]
    pieces.append(sentence._replace(
        tokens=sentence.tokens[start:end],
        word_ids=sentence.word_ids[start:end],
        token_tags=sentence.token_tags[start:end]))
    start = end
  return pieces
