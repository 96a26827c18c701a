# coding=utf-8
"""The results of an experiment: each cell's metrics read back, summarised
over seeds (maximum, mean and spread), and written as the paper's tables
(Markdown and TSV) and Figure 3. No TensorFlow here.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import io
import math

from lert.contract import atomic_files
from lert.contract import script_errors
from lert.experiments import recipe


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
  return [(task, metric) for task in recipe.FINETUNE_TASKS if task in tasks
          for metric in recipe.FINETUNE_TASKS[task].metrics]


def seed_summary(scores, tasks):
  """Per seed, the group averages and the Average of the paper's tables.

  `scores`: (task, metric) -> value of one seed. A task's score is the mean
  of its metrics (EM and F1 for reading comprehension); a group is the mean
  of its tasks' scores, and Average the mean over all tasks (the paper's
  Table 8 average is over the ten tasks so: 83.58 for its baseline).
  """
  metrics = {task: recipe.FINETUNE_TASKS[task].metrics for task in tasks}
  task_score = {task: sum(scores[task, m] for m in metrics[task]) /
                len(metrics[task]) for task in tasks}
  summary = collections.OrderedDict()
  for group in recipe.GROUPS:
    members = [t for t in tasks if recipe.FINETUNE_TASKS[t].group == group]
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
    row["%s %s" % (task, recipe.METRIC_COLUMNS[metric])] = stat(
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
  groups = [g for g in recipe.GROUPS + ("Average",) if g in rows[0][1]]
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
  with atomic_files.atomic_path(path) as temporary:
    figure.savefig(temporary, format="png", dpi=120)
  plt.close(figure)
