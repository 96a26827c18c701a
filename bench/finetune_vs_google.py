# coding=utf-8
r"""Fine-tuning against Google's run_classifier.py: the same model, the same
examples, the same steps, end to end, in one run.

  google     Google BERT's run_classifier.py (the bert-tensorflow 1.0.4
             package of PyPI, TensorFlow 1.15 only), task "cola" on the
             examples written in CoLA's layout;
  ours-tf1   this repository's run_classifier.py on TensorFlow 1.15;
  ours-tf2   the same on TensorFlow 2.15.

Each trains --steps updates of --batch_size examples from random weights
(ChnSentiCorp's train.tsv from ../shared, or --train_file in its layout
`label<TAB>text_a` with a header), writing its features, building the
graph, training and saving its checkpoints as a user's run does. Reported
per set-up: the wall time of the whole run (the best of --repeats, taken in
turns), the training steps per second from the Estimator's own
`global_step/sec` log (the best run's mean), and the peak resident memory.

  python -m bench.finetune_vs_google --google_bert=.bench/bert-tensorflow \
      --tf1_python=.venv-tf1/bin/python --tf2_python=.venv-tf2/bin/python

--google_bert is a directory holding the package `bert` (make bench puts
it there with `pip install --no-deps --target`).
"""

from __future__ import print_function

import argparse
import collections
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from lert.contract import input_reading

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

Run = collections.namedtuple("Run", ["setup", "wall_seconds",
                                     "steps_per_second", "peak_rss_mib"])


def parse_args():
  parser = argparse.ArgumentParser(
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--google_bert", required=True,
                      help="Directory holding Google's `bert` package.")
  parser.add_argument("--tf1_python", default=os.path.join(
      REPO, ".venv-tf1", "bin", "python"))
  parser.add_argument("--tf2_python", default=os.path.join(
      REPO, ".venv-tf2", "bin", "python"))
  parser.add_argument("--train_file", default=os.path.join(
      os.path.dirname(REPO), "shared", "data", "chnsenticorp", "train.tsv"))
  parser.add_argument("--config", default=os.path.join(
      REPO, "configs", "lert_config_small.json"))
  parser.add_argument("--steps", type=int, default=100)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--setups", default="google,ours-tf1,ours-tf2")
  return parser.parse_args()


def read_examples(path):
  """(label, text) of a `label<TAB>text_a` file with a header, read by the
  scripts' one line reader."""
  return [tuple(line.split("\t", 1))
          for number, line in input_reading.read_lines(path)
          if number > 1 and line]


def write_cola_layout(examples, directory):
  """The examples as CoLA's train.tsv (id, label, mark, sentence; no
  header), which Google's ColaProcessor reads."""
  os.makedirs(directory)
  with io.open(os.path.join(directory, "train.tsv"), "w",
               encoding="utf-8") as f:
    for i, (label, text) in enumerate(examples):
      f.write(u"%d\t%s\t*\t%s\n" % (i, label, text))


def command(args, setup, data, output_dir, examples):
  vocab = os.path.join(REPO, "configs", "vocab.txt")
  common = ["--vocab_file=" + vocab, "--bert_config_file=" + args.config,
            "--output_dir=" + output_dir, "--do_train",
            "--max_seq_length=%d" % args.max_seq_length,
            "--train_batch_size=%d" % args.batch_size,
            "--learning_rate=5e-5"]
  if setup == "google":
    # Google's steps: int(examples / batch * epochs).
    epochs = (args.steps + 0.5) * args.batch_size / float(len(examples))
    return [args.tf1_python, "-m", "bert.run_classifier",
            "--task_name=cola", "--data_dir=" + data, "--do_lower_case",
            "--num_train_epochs=%r" % epochs] + common
  python = args.tf1_python if setup == "ours-tf1" else args.tf2_python
  return [python, os.path.join(REPO, "run_classifier.py"),
          "--task_name=chnsenticorp", "--train_file=" + args.train_file,
          "--train_from_scratch", "--num_train_epochs=100",
          "--max_train_steps=%d" % args.steps] + common


def run(args, setup, data, workdir, examples):
  output_dir = tempfile.mkdtemp(prefix=setup + "-", dir=workdir)
  shutil.rmtree(output_dir)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
             PYTHONPATH=os.path.abspath(args.google_bert))
  start = time.time()
  process = subprocess.Popen(command(args, setup, data, output_dir,
                                     examples),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True, env=env, cwd=workdir)
  log = process.stdout.read()
  _, status, usage = os.wait4(process.pid, 0)
  wall = time.time() - start
  if status:
    sys.exit("finetune_vs_google.py: error: %s failed:\n%s" % (setup,
                                                               log[-3000:]))
  steps = re.findall(r"Saving checkpoints for (\d+)", log)
  if not steps or int(steps[-1]) != args.steps:
    sys.exit("finetune_vs_google.py: error: %s trained %s steps, not %d." %
             (setup, steps[-1] if steps else "no", args.steps))
  rates = [float(x) for x in re.findall(r"global_step/sec: ([0-9.]+)", log)]
  shutil.rmtree(output_dir)
  return Run(setup, wall, sum(rates) / len(rates) if rates else None,
             usage.ru_maxrss / 1024.0)


def main():
  args = parse_args()
  if not os.path.isdir(os.path.join(args.google_bert, "bert")):
    sys.exit("finetune_vs_google.py: error: %s holds no package `bert` "
             "(pip install --no-deps --target %s bert-tensorflow==1.0.4)." %
             (args.google_bert, args.google_bert))
  try:
    examples = read_examples(args.train_file)
  except input_reading.InputError as e:
    sys.exit("finetune_vs_google.py: error: %s" % e)
  workdir = tempfile.mkdtemp(prefix="finetune_vs_google_")
  setups = args.setups.split(",")
  runs = collections.defaultdict(list)
  try:
    data = os.path.join(workdir, "cola")
    write_cola_layout(examples, data)
    for _ in range(args.repeats):
      for setup in setups:
        runs[setup].append(run(args, setup, data, workdir, examples))
        print("  %s: %.1f s" % (setup, runs[setup][-1].wall_seconds),
              file=sys.stderr)
  finally:
    shutil.rmtree(workdir, ignore_errors=True)
  best = {setup: min(r, key=lambda run: run.wall_seconds)
          for setup, r in runs.items()}
  print("Fine-tuning %s from random weights, %d examples, length %d, batch "
        "%d, %d steps; %d CPUs, best of %d" % (
            os.path.basename(args.config), len(examples),
            args.max_seq_length, args.batch_size, args.steps,
            os.cpu_count() or 0, args.repeats))
  print("| set-up | wall s (each run) | best wall s | steps/s in the loop | "
        "peak RSS MiB (each run) | speed vs Google | memory vs Google |")
  print("| --- | --- | --- | --- | --- | --- | --- |")
  # Memory: the smallest peak of the runs (a run's peak varies with the
  # order in which TensorFlow's threads ran its ops).
  reference = best.get("google")
  least = {setup: min(r.peak_rss_mib for r in runs[setup])
           for setup in setups}
  for setup in setups:
    run_ = best[setup]
    print("| %s | %s | %.1f | %s | %s | %s | %s |" % (
        setup, ", ".join("%.1f" % r.wall_seconds for r in runs[setup]),
        run_.wall_seconds, "%.3f" % run_.steps_per_second
        if run_.steps_per_second else "-",
        ", ".join("%.0f" % r.peak_rss_mib for r in runs[setup]),
        "%.2f" % (reference.wall_seconds / run_.wall_seconds)
        if reference else "-",
        "%.2f" % (least[setup] / least["google"]) if reference else "-"))


if __name__ == "__main__":
  main()
