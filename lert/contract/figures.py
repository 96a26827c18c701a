# coding=utf-8
"""The figures the scripts draw: matplotlib, headless (a missing matplotlib
is one line that says how to get it), and a PNG written through the one
atomic writer. No TensorFlow here.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

from lert.contract import atomic_files
from lert.contract import script_errors


def available():
  """Whether matplotlib is installed (the TF 1.15 runtime lacks it): a
  figure beside a table is then left out, with a note."""
  try:
    import matplotlib  # noqa: F401
    return True
  except ImportError:
    return False


def pyplot():
  """matplotlib.pyplot with the Agg backend."""
  try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
  except ImportError:
    raise script_errors.InputError(
        "The figures need matplotlib (in requirements.txt; .venv-tf2 has "
        "it).")
  return plt


def save_figure(figure, path):
  """Lays `figure` out, writes it to `path` as a PNG, atomically, and
  closes it."""
  figure.tight_layout()
  with atomic_files.atomic_path(path) as temporary:
    figure.savefig(temporary, format="png", dpi=120)
  pyplot().close(figure)
