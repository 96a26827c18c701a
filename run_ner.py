# coding=utf-8
"""Fine-tunes LERT/BERT for character-level NER: MSRA-NER, People's Daily.

Input files hold one character and its BIO tag (PER/LOC/ORG) per line and a
blank line between sentences (`lert/finetuning/ner_data.py`). --do_eval
writes entity-level precision, recall and F1 (an entity counts only when its
type and both boundaries match), overall and per type, to
<output_dir>/eval_results.txt, and the predicted tags in the input's own
format to <output_dir>/eval_predictions.txt; --do_predict writes
<output_dir>/test_predictions.txt.

Example (scripts/finetune.sh runs the paper's settings):

  python run_ner.py --bert_config_file=configs/lert_config_base.json \\
    --init_checkpoint=lert_base/model.ckpt --output_dir=out/pd \\
    --train_file=peopledaily/train.txt --eval_file=peopledaily/dev.txt \\
    --do_train --do_eval --max_seq_length=256 --num_train_epochs=10
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import os

from absl import app
from absl import flags
import tensorflow.compat.v1 as tf

from lert.contract import script_errors
from lert.contract import script_flags
from lert.finetuning import metrics
from lert.finetuning import ner_data
from lert.finetuning import task_runner
from lert.running import estimator_runner
from lert.running import input_pipeline
import tokenization

FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
  define = script_flags.FlagDefiner(flag_values)
  task_runner.define_flags(flag_values, default_max_seq_length=256)
  define.adopt_module_key_flags(task_runner)


def read(path, what, require_tags=True):
  sentences = ner_data.read_sentences(path, require_tags)
  tf.logging.info("%s: %d sentences, %d characters from %s", what,
                  len(sentences), sum(len(s.chars) for s in sentences), path)
  unstarted = ner_data.unstarted_entities(sentences)
  if unstarted:
    message = ("%s (%s): %d I- tags that follow O or another type (the first "
               "at %s), read as the start of an entity, as conlleval reads "
               "them." % (path, what, len(unstarted), unstarted[0]))
    tf.logging.warning(message)
    print(message)
  return sentences


def records(feature_dir, sentences, tokenizer, name):
  """Writes the windows of sentences as <feature_dir>/<name>.tf_record;
  returns (path, schema, windows)."""
  windows = ner_data.windows(sentences, tokenizer, FLAGS.max_seq_length)
  rows = [ner_data.window_features(w, sentences[w.sentence], i, tokenizer,
                                   FLAGS.max_seq_length)
          for i, w in enumerate(windows)]
  split = len(windows) - len(sentences)
  if split:
    tf.logging.info("  %d sentences longer than --max_seq_length were split "
                    "into windows (no character is lost)", split)
  path = os.path.join(feature_dir, name + ".tf_record")
  return path, task_runner.write_records(path, rows), windows


def predicted_tags(feature_dir, runner, sentences, tokenizer, name):
  path, schema, windows = records(feature_dir, sentences, tokenizer, name)
  probabilities = runner.predict(path, schema, len(windows))
  return ner_data.stitch(sentences, windows, probabilities)


def run():
  with task_runner.output_directory(FLAGS, "run_ner.py") as feature_dir:
    run_in_output_directory(feature_dir)


def run_in_output_directory(feature_dir):
  tokenizer = tokenization.FullTokenizer(FLAGS.vocab_file,
                                         FLAGS.do_lower_case)
  train = read(FLAGS.train_file, "train") if FLAGS.do_train else None
  num_windows = 0
  if train:
    path, schema, windows = records(feature_dir, train, tokenizer, "train")
    num_windows = len(windows)
  runner = task_runner.Runner(task_runner.finetune_settings_from_flags(FLAGS),
                              len(ner_data.LABELS), "token", num_windows)
  if train:
    runner.train(path, schema)
  if FLAGS.do_eval:
    sentences = read(FLAGS.eval_file, "eval")
    predicted = predicted_tags(feature_dir, runner, sentences, tokenizer,
                               "eval")
    scores = metrics.entity_scores([s.tags for s in sentences], predicted)
    results = collections.OrderedDict([
        ("precision", scores.precision), ("recall", scores.recall),
        ("f1", scores.f1), ("gold_entities", scores.gold),
        ("predicted_entities", scores.predicted),
        ("correct_entities", scores.correct),
        ("num_sentences", len(sentences)),
        ("unstarted_entities", len(ner_data.unstarted_entities(sentences))),
        ("train_unstarted_entities",
         len(ner_data.unstarted_entities(train)) if train else None),
        ("init_checkpoint", task_runner.initialisation(FLAGS.output_dir))])
    for kind, (precision, recall, f1) in scores.by_type.items():
      results["f1_" + kind] = f1
      results["precision_" + kind] = precision
      results["recall_" + kind] = recall
    path = estimator_runner.write_eval_results(FLAGS.output_dir, results,
                                             ordered=True)
    output = ner_data.write_sentences(
        os.path.join(FLAGS.output_dir, "eval_predictions.txt"), sentences,
        predicted)
    print("Entity F1 %.4f (P %.4f, R %.4f) on %d sentences (%s); "
          "predictions: %s" % (scores.f1, scores.precision, scores.recall,
                               len(sentences), path, output))
  if FLAGS.do_predict:
    sentences = read(FLAGS.predict_file, "predict", require_tags=False)
    predicted = predicted_tags(feature_dir, runner, sentences, tokenizer,
                               "predict")
    output = ner_data.write_sentences(
        os.path.join(FLAGS.output_dir, "test_predictions.txt"), sentences,
        predicted)
    print("Predictions of %d sentences: %s" % (len(sentences), output))


def main(_):
  tf.logging.set_verbosity(tf.logging.INFO)
  tf.get_logger().propagate = False
  script_errors.run_reporting_errors(run, "run_ner.py",
                                     input_pipeline.tensorflow_problem)


if __name__ == "__main__":
  define_flags()
  app.run(main)
