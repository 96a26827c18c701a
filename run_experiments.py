# coding=utf-8
r"""One command per table and figure of the paper: Table 7, 8, 9, Figure 3.

For each variant of the experiment (experiments.EXPERIMENTS) this makes the
records it needs from one tagged corpus, pre-trains it with the settings of
the scale, fine-tunes it on the tasks over the seeds, and writes the table
in the paper's layout (docs/experiments.md):

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
import subprocess
import sys
import time

from absl import app
from absl import flags

import experiments
import input_reading
import linguistic_tags
import outputs
import script_errors
import script_flags

FLAGS = flags.FLAGS
HERE = os.path.dirname(os.path.abspath(__file__))


def define_flags(flag_values=FLAGS):
  define = script_flags.FlagDefiner(flag_values)
  define.list("experiment", None,
              "table7, table8, figure3 and/or table9 (comma-separated; "
              "variants with the same settings share their cells).")
  define.enum("scale", "mini", list(experiments.SCALES) + ["test"],
              "mini (CPU, a tiny model, minutes per variant), small "
              "(one GPU, LERT-small), paper (the paper's recipe), or "
              "test (a few steps, for the test suite).")
  define.string("output_dir", None, "Where every cell and the tables "
                "go.")
  define.string("corpus", None,
                "Tagged JSON Lines (globs, comma-separated) to make "
                "the pre-training records of: linguistic_tagger.py's "
                "or convert_pku_corpus.py's output.")
  define.list("corpus_tasks", list(linguistic_tags.TASKS),
              "The tags the corpus has: variants that need another are "
              "left out (People's Daily: pos,ner).")
  define.string("data_dir", None,
                "Holds each task's public data in <data_dir>/<task>/ "
                "(docs/finetuning.md lists the files).")
  define.list("tasks", list(experiments.FINETUNE_TASKS),
              "Fine-tuning tasks (any of the ten).")
  define.integer("seeds", None, "Fine-tuning runs per task, seeds "
                 "1..N (default: the scale's, 3 or 5).")
  define.list("variants", None, "Only these variants (the names of the "
              "paper's table, e.g. MLM,+POS).")
  define.integer("num_workers", 2, "Processes making records.")
  define.string("vocab_file", "configs/vocab.txt", "WordPiece "
                "vocabulary.")
  define.string("pretraining_flags", "",
                "More flags for run_pretraining.py (e.g. '--use_tpu "
                "--tpu_name=my-tpu' or '--num_gpus=8').")
  define.string("finetuning_flags", "",
                "More flags for the fine-tuning scripts.")
  define.bool("dry_run", False, "Print every command; run nothing.")
  define.bool("overwrite", False,
              "Replace what an earlier run with other settings wrote "
              "in --output_dir.")
  define.required("experiment", "output_dir", "corpus")
  define.validator(
      "experiment", lambda names: names is None or (names and all(
          n in experiments.EXPERIMENTS for n in names)),
      message="--experiment must name table7, table8, figure3 or table9.")
  define.validator(
      "tasks", lambda names: all(n in experiments.FINETUNE_TASKS
                                 for n in names),
      message="--tasks must be a subset of %s." % ",".join(
          experiments.FINETUNE_TASKS))
  define.validator(
      "corpus_tasks", lambda names: names and all(
          n in linguistic_tags.TASKS for n in names),
      message="--corpus_tasks must be a subset of pos,ner,dep.")
  define.validator("seeds", lambda n: n is None or n >= 1,
                   message="--seeds must be at least 1.")
  define.at_least_one("num_workers")


def scale_of(name):
  return experiments.TEST_SCALE if name == "test" else experiments.SCALES[name]


# One step of the experiment: its kind (data, records, pretrain,
# finetune), a name for the progress line, the command (None: done here by
# `action`), and the file whose existence says it is finished.
Cell = collections.namedtuple("Cell", ["kind", "name", "command", "action",
                                       "done_file"])

# A fine-tuning result: experiment, variant, task, seed and its cell's
# eval_results.txt.
Result = collections.namedtuple("Result", ["experiment", "variant", "task",
                                           "seed", "path"])


def _script(name):
  return [sys.executable, os.path.join(HERE, name)]


def _path(*parts):
  return os.path.join(FLAGS.output_dir, *parts)


def plan(corpus_files):
  """The cells of the flags' experiments, in order, and the Results the
  tables read. Cells shared by several experiments appear once."""
  cells, results, seen = [], [], set()
  notes = []

  def add(cell):
    if cell.done_file not in seen:
      seen.add(cell.done_file)
      cells.append(cell)

  experiments.check_variant_names(FLAGS.experiment, FLAGS.variants)
  base = scale_of(FLAGS.scale)
  seeds = list(range(1, (FLAGS.seeds or base.seeds) + 1))
  for task in FLAGS.tasks:
    paths = experiments.task_data_paths(FLAGS.output_dir, task)
    source = (experiments.find_task_source(FLAGS.data_dir, task)
              if not FLAGS.dry_run or FLAGS.data_dir else None)
    add(Cell("data", "data %s" % task, None,
             lambda t=task, s=source, p=paths: experiments.prepare_task_data(
                 s, t, p, base.max_train_examples, base.max_eval_examples),
             paths.counts))
  for name in FLAGS.experiment:
    scale = experiments.resolve_scale(base, name)
    variants, dropped = experiments.variants_for(name, FLAGS.corpus_tasks,
                                                 FLAGS.variants)
    notes.extend(dropped)
    for variant in variants:
      records = records_cell(scale, variant.masking, corpus_files)
      add(records)
      pretrain = pretrain_cell(scale, variant, records.done_file)
      add(pretrain)
      for task in FLAGS.tasks:
        for seed in seeds:
          cell = finetune_cell(scale, variant, task, seed, pretrain.done_file)
          add(cell)
          results.append(Result(name, variant.name, task, seed,
                                cell.done_file))
  return cells, results, notes


def records_cell(scale, masking, corpus_files):
  directory = _path("records", masking)
  num_files = 1 if scale.name in ("mini", "test") else 8
  files = [os.path.join(directory, "part-%02d.tfrecord" % i)
           for i in range(num_files)]
  command = _script("create_pretraining_data.py") + [
      "--input_file=" + ",".join(corpus_files),
      "--output_file=" + ",".join(files),
      "--vocab_file=" + FLAGS.vocab_file,
      "--max_seq_length=%d" % scale.max_seq_length,
      "--max_predictions_per_seq=%d" % scale.max_predictions_per_seq,
      "--dupe_factor=%d" % scale.dupe_factor,
      "--linguistic_masking=" + masking,
      "--num_workers=%d" % FLAGS.num_workers]
  return Cell("records", "records %s" % masking, command, None, files[-1])


def pretrain_cell(scale, variant, records_file):
  key = "%s-%s" % (experiments.model_key(scale),
                   experiments.variant_key(variant))
  directory = _path("pretrain", key)
  steps = scale.num_train_steps
  command = _script("run_pretraining.py") + [
      "--bert_config_file=" + os.path.join(HERE, scale.bert_config),
      "--input_file=" + os.path.join(os.path.dirname(records_file),
                                     "part-*.tfrecord"),
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
  return Cell("pretrain", "pretrain %s" % key, command, None,
              os.path.join(directory, "model.ckpt-%d.index" % steps))


def finetune_cell(scale, variant, task, seed, checkpoint_index):
  recipe = experiments.FINETUNE_TASKS[task]
  length, epochs, learning_rate, batch = experiments.finetune_recipe(scale,
                                                                     task)
  pretrained = os.path.basename(os.path.dirname(checkpoint_index))
  directory = _path("finetune", pretrained, task, "seed-%d" % seed)
  data = experiments.task_data_paths(FLAGS.output_dir, task)
  command = _script(recipe.script) + [
      "--bert_config_file=" + os.path.join(HERE, scale.bert_config),
      "--vocab_file=" + FLAGS.vocab_file,
      "--init_checkpoint=" + checkpoint_index[:-len(".index")],
      "--train_file=" + data.train, "--eval_file=" + data.dev,
      "--do_train", "--do_eval", "--output_dir=" + directory,
      "--max_seq_length=%d" % length, "--num_train_epochs=%g" % epochs,
      "--learning_rate=%g" % learning_rate, "--train_batch_size=%d" % batch,
      "--random_seed=%d" % seed, "--save_checkpoints_steps=100000",
      "--keep_checkpoint_max=1"]
  if recipe.script == "run_classifier.py":
    command.append("--task_name=" + task)
  command += shlex.split(FLAGS.finetuning_flags)
  return Cell("finetune", "finetune %s %s seed %d" % (pretrained, task, seed),
              command, None, os.path.join(directory, "eval_results.txt"))


def show(command):
  return " ".join(shlex.quote(part) for part in command)


def run_cell(cell):
  """Runs one cell; its script's output goes to <output_dir>/logs/."""
  os.makedirs(os.path.dirname(cell.done_file), exist_ok=True)
  if cell.action is not None:
    cell.action()
    return
  os.makedirs(_path("logs"), exist_ok=True)
  log_path = _path("logs", cell.name.replace(" ", "_") + ".log")
  with outputs.atomic_open(log_path) as log:
    log.write(show(cell.command) + "\n")
    log.flush()
    child = subprocess.Popen(cell.command, stdout=log, stderr=log)
    try:
      code = child.wait()
    except BaseException:  # a signal (script_errors.Stopped): stop it too
      child.terminate()
      try:
        child.wait(timeout=60)
      except subprocess.TimeoutExpired:
        child.kill()
      raise
  if code != 0 or not os.path.exists(cell.done_file):
    with open(log_path, encoding="utf-8", errors="replace") as f:
      lines = [line.strip() for line in f if line.strip()]
    raise script_errors.InputError(
        "%s failed (exit %d): %s (the log: %s)." % (
            cell.name, code, lines[-1] if lines else "no output", log_path))


def _duration(seconds):
  if seconds >= 3600:
    return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
  if seconds >= 60:
    return "%dm%02ds" % (seconds // 60, seconds % 60)
  return "%ds" % seconds


def run_cells(cells):
  """Runs the unfinished cells in order, with a progress line."""
  pending = [c for c in cells if not os.path.exists(c.done_file)]
  print("%d cells, %d finished earlier, %d to run." % (
      len(cells), len(cells) - len(pending), len(pending)))
  spent = collections.defaultdict(list)
  for number, cell in enumerate(pending, 1):
    left = pending[number - 1:]
    known = [sum(spent[c.kind]) / len(spent[c.kind]) for c in left
             if spent[c.kind]]
    estimate = "time left estimated after a first cell of each kind"
    if len(known) == len(left):
      estimate = "about %s left" % _duration(sum(known))
    print("[%d/%d] %s (%d remain; %s)" % (number, len(pending), cell.name,
                                          len(left) - 1, estimate))
    sys.stdout.flush()
    start = time.time()
    run_cell(cell)
    spent[cell.kind].append(time.time() - start)


def write_tables(results, command):
  """results/<experiment>.md and .tsv (and figure3.png) from the cells."""
  by_experiment = collections.OrderedDict()
  for result in results:
    by_experiment.setdefault(result.experiment, collections.OrderedDict())
    seeds = by_experiment[result.experiment].setdefault(
        result.variant, collections.defaultdict(dict))
    metrics = experiments.read_metrics(result.path)
    for metric in experiments.FINETUNE_TASKS[result.task].metrics:
      if metric not in metrics:
        raise script_errors.InputError("%s has no %s." % (result.path,
                                                           metric))
      seeds[result.seed][result.task, metric] = experiments.percent(
          metric, metrics[metric])
  written = []
  os.makedirs(_path("results"), exist_ok=True)
  for name, variants in by_experiment.items():
    rows = [(variant, experiments.variant_row(
        [seeds[s] for s in sorted(seeds)], FLAGS.tasks))
            for variant, seeds in variants.items()]
    markdown, tsv = experiments.format_tables(
        experiments.EXPERIMENTS[name].title, rows, command)
    outputs.write_text(_path("results", name + ".md"), markdown)
    outputs.write_text(_path("results", name + ".tsv"), tsv)
    written += [_path("results", name + ".md"), _path("results", name + ".tsv")]
    if name == "figure3":
      experiments.draw_figure3(_path("results", "figure3.png"), rows)
      written.append(_path("results", "figure3.png"))
    print(markdown)
  return written


OUTPUTS = ("data", "records", "pretrain", "finetune", "logs", "results")


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
  if not FLAGS.data_dir and FLAGS.tasks and not FLAGS.dry_run:
    raise script_errors.InputError(
        "--data_dir is needed to fine-tune on %s." % ",".join(FLAGS.tasks))
  cells, results, notes = plan(corpus_files)
  for note in notes:
    print("Note: " + note)
  if not results:
    raise script_errors.InputError(
        "No variant of %s can be trained on this corpus (--corpus_tasks=%s)."
        % (",".join(FLAGS.experiment), ",".join(FLAGS.corpus_tasks)))
  if FLAGS.dry_run:
    for cell in cells:
      print("# " + cell.name)
      print(show(cell.command) if cell.command else
            "(prepared by run_experiments.py: %s)" % os.path.dirname(
                cell.done_file))
    return
  scale = scale_of(FLAGS.scale)
  settings = collections.OrderedDict([
      ("scale", scale._asdict()),
      ("corpus", [outputs.describe_file(p) for p in corpus_files]),
      ("corpus_tasks", FLAGS.corpus_tasks),
      ("data_dir", os.path.abspath(FLAGS.data_dir or "")),
      ("vocab_file", outputs.describe_file(FLAGS.vocab_file)),
      ("pretraining_flags", FLAGS.pretraining_flags),
      ("finetuning_flags", FLAGS.finetuning_flags)])
  with outputs.OutputDirectory(
      FLAGS.output_dir, "run_experiments.py", settings, OUTPUTS,
      inputs=corpus_files + [FLAGS.data_dir], overwrite=FLAGS.overwrite):
    start = time.time()
    run_cells(cells)
    command = "python run_experiments.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    written = write_tables(results, command)
    print("Finished in %s; wrote %s" % (_duration(time.time() - start),
                                        ", ".join(written)))


if __name__ == "__main__":
  define_flags()
  app.run(main)
