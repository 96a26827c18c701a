# coding=utf-8
r"""Pre-training throughput: steady-state examples/second and peak memory.

Trains LERT (MLM + POS/NER/DEP heads, AdamW) on synthetic but valid records
through the real input pipeline and model_fn, skips the first steps (graph
warm-up), then times the rest.

  python bench/pretrain_throughput.py --config configs/lert_config_small.json \
      --max_seq_length 128 --batch_size 32
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import math
import os
import platform
import resource
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow.compat.v1 as tf

import estimator_utils
import input_pipeline
import linguistic_tags
import modeling
import lert_model
import run_pretraining
import synthetic_data


def parse_args():
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
  return parser.parse_args()


def peak_memory_mib():
  # ru_maxrss is in KiB on Linux.
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_training(args, config, tasks, max_predictions, workdir):
  """Builds the training graph on synthetic records; returns timed seconds."""
  path = synthetic_data.write_synthetic_records(
      os.path.join(workdir, "synthetic.tfrecord"),
      max(4 * args.batch_size, 256), args.max_seq_length, max_predictions,
      config.vocab_size, seed=0, missing_label_rate=0.05)
  required, optional = lert_model.pretraining_features(
      args.max_seq_length, max_predictions, tasks)
  required.update(optional)
  input_fn = input_pipeline.input_fn_builder([path], required,
                                             is_training=True, seed=0)
  features = tf.data.make_one_shot_iterator(
      input_fn({"batch_size": args.batch_size})).get_next()
  total_steps = args.warmup_steps + args.steps
  model_fn = lert_model.model_fn_builder(
      bert_config=config, tasks=tasks,
      end_steps=lert_model.lip_end_steps(total_steps),
      lip_schedule="linear", init_checkpoint=None, learning_rate=1e-4,
      num_train_steps=total_steps, num_warmup_steps=1, use_tpu=False,
      use_one_hot_embeddings=False,
      compute_type=run_pretraining.COMPUTE_TYPES[args.precision])
  spec = model_fn(features, None, tf.estimator.ModeKeys.TRAIN, {})
  config = estimator_utils.session_config(args.use_xla)
  with tf.Session(config=config) as sess:
    sess.run(tf.global_variables_initializer())
    for _ in range(args.warmup_steps):
      sess.run(spec.train_op)
    start = time.time()
    for _ in range(args.steps):
      sess.run(spec.train_op)
    return time.time() - start


def main():
  args = parse_args()
  tf.logging.set_verbosity(tf.logging.ERROR)
  config = modeling.BertConfig.from_json_file(args.config)
  max_predictions = (args.max_predictions_per_seq or
                     int(math.ceil(0.15 * args.max_seq_length)))
  tasks = linguistic_tags.parse_task_list(args.linguistic_tasks)
  workdir = tempfile.mkdtemp(prefix="lert_bench_")
  try:
    with tf.Graph().as_default():  # graph mode on TF 2 too
      elapsed = time_training(args, config, tasks, max_predictions, workdir)
  finally:
    shutil.rmtree(workdir)

  print("LERT pre-training throughput")
  print("  config            %s (L=%d, H=%d, A=%d)" % (
      args.config, config.num_hidden_layers, config.hidden_size,
      config.num_attention_heads))
  print("  tasks             mlm,%s" % ",".join(tasks))
  print("  sequence length   %d (%d predictions)" % (args.max_seq_length,
                                                      max_predictions))
  print("  batch size        %d" % args.batch_size)
  print("  precision         %s%s" % (args.precision,
                                      " + XLA" if args.use_xla else ""))
  print("  timed steps       %d (after %d warm-up steps)" % (
      args.steps, args.warmup_steps))
  print("  seconds / step    %.3f" % (elapsed / args.steps))
  print("  examples / second %.1f" % (args.steps * args.batch_size / elapsed))
  print("  peak memory       %.0f MiB (process RSS)" % peak_memory_mib())
  print("  runtime           TensorFlow %s, Python %s" % (
      tf.__version__, platform.python_version()))
  print("  machine           %s, %d CPUs" % (platform.machine(),
                                             os.cpu_count() or 0))


if __name__ == "__main__":
  main()
