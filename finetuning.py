# coding=utf-8
"""Fine-tuning: the one home of what every fine-tuning script shares.

* the flags of a fine-tuning run (`define_flags`); the paper's settings per
  task and model size are in `scripts/finetune.sh`;
* features -> TFRecords (`pack_tokens`, `truncate_pair`, `write_records`),
  read back through `input_pipeline`;
* the model_fn (`model_fn_builder`): the encoder, warm-started from
  `--init_checkpoint` (ours, Google/HFL BERT, or converted from Hugging Face),
  a sequence or token output layer, and `optimization.create_optimizer`;
* training and prediction through `estimator_utils.EstimatorRunner`
  (`Runner`); evaluation scores the predictions on the host, so it works the
  same on TPU, GPU and CPU;
* the metrics: accuracy, the confusion matrix, entity precision/recall/F1.

The tasks' readers, labels and features are in `classifier_data.py` and
`ner_data.py`; `run_classifier.py` and `run_ner.py` are flags and `main`.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import contextlib
import itertools
import json
import math
import os
import shutil
import tempfile

import numpy as np
import tensorflow.compat.v1 as tf

import estimator_utils
import input_pipeline
import modeling
import optimization
import outputs
import script_errors
import script_flags

# ----------------------------------------------------------------------------
# Metrics.


def accuracy(labels, predictions):
  labels, predictions = np.asarray(labels), np.asarray(predictions)
  if not len(labels):
    return 0.0
  return float((labels == predictions).mean())


def confusion_matrix(labels, predictions, num_labels):
  """matrix[gold][predicted] counts."""
  matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
  for gold, predicted in zip(labels, predictions):
    matrix[gold][predicted] += 1
  return matrix


def bio_entities(tags):
  """The entities of a BIO sequence: a list of (type, start, end), end
  exclusive. B-X starts an entity, I-X continues one of type X; an I-X that
  follows O or another type starts a new entity (as conlleval reads it)."""
  entities = []
  current = None
  for i, tag in enumerate(list(tags) + ["O"]):
    if tag.startswith("I-") and current and current[0] == tag[2:]:
      continue
    if current:
      entities.append((current[0], current[1], i))
      current = None
    if tag.startswith("B-") or tag.startswith("I-"):
      current = (tag[2:], i)
  return entities


def entities_to_bio(entities, length):
  """The BIO tags of entities (type, start, end) over `length` positions."""
  tags = ["O"] * length
  for kind, start, end in entities:
    tags[start] = "B-" + kind
    for i in range(start + 1, end):
      tags[i] = "I-" + kind
  return tags


# Entity-level scores, overall and per type.
EntityScores = collections.namedtuple(
    "EntityScores", ["precision", "recall", "f1", "gold", "predicted",
                     "correct", "by_type"])


def entity_scores(gold_sequences, predicted_sequences):
  """Precision, recall and F1 of entities: a predicted entity counts only
  when its type and both boundaries match a gold one."""
  counts = collections.defaultdict(lambda: [0, 0, 0])  # gold, pred, correct
  for gold_tags, predicted_tags in zip(gold_sequences, predicted_sequences):
    gold = set(bio_entities(gold_tags))
    predicted = set(bio_entities(predicted_tags))
    for kind, _, _ in gold:
      counts[kind][0] += 1
    for kind, _, _ in predicted:
      counts[kind][1] += 1
    for kind, _, _ in gold & predicted:
      counts[kind][2] += 1

  def score(gold, predicted, correct):
    precision = correct / float(predicted) if predicted else 0.0
    recall = correct / float(gold) if gold else 0.0
    f1 = (2 * precision * recall / (precision + recall)
          if precision + recall else 0.0)
    return precision, recall, f1

  totals = [sum(c[i] for c in counts.values()) for i in range(3)]
  by_type = {kind: score(*c) for kind, c in sorted(counts.items())}
  return EntityScores(*(score(*totals) + tuple(totals) + (by_type,)))


# ----------------------------------------------------------------------------
# Features and records.


def truncate_pair(tokens_a, tokens_b, max_length):
  """Trims the longer sequence one token at a time from its end until the
  pair fits, as BERT does. Returns whether anything was cut."""
  truncated = False
  while len(tokens_a) + len(tokens_b) > max_length:
    truncated = True
    if len(tokens_a) > len(tokens_b):
      tokens_a.pop()
    else:
      tokens_b.pop()
  return truncated


def pack_tokens(tokenizer, tokens_a, tokens_b, max_seq_length):
  """`[CLS] A [SEP] (B [SEP])` -> input_ids, input_mask, segment_ids, each
  padded to max_seq_length."""
  tokens = ["[CLS]"] + tokens_a + ["[SEP]"]
  segment_ids = [0] * len(tokens)
  if tokens_b:
    tokens += tokens_b + ["[SEP]"]
    segment_ids += [1] * (len(tokens_b) + 1)
  input_ids = tokenizer.convert_tokens_to_ids(tokens)
  padding = max_seq_length - len(input_ids)
  return collections.OrderedDict([
      ("input_ids", input_ids + [0] * padding),
      ("input_mask", [1] * len(tokens) + [0] * padding),
      ("segment_ids", segment_ids + [0] * padding)])


def write_records(path, rows):
  """Writes feature rows (name -> int list) as TFRecords.

  Written to a temporary name and renamed, so a file is complete. Returns
  the schema (name -> FeatureSpec) to read them with.
  """
  rows = iter(rows)
  first = next(rows, None)
  if first is None:
    raise script_errors.InputError("No examples to write to %s." % path)
  schema = {name: input_pipeline.FeatureSpec(tf.int64, len(values))
            for name, values in first.items()}
  with outputs.atomic_path(path) as temp:
    with tf.io.TFRecordWriter(temp) as writer:
      for row in itertools.chain([first], rows):
        writer.write(input_pipeline.make_example(row).SerializeToString(
            deterministic=True))
  return schema


# ----------------------------------------------------------------------------
# The model.


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
    if is_training:  # masks drawn from the seed and the step: exact resume
      modeling.set_dropout_step(optimization.training_step())
    model = modeling.BertModel(
        config=bert_config, is_training=is_training,
        input_ids=features["input_ids"], input_mask=features["input_mask"],
        token_type_ids=features["segment_ids"],
        use_one_hot_embeddings=use_one_hot_embeddings)
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
    scaffold_fn = estimator_utils.init_from_checkpoint(
        init_checkpoint, use_tpu,
        new_by_design=OUTPUT_LAYER_VARIABLES).scaffold_fn
    train_op = optimization.create_optimizer(
        loss, learning_rate, num_train_steps, num_warmup_steps,
        use_tpu=use_tpu, weight_decay_rate=weight_decay_rate)
    return tf.estimator.tpu.TPUEstimatorSpec(
        mode=mode, loss=loss, train_op=train_op, scaffold_fn=scaffold_fn)

  return model_fn


# ----------------------------------------------------------------------------
# Flags and the run.


def define_flags(flag_values, default_max_seq_length=128):
  """The flags every fine-tuning script shares."""
  define = script_flags.FlagDefiner(flag_values)
  define.string("bert_config_file", None,
                "Model config (configs/lert_config_*.json).")
  define.string("vocab_file", "configs/vocab.txt",
                "WordPiece vocabulary.")
  define.bool("do_lower_case", True, "Lower-case the input (Chinese "
              "BERT and LERT: true).")
  define.string("init_checkpoint", None,
                "Checkpoint to start from: ours, a Google/HFL BERT one, "
                "or one converted from Hugging Face (a prefix or a "
                "directory). The log lists loaded and new variables. "
                "--do_train needs it, or --train_from_scratch.")
  define.bool("train_from_scratch", False,
              "Fine-tune from random weights, without --init_checkpoint "
              "(a baseline or a smoke test; the log and "
              "eval_results.txt say so).")
  define.string("output_dir", None,
                "Checkpoints, cached features, eval_results.txt and "
                "predictions.")
  define.bool("overwrite", False,
              "Replace what an earlier run with other settings wrote "
              "in --output_dir (only the files this script writes; "
              "never when --output_dir holds an input).")
  define.string("train_file", None, "Training data.")
  define.string("eval_file", None, "Evaluation data (with labels).")
  define.string("predict_file", None,
                "Data to predict (labels, if any, are ignored).")
  define.bool("do_train", False, "Fine-tune on --train_file.")
  define.bool("do_eval", False, "Score --eval_file.")
  define.bool("do_predict", False, "Predict --predict_file.")
  define.integer("max_seq_length", default_max_seq_length,
                 "Tokens per example, [CLS] and [SEP] included.")
  define.integer("train_batch_size", 32, "Training batch.")
  define.integer("eval_batch_size", 32, "Evaluation batch.")
  define.integer("predict_batch_size", 32, "Prediction batch.")
  define.float("learning_rate", 3e-5,
               "Peak learning rate (the paper: 5e-5 small, 3e-5 base, "
               "2e-5 large).")
  define.float("num_train_epochs", 3.0, "Training epochs.")
  define.integer("max_train_steps", None,
                 "Stop after this many steps (for quick runs).")
  define.float("warmup_proportion", 0.1,
               "Share of the steps with linear learning-rate warm-up.")
  define.float("weight_decay_rate", 0.01,
               "Decoupled weight decay of AdamW (BERT's 0.01; LayerNorm "
               "and biases excluded).")
  define.float("output_dropout_prob", 0.1,
               "Dropout before the output layer in training (Google "
               "BERT's 0.1). The encoder's dropout is the config's "
               "hidden_dropout_prob and attention_probs_dropout_prob.")
  estimator_utils.define_run_flags(flag_values)
  define.adopt_module_key_flags(estimator_utils)
  define.required("bert_config_file", "output_dir")
  define.validator("max_seq_length", lambda n: n >= 3,
                   "--max_seq_length must be at least 3.")
  define.validator("weight_decay_rate", lambda r: r >= 0,
                   "--weight_decay_rate must be >= 0.")
  define.validator("output_dropout_prob", lambda p: 0 <= p < 1,
                   "--output_dropout_prob must be in [0, 1).")
  define.validator("num_train_epochs", lambda n: n > 0,
                   "--num_train_epochs must be positive.")
  define.at_least_one("train_batch_size", "eval_batch_size",
                      "predict_batch_size")
  estimator_utils.register_batch_validators(
      ("train_batch_size", "eval_batch_size", "predict_batch_size"),
      flag_values)
  estimator_utils.register_worker_batch_validator("train_batch_size",
                                                  flag_values)
  define.multi_validator(
      ["do_train", "do_eval", "do_predict"], any,
      "Give --do_train, --do_eval and/or --do_predict.")
  define.multi_validator(
      ["do_train", "init_checkpoint", "train_from_scratch"],
      lambda v: not v["do_train"] or (bool(v["init_checkpoint"]) !=
                                      v["train_from_scratch"]),
      "--do_train fine-tunes a pre-trained model: give --init_checkpoint "
      "(a LERT or BERT checkpoint), or --train_from_scratch to train from "
      "random weights, not both.")
  # Each action needs its file.
  for action, name in (("do_train", "train_file"), ("do_eval", "eval_file"),
                       ("do_predict", "predict_file")):
    define.multi_validator(
        [action, name],
        lambda values, a=action, n=name: not values[a] or bool(values[n]),
        "--%s needs --%s." % (action, name))


# What a fine-tuning run writes in --output_dir (all that --overwrite
# removes): TensorFlow's checkpoints, events and eval directory, the cached
# features, the scores and the predictions.
OUTPUTS = ("checkpoint", "model.ckpt-*", estimator_utils.INPUT_STATE_INDEX,
           estimator_utils.INPUT_STATE_PREFIX + "-*", "events.out.tfevents.*",
           "graph.pbtxt", "eval", "*.tf_record",
           "*.windows.json", "eval_results.txt", "test_results.tsv",
           "eval_predictions.txt", "test_predictions.txt",
           "predictions.json", "nbest_predictions.json", "*.tmp")


def output_directory(flag_values, script, task_settings=None):
  """The outputs.OutputDirectory of a fine-tuning run: locked for the run,
  recording what decides the model. A re-run with the same settings resumes
  (or, trained to the end, only evaluates and predicts); one with another
  model, data, checkpoint or recipe is refused unless --overwrite.
  Evaluation and prediction files may change from run to run."""
  estimator_utils.check_devices(flag_values.num_gpus)
  cluster = estimator_utils.cluster_from_environment()
  if cluster.num_workers > 1 and (flag_values.do_eval or
                                  flag_values.do_predict):
    raise script_errors.InputError(
        "TF_CONFIG names a %d-worker cluster: run --do_train alone there, "
        "and --do_eval or --do_predict in a run of one process (TF_CONFIG "
        "unset) on its --output_dir." % cluster.num_workers)
  if not cluster.is_chief:
    return _worker_features(cluster)
  if not flag_values.do_train and not tf.train.latest_checkpoint(
      flag_values.output_dir):
    # Before the directory is made or recorded, and features written.
    raise script_errors.InputError(
        "%s holds no fine-tuned checkpoint: run --do_train first (with the "
        "same --output_dir)." % flag_values.output_dir)
  settings = collections.OrderedDict(task_settings or {})
  settings["bert_config"] = modeling.BertConfig.from_json_file(
      flag_values.bert_config_file).to_dict()
  settings["vocab_file"] = outputs.describe_file(flag_values.vocab_file)
  settings["do_lower_case"] = flag_values.do_lower_case
  settings["max_seq_length"] = flag_values.max_seq_length
  if flag_values.do_train:
    settings.update([
        ("init_checkpoint", estimator_utils.describe_checkpoint(
            flag_values.init_checkpoint)),
        ("train_file", outputs.describe_file(flag_values.train_file)),
        ("train_batch_size", flag_values.train_batch_size),
        ("learning_rate", flag_values.learning_rate),
        ("num_train_epochs", flag_values.num_train_epochs),
        ("max_train_steps", flag_values.max_train_steps),
        ("warmup_proportion", flag_values.warmup_proportion),
        ("weight_decay_rate", flag_values.weight_decay_rate),
        ("output_dropout_prob", flag_values.output_dropout_prob),
        ("random_seed", flag_values.random_seed)])
  inputs = [flag_values.train_file, flag_values.eval_file,
            flag_values.predict_file, flag_values.vocab_file,
            flag_values.bert_config_file]
  if flag_values.init_checkpoint:
    inputs.append(estimator_utils.checkpoint_directory(
        flag_values.init_checkpoint))
  return outputs.OutputDirectory(flag_values.output_dir, script, settings,
                                 OUTPUTS, inputs=inputs,
                                 overwrite=flag_values.overwrite,
                                 require_record=flag_values.do_train,
                                 temporaries=(
                                     estimator_utils.TENSORFLOW_TEMPORARIES))


# Where a worker of a multi-worker run (not the chief) writes its feature
# records: a directory of its own, since the chief alone writes
# --output_dir (feature_dir).
_WORKER_FEATURE_DIR = []


@contextlib.contextmanager
def _worker_features(cluster):
  """output_directory() of a worker: the chief locks, records and writes
  --output_dir; the worker writes its features to a temporary directory,
  removed at the end."""
  directory = tempfile.mkdtemp(prefix="lert_worker_features_")
  tf.logging.info("Worker %d of %d (TF_CONFIG): the chief writes the output "
                  "directory; this worker's features go to %s.",
                  cluster.task_index, cluster.num_workers, directory)
  _WORKER_FEATURE_DIR.append(directory)
  try:
    yield None
  finally:
    _WORKER_FEATURE_DIR.remove(directory)
    shutil.rmtree(directory, ignore_errors=True)


def feature_dir(output_dir):
  """Where the script writes its feature records: --output_dir, or a
  worker's own directory in a multi-worker run."""
  return _WORKER_FEATURE_DIR[-1] if _WORKER_FEATURE_DIR else output_dir


def initialisation(output_dir):
  """What the model in `output_dir` was fine-tuned from, as its record
  (lert_run.json) says, for eval_results.txt: the --init_checkpoint path,
  "none (--train_from_scratch)", or "not recorded" (a checkpoint made
  elsewhere)."""
  path = os.path.join(output_dir, outputs.MANIFEST)
  if not tf.gfile.Exists(path):
    return "not recorded"
  with tf.gfile.GFile(path, "r") as f:
    settings = json.loads(f.read()).get("settings", {})
  if "init_checkpoint" not in settings:
    return "not recorded"
  init = settings["init_checkpoint"]
  if not init:
    return "none (--train_from_scratch)"
  return init["path"] if isinstance(init, dict) else init


# What a fine-tuning run needs of the flags (finetune_settings_from_flags):
# the model, the recipe, and the devices (run, an estimator_utils.RunSettings).
FinetuneSettings = collections.namedtuple("FinetuneSettings", [
    "bert_config_file", "init_checkpoint", "max_seq_length",
    "train_batch_size", "predict_batch_size", "learning_rate",
    "num_train_epochs", "max_train_steps", "warmup_proportion",
    "weight_decay_rate", "output_dropout_prob", "run"])


def finetune_settings_from_flags(flag_values):
  """The FinetuneSettings of the flags of define_flags."""
  return FinetuneSettings(
      run=estimator_utils.run_settings_from_flags(flag_values),
      **{field: getattr(flag_values, field)
         for field in FinetuneSettings._fields if field != "run"})


class Runner(object):
  """Trains and predicts one task's model (settings: FinetuneSettings)."""

  def __init__(self, settings, num_labels, kind, num_train_examples=0):
    self.settings = settings
    self.num_labels = num_labels
    self.kind = kind
    self.bert_config = modeling.BertConfig.from_json_file(
        settings.bert_config_file)
    self.bert_config.check_max_seq_length(settings.max_seq_length,
                                          settings.bert_config_file)
    self.num_train_steps = 0
    if num_train_examples:
      self.num_train_steps = int(math.ceil(
          num_train_examples / float(settings.train_batch_size) *
          settings.num_train_epochs))
      if settings.max_train_steps:
        self.num_train_steps = min(self.num_train_steps,
                                   settings.max_train_steps)
    num_warmup_steps = int(self.num_train_steps * settings.warmup_proportion)
    init_checkpoint = settings.init_checkpoint
    if init_checkpoint:
      init_checkpoint = estimator_utils.resolve_checkpoint(init_checkpoint)
    model_fn = model_fn_builder(
        self.bert_config, num_labels, kind, init_checkpoint,
        settings.learning_rate, max(self.num_train_steps, 1),
        num_warmup_steps, settings.run.use_tpu,
        use_one_hot_embeddings=settings.run.use_tpu,
        weight_decay_rate=settings.weight_decay_rate,
        output_dropout_prob=settings.output_dropout_prob)
    self.runner = estimator_utils.EstimatorRunner(
        model_fn, settings.run, train_batch_size=settings.train_batch_size,
        predict_batch_size=settings.predict_batch_size)

  def train(self, record_path, schema):
    if not self.settings.init_checkpoint:
      tf.logging.warning("--train_from_scratch: fine-tuning from random "
                         "weights, not a pre-trained model.")
    tf.logging.info("***** Training: %d steps of %d examples *****",
                    self.num_train_steps, self.settings.train_batch_size)
    self.runner.train(input_pipeline.input_fn_builder(
        [record_path], schema, is_training=True,
        seed=self.settings.run.random_seed), max_steps=self.num_train_steps)

  def predict(self, record_path, schema, num_examples,
              keys=("probabilities",)):
    """The predictions of every example, in example order, from the
    fine-tuned checkpoint in --output_dir: one array per example, or with
    several `keys` a tuple of arrays."""
    checkpoint = tf.train.latest_checkpoint(self.settings.run.output_dir)
    if not checkpoint:
      raise script_errors.InputError(
          "%s holds no fine-tuned checkpoint: run --do_train "
          "first (with the same --output_dir)." % self.settings.run.output_dir)
    # A pre-training (or another task's) checkpoint has no such layer.
    name = ("cls/squad/output_weights" if self.kind == "span" else
            "output_weights")
    want = [self.num_labels, self.bert_config.hidden_size]
    have = dict(tf.train.list_variables(checkpoint)).get(name)
    if have is None or list(have) != want:
      raise script_errors.InputError(
          "%s has no output layer fine-tuned for this task (%s of shape %s; "
          "it has %s): fine-tune with --do_train first." % (
              checkpoint, name, want, list(have) if have else "none"))
    # On TPU, TPUEstimator pads the last batch; example_index restores order.
    probabilities = [None] * num_examples
    for prediction in self.runner.predict(input_pipeline.input_fn_builder(
        [record_path], schema, is_training=False, drop_remainder=False)):
      index = int(prediction["example_index"])
      if 0 <= index < num_examples:
        values = tuple(prediction[key] for key in keys)
        probabilities[index] = values[0] if len(keys) == 1 else values
    missing = [i for i, p in enumerate(probabilities) if p is None]
    if missing:
      raise script_errors.InputError(
          "Prediction returned no result for example %d." % missing[0])
    return probabilities
