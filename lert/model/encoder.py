# coding=utf-8
"""The BERT encoder of a model_fn: the one place a model_fn of this project
builds `modeling.BertModel`.

In training, its dropout masks are drawn from the seed and the step
(`modeling.set_dropout_step`), so that a run resumed from a checkpoint is
the exact continuation of the stopped one (docs/reliability.md#exact-resume);
a model_fn that built BertModel itself could forget it, and nothing would
say so until a resumed run drifted.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import tensorflow.compat.v1 as tf

import modeling
import optimization


def encoder(bert_config, mode, features, use_one_hot_embeddings=False,
            gradient_accumulation_steps=1, **kwargs):
  """The BertModel of `features` (input_ids, input_mask, segment_ids) for
  the Estimator `mode`; `kwargs` go to BertModel (compute_type,
  add_pooler, added_token_ids)."""
  is_training = mode == tf.estimator.ModeKeys.TRAIN
  if is_training:  # masks drawn from the seed and the step: exact resume
    modeling.set_dropout_step(
        optimization.training_step(gradient_accumulation_steps))
  return modeling.BertModel(
      config=bert_config, is_training=is_training,
      input_ids=features["input_ids"], input_mask=features["input_mask"],
      token_type_ids=features["segment_ids"],
      use_one_hot_embeddings=use_one_hot_embeddings, **kwargs)
