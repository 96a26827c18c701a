# coding=utf-8
"""The run of one fine-tuning task, what every fine-tuning script shares:
its flags (`define_flags`; the paper's settings per task and model size
are the recipe, configs/finetune_recipe.tsv), its output directory
(`output_directory`: the features, checkpoints, scores and predictions it
owns), its feature records (`write_records`, read back through
`input_pipeline`), and training and prediction through
`estimator_runner.EstimatorRunner` (`Runner`).

The tasks' readers, labels and features are in classifier_data, ner_data
and squad_data; run_classifier.py, run_ner.py and run_squad.py are flags
and `main`.
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

import tensorflow.compat.v1 as tf

from lert.contract import atomic_files
from lert.contract import fingerprints
from lert.contract import outputs
from lert.contract import script_errors
from lert.contract import script_flags
from lert.finetuning import task_model
from lert.running import checkpoints
from lert.running import estimator_runner
from lert.running import hooks
from lert.running import input_pipeline
from lert.running import run_config
import modeling


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
  with atomic_files.atomic_path(path) as temp:
    with tf.io.TFRecordWriter(temp) as writer:
      for row in itertools.chain([first], rows):
        writer.write(input_pipeline.make_example(row).SerializeToString(
            deterministic=True))
  return schema


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
  run_config.define_run_flags(flag_values)
  define.adopt_module_key_flags(run_config)
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
  run_config.register_training_batch_validators(flag_values)
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
OUTPUTS = hooks.ESTIMATOR_OUTPUTS + (
    "*.tf_record", "*.windows.json", "eval_results.txt", "test_results.tsv",
    "eval_predictions.txt", "test_predictions.txt", "predictions.json",
    "nbest_predictions.json", "*.tmp")


@contextlib.contextmanager
def output_directory(flag_values, script, task_settings=None):
  """Holds the output directory of a fine-tuning run for the run and yields
  where the script writes its feature records.

  The chief's --output_dir is an outputs.OutputDirectory: locked for the
  run, recording what decides the model. A re-run with the same settings
  resumes (or, trained to the end, only evaluates and predicts); one with
  another model, data, checkpoint or recipe is refused unless --overwrite.
  Evaluation and prediction files may change from run to run. It holds the
  feature records too. A worker of a multi-worker run (not the chief) writes
  nothing there: its feature records go to a temporary directory of its
  own, removed at the end."""
  run_config.check_devices(flag_values.num_gpus)
  cluster = run_config.cluster_from_environment()
  if cluster.num_workers > 1 and (flag_values.do_eval or
                                  flag_values.do_predict):
    raise script_errors.InputError(
        "TF_CONFIG names a %d-worker cluster: run --do_train alone there, "
        "and --do_eval or --do_predict in a run of one process (TF_CONFIG "
        "unset) on its --output_dir." % cluster.num_workers)
  if not cluster.is_chief:
    with _worker_features(cluster) as directory:
      yield directory
    return
  if not flag_values.do_train and not tf.train.latest_checkpoint(
      flag_values.output_dir):
    # Before the directory is made or recorded, and features written.
    raise script_errors.InputError(
        "%s holds no fine-tuned checkpoint: run --do_train first (with the "
        "same --output_dir)." % flag_values.output_dir)
  settings = collections.OrderedDict(task_settings or {})
  settings["bert_config"] = modeling.BertConfig.from_json_file(
      flag_values.bert_config_file).to_dict()
  settings["vocab_file"] = fingerprints.describe_file(flag_values.vocab_file)
  settings["do_lower_case"] = flag_values.do_lower_case
  settings["max_seq_length"] = flag_values.max_seq_length
  if flag_values.do_train:
    settings.update([
        ("init_checkpoint", checkpoints.describe_checkpoint(
            flag_values.init_checkpoint)),
        ("train_file", fingerprints.describe_file(flag_values.train_file)),
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
    inputs.append(checkpoints.checkpoint_directory(
        flag_values.init_checkpoint))
  with outputs.OutputDirectory(flag_values.output_dir, script, settings,
                               OUTPUTS, inputs=inputs,
                               overwrite=flag_values.overwrite,
                               require_record=flag_values.do_train,
                               temporaries=hooks.TENSORFLOW_TEMPORARIES):
    yield flag_values.output_dir


@contextlib.contextmanager
def _worker_features(cluster):
  """Yields the temporary directory of a worker's feature records (the
  chief locks, records and writes --output_dir), removed at the end."""
  directory = tempfile.mkdtemp(prefix="lert_worker_features_")
  tf.logging.info("Worker %d of %d (TF_CONFIG): the chief writes the output "
                  "directory; this worker's features go to %s.",
                  cluster.task_index, cluster.num_workers, directory)
  try:
    yield directory
  finally:
    shutil.rmtree(directory, ignore_errors=True)


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
# the model, the recipe, and the devices (run, an run_config.RunSettings).
FinetuneSettings = collections.namedtuple("FinetuneSettings", [
    "bert_config_file", "init_checkpoint", "max_seq_length",
    "train_batch_size", "predict_batch_size", "learning_rate",
    "num_train_epochs", "max_train_steps", "warmup_proportion",
    "weight_decay_rate", "output_dropout_prob", "run"])


def finetune_settings_from_flags(flag_values):
  """The FinetuneSettings of the flags of define_flags."""
  return FinetuneSettings(
      run=run_config.run_settings_from_flags(flag_values),
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
      init_checkpoint = checkpoints.resolve_checkpoint(init_checkpoint)
    model_fn = task_model.model_fn_builder(
        self.bert_config, num_labels, kind, init_checkpoint,
        settings.learning_rate, max(self.num_train_steps, 1),
        num_warmup_steps, settings.run.use_tpu,
        use_one_hot_embeddings=settings.run.use_tpu,
        weight_decay_rate=settings.weight_decay_rate,
        output_dropout_prob=settings.output_dropout_prob)
    self.runner = estimator_runner.EstimatorRunner(
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
