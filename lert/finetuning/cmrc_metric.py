# coding=utf-8
"""The CMRC 2018 metric, as the official evaluator computes it
(docs/spec.md §6).

`cmrc2018_evaluate.py` is its command line; run_squad.py scores with it.

* Mixed segmentation: the text is lower-cased and stripped; each CJK
  character (U+4E00-U+9FA5) and each mark of `PUNCTUATION` is a segment of
  its own; the runs of other characters between them are split into words by
  NLTK's word tokenizer, as the official script does.
* F1: the longest common substring of the prediction's and the answer's
  segments (with `PUNCTUATION` removed) gives precision and recall.
* EM: the strings are equal once lower-cased, stripped and rid of
  `PUNCTUATION`.
* A question scores its best gold answer; a question without a prediction is
  counted in SKIP and scores 0; both scores are averaged over all questions
  and multiplied by 100.

One difference, on purpose: the official script runs NLTK's sentence
splitter (which needs the downloadable `punkt` model) before its word
tokenizer; here each run is tokenized as one line (`preserve_line`), which
differs only for a run that holds a sentence end followed by another
sentence.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import json
import re

# The official list, in its order.
PUNCTUATION = ["-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=",
               u"，", u"。", u"：", u"？", u"！", u"“", u"”", u"；", u"’",
               u"《", u"》", u"……", u"·", u"、", u"「", u"」", u"（", u"）",
               u"－", u"～", u"『", u"』"]
_CJK = re.compile(u"[\u4e00-\u9fa5]")

Score = collections.namedtuple("Score", ["f1", "em", "total", "skip"])


def _word_tokenize(text):
  import nltk
  return nltk.word_tokenize(text, preserve_line=True)


def mixed_segmentation(text, remove_punctuation=False):
  """The official mixed segmentation of a string."""
  text = text.lower().strip()
  segments, run = [], ""
  for char in text:
    if remove_punctuation and char in PUNCTUATION:
      continue
    if _CJK.search(char) or char in PUNCTUATION:
      if run:
        segments.extend(_word_tokenize(run))
        run = ""
      segments.append(char)
    else:
      run += char
  if run:
    segments.extend(_word_tokenize(run))
  return segments


def remove_punctuation(text):
  return "".join(c for c in text.lower().strip() if c not in PUNCTUATION)


def longest_common_substring(a, b):
  """(the longest common contiguous run of two lists, its length)."""
  table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
  best, end = 0, 0
  for i in range(len(a)):
    for j in range(len(b)):
      if a[i] == b[j]:
        table[i + 1][j + 1] = table[i][j] + 1
        if table[i + 1][j + 1] > best:
          best, end = table[i + 1][j + 1], i + 1
  return a[end - best:end], best


def f1_score(answers, prediction):
  """The best F1 of a prediction against any of the answers."""
  scores = []
  prediction_segments = mixed_segmentation(prediction, True)
  for answer in answers:
    answer_segments = mixed_segmentation(answer, True)
    _, length = longest_common_substring(answer_segments, prediction_segments)
    if not length:
      scores.append(0.0)
      continue
    precision = length / float(len(prediction_segments))
    recall = length / float(len(answer_segments))
    scores.append(2 * precision * recall / (precision + recall))
  return max(scores) if scores else 0.0


def em_score(answers, prediction):
  prediction = remove_punctuation(prediction)
  return float(any(remove_punctuation(a) == prediction for a in answers))


def questions(data):
  """(id, [answer texts]) of every question of SQuAD-style data."""
  for article in data["data"]:
    for paragraph in article["paragraphs"]:
      for qa in paragraph["qas"]:
        yield qa["id"].strip(), [a["text"] for a in qa["answers"]]


def evaluate(data, predictions):
  """Score of predictions (id -> text) on SQuAD-style data: F1 and EM in
  percent, the number of questions, and how many had no prediction."""
  f1 = em = 0.0
  total = skip = 0
  for qid, answers in questions(data):
    total += 1
    if qid not in predictions:
      skip += 1
      continue
    prediction = str(predictions[qid])
    f1 += f1_score(answers, prediction)
    em += em_score(answers, prediction)
  if not total:
    return Score(0.0, 0.0, 0, 0)
  return Score(100.0 * f1 / total, 100.0 * em / total, total, skip)


def score_json(score):
  return json.dumps(collections.OrderedDict([
      ("AVERAGE", "%.3f" % ((score.f1 + score.em) / 2)),
      ("F1", "%.3f" % score.f1), ("EM", "%.3f" % score.em),
      ("TOTAL", score.total), ("SKIP", score.skip)]))
