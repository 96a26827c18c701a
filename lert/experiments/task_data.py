# coding=utf-8
"""The fine-tuning data of an experiment: each task's files found in a data
directory, capped to a scale's number of examples (a seeded sample, a
share held out where a task has one split only) and written in the task's
own layout. No TensorFlow here.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import json
import os
import random

from lert.contract import atomic_files
from lert.contract import input_reading
from lert.contract import script_errors
from lert.experiments import recipe


# The file names each task's public release uses, per split, first found
# wins; the layout each reader takes is in docs/finetuning.md.
TASK_FILES = {
    "cmrc2018": {"train": ["cmrc2018_train.json", "train.json"],
                 "dev": ["cmrc2018_dev.json", "dev.json"],
                 "whole": ["cmrc2018_trial.json"]},
    "drcd": {"train": ["DRCD_training.json", "train.json"],
             "dev": ["DRCD_dev.json", "dev.json"]},
    "xnli": {"train": ["train.tsv"], "dev": ["dev.tsv"]},
    "lcqmc": {"train": ["train.tsv"], "dev": ["dev.tsv"]},
    "bq": {"train": ["train.csv"], "dev": ["dev.csv"]},
    "chnsenticorp": {"train": ["train.tsv"], "dev": ["dev.tsv"]},
    "tnews": {"train": ["train.json", "train.json.gz"],
              "dev": ["dev.json"]},
    "ocnli": {"train": ["train.50k.json", "train.json", "train.10k.json",
                        "train.3k.json"], "dev": ["dev.json"]},
    "msra_ner": {"train": ["train.txt", "train_bio.txt", "train_bio.txt.gz"],
                 "dev": ["dev.txt", "test.txt"],
                 "whole": ["train_bio.txt.gz", "train_bio.txt"]},
    "peopledaily": {"train": ["train.txt"], "dev": ["dev.txt"]},
}


# Tasks whose files start with a header line.
HEADER_TASKS = ("xnli", "bq", "chnsenticorp")


# The share of a task's only split held out for scoring.
HELD_OUT = {"cmrc2018": 0.2, "msra_ner": 0.1}


# Where a task's data comes from: the files, or one file to split.
TaskSource = collections.namedtuple("TaskSource", ["train", "dev", "whole"])


def find_task_source(data_dir, task):
  """The TaskSource of a task under <data_dir>/<task>/; a task without a
  train and a dev split, or a file to split, is one InputError."""
  directory = os.path.join(data_dir, task)
  names = TASK_FILES[task]

  def first(split):
    for name in names.get(split, ()):
      path = os.path.join(directory, name)
      if os.path.isfile(path):
        return path
    return None

  train, dev = first("train"), first("dev")
  if train and dev:
    return TaskSource(train, dev, None)
  whole = first("whole")
  if whole and task in HELD_OUT:
    return TaskSource(None, None, whole)
  wanted = "train (%s) and dev (%s)" % (
      " or ".join(names["train"]), " or ".join(names["dev"]))
  if task in HELD_OUT and names.get("whole"):
    wanted += ", or %s to split" % " or ".join(names["whole"])
  raise script_errors.InputError(
      "%s: no %s data in %s: it needs %s (docs/finetuning.md says where "
      "the public data lives)." % (task, "dev" if train else "train",
                                   directory, wanted))


def _read_text(path):
  """A task file, plain or gzipped, through the one line reader (its BOM,
  CRLF and bad-input rules)."""
  return "\n".join(text for _, text in input_reading.read_lines(path))


def _units(task, path):
  """A data file as (header, units): lines, sentences (NER) or articles
  (MRC), whatever an example is made of."""
  text = _read_text(path)
  group = recipe.FINETUNE_TASKS[task].group
  if group == "MRC":
    try:
      data = json.loads(text)
    except ValueError as e:
      raise script_errors.InputError("%s: not SQuAD JSON (%s)." % (path, e))
    return {"version": data.get("version", "")}, list(data["data"])
  if group == "NER":
    blocks = [b for b in text.split("\n\n") if b.strip()]
    return None, [b.strip("\n") for b in blocks]
  lines = [line for line in text.splitlines() if line.strip()]
  if task in HEADER_TASKS:
    return lines[0], lines[1:]
  return None, lines


def _size(task, unit):
  """Examples in a unit: an article's questions, else one."""
  if recipe.FINETUNE_TASKS[task].group == "MRC":
    return sum(len(p["qas"]) for p in unit["paragraphs"])
  return 1


def _write_units(task, path, header, units):
  group = recipe.FINETUNE_TASKS[task].group
  with atomic_files.atomic_open(path) as f:
    if group == "MRC":
      f.write(json.dumps(dict(header, data=units), ensure_ascii=False))
    elif group == "NER":
      f.write("\n\n".join(units) + "\n")
    else:
      if header is not None:
        f.write(header + "\n")
      f.write("".join(line + "\n" for line in units))


def _capped(task, units, cap, rng):
  """A random subset of `units` of about `cap` examples, in file order."""
  if not cap or sum(_size(task, u) for u in units) <= cap:
    return units
  order = list(range(len(units)))
  rng.shuffle(order)
  chosen, total = [], 0
  for i in order:
    if total >= cap:
      break
    chosen.append(i)
    total += _size(task, units[i])
  return [units[i] for i in sorted(chosen)]


# What a task's data cell wrote.
TaskData = collections.namedtuple("TaskData", ["train", "dev", "counts"])


def task_data_paths(output_dir, task, size=None):
  """The TaskData of a task's cell: data/<task>/, or data/<task>-n<size>/
  for `size` training examples."""
  ext = recipe.FINETUNE_TASKS[task].ext
  directory = os.path.join(output_dir, "data", task + (
      "-n%d" % size if size else ""))
  return TaskData(os.path.join(directory, "train." + ext),
                  os.path.join(directory, "dev." + ext),
                  os.path.join(directory, "split.json"))


# How prepare_task_data samples (recorded with each data cell): 2, the dev
# sample drawn apart from the training sample, so that every training size
# is scored on the same dev examples, and a smaller training sample is a
# part of a larger one.
SAMPLING = 2


def prepare_task_data(source, task, target, max_train, max_eval, seed=12345):
  """Writes a task's train and dev files (target: a TaskData of paths):
  the source's splits, or a held-out share of its only one (by article
  for reading comprehension, by sentence for NER), each cut to about
  `max_train` / `max_eval` examples at random (None: all). The dev
  examples do not depend on `max_train`; the training examples of a
  smaller `max_train` are among those of a larger one."""
  rng = random.Random("%d-%s" % (seed, task))
  if source.whole:
    header, units = _units(task, source.whole)
    order = list(range(len(units)))
    rng.shuffle(order)
    held = set(order[:int(round(len(units) * HELD_OUT[task]))])
    train = [u for i, u in enumerate(units) if i not in held]
    dev = [u for i, u in enumerate(units) if i in held]
    origin = {"split": source.whole, "held_out": HELD_OUT[task]}
  else:
    header, train = _units(task, source.train)
    _, dev = _units(task, source.dev)
    origin = {"train": source.train, "dev": source.dev}
  dev = _capped(task, dev, max_eval, random.Random("%d-%s-dev" % (seed,
                                                                 task)))
  train = _capped(task, train, max_train, random.Random(
      "%d-%s-train" % (seed, task)))
  for path, units in ((target.train, train), (target.dev, dev)):
    if not units:
      raise script_errors.InputError("%s: no %s examples for %s." % (
          task, "training" if path == target.train else "dev",
          source.whole or source.train))
    _write_units(task, path, header, units)
  counts = dict(origin, train_examples=sum(_size(task, u) for u in train),
                dev_examples=sum(_size(task, u) for u in dev),
                max_train_examples=max_train, max_eval_examples=max_eval)
  atomic_files.write_json(target.counts, counts)
  return counts
