# coding=utf-8
"""Helpers shared by the pre-training tests."""

import numpy as np
import tensorflow.compat.v1 as tf

import estimator_utils
import linguistic_tags
import run_pretraining
import synthetic_data


def fixed_batch(vocab_size, batch_size=4, max_seq_length=16,
                max_predictions_per_seq=5, seed=0, missing_label_rate=0.3):
  """A batch of random records as numpy arrays (int32 / float32)."""
  rng = np.random.RandomState(seed)
  rows = [synthetic_data.synthetic_example(rng, max_seq_length,
                                           max_predictions_per_seq,
                                           vocab_size, missing_label_rate)
          for _ in range(batch_size)]
  batch = {}
  for name in rows[0][0]:
    batch[name] = np.stack([r[0][name] for r in rows]).astype(np.int32)
  for name in rows[0][1]:
    batch[name] = np.stack([r[1][name] for r in rows]).astype(np.float32)
  return batch


def build_model_fn(config, tasks=linguistic_tags.TASKS, num_train_steps=100,
                   end_steps=None, lip_schedule="linear", learning_rate=1e-3,
                   num_warmup_steps=10, output_dir=None, **kwargs):
  if end_steps is None:
    end_steps = run_pretraining.lip_end_steps(num_train_steps)
  return run_pretraining.model_fn_builder(
      bert_config=config, tasks=list(tasks), end_steps=end_steps,
      lip_schedule=lip_schedule, init_checkpoint=None,
      learning_rate=learning_rate, num_train_steps=num_train_steps,
      num_warmup_steps=num_warmup_steps, use_tpu=False,
      use_one_hot_embeddings=False, output_dir=output_dir, **kwargs)


def run_settings(output_dir, **overrides):
  values = dict(output_dir=output_dir, use_tpu=False, tpu_name=None,
                tpu_zone=None, gcp_project=None, master=None,
                num_tpu_cores=8, iterations_per_loop=1000, num_gpus=0,
                use_xla=False, save_checkpoints_steps=5, save_summary_steps=1,
                keep_checkpoint_max=0, random_seed=1)
  values.update(overrides)
  return estimator_utils.RunSettings(**values)


def constant_features(batch):
  return {name: tf.constant(value) for name, value in batch.items()}
