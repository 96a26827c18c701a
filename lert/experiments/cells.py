# coding=utf-8
"""The cells of an experiment (docs/experiments.md): a cell is one step run
by the project's own scripts in its own directory (a task's data, records,
a pre-training, a fine-tuning). Here: running a cell with its log, the
record of what decides each cell (cells.json) that tells a finished cell
from a changed one, and the checks made before the first cell runs (each
cell's flags parsed by its script, the task files read by their readers).
The scripts themselves are imported only to check their flags.
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

from absl import flags

from lert.contract import atomic_files
from lert.contract import fingerprints
from lert.contract import script_errors
from lert.experiments import recipe


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

def show(command):
  return " ".join(shlex.quote(part) for part in command)

def run_cell(cell, log_dir):
  """Runs one cell; its script's output goes to `log_dir`."""
  os.makedirs(os.path.dirname(cell.done_file), exist_ok=True)
  if cell.action is not None:
    cell.action()
    return
  os.makedirs(log_dir, exist_ok=True)
  log_path = os.path.join(log_dir, cell.name.replace(" ", "_") + ".log")
  with atomic_files.atomic_open(log_path) as log:
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

def duration(seconds):
  """Seconds as a person reads them: 1h05m, 3m20s, 42s."""
  if seconds >= 3600:
    return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)
  if seconds >= 60:
    return "%dm%02ds" % (seconds // 60, seconds % 60)
  return "%ds" % seconds

# Each cell's settings (cell_settings) by name, and the hash cache of the
# files they record by content: <output_dir>/cells.json.
CELL_RECORD = "cells.json"


def cell_settings(cell, digests, hashes):
  """What decides a cell: its script's flags (or its recipe), the content of
  its input files, and the settings of the cells it reads (by digest).
  `hashes` caches the files' hashes (fingerprints.fingerprint)."""
  settings = collections.OrderedDict()
  if cell.command is not None:
    settings["command"] = ([os.path.basename(cell.command[1])] +
                           cell.command[2:])
  if cell.recipe is not None:
    settings["recipe"] = cell.recipe
  seen = {}
  settings["inputs"] = fingerprints.resolve_files(
      [fingerprints.describe_file(path) for path in cell.inputs], hashes,
      seen)
  hashes.update(seen)
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
  hashes = record.setdefault("fingerprints", {})
  for cell in cells:
    settings = json.loads(json.dumps(cell_settings(cell, digests, hashes)))
    digests[cell.name] = _digest(settings)
    states.append(CellState(cell, settings,
                            record.get("cells", {}).get(cell.name),
                            os.path.exists(cell.done_file)))
  return states


def changed_cells(states):
  """The finished cells whose record differs from this run's settings."""
  return [s for s in states if s.finished and s.recorded != s.settings]


def explain_change(state, others, output_dir):
  """The error line for a finished cell of `output_dir` made with other
  settings; `others` finished cells differ or read it besides."""
  if state.recorded is None:
    why = ("was finished by an earlier version of run_experiments.py, "
           "which kept no record of its settings")
  else:
    key, old, new = fingerprints.first_difference(state.recorded,
                                                  state.settings)
    if isinstance(old, list) and isinstance(new, list):
      # A command line or a list of files: the first item that differs.
      index = [i for i in range(max(len(old), len(new)))
               if old[i:i + 1] != new[i:i + 1]][0]
      key = "%s[%d]" % (key, index)
      old, new = (old[index] if index < len(old) else None,
                  new[index] if index < len(new) else None)
    why = "was made with %s = %s, this run has %s" % (
        key, fingerprints.show_value(old), fingerprints.show_value(new))
  return ("%s: the cell %r %s: resume with the same settings, write to "
          "another --output_dir, or pass --overwrite to redo it%s (the "
          "other cells are kept)." % (
              output_dir, state.cell.name, why,
              " and the %d other finished cell%s that differ or read it" % (
                  others, "" if others == 1 else "s") if others else ""))


def run_cells(states, directory, record, overwrite, skip=None):
  """Runs the unfinished cells in order, with a progress line; a changed
  finished cell (with `overwrite`) is cleared first and run again.
  `directory` is the experiment's outputs.OutputDirectory, `record`
  cells.json's value, written before each cell. `skip(cell)`, asked
  before each cell, returns why it is not run (printed), or None."""
  pending = [s for s in states if not s.finished or
             s.recorded != s.settings]
  print("%d cells, %d finished earlier, %d to run." % (
      len(states), len(states) - len(pending), len(pending)))
  spent = collections.defaultdict(list)
  cells = record.setdefault("cells", {})
  for number, state in enumerate(pending, 1):
    cell = state.cell
    why = skip and skip(cell)
    if why:
      print("[%d/%d] skipped %s" % (number, len(pending), why))
      continue
    if overwrite and state.recorded != state.settings and (
        state.finished or state.recorded is not None):
      directory.clear_outputs(under=os.path.relpath(cell.directory,
                                                    directory.path))
    cells[cell.name] = state.settings
    atomic_files.write_json(os.path.join(directory.path, CELL_RECORD),
                            record)
    left = pending[number - 1:]
    known = [sum(spent[s.cell.kind]) / len(spent[s.cell.kind])
             for s in left if spent[s.cell.kind]]
    estimate = "time left estimated after a first cell of each kind"
    if len(known) == len(left):
      estimate = "about %s left" % duration(sum(known))
    print("[%d/%d] %s (%d remain; %s)" % (number, len(pending), cell.name,
                                          len(left) - 1, estimate))
    sys.stdout.flush()
    start = time.time()
    run_cell(cell, os.path.join(directory.path, "logs"))
    spent[cell.kind].append(time.time() - start)

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
      from lert.running import run_config
      try:
        run_config.check_devices(values.num_gpus)
      except script_errors.InputError as e:
        raise script_errors.InputError("%s of %s: %s" % (script, cell.name,
                                                         e))


def check_task_data(cells):
  """Reads each task's own files (in --data_dir) as its fine-tuning script
  will read the copies, so that a bad line is named in the user's file and
  before the first cell."""
  from lert.finetuning import classifier_data
  from lert.finetuning import ner_data
  from lert.finetuning import squad_data
  for cell in cells:
    if cell.kind != "data":
      continue
    task = cell.recipe["task"]
    group = recipe.FINETUNE_TASKS[task].group
    for path in cell.inputs:
      if group == "MRC":
        squad_data.read_questions(path)
      elif group == "NER":
        ner_data.read_sentences(path)
      else:
        classifier_data.check_labelled(
            classifier_data.TASKS[task].reader(path).examples)

def read_guard(path):
  """The collapse guard's report of a pre-training (check_collapse.py's
  --output_file), a dict with its figures, verdict and `collapsed`."""
  try:
    with io.open(path, encoding="utf-8") as f:
      report = json.load(f)
    if not isinstance(report.get("collapsed"), bool) or not all(
        key in report for key in ("verdict", "mlm_loss", "unigram_entropy",
                                  "final_layer_cosine")):
      raise ValueError("no verdict and figures")
    return report
  except (ValueError, AttributeError) as e:
    raise script_errors.InputError(
        "%s is not a report of check_collapse.py (%s): remove it to check "
        "that pre-training again." % (path, e))


def read_cell_record(output_dir):
  """The value of cells.json in `output_dir` (an empty record when there is
  none)."""
  path = os.path.join(output_dir, CELL_RECORD)
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
