# coding=utf-8
"""Scores predictions with the CMRC 2018 metric
(lert/finetuning/cmrc_metric.py), as the official evaluator does.

  python cmrc2018_evaluate.py DATA.json PREDICTIONS.json

prints one JSON line: {"AVERAGE": ..., "F1": ..., "EM": ..., "TOTAL": ...,
"SKIP": ...}. DATA.json is SQuAD v1-style (CMRC 2018, DRCD); PREDICTIONS.json
maps question ids to answer strings. Both may start with a UTF-8 BOM.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import io
import json
import sys

from lert.finetuning import cmrc_metric


def _load(path, what):
  try:
    with io.open(path, encoding="utf-8-sig") as f:
      return json.load(f)
  except (IOError, OSError) as e:
    raise SystemExit("cmrc2018_evaluate.py: error: %s: %s" % (path, e))
  except ValueError as e:
    raise SystemExit("cmrc2018_evaluate.py: error: %s is not valid JSON "
                     "(%s file): %s" % (path, what, e))


def main(argv):
  if len(argv) != 3:
    raise SystemExit("Usage: python cmrc2018_evaluate.py DATA.json "
                     "PREDICTIONS.json")
  data = _load(argv[1], "data")
  predictions = _load(argv[2], "predictions")
  check_predictions(predictions, argv[2])
  try:
    score = cmrc_metric.evaluate(data, predictions)
  except (KeyError, TypeError, AttributeError) as e:
    raise SystemExit("cmrc2018_evaluate.py: error: %s is not SQuAD-style "
                     "data (%s)." % (argv[1], e))
  if predictions and score.total and score.skip == score.total:
    raise SystemExit(
        "cmrc2018_evaluate.py: error: %s holds none of the %d question ids "
        "of %s (it has e.g. %s): predictions of another data set?" % (
            argv[2], score.total, argv[1],
            json.dumps(sorted(predictions)[0], ensure_ascii=False)))
  if score.skip:
    # Scored 0, as the official evaluator scores them; said, not only counted.
    sys.stderr.write("cmrc2018_evaluate.py: %d of %d questions have no "
                     "prediction in %s (scored 0, counted in SKIP).\n" % (
                         score.skip, score.total, argv[2]))
  print(cmrc_metric.score_json(score))


def check_predictions(predictions, path):
  """Predictions are one JSON object of question id -> answer text (what
  run_squad.py writes as predictions.json): a list, or an n-best file (id ->
  list of candidates), would be scored 0 or as the text of a list."""
  if not isinstance(predictions, dict):
    raise SystemExit(
        "cmrc2018_evaluate.py: error: %s is a JSON %s, not an object of "
        "question id -> answer text (run_squad.py's predictions.json, not "
        "nbest_predictions.json)." % (path, type(predictions).__name__))
  for qid, text in predictions.items():
    if not isinstance(text, str):
      raise SystemExit(
          "cmrc2018_evaluate.py: error: %s: the prediction of %s is a JSON "
          "%s, not an answer text (run_squad.py's predictions.json, not "
          "nbest_predictions.json)." % (
              path, json.dumps(qid, ensure_ascii=False),
              type(text).__name__))


if __name__ == "__main__":
  main(sys.argv)
