# coding=utf-8
"""The model_fn of a fine-tuning task: the encoder, warm-started from
`--init_checkpoint` (ours, Google/HFL BERT, or converted from Hugging
Face), a sequence, token or span output layer, and
`optimization.create_optimizer`.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import tensorflow.compat.v1 as tf

from lert.model import encoder
from lert.running import checkpoints
import modeling
import optimization


# The output layer of a task: new by design in a warm start (see
# create_output_layer; run_squad's sits under cls/squad).
OUTPUT_LAYER_VARIABLES = ("output_weights", "output_bias", "cls/squad/")


def create_output_layer(bert_config, model, num_labels, kind, is_training,
                        dropout_prob=0.1):
  """Logits of a sequence ([batch, labels], from the pooled [CLS]) or token
  ([batch, seq, labels]) output layer. Its variables are Google BERT
  run_classifier's `output_weights` [labels, H] and `output_bias`; its
  input is dropped out with `dropout_prob` in training (Google's 0.1)."""
  hidden_size = bert_config.hidden_size
  output_weights = tf.get_variable(
      "output_weights", [num_labels, hidden_size],
      initializer=tf.truncated_normal_initializer(stddev=0.02))
  output_bias = tf.get_variable("output_bias", [num_labels],
                                initializer=tf.zeros_initializer())
  if kind == "sequence":
    output = model.get_pooled_output()
  else:
    output = model.get_sequence_output()
  if is_training and dropout_prob > 0:
    output = modeling.dropout(output, dropout_prob)
  shape = modeling.get_shape_list(output)
  flat = tf.reshape(output, [-1, hidden_size])
  logits = tf.nn.bias_add(tf.matmul(flat, output_weights, transpose_b=True),
                          output_bias)
  return tf.reshape(logits, shape[:-1] + [num_labels])


def model_fn_builder(bert_config, num_labels, kind, init_checkpoint,
                     learning_rate, num_train_steps, num_warmup_steps,
                     use_tpu, use_one_hot_embeddings, weight_decay_rate=0.01,
                     output_dropout_prob=0.1):
  """The model_fn of a fine-tuning task.

  kind "sequence": features `label_id` [batch]; kind "token": `label_ids`
  and `label_mask` [batch, seq] (the loss is taken where the mask is 1);
  kind "span" (reading comprehension, `num_labels` 2): `start_positions`
  and `end_positions` [batch], the layer under Google's `cls/squad` scope.
  PREDICT returns `probabilities` (or `start_logits` and `end_logits`) and
  passes `example_index` through.
  """
  def model_fn(features, labels, mode, params):
    del labels, params
    is_training = mode == tf.estimator.ModeKeys.TRAIN
    model = encoder.encoder(bert_config, mode, features,
                            use_one_hot_embeddings)
    if kind == "span":  # Google BERT run_squad's names
      with tf.variable_scope("cls/squad"):
        logits = create_output_layer(bert_config, model, num_labels, "token",
                                     is_training, output_dropout_prob)
    else:
      logits = create_output_layer(bert_config, model, num_labels, kind,
                                   is_training, output_dropout_prob)
    if mode == tf.estimator.ModeKeys.PREDICT:
      predictions = {"example_index": tf.reshape(features["example_index"],
                                                 [-1])}
      if kind == "span":
        predictions["start_logits"] = logits[:, :, 0]
        predictions["end_logits"] = logits[:, :, 1]
      else:
        predictions["probabilities"] = tf.nn.softmax(logits, axis=-1)
      # The Estimator restores the fine-tuned checkpoint.
      return tf.estimator.tpu.TPUEstimatorSpec(mode=mode,
                                               predictions=predictions)
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    if kind == "span":
      losses = []
      for column, name in enumerate(("start_positions", "end_positions")):
        position_log_probs = tf.nn.log_softmax(logits[:, :, column], axis=-1)
        one_hot = tf.one_hot(tf.reshape(features[name], [-1]),
                             depth=modeling.get_shape_list(logits)[1])
        losses.append(-tf.reduce_mean(tf.reduce_sum(
            one_hot * position_log_probs, axis=-1)))
      loss = (losses[0] + losses[1]) / 2.0
    elif kind == "sequence":
      # label_id is parsed as [batch, 1]: flatten it, or the one-hot would
      # broadcast against every example's log-probabilities.
      one_hot = tf.one_hot(tf.reshape(features["label_id"], [-1]),
                           depth=num_labels)
      loss = -tf.reduce_mean(tf.reduce_sum(one_hot * log_probs, axis=-1))
    else:
      one_hot = tf.one_hot(features["label_ids"], depth=num_labels)
      mask = tf.cast(features["label_mask"], tf.float32)
      per_token = -tf.reduce_sum(one_hot * log_probs, axis=-1)
      loss = tf.reduce_sum(per_token * mask) / (tf.reduce_sum(mask) + 1e-5)
    if mode != tf.estimator.ModeKeys.TRAIN:
      raise ValueError("Evaluation runs through PREDICT (metrics on the "
                       "host); mode %s is not used." % mode)
    scaffold_fn = checkpoints.init_from_checkpoint(
        init_checkpoint, use_tpu,
        new_by_design=OUTPUT_LAYER_VARIABLES).scaffold_fn
    train_op = optimization.create_optimizer(
        loss, learning_rate, num_train_steps, num_warmup_steps,
        use_tpu=use_tpu, weight_decay_rate=weight_decay_rate)
    return tf.estimator.tpu.TPUEstimatorSpec(
        mode=mode, loss=loss, train_op=train_op, scaffold_fn=scaffold_fn)

  return model_fn
