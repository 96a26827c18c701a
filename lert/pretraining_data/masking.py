# coding=utf-8
"""Masking: 15% of an instance's tokens by whole words and N-grams, and the
linguistic labels of the masked positions; with --linguistic_masking the
tag mask tokens that stand in for a masked word (LMLM, Table 9).
docs/data.md#masking describes it once; docs/spec.md §4 holds the
numbers.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import bisect
import collections
import itertools

from lert.contract import script_errors
from lert.tagging import linguistic_tags


NGRAM_PROBS = (0.4, 0.3, 0.2, 0.1)


# One training instance before conversion to features.
Instance = collections.namedtuple(
    "Instance", ["tokens", "segment_ids", "masked_positions", "masked_labels",
                 "tags", "ngram_lengths"])


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
  ngrams = _ngrams(words, segment_ids, max_ngram, rng)
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


def _ngrams(words, segment_ids, max_ngram, rng):
  """Each segment's words cut into consecutive N-grams of random length
  (NGRAM_PROBS up to `max_ngram` words), shuffled later."""
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
  return ngrams


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
