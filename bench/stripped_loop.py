# coding=utf-8
"""The stripped pre-training loop that the benchmarks time: the real input
pipeline and model_fn's train_op in a bare session.run loop, with no
Estimator, hooks, summaries or checkpoints (the speed the model itself
allows). bench/pretrain_throughput.py sets it beside run_pretraining.py;
bench/device_check.py times it on a GPU."""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import time


def step_seconds(config, record_paths, max_seq_length,
                 max_predictions_per_seq, batch_size, steps, warmup_steps,
                 tasks, precision="fp32", use_xla=False):
  """The seconds of each of `steps` train_op runs after `warmup_steps`
  untimed ones, in this process. The learning rate and LIP schedules are
  those of run_pretraining.py for warmup_steps + steps + 1 steps (what
  bench/pretrain_throughput.py gives the script)."""
  import tensorflow.compat.v1 as tf
  from lert.running import run_config
  from lert.running import input_pipeline
  from lert.model import lert_model
  import run_pretraining
  required, optional = lert_model.pretraining_features(
      max_seq_length, max_predictions_per_seq, tasks)
  required.update(optional)
  total_steps = warmup_steps + steps + 1
  with tf.Graph().as_default():  # graph mode on TF 2 too
    input_fn = input_pipeline.input_fn_builder(
        sorted(record_paths), required, is_training=True, seed=0)
    features = tf.data.make_one_shot_iterator(
        input_fn({"batch_size": batch_size})).get_next()
    model_fn = lert_model.model_fn_builder(
        bert_config=config, tasks=tasks,
        end_steps=lert_model.lip_end_steps(total_steps),
        lip_schedule="linear", init_checkpoint=None, learning_rate=1e-4,
        num_train_steps=total_steps, num_warmup_steps=1,
        compute_type=run_pretraining.COMPUTE_TYPES[precision])
    spec = model_fn(features, None, tf.estimator.ModeKeys.TRAIN, {})
    with tf.Session(config=run_config.session_config(
        use_xla)) as session:
      session.run(tf.global_variables_initializer())
      for _ in range(warmup_steps):
        session.run(spec.train_op)
      times = [time.time()]
      for _ in range(steps):
        session.run(spec.train_op)
        times.append(time.time())
  return [b - a for a, b in zip(times, times[1:])]
