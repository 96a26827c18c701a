# coding=utf-8
"""The fine-tuning recipe of the paper's Table 3 (docs/spec.md §6), read from
its one home, configs/finetune_recipe.tsv (scripts/finetune.sh reads the
same file), and scaled for a smaller run (`finetune_recipe`).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import io
import os

import lert
from lert.contract import script_errors

SIZES = ("small", "base", "large")
GROUPS = ("MRC", "TC", "NER")
# How the table names a metric.
METRIC_COLUMNS = {"EM": "EM", "F1": "F1", "accuracy": "ACC", "f1": "F"}

# The recipe's home, one row per task.
RECIPE_FILE = os.path.join(lert.CONFIGS_DIR, "finetune_recipe.tsv")

# A task's row: its script, maximum length, epochs and learning rates for
# small/base/large, file extension, the metrics of the paper's table
# (eval_results.txt names) and its group.
FinetuneTask = collections.namedtuple("FinetuneTask", [
    "script", "max_seq_length", "epochs", "learning_rates", "ext", "metrics",
    "group"])

_COLUMNS = ("task", "script", "max_seq_length", "epochs_small", "epochs_base",
            "epochs_large", "lr_small", "lr_base", "lr_large", "ext",
            "metrics", "group")


def read_recipe(path=RECIPE_FILE):
  """task -> FinetuneTask, in the file's order; '#' lines are comments and
  the first other line is the header. A malformed row is one InputError
  naming the file and line."""
  tasks = collections.OrderedDict()
  header = None
  with io.open(path, encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
      if line.startswith("#") or not line.strip():
        continue
      fields = line.rstrip("\n").split("\t")
      where = "%s:%d" % (path, number)
      if header is None:
        if tuple(fields) != _COLUMNS:
          raise script_errors.InputError(
              "%s: the header must be the columns %s." % (
                  where, " ".join(_COLUMNS)))
        header = fields
        continue
      row = dict(zip(_COLUMNS, fields))
      try:
        if len(fields) != len(_COLUMNS) or row["group"] not in GROUPS:
          raise ValueError("%d columns" % len(fields))
        tasks[row["task"]] = FinetuneTask(
            row["script"], int(row["max_seq_length"]),
            tuple(int(row["epochs_" + size]) for size in SIZES),
            tuple(float(row["lr_" + size]) for size in SIZES), row["ext"],
            tuple(row["metrics"].split(",")), row["group"])
      except ValueError as e:
        raise script_errors.InputError(
            "%s: not a recipe row (%s): %d tab-separated columns %s, the "
            "group one of %s." % (where, e, len(_COLUMNS),
                                  " ".join(_COLUMNS), "/".join(GROUPS)))
  return tasks


FINETUNE_TASKS = read_recipe()


def finetune_recipe(scale, task):
  """(max_seq_length, epochs, learning rate, batch) of a task at a scale:
  the paper's Table 3 for the scale's model size, each capped or replaced
  by the scale's setting."""
  recipe = FINETUNE_TASKS[task]
  length = recipe.max_seq_length
  epochs = recipe.epochs[SIZES.index(scale.size)]
  if scale.finetune_max_seq_length:
    # Reading comprehension needs room for a passage: twice the cap.
    cap = scale.finetune_max_seq_length * (2 if recipe.group == "MRC" else 1)
    length = min(length, cap)
  if scale.finetune_epochs:
    epochs = min(epochs, scale.finetune_epochs)
  return (length, epochs,
          scale.finetune_learning_rate or
          recipe.learning_rates[SIZES.index(scale.size)],
          scale.finetune_batch_size)
