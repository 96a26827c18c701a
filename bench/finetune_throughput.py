# coding=utf-8
r"""Fine-tunes for a fixed budget through the real scripts, then scores.

--task chnsenticorp: run_classifier.py, train.tsv -> dev accuracy.
--task cmrc2018 / drcd: run_squad.py on the one file ../shared has (the CMRC
2018 trial set, DRCD dev): its first 80% of articles train, the rest is
scored with the CMRC metric (F1/EM).

The real script end to end (reading, features, TFRecords, the Estimator loop,
checkpoints, evaluation): trains --steps updates, then scores, and prints the
result, the training examples per second (from the Estimator's own
`examples/sec` log) and the wall time of each phase.

  python -m bench.finetune_throughput --task cmrc2018 \
    --config configs/lert_config_small.json --steps 100 --max_seq_length 256 \
    [--init_checkpoint lert_small_tf]

Without --init_checkpoint the model starts from random weights (no LERT
weights can be downloaded here): the score then shows what the budget buys
from scratch, not LERT's.
"""

from __future__ import print_function

import argparse
import io
import json
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


def split_squad(path, workdir):
  """Writes the first 80% of a SQuAD file's articles and the rest."""
  with io.open(path, encoding="utf-8") as f:
    data = json.load(f)
  cut = int(len(data["data"]) * 0.8)
  paths = []
  for name, articles in (("train", data["data"][:cut]),
                         ("eval", data["data"][cut:])):
    paths.append(os.path.join(workdir, name + ".json"))
    with io.open(paths[-1], "w", encoding="utf-8") as f:
      json.dump({"version": data.get("version"), "data": articles}, f,
                ensure_ascii=False)
  return paths


def main():
  parser = argparse.ArgumentParser(
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--task", default="chnsenticorp",
                      choices=["chnsenticorp", "cmrc2018", "drcd"])
  parser.add_argument("--config", default=os.path.join(
      REPO, "configs", "lert_config_small.json"))
  parser.add_argument("--shared_data", default=os.path.join(
      os.path.dirname(REPO), "shared", "data"))
  parser.add_argument("--init_checkpoint", default=None)
  parser.add_argument("--steps", type=int, default=100)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--learning_rate", type=float, default=5e-5)
  args = parser.parse_args()
  source = {"chnsenticorp": "chnsenticorp/train.tsv",
            "cmrc2018": "cmrc2018/cmrc2018_trial.json",
            "drcd": "drcd/DRCD_dev.json"}[args.task]
  if not os.path.isfile(os.path.join(args.shared_data, source)):
    sys.exit("finetune_throughput.py: error: %s does not exist (see "
             "../shared/README.md)." % os.path.join(args.shared_data, source))
  workdir = tempfile.mkdtemp(prefix="lert_finetune_bench_")
  try:
    if args.task == "chnsenticorp":
      script = "run_classifier.py"
      train_file = os.path.join(args.shared_data, source)
      eval_file = os.path.join(args.shared_data, "chnsenticorp", "dev.tsv")
      task_flags = ["--task_name=chnsenticorp"]
    else:
      script = "run_squad.py"
      train_file, eval_file = split_squad(
          os.path.join(args.shared_data, source), workdir)
      task_flags = ["--doc_stride=%d" % (args.max_seq_length // 2),
                    "--max_query_length=%d" % min(64,
                                                  args.max_seq_length // 4)]
    common = task_flags + [
        "--bert_config_file=" + args.config,
        "--vocab_file=" + os.path.join(REPO, "configs", "vocab.txt"),
        "--output_dir=" + os.path.join(workdir, "model"),
        "--max_seq_length=%d" % args.max_seq_length,
        "--train_batch_size=%d" % args.batch_size,
        "--learning_rate=%g" % args.learning_rate,
        "--save_checkpoints_steps=100000", "--save_summary_steps=10",
        "--num_train_epochs=100", "--max_train_steps=%d" % args.steps]
    start_from = ("--init_checkpoint=" + args.init_checkpoint
                  if args.init_checkpoint else "--train_from_scratch")
    timings, logs = {}, {}
    for phase, extra in (("train", ["--do_train", "--train_file=" + train_file,
                                    start_from]),
                         ("eval", ["--do_eval", "--eval_file=" + eval_file])):
      start = time.time()
      result = subprocess.run(
          [sys.executable, os.path.join(REPO, script)] + common + extra,
          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
          universal_newlines=True)
      timings[phase] = time.time() - start
      logs[phase] = result.stdout
      if result.returncode:
        sys.exit(result.stdout[-3000:])
    rates = [float(x) for x in re.findall(r"examples/sec: ([0-9.]+)",
                                          logs["train"])]
    if args.task == "chnsenticorp":
      found = re.search(r"accuracy ([0-9.]+) on (\d+) examples",
                        logs["eval"])
      score = "dev accuracy %s on %s examples" % found.groups()
    else:
      found = json.loads(re.search(r"(\{\"AVERAGE.*?\})", logs["eval"])
                         .group(1))
      score = "F1 %s, EM %s on %d held-out questions" % (
          found["F1"], found["EM"], found["TOTAL"])
    print("%s, %s, %s, length %d, batch %d, %d steps, lr %g" % (
        args.task, os.path.basename(args.config),
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
    print("  evaluation: %.1f s wall; %s" % (timings["eval"], score))
  finally:
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
  main()
