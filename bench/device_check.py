# coding=utf-8
r"""The one-command check of a GPU machine (bench/device_check.sh runs it).

Prints one table:

  pretrain  LERT pre-training (MLM + POS/NER/DEP heads, AdamW, LIP) through
            the real input pipeline and model_fn, per sequence length and
            precision (fp32, fp16 with dynamic loss scaling, bf16, fp32 +
            XLA): examples/s, model-FLOPs utilisation and peak device memory.
            The batch is sized to the device's memory (a probe at batch 8
            measures the memory per example) unless --batch_size is given.
  gpu=cpu   one fp32 training step (dropout off, TF32 off) from the same
            initial weights on the GPU and on the CPU: the loss and every
            updated variable must agree within fp32 tolerance.
  finetune  run_classifier.py end to end (ChnSentiCorp format, length 128):
            steps/s from the Estimator's own log.

Model FLOPs per example: lert/model/flops.py's formula (training = 3 x
forward; matmuls only):
  6 T L (4 H^2 + 2 H I) + 12 L T^2 H + 6 P (H^2 + H V)
for length T, L layers, hidden H, intermediate I, P masked predictions and
vocabulary V. MFU divides the achieved FLOP/s by the device's dense peak for
the precision (fp32 counts TF32 tensor cores, which TensorFlow uses for fp32
matmuls on Ampere and later); unknown devices print n/a.

Any error ends the check with a non-zero status. --device=cpu runs every
part on the CPU (the test suite runs it with --tiny), so that only the GPU
itself goes untested without one.

  python -m bench.device_check                        # on a GPU machine
  python -m bench.device_check --device=cpu --tiny    # the suite's version

(run from the repository, whose lert package it imports).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import collections
import io
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from lert.model import flops as model_flops

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Dense peak FLOP/s by device name and precision (NVIDIA's data sheets, SXM
# parts; fp32 = TF32 tensor cores).
PEAK_FLOPS = collections.OrderedDict([
    ("H200", {"fp32": 494.7e12, "fp16": 989.4e12, "bf16": 989.4e12}),
    ("H100", {"fp32": 494.7e12, "fp16": 989.4e12, "bf16": 989.4e12}),
    ("A100", {"fp32": 156e12, "fp16": 312e12, "bf16": 312e12}),
    ("L4", {"fp32": 60e12, "fp16": 121e12, "bf16": 121e12}),
])

TINY_CONFIG = {"vocab_size": 21128, "hidden_size": 32, "num_hidden_layers": 2,
               "num_attention_heads": 2, "intermediate_size": 64,
               "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
               "attention_probs_dropout_prob": 0.1,
               "max_position_embeddings": 512, "type_vocab_size": 2,
               "initializer_range": 0.02}

Row = collections.namedtuple("Row", ["check", "length", "mode", "batch",
                                     "rate", "mfu", "memory", "result"])


def parse_args():
  parser = argparse.ArgumentParser(
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--device", choices=["gpu", "cpu"], default="gpu")
  parser.add_argument("--tiny", action="store_true",
                      help="A 2-layer model, lengths 32,64, a few steps.")
  parser.add_argument("--config", default=os.path.join(
      REPO, "configs", "lert_config_base.json"))
  parser.add_argument("--lengths", default=None,
                      help="Comma-separated; default 128,512 (tiny 32,64).")
  parser.add_argument("--modes", default="fp32,fp16,bf16,xla")
  parser.add_argument("--batch_size", type=int, default=0,
                      help="Per step; 0 sizes it to the device's memory "
                      "(on the CPU: 8).")
  parser.add_argument("--steps", type=int, default=None,
                      help="Timed steps (default 20, tiny 3).")
  parser.add_argument("--finetune_steps", type=int, default=None,
                      help="Default 200 (tiny 6).")
  return parser.parse_args()


def device_name(tf, device):
  if device == "cpu":
    return "CPU"
  gpus = tf.config.list_physical_devices("GPU")
  if not gpus:
    raise SystemExit("device_check: error: TensorFlow sees no GPU (is this "
                     "the CUDA build, tensorflow[and-cuda]==2.15.1?). Use "
                     "--device=cpu to check the CPU.")
  details = tf.config.experimental.get_device_details(gpus[0])
  return details.get("device_name", "GPU")


def peak_flops(name, mode):
  for key, peaks in PEAK_FLOPS.items():
    if key in name:
      return peaks["fp32" if mode == "xla" else mode]
  return None


class Memory(object):
  """Peak device memory of each measurement: the GPU allocator's peak, or
  on the CPU the process's peak RSS so far (it never goes down)."""

  def __init__(self, tf, device):
    self.tf, self.device = tf, device

  def reset(self):
    if self.device == "gpu":
      self.tf.config.experimental.reset_memory_stats("GPU:0")

  def peak(self):
    if self.device == "gpu":
      return self.tf.config.experimental.get_memory_info("GPU:0")["peak"]
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

  def total(self):
    if self.device != "gpu":
      return None
    found = subprocess.run(
        ["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,"
         "nounits", "-i", "0"], stdout=subprocess.PIPE,
        universal_newlines=True, check=True).stdout
    return int(found.split()[0]) * 2 ** 20


def train_steps(config, length, predictions, batch_size, mode, steps,
                warmup, workdir, memory):
  """Seconds of `steps` training steps after `warmup` ones, and the peak
  memory, through the real input pipeline and model_fn (the stripped loop
  of bench/stripped_loop.py)."""
  from lert.tagging import linguistic_tags
  from bench import stripped_loop
  from lert.pretraining_data import synthetic_data
  path = synthetic_data.write_synthetic_records(
      os.path.join(workdir, "records-%d.tfrecord" % length),
      max(4 * batch_size, 64), length, predictions, config.vocab_size,
      seed=0, missing_label_rate=0.05)
  memory.reset()
  seconds = stripped_loop.step_seconds(
      config, [path], length, predictions, batch_size, steps, warmup,
      list(linguistic_tags.TASKS), "fp32" if mode == "xla" else mode,
      mode == "xla")
  return sum(seconds), memory.peak()


def sized_batch(tf, config, length, predictions, workdir, memory):
  """The largest multiple of 8 whose fp32 training fits in 80% of the
  device's memory, from a probe at batch 8 and the fixed cost of the
  weights, their gradients and Adam's two slots."""
  import modeling
  with tf.Graph().as_default():
    modeling.BertModel(config, False, tf.zeros([1, 8], tf.int32))
    parameters = sum(int(v.shape.num_elements())
                     for v in tf.global_variables())
  fixed = 16 * parameters
  _, peak = train_steps(config, length, predictions, 8, "fp32", 2, 1,
                        workdir, memory)
  per_example = max((peak - fixed) / 8.0, 1.0)
  batch = int((0.8 * memory.total() - fixed) / per_example) // 8 * 8
  return max(8, min(batch, 2048))


def gpu_equals_cpu(tf, config, length, predictions, device, workdir):
  """One fp32 step on `device` and on the CPU from the same weights and
  batch: returns (loss difference, largest variable difference, the
  variables compared); raises when they disagree beyond fp32 tolerance."""
  import numpy as np
  import copy
  from lert.tagging import linguistic_tags
  from lert.model import lert_model
  from lert.pretraining_data import synthetic_data
  config = copy.deepcopy(config)
  config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
  tasks = list(linguistic_tags.TASKS)
  rng = np.random.RandomState(0)
  rows = [synthetic_data.synthetic_example(rng, length, predictions,
                                           config.vocab_size, 0.05)
          for _ in range(4)]
  batch = {name: np.stack([row[name] for row in rows]) for name in rows[0]}
  batch = {name: value.astype(np.float32 if value.dtype.kind == "f" else
                              np.int32) for name, value in batch.items()}
  if device == "gpu":
    tf.config.experimental.enable_tensor_float_32_execution(False)
  initial = os.path.join(workdir, "initial")
  results = {}
  for where in ("/cpu:0", "/gpu:0" if device == "gpu" else "/cpu:0"):
    with tf.Graph().as_default():
      tf.set_random_seed(1)
      with tf.device(where):
        model_fn = lert_model.model_fn_builder(
            bert_config=config, tasks=tasks, end_steps=None,
            init_checkpoint=None, learning_rate=1e-4, num_train_steps=10,
            num_warmup_steps=1)
        spec = model_fn({k: tf.constant(v) for k, v in batch.items()}, None,
                        tf.estimator.ModeKeys.TRAIN, {})
      saver = tf.train.Saver()
      variables = tf.trainable_variables()
      # (Soft placement: the range checks' assertions are host ops.)
      with tf.Session(config=tf.ConfigProto(
          allow_soft_placement=True)) as session:
        if not results:
          session.run(tf.global_variables_initializer())
          saver.save(session, initial)
        else:
          saver.restore(session, initial)
        _, loss = session.run([spec.train_op, spec.loss])
        results[len(results)] = (loss, session.run(variables))
  if device == "gpu":
    tf.config.experimental.enable_tensor_float_32_execution(True)
  (cpu_loss, cpu_vars), (dev_loss, dev_vars) = results[0], results[1]
  loss_diff = abs(float(cpu_loss) - float(dev_loss))
  var_diff = max(float(np.max(np.abs(a - b)))
                 for a, b in zip(cpu_vars, dev_vars))
  if not np.isclose(dev_loss, cpu_loss, rtol=1e-5, atol=1e-6):
    raise SystemExit("device_check: error: the training loss on the device "
                     "is %r, on the CPU %r." % (float(dev_loss),
                                               float(cpu_loss)))
  for a, b, v in zip(cpu_vars, dev_vars, variables):
    if not np.allclose(b, a, rtol=1e-5, atol=1e-7):
      raise SystemExit("device_check: error: %s after one step differs "
                       "between the device and the CPU by %g." % (
                           v.op.name, float(np.max(np.abs(a - b)))))
  return loss_diff, var_diff, len(cpu_vars)


def finetune_rate(config_file, steps, workdir, tiny):
  """steps/s of run_classifier.py end to end (length 128 or, tiny, 32),
  from the Estimator's `global_step/sec` log."""
  data = os.path.join(os.path.dirname(REPO), "shared", "data",
                      "chnsenticorp", "train.tsv")
  if not os.path.isfile(data):  # the same format, random text
    import numpy as np
    rng = np.random.RandomState(0)
    data = os.path.join(workdir, "train.tsv")
    with io.open(data, "w", encoding="utf-8") as f:
      f.write(u"label\ttext_a\n")
      for _ in range(2000):
        text = u"".join(chr(0x4e00 + int(c)) for c in
                        rng.randint(0, 3000, size=rng.randint(20, 200)))
        f.write(u"%d\t%s\n" % (rng.randint(2), text))
  length = 32 if tiny else 128
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, "run_classifier.py"),
       "--task_name=chnsenticorp", "--bert_config_file=" + config_file,
       "--vocab_file=" + os.path.join(REPO, "configs", "vocab.txt"),
       "--output_dir=" + os.path.join(workdir, "finetune"),
       "--train_file=" + data, "--do_train", "--train_from_scratch",
       "--max_seq_length=%d" % length, "--train_batch_size=32",
       "--num_train_epochs=100", "--max_train_steps=%d" % steps,
       "--save_checkpoints_steps=100000", "--save_summary_steps=%d" %
       max(1, steps // 4)],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
      universal_newlines=True)
  if result.returncode:
    raise SystemExit("device_check: error: run_classifier.py failed:\n" +
                     result.stdout[-3000:])
  rates = [float(x) for x in re.findall(r"global_step/sec: ([0-9.]+)",
                                        result.stdout)]
  if not rates:
    raise SystemExit("device_check: error: run_classifier.py logged no "
                     "global_step/sec.")
  return length, sum(rates) / len(rates)


def print_table(name, runtime, rows):
  print("Device check: %s, %s" % (name, runtime))
  print("| check | length | mode | batch | rate | MFU | peak memory | "
        "result |")
  print("| --- | --- | --- | --- | --- | --- | --- | --- |")
  for row in rows:
    print("| " + " | ".join(str(x) for x in row) + " |")


def main():
  args = parse_args()
  if args.device == "cpu":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import tensorflow.compat.v1 as tf
  import modeling
  tf.logging.set_verbosity(tf.logging.ERROR)
  started = time.time()
  lengths = [int(x) for x in (args.lengths or (
      "32,64" if args.tiny else "128,512")).split(",")]
  modes = args.modes.split(",")
  steps = args.steps or (3 if args.tiny else 20)
  workdir = tempfile.mkdtemp(prefix="device_check_")
  rows = []
  try:
    config_file = args.config
    if args.tiny:
      config_file = os.path.join(workdir, "tiny_config.json")
      with open(config_file, "w") as f:
        json.dump(TINY_CONFIG, f)
    config = modeling.BertConfig.from_json_file(config_file)
    name = device_name(tf, args.device)
    memory = Memory(tf, args.device)
    for length in lengths:
      predictions = int(math.ceil(0.15 * length))
      batch = args.batch_size or (
          8 if args.device == "cpu" else
          sized_batch(tf, config, length, predictions, workdir, memory))
      flops = model_flops.model_flops_per_example(config, length,
                                                  predictions)
      for mode in modes:
        seconds, peak = train_steps(config, length, predictions, batch,
                                    mode, steps, 2, workdir, memory)
        rate = steps * batch / seconds
        peak_rate = peak_flops(name, mode)
        achieved = rate * flops
        rows.append(Row(
            "pretrain", length, mode, batch, "%.1f examples/s" % rate,
            "%.1f%% (%.2f TFLOP/s)" % (100 * achieved / peak_rate,
                                       achieved / 1e12) if peak_rate else
            "n/a (%.3f TFLOP/s)" % (achieved / 1e12),
            "%.2f GiB" % (peak / 2.0 ** 30), "ok"))
    loss_diff, var_diff, count = gpu_equals_cpu(
        tf, config, lengths[0], int(math.ceil(0.15 * lengths[0])),
        args.device, workdir)
    rows.append(Row("%s=cpu" % args.device, lengths[0], "fp32", 4, "-", "-",
                    "-", "loss differs by %.1e, %d variables by at most "
                    "%.1e" % (loss_diff, count, var_diff)))
    length, rate = finetune_rate(
        config_file, args.finetune_steps or (6 if args.tiny else 200),
        workdir, args.tiny)
    rows.append(Row("finetune", length, "fp32", 32, "%.2f steps/s" % rate,
                    "-", "-", "run_classifier.py end to end"))
  finally:
    shutil.rmtree(workdir, ignore_errors=True)
  print_table(name, "TensorFlow %s" % tf.__version__, rows)
  print("Model FLOPs per example: %s; wall time %.0f s." % (", ".join(
      "%d at length %d" % (model_flops.model_flops_per_example(
          config, n, int(math.ceil(0.15 * n))), n) for n in lengths),
      time.time() - started))


if __name__ == "__main__":
  main()
