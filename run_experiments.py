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
import hashlib
import importlib
import io
import json
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
import pretraining_data
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
  define.list("corpus_tasks", None,
              "The tags the corpus has (default: read from the corpus): "
              "variants that need another are left out (People's Daily: "
              "pos,ner). Each one named must be in the corpus.")
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
              "Redo the finished cells whose settings or inputs changed "
              "(and the cells that depend on them), removing only what "
              "they wrote; the other cells are kept.")
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
      "corpus_tasks", lambda names: names is None or (names and all(
          n in linguistic_tags.TASKS for n in names)),
      message="--corpus_tasks must be a subset of pos,ner,dep.")
  define.validator("seeds", lambda n: n is None or n >= 1,
                   message="--seeds must be at least 1.")
  define.at_least_one("num_workers")


def scale_of(name):
  return experiments.TEST_SCALE if name == "test" else experiments.SCALES[name]


# One step of the experiment: its kind (data, records, pretrain,
# finetune), a name for the progress line, the command (None: done here by
# `action`), the file whose existence says it is finished, the directory
# it writes, the files whose content decides it (`inputs`), the cells it
# reads (`upstream`, by name) and, for an action, what decides it
# (`recipe`). A cell's record (cell_settings) is all of that but the file
# names it writes.
Cell = collections.namedtuple("Cell", [
    "kind", "name", "command", "action", "done_file", "directory", "inputs",
    "upstream", "recipe"])

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
             paths.counts, os.path.dirname(paths.counts),
             [p for p in source or () if p], (),
             {"task": task, "max_train_examples": base.max_train_examples,
              "max_eval_examples": base.max_eval_examples}))
  for name in FLAGS.experiment:
    scale = experiments.resolve_scale(base, name)
    variants, dropped = experiments.variants_for(name, corpus_tasks,
                                                 FLAGS.variants)
    notes.extend(dropped)
    for variant in variants:
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
  return Cell("records", "records %s" % masking, command, None, files[-1],
              directory, list(corpus_files) + [FLAGS.vocab_file], (), None)


def pretrain_cell(scale, variant, records):
  key = "%s-%s" % (experiments.model_key(scale),
                   experiments.variant_key(variant))
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
  return Cell("pretrain", "pretrain %s" % key, command, None,
              os.path.join(directory, "model.ckpt-%d.index" % steps),
              directory, [os.path.join(HERE, scale.bert_config)],
              (records.name,), None)


def finetune_cell(scale, variant, task, seed, pretrain):
  recipe = experiments.FINETUNE_TASKS[task]
  length, epochs, learning_rate, batch = experiments.finetune_recipe(scale,
                                                                     task)
  checkpoint_index = pretrain.done_file
  pretrained = os.path.basename(pretrain.directory)
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
              command, None, os.path.join(directory, "eval_results.txt"),
              directory, [os.path.join(HERE, scale.bert_config),
                          FLAGS.vocab_file],
              (pretrain.name, "data %s" % task), None)


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
    raise script_errors.InputError(
        "%s failed (exit %d): %s (the log: %s)." % (
            cell.name, code, error_line(log_path), log_path))


def error_line(log_path):
  """The line of a cell's log that says what went wrong: the last that
  names an error (absl ends a flag error with "Pass --helpshort or
  --helpfull to see help on flags.", after it), else the last line."""
  with open(log_path, encoding="utf-8", errors="replace") as f:
    lines = [line.strip() for line in f if line.strip()]
  for line in reversed(lines):
    if "error" in line.lower():
      return line
  return lines[-1] if lines else "no output"


def _duration(seconds):
  if seconds >= 3600:
    return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
  if seconds >= 60:
    return "%dm%02ds" % (seconds // 60, seconds % 60)
  return "%ds" % seconds


# Each cell's settings (cell_settings) by name, and the hash cache of the
# files they record by content: <output_dir>/cells.json.
CELL_RECORD = "cells.json"


def cell_settings(cell, digests, fingerprints):
  """What decides a cell: its script's flags (or its recipe), the content of
  its input files, and the settings of the cells it reads (by digest).
  `fingerprints` caches the files' hashes (outputs.fingerprint)."""
  settings = collections.OrderedDict()
  if cell.command is not None:
    settings["command"] = ([os.path.basename(cell.command[1])] +
                           cell.command[2:])
  if cell.recipe is not None:
    settings["recipe"] = cell.recipe
  seen = {}
  settings["inputs"] = outputs.resolve_files(
      [outputs.describe_file(path) for path in cell.inputs], fingerprints,
      seen)
  fingerprints.update(seen)
  settings["upstream"] = collections.OrderedDict(
      (name, digests[name]) for name in cell.upstream)
  return settings


def _digest(settings):
  text = json.dumps(settings, sort_keys=True, ensure_ascii=False)
  return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


# A cell's place in this run: its settings, what its record holds (None:
# none) and whether it is finished.
CellState = collections.namedtuple("CellState", ["cell", "settings",
                                                 "recorded", "finished"])


def cell_states(cells, record):
  """The CellState of every cell against `record` (cells.json's value)."""
  digests, states = {}, []
  fingerprints = record.setdefault("fingerprints", {})
  for cell in cells:
    settings = json.loads(json.dumps(cell_settings(cell, digests,
                                                   fingerprints)))
    digests[cell.name] = _digest(settings)
    states.append(CellState(cell, settings,
                            record.get("cells", {}).get(cell.name),
                            os.path.exists(cell.done_file)))
  return states


def changed_cells(states):
  """The finished cells whose record differs from this run's settings."""
  return [s for s in states if s.finished and s.recorded != s.settings]


def explain_change(state, others):
  """The error line for a finished cell made with other settings."""
  if state.recorded is None:
    why = ("was finished by an earlier version of run_experiments.py, "
           "which kept no record of its settings")
  else:
    key, old, new = outputs.first_difference(state.recorded, state.settings)
    if isinstance(old, list) and isinstance(new, list):
      # A command line or a list of files: the first item that differs.
      index = [i for i in range(max(len(old), len(new)))
               if old[i:i + 1] != new[i:i + 1]][0]
      key = "%s[%d]" % (key, index)
      old, new = (old[index] if index < len(old) else None,
                  new[index] if index < len(new) else None)
    why = "was made with %s = %s, this run has %s" % (
        key, outputs.show_value(old), outputs.show_value(new))
  return ("%s: the cell %r %s: resume with the same settings, write to "
          "another --output_dir, or pass --overwrite to redo it%s (the "
          "other cells are kept)." % (
              FLAGS.output_dir, state.cell.name, why,
              " and the %d other finished cell%s that differ or read it" % (
                  others, "" if others == 1 else "s") if others else ""))


def run_cells(states, directory, record):
  """Runs the unfinished cells in order, with a progress line; a changed
  finished cell (with --overwrite) is cleared first and run again."""
  pending = [s for s in states if not s.finished or
             s.recorded != s.settings]
  print("%d cells, %d finished earlier, %d to run." % (
      len(states), len(states) - len(pending), len(pending)))
  spent = collections.defaultdict(list)
  cells = record.setdefault("cells", {})
  for number, state in enumerate(pending, 1):
    cell = state.cell
    if FLAGS.overwrite and state.recorded != state.settings and (
        state.finished or state.recorded is not None):
      directory.clear_outputs(under=os.path.relpath(cell.directory,
                                                    FLAGS.output_dir))
    cells[cell.name] = state.settings
    outputs.write_json(_path(CELL_RECORD), record)
    left = pending[number - 1:]
    known = [sum(spent[s.cell.kind]) / len(spent[s.cell.kind])
             for s in left if spent[s.cell.kind]]
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


OUTPUTS = ("data", "records", "pretrain", "finetune", "logs", "results",
           CELL_RECORD, CELL_RECORD + ".tmp")


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
  cells, results, notes = plan(corpus_files, corpus_tasks)
  for note in notes:
    print("Note: " + note)
  if not results:
    raise script_errors.InputError(
        "No variant of %s can be trained on this corpus (its tags: %s)."
        % (",".join(FLAGS.experiment),
           ",".join(corpus_tasks) or "none"))
  # Every mistake that a cell would meet is found before the first cell.
  check_cell_flags(cells, check_devices=not FLAGS.dry_run)
  if FLAGS.dry_run:
    for cell in cells:
      print("# " + cell.name)
      print(show(cell.command) if cell.command else
            "(prepared by run_experiments.py: %s)" % os.path.dirname(
                cell.done_file))
    return
  check_task_data(cells)
  # What decides each cell is recorded with it (cells.json): the directory
  # as a whole records only that.
  settings = collections.OrderedDict([("cells_recorded_in", CELL_RECORD)])
  with outputs.OutputDirectory(
      FLAGS.output_dir, "run_experiments.py", settings, OUTPUTS,
      inputs=corpus_files + [FLAGS.data_dir],
      overwrite=FLAGS.overwrite) as directory:
    record = read_cell_record()
    states = cell_states(cells, record)
    changed = changed_cells(states)
    if changed and not FLAGS.overwrite:
      raise script_errors.InputError(explain_change(changed[0],
                                                    len(changed) - 1))
    start = time.time()
    run_cells(states, directory, record)
    command = "python run_experiments.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    written = write_tables(results, command)
    print("Finished in %s; wrote %s" % (_duration(time.time() - start),
                                        ", ".join(written)))


def read_corpus_tasks(corpus_files):
  """The tags of the corpus: read from it (to the first document with each,
  else to its end), or --corpus_tasks checked against it."""
  wanted = FLAGS.corpus_tasks or linguistic_tags.TASKS
  found = pretraining_data.find_corpus_tags(corpus_files, wanted)
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


def check_cell_flags(cells, check_devices=True):
  """Parses every cell's command line by its script's own flag definitions
  (the flags passed through included) and checks the devices they ask for,
  before the first cell runs."""
  for cell in cells:
    if cell.command is None:
      continue
    script = os.path.basename(cell.command[1])
    # (Imported here: the scripts import TensorFlow, which --help and the
    # flag checks of this script do without.)
    module = importlib.import_module(script[:-len(".py")])
    values = flags.FlagValues()
    module.define_flags(values)
    passed = ("--pretraining_flags" if cell.kind == "pretrain" else
              "--finetuning_flags" if cell.kind == "finetune" else None)
    try:
      values([script] + cell.command[2:])
    except flags.Error as e:
      raise script_errors.InputError(
          "%s of %s: %s%s." % (
              script, cell.name, " ".join(str(e).split()),
              " (check %s)" % passed if passed else ""))
    if check_devices and "num_gpus" in values:
      import estimator_utils
      try:
        estimator_utils.check_devices(values.num_gpus)
      except script_errors.InputError as e:
        raise script_errors.InputError("%s of %s: %s" % (script, cell.name,
                                                         e))


def check_task_data(cells):
  """Reads each task's own files (in --data_dir) as its fine-tuning script
  will read the copies, so that a bad line is named in the user's file and
  before the first cell."""
  import classifier_data
  import ner_data
  import squad_data
  for cell in cells:
    if cell.kind != "data":
      continue
    task = cell.recipe["task"]
    group = experiments.FINETUNE_TASKS[task].group
    for path in cell.inputs:
      if group == "MRC":
        squad_data.read_questions(path)
      elif group == "NER":
        ner_data.read_sentences(path)
      else:
        classifier_data.check_labelled(
            classifier_data.TASKS[task].reader(path).examples)


def read_cell_record():
  """cells.json's value (an empty record when there is none)."""
  path = _path(CELL_RECORD)
  if not os.path.exists(path):
    return {}
  try:
    with io.open(path, encoding="utf-8") as f:
      record = json.load(f)
    record.get("cells", {}).items()
    return record
  except (ValueError, AttributeError) as e:
    raise script_errors.InputError(
        "%s is not a record of cells (%s): move it away, and run with "
        "--overwrite to redo the finished cells it recorded." % (path, e))


if __name__ == "__main__":
  define_flags()
  app.run(main)
