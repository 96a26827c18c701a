# coding=utf-8
"""Maximum and mean of the metrics of several fine-tuning runs.

Usage: python scripts/summarize_seeds.py RUN_DIR [RUN_DIR ...]
Reads each RUN_DIR/eval_results.txt (name = value lines) and prints, for
accuracy, f1, F1 and EM where present: max (mean) over the runs, the form of
the paper's tables.
"""

from __future__ import print_function

import io
import math
import os
import sys

METRICS = ("accuracy", "f1", "EM", "F1")


def read_results(path):
  """metric -> float of the METRICS in an eval_results.txt; a value that is
  not a finite number is an error naming the file and line."""
  values = {}
  with io.open(path, encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
      if " = " not in line:
        continue
      key, value = line.rstrip("\n").split(" = ", 1)
      if key not in METRICS:
        continue
      try:
        values[key] = float(value)
      except ValueError:
        values[key] = float("nan")
      if not math.isfinite(values[key]):
        raise SystemExit("summarize_seeds.py: error: %s:%d: %s = %r is not a "
                         "finite number." % (path, number, key, value))
  return values


def summarize(directories):
  """metric -> (max, mean, values) over the runs that report it."""
  runs = []
  for directory in directories:
    path = os.path.join(directory, "eval_results.txt")
    if not os.path.isfile(path):
      raise SystemExit("summarize_seeds.py: error: %s does not exist." % path)
    runs.append(read_results(path))
  summary = {}
  for metric in METRICS:
    values = [run[metric] for run in runs if metric in run]
    if values:
      summary[metric] = (max(values), sum(values) / len(values), values)
  return summary


def main(argv):
  if len(argv) < 2:
    raise SystemExit(__doc__)
  summary = summarize(argv[1:])
  for metric, (best, mean, values) in summary.items():
    print("%s: %.4f (%.4f) over %d runs: %s" % (
        metric, best, mean, len(values),
        " ".join("%.4f" % v for v in values)))


if __name__ == "__main__":
  main(sys.argv)
