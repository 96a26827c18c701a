# coding=utf-8
"""The pre-training data core: tagged documents -> instances -> records.

What `create_pretraining_data.py` (one machine) and
`prepare_pretraining_data_beam.py` (Apache Beam) share — the masking flags,
reading tagged documents, `InstanceMaker` (document -> records) and the
`Summary` — and what `predict_linguistic.py` uses to build its inputs; then,
at the end, the single-machine writer of `create_pretraining_data.py` only
(`write_pretraining_data`: its worker pool and output files), which the Beam
pipeline replaces with its own. No TensorFlow here.

Each tagged document (the tagger's JSON line: {"sentences": [{"text",
"words", "pos", "ner", "dep_head", "dep_label"}, ...]}) gives
`dupe_factor` sets of instances: aligned WordPiece tokens with their
words' tags, packed `[CLS] A [SEP] B [SEP]` without next-sentence
prediction, 15% of the tokens masked by whole words and N-grams, and the
labels of the masked positions (docs/data.md#masking describes it once;
docs/spec.md §4 holds the numbers).

Every document has its own random generator seeded from the seed and the
document's key (document_key: the file name and line of its first raw corpus
line), so the records do not depend on the number of workers or the runner.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import bisect
import collections
import contextlib
import itertools
import json
import multiprocessing
import random
import time

from absl import flags
import input_reading
import linguistic_tags
import outputs
import records
import script_errors
import tokenization
import script_flags

FLAGS = flags.FLAGS


def define_masking_flags(flag_values=FLAGS):
  """The flags that decide the instances (InstanceMaker's settings), which
  this script and prepare_pretraining_data_beam.py share."""
  define = script_flags.FlagDefiner(flag_values)
  define.string("vocab_file", "configs/vocab.txt",
                "WordPiece vocabulary (the Chinese BERT vocab).")
  define.bool("do_lower_case", True, "Lower-case the text.")
  define.integer("max_seq_length", 512, "Maximum sequence length.")
  define.integer("max_predictions_per_seq", 75,
                 "Maximum masked positions per sequence.")
  define.float("masked_lm_prob", 0.15, "Share of tokens to mask.")
  define.float(
      "short_seq_prob",
      0.1, "Probability of a shorter sequence, to reduce the mismatch "
      "between pre-training and fine-tuning lengths.")
  define.integer("max_ngram", 4,
                 "Longest word N-gram masked (probabilities 0.4, 0.3, "
                 "0.2, 0.1 for n = 1..4, renormalised if smaller).")
  define.integer("dupe_factor", 10,
                 "Times each document is used, with different masks.")
  define.integer("random_seed", 12345, "Random seed.")
  define.enum(
      "linguistic_masking", "none", list(linguistic_tags.MASKING_MODES),
      "LMLM (paper §5.3, Table 9): the 80% case of a masked token writes a "
      "mask token naming its tag instead of [MASK]: pos ([MASK-POS-n]), "
      "ner, dep, all (the three, their embeddings summed), or mix (one of "
      "the three drawn per token). A token whose tag is missing gets "
      "[MASK]. Train such records with --linguistic_tasks= (MLM only).")
  define.float("max_untagged_share", 0.01,
               "With --linguistic_masking, the largest share of "
               "documents that may lack a tag the mode writes (their "
               "masked tokens get [MASK] instead); more is refused, "
               "since the records would no longer be what the mode is "
               "named. A corpus with none of the tag is refused before "
               "any record is made.")
  define.bool("fast_tokenizer", True,
              "Tokenize with Hugging Face tokenizers (Rust) where it is "
              "installed; the output is the same as tokenization.py's "
              "(which does every text the two could differ on).")
  define.validator(
      "max_ngram", lambda value: 1 <= value <= len(NGRAM_PROBS),
      message="--max_ngram must be 1..%d." % len(NGRAM_PROBS))
  define.validator(
      "max_seq_length", lambda value: value >= 5,
      message="--max_seq_length must be at least 5 ([CLS] A [SEP] B [SEP]).")
  define.at_least_one("max_predictions_per_seq", "dupe_factor")
  # As run_pretraining.py checks it: records it would refuse are not written.
  define.multi_validator(
      ["max_predictions_per_seq", "max_seq_length"],
      lambda v: v["max_predictions_per_seq"] <= v["max_seq_length"],
      message="--max_predictions_per_seq exceeds --max_seq_length.")
  define.validator(
      "masked_lm_prob", lambda value: 0.0 < value < 1.0,
      message="--masked_lm_prob must be in (0, 1).")
  define.validator(
      "max_untagged_share", lambda value: 0.0 <= value <= 1.0,
      message="--max_untagged_share must be in [0, 1].")


def maker_kwargs_from_flags(flag_values=FLAGS):
  """InstanceMaker's settings from the masking flags."""
  return dict(
      vocab_file=flag_values.vocab_file,
      do_lower_case=flag_values.do_lower_case,
      max_seq_length=flag_values.max_seq_length,
      max_predictions_per_seq=flag_values.max_predictions_per_seq,
      masked_lm_prob=flag_values.masked_lm_prob,
      short_seq_prob=flag_values.short_seq_prob,
      max_ngram=flag_values.max_ngram, dupe_factor=flag_values.dupe_factor,
      random_seed=flag_values.random_seed,
      linguistic_masking=flag_values.linguistic_masking,
      fast_tokenizer=flag_values.fast_tokenizer)


def warn_if_predictions_cap_the_masked_share(flag_values=FLAGS):
  expected = flag_values.masked_lm_prob * flag_values.max_seq_length
  if flag_values.max_predictions_per_seq < int(round(expected)):
    print("Warning: --max_predictions_per_seq %d caps the masked share below "
          "--masked_lm_prob %g (about %d of %d tokens)." % (
              flag_values.max_predictions_per_seq, flag_values.masked_lm_prob,
              int(round(expected)), flag_values.max_seq_length))


NGRAM_PROBS = (0.4, 0.3, 0.2, 0.1)
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


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

# What InstanceMaker makes of one document: its serialized records, its
# Summary and its first instances (for --dump_examples).
DocumentRecords = collections.namedtuple(
    "DocumentRecords", ["records", "summary", "first_instances"])

# One training instance before conversion to features.
Instance = collections.namedtuple(
    "Instance", ["tokens", "segment_ids", "masked_positions", "masked_labels",
                 "tags", "ngram_lengths"])


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


def check_untagged_share(summary, mode, max_share, input_files):
  """After the records are made, before they are kept: raises InputError
  when more than `max_share` of the documents lack a tag the mode writes
  (their tokens got [MASK]: the records are partly of another mode)."""
  for task in masking_tasks(mode):
    share = summary.untagged[task] / float(max(summary.documents, 1))
    if share > max_share:
      raise script_errors.InputError(
          "%s: %d of %d documents (%.1f%%) carry no %s tag, more than "
          "--max_untagged_share=%g allows for --linguistic_masking=%s: "
          "their masked tokens would get [MASK]. Tag those documents, or "
          "raise --max_untagged_share." % (
              input_reading.describe_files(input_files), summary.untagged[task],
              summary.documents, 100.0 * share, task.upper(), max_share,
              mode))


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
            for piece in split_long_sentence(sentence, max_num_tokens)]
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
  return create_masked_lm_predictions(tokens, segment_ids, words, tags,
                                      masked_lm_prob, max_predictions_per_seq,
                                      max_ngram, vocab_words, rng, mask_token)


def _truncate_pair(a, b, max_num_tokens, rng):
  """Trims the longer segment from a random end until the pair fits."""
  while len(a[0]) + len(b[0]) > max_num_tokens:
    longer = a if len(a[0]) > len(b[0]) else b
    index = 0 if rng.random() < 0.5 else -1
    for part in longer:
      del part[index]


def create_masked_lm_predictions(tokens, segment_ids, words, tags,
                                 masked_lm_prob, max_predictions_per_seq,
                                 max_ngram, vocab_words, rng,
                                 mask_token=None):
  """Chooses whole words and word N-grams to mask (docs/spec.md §4).

  `words[i]` identifies the word of token i (None for [CLS]/[SEP]). An N-gram
  is n consecutive words of one segment. About
  `round(len(tokens) * masked_lm_prob)` tokens are chosen (the nearest whole
  N-gram boundary), never more than `max_predictions_per_seq`.
  `mask_token(tags)`, given a token's (POS, NER, DEP) ids, names the token of
  the 80% case (a TagMasker; None: `[MASK]`). It draws from its own
  generator, so every --linguistic_masking masks the same positions the same
  way.
  """
  num_to_predict = min(max_predictions_per_seq,
                       max(1, int(round(len(tokens) * masked_lm_prob))))
  probs = NGRAM_PROBS[:max_ngram]
  probs = [p / sum(probs) for p in probs]

  # Cut each segment's words into consecutive N-grams of random length and
  # shuffle them. The N-grams are disjoint by construction, so their lengths
  # keep the sampling distribution. Masking takes a prefix of the shuffled
  # list whose token count is closest to the budget: skipping N-grams that
  # do not fit and trying shorter ones would favour 1-grams heavily.
  # An N-gram is (first token, end token, number of words): its words are
  # consecutive, so its tokens are too.
  # An N-gram length: 1 + the first index whose cumulative probability
  # exceeds a uniform draw (drawn inline: this is the hottest loop).
  cumulative = list(itertools.accumulate(probs))[:-1]  # the last is ~1.0
  draw, find = rng.random, bisect.bisect_right
  ngrams = []
  target = find(cumulative, draw()) + 1
  segments = [starts for starts in _word_starts(words, segment_ids)
              if len(starts) > 1]
  for number, starts in enumerate(segments):
    # `starts`: the first token of each word of the segment, then the end.
    start, size = 0, len(starts) - 1
    more_segments = number < len(segments) - 1
    while start < size:
      end = start + target
      if end > size:
        end = size
      ngrams.append((starts[start], starts[end], end - start))
      start += target
      # A new length after each N-gram, unless a segment's last, cut-short
      # N-gram ends the instance.
      if start <= size or more_segments:
        target = find(cumulative, draw()) + 1

  covered = []
  ngram_lengths = []
  for first, end, num_words in _shuffled(ngrams, rng):
    total = len(covered) + end - first
    if total > max_predictions_per_seq:
      break
    if total > num_to_predict and (total - num_to_predict >
                                   num_to_predict - len(covered)):
      break  # stopping here is closer to the budget
    covered.extend(range(first, end))
    ngram_lengths.append(num_words)
    if total >= num_to_predict:
      break
  if not covered and ngrams:  # always predict something
    first, end, num_words = min(ngrams, key=lambda n: n[1] - n[0])
    if end - first <= max_predictions_per_seq:
      covered = list(range(first, end))
      ngram_lengths = [num_words]

  output_tokens = list(tokens)
  masked_positions = sorted(covered)
  for i in masked_positions:
    draw = rng.random()
    if draw < 0.8:
      output_tokens[i] = "[MASK]" if mask_token is None else mask_token(tags[i])
    elif draw < 0.9:
      pass  # keep the original token
    else:
      output_tokens[i] = vocab_words[rng.randint(0, len(vocab_words) - 1)]
  return Instance(
      tokens=output_tokens, segment_ids=segment_ids,
      masked_positions=masked_positions,
      masked_labels=[tokens[i] for i in masked_positions],
      tags=[tags[i] for i in masked_positions], ngram_lengths=ngram_lengths)


class TagMasker(object):
  """The mask token of the 80% case under --linguistic_masking (LMLM, paper
  §5.3; docs/spec.md §8): `[MASK-POS-n]`, `[MASK-NER-S-Ns]`, `[MASK-DEP-ATT]`
  for the token's tag, or for "all" the present tags joined by `+`
  (`[MASK-POS-ns+NER-S-Ns]`, whose embeddings the model sums); "mix" draws
  the task per token from `rng`. A missing tag gives `[MASK]`."""

  def __init__(self, mode, rng=None):
    if mode not in linguistic_tags.MASKING_MODES or mode == "none":
      raise ValueError("No tag masks for --linguistic_masking=%s." % mode)
    self.mode = mode
    self.rng = rng

  def __call__(self, tags):
    if self.mode == "all":
      names = [linguistic_tags.mask_tag_token(task, tag)
               for task, tag in zip(linguistic_tags.TASKS, tags)
               if tag is not None]
      return linguistic_tags.joined_mask_token(names) if names else "[MASK]"
    if self.mode == "mix":
      # Drawn whatever the tags, so the draws do not depend on them.
      column = int(self.rng.random() * len(linguistic_tags.TASKS))
    else:
      column = linguistic_tags.TASKS.index(self.mode)
    if tags[column] is None:
      return "[MASK]"
    return linguistic_tags.mask_tag_token(linguistic_tags.TASKS[column],
                                          tags[column])


# readable mask token -> its [unusedN] vocabulary entry (docs/spec.md §8)
_MASK_TAG_SLOTS = dict(linguistic_tags.mask_tag_tokens())


def mask_tag_slots(token):
  """The vocabulary entries of a TagMasker token: one, or for "all" one per
  tag (`[MASK-POS-ns+NER-S-Ns]` -> `[unused10]`, `[unused30]`)."""
  return [_MASK_TAG_SLOTS[name]
          for name in linguistic_tags.split_mask_token(token)]


def _word_starts(words, segment_ids):
  """Per segment, the first token of each of its words, then the token
  after its last word ([CLS] and [SEP], word None, belong to none)."""
  segments = []
  for segment in (0, 1):
    if segment not in segment_ids:
      break
    first = segment_ids.index(segment)
    while first < len(words) and words[first] is None:
      first += 1
    # A segment's words end at its [SEP].
    end = words.index(None, first) if None in words[first:] else len(words)
    segments.append([first] + [
        i for i, word, before in zip(range(first + 1, end),
                                     words[first + 1:end], words[first:end])
        if word != before] + [end] if first < end else [end])
  return segments


def _shuffled(items, rng):
  """Yields `items` (a list, reordered in place) in a uniformly random order,
  drawn only as far as it is read: a Fisher-Yates shuffle that stops with
  the reader (masking reads ~15% of an instance's N-grams)."""
  for i in range(len(items)):
    j = i + int(rng.random() * (len(items) - i))
    items[i], items[j] = items[j], items[i]
    yield items[i]


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
      slots = mask_tag_slots(tokens[i])
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


class Summary(object):
  """Counts for the closing report."""

  def __init__(self):
    self.documents = 0
    self.instances = 0
    self.tokens = 0
    self.corpus_tokens = 0  # of the input, once per dupe
    self.content_tokens = 0  # of the instances, [CLS] and [SEP] left out
    self.masked = 0
    self.ngrams = collections.Counter()
    self.labels = {task: collections.Counter()
                   for task in linguistic_tags.TASKS}
    self.missing = collections.Counter()
    # Documents that carry no tag of a task (every one null).
    self.untagged = collections.Counter()
    # The 80% case's tokens: "plain" [MASK], or per task its tag masks
    # (--linguistic_masking; an "all" token counts once per tag).
    self.mask_tokens = collections.Counter()

  def add(self, instance):
    self.instances += 1
    self.tokens += len(instance.tokens)
    self.content_tokens += (len(instance.tokens) -
                            instance.tokens.count("[CLS]") -
                            instance.tokens.count("[SEP]"))
    self.masked += len(instance.masked_positions)
    self.ngrams.update(instance.ngram_lengths)
    for i in instance.masked_positions:
      token = instance.tokens[i]
      if token == "[MASK]":
        self.mask_tokens["plain"] += 1
      elif token.startswith("[MASK-"):
        # [MASK-POS-n] counts for "pos"
        self.mask_tokens.update(
            name[len("[MASK-"):].split("-", 1)[0].lower()
            for name in linguistic_tags.split_mask_token(token))
    for column, task in enumerate(linguistic_tags.TASKS):
      tags = [tags[column] for tags in instance.tags]
      self.missing[task] += tags.count(None)
      self.labels[task].update(tag for tag in tags if tag is not None)

  def merge(self, other):
    self.documents += other.documents
    self.instances += other.instances
    self.tokens += other.tokens
    self.corpus_tokens += other.corpus_tokens
    self.content_tokens += other.content_tokens
    self.masked += other.masked
    self.ngrams.update(other.ngrams)
    self.mask_tokens.update(other.mask_tokens)
    for task in linguistic_tags.TASKS:
      self.labels[task].update(other.labels[task])
    self.missing.update(other.missing)
    self.untagged.update(other.untagged)

  def counters(self):
    """The counts as one flat dict name -> int (Beam metrics, JSON)."""
    counts = {"documents": self.documents, "instances": self.instances,
              "tokens": self.tokens, "corpus_tokens": self.corpus_tokens,
              "content_tokens": self.content_tokens, "masked": self.masked}
    counts.update(("ngram_%d" % n, c) for n, c in self.ngrams.items())
    counts.update(("mask_tokens_%s" % kind, c)
                  for kind, c in self.mask_tokens.items())
    for task in linguistic_tags.TASKS:
      counts.update(("%s_label_%s" % (task, linguistic_tags.id_to_tag(task, i)),
                     c) for i, c in self.labels[task].items())
      counts["%s_missing" % task] = self.missing[task]
      counts["%s_untagged_documents" % task] = self.untagged[task]
    return counts

  @classmethod
  def from_counters(cls, counts):
    """The inverse of counters()."""
    summary = cls()
    for name in ("documents", "instances", "tokens", "corpus_tokens",
                 "content_tokens", "masked"):
      setattr(summary, name, counts.get(name, 0))
    for name, count in counts.items():
      if name.startswith("ngram_"):
        summary.ngrams[int(name[len("ngram_"):])] = count
      if name.startswith("mask_tokens_"):
        summary.mask_tokens[name[len("mask_tokens_"):]] = count
      for task in linguistic_tags.TASKS:
        if name == "%s_missing" % task:
          summary.missing[task] = count
        elif name == "%s_untagged_documents" % task:
          summary.untagged[task] = count
        elif name.startswith("%s_label_" % task):
          tag = name[len("%s_label_" % task):]
          summary.labels[task][linguistic_tags.tag_to_id(task, tag)] = count
    return summary

  def report(self):
    lines = ["Documents: %d" % self.documents,
             "Instances: %d" % self.instances,
             "Tokens: %d" % self.tokens,
             "Masked tokens: %d (%.2f%%)" % (
                 self.masked, 100.0 * self.masked / max(self.tokens, 1)),
             "Corpus tokens in the records: %d of %d (%.2f%%; every "
             "dupe counted)" % (
                 self.content_tokens, self.corpus_tokens,
                 100.0 * self.content_tokens / max(self.corpus_tokens, 1))]
    total = sum(self.ngrams.values())
    lines.append("N-gram lengths: " + ", ".join(
        "%d: %d (%.1f%%)" % (n, self.ngrams[n], 100.0 * self.ngrams[n] /
                             max(total, 1)) for n in sorted(self.ngrams)))
    tagged = [task for task in linguistic_tags.TASKS
              if self.mask_tokens[task]]
    if tagged:
      lines.append("Mask tokens: [MASK] %d; tag masks %s" % (
          self.mask_tokens["plain"], ", ".join(
              "%s %d" % (task.upper(), self.mask_tokens[task])
              for task in linguistic_tags.TASKS)))
    if any(self.untagged.values()):
      lines.append("Documents without tags: " + ", ".join(
          "%s %d (%.2f%%)" % (task.upper(), self.untagged[task],
                              100.0 * self.untagged[task] /
                              max(self.documents, 1))
          for task in linguistic_tags.TASKS))
    for task in linguistic_tags.TASKS:
      counts = self.labels[task]
      top = ", ".join("%s %d" % (linguistic_tags.id_to_tag(task, i), c)
                      for i, c in counts.most_common(8))
      lines.append("%s labels: %s; missing %d (%.2f%% of masked)" % (
          task.upper(), top, self.missing[task],
          100.0 * self.missing[task] / max(self.masked, 1)))
    return "\n".join(lines)


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


def check_mask_tag_slots(vocab, vocab_file):
  """--linguistic_masking needs the 55 `[unusedN]` slots of the Chinese BERT
  vocabulary (docs/spec.md §8)."""
  for _, slot in linguistic_tags.mask_tag_tokens():
    if slot not in vocab:
      raise script_errors.InputError(
          "%s has no %s: --linguistic_masking puts its %d tag mask tokens in "
          "the vocabulary's [unused1]..[unused%d] (the Chinese BERT "
          "vocabulary has 99)." % (vocab_file, slot,
                                   linguistic_tags.NUM_MASK_TAG_TOKENS,
                                   linguistic_tags.NUM_MASK_TAG_TOKENS))


class InstanceMaker(object):
  """Turns documents into instances; one per worker process."""

  def __init__(self, vocab_file, do_lower_case, max_seq_length,
               max_predictions_per_seq, masked_lm_prob, short_seq_prob,
               max_ngram, dupe_factor, random_seed, keep_instances=0,
               fast_tokenizer=True, linguistic_masking="none"):
    self.tokenizer = tokenization.full_tokenizer(vocab_file, do_lower_case,
                                                 fast_tokenizer)
    self.linguistic_masking = linguistic_masking
    if linguistic_masking != "none":
      check_mask_tag_slots(self.tokenizer.vocab, vocab_file)
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
    parsed = parse_document(line, where)
    pieces = self.tokenizer.tokenize_batch_with_offsets(
        [text for text, _, _ in parsed.sentences])
    sentences = []
    for number, ((text, words, ids), tokens) in enumerate(
        zip(parsed.sentences, pieces), 1):
      here = "%s: sentence %d" % (where, number)
      sentence = tokenize_sentence(text, words, ids, self.tokenizer, here,
                                   tokens)
      check_word_lengths(sentence, words, self.max_seq_length - 3, here)
      sentences.append(sentence)
    return TokenizedDocument(document_key(parsed.source, where), sentences)

  def instances(self, document):
    """A TokenizedDocument -> its instances, `dupe_factor` times over, with
    masks drawn from --random_seed and the document's key."""
    result = []
    for dupe in range(self.dupe_factor):
      seed = "%d-%s-%d" % (self.random_seed, document.key, dupe)
      mask_token = None
      if self.linguistic_masking != "none":
        mask_token = TagMasker(self.linguistic_masking,
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
    serialized, summary = [], Summary()
    summary.documents = 1
    document = self.document(where, line)
    summary.corpus_tokens = self.dupe_factor * sum(
        len(s.tokens) for s in document.sentences)
    tagged = tagged_tasks(tags for s in document.sentences
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


# ----------------------------------------------------------------------------
# The single-machine writer of create_pretraining_data.py (with a worker
# pool). The Beam pipeline does not use it.

_WORKER_MAKER = None


def _init_worker(kwargs):
  global _WORKER_MAKER
  script_errors.init_worker_signals()
  _WORKER_MAKER = InstanceMaker(**kwargs)


def _run_worker(item):
  return _WORKER_MAKER(item)


def _batches(iterable, size):
  batch = []
  for item in iterable:
    batch.append(item)
    if len(batch) == size:
      yield batch
      batch = []
  if batch:
    yield batch


def write_pretraining_data(input_files, output_files, maker_kwargs,
                           num_workers=1, docs_per_batch=256,
                           dump_examples=0, log=print,
                           record_writer="auto", max_untagged_share=1.0):
  """Streams documents through InstanceMaker(s) into the output files.

  Returns the Summary. Outputs are written through outputs.atomic_path
  (temporary names, renamed at the end), so a failed or killed run leaves no
  partial file behind, and a second run writing the same files at once
  stops. `record_writer`: records.TFRecordWriter's backend. More
  documents lacking a tag of --linguistic_masking than
  `max_untagged_share` raise InputError before the files are kept.
  """
  summary = Summary()
  maker_kwargs = dict(maker_kwargs, keep_instances=dump_examples)
  maker = InstanceMaker(**maker_kwargs)
  with contextlib.ExitStack() as stack:
    temp_files = [stack.enter_context(outputs.atomic_path(path))
                  for path in output_files]
    writers = [stack.enter_context(records.TFRecordWriter(path,
                                                          record_writer))
               for path in temp_files]
    dump = None
    if dump_examples:
      dump = stack.enter_context(outputs.atomic_open(
          output_files[0] + ".examples.txt"))
    _write_documents(input_files, maker, maker_kwargs, writers, dump,
                     summary, num_workers, docs_per_batch, dump_examples, log,
                     max_untagged_share)
  return summary


def _write_documents(input_files, maker, maker_kwargs, writers, dump, summary,
                     num_workers, docs_per_batch, dump_examples, log,
                     max_untagged_share):
  """The loop of write_pretraining_data."""
  pool = None
  if num_workers > 1:
    # "spawn": forking a process that has loaded TensorFlow is unsafe.
    pool = multiprocessing.get_context("spawn").Pool(
        num_workers, _init_worker, (maker_kwargs,))
  start = time.time()
  documents = read_documents(input_files)
  try:
    for batch in _batches(documents, docs_per_batch):
      if pool is not None:
        results = pool.map(_run_worker, batch, chunksize=8)
      else:
        results = [maker(item) for item in batch]
      for result in results:
        for offset, record in enumerate(result.records):
          number = summary.instances + offset
          writers[number % len(writers)].write(record)
          if dump is not None and number < dump_examples:
            dump.write(u"instance %d\n%s\n" % (
                number, describe_instance(result.first_instances[offset])))
        summary.merge(result.summary)
      log("\r%d documents, %d instances, %.0f s" % (
          summary.documents, summary.instances, time.time() - start))
    if not summary.instances:
      raise script_errors.InputError(
          "%s: no instance: the input has no document with a "
          "sentence to use." % ", ".join(input_files))
    check_untagged_share(summary,
                         maker_kwargs.get("linguistic_masking", "none"),
                         max_untagged_share, input_files)
  finally:
    if pool is not None:
      pool.terminate()
