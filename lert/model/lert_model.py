# coding=utf-8
"""The LERT pre-training model: heads, losses, LIP and the model_fn.

This is the one home of what pre-training, evaluation and prediction share:

* the adapter from the TFRecord schema of docs/spec.md §4 to TensorFlow
  readers (`record_schema`, `pretraining_features`; the schema itself and
  its serialization live in the TensorFlow-free `records.py`, which
  `create_pretraining_data.py` writes with), and the range checks of the
  values read (`value_ranges`, `range_checks`);
* the heads of docs/spec.md §2 at the masked positions (`lert_head_logits`) and
  their losses (docs/spec.md §3);
* the LIP schedule (`lip_end_steps`, `lip_lambdas`);
* the `TPUEstimator` model_fn (`model_fn_builder`) for TRAIN, EVAL and
  PREDICT, with its metrics, summaries and PREDICT tensors
  (`prediction_outputs`), used by `run_pretraining.py` and
  `predict_linguistic.py`.

The names and shapes of the checkpoint's parameters, and their Hugging Face
names, live in `checkpoint_parameters.py`; the JSON form of a PREDICT output
in `prediction_format.py`.

The loss is

    L = L_MLM + λ_POS·L_POS + λ_NER·L_NER + λ_DEP·L_DEP,  λ_t = min(step/T_t, 1)

where every task's loss is the cross-entropy at the masked positions. All
heads read the same transformed hidden states of the masked positions
(`cls/predictions/transform`, H̃ in the paper); there is no next-sentence
prediction.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections

import tensorflow.compat.v1 as tf
import tensorflow.compat.v2 as tf2

from lert.contract import input_reading
from lert.contract import script_errors
from lert.model import checkpoint_parameters
from lert.model import collapse_guard
from lert.model import encoder
from lert.pretraining_data import records
from lert.running import checkpoints
from lert.running import input_pipeline
from lert.tagging import linguistic_tags
import modeling
import optimization

# ----------------------------------------------------------------------------
# The record schema (docs/spec.md §4).

# The schema lives in the TensorFlow-free records.py (data preparation
# imports no TensorFlow); the feature names come from its functions.


def record_schema(max_seq_length, max_predictions_per_seq,
                  with_label_weights=True, with_mask_tags=False):
  """name -> input_pipeline.FeatureSpec of every feature of a pre-training
  record (records.record_layout with TensorFlow dtypes)."""
  return collections.OrderedDict(
      (name, input_pipeline.FeatureSpec(
          tf.float32 if layout.is_float else tf.int64, layout.length))
      for name, layout in records.record_layout(
          max_seq_length, max_predictions_per_seq,
          with_label_weights, with_mask_tags).items())


def pretraining_features(max_seq_length, max_predictions_per_seq, tasks,
                         with_mask_tags=False):
  """The record features to read: (required, optional) dicts of FeatureSpec.

  The labels of a task are required only when the task is trained. The
  optional `<task>_label_weights` (1.0 where the word has a usable tag) mark
  missing labels; without them every masked position has a label. With
  `with_mask_tags`, the `mask_tag_ids` of linguistic masking "all" are
  optional too (docs/spec.md §8).
  """
  schema = record_schema(max_seq_length, max_predictions_per_seq,
                         with_mask_tags=True)
  required, optional = {}, {}
  for name in records.SEQUENCE_FEATURES + records.MASKED_LM_FEATURES:
    required[name] = schema[name]
  for task in tasks:
    required[records.labels_feature(task)] = schema[
        records.labels_feature(task)]
    optional[records.label_weights_feature(task)] = schema[
        records.label_weights_feature(task)]
  if with_mask_tags:
    optional[records.MASK_TAG_FEATURE] = schema[records.MASK_TAG_FEATURE]
  return required, optional


def value_ranges(bert_config, max_seq_length, tasks):
  """name -> [low, high) of the values a record may hold for this model."""
  ranges = {"input_ids": (0, bert_config.vocab_size),
            "masked_lm_ids": (0, bert_config.vocab_size),
            "segment_ids": (0, bert_config.type_vocab_size),
            "input_mask": (0, 2),
            "masked_lm_positions": (0, max_seq_length),
            records.MASK_TAG_FEATURE: (0, bert_config.vocab_size)}
  for task in tasks:
    ranges[records.labels_feature(task)] = (0, linguistic_tags.NUM_TAGS[task])
  return ranges


def _slot_id(task, label):
  """The id of a tag mask token in the Chinese BERT vocabulary, whose
  `[unusedN]` has id N (docs/spec.md §8)."""
  return int(linguistic_tags.mask_tag_slot(task, label)[len("[unused"):-1])


class HeadLabelCheck(object):
  """Before training: every head of `tasks` must have labels to learn from
  in the records, and none may be handed its label at the input.

  `visit` sees records (input_pipeline.check_input_files passes those it
  reads); `check` then raises InputError when no record seen carries a
  label of a head's task (its `<task>_label_weights` all 0: a corpus
  without those tags; the head would train on nothing, loss 0), or when a
  record writes a head's label into its input as a tag mask token (records
  of --linguistic_masking=<task>, mix or all: the head would read its
  answer; docs/spec.md §8 trains them with the MLM alone). The tag mask
  tokens are found by their ids in the Chinese BERT vocabulary ([unusedN]
  = id N).
  """

  def __init__(self, tasks):
    self.tasks = list(tasks)
    self._labelled = set()
    self._leaked = {}  # task -> "file: record N"

  def visit(self, path, number, features):
    values = {name: input_pipeline.feature_values(feature)[1]
              for name, feature in features.items()}
    positions = values["masked_lm_positions"]
    used = [w > 0 for w in values["masked_lm_weights"]]
    tags = values.get(records.MASK_TAG_FEATURE)
    for task in self.tasks:
      weights = values.get(records.label_weights_feature(task),
                           [1.0] * len(positions))
      labels = values[records.labels_feature(task)]
      for i, position in enumerate(positions):
        if not used[i] or weights[i] <= 0:
          continue
        self._labelled.add(task)
        inputs = [values["input_ids"][position]]
        if tags:
          inputs += tags[records.MASK_TAGS_PER_POSITION * position:
                         records.MASK_TAGS_PER_POSITION * (position + 1)]
        if _slot_id(task, labels[i]) in inputs:
          self._leaked.setdefault(task, "%s: record %d" % (path, number))

  def check(self, input_files):
    for task in self.tasks:
      if task in self._leaked:
        raise script_errors.InputError(
            "%s writes the %s tag of a masked token into its input (records "
            "of --linguistic_masking=%s, mix or all): the %s head would read "
            "its label there. Train LMLM records with the MLM alone "
            "(--linguistic_tasks=, the paper's Table 9), or make the records "
            "with --linguistic_masking=none." % (
                self._leaked[task], task.upper(), task, task.upper()))
      if task not in self._labelled:
        raise script_errors.InputError(
            "--linguistic_tasks=%s: no record of --input_file (%s) carries "
            "a %s label (%s is 0 at every masked position): the %s head "
            "would train on nothing. Make the records from a corpus with %s "
            "tags, or leave %s out of --linguistic_tasks." % (
                ",".join(self.tasks), input_reading.describe_files(input_files),
                task.upper(), records.label_weights_feature(task),
                task.upper(), task.upper(), task))


# Records of each file that HeadLabelCheck sees (without --check_records):
# ~200 masked positions, enough to find each head's labels and the tag masks
# of LMLM records.
HEAD_CHECK_RECORDS = 10


def check_head_labels(input_files, tasks, max_records=HEAD_CHECK_RECORDS):
  """HeadLabelCheck of the first `max_records` records of each file (None:
  all of them)."""
  check = HeadLabelCheck(tasks)
  input_pipeline.check_input_files(
      input_files, {}, all_records=max_records is None, visit=check.visit,
      visit_records=max_records or 1)
  check.check(input_files)


# The message of a failed in-graph range check.
OUT_OF_RANGE = "holds a value outside"


def range_checks(features, ranges):
  """Ops that fail when a feature leaves its range (CPU/GPU, not TPU): an
  out-of-range label would give a zero one-hot row and a loss of 0, a
  position past the end would read the next example's token."""
  checks = []
  for name, (low, high) in sorted(ranges.items()):
    if name in features:
      value = features[name]
      checks.append(tf.debugging.assert_greater_equal(
          value, tf.cast(low, value.dtype),
          message="%s %s [%d, %d)" % (name, OUT_OF_RANGE, low, high)))
      checks.append(tf.debugging.assert_less(
          value, tf.cast(high, value.dtype),
          message="%s %s [%d, %d)" % (name, OUT_OF_RANGE, low, high)))
  return checks


# ----------------------------------------------------------------------------
# The LIP schedule (docs/spec.md §3).

# The fraction of the training steps at which the 1st, 2nd and 3rd task of the
# LIP order reaches full weight (paper §3.3.3).
LIP_FRACTIONS = (1.0 / 6.0, 1.0 / 3.0, 1.0 / 2.0)
_ORDER_LETTERS = {"P": "pos", "N": "ner", "D": "dep"}


def lip_end_steps(num_train_steps, order="PND", explicit=None):
  """The end step T of each task's λ warm-up.

  Args:
    num_train_steps: total optimiser updates.
    order: a permutation of "PND"; its tasks get 1/6, 1/3 and 1/2 of the
      steps in turn.
    explicit: optional dict task -> T that overrides the order.

  Returns:
    dict task -> int T.
  """
  order = order.upper()
  if sorted(order) != sorted("PND"):
    raise ValueError("--lip_order must be a permutation of PND (e.g. PND, "
                     "PDN, NPD, DNP), got %r." % order)
  end_steps = {}
  for letter, fraction in zip(order, LIP_FRACTIONS):
    end_steps[_ORDER_LETTERS[letter]] = int(num_train_steps * fraction)
  for task, step in (explicit or {}).items():
    if step is not None:
      if step < 0:
        raise ValueError("The end step of %s must be >= 0, got %d." %
                         (task, step))
      end_steps[task] = step
  return end_steps


def lip_lambdas(global_step, tasks, end_steps, schedule="linear"):
  """λ_t = min(step / T_t, 1) for each task (1 with schedule "none")."""
  step = tf.cast(global_step, tf.float32)
  lambdas = {}
  for task in tasks:
    if schedule == "none" or end_steps[task] == 0:
      lambdas[task] = tf.constant(1.0)
    else:
      lambdas[task] = tf.minimum(step / float(end_steps[task]), 1.0)
  return lambdas


# ----------------------------------------------------------------------------
# Heads and losses (docs/spec.md §2, §3).


def gather_indexes(sequence_tensor, positions):
  """Gathers [batch, num_positions] positions of [batch, seq, width]."""
  batch_size, seq_length, width = modeling.get_shape_list(sequence_tensor,
                                                          expected_rank=3)
  offsets = tf.reshape(tf.range(0, batch_size, dtype=tf.int32) * seq_length,
                       [-1, 1])
  flat_positions = tf.reshape(positions + offsets, [-1])
  flat_sequence = tf.reshape(sequence_tensor, [batch_size * seq_length, width])
  return tf.gather(flat_sequence, flat_positions)


def lert_head_logits(bert_config, sequence_output, embedding_table, positions,
                     tasks):
  """Logits of the MLM head and the linguistic heads at masked positions.

  Returns a dict: "mlm" -> [batch*num_positions, vocab_size] and each task
  -> [batch*num_positions, number of tags]. The variables are those of
  docs/spec.md §2, under `cls/predictions`.
  """
  hidden = gather_indexes(sequence_output, positions)
  logits = {}
  with tf.variable_scope("cls/predictions"):
    with tf.variable_scope("transform"):
      hidden = modeling.dense(
          hidden, bert_config.hidden_size,
          activation=modeling.get_activation(bert_config.hidden_act),
          kernel_initializer=modeling.create_initializer(
              bert_config.initializer_range),
          name="dense")
      hidden = modeling.layer_norm(hidden)
    # MLM: tied to the input word embeddings, plus an output-only bias.
    output_bias = tf.get_variable("output_bias",
                                  shape=[bert_config.vocab_size],
                                  initializer=tf.zeros_initializer())
    logits["mlm"] = tf.nn.bias_add(
        tf.matmul(hidden, embedding_table, transpose_b=True), output_bias)
    for task in tasks:
      logits[task] = modeling.dense(
          hidden, linguistic_tags.NUM_TAGS[task],
          kernel_initializer=modeling.create_initializer(
              bert_config.initializer_range),
          name=checkpoint_parameters.head_layer_name(task))
  return logits


def weighted_cross_entropy(logits, label_ids, weights):
  """sum(w·ce) / (sum(w) + 1e-5); returns (loss, per-position ce)."""
  log_probs = tf.nn.log_softmax(logits, axis=-1)
  one_hot = tf.one_hot(label_ids, depth=modeling.get_shape_list(logits)[-1],
                       dtype=tf.float32)
  per_position = -tf.reduce_sum(log_probs * one_hot, axis=-1)
  loss = tf.reduce_sum(weights * per_position) / (tf.reduce_sum(weights) +
                                                  1e-5)
  return loss, per_position


def task_weights(features, task):
  """Weights of a task's loss: padding and missing labels weigh 0."""
  weights = tf.reshape(features["masked_lm_weights"], [-1])
  if records.label_weights_feature(task) in features:
    weights *= tf.reshape(features[records.label_weights_feature(task)], [-1])
  return weights


# One head's loss: the weighted mean, and per position the cross-entropy,
# the label and the weight (flat over batch × positions).
HeadLoss = collections.namedtuple(
    "HeadLoss", ["loss", "per_position", "labels", "weights"])


def lert_losses(features, logits, tasks):
  """name ("mlm" or a task) -> HeadLoss."""
  label_names = {"mlm": "masked_lm_ids"}
  label_names.update({task: records.labels_feature(task) for task in tasks})
  losses = {}
  for name, label_name in label_names.items():
    labels = tf.reshape(features[label_name], [-1])
    weights = (tf.reshape(features["masked_lm_weights"], [-1])
               if name == "mlm" else task_weights(features, name))
    loss, per_position = weighted_cross_entropy(logits[name], labels, weights)
    losses[name] = HeadLoss(loss, per_position, labels, weights)
  return losses


def _metric_fn(**tensors):
  """Accuracy and mean loss of each head over the evaluation set.

  For the linguistic heads also `<task>_majority_accuracy`: the accuracy of
  always answering the most frequent gold tag of the evaluated positions,
  the baseline a head must beat to have learned anything; and
  `final_layer_cosine`, the mean pairwise cosine of the final-layer token
  states (collapse_guard: near 1, the encoder has collapsed).
  """
  metrics = {"final_layer_cosine": collapse_guard.cosine_metric(
      tensors["final_unit_sums"], tensors["final_token_counts"])}
  for name in ["mlm"] + list(linguistic_tags.TASKS):
    if name + "_logits" not in tensors:
      continue
    prefix = "masked_lm" if name == "mlm" else name
    weights = tensors[name + "_weights"]
    logits = tensors[name + "_logits"]
    labels = tensors[records.labels_feature(name)]
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    metrics[prefix + "_accuracy"] = tf.metrics.accuracy(
        labels=labels, predictions=predictions, weights=weights)
    metrics[prefix + "_loss"] = tf.metrics.mean(
        values=tensors[name + "_per_position"], weights=weights)
    if name != "mlm":
      # The mean over batches of each tag's weighted count: the largest
      # over the sum is the majority tag's share of all positions.
      counts = tf.reduce_sum(
          tf.one_hot(labels, linguistic_tags.NUM_TAGS[name]) *
          tf.expand_dims(weights, -1), axis=0)
      mean_counts, update = tf.metrics.mean_tensor(counts)
      metrics[prefix + "_majority_accuracy"] = tuple(
          tf.math.divide_no_nan(tf.reduce_max(c), tf.reduce_sum(c))
          for c in (mean_counts, update))
  return metrics


def _summary_host_call(output_dir, save_summary_steps, global_step, scalars):
  """TensorBoard scalars through a host_call, which works on TPU and CPU."""
  names = sorted(scalars)
  tensors = [tf.reshape(tf.cast(global_step, tf.int64), [1])]
  tensors += [tf.reshape(tf.cast(scalars[name], tf.float32), [1])
              for name in names]

  def host_call_fn(step, *values):
    step = step[0]
    summary = tf2.summary
    writer = summary.create_file_writer(output_dir)
    every = max(save_summary_steps, 1)
    with writer.as_default(), summary.record_if(
        tf.equal(step % every, 0)):
      for name, value in zip(names, values):
        summary.scalar(name, value[0], step=step)
      return tf.summary.all_v2_summary_ops()

  return host_call_fn, tensors


def prediction_outputs(logits, features, tasks, top_k):
  """The PREDICT outputs at every masked position of a batch.

  Returns name -> Tensor with the batch as first dimension:
    masked_lm_positions, masked_lm_weights: [batch, P] (weight 0 = padding);
    masked_input_ids: [batch, P], the input token at each (a tag mask
      token under linguistic masking; with `mask_tag_ids`
      masked_mask_tag_ids [batch, P, 2] too);
    mlm_top_ids, mlm_top_probs: [batch, P, top_k], best first;
    <task>_probs: [batch, P, number of tags], the full distribution.
  Only ops that run on TPU (softmax, top_k, reshape).
  """
  positions = features["masked_lm_positions"]
  batch_size, num_positions = modeling.get_shape_list(positions,
                                                      expected_rank=2)
  mlm_probs = tf.nn.softmax(logits["mlm"], axis=-1)
  top_probs, top_ids = tf.nn.top_k(mlm_probs, k=top_k)
  outputs = {
      "masked_lm_positions": positions,
      "masked_lm_weights": features["masked_lm_weights"],
      "mlm_top_ids": tf.reshape(top_ids, [batch_size, num_positions, top_k]),
      "mlm_top_probs": tf.reshape(top_probs,
                                  [batch_size, num_positions, top_k]),
      "masked_input_ids": tf.gather(features["input_ids"], positions,
                                    batch_dims=1),
  }
  if records.MASK_TAG_FEATURE in features:
    seq_length = modeling.get_shape_list(features["input_ids"])[1]
    outputs["masked_mask_tag_ids"] = tf.gather(
        tf.reshape(features[records.MASK_TAG_FEATURE],
                   [batch_size, seq_length, records.MASK_TAGS_PER_POSITION]),
        positions, batch_dims=1)
  for task in tasks:
    outputs[task + "_probs"] = tf.reshape(
        tf.nn.softmax(logits[task], axis=-1),
        [batch_size, num_positions, linguistic_tags.NUM_TAGS[task]])
  # The gold labels pass through when the input has them.
  label_features = ([records.labels_feature(task) for task in tasks] +
                    [records.label_weights_feature(task) for task in tasks])
  for name in ["masked_lm_ids"] + label_features:
    if name in features:
      outputs[name] = features[name]
  return outputs


def model_fn_builder(bert_config, tasks, end_steps=None,
                     lip_schedule="linear", init_checkpoint=None,
                     learning_rate=1e-4, num_train_steps=1,
                     num_warmup_steps=0, use_tpu=False,
                     use_one_hot_embeddings=False, optimizer_name="adamw",
                     weight_decay_rate=0.01, gradient_accumulation_steps=1,
                     compute_type=tf.float32, output_dir=None,
                     save_summary_steps=100, top_k=5,
                     predict_checkpoint=None):
  """Returns the TPUEstimator model_fn of LERT: TRAIN, EVAL and PREDICT.

  PREDICT needs only input_ids, input_mask, segment_ids,
  masked_lm_positions and masked_lm_weights, and returns
  `prediction_outputs` (the MLM top `top_k` tokens and each head's
  distribution); with `predict_checkpoint` it restores that checkpoint even
  without a global step (`checkpoints.predict_scaffold_fn`).
  """
  end_steps = end_steps or lip_end_steps(num_train_steps)

  def model_fn(features, labels, mode, params):
    del labels, params  # The features carry everything.
    model = encoder.encoder(
        bert_config, mode, features, use_one_hot_embeddings,
        gradient_accumulation_steps, compute_type=compute_type,
        # Prediction does not use the pooler, and a checkpoint converted
        # from a Hugging Face BertForMaskedLM has none.
        add_pooler=mode != tf.estimator.ModeKeys.PREDICT,
        added_token_ids=_added_token_ids(features))
    logits = lert_head_logits(bert_config, model.get_sequence_output(),
                              model.get_embedding_table(),
                              features["masked_lm_positions"], tasks)
    if mode == tf.estimator.ModeKeys.PREDICT:
      scaffold_fn = None
      if predict_checkpoint:
        scaffold_fn = checkpoints.predict_scaffold_fn(predict_checkpoint)
      return tf.estimator.tpu.TPUEstimatorSpec(
          mode=mode, scaffold_fn=scaffold_fn,
          predictions=prediction_outputs(logits, features, tasks, top_k))

    if not use_tpu:  # assertions are host ops: CPU and GPU only
      checks = range_checks(features, value_ranges(
          bert_config, modeling.get_shape_list(features["input_ids"])[1],
          tasks))
      with tf.control_dependencies(checks):
        logits = {name: tf.identity(value) for name, value in logits.items()}
    losses = lert_losses(features, logits, tasks)
    global_step = tf.train.get_or_create_global_step()
    lambdas = lip_lambdas(global_step, tasks, end_steps, lip_schedule)
    total_loss = _total_loss(losses, logits, tasks, lambdas)

    scaffold_fn = checkpoints.init_from_checkpoint(
        init_checkpoint, use_tpu,
        optional_group=checkpoint_parameters.head_group).scaffold_fn
    if mode == tf.estimator.ModeKeys.TRAIN:
      train_op = optimization.create_optimizer(
          total_loss, learning_rate, num_train_steps, num_warmup_steps,
          use_tpu=use_tpu, weight_decay_rate=weight_decay_rate,
          optimizer_name=optimizer_name,
          gradient_accumulation_steps=gradient_accumulation_steps,
          use_loss_scaling=compute_type == tf.float16)
      rate = optimization.learning_rate_schedule(
          global_step, learning_rate, num_train_steps, num_warmup_steps)
      host_call = None
      if output_dir:
        host_call = _summary_host_call(
            output_dir, save_summary_steps, global_step,
            _train_scalars(total_loss, losses, tasks, lambdas, rate))
      return tf.estimator.tpu.TPUEstimatorSpec(
          mode=mode, loss=total_loss, train_op=train_op,
          scaffold_fn=scaffold_fn, host_call=host_call)
    return tf.estimator.tpu.TPUEstimatorSpec(
        mode=mode, loss=total_loss,
        eval_metrics=(_metric_fn, _metric_tensors(
            logits, losses, model.get_sequence_output(),
            features["input_mask"])),
        scaffold_fn=scaffold_fn)

  return model_fn


def _added_token_ids(features):
  """The tag mask tokens of LMLM records, [batch, length, slots], or None
  (records without them)."""
  if records.MASK_TAG_FEATURE not in features:
    return None
  batch_size, seq_length = modeling.get_shape_list(features["input_ids"])
  return tf.reshape(features[records.MASK_TAG_FEATURE],
                    [batch_size, seq_length, records.MASK_TAGS_PER_POSITION])


def _total_loss(losses, logits, tasks, lambdas):
  """The MLM loss plus each head's loss weighted by its LIP lambda; the
  losses, logits and lambdas named so that tools and tests can fetch them
  from the graph (`mlm_loss`, `pos_logits`, `pos_lambda`, `total_loss`)."""
  total_loss = losses["mlm"].loss
  for task in tasks:
    total_loss += lambdas[task] * losses[task].loss
  for name in losses:
    tf.identity(losses[name].loss, name=name + "_loss")
    tf.identity(logits[name], name=name + "_logits")
  for task in tasks:
    tf.identity(lambdas[task], name=task + "_lambda")
  return tf.identity(total_loss, name="total_loss")


def _train_scalars(total_loss, losses, tasks, lambdas, learning_rate):
  """The scalars a training run writes to TensorBoard."""
  scalars = {"loss/total": total_loss, "learning_rate": learning_rate}
  for name in losses:
    scalars["loss/" + name] = losses[name].loss
  for task in tasks:
    scalars["lambda/" + task] = lambdas[task]
  return scalars


def _metric_tensors(logits, losses, sequence_output, input_mask):
  """The tensors `_metric_fn` reads, by name."""
  unit_sums, counts = collapse_guard.unit_state_sums(sequence_output,
                                                     input_mask)
  tensors = {"final_unit_sums": unit_sums, "final_token_counts": counts}
  for name, head in losses.items():
    tensors[name + "_logits"] = logits[name]
    tensors[name + "_per_position"] = head.per_position
    tensors[records.labels_feature(name)] = head.labels
    tensors[name + "_weights"] = head.weights
  return tensors
