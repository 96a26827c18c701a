# coding=utf-8
"""The paper's experiments as cells: the library of run_experiments.py.

An experiment (Table 7, Table 8, Figure 3, Table 9 of the paper) is a list of
pre-training variants that differ in one setting; each variant is
pre-trained once and fine-tuned on the chosen tasks over several seeds. Every
step is a *cell* run by the project's own scripts in its own output
directory (docs/experiments.md):

  <output_dir>/data/<task>/         the task's train and dev files
  <output_dir>/records/<masking>/   create_pretraining_data.py
  <output_dir>/pretrain/<variant>/  run_pretraining.py
  <output_dir>/finetune/<variant>/<task>/seed-<n>/   run_classifier.py,
                                    run_ner.py or run_squad.py
  <output_dir>/results/<experiment>.md, .tsv (and figure3.png)

A finished cell is skipped; an unfinished one is run again, and its script
resumes it (or refuses, naming what differs). This module imports no
TensorFlow.

The fine-tuning recipe of the paper's Table 3 (FINETUNE_TASKS) is the one
home of that table: scripts/finetune.sh reads it from here.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import io
import json
import math
import os
import random

import input_reading
import linguistic_tags
import outputs
import script_errors

# ----------------------------------------------------------------------------
# The fine-tuning recipe (paper Table 3, docs/spec.md §6).

# script, maximum length, epochs for small/base/large, file extension, the
# metrics of the paper's table (eval_results.txt names), the task group.
FinetuneTask = collections.namedtuple("FinetuneTask", [
    "script", "max_seq_length", "epochs", "ext", "metrics", "group"])

FINETUNE_TASKS = collections.OrderedDict([
    ("cmrc2018", FinetuneTask("run_squad.py", 512, (3, 2, 1), "json",
                              ("EM", "F1"), "MRC")),
    ("drcd", FinetuneTask("run_squad.py", 512, (5, 2, 3), "json",
                          ("EM", "F1"), "MRC")),
    ("xnli", FinetuneTask("run_classifier.py", 128, (5, 2, 2), "tsv",
                          ("accuracy",), "TC")),
    ("lcqmc", FinetuneTask("run_classifier.py", 128, (5, 3, 3), "tsv",
                           ("accuracy",), "TC")),
    ("bq", FinetuneTask("run_classifier.py", 128, (5, 3, 2), "csv",
                        ("accuracy",), "TC")),
    ("chnsenticorp", FinetuneTask("run_classifier.py", 256, (5, 5, 5), "tsv",
                                  ("accuracy",), "TC")),
    ("tnews", FinetuneTask("run_classifier.py", 128, (5, 5, 5), "json",
                           ("accuracy",), "TC")),
    ("ocnli", FinetuneTask("run_classifier.py", 128, (5, 5, 3), "json",
                           ("accuracy",), "TC")),
    ("msra_ner", FinetuneTask("run_ner.py", 256, (10, 10, 10), "txt",
                              ("f1",), "NER")),
    ("peopledaily", FinetuneTask("run_ner.py", 256, (10, 10, 10), "txt",
                                 ("f1",), "NER")),
])
LEARNING_RATES = {"small": 5e-5, "base": 3e-5, "large": 2e-5}
SIZES = ("small", "base", "large")
GROUPS = ("MRC", "TC", "NER")
# How the table names a metric.
METRIC_COLUMNS = {"EM": "EM", "F1": "F1", "accuracy": "ACC", "f1": "F"}


def shell_recipe(task, size):
  """The recipe of a task as shell assignments (scripts/finetune.sh)."""
  if task not in FINETUNE_TASKS:
    raise script_errors.InputError(
        "Unknown TASK '%s': one of %s." % (task, " ".join(FINETUNE_TASKS)))
  if size not in SIZES:
    raise script_errors.InputError(
        "SIZE must be small, base or large, not '%s'." % size)
  recipe = FINETUNE_TASKS[task]
  return "SCRIPT=%s LEN=%d EPOCHS_FOR_SIZE=%d EXT=%s LR_FOR_SIZE=%s" % (
      recipe.script, recipe.max_seq_length,
      recipe.epochs[SIZES.index(size)], recipe.ext,
      ("%.0e" % LEARNING_RATES[size]).replace("e-0", "e-"))  # 5e-5


# ----------------------------------------------------------------------------
# The experiments.

# A pre-training variant: its name in the paper's table, the linguistic
# heads trained, the LIP schedule and order, and the masking mode.
Variant = collections.namedtuple("Variant", [
    "name", "linguistic_tasks", "lip_schedule", "lip_order", "masking"])


def _variant(name, tasks="", schedule="none", order="PND", masking="none"):
  return Variant(name, tuple(linguistic_tags.parse_task_list(tasks)),
                 schedule, order, masking)


# An experiment: its title, the model size and pre-training steps of the
# paper, its variants (the first is the baseline), and the tags a corpus
# must have for it to mean anything.
Experiment = collections.namedtuple("Experiment", [
    "title", "paper_size", "paper_steps", "variants", "needs"])

EXPERIMENTS = collections.OrderedDict([
    ("table7", Experiment(
        "Table 7: LERT-small against an MLM-only BERT-small, same recipe",
        "small", 2000000, [
            _variant("BERT (MLM)"),
            _variant("LERT", "pos,ner,dep", "linear", "PND")], ())),
    # The paper's footnote 6: no task warm-up in the ablation.
    ("table8", Experiment(
        "Table 8: ablation of the linguistic tasks (no task warm-up)",
        "base", 500000, [
            _variant("MLM"), _variant("+POS", "pos"), _variant("+NER", "ner"),
            _variant("+DEP", "dep"), _variant("+All", "pos,ner,dep")], ())),
    ("figure3", Experiment(
        "Figure 3: the order of the linguistic tasks in LIP",
        "base", 1000000, [
            _variant("PND", "pos,ner,dep", "linear", "PND"),
            _variant("PDN", "pos,ner,dep", "linear", "PDN"),
            _variant("NPD", "pos,ner,dep", "linear", "NPD"),
            _variant("DNP", "pos,ner,dep", "linear", "DNP"),
            _variant("no warm-up", "pos,ner,dep")], linguistic_tags.TASKS)),
    ("table9", Experiment(
        "Table 9: linguistic masking (LMLM), MLM objective only",
        "base", 500000, [
            _variant("MLM"), _variant("POS-mask", masking="pos"),
            _variant("NER-mask", masking="ner"),
            _variant("DEP-mask", masking="dep"),
            _variant("All-mask", masking="all"),
            _variant("Mix-mask", masking="mix")], ())),
])


def variants_for(experiment, corpus_tasks, names=None):
  """The variants of an experiment that a corpus with labels for
  `corpus_tasks` can train: a variant needing a missing task is left out,
  except "all tasks" variants, which keep the tasks there are (+All on a
  corpus without DEP trains POS+NER). Returns (variants, notes)."""
  kept, notes = [], []
  lacking = [t for t in EXPERIMENTS[experiment].needs if t not in corpus_tasks]
  if lacking:
    return [], ["%s left out: it compares schedules of all three tasks and "
                "the corpus has no %s labels." % (
                    experiment, "/".join(t.upper() for t in lacking))]
  for variant in EXPERIMENTS[experiment].variants:
    tasks = variant.linguistic_tasks
    missing = [t for t in tasks if t not in corpus_tasks]
    masked = [t for t in linguistic_tags.TASKS if t not in corpus_tasks and (
        variant.masking in ("all", "mix", t))]
    if masked:
      # All-mask and Mix-mask write the three tags: never under their names
      # with fewer (create_pretraining_data.py refuses them too).
      notes.append("%s %s left out: the corpus has no %s labels." % (
          experiment, variant.name, "/".join(m.upper() for m in masked)))
      continue
    if missing and (len(tasks) < len(linguistic_tags.TASKS) or
                    variant.lip_schedule != "none"):
      notes.append("%s %s left out: the corpus has no %s labels." % (
          experiment, variant.name, "/".join(m.upper() for m in missing)))
      continue
    if missing:
      present = tuple(t for t in tasks if t in corpus_tasks)
      variant = variant._replace(
          name="%s (%s)" % (variant.name, "+".join(t.upper()
                                                   for t in present)),
          linguistic_tasks=present)
    kept.append(variant)
  if names:
    kept = [v for v in kept if v.name.split(" (")[0] in names]
  return kept, notes


def check_variant_names(experiment_names, names):
  """Every name of --variants must be a variant of one of the experiments."""
  known = [v.name for e in experiment_names for v in EXPERIMENTS[e].variants]
  for name in names or ():
    if name not in known:
      raise script_errors.InputError(
          "--variants: %s is not a variant of %s (%s)." % (
              name, ", ".join(experiment_names), ", ".join(
                  collections.OrderedDict.fromkeys(known))))


def variant_key(variant):
  """The variant's directory name, from its settings: variants of several
  experiments with the same settings share their cells."""
  if variant.masking != "none":
    return "lmlm-" + variant.masking
  if not variant.linguistic_tasks:
    return "mlm"
  key = "-".join(variant.linguistic_tasks)
  if variant.lip_schedule == "none":
    return key + "-nowarmup"
  return key + "-" + variant.lip_order


# ----------------------------------------------------------------------------
# Scales.

# The settings of a scale: the model, the pre-training recipe, and how the
# fine-tuning recipe is scaled (None: the paper's).
Scale = collections.namedtuple("Scale", [
    "name", "bert_config", "size", "max_seq_length", "max_predictions_per_seq",
    "dupe_factor", "train_batch_size", "learning_rate", "num_train_steps",
    "num_warmup_steps", "finetune_learning_rate", "finetune_epochs",
    "finetune_max_seq_length", "finetune_batch_size", "max_train_examples",
    "max_eval_examples", "seeds"])

SCALES = collections.OrderedDict([
    # CPU-sized: the 4-layer, 128-wide configs/lert_config_tiny.json,
    # minutes per variant (docs/experiments.md times it).
    ("mini", Scale("mini", "configs/lert_config_tiny.json", "small", 128, 20,
                   2, 32, 5e-4, 1000, 100, 2e-4, 2, 128, 32, 2000, 500, 3)),
    # One GPU: LERT-small, tens of minutes per variant; fine-tuning as the
    # paper's small models, on the whole task data.
    ("small", Scale("small", "configs/lert_config_small.json", "small", 128,
                    20, 5, 128, 5e-4, 20000, 1000, None, None, None, 32,
                    None, None, 3)),
    # The paper's sizes, batch, length and steps (docs/spec.md §5), for a
    # TPU v3-8 or a GPU node; the model size and steps are the experiment's.
    ("paper", Scale("paper", None, None, 512, 75, 10, None, 1e-4, None,
                    10000, None, None, None, 32, None, None, 5)),
])
PAPER_BATCH = {"small": 1024, "base": 416, "large": 256}
# A tiny scale for the tests: a few steps on the sample corpus.
TEST_SCALE = Scale("test", "configs/lert_config_tiny.json", "small", 64, 10,
                   1, 8, 1e-3, 4, 1, 1e-3, 1, 64, 8, 40, 20, 2)


def resolve_scale(scale, experiment):
  """The scale with the experiment's paper settings filled in."""
  paper = EXPERIMENTS[experiment]
  if scale.name != "paper":
    return scale
  return scale._replace(
      bert_config="configs/lert_config_%s.json" % paper.paper_size,
      size=paper.paper_size, train_batch_size=PAPER_BATCH[paper.paper_size],
      num_train_steps=paper.paper_steps)


def model_key(scale):
  """The model and steps part of a variant's directory."""
  name = os.path.basename(scale.bert_config)
  if name.startswith("lert_config_"):
    name = name[len("lert_config_"):]
  return "%s-%d" % (name.rsplit(".", 1)[0], scale.num_train_steps)


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
          scale.finetune_learning_rate or LEARNING_RATES[scale.size],
          scale.finetune_batch_size)


# ----------------------------------------------------------------------------
# Task data: where each task's public files are, and the splits made of
# them.

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
  recipe = FINETUNE_TASKS[task]
  if recipe.group == "MRC":
    try:
      data = json.loads(text)
    except ValueError as e:
      raise script_errors.InputError("%s: not SQuAD JSON (%s)." % (path, e))
    return {"version": data.get("version", "")}, list(data["data"])
  if recipe.group == "NER":
    blocks = [b for b in text.split("\n\n") if b.strip()]
    return None, [b.strip("\n") for b in blocks]
  lines = [line for line in text.splitlines() if line.strip()]
  if task in HEADER_TASKS:
    return lines[0], lines[1:]
  return None, lines


def _size(task, unit):
  """Examples in a unit: an article's questions, else one."""
  if FINETUNE_TASKS[task].group == "MRC":
    return sum(len(p["qas"]) for p in unit["paragraphs"])
  return 1


def _write_units(task, path, header, units):
  recipe = FINETUNE_TASKS[task]
  with outputs.atomic_open(path) as f:
    if recipe.group == "MRC":
      f.write(json.dumps(dict(header, data=units), ensure_ascii=False))
    elif recipe.group == "NER":
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


def task_data_paths(output_dir, task):
  ext = FINETUNE_TASKS[task].ext
  directory = os.path.join(output_dir, "data", task)
  return TaskData(os.path.join(directory, "train." + ext),
                  os.path.join(directory, "dev." + ext),
                  os.path.join(directory, "split.json"))


def prepare_task_data(source, task, target, max_train, max_eval, seed=12345):
  """Writes a task's train and dev files (target: a TaskData of paths):
  the source's splits, or a held-out share of its only one (by article
  for reading comprehension, by sentence for NER), each cut to about
  `max_train` / `max_eval` examples at random (None: all)."""
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
  train = _capped(task, train, max_train, rng)
  dev = _capped(task, dev, max_eval, rng)
  for path, units in ((target.train, train), (target.dev, dev)):
    if not units:
      raise script_errors.InputError("%s: no %s examples for %s." % (
          task, "training" if path == target.train else "dev",
          source.whole or source.train))
    _write_units(task, path, header, units)
  counts = dict(origin, train_examples=sum(_size(task, u) for u in train),
                dev_examples=sum(_size(task, u) for u in dev),
                max_train_examples=max_train, max_eval_examples=max_eval)
  outputs.write_json(target.counts, counts)
  return counts


# ----------------------------------------------------------------------------
# Results.


def read_metrics(path):
  """name -> float of the numbers in an eval_results.txt."""
  values = {}
  with io.open(path, encoding="utf-8") as f:
    for line in f:
      key, sep, value = line.rstrip("\n").partition(" = ")
      if sep:
        try:
          values[key] = float(value)
        except ValueError:
          pass
  return values


def percent(metric, value):
  """Accuracy and entity F1 are fractions in eval_results.txt; the CMRC
  metric is already a percentage (the paper's tables use percentages)."""
  return value if metric in ("EM", "F1") else 100.0 * value


def columns(tasks):
  """The table's metric columns: (task, metric) in the paper's order."""
  return [(task, metric) for task in FINETUNE_TASKS if task in tasks
          for metric in FINETUNE_TASKS[task].metrics]


def seed_summary(scores, tasks):
  """Per seed, the group averages and the Average of the paper's tables.

  `scores`: (task, metric) -> value of one seed. A task's score is the mean
  of its metrics (EM and F1 for reading comprehension); a group is the mean
  of its tasks' scores, and Average the mean over all tasks (the paper's
  Table 8 average is over the ten tasks so: 83.58 for its baseline).
  """
  task_score = {task: sum(scores[task, m] for m in FINETUNE_TASKS[task].metrics)
                / len(FINETUNE_TASKS[task].metrics) for task in tasks}
  summary = collections.OrderedDict()
  for group in GROUPS:
    members = [t for t in tasks if FINETUNE_TASKS[t].group == group]
    if members:
      summary[group] = sum(task_score[t] for t in members) / len(members)
  summary["Average"] = sum(task_score.values()) / len(task_score)
  return summary


# One table cell: the mean, the standard deviation and the maximum over
# seeds, and how many seeds.
Stat = collections.namedtuple("Stat", ["mean", "std", "max", "n"])


def stat(values):
  n = len(values)
  mean = sum(values) / n
  std = 0.0
  if n > 1:
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
  return Stat(mean, std, max(values), n)


def variant_row(per_seed, tasks):
  """column name -> Stat over seeds; per_seed: list of (task, metric) ->
  value dicts, one per seed."""
  row = collections.OrderedDict()
  for task, metric in columns(tasks):
    row["%s %s" % (task, METRIC_COLUMNS[metric])] = stat(
        [s[task, metric] for s in per_seed])
  summaries = [seed_summary(s, tasks) for s in per_seed]
  for name in summaries[0]:
    row[name] = stat([s[name] for s in summaries])
  return row


def format_tables(title, rows, command=None):
  """The Markdown (mean ± std and max over seeds) and the TSV of an
  experiment's rows: list of (variant name, row)."""
  names = list(rows[0][1])
  header = "| system | " + " | ".join(names) + " |"
  rule = "| --- |" + " --- |" * len(names)
  lines = ["## " + title, ""]
  if command:
    lines += ["```", command, "```", ""]
  lines += ["Mean ± std over %d seeds:" % rows[0][1][names[0]].n, "",
            header, rule]
  lines += ["| %s | %s |" % (name, " | ".join(
      "%.2f ± %.2f" % (row[n].mean, row[n].std) for n in names))
            for name, row in rows]
  lines += ["", "Maximum over seeds:", "", header, rule]
  lines += ["| %s | %s |" % (name, " | ".join(
      "%.2f" % row[n].max for n in names)) for name, row in rows]
  tsv = ["system\tcolumn\tmean\tstd\tmax\tseeds"]
  tsv += ["%s\t%s\t%.4f\t%.4f\t%.4f\t%d" % (name, n, row[n].mean, row[n].std,
                                          row[n].max, row[n].n)
          for name, row in rows for n in names]
  return "\n".join(lines) + "\n", "\n".join(tsv) + "\n"


def draw_figure3(path, rows):
  """Figure 3's bars: per variant the MRC, TC, NER − 10 (as the paper
  draws it) and Average means, with their std as error bars."""
  try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
  except ImportError:
    raise script_errors.InputError(
        "Figure 3 needs matplotlib (in requirements.txt; .venv-tf2 has it).")
  groups = [g for g in GROUPS + ("Average",) if g in rows[0][1]]
  width = 0.8 / len(rows)
  figure, axes = plt.subplots(figsize=(7, 3.5))
  for i, (name, row) in enumerate(rows):
    means = [row[g].mean - (10 if g == "NER" else 0) for g in groups]
    axes.bar([j + i * width for j in range(len(groups))], means, width,
             yerr=[row[g].std for g in groups], label=name, capsize=2)
  axes.set_xticks([j + width * (len(rows) - 1) / 2 for j in
                   range(len(groups))])
  axes.set_xticklabels(["NER − 10" if g == "NER" else g for g in groups])
  axes.set_ylabel("score (mean over seeds)")
  axes.legend(fontsize="small", ncol=len(rows), loc="upper center",
              bbox_to_anchor=(0.5, -0.12), frameon=False)
  figure.tight_layout()
  with outputs.atomic_path(path) as temporary:
    figure.savefig(temporary, format="png", dpi=120)
  plt.close(figure)
