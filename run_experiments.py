# coding=utf-8
r"""One command per table and figure of the paper: Table 7, 8, 9, Figure 3;
and the low-resource curve of Table 7's pair.

For each variant of the experiment (variants.EXPERIMENTS) this makes the
records it needs from one tagged corpus, pre-trains it with the settings of
the scale, checks the encoder with the collapse guard (check_collapse.py),
fine-tunes it on the tasks over the seeds (unless it collapsed), and writes
the table in the paper's layout with the guard's figures
(docs/experiments.md):

  python run_experiments.py --experiment=table8 --scale=mini \
    --corpus=pd1998/tagged.jsonl --data_dir=../shared/data \
    --tasks=msra_ner,chnsenticorp,cmrc2018 --seeds=3 --output_dir=exp

Every step is a cell, run by the project's own script in its own output
directory under <output_dir>; a killed run, run again, skips the finished
cells and resumes the others, and a run with other settings is refused,
naming the first that differs. --dry_run prints every command instead
(at --scale=paper, the paper's recipe).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import os
import shlex
import sys
import time

from absl import app
from absl import flags

from lert.contract import atomic_files
from lert.contract import figures
from lert.contract import input_reading
from lert.contract import outputs
from lert.contract import script_errors
from lert.contract import script_flags
from lert.experiments import cells
from lert.experiments import recipe
from lert.experiments import tables
from lert.experiments import task_data
from lert.experiments import variants
from lert.pretraining_data import tagged_documents
from lert.tagging import linguistic_tags

FLAGS = flags.FLAGS
HERE = os.path.dirname(os.path.abspath(__file__))


def define_flags(flag_values=FLAGS):
  define = script_flags.FlagDefiner(flag_values)
  define.list("experiment", None,
              "table7, table8, figure3, table9, lowresource and/or probe "
              "(comma-separated; variants with the same settings share "
              "their cells).")
  define.enum("scale", "mini", list(variants.SCALES) + ["test"],
              "mini (CPU, a tiny model, minutes per variant), small "
              "(one GPU, LERT-small), paper (the paper's recipe), or "
              "test (a few steps, for the test suite).")
  define.string("output_dir", None, "Where every cell and the tables "
                "go.")
  define.string("corpus", None,
                "Tagged JSON Lines (globs, comma-separated) to make "
                "the pre-training records of: linguistic_tagger.py's "
                "or convert_pku_corpus.py's output.")
  define.list("corpus_tasks", None,
              "The tags the corpus has (default: read from the corpus): "
              "variants that need another are left out (People's Daily: "
              "pos,ner). Each one named must be in the corpus.")
  define.string("data_dir", None,
                "Holds each task's public data in <data_dir>/<task>/ "
                "(docs/finetuning.md lists the files).")
  define.list("tasks", list(recipe.FINETUNE_TASKS),
              "Fine-tuning tasks (any of the ten).")
  define.integer("seeds", None, "Fine-tuning runs per task, seeds "
                 "1..N (default: the scale's, 3 or 5).")
  define.list("variants", None, "Only these variants (the names of the "
              "paper's table, e.g. MLM,+POS).")
  define.bool("from_scratch", None,
              "Add the row of a model fine-tuned from random weights to "
              "every table: what pre-training adds at all (default: the "
              "scale's, on at mini and small).")
  define.float("cosine_limit", 0.95,
               "The collapse guard's limit (check_collapse.py "
               "--cosine_limit): a pre-training whose final-layer token "
               "states have a mean pairwise cosine at or above it is "
               "collapsed, and not fine-tuned.")
  define.string("probe_tagged", None,
                "--experiment=probe: tagged JSON Lines held out from "
                "--corpus (convert_pku_corpus.py --held_out_file) for the "
                "pos and ner probes.")
  define.string("probe_conllu", None,
                "--experiment=probe: the CoNLL-U files to train and score "
                "the upos and deprel probes on, comma-separated (e.g. "
                "ud_gsdsimp's dev and test).")
  define.list("train_sizes", None,
              "The training sizes of --experiment=lowresource (default: "
              "the scale's, 250,1000,4000).")
  define.integer("num_workers", 2, "Processes making records.")
  define.string("vocab_file", "configs/vocab.txt", "WordPiece "
                "vocabulary.")
  define.string("pretraining_flags", "",
                "More flags for run_pretraining.py (e.g. '--use_tpu "
                "--tpu_name=my-tpu' or '--num_gpus=8').")
  define.string("finetuning_flags", "",
                "More flags for the fine-tuning scripts.")
  define.bool("dry_run", False, "Print every command; run nothing.")
  define.bool("report", False,
              "Print the tables of the cells finished so far (per task, "
              "the seeds finished for every variant); run and write "
              "nothing, so a run may go on in the directory meanwhile.")
  define.bool("overwrite", False,
              "Redo the finished cells whose settings or inputs changed "
              "(and the cells that depend on them), removing only what "
              "they wrote; the other cells are kept.")
  define.required("experiment", "output_dir", "corpus")
  define.validator(
      "experiment", lambda names: names is None or (names and all(
          n in variants.EXPERIMENTS for n in names)),
      message="--experiment must name table7, table8, figure3, table9, "
      "lowresource or probe.")
  define.validator(
      "probe_conllu", lambda v: v is None or len(v.split(",")) == 2,
      message="--probe_conllu must name two files: train,test.")
  define.validator(
      "train_sizes", lambda sizes: sizes is None or (sizes and all(
          n.isdigit() and int(n) > 0 for n in sizes)),
      message="--train_sizes must be positive numbers of examples.")
  define.validator(
      "tasks", lambda names: all(n in recipe.FINETUNE_TASKS
                                 for n in names),
      message="--tasks must be a subset of %s." % ",".join(
          recipe.FINETUNE_TASKS))
  define.validator(
      "corpus_tasks", lambda names: names is None or (names and all(
          n in linguistic_tags.TASKS for n in names)),
      message="--corpus_tasks must be a subset of pos,ner,dep.")
  define.validator("seeds", lambda n: n is None or n >= 1,
                   message="--seeds must be at least 1.")
  define.at_least_one("num_workers")


def scale_of(name):
  return variants.TEST_SCALE if name == "test" else variants.SCALES[name]


# A fine-tuning result: experiment, variant, task, training size (None: the
# scale's), seed, its cell's eval_results.txt and the collapse guard's
# report of its pre-training (None: from scratch).
Result = collections.namedtuple("Result", [
    "experiment", "variant", "task", "size", "seed", "path", "guard"])


def _script(name):
  return [sys.executable, os.path.join(HERE, name)]


def _path(*parts):
  return os.path.join(FLAGS.output_dir, *parts)


def plan(corpus_files, corpus_tasks):
  """The cells of the flags' experiments, in order, and the Results the
  tables read. Cells shared by several experiments appear once. The
  fine-tuning cells come last, seed by seed across the variants, so that
  a run stopped part of the way holds paired comparisons of the seeds it
  finished."""
  planned, results, seen = [], [], set()
  finetunes = []
  notes = []

  def add(cell, order=None):
    if cell.done_file not in seen:
      seen.add(cell.done_file)
      if order is None:
        planned.append(cell)
      else:
        finetunes.append((order, cell))
    return cell

  variants.check_variant_names(FLAGS.experiment, FLAGS.variants)
  base = scale_of(FLAGS.scale)
  seeds = list(range(1, (FLAGS.seeds or base.seeds) + 1))
  from_scratch = (base.from_scratch if FLAGS.from_scratch is None
                  else FLAGS.from_scratch)
  if any(name not in ("lowresource", "probe") for name in FLAGS.experiment):
    for task in FLAGS.tasks:
      add(data_cell(base, task, None))
  for number, name in enumerate(FLAGS.experiment):
    scale = variants.resolve_scale(base, name)
    chosen, dropped = variants.variants_for(name, corpus_tasks,
                                            FLAGS.variants)
    notes.extend(dropped)
    sizes = [None]
    if name == "lowresource":
      sizes = [int(n) for n in FLAGS.train_sizes or scale.train_sizes]
    for index, variant in enumerate(
        chosen + ([variants.FROM_SCRATCH] if from_scratch and chosen
                  else [])):
      pretrain = guard = None
      if variant is not variants.FROM_SCRATCH:
        records = add(records_cell(scale, variant.masking, corpus_files))
        pretrain = add(pretrain_cell(scale, variant, records))
        guard = add(guard_cell(scale, pretrain, records))
      if name == "probe":
        cell = add(probe_cell(scale, pretrain, guard))
        results.append(Result(name, variant.name, None, None, None,
                              cell.done_file, guard and guard.done_file))
        continue
      for task_number, task in enumerate(FLAGS.tasks):
        for size in sizes:
          data = add(data_cell(base, task, size))
          for seed in seeds:
            cell = add(finetune_cell(scale, task, seed, pretrain, guard,
                                     data, size),
                       (number, task_number, size or 0, seed, index))
            results.append(Result(name, variant.name, task, size, seed,
                                  cell.done_file,
                                  guard and guard.done_file))
  finetunes.sort(key=lambda item: item[0])
  return planned + [cell for _, cell in finetunes], results, notes


def data_cell(scale, task, size):
  """A task's train and dev files: at most the scale's examples, or `size`
  training examples (the dev split is the same for every size)."""
  paths = task_data.task_data_paths(FLAGS.output_dir, task, size)
  source = (task_data.find_task_source(FLAGS.data_dir, task)
            if not FLAGS.dry_run or FLAGS.data_dir else None)
  max_train = size or scale.max_train_examples
  return cells.Cell(
      "data", "data %s" % task + (" n=%d" % size if size else ""), None,
      lambda: task_data.prepare_task_data(
          source, task, paths, max_train, scale.max_eval_examples),
      paths.counts, os.path.dirname(paths.counts),
      [p for p in source or () if p], (),
      {"task": task, "max_train_examples": max_train,
       "max_eval_examples": scale.max_eval_examples,
       "sampling": task_data.SAMPLING})


def records_cell(scale, masking, corpus_files):
  directory = _path("records", masking)
  files = [os.path.join(directory, "part-%02d.tfrecord" % i)
           for i in range(scale.record_files)]
  command = _script("create_pretraining_data.py") + [
      "--input_file=" + ",".join(corpus_files),
      "--output_file=" + ",".join(files),
      "--vocab_file=" + FLAGS.vocab_file,
      "--max_seq_length=%d" % scale.max_seq_length,
      "--max_predictions_per_seq=%d" % scale.max_predictions_per_seq,
      "--dupe_factor=%d" % scale.dupe_factor,
      "--linguistic_masking=" + masking,
      "--num_workers=%d" % FLAGS.num_workers]
  return cells.Cell("records", "records %s" % masking, command, None,
                    files[-1], directory,
                    list(corpus_files) + [FLAGS.vocab_file], (), None)


def pretrain_cell(scale, variant, records):
  key = "%s-%s" % (variants.model_key(scale),
                   variants.variant_key(variant))
  directory = _path("pretrain", key)
  steps = scale.num_train_steps
  command = _script("run_pretraining.py") + [
      "--bert_config_file=" + os.path.join(HERE, scale.bert_config),
      "--input_file=" + os.path.join(records.directory, "part-*.tfrecord"),
      "--output_dir=" + directory, "--do_train",
      "--max_seq_length=%d" % scale.max_seq_length,
      "--max_predictions_per_seq=%d" % scale.max_predictions_per_seq,
      "--train_batch_size=%d" % scale.train_batch_size,
      "--learning_rate=%g" % scale.learning_rate,
      "--num_train_steps=%d" % steps,
      "--num_warmup_steps=%d" % scale.num_warmup_steps,
      "--linguistic_tasks=" + ",".join(variant.linguistic_tasks),
      "--lip_schedule=" + variant.lip_schedule,
      "--lip_order=" + variant.lip_order,
      "--save_checkpoints_steps=%d" % max(1, min(10000, steps // 3))]
  command += shlex.split(FLAGS.pretraining_flags)
  return cells.Cell("pretrain", "pretrain %s" % key, command, None,
                    os.path.join(directory, "model.ckpt-%d.index" % steps),
                    directory, [os.path.join(HERE, scale.bert_config)],
                    (records.name,), None)


def guard_cell(scale, pretrain, records):
  """The collapse guard of a pre-training (check_collapse.py) on its own
  records: fine-tuning a collapsed encoder is skipped."""
  directory = _path("guard", os.path.basename(pretrain.directory))
  command = _script("check_collapse.py") + [
      "--bert_config_file=" + os.path.join(HERE, scale.bert_config),
      "--init_checkpoint=" + pretrain.done_file[:-len(".index")],
      "--input_file=" + os.path.join(records.directory, "part-*.tfrecord"),
      "--output_file=" + os.path.join(directory, "guard.json"),
      "--cosine_limit=%g" % FLAGS.cosine_limit]
  return cells.Cell("guard", "guard %s" % os.path.basename(
      pretrain.directory), command, None, os.path.join(directory,
                                                       "guard.json"),
                    directory, [os.path.join(HERE, scale.bert_config)],
                    (pretrain.name, records.name), None)


def encoder_of(scale, pretrain, random_flag):
  """(directory name, flags) of the encoder a cell starts from: the last
  checkpoint of `pretrain`, or with None random weights (`random_flag`,
  the from-scratch row: `<model>-scratch`)."""
  if pretrain is None:
    return ("%s-scratch" % variants.model_key(scale).rsplit("-", 1)[0],
            [random_flag])
  return (os.path.basename(pretrain.directory),
          ["--init_checkpoint=" + pretrain.done_file[:-len(".index")]])


def probe_cell(scale, pretrain, guard):
  """run_probe.py on the encoder of `pretrain` (None: random weights, the
  control) with the probe data of the flags."""
  key, start = encoder_of(scale, pretrain, "--random_init")
  directory = _path("probe", key)
  data = []
  if FLAGS.probe_tagged:
    data.append("--tagged_file=" + FLAGS.probe_tagged)
  if FLAGS.probe_conllu:
    train, test = FLAGS.probe_conllu.split(",")
    data += ["--conllu_train=" + train, "--conllu_test=" + test]
  command = _script("run_probe.py") + [
      "--bert_config_file=" + os.path.join(HERE, scale.bert_config),
      "--vocab_file=" + FLAGS.vocab_file] + start + data + [
          "--output_dir=" + directory]
  return cells.Cell("probe", "probe %s" % key, command, None,
                    os.path.join(directory, "probe.tsv"), directory,
                    [os.path.join(HERE, scale.bert_config), FLAGS.vocab_file]
                    + [a.split("=", 1)[1] for a in data],
                    tuple(c.name for c in (pretrain, guard) if c), None)


def finetune_cell(scale, task, seed, pretrain, guard, data, size=None):
  """A fine-tuning of `pretrain` (None: from random weights) on a task's
  data (of `size` training examples: None, the scale's)."""
  task_recipe = recipe.FINETUNE_TASKS[task]
  length, epochs, learning_rate, batch = recipe.finetune_recipe(scale, task)
  pretrained, start = encoder_of(scale, pretrain, "--train_from_scratch")
  task_dir = task + ("-n%d" % size if size else "")
  directory = _path("finetune", pretrained, task_dir, "seed-%d" % seed)
  paths = task_data.task_data_paths(FLAGS.output_dir, task, size)
  command = _script(task_recipe.script) + [
      "--bert_config_file=" + os.path.join(HERE, scale.bert_config),
      "--vocab_file=" + FLAGS.vocab_file] + start + [
          "--train_file=" + paths.train, "--eval_file=" + paths.dev,
          "--do_train", "--do_eval", "--output_dir=" + directory,
          "--max_seq_length=%d" % length, "--num_train_epochs=%g" % epochs,
          "--learning_rate=%g" % learning_rate,
          "--train_batch_size=%d" % batch, "--random_seed=%d" % seed,
          "--save_checkpoints_steps=100000", "--keep_checkpoint_max=1"]
  if task_recipe.script == "run_classifier.py":
    command.append("--task_name=" + task)
  command += shlex.split(FLAGS.finetuning_flags)
  name = "finetune %s %s seed %d" % (pretrained, task_dir, seed)
  upstream = tuple(c.name for c in (pretrain, guard) if c) + (data.name,)
  return cells.Cell("finetune", name, command, None,
                    os.path.join(directory, "eval_results.txt"), directory,
                    [os.path.join(HERE, scale.bert_config), FLAGS.vocab_file],
                    upstream, None)


def collapsed(guard_file):
  """The guard's report (a dict) when it says the encoder collapsed, else
  None (healthy, or not checked yet)."""
  if guard_file is None or not os.path.exists(guard_file):
    return None
  report = cells.read_guard(guard_file)
  return report if report["collapsed"] else None


def collapsed_row(report):
  """A table's row for an encoder whose guard `report` says it collapsed:
  the text that says so, with the figures; None for any other."""
  if report and report["collapsed"]:
    return "collapsed (%s)" % tables.show_guard(report)
  return None


def skip_collapsed(guards):
  """run_cells' `skip`: a fine-tuning cell of a collapsed encoder is not
  run (its table row says collapsed)."""
  def skip(cell):
    for name in cell.upstream:
      report = collapsed(guards.get(name))
      if report:
        return "%s: its encoder collapsed (%s)" % (
            cell.name, tables.show_guard(report))
    return None
  return skip


def experiment_rows(results, tasks):
  """experiment -> (rows, health) of the finished Results: per variant its
  row of scores over seeds (or, for a collapsed encoder, the text that says
  so) and the guard's report of each pre-trained variant."""
  by_experiment = collections.OrderedDict()
  for result in results:
    per_variant = by_experiment.setdefault(result.experiment,
                                           collections.OrderedDict())
    if result.variant not in per_variant:
      per_variant[result.variant] = {
          "guard": result.guard and cells.read_guard(result.guard),
          "seeds": collections.defaultdict(dict)}
    entry = per_variant[result.variant]
    if collapsed_row(entry["guard"]):
      continue
    metrics = tables.read_metrics(result.path)
    for metric in recipe.FINETUNE_TASKS[result.task].metrics:
      if metric not in metrics:
        raise script_errors.InputError("%s has no %s." % (result.path,
                                                           metric))
      entry["seeds"][result.seed][result.task, metric, result.size] = (
          tables.percent(metric, metrics[metric]))
  tabulated = collections.OrderedDict()
  for name, per_variant in by_experiment.items():
    rows, health = [], []
    for variant, entry in per_variant.items():
      if entry["guard"]:
        health.append((variant, entry["guard"]))
      if collapsed_row(entry["guard"]):
        rows.append((variant, collapsed_row(entry["guard"])))
        continue
      seeds = entry["seeds"]
      rows.append((variant, tables.sized_row(
          [seeds[s] for s in sorted(seeds)], tasks)))
    tabulated[name] = rows, health
  return tabulated


def write_tables(results, command):
  """results/<experiment>.md and .tsv (and figure3.png, lowresource.png)
  from the cells; a variant whose encoder collapsed is a row that says so,
  and every pre-trained variant's guard figures are tabulated."""
  probed = [r for r in results if r.experiment == "probe"]
  written = []
  os.makedirs(_path("results"), exist_ok=True)
  for name, (rows, health) in experiment_rows(
      [r for r in results if r.experiment != "probe"], FLAGS.tasks).items():
    markdown, tsv = tables.format_tables(
        variants.EXPERIMENTS[name].title, rows, command, health)
    atomic_files.write_text(_path("results", name + ".md"), markdown)
    atomic_files.write_text(_path("results", name + ".tsv"), tsv)
    written += [_path("results", name + ".md"),
                _path("results", name + ".tsv")]
    if name == "lowresource" and not figures.available():
      print("lowresource.png not drawn: matplotlib is not installed.")
    elif name in ("figure3", "lowresource"):
      figure = _path("results", name + ".png")
      if name == "figure3":
        tables.draw_figure3(figure, rows)
      else:
        tables.draw_curve(figure, rows, FLAGS.tasks)
      written.append(figure)
    print(markdown)
  if probed:
    written += write_probe_tables(probed, command)
  return written


def report(results):
  """--report: prints the tables of what has finished so far, without
  running or writing anything (a run may hold the directory meanwhile): per
  experiment and task, the seeds finished for every variant."""
  def done(result):
    return os.path.exists(result.path) or collapsed(result.guard)

  for name in FLAGS.experiment:
    if name == "probe":
      probed = [r for r in results if r.experiment == "probe" and done(r)]
      if probed:
        print(probe_comparison(probed, None)[0])
      continue
    for task in FLAGS.tasks:
      mine = [r for r in results if (r.experiment, r.task) == (name, task)]
      seeds = sorted({r.seed for r in mine if all(
          done(o) for o in mine if o.seed == r.seed)})
      title = "%s: %s, seeds %s of %d finished" % (
          variants.EXPERIMENTS[name].title, task,
          ",".join(str(n) for n in seeds) or "none",
          len({r.seed for r in mine}))
      if not seeds:
        print("## %s\n" % title)
        continue
      rows, health = experiment_rows([r for r in mine if r.seed in seeds],
                                     [task])[name]
      print(tables.format_tables(title, rows, None, health)[0])


def probe_comparison(probed, command):
  """(Markdown, TSV, runs) of the finished probe cells."""
  from lert.probing import probe_tables
  runs = []
  for result in probed:
    guard = result.guard and cells.read_guard(result.guard)
    runs.append((result.variant, collapsed_row(guard) or
                 probe_tables.read_probe_tsv(result.path)))
  markdown, tsv = probe_tables.format_comparison(
      variants.EXPERIMENTS["probe"].title, runs, command)
  return markdown, tsv, runs


def write_probe_tables(probed, command):
  """results/probe.md, .tsv and .png: each task's probe accuracy by
  variant and layer (a collapsed variant is a row that says so)."""
  from lert.probing import probe_tables
  markdown, tsv, runs = probe_comparison(probed, command)
  paths = [_path("results", "probe" + ext) for ext in (".md", ".tsv",
                                                        ".png")]
  atomic_files.write_text(paths[0], markdown)
  atomic_files.write_text(paths[1], tsv)
  if figures.available():
    probe_tables.draw_comparison(paths[2], runs)
  else:
    print("probe.png not drawn: matplotlib is not installed.")
    paths.pop()
  print(markdown)
  return paths


OUTPUTS = ("data", "records", "pretrain", "guard", "finetune", "probe",
           "logs", "results", cells.CELL_RECORD, cells.CELL_RECORD + ".tmp")


def main(_):
  script_errors.run_reporting_errors(run, "run_experiments.py")


def run():
  # The cells' scripts get absolute paths: they may run from anywhere.
  corpus_files = [os.path.abspath(p) for p in
                  input_reading.expand_input_files(FLAGS.corpus,
                                                   flag="--corpus")]
  FLAGS.output_dir = os.path.abspath(FLAGS.output_dir)
  FLAGS.vocab_file = os.path.abspath(FLAGS.vocab_file)
  if FLAGS.data_dir:
    FLAGS.data_dir = os.path.abspath(FLAGS.data_dir)
  fine_tunes = any(name != "probe" for name in FLAGS.experiment)
  if fine_tunes and not FLAGS.data_dir and FLAGS.tasks and not FLAGS.dry_run:
    raise script_errors.InputError(
        "--data_dir is needed to fine-tune on %s." % ",".join(FLAGS.tasks))
  for flag, experiment in (("train_sizes", "lowresource"),
                           ("probe_tagged", "probe"),
                           ("probe_conllu", "probe")):
    if getattr(FLAGS, flag) and experiment not in FLAGS.experiment:
      raise script_errors.InputError(
          "--%s is for --experiment=%s, which this run does not include "
          "(--experiment=%s)." % (flag, experiment,
                                  ",".join(FLAGS.experiment)))
  if "probe" in FLAGS.experiment and not (FLAGS.probe_tagged or
                                          FLAGS.probe_conllu):
    raise script_errors.InputError(
        "--experiment=probe needs --probe_tagged (held-out tagged text: "
        "pos, ner) and/or --probe_conllu (train,test CoNLL-U: upos, "
        "deprel).")
  for flag in ("probe_tagged", "probe_conllu"):
    if getattr(FLAGS, flag):
      setattr(FLAGS, flag, ",".join(os.path.abspath(p) for p in getattr(
          FLAGS, flag).split(",")))
  if FLAGS.probe_tagged in corpus_files:
    raise script_errors.InputError(
        "--probe_tagged=%s is in --corpus: the probes need text that "
        "pre-training never saw (convert_pku_corpus.py --held_out_file "
        "sets it aside)." % FLAGS.probe_tagged)
  corpus_tasks = read_corpus_tasks(corpus_files)
  planned, results, notes = plan(corpus_files, corpus_tasks)
  for note in notes:
    print("Note: " + note)
  if not results:
    raise script_errors.InputError(
        "No variant of %s can be trained on this corpus (its tags: %s)."
        % (",".join(FLAGS.experiment),
           ",".join(corpus_tasks) or "none"))
  if FLAGS.report:
    report(results)
    return
  # Every mistake that a cell would meet is found before the first cell.
  cells.check_cell_flags(planned, check_devices=not FLAGS.dry_run)
  if FLAGS.dry_run:
    for cell in planned:
      print("# " + cell.name)
      print(cells.show(cell.command) if cell.command else
            "(prepared by run_experiments.py: %s)" % os.path.dirname(
                cell.done_file))
    return
  cells.check_task_data(planned)
  # What decides each cell is recorded with it (cells.json): the directory
  # as a whole records only that.
  # Results of the runner before the collapse guard (which tabulated
  # collapsed encoders as scores) are refused, not reused.
  settings = collections.OrderedDict([("cells_recorded_in",
                                       cells.CELL_RECORD),
                                      ("collapse_guard", True)])
  with outputs.OutputDirectory(
      FLAGS.output_dir, "run_experiments.py", settings, OUTPUTS,
      inputs=corpus_files + [FLAGS.data_dir],
      overwrite=FLAGS.overwrite) as directory:
    record = cells.read_cell_record(FLAGS.output_dir)
    states = cells.cell_states(planned, record)
    changed = cells.changed_cells(states)
    if changed and not FLAGS.overwrite:
      raise script_errors.InputError(cells.explain_change(
          changed[0], len(changed) - 1, FLAGS.output_dir))
    start = time.time()
    guards = {c.name: c.done_file for c in planned if c.kind == "guard"}
    cells.run_cells(states, directory, record, FLAGS.overwrite,
                    skip=skip_collapsed(guards))
    command = "python run_experiments.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    written = write_tables(results, command)
    print("Finished in %s; wrote %s" % (cells.duration(time.time() - start),
                                        ", ".join(written)))


def read_corpus_tasks(corpus_files):
  """The tags of the corpus: read from it (to the first document with each,
  else to its end), or --corpus_tasks checked against it."""
  wanted = FLAGS.corpus_tasks or linguistic_tags.TASKS
  found = tagged_documents.find_corpus_tags(corpus_files, wanted)
  tasks = [t for t in linguistic_tags.TASKS if t in found]
  if FLAGS.corpus_tasks:
    missing = [t for t in FLAGS.corpus_tasks if t not in found]
    if missing:
      raise script_errors.InputError(
          "--corpus_tasks=%s, but no document of --corpus (%s) carries %s "
          "tags: pass --corpus_tasks=%s, or tag the corpus with "
          "linguistic_tagger.py." % (
              ",".join(FLAGS.corpus_tasks), corpus_files[0],
              "/".join(t.upper() for t in missing),
              ",".join(t for t in FLAGS.corpus_tasks if t in found)))
  else:
    print("The corpus carries %s tags%s." % (
        "/".join(t.upper() for t in tasks) or "no", "" if len(tasks) == 3
        else " (no document has %s)" % "/".join(
            t.upper() for t in linguistic_tags.TASKS if t not in found)))
  return tasks


if __name__ == "__main__":
  define_flags()
  app.run(main)
