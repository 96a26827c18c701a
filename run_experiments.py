# coding=utf-8
r"""One command per table and figure of the paper: Table 7, 8, 9, Figure 3.

For each variant of the experiment (variants.EXPERIMENTS) this makes the
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
import sys
import time

from absl import app
from absl import flags

from lert.contract import atomic_files
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
              "table7, table8, figure3 and/or table9 (comma-separated; "
              "variants with the same settings share their cells).")
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
              "Redo the finished cells whose settings or inputs changed "
              "(and the cells that depend on them), removing only what "
              "they wrote; the other cells are kept.")
  define.required("experiment", "output_dir", "corpus")
  define.validator(
      "experiment", lambda names: names is None or (names and all(
          n in variants.EXPERIMENTS for n in names)),
      message="--experiment must name table7, table8, figure3 or table9.")
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


# A fine-tuning result: experiment, variant, task, seed and its cell's
# eval_results.txt.
Result = collections.namedtuple("Result", ["experiment", "variant", "task",
                                           "seed", "path"])


def _script(name):
  return [sys.executable, os.path.join(HERE, name)]


def _path(*parts):
  return os.path.join(FLAGS.output_dir, *parts)


def plan(corpus_files, corpus_tasks):
  """The cells of the flags' experiments, in order, and the Results the
  tables read. Cells shared by several experiments appear once."""
  planned, results, seen = [], [], set()
  notes = []

  def add(cell):
    if cell.done_file not in seen:
      seen.add(cell.done_file)
      planned.append(cell)

  variants.check_variant_names(FLAGS.experiment, FLAGS.variants)
  base = scale_of(FLAGS.scale)
  seeds = list(range(1, (FLAGS.seeds or base.seeds) + 1))
  for task in FLAGS.tasks:
    paths = task_data.task_data_paths(FLAGS.output_dir, task)
    source = (task_data.find_task_source(FLAGS.data_dir, task)
              if not FLAGS.dry_run or FLAGS.data_dir else None)
    add(cells.Cell(
        "data", "data %s" % task, None,
        lambda t=task, s=source, p=paths: task_data.prepare_task_data(
            s, t, p, base.max_train_examples, base.max_eval_examples),
        paths.counts, os.path.dirname(paths.counts),
        [p for p in source or () if p], (),
        {"task": task, "max_train_examples": base.max_train_examples,
         "max_eval_examples": base.max_eval_examples}))
  for name in FLAGS.experiment:
    scale = variants.resolve_scale(base, name)
    chosen, dropped = variants.variants_for(name, corpus_tasks,
                                            FLAGS.variants)
    notes.extend(dropped)
    for variant in chosen:
      records = records_cell(scale, variant.masking, corpus_files)
      add(records)
      pretrain = pretrain_cell(scale, variant, records)
      add(pretrain)
      for task in FLAGS.tasks:
        for seed in seeds:
          cell = finetune_cell(scale, variant, task, seed, pretrain)
          add(cell)
          results.append(Result(name, variant.name, task, seed,
                                cell.done_file))
  return planned, results, notes


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


def finetune_cell(scale, variant, task, seed, pretrain):
  task_recipe = recipe.FINETUNE_TASKS[task]
  length, epochs, learning_rate, batch = recipe.finetune_recipe(scale, task)
  checkpoint_index = pretrain.done_file
  pretrained = os.path.basename(pretrain.directory)
  directory = _path("finetune", pretrained, task, "seed-%d" % seed)
  data = task_data.task_data_paths(FLAGS.output_dir, task)
  command = _script(task_recipe.script) + [
      "--bert_config_file=" + os.path.join(HERE, scale.bert_config),
      "--vocab_file=" + FLAGS.vocab_file,
      "--init_checkpoint=" + checkpoint_index[:-len(".index")],
      "--train_file=" + data.train, "--eval_file=" + data.dev,
      "--do_train", "--do_eval", "--output_dir=" + directory,
      "--max_seq_length=%d" % length, "--num_train_epochs=%g" % epochs,
      "--learning_rate=%g" % learning_rate, "--train_batch_size=%d" % batch,
      "--random_seed=%d" % seed, "--save_checkpoints_steps=100000",
      "--keep_checkpoint_max=1"]
  if task_recipe.script == "run_classifier.py":
    command.append("--task_name=" + task)
  command += shlex.split(FLAGS.finetuning_flags)
  name = "finetune %s %s seed %d" % (pretrained, task, seed)
  return cells.Cell("finetune", name, command, None,
                    os.path.join(directory, "eval_results.txt"), directory,
                    [os.path.join(HERE, scale.bert_config), FLAGS.vocab_file],
                    (pretrain.name, "data %s" % task), None)


def write_tables(results, command):
  """results/<experiment>.md and .tsv (and figure3.png) from the cells."""
  by_experiment = collections.OrderedDict()
  for result in results:
    by_experiment.setdefault(result.experiment, collections.OrderedDict())
    seeds = by_experiment[result.experiment].setdefault(
        result.variant, collections.defaultdict(dict))
    metrics = tables.read_metrics(result.path)
    for metric in recipe.FINETUNE_TASKS[result.task].metrics:
      if metric not in metrics:
        raise script_errors.InputError("%s has no %s." % (result.path,
                                                           metric))
      seeds[result.seed][result.task, metric] = tables.percent(
          metric, metrics[metric])
  written = []
  os.makedirs(_path("results"), exist_ok=True)
  for name, per_variant in by_experiment.items():
    rows = [(variant, tables.variant_row(
        [seeds[s] for s in sorted(seeds)], FLAGS.tasks))
            for variant, seeds in per_variant.items()]
    markdown, tsv = tables.format_tables(
        variants.EXPERIMENTS[name].title, rows, command)
    atomic_files.write_text(_path("results", name + ".md"), markdown)
    atomic_files.write_text(_path("results", name + ".tsv"), tsv)
    written += [_path("results", name + ".md"),
                _path("results", name + ".tsv")]
    if name == "figure3":
      tables.draw_figure3(_path("results", "figure3.png"), rows)
      written.append(_path("results", "figure3.png"))
    print(markdown)
  return written


OUTPUTS = ("data", "records", "pretrain", "finetune", "logs", "results",
           cells.CELL_RECORD, cells.CELL_RECORD + ".tmp")


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
  corpus_tasks = read_corpus_tasks(corpus_files)
  planned, results, notes = plan(corpus_files, corpus_tasks)
  for note in notes:
    print("Note: " + note)
  if not results:
    raise script_errors.InputError(
        "No variant of %s can be trained on this corpus (its tags: %s)."
        % (",".join(FLAGS.experiment),
           ",".join(corpus_tasks) or "none"))
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
  settings = collections.OrderedDict([("cells_recorded_in",
                                       cells.CELL_RECORD)])
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
    cells.run_cells(states, directory, record, FLAGS.overwrite)
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
