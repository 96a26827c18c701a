# coding=utf-8
r"""LERT pre-training: MLM plus POS, NER and DEP heads with the LIP schedule.

The model, its losses and the LIP schedule live in `lert/model/`; this
script is its flags and `main`: --do_train, --do_eval (accuracy and loss of
every head, beside each linguistic head's majority-class baseline, and the
collapse guard of check_collapse.py) and
--do_predict (the predictions of every head at the masked positions of the
records, as JSON Lines).

Example (CPU, the tiny config):

  python run_pretraining.py --bert_config_file=configs/lert_config_tiny.json \
    --input_file='demo_output/data/*.tfrecord' --output_dir=/tmp/lert \
    --do_train --do_eval --train_batch_size=16 --max_seq_length=128 \
    --max_predictions_per_seq=20 --num_train_steps=300 --num_warmup_steps=30
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import functools
import json
import os

from absl import app
from absl import flags
import tensorflow.compat.v1 as tf

from lert.contract import atomic_files
from lert.contract import fingerprints
from lert.contract import input_reading
from lert.contract import outputs
from lert.contract import script_errors
from lert.contract import script_flags
from lert.model import checkpoint_health
from lert.model import checkpoint_parameters
from lert.model import collapse_guard
from lert.model import lert_model
from lert.model import prediction_format
from lert.pretraining_data import records
from lert.running import checkpoints
from lert.running import estimator_runner
from lert.running import hooks
from lert.running import input_pipeline
from lert.running import run_config
from lert.tagging import linguistic_tags
import modeling
import tokenization

FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
  """Defines the flags; called only when this file runs as a script, so
  that scripts can be imported together (the tests do)."""
  define = script_flags.FlagDefiner(flag_values)
  define.string("bert_config_file", None,
                "Model config JSON (configs/lert_config_*.json).")
  define.string("input_file", None,
                "Comma-separated globs of TFRecord files written by "
                "create_pretraining_data.py.")
  define.string("output_dir", None,
                "Directory for checkpoints, TensorBoard logs and "
                "eval_results.txt; locked while a run uses it. A "
                "re-run with the same settings resumes from its last "
                "checkpoint (--num_train_steps may change); other "
                "settings are refused unless --overwrite. A directory "
                "holding a checkpoint that this script did not write "
                "(a downloaded one with its optimizer state) is "
                "adopted when its variables are this run's: training "
                "resumes from its step.")
  define.bool("overwrite", False,
              "Replace what an earlier run with another model, data or "
              "recipe wrote in --output_dir (only the files this "
              "script wrote there, as lert_run.json lists them; never "
              "an input or an adopted checkpoint).")
  define.string("init_checkpoint", None,
                "Google BERT or LERT checkpoint (or a directory holding "
                "one) to start a fresh run from: its weights are "
                "loaded (the log lists which, and which heads are "
                "new), but not its step, optimizer state or LIP "
                "schedule. To continue its run instead, give its "
                "directory as --output_dir.")
  define.integer("max_seq_length", 512,
                 "Sequence length of the records (the release: 512).")
  define.integer("max_predictions_per_seq", 75,
                 "Masked positions per record (the release: 75).")
  define.bool("do_train", False, "Train.")
  define.bool("do_eval", False,
              "Evaluate: MLM and POS/NER/DEP accuracy and loss, and the "
              "collapse guard (check_collapse.py: the MLM loss against "
              "the unigram entropy of the masked tokens, the mean "
              "pairwise cosine of the final-layer token states), "
              "written to <output_dir>/eval_results.txt.")
  define.bool("do_predict", False,
              "Predict every head at the masked positions of the "
              "records with the latest checkpoint of --output_dir (or "
              "--init_checkpoint): the MLM top --top_k tokens and each "
              "linguistic head's full distribution, one JSON line per "
              "record, in <output_dir>/predictions.jsonl.")
  define.integer("top_k", 5, "MLM candidates per masked position with "
                 "--do_predict.")
  define.integer("max_predict_records", None,
                 "Predict at most this many records (all by default).")
  define.string("vocab_file", None,
                "With --do_predict: the vocabulary, to write tokens "
                "beside their ids (configs/vocab.txt).")
  define.bool("check_records", False,
              "Before training, read every record of every input file "
              "and check its features and value ranges (token ids, "
              "positions, tag ids); otherwise the first record of each "
              "file is checked, and the rest in the graph on CPU/GPU.")
  define.integer("train_batch_size", 32,
                 "Examples per optimiser update (the paper: 1024 small, "
                 "416 base, 256 large). With gradient accumulation each "
                 "micro-batch holds train_batch_size / "
                 "gradient_accumulation_steps examples.")
  define.integer("eval_batch_size", 8, "Examples per evaluation batch.")
  define.integer("predict_batch_size", 8,
                 "Examples per prediction batch.")
  define.integer("gradient_accumulation_steps", 1,
                 "Micro-batches whose mean gradient makes one update, "
                 "so that a large batch fits on a small device.")
  define.float("learning_rate", 1e-4, "Peak learning rate (Adam).")
  define.integer("num_train_steps", 100000,
                 "Optimiser updates (the paper: 2,000,000).")
  define.integer("num_warmup_steps", 10000,
                 "Updates of linear learning-rate warm-up.")
  define.integer("max_eval_steps", 100, "Maximum evaluation batches.")
  define.enum("optimizer", "adamw", ["adamw", "lamb"],
              "adamw: Adam with decoupled weight decay, as LERT; lamb: "
              "LAMB for large-batch runs.")
  define.float("weight_decay_rate", 0.01,
               "Decoupled weight decay (the release: 0.01; the paper's "
               "text: 0.1). LayerNorm and biases are excluded.")
  define.string("linguistic_tasks", "pos,ner,dep",
                "Comma-separated subset of pos,ner,dep to train beside "
                "MLM. Empty trains the MLM-only baseline, which has no "
                "linguistic variables.")
  define.enum("lip_schedule", "linear", ["linear", "none"],
              "linear: λ_t = min(step / T_t, 1) (LIP); none: every λ "
              "is 1 from step 0 (the paper's 'no warm-up' variant, "
              "Eq. 6).")
  define.string("lip_order", "PND",
                "Order in which the tasks reach full weight: the first "
                "letter gets T = 1/6, the second 1/3, the third 1/2 of "
                "--num_train_steps (P = POS, N = NER, D = DEP). The "
                "paper trains PND (default), PDN, NPD and DNP.")
  define.integer("pos_end_step", None,
                 "Explicit T_POS (step at which λ_POS reaches 1); "
                 "overrides --lip_order for POS.")
  define.integer("ner_end_step", None,
                 "Explicit T_NER; overrides --lip_order for NER.")
  define.integer("dep_end_step", None,
                 "Explicit T_DEP; overrides --lip_order for DEP.")
  define.enum("precision", "fp32", ["fp32", "fp16", "bf16"],
              "Compute type of the encoder; variables stay float32. fp16 "
              "uses dynamic loss scaling (GPU); bf16 suits TPUs.")
  define.bool("use_one_hot_embeddings", None,
              "Look embeddings up by one-hot matmul (fast on TPU). "
              "Defaults to --use_tpu.")
  run_config.define_run_flags(flag_values)
  define.adopt_module_key_flags(run_config)
  _register_validators(flag_values)


def _register_validators(flag_values):
  """Flag errors are reported when the flags are parsed, in one line."""
  define = script_flags.FlagDefiner(flag_values)
  define.required("bert_config_file", "input_file", "output_dir")
  positive = ("num_train_steps", "train_batch_size", "eval_batch_size",
              "predict_batch_size", "gradient_accumulation_steps",
              "max_seq_length", "max_predictions_per_seq", "top_k")
  define.at_least_one(*positive)
  define.validator(
      "num_warmup_steps", lambda value: value >= 0,
      message="--num_warmup_steps must be >= 0.")
  define.validator(
      "lip_order", lambda value: sorted(value.upper()) == sorted("PND"),
      message="--lip_order must be a permutation of PND (e.g. PND, PDN, NPD, "
      "DNP).")
  define.validator(
      "linguistic_tasks", _valid_task_list,
      message="--linguistic_tasks must be a comma-separated subset of "
      "pos,ner,dep, each at most once.")
  for name in ("pos_end_step", "ner_end_step", "dep_end_step"):
    define.validator(name, lambda value: value is None or value >= 0,
                     message="--%s must be >= 0." % name)
  define.multi_validator(
      ["do_train", "do_eval", "do_predict"], any,
      message="Give --do_train, --do_eval and/or --do_predict.")
  define.multi_validator(
      ["train_batch_size", "gradient_accumulation_steps"],
      lambda v: v["train_batch_size"] % v["gradient_accumulation_steps"] == 0,
      message="--train_batch_size must be a multiple of "
      "--gradient_accumulation_steps.")
  run_config.register_training_batch_validators(flag_values)
  define.multi_validator(
      ["gradient_accumulation_steps", "precision", "num_gpus"],
      lambda v: (v["num_gpus"] <= 1 and run_config.environment_workers()
                 <= 1) or (v["gradient_accumulation_steps"] == 1
                           and v["precision"] != "fp16"),
      message="--gradient_accumulation_steps > 1 and --precision=fp16 run on "
      "one device: use --num_gpus 0 or 1 (and no multi-worker TF_CONFIG) "
      "with them, or a larger batch over the GPUs.")
  define.multi_validator(
      ["max_predictions_per_seq", "max_seq_length"],
      lambda v: v["max_predictions_per_seq"] <= v["max_seq_length"],
      message="--max_predictions_per_seq exceeds --max_seq_length.")


def _valid_task_list(text):
  try:
    linguistic_tags.parse_task_list(text)
  except ValueError:
    return False
  return True

COMPUTE_TYPES = {"fp32": tf.float32, "fp16": tf.float16, "bf16": tf.bfloat16}


def main(_):
  tf.logging.set_verbosity(tf.logging.INFO)
  # TensorFlow's logger prints each line itself; absl's root handler would
  # print it a second time.
  tf.get_logger().propagate = False
  script_errors.run_reporting_errors(run_explaining_data_errors,
                                     "run_pretraining.py",
                                     input_pipeline.tensorflow_problem)


def run_explaining_data_errors():
  """run(), with the data errors TensorFlow raises mid-run made to name
  what is wrong."""
  try:
    run()
  except tf.errors.DataLossError as e:
    files = input_reading.expand_input_files(FLAGS.input_file)
    raise script_errors.InputError(
        input_pipeline.find_unreadable_record(files) or
        "a record could not be read: %s" % e.message)
  except tf.errors.InvalidArgumentError as e:
    if lert_model.OUT_OF_RANGE not in e.message:
      raise
    detail = [line for line in e.message.splitlines()
              if lert_model.OUT_OF_RANGE in line][0]
    raise script_errors.InputError(
        "a record of --input_file %s; run with --check_records to name the "
        "file and record." % detail.strip())


def check_output_dir_checkpoint(bert_config, tasks):
  """A checkpoint already in --output_dir must be of this model: compares
  its shapes with the config's before anything restores or overwrites it.
  One that no `checkpoint` file names would be passed over (a run from
  random weights beside it): an error."""
  checkpoint = tf.train.latest_checkpoint(FLAGS.output_dir)
  if not checkpoint:
    unnamed = sorted(tf.gfile.Glob(os.path.join(FLAGS.output_dir,
                                                "*.index")))
    if (unnamed and FLAGS.do_train and not tf.gfile.Exists(
        os.path.join(FLAGS.output_dir, outputs.MANIFEST))):
      prefix = unnamed[0][:-len(".index")]
      raise script_errors.InputError(
          "--output_dir %s holds the checkpoint %s, but no `checkpoint` file "
          "names it, so training would start from random weights beside it: "
          "to resume its run, write %s/checkpoint with the line "
          "model_checkpoint_path: \"%s\"; to start a fresh run from its "
          "weights, pass --init_checkpoint=%s and another --output_dir." % (
              FLAGS.output_dir, os.path.basename(prefix), FLAGS.output_dir,
              os.path.basename(prefix), prefix))
    return
  saved = dict(tf.train.list_variables(checkpoint))
  for parameter in checkpoint_parameters.parameter_table(bert_config, tasks):
    shape = saved.get(parameter.tf_name)
    if shape is not None and list(shape) != list(parameter.shape):
      raise script_errors.InputError(
          "%s: variable %s has shape %s, but --bert_config_file %s gives %s: "
          "the checkpoint is of another model (use another --output_dir, or "
          "the config it was trained with)." % (
              checkpoint, parameter.tf_name, list(shape),
              FLAGS.bert_config_file, list(parameter.shape)))


def prediction_checkpoint(tasks):
  """The checkpoint --do_predict uses, after checking it has the heads."""
  checkpoint = checkpoints.resolve_checkpoint(
      tf.train.latest_checkpoint(FLAGS.output_dir) or FLAGS.init_checkpoint,
      "--do_predict (a checkpoint in --output_dir or --init_checkpoint)")
  trained = checkpoint_parameters.tasks_in_checkpoint(checkpoint)
  missing = set(tasks) - set(trained)
  if missing:
    raise script_errors.InputError(
        "%s has no %s head: predict with --linguistic_tasks=%s." % (
            checkpoint, "/".join(sorted(missing)).upper(),
            ",".join(trained)))
  return checkpoint


def predict(runner, input_files, features, tasks):
  """Writes <output_dir>/predictions.jsonl: one line per record."""
  checkpoint = prediction_checkpoint(tasks)
  inv_vocab = None
  if FLAGS.vocab_file:
    inv_vocab = linguistic_tags.readable_inverse_vocab(
        tokenization.load_vocab(FLAGS.vocab_file))
  input_fn = input_pipeline.input_fn_builder(input_files, features,
                                             is_training=False,
                                             drop_remainder=False)
  path = os.path.join(FLAGS.output_dir, "predictions.jsonl")
  tf.logging.info("***** Predicting with %s *****", checkpoint)
  count = 0
  with atomic_files.atomic_open(path) as writer:
    for index, prediction in enumerate(
        runner.predict(input_fn, checkpoint_path=checkpoint)):
      if (FLAGS.max_predict_records is not None and
          index >= FLAGS.max_predict_records):
        break
      line = {"record": index,
              "predictions": prediction_format.masked_position_predictions(
                  prediction, tasks, inv_vocab)}
      writer.write(json.dumps(line, ensure_ascii=False) + "\n")
      count += 1
  tf.logging.info("Wrote the predictions of %d records to %s", count, path)


def run():
  """Trains, evaluates and/or predicts as the flags say."""
  run_config.check_devices(FLAGS.num_gpus)
  bert_config = modeling.BertConfig.from_json_file(FLAGS.bert_config_file)
  bert_config.check_max_seq_length(FLAGS.max_seq_length,
                                    FLAGS.bert_config_file)
  tasks = linguistic_tags.parse_task_list(FLAGS.linguistic_tasks)
  end_steps = lert_model.lip_end_steps(
      FLAGS.num_train_steps, FLAGS.lip_order,
      {"pos": FLAGS.pos_end_step, "ner": FLAGS.ner_end_step,
       "dep": FLAGS.dep_end_step})
  input_files = input_reading.expand_input_files(FLAGS.input_file)
  cluster = run_config.cluster_from_environment()
  if cluster.num_workers > 1 and (FLAGS.do_eval or FLAGS.do_predict):
    raise script_errors.InputError(
        "TF_CONFIG names a %d-worker cluster: run --do_train alone there, "
        "and --do_eval or --do_predict in a run of one process (TF_CONFIG "
        "unset) on its --output_dir." % cluster.num_workers)
  if not cluster.is_chief:
    # The chief locks and records the output directory and writes in it;
    # a worker only reads its checkpoint (resume) and trains.
    tf.logging.info("Worker %d of %d (TF_CONFIG): the chief writes %s.",
                    cluster.task_index, cluster.num_workers, FLAGS.output_dir)
    run_in_output_directory(bert_config, tasks, end_steps, input_files)
    return
  if tf.gfile.IsDirectory(FLAGS.output_dir):
    check_output_dir_checkpoint(bert_config, tasks)
  adopt = functools.partial(adopt_checkpoint, bert_config, tasks, end_steps)
  with output_directory(bert_config, input_files, adopt):
    run_in_output_directory(bert_config, tasks, end_steps, input_files)


def adopt_checkpoint(bert_config, tasks, end_steps, names):
  """Takes over an --output_dir that holds a checkpoint and no lert_run.json
  (a downloaded LERT checkpoint with its optimizer state, or a run of the
  release's script): training resumes from it (its global step, Adam slots
  and LIP schedule) when every variable of this run's training graph is in
  it with its shape and it holds no other. Its files stay the user's:
  --overwrite never removes them, nor does the saver's rotation. Else an
  InputError names the first mismatch. `names`: the files of the
  directory that run_pretraining.py writes but did not write there."""
  checkpoint = tf.train.latest_checkpoint(FLAGS.output_dir)
  if checkpoint is None:
    raise script_errors.InputError(outputs.not_written(
        FLAGS.output_dir, "run_pretraining.py", names))
  checkpoint = checkpoints.resolve_checkpoint(checkpoint, "--output_dir")
  if FLAGS.init_checkpoint:
    raise script_errors.InputError(
        "--output_dir %s holds the checkpoint %s, which training would resume "
        "from, and --init_checkpoint %s is given: drop --init_checkpoint to "
        "resume that run, or write to another --output_dir to start a fresh "
        "one from --init_checkpoint." % (
            FLAGS.output_dir, os.path.basename(checkpoint),
            FLAGS.init_checkpoint))
  required, _ = lert_model.pretraining_features(
      FLAGS.max_seq_length, FLAGS.max_predictions_per_seq, tasks)
  why = checkpoints.resume_mismatch(
      training_model_fn(bert_config, tasks, end_steps), required, checkpoint)
  if why:
    trained = checkpoint_parameters.tasks_in_checkpoint(checkpoint)
    if list(trained) != list(tasks):
      why += " (it has the heads of --linguistic_tasks=%s)" % (
          ",".join(trained) or "none")
    raise script_errors.InputError(
        "--output_dir %s holds the checkpoint %s but no lert_run.json, and "
        "this run cannot resume it: %s. To start a fresh run from its "
        "weights, pass --init_checkpoint=%s and another --output_dir." % (
            FLAGS.output_dir, os.path.basename(checkpoint), why, checkpoint))
  # The saver deletes the oldest of the checkpoints the `checkpoint` file
  # lists once it has saved --keep_checkpoint_max newer ones: listed
  # alone as the latest, the adopted checkpoint is restored but never
  # deleted.
  named = checkpoint
  if (os.path.dirname(os.path.abspath(checkpoint)) ==
      os.path.abspath(FLAGS.output_dir)):
    named = os.path.basename(checkpoint)
  atomic_files.write_text(os.path.join(FLAGS.output_dir, "checkpoint"),
                          u"model_checkpoint_path: %s\n" %
                          json.dumps(named, ensure_ascii=False))
  tf.logging.info(
      "Adopted %s (global step %d), which run_pretraining.py did not write: "
      "training resumes from it; --overwrite will not remove its files.",
      checkpoint, tf.train.load_variable(checkpoint, "global_step"))


# What run_pretraining.py writes in --output_dir (all that --overwrite
# removes).
OUTPUTS = hooks.ESTIMATOR_OUTPUTS + ("eval_results.txt", "predictions.jsonl",
                                     "*.tmp")
# Settings a resumed run may change: more (or fewer) --num_train_steps
# continue the same run; the learning-rate decay and the LIP schedule are
# then computed from the new total.
MAY_CHANGE_ON_RESUME = ("num_train_steps",)


def output_directory(bert_config, input_files, adopt=None):
  """The outputs.OutputDirectory of the run: locked while it runs, recording
  the model and (with --do_train) the data and the recipe; a re-run with
  the same ones resumes from the last checkpoint, one with others is refused
  unless --overwrite."""
  settings = collections.OrderedDict([
      ("bert_config", bert_config.to_dict()),
      ("linguistic_tasks", ",".join(
          linguistic_tags.parse_task_list(FLAGS.linguistic_tasks))),
      ("max_seq_length", FLAGS.max_seq_length),
      ("max_predictions_per_seq", FLAGS.max_predictions_per_seq)])
  if FLAGS.do_train:
    settings.update([
        ("input_files", [fingerprints.describe_file(p) for p in input_files]),
        ("init_checkpoint", checkpoints.describe_checkpoint(
            FLAGS.init_checkpoint))])
    for name in ("train_batch_size", "gradient_accumulation_steps",
                 "learning_rate", "num_train_steps", "num_warmup_steps",
                 "optimizer", "weight_decay_rate", "lip_schedule",
                 "lip_order", "pos_end_step", "ner_end_step", "dep_end_step",
                 "precision", "random_seed"):
      settings[name] = getattr(FLAGS, name)
  inputs = list(input_files) + [FLAGS.bert_config_file]
  if FLAGS.init_checkpoint:
    inputs.append(checkpoints.checkpoint_directory(
        FLAGS.init_checkpoint))
  return outputs.OutputDirectory(
      FLAGS.output_dir, "run_pretraining.py", settings, OUTPUTS,
      inputs=inputs, overwrite=FLAGS.overwrite,
      may_change=MAY_CHANGE_ON_RESUME, require_record=FLAGS.do_train,
      adopt=adopt, temporaries=hooks.TENSORFLOW_TEMPORARIES)


def training_model_fn(bert_config, tasks, end_steps, init_checkpoint=None,
                      output_dir=None, predict_checkpoint=None):
  """The model_fn of the flags' model and recipe."""
  use_one_hot = FLAGS.use_one_hot_embeddings
  if use_one_hot is None:
    use_one_hot = FLAGS.use_tpu
  return lert_model.model_fn_builder(
      bert_config=bert_config, tasks=tasks, end_steps=end_steps,
      lip_schedule=FLAGS.lip_schedule, init_checkpoint=init_checkpoint,
      learning_rate=FLAGS.learning_rate,
      num_train_steps=FLAGS.num_train_steps,
      num_warmup_steps=FLAGS.num_warmup_steps, use_tpu=FLAGS.use_tpu,
      use_one_hot_embeddings=use_one_hot, optimizer_name=FLAGS.optimizer,
      weight_decay_rate=FLAGS.weight_decay_rate,
      gradient_accumulation_steps=FLAGS.gradient_accumulation_steps,
      compute_type=COMPUTE_TYPES[FLAGS.precision], output_dir=output_dir,
      save_summary_steps=FLAGS.save_summary_steps, top_k=FLAGS.top_k,
      predict_checkpoint=predict_checkpoint)


def run_in_output_directory(bert_config, tasks, end_steps, input_files):
  """run() once the output directory is locked and recorded."""
  required, optional = lert_model.pretraining_features(
      FLAGS.max_seq_length, FLAGS.max_predictions_per_seq, tasks,
      with_mask_tags=True)
  # Training checks its heads against the records in the same pass.
  heads = lert_model.HeadLabelCheck(tasks) if FLAGS.do_train else None
  present = input_pipeline.check_input_files(
      input_files, required, optional,
      value_ranges=lert_model.value_ranges(bert_config, FLAGS.max_seq_length,
                                           tasks),
      all_records=FLAGS.check_records, visit=heads and heads.visit,
      visit_records=lert_model.HEAD_CHECK_RECORDS)
  if heads:
    heads.check(input_files)
  features = dict(required)
  features.update({name: optional[name] for name in present})
  tf.logging.info("*** %d input files; linguistic tasks: %s ***",
                  len(input_files), ",".join(tasks) or "none (MLM only)")
  if records.MASK_TAG_FEATURE in present:
    tf.logging.info("  The records carry %s (--linguistic_masking=all): "
                    "their tag mask embeddings are summed.",
                    records.MASK_TAG_FEATURE)
  for task in tasks:
    if FLAGS.lip_schedule == "none":
      tf.logging.info("  λ_%s = 1 from step 0", task)
    else:
      tf.logging.info("  λ_%s reaches 1 at step %d", task, end_steps[task])
  if tasks and not set(present) - {records.MASK_TAG_FEATURE}:
    tf.logging.info("  The records mark no missing labels: every masked "
                    "position trains every head.")

  settings = run_config.run_settings_from_flags(FLAGS)
  micro_batch_size = (FLAGS.train_batch_size //
                      FLAGS.gradient_accumulation_steps)
  predict_checkpoint = None
  if FLAGS.do_predict and not FLAGS.do_train:
    # May be a converted or Google checkpoint, without a global step.
    predict_checkpoint = prediction_checkpoint(tasks)
  model_fn = training_model_fn(
      bert_config, tasks, end_steps, init_checkpoint=FLAGS.init_checkpoint,
      # (The training summaries: the chief's alone.)
      output_dir=FLAGS.output_dir if
      run_config.cluster_from_environment().is_chief else None,
      predict_checkpoint=predict_checkpoint)
  runner = estimator_runner.EstimatorRunner(
      model_fn, settings, train_batch_size=micro_batch_size,
      eval_batch_size=FLAGS.eval_batch_size,
      predict_batch_size=FLAGS.predict_batch_size)

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
    result = with_collapse_guard(result, input_files)
    estimator_runner.write_eval_results(FLAGS.output_dir, result)
  if FLAGS.do_predict:
    predict(runner, input_files, features, tasks)
  tf.logging.info("TensorBoard logs: tensorboard --logdir %s",
                  FLAGS.output_dir)


def with_collapse_guard(result, input_files):
  """The evaluation's results with the collapse guard's: the unigram
  entropy of the records' masked tokens beside the MLM loss, and the
  verdict (check_collapse.py's), which is logged."""
  entropy, _, _ = checkpoint_health.records_entropy(input_files)
  report = collapse_guard.judge(result["masked_lm_loss"], entropy,
                                result["final_layer_cosine"])
  tf.logging.info("Collapse guard: %s", collapse_guard.describe(report))
  result = dict(result, masked_lm_unigram_entropy=entropy,
                collapse_guard=report.verdict)
  return result


if __name__ == "__main__":
  define_flags()
  app.run(main)
