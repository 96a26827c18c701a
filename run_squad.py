# coding=utf-8
"""Fine-tunes LERT/BERT for extractive reading comprehension: CMRC 2018 and
DRCD (SQuAD v1-style JSON; DRCD's Traditional Chinese is read as it is).

Passages longer than the model input are read in windows (--doc_stride);
the model predicts start and end logits; the n-best spans (--n_best_size,
--max_answer_length) are mapped back to the original characters of the
context. --do_eval writes <output_dir>/predictions.json,
nbest_predictions.json and eval_results.txt with the CMRC 2018 metric
(`cmrc2018_evaluate.py`: F1, EM, TOTAL, SKIP; every gold answer counts);
--do_predict writes the two prediction files for --predict_file. Features
are cached in <output_dir> (keyed by the file and the flags), so a second
run does not tokenize again.

Example (scripts/run_cmrc2018.sh runs the paper's settings):

  python run_squad.py --bert_config_file=configs/lert_config_base.json \\
    --init_checkpoint=lert_base/model.ckpt --output_dir=out/cmrc \\
    --train_file=cmrc2018_train.json --eval_file=cmrc2018_dev.json \\
    --do_train --do_eval --max_seq_length=512 --num_train_epochs=2 \\
    --learning_rate=3e-5
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import hashlib
import io
import json
import os

from absl import app
from absl import flags
import tensorflow.compat.v1 as tf

from lert.contract import atomic_files
from lert.contract import script_errors
from lert.contract import script_flags
from lert.finetuning import cmrc_metric
from lert.finetuning import squad_data
from lert.finetuning import task_runner
from lert.running import estimator_runner
from lert.running import input_pipeline
import tokenization

FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
  define = script_flags.FlagDefiner(flag_values)
  task_runner.define_flags(flag_values, default_max_seq_length=512)
  define.adopt_module_key_flags(task_runner)
  define.integer("doc_stride", 128,
                 "Tokens between the starts of consecutive windows of "
                 "a long passage.")
  define.integer("max_query_length", 64,
                 "Question tokens kept (the rest is cut).")
  define.integer("n_best_size", 20,
                 "Candidate spans kept per question.")
  define.integer("max_answer_length", 30,
                 "Longest answer, in tokens.")
  define.at_least_one("doc_stride", "max_query_length", "n_best_size",
                      "max_answer_length")
  define.multi_validator(
      ["max_seq_length", "max_query_length"],
      lambda v: v["max_seq_length"] >= v["max_query_length"] + 4,
      "--max_seq_length must leave room for the question, the separators "
      "and some passage (>= --max_query_length + 4).")


def cached_features(feature_dir, path, questions, tokenizer, name):
  """(record path, schema, windows) of a file's questions, from the cache in
  `feature_dir` when the file and the flags are the same."""
  stat = os.stat(path)
  key = hashlib.sha1(json.dumps([
      os.path.abspath(path), stat.st_size, int(stat.st_mtime),
      FLAGS.max_seq_length, FLAGS.doc_stride, FLAGS.max_query_length,
      os.path.abspath(FLAGS.vocab_file), FLAGS.do_lower_case]).encode(
          "utf-8")).hexdigest()[:12]
  prefix = os.path.join(feature_dir, "%s-%s" % (name, key))
  if tf.gfile.Exists(prefix + ".tf_record") and tf.gfile.Exists(
      prefix + ".windows.json"):
    with tf.gfile.GFile(prefix + ".windows.json") as f:
      cache = json.load(f)
    windows = [squad_data.Window(*w) for w in cache["windows"]]
    tf.logging.info("%s: %d cached windows from %s", name, len(windows),
                    prefix + ".tf_record")
    return prefix + ".tf_record", cache["schema_lengths"], windows
  windows, rows = [], []
  round_trip = collections.Counter()
  for index, question in enumerate(questions):
    query_length = len(tokenizer.tokenize(
        question.question)[:FLAGS.max_query_length])
    question_windows = squad_data.question_windows(
        question, index, tokenizer, FLAGS.max_seq_length,
        FLAGS.max_query_length, FLAGS.doc_stride)
    if question.span:
      round_trip[squad_data.label_round_trip(question, question_windows)] += 1
    for window in question_windows:
      rows.append(squad_data.window_features(
          window, len(windows), tokenizer, FLAGS.max_seq_length,
          query_length))
      windows.append(window)
  if not rows:
    raise script_errors.InputError(
        "%s: no question of it can be used for %s%s." % (
            path, "training" if name == "train" else name,
            " (a training question needs its answer in its context)"
            if name == "train" else ""))
  if name == "train":
    tf.logging.info("  training answers: %s", ", ".join(
        "%d %s" % (count, kind) for kind, count in sorted(
            round_trip.items())))
  schema = task_runner.write_records(prefix + ".tf_record", rows)
  lengths = {key: spec.length for key, spec in schema.items()}
  with atomic_files.atomic_open(prefix + ".windows.json") as f:
    f.write(json.dumps({"windows": windows, "schema_lengths": lengths}))
  tf.logging.info("%s: %d questions in %d windows", name, len(questions),
                  len(windows))
  return prefix + ".tf_record", lengths, windows


def _schema(lengths):
  return {key: input_pipeline.FeatureSpec(tf.int64, length)
          for key, length in lengths.items()}


def read(path, what):
  """The questions of `path`; what was skipped is printed (and goes into
  eval_results.txt)."""
  result = squad_data.read_questions(path)
  tf.logging.info("%s: %s", path, ", ".join(
      "%d %s" % (count, name) for name, count in sorted(
          result.counts.items())))
  skipped = [(name, result.counts[name]) for name in (
      squad_data.ANSWER_NOT_FOUND, squad_data.NO_USABLE_ANSWER)
             if result.counts[name]]
  if skipped:
    message = "%s (%s): %s%s." % (path, what, ", ".join(
        "%d %s" % (count, name) for name, count in skipped),
                                  "; not trained on" if what == "train" and
                                  result.counts[squad_data.NO_USABLE_ANSWER]
                                  else "")
    tf.logging.warning(message)
    print(message)
  return result


def predict(feature_dir, runner, questions, tokenizer, name):
  """Writes predictions.json and nbest_predictions.json; returns the best
  answer text of every question."""
  path, lengths, windows = cached_features(
      feature_dir,
      FLAGS.predict_file if name == "predict" else FLAGS.eval_file,
      questions, tokenizer, name)
  logits = runner.predict(path, _schema(lengths), len(windows),
                          keys=("start_logits", "end_logits"))
  nbest = squad_data.best_answers(
      questions, windows, [pair[0] for pair in logits],
      [pair[1] for pair in logits],
      FLAGS.n_best_size, FLAGS.max_answer_length)
  best = collections.OrderedDict((qid, candidates[0].text)
                                 for qid, candidates in nbest.items())
  nbest_json = collections.OrderedDict()
  for qid, candidates in nbest.items():
    nbest_json[qid] = [collections.OrderedDict([
        ("text", c.text), ("probability", float(p)),
        ("start_logit", c.start_logit), ("end_logit", c.end_logit)])
                       for c, p in zip(candidates,
                                       squad_data.probabilities(candidates))]
  for filename, value in (("predictions.json", best),
                          ("nbest_predictions.json", nbest_json)):
    atomic_files.write_text(
        os.path.join(FLAGS.output_dir, filename),
        json.dumps(value, ensure_ascii=False, indent=2) + u"\n")
  return best


def run():
  settings = {"doc_stride": FLAGS.doc_stride,
              "max_query_length": FLAGS.max_query_length}
  with task_runner.output_directory(FLAGS, "run_squad.py",
                                    settings) as feature_dir:
    run_in_output_directory(feature_dir)


def run_in_output_directory(feature_dir):
  tokenizer = tokenization.FullTokenizer(FLAGS.vocab_file,
                                         FLAGS.do_lower_case)
  train_windows = None
  train_counts = None
  if FLAGS.do_train:
    train = read(FLAGS.train_file, "train")
    train_counts = train.counts
    usable = [q for q in train.questions if q.span]
    path, lengths, windows = cached_features(feature_dir, FLAGS.train_file,
                                             usable, tokenizer, "train")
    train_windows = windows
    outside = sum(1 for w in windows if not w.start_position)
    tf.logging.info("  %d of %d training windows do not hold their answer "
                    "(labelled [CLS])", outside, len(windows))
  runner = task_runner.Runner(task_runner.finetune_settings_from_flags(FLAGS),
                              2, "span",
                              len(train_windows) if train_windows else 0)
  if FLAGS.do_train:
    runner.train(path, _schema(lengths))
  if FLAGS.do_eval:
    evaluation = read(FLAGS.eval_file, "eval")
    best = predict(feature_dir, runner, evaluation.questions, tokenizer,
                   "eval")
    with io.open(FLAGS.eval_file, encoding="utf-8-sig") as f:
      score = cmrc_metric.evaluate(json.load(f), best)
    results = collections.OrderedDict([
        ("F1", score.f1), ("EM", score.em), ("TOTAL", score.total),
        ("SKIP", score.skip)])
    results.update(evaluation.counts)
    if train_counts:
      results["train"] = dict(train_counts)
    results["init_checkpoint"] = task_runner.initialisation(FLAGS.output_dir)
    path = estimator_runner.write_eval_results(FLAGS.output_dir, results,
                                             ordered=True)
    print("%s %s" % (cmrc_metric.score_json(score), path))
  if FLAGS.do_predict:
    questions = read(FLAGS.predict_file, "predict").questions
    predict(feature_dir, runner, questions, tokenizer, "predict")
    print("Predictions of %d questions: %s" % (
        len(questions), os.path.join(FLAGS.output_dir, "predictions.json")))


def main(_):
  tf.logging.set_verbosity(tf.logging.INFO)
  tf.get_logger().propagate = False
  script_errors.run_reporting_errors(run, "run_squad.py",
                                     input_pipeline.tensorflow_problem)


if __name__ == "__main__":
  define_flags()
  app.run(main)
