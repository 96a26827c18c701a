# coding=utf-8
r"""Pre-training throughput: run_pretraining.py end to end beside the
stripped loop, in one run, on the same records, model and batch.

  loop    the model_fn's train_op in a bare session.run loop (the real input
          pipeline and model_fn, no Estimator, hooks, summaries or
          checkpoints): the speed the model itself allows;
  script  run_pretraining.py as a user runs it (--do_train, the Estimator
          loop with its hooks, TensorBoard summaries, checkpoints), timed
          from its own TensorBoard events: it writes its summaries at every
          step (--save_summary_steps=1, the most it can write), and each
          event's wall time marks its step.

Both skip the same warm-up steps and time the same --steps, step by step.
A step's time is the median of the timed steps (robust to the moments when
a shared machine's cores are taken away); the mean is shown beside it. The
two run in turn, --repeats times each, every one a fresh process; the best
run of each counts, with the peak resident memory of each process and the
ratio script / loop.

  python bench/pretrain_throughput.py --config configs/lert_config_small.json \
      --max_seq_length 128 --batch_size 32
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
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

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
  parser.add_argument("--only", choices=["loop", "script"], default=None,
                      help="Run one of the two once.")
  parser.add_argument("--script_flags", default="",
                      help="Extra flags for run_pretraining.py, "
                      "space-separated (to time a variant).")
  parser.add_argument("--records", default=None, help=argparse.SUPPRESS)
  return parser.parse_args(argv)


def max_predictions(args):
  return (args.max_predictions_per_seq or
          int(math.ceil(0.15 * args.max_seq_length)))


def write_records(args, workdir):
  """Synthetic but valid records of the config's vocabulary: 4 files."""
  import modeling
  import synthetic_data
  config = modeling.BertConfig.from_json_file(args.config)
  for i in range(4):
    synthetic_data.write_synthetic_records(
        os.path.join(workdir, "synthetic-%d.tfrecord" % i),
        max(args.batch_size, 64), args.max_seq_length, max_predictions(args),
        config.vocab_size, seed=i, missing_label_rate=0.05)
  return os.path.join(workdir, "synthetic-*.tfrecord")


def time_loop(args):
  """The seconds of each of --steps train_op runs after --warmup_steps, in
  this process."""
  import tensorflow.compat.v1 as tf
  import estimator_utils
  import input_pipeline
  import linguistic_tags
  import modeling
  import lert_model
  import run_pretraining
  tf.logging.set_verbosity(tf.logging.ERROR)
  config = modeling.BertConfig.from_json_file(args.config)
  tasks = linguistic_tags.parse_task_list(args.linguistic_tasks)
  required, optional = lert_model.pretraining_features(
      args.max_seq_length, max_predictions(args), tasks)
  required.update(optional)
  total_steps = args.warmup_steps + args.steps + 1
  with tf.Graph().as_default():  # graph mode on TF 2 too
    input_fn = input_pipeline.input_fn_builder(
        sorted(glob.glob(args.records)), required, is_training=True, seed=0)
    features = tf.data.make_one_shot_iterator(
        input_fn({"batch_size": args.batch_size})).get_next()
    model_fn = lert_model.model_fn_builder(
        bert_config=config, tasks=tasks,
        end_steps=lert_model.lip_end_steps(total_steps),
        lip_schedule="linear", init_checkpoint=None, learning_rate=1e-4,
        num_train_steps=total_steps, num_warmup_steps=1,
        compute_type=run_pretraining.COMPUTE_TYPES[args.precision])
    spec = model_fn(features, None, tf.estimator.ModeKeys.TRAIN, {})
    with tf.Session(config=estimator_utils.session_config(
        args.use_xla)) as session:
      session.run(tf.global_variables_initializer())
      for _ in range(args.warmup_steps):
        session.run(spec.train_op)
      times = [time.time()]
      for _ in range(args.steps):
        session.run(spec.train_op)
        times.append(time.time())
      return [b - a for a, b in zip(times, times[1:])]


def script_command(args, output_dir):
  return [sys.executable, os.path.join(REPO, "run_pretraining.py"),
          "--bert_config_file=" + args.config,
          "--input_file=" + args.records, "--output_dir=" + output_dir,
          "--do_train", "--train_batch_size=%d" % args.batch_size,
          "--max_seq_length=%d" % args.max_seq_length,
          "--max_predictions_per_seq=%d" % max_predictions(args),
          "--num_train_steps=%d" % (args.warmup_steps + args.steps + 1),
          "--num_warmup_steps=1", "--learning_rate=1e-4",
          "--linguistic_tasks=" + args.linguistic_tasks,
          "--precision=" + args.precision,
          "--save_summary_steps=1"] + (
              ["--use_xla"] if args.use_xla else []) + (
                  args.script_flags.split())


def summary_times(output_dir, tag="loss/total"):
  """step -> wall time of the script's `tag` summaries."""
  import tensorflow.compat.v1 as tf
  times = {}
  for path in glob.glob(os.path.join(output_dir, "events.out.tfevents.*")):
    for event in tf.train.summary_iterator(path):
      for value in event.summary.value:
        if value.tag == tag:
          times[event.step] = event.wall_time
  return times


def time_script(args, workdir):
  """The seconds of each of --steps steps after --warmup_steps, between
  the script's summaries."""
  output_dir = tempfile.mkdtemp(prefix="script-", dir=workdir)
  result = subprocess.run(script_command(args, output_dir),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
  if result.returncode:
    sys.exit("pretrain_throughput.py: error: run_pretraining.py failed:\n" +
             result.stdout[-3000:])
  times = summary_times(output_dir)
  steps = range(args.warmup_steps, args.warmup_steps + args.steps + 1)
  missing = [step for step in steps if step not in times]
  if missing:
    sys.exit("pretrain_throughput.py: error: run_pretraining.py wrote no "
             "summary at step %d." % missing[0])
  shutil.rmtree(output_dir)
  return [times[step + 1] - times[step] for step in steps[:-1]]


def run_one(args, kind):
  """Runs `--only kind` in a fresh process; returns its Result."""
  command = [sys.executable, os.path.abspath(__file__),
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
  result = subprocess.run(command, stdout=subprocess.PIPE,
                          universal_newlines=True)
  if result.returncode:
    sys.exit("pretrain_throughput.py: error: the %s run failed." % kind)
  # The child's own peak (the loop), or its child's (run_pretraining.py).
  measured = json.loads(result.stdout.strip().splitlines()[-1])
  return Result(kind, measured["step_seconds"],
                measured["peak_rss_kib"] / 1024.0)


def main():
  args = parse_args()
  if args.only:
    if args.only == "loop":
      seconds = time_loop(args)
      peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    else:
      seconds = time_script(args, os.path.dirname(args.records))
      peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"step_seconds": seconds, "peak_rss_kib": peak}))
    return
  workdir = tempfile.mkdtemp(prefix="lert_bench_")
  try:
    args.records = write_records(args, workdir)
    results = collections.defaultdict(list)
    for _ in range(args.repeats):
      for kind in ("loop", "script"):
        results[kind].append(run_one(args, kind))
  finally:
    shutil.rmtree(workdir)
  def rate(result, average=median):
    return args.batch_size / average(result.step_seconds)

  def mean(values):
    return sum(values) / len(values)

  best = {kind: max(runs, key=rate) for kind, runs in results.items()}
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
        "mean step | peak RSS |")
  print("| --- | --- | --- | --- | --- |")
  for kind in ("loop", "script"):
    print("| %s | %s | %.1f | %.1f | %.0f MiB |" % (
        kind, ", ".join("%.1f" % rate(r) for r in results[kind]),
        rate(best[kind]), rate(best[kind], mean), best[kind].peak_rss_mib))
  print("script / loop: %.2f (by the mean step: %.2f)" % (
      rate(best["script"]) / rate(best["loop"]),
      rate(best["script"], mean) / rate(best["loop"], mean)))


if __name__ == "__main__":
  main()
