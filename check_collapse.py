# coding=utf-8
r"""The collapse guard: has a pre-trained encoder learned anything, or does
it give every token the same state?

  python check_collapse.py --bert_config_file=configs/lert_config_tiny.json \
    --init_checkpoint=pretrain/model.ckpt-1000 \
    --input_file='records/part-*.tfrecord' --output_file=guard.json

On the pre-training records of create_pretraining_data.py it reports:

  * the MLM loss of the checkpoint on the first --max_eval_examples records
    (a fixed sample, in file order), against the unigram entropy of the
    masked tokens of the records: the loss of a model that knows only the
    tokens' frequencies;
  * the mean pairwise cosine of the final-layer token states of the same
    records: near 1 when every token has the same state.

The verdict is `collapsed` when that cosine reaches --cosine_limit, `no
better than unigram` when the loss is not below the entropy, else `healthy`
(docs/experiments.md#the-collapse-guard). It is printed, and written with
the figures to --output_file (JSON). run_pretraining.py --do_eval reports
the same figures; run_experiments.py runs this after each pre-training and
tabulates a collapsed variant as collapsed, never as scores.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import sys

from absl import app
from absl import flags
import tensorflow.compat.v1 as tf

from lert.contract import atomic_files
from lert.contract import input_reading
from lert.contract import script_errors
from lert.contract import script_flags
from lert.model import checkpoint_health
from lert.model import collapse_guard
from lert.running import checkpoints
from lert.running import input_pipeline
import modeling

FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
  define = script_flags.FlagDefiner(flag_values)
  define.string("bert_config_file", None, "The model's config JSON.")
  define.string("init_checkpoint", None,
                "The checkpoint to check (a prefix, or a directory: its "
                "latest).")
  define.string("input_file", None,
                "Comma-separated globs of pre-training TFRecord files "
                "(create_pretraining_data.py's); their lengths are read "
                "from the first record.")
  define.integer("max_eval_examples", 1024,
                 "Records to evaluate: the first ones, in file order "
                 "(rounded up to a whole batch).")
  define.integer("eval_batch_size", 32, "Records per evaluation batch.")
  define.integer("max_entropy_records", checkpoint_health.MAX_ENTROPY_RECORDS,
                 "Records whose masked tokens give the unigram entropy, at "
                 "most.")
  define.float("cosine_limit", collapse_guard.COSINE_LIMIT,
               "A mean pairwise cosine of the final-layer token states at "
               "or above this is a collapsed encoder.")
  define.string("output_file", None,
                "Write the figures and the verdict here (JSON).")
  define.required("bert_config_file", "init_checkpoint", "input_file")
  define.at_least_one("max_eval_examples", "eval_batch_size",
                      "max_entropy_records")
  define.validator("cosine_limit", lambda x: -1 < x <= 1,
                   message="--cosine_limit must be in (-1, 1].")


def main(_):
  script_errors.run_reporting_errors(run, "check_collapse.py",
                                     input_pipeline.tensorflow_problem)


def run():
  tf.logging.set_verbosity(tf.logging.WARN)
  input_files = input_reading.expand_input_files(FLAGS.input_file)
  bert_config = modeling.BertConfig.from_json_file(FLAGS.bert_config_file)
  checkpoint = checkpoints.resolve_checkpoint(FLAGS.init_checkpoint)
  report, metrics, sample = checkpoint_health.check(
      bert_config, checkpoint, input_files, FLAGS.max_eval_examples,
      FLAGS.eval_batch_size, FLAGS.cosine_limit, FLAGS.max_entropy_records)
  print("%s: %s (%d records evaluated; entropy over the %d masked tokens "
        "of %d records)" % (checkpoint, collapse_guard.describe(report),
                            sample.examples, sample.masked_tokens,
                            sample.entropy_records))
  if FLAGS.output_file:
    result = collections.OrderedDict([("checkpoint", checkpoint)])
    result.update(report._asdict())
    result["collapsed"] = report.verdict == collapse_guard.COLLAPSED
    result.update([("masked_lm_accuracy", metrics["masked_lm_accuracy"]),
                   ("cosine_limit", FLAGS.cosine_limit)])
    result.update(sample._asdict())
    atomic_files.write_json(FLAGS.output_file, result)
  sys.stdout.flush()


if __name__ == "__main__":
  define_flags()
  app.run(main)
