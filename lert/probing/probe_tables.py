# coding=utf-8
"""The probes' results as a table (Markdown and TSV: a row per layer, a
column per task, and the majority label's accuracy) and a figure
(accuracy against layer). No TensorFlow here.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import io

from lert.contract import figures
from lert.probing import probes


def layer_name(layer):
  return "embeddings" if layer == 0 else "layer %d" % layer


def format_probe_tables(title, results):
  """(Markdown, TSV) of a list of probes.ProbeResult."""
  tasks = list(collections.OrderedDict.fromkeys(r.task for r in results))
  by = {(r.task, r.layer): r for r in results}
  layers = sorted({r.layer for r in results})
  lines = ["## " + title, "", "Accuracy (%) of a linear probe on the "
           "held-out words:", "",
           "| layer | " + " | ".join(tasks) + " |",
           "| --- |" + " --- |" * len(tasks)]
  for layer in layers:
    lines.append("| %s | %s |" % (layer_name(layer), " | ".join(
        "%.2f" % (100 * by[t, layer].accuracy) for t in tasks)))
  first = [by[t, layers[0]] for t in tasks]
  lines.append("| majority label | %s |" % " | ".join(
      "%.2f" % (100 * r.majority) for r in first))
  lines += ["", "Words (training / test): " + "; ".join(
      "%s %d / %d%s" % (r.task, r.train_examples, r.test_examples,
                        " (%d test words with a label unseen in training)"
                        % r.unseen if r.unseen else "") for r in first)]
  unconverged = [r for r in results if not r.converged]
  if unconverged:
    lines += ["", "Not converged (L-BFGS stopped at its iteration limit): "
              + ", ".join("%s %s" % (r.task, layer_name(r.layer))
                          for r in unconverged)]
  tsv = ["task\tlayer\taccuracy\tmajority\ttrain_examples\ttest_examples"
         "\tunseen\titerations\tconverged"]
  tsv += ["%s\t%d\t%.6f\t%.6f\t%d\t%d\t%d\t%d\t%d" % (
      r.task, r.layer, r.accuracy, r.majority, r.train_examples,
      r.test_examples, r.unseen, r.iterations, r.converged) for r in results]
  return "\n".join(lines) + "\n", "\n".join(tsv) + "\n"


def draw_probes(path, title, results):
  """Accuracy against layer, a line per task, its majority label's
  accuracy dashed."""
  plt = figures.pyplot()
  tasks = list(collections.OrderedDict.fromkeys(r.task for r in results))
  figure, axis = plt.subplots(figsize=(6, 3.5))
  for task in tasks:
    mine = sorted((r for r in results if r.task == task),
                  key=lambda r: r.layer)
    line, = axis.plot([r.layer for r in mine],
                      [100 * r.accuracy for r in mine], marker="o",
                      label=task)
    axis.axhline(100 * mine[0].majority, linestyle="--", linewidth=0.8,
                 color=line.get_color())
  layers = sorted({r.layer for r in results})
  axis.set_xticks(layers)
  axis.set_xticklabels(["emb"] + [str(n) for n in layers[1:]])
  axis.set_xlabel("layer (dashed: the majority label)")
  axis.set_ylabel("probe accuracy (%)")
  axis.set_title(title if len(title) < 60 else "..." + title[-57:],
                 fontsize="small")
  axis.legend(fontsize="small")
  figures.save_figure(figure, path)


def read_probe_tsv(path):
  """The probes.ProbeResult list of a probe.tsv (format_probe_tables')."""
  with io.open(path, encoding="utf-8") as f:
    lines = f.read().splitlines()
  results = []
  for line in lines[1:]:
    task, layer, accuracy, majority, train, test, unseen, iterations, done = (
        line.split("\t"))
    results.append(probes.ProbeResult(
        task, int(layer), float(accuracy), float(majority), int(train),
        int(test), int(unseen), int(iterations), bool(int(done))))
  return results


def format_comparison(title, runs, command=None):
  """(Markdown, TSV) comparing variants: per task, a row per variant (and
  the majority label), a column per layer. `runs`: (variant, list of
  ProbeResult, or a text for a collapsed encoder)."""
  probed = [(name, r) for name, r in runs if not isinstance(r, str)]
  tasks = list(collections.OrderedDict.fromkeys(
      r.task for _, results in probed for r in results))
  lines = ["## " + title, ""]
  if command:
    lines += ["```", command, "```", ""]
  lines += ["Accuracy (%) of a linear probe on held-out words, by layer "
            "(one pre-training per variant, so no spread over seeds; the "
            "probe itself is deterministic):", ""]
  tsv = ["system\ttask\tlayer\taccuracy\tmajority"]
  for task in tasks:
    layers = sorted({r.layer for _, results in probed for r in results
                     if r.task == task})
    lines += ["### " + task, "", "| system | " + " | ".join(
        layer_name(n) for n in layers) + " |",
              "| --- |" + " --- |" * len(layers)]
    majority = None
    for name, results in runs:
      if isinstance(results, str):
        lines.append("| %s | %s |" % (name, results))
        continue
      by_layer = {r.layer: r for r in results if r.task == task}
      majority = by_layer[layers[0]].majority
      lines.append("| %s | %s |" % (name, " | ".join(
          "%.2f" % (100 * by_layer[n].accuracy) for n in layers)))
      tsv += ["%s\t%s\t%d\t%.6f\t%.6f" % (name, task, n, by_layer[n].accuracy,
                                          by_layer[n].majority)
              for n in layers]
    lines += ["| majority label | %s |" % " | ".join(
        ["%.2f" % (100 * majority)] * len(layers)), ""]
  return "\n".join(lines), "\n".join(tsv) + "\n"


def draw_comparison(path, runs):
  """Per task, each variant's probe accuracy against layer."""
  plt = figures.pyplot()
  probed = [(name, r) for name, r in runs if not isinstance(r, str)]
  tasks = list(collections.OrderedDict.fromkeys(
      r.task for _, results in probed for r in results))
  figure, axes = plt.subplots(1, max(1, len(tasks)),
                              figsize=(3.6 * max(1, len(tasks)), 3.2),
                              squeeze=False)
  for axis, task in zip(axes[0], tasks):
    for name, results in probed:
      mine = sorted((r for r in results if r.task == task),
                    key=lambda r: r.layer)
      axis.plot([r.layer for r in mine], [100 * r.accuracy for r in mine],
                marker="o", label=name)
    if mine:
      axis.axhline(100 * mine[0].majority, linestyle="--", linewidth=0.8,
                   color="grey")
    axis.set_title(task)
    axis.set_xlabel("layer (0: embeddings)")
  axes[0][0].set_ylabel("probe accuracy (%)")
  axes[0][0].legend(fontsize="small")
  figures.save_figure(figure, path)
