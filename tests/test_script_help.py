# coding=utf-8
"""--help of the scripts documents every flag."""

import importlib
import os
import subprocess
import sys
import pytest
from conftest import REPO
from conftest import run_script

from absl import flags


# Each script, the fewest flags it has, and the packages it needs (Apache
# Beam is in the TF 2.15 environment only).
HELP_SCRIPTS = [
    ("create_pretraining_data", 10, ()), ("linguistic_tagger", 10, ()),
    ("predict_linguistic", 20, ()), ("convert_checkpoint", 6, ()),
    ("convert_pku_corpus", 3, ()), ("run_pretraining", 40, ()),
    ("run_experiments", 10, ()), ("run_classifier", 30, ()),
    ("run_ner", 30, ()), ("run_squad", 30, ()),
    ("prepare_pretraining_data_beam", 20, ("apache_beam",))]


@pytest.mark.parametrize("name,min_flags,requires", HELP_SCRIPTS)
def test_help_documents_every_flag(name, min_flags, requires):
  for package in requires:
    pytest.importorskip(package)
  module = importlib.import_module(name)
  flag_values = flags.FlagValues()
  module.define_flags(flag_values)
  result = run_script(name + ".py", "--help", timeout=120)
  text = result.stdout + result.stderr
  assert "Traceback" not in text
  assert len(list(flag_values)) >= min_flags
  # absl wraps the help text: compare with whitespace normalised, the whole
  # of every flag's help (not just its first word).
  flat = " ".join(text.split())
  for flag_name in flag_values:
    flag = flag_values[flag_name]
    assert ("--" + flag_name in text or "--[no]" + flag_name in text), (
        flag_name)
    assert flag.help and " ".join(flag.help.split()) in flat, flag_name


# Every script whose docstring shows how to run it (absl or argparse prints
# the docstring as --help's usage).
EXAMPLE_SCRIPTS = (
    "convert_checkpoint.py", "convert_pku_corpus.py", "linguistic_tagger.py",
    "predict_linguistic.py", "prepare_pretraining_data_beam.py",
    "run_classifier.py", "run_experiments.py", "run_ner.py",
    "run_pretraining.py", "run_squad.py", "bench/data_throughput.py",
    "bench/finetune_throughput.py", "bench/pretrain_throughput.py")


def help_command(script):
  """A script's --help: `python script.py`, or for a bench module (run from
  the repository) `python -m bench.name`."""
  if script.startswith("bench/"):
    return [sys.executable, "-m", script[:-len(".py")].replace("/", "."),
            "--help"]
  return [sys.executable, os.path.join(REPO, script), "--help"]


def usage_examples(path):
  """The command lines of a script's docstring: from a line starting with
  `python ` through its `\\` continuation lines, each stripped."""
  with open(path, encoding="utf-8") as f:
    source = f.read()
  # The docstring as written, not as evaluated: a `\` at a line end in a
  # non-raw string joins the lines, which is what the test must see.
  start = source.index('"""') + 3
  doc = source[start:source.index('"""', start)]
  if source[start - 4] != "r":
    doc = doc.replace("\\\\", "\\")
  examples, current = [], None
  for line in doc.splitlines():
    line = line.strip()
    if current is None and line.startswith("python "):
      current = []
    if current is not None:
      current.append(line)
      if not line.endswith("\\"):
        examples.append(current)
        current = None
  return examples


def test_help_shows_each_usage_example_line_by_line_with_real_paths():
  import glob
  import re
  scripts = [s for s in EXAMPLE_SCRIPTS
             if s != "prepare_pretraining_data_beam.py" or _has_beam()]
  runs = {s: subprocess.Popen(
      help_command(s),
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
      universal_newlines=True, cwd=REPO,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")) for s in scripts}
  with open(os.path.join(REPO, "Makefile")) as f:
    makefile = f.read()
  for script, process in runs.items():
    text = process.communicate(timeout=300)[0]
    shown = [line.strip() for line in text.splitlines()]
    examples = usage_examples(os.path.join(REPO, script))
    assert examples, script
    for example in examples:
      for line in example:  # each on its own line, not run together
        assert line in shown, (script, line)
      for path in re.findall(r"(?:^|(?<=[=\s'\"]))(?:configs|data|demo_output)/"
                             r"[^\s'\",]+",
                             " ".join(example)):
        if path.startswith("demo_output/"):  # made by `make demo`
          assert os.path.dirname(path).replace(
              "demo_output", "$(DEMO_DIR)") in makefile, (script, path)
        else:
          assert glob.glob(os.path.join(REPO, path)), (script, path)


def _has_beam():
  try:
    import apache_beam  # noqa: F401  (only whether it imports)
  except ImportError:
    return False
  return True


def _modules():
  """Every module of the repository by its name: the top level's and the
  lert package's (whose module names are unique), dotted."""
  import glob
  found = {}
  for path in glob.glob(os.path.join(REPO, "*.py")) + glob.glob(
      os.path.join(REPO, "lert", "**", "*.py"), recursive=True):
    relative = os.path.relpath(path, REPO)[:-len(".py")]
    name = os.path.basename(relative)
    if name != "__init__":
      assert name not in found, (name, found.get(name), relative)
      found[name] = relative.replace(os.sep, ".")
  return found


def _doc_pages():
  import glob
  return [os.path.join(REPO, "README.md")] + sorted(
      glob.glob(os.path.join(REPO, "docs", "*.md")))


def test_every_module_name_the_docs_cite_exists():
  """`module.name` in README.md and docs/*.md, for a module of this
  repository (top level or lert/), names something that module has (names
  move; docs stay)."""
  import importlib
  import re
  modules = _modules()
  cited = set()
  for page in _doc_pages():
    with open(page, encoding="utf-8") as f:
      for module, name in re.findall(r"`([a-z_0-9]+)\.([A-Za-z_]\w*)",
                                     f.read()):
        if module in modules and name not in ("py", "sh"):
          cited.add((os.path.basename(page), module, name))
  assert len(cited) > 10
  missing = []
  for page, module, name in sorted(cited):
    if module == "prepare_pretraining_data_beam" and not _has_beam():
      continue
    if not hasattr(importlib.import_module(modules[module]), name):
      missing.append("%s cites %s.%s" % (page, module, name))
  assert not missing


def test_every_file_the_docs_name_exists():
  """A `name.py`, `name.sh` or `name.md` in README.md and docs/*.md is a
  file of the repository: a path by its path, a bare name by its name
  anywhere in the repository; so a module that moved is not named by its
  old name or place. Placeholders (run_TASK.sh, script.py, my_*) and the
  released LERT's files (src/) are not ours."""
  import re
  names = set()
  for root, dirs, files in os.walk(REPO):
    dirs[:] = [d for d in dirs if not d.startswith(".")]
    names.update(files)
  missing = []
  for page in _doc_pages():
    with open(page, encoding="utf-8") as f:
      text = f.read()
    for path in sorted(set(re.findall(r"`([\w./-]+\.(?:py|sh|md))\b",
                                      text))):
      if "/" in path:
        exists = any(os.path.exists(os.path.join(REPO, base, path))
                     for base in ("", "docs"))
      else:
        exists = path in names
      placeholder = ("TASK" in path or "my_" in path or path == "script.py"
                     or path.startswith("src/"))
      if not exists and not placeholder:
        missing.append("%s names %s" % (os.path.basename(page), path))
  assert not missing
