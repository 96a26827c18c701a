# coding=utf-8
"""Extractive reading comprehension data (SQuAD v1 JSON: CMRC 2018, DRCD).

Questions are read with their context; the context is tokenized with
character offsets (`tokenization.FullTokenizer.tokenize_with_offsets`), cut
into windows of `--max_seq_length` with `--doc_stride`, and an answer span
is decoded back to the exact characters of the original context (spaces,
Latin words, digits and full-width punctuation come back as they were).

An answer whose `answer_start` is a few characters off its text (files
that counted UTF-16 units after a character outside the BMP) is moved to the
nearest place its text is, and counted, as Google's run_squad.py and the
CMRC 2018 baseline keep such answers. One whose text is not near
`answer_start` is counted and reported: its question is kept for evaluation
(scored against all its answers) but not used for training. Two questions
with one id are an error.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import io
import json

import numpy as np

from lert.contract import script_errors
from lert.finetuning import packing

# A question: its id and text, the context, its answers' texts, and the
# (start, end) character span of its first usable answer, or None.
Question = collections.namedtuple(
    "Question", ["qid", "question", "context", "answers", "span", "source"])

# A window of a question's context: the question's index, the model's
# tokens, and per token the (start, end) characters of the context (None for
# [CLS], the question and [SEP]); whether each token has its maximum context
# in this window; the answer's token positions (0, 0 when it is not inside).
Window = collections.namedtuple(
    "Window", ["question", "tokens", "char_spans", "max_context",
               "start_position", "end_position"])

ReadResult = collections.namedtuple("ReadResult", ["questions", "counts"])

# The counted skips of read_questions (docs/finetuning.md): an answer whose
# text is not at (or near) its answer_start is not used; a question left
# with no usable answer (it has none, or none is found in its context) is
# not trained on, and is scored in evaluation against its answer texts, as
# the official CMRC evaluator scores it.
ANSWER_NOT_FOUND = "answers whose answer_start does not match"
NO_USABLE_ANSWER = "questions with no usable answer (eval only)"


def read_questions(path):
  """The questions of a SQuAD v1 JSON file, with counts of what was read."""
  try:
    with io.open(path, encoding="utf-8-sig") as f:
      data = json.load(f)
  except (IOError, OSError) as e:
    raise script_errors.InputError("%s: %s" % (path, e))
  except ValueError as e:
    raise script_errors.InputError("%s is not valid JSON: %s" % (path, e))
  counts = collections.Counter()
  questions = []
  seen = {}  # question id -> where
  try:
    for a, article in enumerate(data["data"]):
      for p, paragraph in enumerate(article["paragraphs"]):
        context = paragraph["context"]
        counts["paragraphs"] += 1
        for qa in paragraph["qas"]:
          where = "%s: data[%d].paragraphs[%d] question %s" % (path, a, p,
                                                               qa["id"])
          answers = [(x["text"], x.get("answer_start"))
                     for x in qa.get("answers", [])]
          counts["questions"] += 1
          counts["answers"] += len(answers)
          if qa["id"] in seen:
            raise script_errors.InputError("%s: the id is also the id of %s." %
                                       (where, seen[qa["id"]]))
          seen[qa["id"]] = where
          span = None
          for text, start in answers:
            found = answer_start(context, text, start)
            if found is None:
              counts[ANSWER_NOT_FOUND] += 1
              continue
            if found != start:
              counts["answers moved to their text near answer_start"] += 1
            span = span or (found, found + len(text))
          if span is None:
            counts[NO_USABLE_ANSWER] += 1
          questions.append(Question(qa["id"], qa["question"], context,
                                    [text for text, _ in answers], span,
                                    where))
  except (KeyError, TypeError) as e:
    raise script_errors.InputError("%s is not SQuAD v1-style JSON (%s %s)." %
                               (path, type(e).__name__, e))
  if not questions:
    raise script_errors.InputError("%s holds no question." % path)
  return ReadResult(questions, counts)


# How far from answer_start an answer's text is looked for.
ANSWER_SEARCH_DISTANCE = 16


def answer_start(context, text, start):
  """The character where an answer's text starts: `start` when the text is
  there, else the nearest place within ANSWER_SEARCH_DISTANCE characters
  where it is (files that counted UTF-16 units after a character outside
  the BMP are off by one per such character), else None."""
  if not text or not isinstance(start, int) or start < 0:
    return None
  if context[start:start + len(text)] == text:
    return start
  for distance in range(1, ANSWER_SEARCH_DISTANCE + 1):
    for candidate in (start - distance, start + distance):
      if (candidate >= 0 and
          context[candidate:candidate + len(text)] == text):
        return candidate
  return None


def question_windows(question, index, tokenizer, max_seq_length,
                     max_query_length, doc_stride):
  """The windows of one question (Google BERT's sliding window)."""
  query = tokenizer.tokenize(question.question)[:max_query_length]
  doc = tokenizer.tokenize_with_offsets(question.context)
  room = max_seq_length - len(query) - 3
  spans = []  # (start token, length) of each window
  start = 0
  while start < len(doc) or not spans:
    length = min(len(doc) - start, room)
    spans.append((start, length))
    if start + length >= len(doc):
      break
    start += min(length, doc_stride)
  answer = None
  if question.span:
    covering = [i for i, (_, s, e) in enumerate(doc)
                if s < question.span[1] and question.span[0] < e]
    if covering:
      answer = (covering[0], covering[-1])
  windows = []
  for number, (start, length) in enumerate(spans):
    tokens = ["[CLS]"] + query + ["[SEP]"]
    char_spans = [None] * len(tokens)
    max_context = [False] * len(tokens)
    for i in range(start, start + length):
      tokens.append(doc[i][0])
      char_spans.append((doc[i][1], doc[i][2]))
      max_context.append(_has_max_context(spans, number, i))
    tokens.append("[SEP]")
    char_spans.append(None)
    max_context.append(False)
    start_position = end_position = 0
    if answer and start <= answer[0] and answer[1] < start + length:
      offset = len(query) + 2 - start
      start_position, end_position = answer[0] + offset, answer[1] + offset
    windows.append(Window(index, tokens, char_spans, max_context,
                          start_position, end_position))
  return windows


def _has_max_context(spans, number, position):
  """Whether window `number` gives token `position` its most context (the
  smaller of its left and right context, as Google BERT scores it)."""
  best, best_score = None, None
  for i, (start, length) in enumerate(spans):
    end = start + length - 1
    if position < start or position > end:
      continue
    score = min(position - start, end - position) + 0.01 * length
    if best_score is None or score > best_score:
      best, best_score = i, score
  return best == number


def window_features(window, index, tokenizer, max_seq_length,
                    num_query_tokens):
  """The feature row of a window."""
  query = window.tokens[1:1 + num_query_tokens]
  doc = window.tokens[2 + num_query_tokens:-1]
  row = packing.pack_tokens(tokenizer, query, doc, max_seq_length)
  row["start_positions"] = [window.start_position]
  row["end_positions"] = [window.end_position]
  row["example_index"] = [index]
  return row


def decode(window):
  """The (start, end) characters of the window's labelled answer."""
  return (window.char_spans[window.start_position][0],
          window.char_spans[window.end_position][1])


EXACT = "exact"
OUTSIDE = "outside every window"
OFF_BOUNDARY = "not on token boundaries"


def label_round_trip(question, windows):
  """How a question's training labels decode: EXACT when the labelled span
  of a window is exactly the gold answer's characters; OUTSIDE when no
  window holds the whole answer; OFF_BOUNDARY when the answer starts or ends
  inside a token or at whitespace (e.g. "8" in "80", or a gold answer with a
  leading space)."""
  labelled = [w for w in windows if w.start_position]
  if not labelled:
    return OUTSIDE
  if decode(labelled[0]) == tuple(question.span):
    return EXACT
  return OFF_BOUNDARY


# One n-best entry of a question.
Candidate = collections.namedtuple(
    "Candidate", ["text", "start_logit", "end_logit", "score"])


def best_answers(questions, windows, start_logits, end_logits, n_best_size,
                 max_answer_length):
  """Per question id: its n-best candidates, best first, over its windows;
  the text is the original context's characters."""
  by_question = collections.defaultdict(list)
  for window, starts, ends in zip(windows, start_logits, end_logits):
    question = questions[window.question]
    length = len(window.tokens)
    starts, ends = np.asarray(starts)[:length], np.asarray(ends)[:length]
    top_starts = np.argsort(-starts, kind="stable")[:n_best_size]
    top_ends = np.argsort(-ends, kind="stable")[:n_best_size]
    for s in top_starts:
      if window.char_spans[s] is None or not window.max_context[s]:
        continue
      for e in top_ends:
        if (window.char_spans[e] is None or e < s or
            e - s + 1 > max_answer_length):
          continue
        text = question.context[window.char_spans[s][0]:
                                window.char_spans[e][1]]
        by_question[window.question].append(Candidate(
            text, float(starts[s]), float(ends[e]),
            float(starts[s] + ends[e])))
  result = collections.OrderedDict()
  for index, question in enumerate(questions):
    candidates = sorted(by_question.get(index, []),
                        key=lambda c: -c.score)
    seen, unique = set(), []
    for candidate in candidates:
      if candidate.text not in seen:
        seen.add(candidate.text)
        unique.append(candidate)
      if len(unique) == n_best_size:
        break
    result[question.qid] = unique or [Candidate("", 0.0, 0.0, 0.0)]
  return result


def probabilities(candidates):
  scores = np.array([c.score for c in candidates])
  exp = np.exp(scores - scores.max())
  return exp / exp.sum()
