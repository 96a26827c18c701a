# coding=utf-8
r"""Offline LTP analysis of a raw Chinese corpus: words, POS, NER, DEP.

Input: UTF-8 text (optionally .gz), one sentence or paragraph per line, a
blank line between documents (the BERT corpus convention). Output: the
tagged format, one JSON line per document (words, POS, NER, DEP per
sentence; docs/data.md#the-tagged-format describes it).

The corpus is cut into `--num_output_shards` shards (document i goes to shard
i mod N). Machine k of `--num_shards` does the shards j with
j mod num_shards = k, with `--num_workers` processes. The corpus is read
once: a first pass checks it and sets each pending shard's documents aside
in `OUTPUT_DIR/.untagged/`, from where the workers tag them. A finished shard is
written atomically and skipped on restart, so a killed run restarted with
the same flags gives the same output as an uninterrupted one.

The work is lert/tagging/ltp_tagging.py's: its tagging core, which the Beam
pipeline shares, and its single-machine run (`ltp_tagging.run`); this script
is the flags and main.

  python linguistic_tagger.py --input_file='corpus/*.txt' \
    --output_dir=tagged --ltp_model=LTP/small --device=cpu
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import sys

from absl import app
from absl import flags

from lert.contract import input_reading
from lert.contract import script_errors
from lert.contract import script_flags
from lert.tagging import ltp_tagging

FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
  """Defines the flags; called only when this file runs as a script, so
  that scripts can be imported together (the tests do)."""
  define = script_flags.FlagDefiner(flag_values)
  define.string("input_file", None,
                "Comma-separated globs of raw text files (.txt or .gz).")
  define.string("output_dir", None, "Directory for the tagged shards.")
  ltp_tagging.define_ltp_flags(flag_values)
  define.adopt_module_key_flags(ltp_tagging)
  define.bool("overwrite", False,
              "Replace the shards of an earlier run with other input "
              "or settings in --output_dir (only the tagger's files).")
  define.integer("num_output_shards", 8,
                 "Output shards the corpus is cut into (the unit of "
                 "work and of resumption).")
  define.integer("num_shards", 1,
                 "Machines sharing the work (with --shard_index).")
  define.integer("shard_index", 0, "This machine's index, 0-based.")
  define.integer("num_workers", 1,
                 "Worker processes on this machine, each with its own "
                 "LTP model.")
  define.required("input_file", "output_dir")
  define.at_least_one("num_output_shards", "num_shards", "num_workers")
  define.multi_validator(
      ["shard_index", "num_shards"],
      lambda v: 0 <= v["shard_index"] < v["num_shards"],
      message="--shard_index must be in 0..--num_shards - 1.")


def main(_):
  script_errors.run_reporting_errors(tag, "linguistic_tagger.py")


def tag():
  """Tags as the flags say and prints the summary."""
  settings = ltp_tagging.TaggingSettings(
      input_files=input_reading.expand_input_files(FLAGS.input_file),
      output_dir=FLAGS.output_dir, num_output_shards=FLAGS.num_output_shards,
      num_shards=FLAGS.num_shards, shard_index=FLAGS.shard_index,
      num_workers=FLAGS.num_workers, overwrite=FLAGS.overwrite,
      **ltp_tagging.ltp_settings_from_flags(FLAGS)._asdict())
  summary, elapsed, skipped = ltp_tagging.run(settings)
  print(ltp_tagging.format_summary(summary, elapsed, skipped))
  print("Output: %s" % FLAGS.output_dir)
  sys.stdout.flush()


if __name__ == "__main__":
  define_flags()
  app.run(main)
