# coding=utf-8
"""Scores predictions with the CMRC 2018 metric (cmrc_metric.py), as the
official evaluator does.

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

import cmrc_metric


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
  try:
    score = cmrc_metric.evaluate(data, predictions)
  except (KeyError, TypeError, AttributeError) as e:
    raise SystemExit("cmrc2018_evaluate.py: error: %s is not SQuAD-style "
                     "data (%s)." % (argv[1], e))
  print(cmrc_metric.score_json(score))


if __name__ == "__main__":
  main(sys.argv)
