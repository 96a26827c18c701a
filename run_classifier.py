# coding=utf-8
"""Fine-tunes LERT/BERT on a sentence or sentence-pair classification task.

Tasks (`--task_name`): xnli, ocnli, chnsenticorp, lcqmc, bq, tnews; their
file layouts are read as `lert/finetuning/classifier_data.py` describes.
--do_eval writes the accuracy and the confusion matrix to
<output_dir>/eval_results.txt; --do_predict writes
<output_dir>/test_results.tsv (the predicted label and the probability of
every label).

Example (scripts/finetune.sh runs the paper's settings):

  python run_classifier.py --task_name=chnsenticorp \\
    --bert_config_file=configs/lert_config_base.json \\
    --init_checkpoint=lert_base/model.ckpt --output_dir=out/csc \\
    --train_file=chnsenticorp/train.tsv \\
    --eval_file=chnsenticorp/dev.tsv --do_train --do_eval \\
    --max_seq_length=256 --num_train_epochs=5 --learning_rate=3e-5
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import os

from absl import app
from absl import flags
import numpy as np
import tensorflow.compat.v1 as tf

from lert.contract import atomic_files
from lert.contract import script_errors
from lert.contract import script_flags
from lert.finetuning import classifier_data
from lert.finetuning import metrics
from lert.finetuning import task_runner
from lert.running import estimator_runner
from lert.running import input_pipeline
import tokenization

FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
  define = script_flags.FlagDefiner(flag_values)
  define.enum("task_name", None, list(classifier_data.TASKS),
              "The task, which fixes the labels and the file layout.")
  define.required("task_name")
  task_runner.define_flags(flag_values)
  define.adopt_module_key_flags(task_runner)


def read(task, path, what):
  """The examples of a file, with their skips logged."""
  result = task.reader(path)
  tf.logging.info("%s: %d examples from %s", what, len(result.examples),
                  path)
  for reason, count in sorted(result.skipped.items()):
    tf.logging.info("  skipped %d: %s", count, reason)
  return result


def records(feature_dir, task, examples, tokenizer, max_seq_length, name,
            require_labels):
  """Writes the features of examples to <feature_dir>/<name>.tf_record;
  returns (path, schema, number truncated)."""
  label_map = {label: i for i, label in enumerate(task.labels)}
  if require_labels:
    classifier_data.check_labelled(examples)
  truncated = []
  rows = []
  for index, example in enumerate(examples):
    row, cut = classifier_data.example_features(example, index, label_map,
                                                tokenizer, max_seq_length)
    truncated.append(cut)
    rows.append(row)
  path = os.path.join(feature_dir, name + ".tf_record")
  schema = task_runner.write_records(path, rows)
  if sum(truncated):
    tf.logging.info("  %d of %d examples were longer than --max_seq_length "
                    "%d and were truncated", sum(truncated), len(examples),
                    max_seq_length)
  return path, schema, sum(truncated)


def evaluate(feature_dir, task, runner, examples, tokenizer, skipped):
  path, schema, truncated = records(feature_dir, task, examples, tokenizer,
                                    FLAGS.max_seq_length, "eval", True)
  probabilities = np.array(runner.predict(path, schema, len(examples)))
  gold = np.array([task.labels.index(e.label) for e in examples])
  predicted = probabilities.argmax(axis=-1)
  matrix = metrics.confusion_matrix(gold, predicted, len(task.labels))
  loss = -np.log(np.maximum(probabilities[np.arange(len(gold)), gold],
                            1e-12)).mean()
  results = collections.OrderedDict([
      ("task", task.name),
      ("accuracy", metrics.accuracy(gold, predicted)),
      ("loss", float(loss)),
      ("num_examples", len(examples)),
      ("num_truncated", truncated),
      ("skipped", dict(skipped)),
      ("labels", list(task.labels)),
      ("confusion_matrix", matrix.tolist()),
      ("init_checkpoint", task_runner.initialisation(FLAGS.output_dir)),
  ])
  path = estimator_runner.write_eval_results(FLAGS.output_dir, results,
                                             ordered=True)
  width = max(len(label) for label in task.labels)
  lines = ["Confusion matrix (rows: gold, columns: predicted):",
           " " * (width + 2) + " ".join("%7s" % name for name in task.labels)]
  for label, row in zip(task.labels, matrix):
    lines.append("%*s  " % (width, label) +
                 " ".join("%7d" % count for count in row))
  print("%s accuracy %.4f on %d examples (%s)\n%s" % (
      task.name, results["accuracy"], len(examples), path, "\n".join(lines)))
  return results


def predict(feature_dir, task, runner, examples, tokenizer):
  path, schema, _ = records(feature_dir, task, examples, tokenizer,
                            FLAGS.max_seq_length, "predict", False)
  probabilities = runner.predict(path, schema, len(examples))
  output = os.path.join(FLAGS.output_dir, "test_results.tsv")
  with atomic_files.atomic_open(output) as writer:
    writer.write("\t".join(["index", "prediction"] + [
        "p_" + label for label in task.labels]) + "\n")
    for example, probs in zip(examples, probabilities):
      writer.write("\t".join(
          [example.guid, task.labels[int(np.argmax(probs))]] +
          ["%.6f" % p for p in probs]) + "\n")
  print("Predictions of %d examples: %s" % (len(examples), output))


def run():
  settings = {"task_name": FLAGS.task_name}
  with task_runner.output_directory(FLAGS, "run_classifier.py",
                                    settings) as feature_dir:
    run_in_output_directory(feature_dir)


def run_in_output_directory(feature_dir):
  task = classifier_data.TASKS[FLAGS.task_name]
  tokenizer = tokenization.FullTokenizer(FLAGS.vocab_file,
                                         FLAGS.do_lower_case)
  train = None
  if FLAGS.do_train:
    train = read(task, FLAGS.train_file, "train")
  runner = task_runner.Runner(task_runner.finetune_settings_from_flags(FLAGS),
                              len(task.labels), "sequence",
                              len(train.examples) if train else 0)
  if train:
    path, schema, _ = records(feature_dir, task, train.examples,
                              tokenizer, FLAGS.max_seq_length, "train",
                              True)
    runner.train(path, schema)
  if FLAGS.do_eval:
    evaluation = read(task, FLAGS.eval_file, "eval")
    evaluate(feature_dir, task, runner, evaluation.examples, tokenizer,
             evaluation.skipped)
  if FLAGS.do_predict:
    predict(feature_dir, task, runner,
            read(task, FLAGS.predict_file, "predict").examples, tokenizer)


def main(_):
  tf.logging.set_verbosity(tf.logging.INFO)
  tf.get_logger().propagate = False
  script_errors.run_reporting_errors(run, "run_classifier.py",
                                     input_pipeline.tensorflow_problem)


if __name__ == "__main__":
  define_flags()
  app.run(main)
