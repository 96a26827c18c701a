# coding=utf-8
r"""Pre-training throughput: run_pretraining.py end to end beside the
stripped loop, in one run, on the same records, model and batch.

  loop    the model_fn's train_op in a bare session.run loop (the real input
          pipeline and model_fn, no Estimator, hooks, summaries or
          checkpoints): the speed the model itself allows;
  script  run_pretraining.py as a user runs it, at its defaults
          (--do_train, the Estimator loop with its hooks, summaries every
          100 steps, checkpoints; --script_flags adds flags, such as
          --save_summary_steps=1 for the most summaries it can write);
  release with --release_dir (TensorFlow 1.15 only): the released LERT
          script, src/run_pretraining.py and src/modeling.py of
          github.com/ymcui/LERT, unchanged, on the same records and flags,
          with Google's optimization.py (which the release imports but
          does not ship) from --google_bert (make bench installs it):
            git clone https://github.com/ymcui/LERT   # --release_dir LERT/src

Each script runs as `python script.py FLAGS` would (runpy), with one hook
added to its Estimator's train() call that notes the end of every step.
All skip the same warm-up steps and time the same --steps, step by step.
A step's time is the median of the timed steps (robust to the moments when
a shared machine's cores are taken away); the mean is shown beside it. They
run in turn, --repeats times each, every one a fresh process. The best run
of each gives the ratios script / loop and script / release; the ratios
within each turn are shown beside them (neighbours in time share the
machine's drift). The peak resident memory of every process is shown, and
the smallest of each kind compared (one command's peak varies from run to
run).

  python -m bench.pretrain_throughput --config configs/lert_config_small.json \
      --max_seq_length 128 --batch_size 32 [--release_dir LERT/src]
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import collections
import glob
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

KINDS = ("loop", "script", "release")

# One run: its step times (seconds) and peak resident memory.
Result = collections.namedtuple("Result", ["kind", "step_seconds",
                                           "peak_rss_mib"])


def median(values):
  values = sorted(values)
  middle = len(values) // 2
  return (values[middle] if len(values) % 2 else
          (values[middle - 1] + values[middle]) / 2.0)


def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--config", default="configs/lert_config_small.json",
                      help="Model config JSON.")
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--max_predictions_per_seq", type=int, default=None,
                      help="Default: ceil(0.15 * max_seq_length).")
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--steps", type=int, default=30,
                      help="Timed training steps.")
  parser.add_argument("--warmup_steps", type=int, default=5,
                      help="Untimed steps first.")
  parser.add_argument("--precision", choices=["fp32", "fp16", "bf16"],
                      default="fp32")
  parser.add_argument("--linguistic_tasks", default="pos,ner,dep")
  parser.add_argument("--use_xla", action="store_true")
  parser.add_argument("--repeats", type=int, default=2,
                      help="Runs of each, taking turns; the best counts.")
  parser.add_argument("--release_dir", default=None,
                      help="The released LERT's src/ (run_pretraining.py, "
                      "modeling.py): time it too (TensorFlow 1.15).")
  parser.add_argument("--google_bert", default=os.path.join(
      REPO, ".bench", "bert-tensorflow"), help="Where Google's `bert` "
                      "package is (for its optimization.py), unless "
                      "--release_dir has one.")
  parser.add_argument("--only", choices=KINDS, default=None,
                      help="Run one of them once.")
  parser.add_argument("--script_flags", default="",
                      help="Extra flags for run_pretraining.py, "
                      "space-separated (to time a variant).")
  parser.add_argument("--records", default=None, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.steps < 1 or args.warmup_steps < 1:
    parser.error("--steps and --warmup_steps must be at least 1 (the first "
                 "step's end starts the clock).")
  if args.only and not args.records:
    parser.error("--only times one kind over records the bench wrote, for "
                 "its own child processes: run without --only.")
  return args


def trained_steps(args):
  """The steps each script trains: the warm-up, the timed ones, and the one
  whose end starts the clock."""
  return args.warmup_steps + args.steps + 1


def max_predictions(args):
  return (args.max_predictions_per_seq or
          int(math.ceil(0.15 * args.max_seq_length)))


def write_records(args, workdir):
  """Synthetic but valid records of the config's vocabulary: 4 files."""
  import modeling
  from lert.pretraining_data import synthetic_data
  config = modeling.BertConfig.from_json_file(args.config)
  for i in range(4):
    synthetic_data.write_synthetic_records(
        os.path.join(workdir, "synthetic-%d.tfrecord" % i),
        max(args.batch_size, 64), args.max_seq_length, max_predictions(args),
        config.vocab_size, seed=i, missing_label_rate=0.05)
  return os.path.join(workdir, "synthetic-*.tfrecord")


def time_loop(args):
  """The seconds of each of --steps train_op runs after --warmup_steps, in
  this process (bench/stripped_loop.py)."""
  import tensorflow.compat.v1 as tf
  from lert.tagging import linguistic_tags
  import modeling
  from bench import stripped_loop
  tf.logging.set_verbosity(tf.logging.ERROR)
  return stripped_loop.step_seconds(
      modeling.BertConfig.from_json_file(args.config),
      glob.glob(args.records), args.max_seq_length, max_predictions(args),
      args.batch_size, args.steps, args.warmup_steps,
      linguistic_tags.parse_task_list(args.linguistic_tasks),
      args.precision, args.use_xla)


# Runs a script as `python script.py FLAGS` would, with one hook added to
# its Estimator's train() call that writes the end time of each training
# step to a file. argv: script, times file, extra import directory (or "").
TIMING_DRIVER = r"""
import os, runpy, sys, time
script, times_path, extra_path = sys.argv[1:4]
sys.argv = [script] + sys.argv[4:]
sys.path[:1] = [os.path.dirname(script)] + ([extra_path] if extra_path else [])
import tensorflow.compat.v1 as tf
from tensorflow_estimator.python.estimator import estimator

class StepTimes(tf.train.SessionRunHook):
  def __init__(self):
    self.times = []
  def after_run(self, run_context, run_values):
    self.times.append(time.time())
  def end(self, session):
    with open(times_path, "w") as f:
      f.write(" ".join(repr(t) for t in self.times))

train = estimator.Estimator.train
def timed_train(self, input_fn, hooks=None, **kwargs):
  return train(self, input_fn, hooks=list(hooks or []) + [StepTimes()],
               **kwargs)
estimator.Estimator.train = timed_train
runpy.run_path(script, run_name="__main__")
"""


def script_flags(args, output_dir):
  """The flags both scripts share (the release defines only these)."""
  return ["--bert_config_file=" + os.path.abspath(args.config),
          "--input_file=" + args.records, "--output_dir=" + output_dir,
          "--do_train", "--train_batch_size=%d" % args.batch_size,
          "--max_seq_length=%d" % args.max_seq_length,
          "--max_predictions_per_seq=%d" % max_predictions(args),
          "--num_train_steps=%d" % trained_steps(args),
          "--num_warmup_steps=1", "--learning_rate=1e-4"]


def time_script(args, workdir, kind):
  """The seconds of each of --steps steps after --warmup_steps of
  run_pretraining.py (kind "script") or the released one ("release"),
  between the ends of its steps."""
  output_dir = tempfile.mkdtemp(prefix=kind + "-", dir=workdir)
  times_path = os.path.join(workdir, os.path.basename(output_dir) + ".txt")
  if kind == "script":
    script, extra_path = os.path.join(REPO, "run_pretraining.py"), ""
    flags = script_flags(args, output_dir) + [
        "--linguistic_tasks=" + args.linguistic_tasks,
        "--precision=" + args.precision] + (
            ["--use_xla"] if args.use_xla else []) + args.script_flags.split()
  else:
    script = os.path.join(os.path.abspath(args.release_dir),
                          "run_pretraining.py")
    extra_path = os.path.abspath(os.path.join(args.google_bert, "bert"))
    flags = script_flags(args, output_dir)
  result = subprocess.run(
      [sys.executable, "-c", TIMING_DRIVER, script, times_path, extra_path] +
      flags, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
      universal_newlines=True)
  if result.returncode or not os.path.exists(times_path):
    sys.exit("pretrain_throughput.py: error: %s %s:\n%s" % (
        script, "failed" if result.returncode else "trained no step",
        result.stdout[-3000:]))
  with open(times_path) as f:
    times = [float(value) for value in f.read().split()]
  os.remove(times_path)
  shutil.rmtree(output_dir)
  if len(times) != trained_steps(args):
    sys.exit("pretrain_throughput.py: error: %s ran %d steps, not %d." % (
        script, len(times), trained_steps(args)))
  # times[i] ends step i + 1: the same steps as the loop's.
  marks = times[args.warmup_steps - 1:args.warmup_steps + args.steps]
  return [b - a for a, b in zip(marks, marks[1:])]


def run_one(args, kind):
  """Runs `--only kind` in a fresh process; returns its Result."""
  command = [sys.executable, "-m", "bench.pretrain_throughput",
             "--only=" + kind, "--records=" + args.records]
  for name in ("config", "max_seq_length", "batch_size", "steps",
               "warmup_steps", "precision", "linguistic_tasks",
               "script_flags"):
    command.append("--%s=%s" % (name, getattr(args, name)))
  if args.max_predictions_per_seq:
    command.append("--max_predictions_per_seq=%d" %
                   args.max_predictions_per_seq)
  if args.use_xla:
    command.append("--use_xla")
  if kind == "release":
    command += ["--release_dir=" + args.release_dir,
                "--google_bert=" + args.google_bert]
  result = subprocess.run(command, stdout=subprocess.PIPE, cwd=REPO,
                          universal_newlines=True)
  if result.returncode:
    sys.exit("pretrain_throughput.py: error: the %s run failed." % kind)
  # The child's own peak (the loop), or its child's (the scripts).
  measured = json.loads(result.stdout.strip().splitlines()[-1])
  return Result(kind, measured["step_seconds"],
                measured["peak_rss_kib"] / 1024.0)


def check_release_args(args):
  """The released script trains fp32 with all three heads on TF 1.15."""
  import tensorflow.compat.v1 as tf
  if not tf.__version__.startswith("1."):
    sys.exit("pretrain_throughput.py: error: --release_dir needs TensorFlow "
             "1.15 (the released script uses tf.contrib); this is %s." %
             tf.__version__)
  missing = [name for name in ("run_pretraining.py", "modeling.py")
             if not os.path.isfile(os.path.join(args.release_dir, name))]
  if missing:
    sys.exit("pretrain_throughput.py: error: --release_dir %s has no %s "
             "(it is the release's src/; see --help)." % (
                 args.release_dir, " or ".join(missing)))
  if not any(os.path.isfile(os.path.join(directory, "optimization.py"))
             for directory in (args.release_dir,
                               os.path.join(args.google_bert, "bert"))):
    sys.exit("pretrain_throughput.py: error: no optimization.py in "
             "--release_dir or in --google_bert %s/bert (pip install "
             "--no-deps --target %s bert-tensorflow==1.0.4)." % (
                 args.google_bert, args.google_bert))
  if (args.precision != "fp32" or args.use_xla or
      args.linguistic_tasks != "pos,ner,dep" or args.script_flags):
    sys.exit("pretrain_throughput.py: error: --release_dir times the "
             "release's own setting: fp32, no XLA, --linguistic_tasks "
             "pos,ner,dep, no --script_flags.")


def main():
  args = parse_args()
  if args.release_dir:
    check_release_args(args)
  if args.only:
    if args.only == "loop":
      seconds = time_loop(args)
      peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    else:
      seconds = time_script(args, os.path.dirname(args.records), args.only)
      peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"step_seconds": seconds, "peak_rss_kib": peak}))
    return
  kinds = KINDS if args.release_dir else KINDS[:2]
  workdir = tempfile.mkdtemp(prefix="lert_bench_")
  try:
    args.records = write_records(args, workdir)
    results = collections.defaultdict(list)
    for _ in range(args.repeats):
      for kind in kinds:
        results[kind].append(run_one(args, kind))
  finally:
    shutil.rmtree(workdir)
  def rate(result, average=median):
    return args.batch_size / average(result.step_seconds)

  def mean(values):
    return sum(values) / len(values)

  best = {kind: max(runs, key=rate) for kind, runs in results.items()}
  least_memory = {kind: min(run.peak_rss_mib for run in runs)
                  for kind, runs in results.items()}
  import tensorflow.compat.v1 as tf
  print("LERT pre-training throughput: %s, length %d (%d predictions), "
        "batch %d, mlm,%s, %s%s" % (
            args.config, args.max_seq_length, max_predictions(args),
            args.batch_size, args.linguistic_tasks, args.precision,
            " + XLA" if args.use_xla else ""))
  print("TensorFlow %s, Python %s, %s, %d CPUs; %d timed steps after %d, "
        "best of %d" % (tf.__version__, platform.python_version(),
                        platform.machine(), os.cpu_count() or 0, args.steps,
                        args.warmup_steps, args.repeats))
  print("| run | examples/s, median step (each run) | best | best by the "
        "mean step | peak RSS (each run) |")
  print("| --- | --- | --- | --- | --- |")
  for kind in kinds:
    print("| %s | %s | %.1f | %.1f | %s MiB |" % (
        kind, ", ".join("%.1f" % rate(r) for r in results[kind]),
        rate(best[kind]), rate(best[kind], mean),
        ", ".join("%.0f" % r.peak_rss_mib for r in results[kind])))
  def turns(other):
    ratios = [rate(a) / rate(b)
              for a, b in zip(results["script"], results[other])]
    return "each turn: %s, median %.2f" % (
        ", ".join("%.2f" % ratio for ratio in ratios), median(ratios))

  print("script / loop: %.2f (by the mean step: %.2f; %s)" % (
      rate(best["script"]) / rate(best["loop"]),
      rate(best["script"], mean) / rate(best["loop"], mean), turns("loop")))
  if args.release_dir:
    print("script / release: %.2f (by the mean step: %.2f; %s); peak RSS, "
          "smallest of each: %.0f / %.0f MiB = %.2f" % (
              rate(best["script"]) / rate(best["release"]),
              rate(best["script"], mean) / rate(best["release"], mean),
              turns("release"), least_memory["script"],
              least_memory["release"],
              least_memory["script"] / least_memory["release"]))


if __name__ == "__main__":
  main()
