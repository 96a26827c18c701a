# coding=utf-8
"""LERT pre-training: MLM plus POS, NER and DEP heads with the LIP schedule.

The loss (SPEC §3) is

    L = L_MLM + λ_POS·L_POS + λ_NER·L_NER + λ_DEP·L_DEP,  λ_t = min(step/T_t, 1)

where every task's loss is the cross-entropy at the masked positions. All
heads read the same transformed hidden states of the masked positions
(`cls/predictions/transform`); there is no next-sentence prediction.

Example (CPU, the tiny config):

  python run_pretraining.py --bert_config_file=configs/lert_config_tiny.json \
    --input_file='data/demo/*.tfrecord' --output_dir=/tmp/lert \
    --do_train --do_eval --train_batch_size=16 --max_seq_length=128 \
    --max_predictions_per_seq=20 --num_train_steps=300 --num_warmup_steps=30
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

from absl import app
from absl import flags
import tensorflow.compat.v1 as tf
import tensorflow.compat.v2 as tf2

import estimator_utils
import input_pipeline
import linguistic_tags
import modeling
import optimization

FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
  """Defines the flags; called only when this file runs as a script, so
  that scripts can be imported together (the tests do)."""
  flags.DEFINE_string("bert_config_file", None,
                      "Model config JSON (configs/lert_config_*.json).",
                      flag_values=flag_values)
  flags.DEFINE_string("input_file", None,
                      "Comma-separated globs of TFRecord files written by "
                      "create_pretraining_data.py.",
                      flag_values=flag_values)
  flags.DEFINE_string("output_dir", None,
                      "Directory for checkpoints, TensorBoard logs and "
                      "eval_results.txt. A run restarted with the same "
                      "directory resumes from its last checkpoint.",
                      flag_values=flag_values)
  flags.DEFINE_string("init_checkpoint", None,
                      "Google BERT or LERT checkpoint (or a directory holding "
                      "one) to start from. Matching variables are loaded; the "
                      "log lists which were loaded and which are new.",
                      flag_values=flag_values)
  flags.DEFINE_integer("max_seq_length", 512,
                       "Sequence length of the records (the release: 512).",
                       flag_values=flag_values)
  flags.DEFINE_integer("max_predictions_per_seq", 75,
                       "Masked positions per record (the release: 75).",
                       flag_values=flag_values)
  flags.DEFINE_bool("do_train", False, "Train.",
                    flag_values=flag_values)
  flags.DEFINE_bool("do_eval", False,
                    "Evaluate: MLM and POS/NER/DEP accuracy and loss, written "
                    "to <output_dir>/eval_results.txt.",
                    flag_values=flag_values)
  flags.DEFINE_integer("train_batch_size", 32,
                       "Examples per optimiser update (the paper: 1024 small, "
                       "416 base, 256 large). With gradient accumulation each "
                       "micro-batch holds train_batch_size / "
                       "gradient_accumulation_steps examples.",
                       flag_values=flag_values)
  flags.DEFINE_integer("eval_batch_size", 8, "Examples per evaluation batch.",
                       flag_values=flag_values)
  flags.DEFINE_integer("gradient_accumulation_steps", 1,
                       "Micro-batches whose mean gradient makes one update, "
                       "so that a large batch fits on a small device.",
                       flag_values=flag_values)
  flags.DEFINE_float("learning_rate", 1e-4, "Peak learning rate (Adam).",
                     flag_values=flag_values)
  flags.DEFINE_integer("num_train_steps", 100000,
                       "Optimiser updates (the paper: 2,000,000).",
                       flag_values=flag_values)
  flags.DEFINE_integer("num_warmup_steps", 10000,
                       "Updates of linear learning-rate warm-up.",
                       flag_values=flag_values)
  flags.DEFINE_integer("max_eval_steps", 100, "Maximum evaluation batches.",
                       flag_values=flag_values)
  flags.DEFINE_enum("optimizer", "adamw", ["adamw", "lamb"],
                    "adamw: Adam with decoupled weight decay, as LERT; lamb: "
                    "LAMB for large-batch runs.",
                    flag_values=flag_values)
  flags.DEFINE_float("weight_decay_rate", 0.01,
                     "Decoupled weight decay (the release: 0.01; the paper's "
                     "text: 0.1). LayerNorm and biases are excluded.",
                     flag_values=flag_values)
  flags.DEFINE_string("linguistic_tasks", "pos,ner,dep",
                      "Comma-separated subset of pos,ner,dep to train beside "
                      "MLM. Empty trains the MLM-only baseline, which has no "
                      "linguistic variables.",
                      flag_values=flag_values)
  flags.DEFINE_enum("lip_schedule", "linear", ["linear", "none"],
                    "linear: λ_t = min(step / T_t, 1) (LIP); none: every λ is 1 "
                    "from step 0 (the paper's 'no warm-up' variant, Eq. 6).",
                    flag_values=flag_values)
  flags.DEFINE_string("lip_order", "PND",
                      "Order in which the tasks reach full weight: the first "
                      "letter gets T = 1/6, the second 1/3, the third 1/2 of "
                      "--num_train_steps (P = POS, N = NER, D = DEP). The paper "
                      "trains PND (default), PDN, NPD and DNP.",
                      flag_values=flag_values)
  flags.DEFINE_integer("pos_end_step", None,
                       "Explicit T_POS (step at which λ_POS reaches 1); "
                       "overrides --lip_order for POS.",
                       flag_values=flag_values)
  flags.DEFINE_integer("ner_end_step", None,
                       "Explicit T_NER; overrides --lip_order for NER.",
                       flag_values=flag_values)
  flags.DEFINE_integer("dep_end_step", None,
                       "Explicit T_DEP; overrides --lip_order for DEP.",
                       flag_values=flag_values)
  flags.DEFINE_enum("precision", "fp32", ["fp32", "fp16", "bf16"],
                    "Compute type of the encoder; variables stay float32. fp16 "
                    "uses dynamic loss scaling (GPU); bf16 suits TPUs.",
                    flag_values=flag_values)
  flags.DEFINE_bool("use_one_hot_embeddings", None,
                    "Look embeddings up by one-hot matmul (fast on TPU). "
                    "Defaults to --use_tpu.",
                    flag_values=flag_values)
  estimator_utils.define_run_flags(flag_values)
  flags.adopt_module_key_flags(estimator_utils, flag_values=flag_values)

COMPUTE_TYPES = {"fp32": tf.float32, "fp16": tf.float16, "bf16": tf.bfloat16}

# The fraction of the training steps at which the 1st, 2nd and 3rd task of the
# LIP order reaches full weight (paper §3.3.3).
LIP_FRACTIONS = (1.0 / 6.0, 1.0 / 3.0, 1.0 / 2.0)
_ORDER_LETTERS = {"P": "pos", "N": "ner", "D": "dep"}


def pretraining_features(max_seq_length, max_predictions_per_seq, tasks):
  """The record features to read: (required, optional) dicts of FeatureSpec.

  The labels of a task are required only when the task is trained. The
  optional `<task>_label_weights` (1.0 where the word has a usable tag) mark
  missing labels; without them every masked position has a label.
  """
  spec = input_pipeline.FeatureSpec
  required = {
      "input_ids": spec(tf.int64, max_seq_length),
      "input_mask": spec(tf.int64, max_seq_length),
      "segment_ids": spec(tf.int64, max_seq_length),
      "masked_lm_positions": spec(tf.int64, max_predictions_per_seq),
      "masked_lm_ids": spec(tf.int64, max_predictions_per_seq),
      "masked_lm_weights": spec(tf.float32, max_predictions_per_seq),
  }
  optional = {}
  for task in tasks:
    required[task + "_labels"] = spec(tf.int64, max_predictions_per_seq)
    optional[task + "_label_weights"] = spec(tf.float32,
                                             max_predictions_per_seq)
  return required, optional


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
  SPEC §2, under `cls/predictions`.
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
          name="output_%s_layer" % task)
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
  if task + "_label_weights" in features:
    weights *= tf.reshape(features[task + "_label_weights"], [-1])
  return weights


def lert_losses(features, logits, tasks):
  """Per-task (loss, per-position ce, labels, weights), flat over positions."""
  label_names = {"mlm": "masked_lm_ids"}
  label_names.update({task: task + "_labels" for task in tasks})
  losses = {}
  for name, label_name in label_names.items():
    labels = tf.reshape(features[label_name], [-1])
    weights = (tf.reshape(features["masked_lm_weights"], [-1])
               if name == "mlm" else task_weights(features, name))
    loss, per_position = weighted_cross_entropy(logits[name], labels, weights)
    losses[name] = (loss, per_position, labels, weights)
  return losses


def _metric_fn(**tensors):
  """Accuracy and mean loss of each head over the evaluation set."""
  metrics = {}
  for name in ["mlm"] + list(linguistic_tags.TASKS):
    if name + "_logits" not in tensors:
      continue
    prefix = "masked_lm" if name == "mlm" else name
    weights = tensors[name + "_weights"]
    predictions = tf.argmax(tensors[name + "_logits"], axis=-1,
                            output_type=tf.int32)
    metrics[prefix + "_accuracy"] = tf.metrics.accuracy(
        labels=tensors[name + "_labels"], predictions=predictions,
        weights=weights)
    metrics[prefix + "_loss"] = tf.metrics.mean(
        values=tensors[name + "_per_position"], weights=weights)
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


def model_fn_builder(bert_config, tasks, end_steps, lip_schedule,
                     init_checkpoint, learning_rate, num_train_steps,
                     num_warmup_steps, use_tpu, use_one_hot_embeddings,
                     optimizer_name="adamw", weight_decay_rate=0.01,
                     gradient_accumulation_steps=1, compute_type=tf.float32,
                     output_dir=None, save_summary_steps=100):
  """Returns the TPUEstimator model_fn of LERT pre-training."""

  def model_fn(features, labels, mode, params):
    del labels, params  # The features carry everything.
    is_training = mode == tf.estimator.ModeKeys.TRAIN
    model = modeling.BertModel(
        config=bert_config, is_training=is_training,
        input_ids=features["input_ids"], input_mask=features["input_mask"],
        token_type_ids=features["segment_ids"],
        use_one_hot_embeddings=use_one_hot_embeddings,
        compute_type=compute_type)
    logits = lert_head_logits(bert_config, model.get_sequence_output(),
                              model.get_embedding_table(),
                              features["masked_lm_positions"], tasks)
    losses = lert_losses(features, logits, tasks)
    global_step = tf.train.get_or_create_global_step()
    lambdas = lip_lambdas(global_step, tasks, end_steps, lip_schedule)
    total_loss = losses["mlm"][0]
    for task in tasks:
      total_loss += lambdas[task] * losses[task][0]
    # Named so that tools and tests can fetch them from the graph.
    for name in losses:
      tf.identity(losses[name][0], name=name + "_loss")
      tf.identity(logits[name], name=name + "_logits")
    for task in tasks:
      tf.identity(lambdas[task], name=task + "_lambda")
    total_loss = tf.identity(total_loss, name="total_loss")

    scaffold_fn, _, _ = estimator_utils.init_from_checkpoint(init_checkpoint,
                                                             use_tpu)
    if mode == tf.estimator.ModeKeys.TRAIN:
      train_op = optimization.create_optimizer(
          total_loss, learning_rate, num_train_steps, num_warmup_steps,
          use_tpu=use_tpu, weight_decay_rate=weight_decay_rate,
          optimizer_name=optimizer_name,
          gradient_accumulation_steps=gradient_accumulation_steps,
          use_loss_scaling=compute_type == tf.float16)
      scalars = {"loss/total": total_loss,
                 "learning_rate": optimization.learning_rate_schedule(
                     global_step, learning_rate, num_train_steps,
                     num_warmup_steps)}
      for name in losses:
        scalars["loss/" + name] = losses[name][0]
      for task in tasks:
        scalars["lambda/" + task] = lambdas[task]
      host_call = None
      if output_dir:
        host_call = _summary_host_call(output_dir, save_summary_steps,
                                       global_step, scalars)
      return tf.estimator.tpu.TPUEstimatorSpec(
          mode=mode, loss=total_loss, train_op=train_op,
          scaffold_fn=scaffold_fn, host_call=host_call)
    if mode == tf.estimator.ModeKeys.EVAL:
      tensors = {}
      for name, (_, per_position, label_ids, weights) in losses.items():
        tensors[name + "_logits"] = logits[name]
        tensors[name + "_per_position"] = per_position
        tensors[name + "_labels"] = label_ids
        tensors[name + "_weights"] = weights
      return tf.estimator.tpu.TPUEstimatorSpec(
          mode=mode, loss=total_loss, eval_metrics=(_metric_fn, tensors),
          scaffold_fn=scaffold_fn)
    raise ValueError("Pre-training supports TRAIN and EVAL, not %s." % mode)

  return model_fn


def _check_flags():
  for name in ("bert_config_file", "input_file", "output_dir"):
    if not getattr(FLAGS, name):
      raise app.UsageError("--%s is required." % name)
  if not FLAGS.do_train and not FLAGS.do_eval:
    raise app.UsageError("Give --do_train and/or --do_eval.")
  if FLAGS.train_batch_size % FLAGS.gradient_accumulation_steps:
    raise app.UsageError(
        "--train_batch_size (%d) must be a multiple of "
        "--gradient_accumulation_steps (%d)." %
        (FLAGS.train_batch_size, FLAGS.gradient_accumulation_steps))
  if FLAGS.max_predictions_per_seq > FLAGS.max_seq_length:
    raise app.UsageError("--max_predictions_per_seq exceeds "
                         "--max_seq_length.")


def main(_):
  tf.logging.set_verbosity(tf.logging.INFO)
  # TensorFlow's logger prints each line itself; absl's root handler would
  # print it a second time.
  tf.get_logger().propagate = False
  _check_flags()
  try:
    run()
  except (input_pipeline.InputError, modeling.ConfigError) as e:
    # A clear one-line error, not a traceback, for problems with the inputs.
    raise SystemExit("run_pretraining.py: error: %s" % e)


def run():
  """Trains and/or evaluates as the flags say."""
  bert_config = modeling.BertConfig.from_json_file(FLAGS.bert_config_file)
  if FLAGS.max_seq_length > bert_config.max_position_embeddings:
    raise app.UsageError(
        "--max_seq_length %d exceeds max_position_embeddings %d of %s." %
        (FLAGS.max_seq_length, bert_config.max_position_embeddings,
         FLAGS.bert_config_file))
  tasks = linguistic_tags.parse_task_list(FLAGS.linguistic_tasks)
  end_steps = lip_end_steps(
      FLAGS.num_train_steps, FLAGS.lip_order,
      {"pos": FLAGS.pos_end_step, "ner": FLAGS.ner_end_step,
       "dep": FLAGS.dep_end_step})
  tf.gfile.MakeDirs(FLAGS.output_dir)

  input_files = input_pipeline.expand_input_files(FLAGS.input_file)
  required, optional = pretraining_features(
      FLAGS.max_seq_length, FLAGS.max_predictions_per_seq, tasks)
  present = input_pipeline.check_input_files(input_files, required, optional)
  features = dict(required)
  features.update({name: optional[name] for name in present})
  tf.logging.info("*** %d input files; linguistic tasks: %s ***",
                  len(input_files), ",".join(tasks) or "none (MLM only)")
  for task in tasks:
    if FLAGS.lip_schedule == "none":
      tf.logging.info("  λ_%s = 1 from step 0", task)
    else:
      tf.logging.info("  λ_%s reaches 1 at step %d", task, end_steps[task])
  if tasks and not present:
    tf.logging.info("  The records mark no missing labels: every masked "
                    "position trains every head.")

  settings = estimator_utils.run_settings_from_flags(FLAGS)
  use_one_hot = FLAGS.use_one_hot_embeddings
  if use_one_hot is None:
    use_one_hot = FLAGS.use_tpu
  micro_batch_size = (FLAGS.train_batch_size //
                      FLAGS.gradient_accumulation_steps)
  model_fn = model_fn_builder(
      bert_config=bert_config, tasks=tasks, end_steps=end_steps,
      lip_schedule=FLAGS.lip_schedule, init_checkpoint=FLAGS.init_checkpoint,
      learning_rate=FLAGS.learning_rate,
      num_train_steps=FLAGS.num_train_steps,
      num_warmup_steps=FLAGS.num_warmup_steps, use_tpu=FLAGS.use_tpu,
      use_one_hot_embeddings=use_one_hot, optimizer_name=FLAGS.optimizer,
      weight_decay_rate=FLAGS.weight_decay_rate,
      gradient_accumulation_steps=FLAGS.gradient_accumulation_steps,
      compute_type=COMPUTE_TYPES[FLAGS.precision],
      output_dir=FLAGS.output_dir,
      save_summary_steps=FLAGS.save_summary_steps)
  runner = estimator_utils.EstimatorRunner(
      model_fn, settings, train_batch_size=micro_batch_size,
      eval_batch_size=FLAGS.eval_batch_size)

  if FLAGS.do_train:
    tf.logging.info("***** Training: %d updates of %d examples *****",
                    FLAGS.num_train_steps, FLAGS.train_batch_size)
    runner.train(
        input_pipeline.input_fn_builder(input_files, features,
                                        is_training=True,
                                        seed=FLAGS.random_seed),
        max_steps=FLAGS.num_train_steps)
  if FLAGS.do_eval:
    result = runner.evaluate(
        input_pipeline.input_fn_builder(input_files, features,
                                        is_training=False,
                                        drop_remainder=FLAGS.use_tpu),
        steps=FLAGS.max_eval_steps)
    estimator_utils.write_eval_results(FLAGS.output_dir, result)
  tf.logging.info("TensorBoard logs: tensorboard --logdir %s",
                  FLAGS.output_dir)


if __name__ == "__main__":
  define_flags()
  app.run(main)
