# coding=utf-8
"""Fine-tunes on ChnSentiCorp for a fixed budget through run_classifier.py.

The real script end to end (reading, features, TFRecords, the Estimator loop,
checkpoints, evaluation): trains --steps updates, then scores the dev set, and
prints the dev accuracy, the training examples per second (from the
Estimator's own `examples/sec` log) and the wall time of each phase.

  python bench/finetune_throughput.py --config configs/lert_config_small.json \
    --steps 100 --max_seq_length 128 [--init_checkpoint lert_small_tf]

Without --init_checkpoint the model starts from random weights (no LERT
weights can be downloaded here): the accuracy then shows what the budget buys
from scratch, not LERT's.
"""

from __future__ import print_function

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--config", default=os.path.join(
      REPO, "configs", "lert_config_small.json"))
  parser.add_argument("--data_dir", default=os.path.join(
      os.path.dirname(REPO), "shared", "data", "chnsenticorp"))
  parser.add_argument("--init_checkpoint", default=None)
  parser.add_argument("--steps", type=int, default=100)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--learning_rate", type=float, default=5e-5)
  args = parser.parse_args()
  for name in ("train.tsv", "dev.tsv"):
    if not os.path.isfile(os.path.join(args.data_dir, name)):
      sys.exit("finetune_throughput.py: error: %s has no %s (ChnSentiCorp; "
               "see ../shared/README.md)." % (args.data_dir, name))
  workdir = tempfile.mkdtemp(prefix="lert_finetune_bench_")
  try:
    common = ["--task_name=chnsenticorp", "--bert_config_file=" + args.config,
              "--vocab_file=" + os.path.join(REPO, "configs", "vocab.txt"),
              "--output_dir=" + workdir,
              "--max_seq_length=%d" % args.max_seq_length,
              "--train_batch_size=%d" % args.batch_size,
              "--learning_rate=%g" % args.learning_rate,
              "--save_checkpoints_steps=100000", "--save_summary_steps=10",
              "--num_train_epochs=100",
              "--max_train_steps=%d" % args.steps]
    if args.init_checkpoint:
      common.append("--init_checkpoint=" + args.init_checkpoint)
    script = os.path.join(REPO, "run_classifier.py")
    timings = {}
    logs = {}
    for phase, extra in (
        ("train", ["--do_train", "--train_file=" +
                   os.path.join(args.data_dir, "train.tsv")]),
        ("eval", ["--do_eval", "--eval_file=" +
                  os.path.join(args.data_dir, "dev.tsv")])):
      start = time.time()
      result = subprocess.run([sys.executable, script] + common + extra,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True)
      timings[phase] = time.time() - start
      logs[phase] = result.stdout
      if result.returncode:
        sys.exit(result.stdout[-3000:])
    rates = [float(x) for x in re.findall(r"examples/sec: ([0-9.]+)",
                                          logs["train"])]
    accuracy = re.search(r"accuracy ([0-9.]+) on (\d+) examples",
                         logs["eval"])
    print("ChnSentiCorp, %s, %s, length %d, batch %d, %d steps, lr %g" % (
        os.path.basename(args.config),
        "from " + args.init_checkpoint if args.init_checkpoint else
        "random init", args.max_seq_length, args.batch_size, args.steps,
        args.learning_rate))
    print("  machine: %s, %d cores, Python %s" % (
        platform.processor() or platform.machine(), os.cpu_count(),
        platform.python_version()))
    print("  training: %.1f s wall (features, graph, %d steps, checkpoint); "
          "%.1f examples/s in the loop (mean of %d Estimator readings)" % (
              timings["train"], args.steps,
              sum(rates) / max(len(rates), 1), len(rates)))
    print("  evaluation: %.1f s wall; dev accuracy %s on %s examples" % (
        timings["eval"], accuracy.group(1), accuracy.group(2)))
  finally:
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
  main()
