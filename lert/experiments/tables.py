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

from lert.contract import figures
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
# seeds, how many seeds, and the value of each seed (in seed order).
Stat = collections.namedtuple("Stat", ["mean", "std", "max", "n", "values"])


def stat(values):
  n = len(values)
  mean = sum(values) / n
  std = 0.0
  if n > 1:
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
  return Stat(mean, std, max(values), n, tuple(values))


# Student's t: the 97.5% quantile for 1..30 degrees of freedom (a two-sided
# 95% interval); beyond 30, the normal's 1.960.
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262,
         2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101,
         2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052,
         2.048, 2.045, 2.042)

# A variant against the baseline over the same seeds: the mean of the
# per-seed differences and its 95% interval (None with one seed).
PairedDifference = collections.namedtuple("PairedDifference",
                                          ["mean", "low", "high", "n"])


def paired_difference(values, baseline):
  """The mean of values[i] - baseline[i] (seed i of both) with Student's t
  95% interval: mean ± t(n - 1) · sd / sqrt(n). An interval that holds 0
  cannot tell the variant from the baseline."""
  if len(values) != len(baseline):
    raise ValueError("%d seeds against %d: a paired difference needs the "
                     "same seeds." % (len(values), len(baseline)))
  differences = stat([v - b for v, b in zip(values, baseline)])
  if differences.n < 2:
    return PairedDifference(differences.mean, None, None, differences.n)
  df = differences.n - 1
  half = (T_975[df - 1] if df <= len(T_975) else 1.960) * (
      differences.std / math.sqrt(differences.n))
  return PairedDifference(differences.mean, differences.mean - half,
                          differences.mean + half, differences.n)


def _show_difference(difference):
  if difference.low is None:
    return "%+.2f" % difference.mean
  return "%+.2f [%+.2f, %+.2f]" % (difference.mean, difference.low,
                                   difference.high)


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


def sized_row(per_seed, tasks):
  """variant_row of scores keyed (task, metric, training size): with one
  size (None, the scale's) the paper's columns; with several (the
  low-resource curve) each task's score at each size, `<task> <metric>
  n=<size>`, in size order."""
  sizes = sorted({key[2] for s in per_seed for key in s},
                 key=lambda n: n or 0)
  if sizes == [None]:
    return variant_row([{key[:2]: v for key, v in s.items()}
                        for s in per_seed], tasks)
  row = collections.OrderedDict()
  for task, metric in columns(tasks):
    for size in sizes:
      row["%s %s n=%d" % (task, recipe.METRIC_COLUMNS[metric], size)] = stat(
          [s[task, metric, size] for s in per_seed])
  return row


def show_guard(report):
  """The collapse guard's figures in a few words."""
  return "final-layer cosine %.3f, MLM loss %.2f, unigram entropy %.2f" % (
      report["final_layer_cosine"], report["mlm_loss"],
      report["unigram_entropy"])


def format_tables(title, rows, command=None, health=()):
  """The Markdown (mean ± std, the paired difference from the first row
  with its 95% interval, and the max over seeds) and the TSV of an
  experiment's rows: list of (variant name, row), the baseline first; a
  row that is a text (a collapsed encoder) is printed as that text, never
  as scores. `health`: (variant name, collapse guard report) of the
  pre-trained variants, tabulated after the scores."""
  scored = [(name, row) for name, row in rows if not isinstance(row, str)]
  names = list(scored[0][1]) if scored else []
  header = "| system | " + " | ".join(names) + " |"
  rule = "| --- |" + " --- |" * len(names)

  def lines_of(show):
    return ["| %s | %s |" % (name, row if isinstance(row, str) else
                             " | ".join(show(row[n]) for n in names))
            for name, row in rows]

  lines = ["## " + title, ""]
  if command:
    lines += ["```", command, "```", ""]
  lines += ["Mean ± std over %d seeds:" % (
      scored[0][1][names[0]].n if scored else 0), "", header, rule]
  lines += lines_of(lambda s: "%.2f ± %.2f" % (s.mean, s.std))
  differences = []
  baseline_name, baseline = rows[0]
  if not isinstance(baseline, str):
    differences = [(name, {n: paired_difference(row[n].values,
                                                baseline[n].values)
                           for n in names}) for name, row in scored[1:]]
  if differences:
    lines += ["", "Difference from %s, paired over the same seeds (mean "
              "[95%% interval]; an interval that holds 0 cannot tell the "
              "two apart):" % baseline_name, "", header, rule]
    lines += ["| %s | %s |" % (name, " | ".join(
        _show_difference(row[n]) for n in names))
              for name, row in differences]
  lines += ["", "Maximum over seeds:", "", header, rule]
  lines += lines_of(lambda s: "%.2f" % s.max)
  if health:
    lines += ["", "The collapse guard of each pre-training "
              "(check_collapse.py: the MLM loss against the unigram "
              "entropy of the masked tokens, in nats; the mean pairwise "
              "cosine of the final-layer token states):", "",
              "| system | MLM loss | unigram entropy | final-layer cosine | "
              "verdict |", "| --- | --- | --- | --- | --- |"]
    lines += ["| %s | %.3f | %.3f | %.4f | %s |" % (
        name, r["mlm_loss"], r["unigram_entropy"], r["final_layer_cosine"],
        r["verdict"]) for name, r in health]
  return "\n".join(lines) + "\n", _tsv(rows, names, dict(differences))


def _tsv(rows, names, differences):
  """One line per system and column: mean, std, max, seeds, and against
  the first system the paired difference and its 95% interval (empty for
  the first system, and the interval for one seed). A collapsed system is
  one line, its column `collapsed`, with no numbers."""
  def number(value):
    return "" if value is None else "%.4f" % value
  tsv = ["system\tcolumn\tmean\tstd\tmax\tseeds\tdifference\tlow\thigh"]
  for name, row in rows:
    if isinstance(row, str):
      tsv.append("%s\tcollapsed\t\t\t\t\t\t\t" % name)
      continue
    for n in names:
      difference = differences.get(name, {}).get(n)
      tsv.append("%s\t%s\t%.4f\t%.4f\t%.4f\t%d\t%s\t%s\t%s" % (
          name, n, row[n].mean, row[n].std, row[n].max, row[n].n,
          number(difference and difference.mean),
          number(difference and difference.low),
          number(difference and difference.high)))
  return "\n".join(tsv) + "\n"


def draw_curve(path, rows, tasks):
  """The low-resource curve: per task, each variant's mean score (± std
  over seeds) against the number of training examples (`sized_row`'s
  columns); collapsed variants are left out."""
  plt = figures.pyplot()
  rows = [(name, row) for name, row in rows if not isinstance(row, str)]
  figure, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.2),
                              squeeze=False)
  for axis, (task, metric) in zip(axes[0], columns(tasks)):
    prefix = "%s %s n=" % (task, recipe.METRIC_COLUMNS[metric])
    for name, row in rows:
      points = [(int(c[len(prefix):]), row[c]) for c in row
                if c.startswith(prefix)]
      axis.errorbar([n for n, _ in points], [s.mean for _, s in points],
                    yerr=[s.std for _, s in points], label=name, capsize=2,
                    marker="o")
    axis.set_xscale("log")
    axis.set_title(prefix[:-3])
    axis.set_xlabel("training examples")
  axes[0][0].set_ylabel("score (mean ± std over seeds)")
  axes[0][0].legend(fontsize="small")
  figures.save_figure(figure, path)


def draw_figure3(path, rows):
  """Figure 3's bars: per variant the MRC, TC, NER − 10 (as the paper
  draws it) and Average means, with their std as error bars."""
  plt = figures.pyplot()
  rows = [(name, row) for name, row in rows if not isinstance(row, str)]
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
  figures.save_figure(figure, path)
