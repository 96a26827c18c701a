# coding=utf-8
"""BERT's tokenizer (basic + WordPiece), with character offsets.

Behaviour matches Google BERT's `FullTokenizer`: text is cleaned (NUL, U+FFFD
and control characters dropped, whitespace normalised), every CJK character
becomes its own token, optional lower-casing strips accents (NFD, then drop
combining marks), punctuation is split off, and each resulting word is split
into WordPieces greedily, longest match first.

Unlike Google's version every token can also carry its (start, end) character
span in the original text, which the data pipeline uses to align LTP words
with WordPiece tokens.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import io
import unicodedata

import six


class VocabularyError(ValueError):
  """A vocabulary file that cannot be used. (This module imports nothing of
  the project, so that it drops into any BERT codebase; the project's
  scripts report this error as bad input, in one line.)"""


def convert_to_unicode(text):
  """Returns `text` as a unicode string, decoding UTF-8 bytes."""
  if isinstance(text, six.text_type):
    return text
  if isinstance(text, bytes):
    return text.decode("utf-8", "ignore")
  raise ValueError("Unsupported string type: %s" % type(text))


def load_vocab(vocab_file):
  """Reads a vocabulary file (one token per line) into an ordered dict."""
  vocab = collections.OrderedDict()
  try:
    with io.open(vocab_file, "r", encoding="utf-8") as reader:
      # Every line is an entry, as in Google BERT: the ids must match the
      # embedding rows of the released checkpoints.
      for index, line in enumerate(reader):
        vocab[line.strip()] = index
  except UnicodeDecodeError:
    with io.open(vocab_file, "rb") as f:
      for number, raw in enumerate(f, 1):
        try:
          raw.decode("utf-8")
        except UnicodeDecodeError as e:
          raise VocabularyError(
              "%s:%d: the vocabulary is not UTF-8 text (%s): give a "
              "vocab.txt, one token per line." % (vocab_file, number,
                                                  e.reason))
    raise VocabularyError("%s is not UTF-8 text: give a vocab.txt, one "
                          "token per line." % vocab_file)
  if not vocab:
    raise VocabularyError("Vocabulary file %s is empty." % vocab_file)
  return vocab


def convert_by_vocab(vocab, items):
  return list(map(vocab.__getitem__, items))


def is_whitespace(char):
  if char in (" ", "\t", "\n", "\r"):
    return True
  return unicodedata.category(char) == "Zs"


def is_control(char):
  # \t, \n and \r are whitespace for our purposes, not control characters.
  if char in ("\t", "\n", "\r"):
    return False
  return unicodedata.category(char) in ("Cc", "Cf")


def is_punctuation(char):
  cp = ord(char)
  # Every non-alphanumeric ASCII character counts as punctuation (e.g. "$",
  # "^", "`"), although Unicode does not class them all as such.
  if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
    return True
  return unicodedata.category(char).startswith("P")


def is_chinese_char(cp):
  """True for code points of the CJK Unified Ideographs blocks.

  Like BERT, this excludes Hangul, Hiragana and Katakana, which are written
  with spaces or split by WordPiece like any other script.
  """
  return ((0x4E00 <= cp <= 0x9FFF) or (0x3400 <= cp <= 0x4DBF) or
          (0x20000 <= cp <= 0x2A6DF) or (0x2A700 <= cp <= 0x2B73F) or
          (0x2B740 <= cp <= 0x2B81F) or (0x2B820 <= cp <= 0x2CEAF) or
          (0xF900 <= cp <= 0xFAFF) or (0x2F800 <= cp <= 0x2FA1F))


class BasicTokenizer(object):
  """Cleaning, CJK and punctuation splitting, optional lower-casing."""

  def __init__(self, do_lower_case=True):
    self.do_lower_case = do_lower_case

  def tokenize(self, text):
    return [token for token, _ in self.tokenize_with_offsets(text)]

  def tokenize_with_offsets(self, text):
    """Returns a list of (token, spans).

    `spans[i]` is the [start, end) range of `text` that the token's i-th
    character came from. Lower-casing and accent stripping can change the
    number of characters, so this is kept per character; a stripped accent
    widens the span of the character it was attached to.
    """
    text = convert_to_unicode(text)
    tokens = []
    for word, spans in self._split_on_whitespace_and_cjk(text):
      if self.do_lower_case:
        word, spans = self._lower_and_strip_accents(word, spans)
      tokens.extend(self._split_on_punctuation(word, spans))
    return tokens

  def _split_on_whitespace_and_cjk(self, text):
    words = []
    chars, spans = [], []

    def flush():
      if chars:
        words.append(("".join(chars), list(spans)))
        del chars[:]
        del spans[:]

    for i, char in enumerate(text):
      cp = ord(char)
      if cp == 0 or cp == 0xFFFD or is_control(char):
        continue
      if is_whitespace(char):
        flush()
      elif is_chinese_char(cp):
        flush()
        words.append((char, [(i, i + 1)]))
      else:
        chars.append(char)
        spans.append((i, i + 1))
    flush()
    return words

  def _lower_and_strip_accents(self, word, spans):
    lowered = word.lower()
    if len(lowered) == len(word):
      # Lower-case the whole word at once, as BERT does: Python's lower()
      # is context-sensitive (Greek final sigma).
      pairs = list(zip(lowered, spans))
    else:
      pairs = [(c, span) for ch, span in zip(word, spans) for c in ch.lower()]
    out_chars, out_spans = [], []
    pending_start = None  # a leading accent joins the next character
    for char, (start, end) in pairs:
      for piece in unicodedata.normalize("NFD", char):
        if unicodedata.category(piece) == "Mn":
          if out_spans:
            out_spans[-1] = (out_spans[-1][0], max(out_spans[-1][1], end))
          elif pending_start is None:
            pending_start = start
          continue
        if pending_start is not None:
          start, pending_start = min(start, pending_start), None
        out_chars.append(piece)
        out_spans.append((start, end))
    return "".join(out_chars), out_spans

  def _split_on_punctuation(self, word, spans):
    pieces = []
    start = 0
    for i, char in enumerate(word):
      if is_punctuation(char):
        if start < i:
          pieces.append((word[start:i], spans[start:i]))
        pieces.append((char, spans[i:i + 1]))
        start = i + 1
    if start < len(word):
      pieces.append((word[start:], spans[start:]))
    return pieces


class WordpieceTokenizer(object):
  """Greedy longest-match-first WordPiece splitting of one word."""

  def __init__(self, vocab, unk_token="[UNK]", max_input_chars_per_word=200):
    self.vocab = vocab
    self.unk_token = unk_token
    self.max_input_chars_per_word = max_input_chars_per_word

  def tokenize(self, word):
    return [piece for piece, _, _ in self.tokenize_with_spans(word)]

  def tokenize_with_spans(self, word):
    """Returns (piece, start, end) for each piece of `word`.

    A word that cannot be split, or is too long, is one unknown token that
    spans the whole word.
    """
    if len(word) > self.max_input_chars_per_word:
      return [(self.unk_token, 0, len(word))]
    pieces = []
    start = 0
    while start < len(word):
      end = len(word)
      while end > start:
        piece = word[start:end]
        if start > 0:
          piece = "##" + piece
        if piece in self.vocab:
          break
        end -= 1
      if end == start:
        return [(self.unk_token, 0, len(word))]
      pieces.append((piece, start, end))
      start = end
    return pieces


class FullTokenizer(object):
  """Basic tokenization followed by WordPiece, as in Google BERT."""

  def __init__(self, vocab_file, do_lower_case=True):
    self.vocab = load_vocab(vocab_file)
    self.inv_vocab = {v: k for k, v in self.vocab.items()}
    self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
    self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab)

  def tokenize(self, text):
    return [token for token, _, _ in self.tokenize_with_offsets(text)]

  def tokenize_batch_with_offsets(self, texts):
    return [self.tokenize_with_offsets(text) for text in texts]

  def tokenize_with_offsets(self, text):
    """Returns a list of (token, start, end) with character offsets.

    `text[start:end]` is the span of the original text that the token came
    from (for an accent-stripped or lower-cased token the span holds the
    original characters). Characters dropped by cleaning belong to no token.
    """
    result = []
    for word, spans in self.basic_tokenizer.tokenize_with_offsets(text):
      for piece, start, end in self.wordpiece_tokenizer.tokenize_with_spans(
          word):
        result.append((piece, spans[start][0], spans[end - 1][1]))
    return result

  def convert_tokens_to_ids(self, tokens):
    return convert_by_vocab(self.vocab, tokens)

  def convert_ids_to_tokens(self, ids):
    return convert_by_vocab(self.inv_vocab, ids)


# Characters on which Hugging Face's Rust BERT tokenizer and this one are
# known to differ: combining marks (a stripped accent's span; Google widens
# the span of the character before it), line/paragraph separators (Rust
# whitespace, not here), private-use, surrogate and unassigned code points
# (dropped by Rust, [UNK] here). Capital sigma: Python lower-cases a final
# Σ to ς, Rust to σ. Every other character is checked on first sight.
_FAST_UNSAFE_CATEGORIES = ("Mn", "Me", "Zl", "Zp", "Co", "Cs", "Cn")
_FAST_UNSAFE_CHARS = u"\u03a3"


def _context(char):
  """The text a character is compared in: alone, between letters, after a
  CJK character, before a digit, doubled."""
  return u"{0} a{0}b \u4e2d{0}1 {0}{0}A".format(char)


class FastFullTokenizer(FullTokenizer):
  """FullTokenizer through Hugging Face `tokenizers` (Rust WordPiece).

  Gives the same tokens and the same character offsets as FullTokenizer,
  which stays the reference: a text holding a character on which the two
  could differ (see _FAST_UNSAFE_CATEGORIES; any other character is compared
  on its first appearance, in a few contexts) is tokenized by the reference.
  A text of CJK characters and punctuation only, where the reference makes
  every character a token, is split here directly (_stands_alone).
  """

  def __init__(self, vocab_file, do_lower_case=True):
    super(FastFullTokenizer, self).__init__(vocab_file, do_lower_case)
    from tokenizers import Tokenizer
    from tokenizers import models
    from tokenizers import normalizers
    from tokenizers import pre_tokenizers
    self._fast = Tokenizer(models.WordPiece(
        dict(self.vocab), unk_token="[UNK]",
        max_input_chars_per_word=self.wordpiece_tokenizer
        .max_input_chars_per_word))
    self._fast.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True,
        strip_accents=do_lower_case, lowercase=do_lower_case)
    self._fast.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    self._id_to_token = [None] * (max(self.vocab.values()) + 1)
    for token, index in self.vocab.items():
      self._id_to_token[index] = token
    self._safe = set()
    self._unsafe = set()
    self._alone = set()
    # Texts done here without the reference (the Rust tokenizer, or one
    # token per character: alone_texts of them), and by the reference.
    self.fast_texts = 0
    self.alone_texts = 0
    self.reference_texts = 0

  def _fast_batch(self, texts):
    tokens = self._id_to_token
    return [[(tokens[i], start, end) for i, (start, end) in
             zip(encoding.ids, encoding.offsets)]
            for encoding in self._fast.encode_batch(
                texts, add_special_tokens=False)]

  def tokenize_batch_with_offsets(self, texts):
    """tokenize_with_offsets of each text, in one call of the Rust tokenizer
    (which also checks the characters not seen before)."""
    texts = [convert_to_unicode(text) for text in texts]
    chars = [set(text) for text in texts]
    new = sorted(set().union(*chars) - self._safe - self._unsafe)
    to_compare = []
    for char in new:
      if (unicodedata.category(char) in _FAST_UNSAFE_CATEGORIES or
          char in _FAST_UNSAFE_CHARS):
        self._unsafe.add(char)
      else:
        to_compare.append(char)
        if self._stands_alone(char):
          self._alone.add(char)
    # CJK characters (most of a Chinese corpus) are compared all at once: in
    # both tokenizers each is a word of its own, so one text checks them all.
    # Any other character is compared in one context (_context).
    cjk = [char for char in to_compare if is_chinese_char(ord(char))]
    others = [char for char in to_compare if not is_chinese_char(ord(char))]
    checks = [u"a%s1" % u"".join(cjk)] if cjk else []
    checks += [_context(char) for char in others]
    # A text of CJK characters and punctuation only is one token per
    # character (see _stands_alone): it needs no tokenizer at all.
    alone = [text_chars <= self._alone for text_chars in chars]
    rest = [text for text, simple in zip(texts, alone) if not simple]
    results = self._fast_batch(rest + checks)
    rest_tokens, checked = iter(results[:len(rest)]), results[len(rest):]
    self.alone_texts += sum(alone)
    vocab = self.vocab
    fast = [[(c if c in vocab else "[UNK]", i, i + 1)
             for i, c in enumerate(text)] if simple else next(rest_tokens)
            for text, simple in zip(texts, alone)]
    if cjk:
      if checked.pop(0) == FullTokenizer.tokenize_with_offsets(self, checks[0]):
        self._safe.update(cjk)
      else:  # the unusual case: compare them one by one
        contexts = [_context(char) for char in cjk]
        self._sort_by_comparison(cjk, contexts, self._fast_batch(contexts))
      checks.pop(0)
    self._sort_by_comparison(others, checks, checked)

    results = []
    for text, text_chars, tokens in zip(texts, chars, fast):
      if text_chars & self._unsafe:
        tokens = FullTokenizer.tokenize_with_offsets(self, text)
        self.reference_texts += 1
      else:
        self.fast_texts += 1
      results.append(tokens)
    return results

  def _stands_alone(self, char):
    """Whether tokenization.py makes `char` a token of its own wherever it
    stands: a CJK character or punctuation that lower-casing and accent
    stripping leave as it is (the token: the character, or [UNK])."""
    if not (is_chinese_char(ord(char)) or is_punctuation(char)):
      return False
    if is_control(char) or is_whitespace(char):
      return False
    if self.basic_tokenizer.do_lower_case:
      return unicodedata.normalize("NFD", char.lower()) == char
    return True

  def _sort_by_comparison(self, chars, contexts, fast_tokens):
    """Each char is safe if the Rust tokenizer's tokens of its context (given)
    are the reference's, else unsafe."""
    for char, context, tokens in zip(chars, contexts, fast_tokens):
      same = tokens == FullTokenizer.tokenize_with_offsets(self, context)
      (self._safe if same else self._unsafe).add(char)

  def tokenize_with_offsets(self, text):
    return self.tokenize_batch_with_offsets([text])[0]


def full_tokenizer(vocab_file, do_lower_case=True, fast=True):
  """FastFullTokenizer where Hugging Face `tokenizers` is installed and
  `fast`, else the reference FullTokenizer (same output)."""
  if fast:
    try:
      import tokenizers  # noqa: F401  (only whether it imports)
    except ImportError:
      fast = False
  return (FastFullTokenizer if fast else FullTokenizer)(vocab_file,
                                                         do_lower_case)
