# coding=utf-8
r"""Pre-training data at corpus scale, as one Apache Beam pipeline.

raw text --LTP--> tagged JSON Lines --masking--> TFRecords, on any Beam
runner: the in-process DirectRunner by default, or Dataflow, Flink and Spark.
With `--input_format=tagged` it starts from tagged JSON Lines (re-making
records with other masks without re-tagging).

  python prepare_pretraining_data_beam.py --input_file='corpus/*.txt' \
    --output_dir=prepared --ltp_model=LTP/small \
    --max_seq_length=512 --dupe_factor=10 \
    --direct_num_workers=8 --direct_running_mode=multi_processing

Every flag that is not one of this script's goes to Beam as a pipeline
option (--runner, --project, --region, --temp_location, --num_workers,
--machine_type, --sdk_container_image, ...). Without --runner the pipeline
runs on the DirectRunner's in-process engine (FnApiRunner; add
--direct_num_workers=N --direct_running_mode=multi_processing for N
processes). Outputs under --output_dir:

  tagged/tagged-SSSSS-of-NNNNN.jsonl  the tagger's format (raw input only)
  records/part-SSSSS-of-NNNNN.tfrecord  the records of docs/spec.md §4
  dead_letter/dead_letter-00000-of-00001.jsonl  every skipped line or
      document: {"source": "file:line", "stage": ..., "problem": ...}
  summary.json  create_pretraining_data.py's summary and the tagger's counts

The work is that of the single-machine scripts, through their functions:
ltp_tagging.read_raw_documents / tag_document (sentence splitting, the
LTP call, tag mapping) and instances.InstanceMaker (alignment,
instances, masking, serialization). A file is read whole by one worker, so a
document's lines stay together whatever the runner's splitting; documents
are then spread over the workers. Each document's masks come from
--random_seed and its key (tagged_documents.document_key), so the
records are the same set as create_pretraining_data.py writes for the same
input and flags, on any runner and any number of workers.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import json
import logging
import os
import re
import sys

from absl import app
from absl import flags
import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.runners import runner as beam_runner

from lert.contract import atomic_files
from lert.contract import fingerprints
from lert.contract import input_reading
from lert.contract import outputs
from lert.contract import script_errors
from lert.contract import script_flags
from lert.pretraining_data import data_summary
from lert.pretraining_data import instances
from lert.pretraining_data import masking_flags
from lert.pretraining_data import tagged_documents
from lert.tagging import ltp_tagging

FLAGS = flags.FLAGS

# The namespace of this pipeline's Beam metrics.
NAMESPACE = "lert"
# The tag of the dead-letter outputs.
DEAD_LETTER = "dead_letter"
# Prefixes of the tagger's counts among the metrics (the rest are
# data_summary.Summary.counters()).
TAGGER_PREFIX = "tagger_"


def define_flags(flag_values=FLAGS):
  """Defines the flags; the LTP and masking ones are those of
  linguistic_tagger.py and create_pretraining_data.py."""
  define = script_flags.FlagDefiner(flag_values)
  define.string("input_file", None,
                "Comma-separated globs (local or remote, e.g. gs://) "
                "of raw text (.txt, .gz) or tagged JSON Lines.")
  define.enum("input_format", "raw", ["raw", "tagged"],
              "raw: text with a blank line between documents, tagged "
              "here with LTP; tagged: linguistic_tagger.py's JSON "
              "Lines.")
  define.string("output_dir", None,
                "Where tagged/, records/, dead_letter/ and "
                "summary.json go (local or remote).")
  define.bool("overwrite", False,
              "Replace the outputs of an earlier run with other input "
              "or settings in --output_dir (only tagged/, records/, "
              "dead_letter/ and summary.json).")
  define.integer("num_tagged_shards", 16,
                 "Files of tagged JSON Lines.")
  define.integer("num_record_shards", 16, "TFRecord files.")
  define.integer("docs_per_batch", 64,
                 "Most documents handed to LTP together (Beam's "
                 "BatchElements sizes the batches up to this).")
  ltp_tagging.define_ltp_flags(flag_values, default_device="auto")
  masking_flags.define_masking_flags(flag_values)
  # --help shows the main module's flags: these are this script's too.
  for module in (ltp_tagging, masking_flags):
    define.adopt_module_key_flags(module)
  define.required("input_file", "output_dir")
  define.at_least_one("num_tagged_shards", "num_record_shards",
                      "docs_per_batch")


class _BeamFile(object):
  """An input file through Beam's file systems (local, gs://, ...),
  gunzipped by name, read line by line: the readers' `open_file`."""

  def __init__(self, path):
    self._file = FileSystems.open(path,
                                  compression_type=CompressionTypes.AUTO)

  def __iter__(self):
    return iter(self._file.readline, b"")

  def __enter__(self):
    return self

  def __exit__(self, *unused):
    self._file.close()


def dead_letter(source, stage, problem):
  """A skipped line or document, for the dead-letter output."""
  beam.metrics.Metrics.counter(NAMESPACE, "dead_letter_" + stage).inc()
  return beam.pvalue.TaggedOutput(DEAD_LETTER, {
      "source": source, "stage": stage, "problem": problem})


def _skipped(skipped, stage):
  """Dead letters of the SkippedLines gathered so far (emptying the list;
  None: nothing is skipped)."""
  for line in skipped or ():
    yield dead_letter("%s:%d" % (line.path, line.line), stage, line.problem)
  if skipped:
    del skipped[:]


class ReadRawDocuments(beam.DoFn):
  """A raw text file -> its documents {"source", "paragraphs"}; bad lines
  go to the dead letters (--on_error=skip) or stop the pipeline."""

  def __init__(self, on_error):
    super(ReadRawDocuments, self).__init__()
    self.on_error = on_error

  def process(self, path):
    skipped = []
    for source, paragraphs in ltp_tagging.read_raw_documents(
        [path], self.on_error, skipped, open_file=_BeamFile):
      for item in _skipped(skipped, "read"):
        yield item
      yield {"source": source, "paragraphs": paragraphs}
    for item in _skipped(skipped, "read"):
      yield item


class TagDocuments(beam.DoFn):
  """Batches of raw documents -> tagged documents, the tagger's format.

  The LTP model is loaded once per worker (setup), on its GPU when it has
  one and --device=auto.
  """

  def __init__(self, settings):
    super(TagDocuments, self).__init__()
    self.settings = settings
    self.ltp = None

  def setup(self):
    s = self.settings
    self.ltp = ltp_tagging.load_ltp(s.ltp_model, s.device,
                                          s.num_threads)

  def process(self, documents):
    stats = ltp_tagging.TagStats()
    for document in documents:
      yield ltp_tagging.tag_document(
          self.ltp, document["source"], document["paragraphs"],
          self.settings.batch_size, self.settings.max_sentence_chars,
          stats)
    for name in ("documents", "sentences", "words"):
      beam.metrics.Metrics.counter(NAMESPACE, TAGGER_PREFIX + name).inc(
          getattr(stats, name))
    for key, count in stats.missing.items():
      beam.metrics.Metrics.counter(
          NAMESPACE, TAGGER_PREFIX + "missing_" + key).inc(count)


class ReadTaggedLines(beam.DoFn):
  """A tagged JSON Lines file -> (where, line) per document."""

  def __init__(self, on_error):
    super(ReadTaggedLines, self).__init__()
    self.on_error = on_error

  def process(self, path):
    skipped = [] if self.on_error == "skip" else None
    for item in tagged_documents.read_documents(
        [path], skipped, open_file=_BeamFile):
      for dead in _skipped(skipped, "read"):
        yield dead
      yield item
    for dead in _skipped(skipped, "read"):
      yield dead


class MakeRecords(beam.DoFn):
  """(where, tagged JSON line) -> the document's serialized records, with
  the summary's counts as Beam metrics; a bad document goes to the dead
  letters (--on_error=skip) or stops the pipeline."""

  def __init__(self, maker_kwargs, on_error):
    super(MakeRecords, self).__init__()
    self.maker_kwargs = maker_kwargs
    self.on_error = on_error
    self.maker = None

  def setup(self):
    self.maker = instances.InstanceMaker(**self.maker_kwargs)

  def process(self, item):
    try:
      result = self.maker(item)
    except script_errors.InputError as e:
      if self.on_error != "skip":
        raise
      yield dead_letter(item[0], "records", str(e))
      return
    for name, count in result.summary.counters().items():
      beam.metrics.Metrics.counter(NAMESPACE, name).inc(count)
    for record in result.records:
      yield record


def _beam_glob(pattern):
  """input_reading.expand_input_files's glob, through Beam's file systems
  (local, gs://, s3://, ...), which match files only."""
  try:
    matched = FileSystems.match([pattern])[0].metadata_list
  except Exception:
    matched = []  # Beam raises for a pattern without match on some FS
  return [(path, False) for path in sorted(m.path for m in matched)]


def build_pipeline(pipeline, settings):
  """Adds the steps to `pipeline`; `settings` as settings_from_flags."""
  output_dir = settings.output_dir
  files = pipeline | "Files" >> beam.Create(settings.input_files)
  dead = []
  if settings.input_format == "raw":
    read = files | "ReadRaw" >> beam.ParDo(ReadRawDocuments(
        settings.on_error)).with_outputs(DEAD_LETTER, main="documents")
    dead.append(read[DEAD_LETTER])
    tagged = (read.documents
              | "SpreadDocuments" >> beam.Reshuffle()
              | "Batch" >> beam.BatchElements(
                  min_batch_size=1, max_batch_size=settings.docs_per_batch)
              | "Tag" >> beam.ParDo(TagDocuments(settings)))
    (tagged
     | "TaggedLines" >> beam.Map(
         lambda document: json.dumps(document, ensure_ascii=False))
     | "WriteTagged" >> beam.io.WriteToText(
         os.path.join(output_dir, "tagged", "tagged"),
         file_name_suffix=".jsonl", num_shards=settings.num_tagged_shards))
    items = tagged | "AsLines" >> beam.Map(
        lambda document: (document["source"],
                          json.dumps(document, ensure_ascii=False)))
  else:
    read = files | "ReadTagged" >> beam.ParDo(ReadTaggedLines(
        settings.on_error)).with_outputs(DEAD_LETTER, main="lines")
    dead.append(read[DEAD_LETTER])
    items = read.lines | "SpreadDocuments" >> beam.Reshuffle()
  made = items | "MakeRecords" >> beam.ParDo(MakeRecords(
      settings.maker_kwargs, settings.on_error)).with_outputs(
          DEAD_LETTER, main="records")
  dead.append(made[DEAD_LETTER])
  made.records | "WriteRecords" >> beam.io.WriteToTFRecord(
      os.path.join(output_dir, "records", "part"),
      file_name_suffix=".tfrecord", num_shards=settings.num_record_shards)
  (dead
   | "DeadLetters" >> beam.Flatten()
   | "DeadLetterLines" >> beam.Map(
       lambda item: json.dumps(item, ensure_ascii=False, sort_keys=True))
   | "WriteDeadLetters" >> beam.io.WriteToText(
       os.path.join(output_dir, DEAD_LETTER, DEAD_LETTER),
       file_name_suffix=".jsonl", num_shards=1))


# The settings of the pipeline: ltp_tagging.LtpSettings, the input, the
# outputs' shards, and InstanceMaker's keyword arguments.
PipelineSettings = collections.namedtuple(
    "PipelineSettings", ltp_tagging.LtpSettings._fields + (
        "input_files", "input_format", "output_dir", "num_tagged_shards",
        "num_record_shards", "docs_per_batch", "maker_kwargs",
        "max_untagged_share"))


def settings_from_flags(flag_values=FLAGS):
  """The PipelineSettings of the flags."""
  return PipelineSettings(
      input_files=input_reading.expand_input_files(flag_values.input_file,
                                                   _beam_glob),
      input_format=flag_values.input_format,
      output_dir=flag_values.output_dir,
      num_tagged_shards=flag_values.num_tagged_shards,
      num_record_shards=flag_values.num_record_shards,
      docs_per_batch=flag_values.docs_per_batch,
      maker_kwargs=masking_flags.maker_kwargs_from_flags(flag_values),
      max_untagged_share=flag_values.max_untagged_share,
      **ltp_tagging.ltp_settings_from_flags(flag_values)._asdict())


def metrics_summary(result):
  """The pipeline's counts: (data_summary.Summary, the tagger's
  and the dead letters' counts as a dict)."""
  counts = {}
  for counter in result.metrics().query(
      MetricsFilter().with_namespace(NAMESPACE))["counters"]:
    try:
      value = counter.committed
    except Exception:
      value = None  # a runner without committed metrics
    if value is None:
      value = counter.attempted
    name = counter.key.metric.name
    counts[name] = counts.get(name, 0) + value
  others = {name: count for name, count in counts.items()
            if name.startswith(TAGGER_PREFIX) or
            name.startswith(DEAD_LETTER)}
  summary = data_summary.Summary.from_counters(
      {name: count for name, count in counts.items() if name not in others})
  return summary, others


def check_pipeline_args(pipeline_args):
  """Raises InputError for an argument that is neither this script's flag
  nor a Beam pipeline option (a misspelt --max_seq_lenght would otherwise
  run with the default)."""
  from apache_beam.options import pipeline_options
  parser = pipeline_options._BeamArgumentParser(allow_abbrev=False)
  seen = set()
  for cls in PipelineOptions.__subclasses__():
    if str(cls) not in seen:
      seen.add(str(cls))
      cls._add_argparse_args(parser)
  _, unknown = parser.parse_known_args(list(pipeline_args))
  if unknown:
    raise script_errors.InputError(
        "unknown flag %s: it is neither a flag of this script (see --help) "
        "nor a Beam pipeline option." % unknown[0])


# What the pipeline writes under --output_dir (all that --overwrite, or a
# re-run, removes first).
OUTPUTS = ("tagged", "records", DEAD_LETTER, "summary.json", "summary.json.tmp")
# The settings that do not decide the outputs.
_NOT_RECORDED = ("output_dir", "device", "num_threads", "batch_size",
                 "docs_per_batch", "max_untagged_share")


def output_directory(settings, overwrite):
  """The outputs.OutputDirectory of the pipeline: locked (on a local file
  system) while it runs; a re-run with other input or settings is refused
  unless --overwrite, so that shards of two runs never mix."""
  recorded = {name: value for name, value in settings._asdict().items()
              if name not in _NOT_RECORDED}
  recorded["input_files"] = [fingerprints.describe_file(path)
                             for path in settings.input_files]
  return outputs.OutputDirectory(
      settings.output_dir, "prepare_pretraining_data_beam.py", recorded,
      OUTPUTS, inputs=settings.input_files, overwrite=overwrite)


def run(settings, pipeline_args, log=print, overwrite=False):
  """Runs the pipeline to its end in its locked and recorded output
  directory; returns metrics_summary's pair and writes summary.json. The
  outputs of an earlier run of the same settings are removed first (a
  pipeline is redone whole); a failed run leaves none of Beam's temporary
  files."""
  check_pipeline_args(pipeline_args)
  if not any(arg == "--runner" or arg.startswith("--runner=")
             for arg in pipeline_args):
    # The DirectRunner's own in-process engine: --runner=DirectRunner would
    # first try to download Beam's Prism runner.
    pipeline_args = ["--runner=FnApiRunner"] + list(pipeline_args)
  options = PipelineOptions(pipeline_args)
  check_runner(options.view_as(StandardOptions).runner)
  masking = settings.maker_kwargs.get("linguistic_masking", "none")
  if settings.input_format == "tagged":
    tagged_documents.check_corpus_tags(settings.input_files, masking,
                                       open_file=_BeamFile)
  with output_directory(settings, overwrite) as directory:
    directory.clear_outputs()
    try:
      summary, others = _run_pipeline(options, settings)
      data_summary.check_untagged_share(
          summary, masking, settings.max_untagged_share,
          settings.input_files)
    except BaseException:
      directory.clear_outputs()
      raise
    return _write_summary(settings, summary, others, log)


def check_runner(name):
  """An unknown --runner, or one whose package is not installed, is one line
  before the output directory opens."""
  try:
    beam_runner.create_runner(name)
  except (ValueError, ImportError) as e:
    raise script_errors.InputError("--runner=%s: %s" % (
        name, " ".join(str(e).split())))


def _run_pipeline(options, settings):
  pipeline = beam.Pipeline(options=options)
  build_pipeline(pipeline, settings)
  # A failing step is reported in one line (main); Beam's own log of it
  # would print the worker's traceback first.
  beam_logger = logging.getLogger("apache_beam")
  level = beam_logger.level
  beam_logger.setLevel(logging.CRITICAL)
  try:
    result = pipeline.run()
    result.wait_until_finish()
  finally:
    beam_logger.setLevel(level)
  return metrics_summary(result)


def _write_summary(settings, summary, others, log):
  path = os.path.join(settings.output_dir, "summary.json")
  text = json.dumps({"records": summary.counters(), "tagger_and_dead_letters":
                     others}, indent=2, sort_keys=True)
  if atomic_files.is_remote(path):
    with FileSystems.create(path) as f:
      f.write(text.encode("utf-8") + b"\n")
  else:
    atomic_files.write_text(path, text + "\n")
  log(summary.report())
  if others:
    log("\n".join("%s: %d" % item for item in sorted(others.items())))
  log("Summary: %s" % path)
  return summary, others


def worker_input_error(error):
  """The message of an InputError (or a vocabulary or config error of the
  BERT modules, script_errors.BERT_MODULE_ERRORS) a worker raised, inside
  the error the runner raises in its place (the `translate` of
  script_errors.run_reporting_errors); None for any other error."""
  found = re.search(r"(?:InputError|VocabularyError|ConfigError): ([^\n]*)",
                    str(error))
  if found:
    return re.sub(r" \[while running .*$", "", found.group(1)).strip()
  # A file-system error of a step (a full disk, a file too large, no
  # permission), which Beam re-raises as a RuntimeError naming the step.
  found = re.search(r"\b(?:OSError|IOError|PermissionError|"
                    r"FileNotFoundError): (\[Errno \d+\][^\n]*?)"
                    r"(?: \[while running '([^']*)'\])?$", str(error),
                    re.MULTILINE)
  if found:
    return "%s%s: the outputs are not written (nothing is left)." % (
        found.group(1).strip(), " in step %s" % found.group(2)
        if found.group(2) else "")
  return None


def main(argv):
  masking_flags.warn_if_predictions_cap_the_masked_share(FLAGS)
  script_errors.run_reporting_errors(
      lambda: run(settings_from_flags(), argv[1:], overwrite=FLAGS.overwrite),
      "prepare_pretraining_data_beam.py", worker_input_error)


def parse_flags(argv):
  """This script's flags; the rest of the command line goes to Beam."""
  try:
    return FLAGS(argv, known_only=True)
  except flags.Error as e:
    sys.exit("prepare_pretraining_data_beam.py: error: %s" %
             " ".join(str(e).split()))


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=parse_flags)
