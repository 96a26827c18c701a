# coding=utf-8
"""Helpers shared by the pre-training tests."""

import os

import numpy as np
import tensorflow.compat.v1 as tf

from lert.model import lert_model
from lert.pretraining_data import synthetic_data
from lert.running import estimator_runner
from lert.running import input_pipeline
from lert.running import run_config
from lert.tagging import linguistic_tags

# The length, predictions and vocabulary of the synthetic records.
SEQ, PRED, VOCAB = 16, 4, 150


def fixed_batch(vocab_size, batch_size=4, max_seq_length=16,
                max_predictions_per_seq=5, seed=0, missing_label_rate=0.3):
  """A batch of random records as numpy arrays (int32 / float32)."""
  rng = np.random.RandomState(seed)
  rows = [synthetic_data.synthetic_example(rng, max_seq_length,
                                           max_predictions_per_seq,
                                           vocab_size, missing_label_rate)
          for _ in range(batch_size)]
  batch = {}
  for name in rows[0]:
    values = np.stack([row[name] for row in rows])
    batch[name] = values.astype(
        np.float32 if values.dtype.kind == "f" else np.int32)
  return batch


def build_model_fn(config, tasks=linguistic_tags.TASKS, num_train_steps=100,
                   end_steps=None, lip_schedule="linear", learning_rate=1e-3,
                   num_warmup_steps=10, output_dir=None, init_checkpoint=None,
                   **kwargs):
  if end_steps is None:
    end_steps = lert_model.lip_end_steps(num_train_steps)
  return lert_model.model_fn_builder(
      bert_config=config, tasks=list(tasks), end_steps=end_steps,
      lip_schedule=lip_schedule, init_checkpoint=init_checkpoint,
      learning_rate=learning_rate, num_train_steps=num_train_steps,
      num_warmup_steps=num_warmup_steps, use_tpu=False,
      use_one_hot_embeddings=False, output_dir=output_dir, **kwargs)


def run_settings(output_dir, **overrides):
  values = dict(output_dir=output_dir, use_tpu=False, tpu_name=None,
                tpu_zone=None, gcp_project=None, master=None,
                num_tpu_cores=8, iterations_per_loop=1000, num_gpus=0,
                use_xla=False, save_checkpoints_steps=5, save_summary_steps=1,
                keep_checkpoint_max=0, random_seed=1, worker_timeout_secs=600)
  values.update(overrides)
  return run_config.RunSettings(**values)


def constant_features(batch):
  return {name: tf.constant(value) for name, value in batch.items()}


def train_tiny_checkpoint(output_dir, record_paths, config, tasks=("pos", "ner",
                                                                    "dep"),
                          steps=4, gradient_accumulation_steps=1,
                          seq_length=16, max_predictions=4,
                          learning_rate=1e-3, batch_size=4, **kwargs):
  """Trains a tiny model on records for a few steps; returns its checkpoint.

  kwargs go to lert_model.model_fn_builder."""
  required, optional = lert_model.pretraining_features(
      seq_length, max_predictions, list(tasks))
  required.update(optional)
  model_fn = build_model_fn(
      config, tasks=tasks, num_train_steps=steps, num_warmup_steps=1,
      learning_rate=learning_rate,
      gradient_accumulation_steps=gradient_accumulation_steps, **kwargs)
  runner = estimator_runner.EstimatorRunner(
      model_fn, run_settings(output_dir, save_checkpoints_steps=steps),
      train_batch_size=batch_size // gradient_accumulation_steps)
  runner.train(input_pipeline.input_fn_builder(record_paths, required,
                                               is_training=True, seed=3),
               max_steps=steps)
  return tf.train.latest_checkpoint(output_dir)


def write_records(directory, num_files=2, records_per_file=13):
  """Synthetic pre-training records (SEQ, PRED, VOCAB), a fifth of the
  labels missing, in `num_files` files; returns their paths."""
  paths = []
  for i in range(num_files):
    path = os.path.join(str(directory), "part-%d.tfrecord" % i)
    synthetic_data.write_synthetic_records(path, records_per_file, SEQ, PRED,
                                           VOCAB, seed=i,
                                           missing_label_rate=0.2)
    paths.append(path)
  return paths
