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


def _error(message):
  raise SystemExit("summarize_seeds.py: error: " + message)


def read_results(path):
  """metric -> float of the METRICS in an eval_results.txt. A file that
  cannot be read, holds none of them, or gives a value that is not a
  finite number is an error naming it (and the line)."""
  values = {}
  try:
    with io.open(path, encoding="utf-8") as f:
      lines = f.read().splitlines()
  except (IOError, OSError) as e:
    _error("%s: %s" % (path, e.strerror or e))
  except UnicodeDecodeError as e:
    _error("%s is not UTF-8 text (%s)." % (path, e))
  for number, line in enumerate(lines, 1):
    if " = " not in line:
      continue
    key, value = line.split(" = ", 1)
    if key not in METRICS:
      continue
    try:
      values[key] = float(value)
    except ValueError:
      values[key] = float("nan")
    if not math.isfinite(values[key]):
      _error("%s:%d: %s = %r is not a finite number." % (path, number, key,
                                                         value))
  if not values:
    _error("%s holds none of %s (a run that did not evaluate, or an "
           "unfinished one?)." % (path, ", ".join(METRICS)))
  return values


def summarize(directories):
  """metric -> (max, mean, values) over the runs, for each metric they
  report; every run must report the same ones."""
  runs = []
  for directory in directories:
    path = os.path.join(directory, "eval_results.txt")
    if not os.path.isfile(path):
      _error("%s does not exist." % path)
    runs.append((path, read_results(path)))
  summary = {}
  for metric in METRICS:
    having = [path for path, run in runs if metric in run]
    if not having:
      continue
    lacking = [path for path, run in runs if metric not in run]
    if lacking:
      # A mean over some of the runs only would pass for one over all.
      _error("%s has no %s, which %s has: runs of different tasks?" % (
          lacking[0], metric, having[0]))
    values = [run[metric] for _, run in runs]
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
