# coding=utf-8
"""Tagged JSON Lines (from linguistic_tagger.py) -> LERT pre-training TFRecords.

Each input line is one document: {"sentences": [{"text", "words", "pos",
"ner", "dep_head", "dep_label"}, ...]}. For every document this writes
`--dupe_factor` sets of instances (docs/spec.md §4): WordPiece tokens aligned
to the LTP words, each with its word's POS, NER and DEP tags; `[CLS] A [SEP]
B [SEP]` from consecutive sentences (no next-sentence prediction); 15% of
the tokens masked by whole words and word N-grams, with the labels of every
masked position. docs/data.md#masking describes the packing and masking
once; docs/spec.md §4 holds the numbers.

The corpus is streamed in batches of documents, so memory stays bounded
whatever its size. Every document has its own random generator seeded from
`--random_seed` and the document's key (document_key: the file name and line
of its first raw corpus line), so the output is byte-identical for any
`--num_workers`, and the same records come out of the Beam pipeline
(prepare_pretraining_data_beam.py) on any runner. Instances are spread
round-robin over the output files; the training input pipeline shuffles
them.

The work is lert/pretraining_data/'s (the library the Beam pipeline and
predict_linguistic.py share); this script is its flags and main.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import os
import sys

from absl import app
from absl import flags

from lert.contract import fingerprints
from lert.contract import input_reading
from lert.contract import script_errors
from lert.contract import script_flags
from lert.pretraining_data import records
from lert.pretraining_data import masking_flags
from lert.pretraining_data import tagged_documents
from lert.pretraining_data import writer

FLAGS = flags.FLAGS


def define_flags(flag_values=FLAGS):
  """Defines the flags; called only when this file runs as a script, so
  that scripts can be imported together (the tests do)."""
  define = script_flags.FlagDefiner(flag_values)
  define.string("input_file", None,
                "Comma-separated globs of tagged JSON Lines files "
                "(.jsonl or .jsonl.gz) written by linguistic_tagger.py.")
  define.string("output_file", None,
                "Comma-separated output TFRecord files; instances are "
                "spread round-robin over them.")
  masking_flags.define_masking_flags(flag_values)
  # --help shows the main module's flags: these are this script's too.
  define.adopt_module_key_flags(masking_flags)
  define.integer("num_workers", 1,
                 "Worker processes; the output does not depend on it.")
  define.integer("docs_per_batch", 256,
                 "Documents handed to the workers at a time (bounds "
                 "memory).")
  define.enum("record_writer", "auto", ["auto", "python", "tensorflow"],
              "How TFRecords are written: python (no TensorFlow; needs "
              "google-crc32c), tensorflow (tf.io.TFRecordWriter, also "
              "for gs:// paths), or auto (python where it can). The "
              "files are the same.")
  define.integer("dump_examples", 0,
                 "Write the first N instances human-readably to "
                 "<first output file>.examples.txt.")
  define.required("input_file", "output_file")
  define.validator(
      "output_file", lambda value: value is None or (
          _output_files(value) and len(_output_files(value)) == len(
              set(_output_files(value)))),
      message="--output_file must name distinct files (a name given twice "
      "would be written by two writers).")
  define.at_least_one("num_workers", "docs_per_batch")
  define.validator(
      "dump_examples", lambda value: value >= 0,
      message="--dump_examples must be >= 0.")


def _output_files(text):
  return [p.strip() for p in (text or "").split(",") if p.strip()]


def main(_):
  script_errors.run_reporting_errors(make_records,
                                     "create_pretraining_data.py")


def make_records():
  """Writes the records as the flags say and prints the summary."""
  input_files = input_reading.expand_input_files(FLAGS.input_file)
  output_files = _output_files(FLAGS.output_file)
  masking_flags.warn_if_predictions_cap_the_masked_share(FLAGS)
  for path in output_files:
    fingerprints.check_not_input(path, input_files, "--output_file")
    directory = os.path.dirname(path)
    if directory:
      records.make_dirs(directory)
  maker_kwargs = masking_flags.maker_kwargs_from_flags(FLAGS)
  tagged_documents.check_corpus_tags(input_files, FLAGS.linguistic_masking)

  def log(message):
    sys.stderr.write(message)
    sys.stderr.flush()

  print("Reading %d input files, writing %d output files" % (
      len(input_files), len(output_files)))
  try:
    summary = writer.write_pretraining_data(
        input_files, output_files, maker_kwargs, FLAGS.num_workers,
        FLAGS.docs_per_batch, FLAGS.dump_examples, log, FLAGS.record_writer,
        FLAGS.max_untagged_share)
  finally:
    sys.stderr.write("\n")  # after the progress line
  print(summary.report())
  print("Wrote: %s" % ", ".join(output_files))
  if FLAGS.dump_examples:
    print("Examples: %s.examples.txt" % output_files[0])


if __name__ == "__main__":
  define_flags()
  app.run(main)
