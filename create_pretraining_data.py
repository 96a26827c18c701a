# coding=utf-8
"""Tagged JSON Lines (from linguistic_tagger.py) -> LERT pre-training TFRecords.

Each input line is one document: {"sentences": [{"text", "words", "pos",
"ner", "dep_head", "dep_label"}, ...]}. For every document this writes
`--dupe_factor` sets of instances (docs/spec.md §4):

  * WordPiece tokens of each sentence, aligned to its LTP words by character
    offsets; every token gets the POS tag, NER tag and DEP label of its word;
  * `[CLS] A [SEP] B [SEP]` from consecutive sentences of the document, up to
    `--max_seq_length` (no next-sentence prediction: B simply continues A);
  * 15% of the tokens chosen by whole words and word N-grams (n = 1..4 with
    probability 0.4/0.3/0.2/0.1); a chosen token becomes [MASK] 80% of the
    time, stays 10%, becomes a random token 10%;
  * the labels of every masked position, and `<task>_label_weights` that are
    0 where the word has no usable tag (e.g. LTP's DEP `IS`).

The corpus is streamed in batches of documents, so memory stays bounded
whatever its size. Every document has its own random generator seeded from
`--random_seed` and the document's key (document_key: the file name and line
of its first raw corpus line), so the output is byte-identical for any
`--num_workers`, and the same records come out of the Beam pipeline
(prepare_pretraining_data_beam.py) on any runner. Instances are spread
round-robin over the output files; the training input pipeline shuffles
them.

The work is pretraining_data.py's (the library the Beam pipeline and
predict_linguistic.py share); this script is its flags and main.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import os
import sys

from absl import app
from absl import flags

import outputs
import pretraining_data
import records
import script_errors

FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
  """Defines the flags; called only when this file runs as a script, so
  that scripts can be imported together (the tests do)."""
  flags.DEFINE_string("input_file", None,
                      "Comma-separated globs of tagged JSON Lines files "
                      "(.jsonl or .jsonl.gz) written by linguistic_tagger.py.",
                      flag_values=flag_values)
  flags.DEFINE_string("output_file", None,
                      "Comma-separated output TFRecord files; instances are "
                      "spread round-robin over them.",
                      flag_values=flag_values)
  pretraining_data.define_masking_flags(flag_values)
  # --help shows the main module's flags: these are this script's too.
  flags.adopt_module_key_flags(pretraining_data, flag_values=flag_values)
  flags.DEFINE_integer("num_workers", 1,
                       "Worker processes; the output does not depend on it.",
                       flag_values=flag_values)
  flags.DEFINE_integer("docs_per_batch", 256,
                       "Documents handed to the workers at a time (bounds "
                       "memory).",
                       flag_values=flag_values)
  flags.DEFINE_enum("record_writer", "auto", ["auto", "python", "tensorflow"],
                    "How TFRecords are written: python (no TensorFlow; needs "
                    "google-crc32c), tensorflow (tf.io.TFRecordWriter, also "
                    "for gs:// paths), or auto (python where it can). The "
                    "files are the same.",
                    flag_values=flag_values)
  flags.DEFINE_integer("dump_examples", 0,
                       "Write the first N instances human-readably to "
                       "<first output file>.examples.txt.",
                       flag_values=flag_values)
  for name in ("input_file", "output_file"):
    flags.mark_flag_as_required(name, flag_values=flag_values)
  flags.register_validator(
      "output_file", lambda value: value is None or (
          _output_files(value) and len(_output_files(value)) == len(
              set(_output_files(value)))),
      message="--output_file must name distinct files (a name given twice "
      "would be written by two writers).", flag_values=flag_values)
  script_errors.require_at_least_one(("num_workers", "docs_per_batch"),
                                     flag_values)
  flags.register_validator(
      "dump_examples", lambda value: value >= 0,
      message="--dump_examples must be >= 0.", flag_values=flag_values)


def _output_files(text):
  return [p.strip() for p in (text or "").split(",") if p.strip()]


def main(_):
  script_errors.run_reporting_errors(make_records,
                                     "create_pretraining_data.py")


def make_records():
  """Writes the records as the flags say and prints the summary."""
  input_files = script_errors.expand_input_files(FLAGS.input_file)
  output_files = _output_files(FLAGS.output_file)
  pretraining_data.warn_if_predictions_cap_the_masked_share()
  for path in output_files:
    outputs.check_not_input(path, input_files, "--output_file")
    directory = os.path.dirname(path)
    if directory:
      records.make_dirs(directory)
  maker_kwargs = pretraining_data.maker_kwargs_from_flags()

  def log(message):
    sys.stderr.write(message)
    sys.stderr.flush()

  print("Reading %d input files, writing %d output files" % (
      len(input_files), len(output_files)))
  try:
    summary = pretraining_data.write_pretraining_data(
        input_files, output_files, maker_kwargs, FLAGS.num_workers,
        FLAGS.docs_per_batch, FLAGS.dump_examples, log, FLAGS.record_writer)
  finally:
    sys.stderr.write("\n")  # after the progress line
  print(summary.report())
  print("Wrote: %s" % ", ".join(output_files))
  if FLAGS.dump_examples:
    print("Examples: %s.examples.txt" % output_files[0])


if __name__ == "__main__":
  define_flags()
  app.run(main)
