# coding=utf-8
"""TFRecord input pipeline shared by pre-training and fine-tuning.

`input_fn_builder` returns the `input_fn` an Estimator calls: it reads
`tf.train.Example` records from many files in parallel, shuffles, parses
whole batches at once and prefetches. `check_input_files` looks at the first
record of every file before training starts, so a file written for other
flags fails at once with an error that names it, not hours later inside
TensorFlow.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import re

import tensorflow.compat.v1 as tf

from lert.contract import script_errors


# What TensorFlow's file-system errors say when the disk, not the program, is
# at fault: a full or read-only output directory, one not writable by us, or
# a path through a file.
FILE_SYSTEM_PROBLEMS = ("No space left on device", "Disk quota exceeded",
                        "File too large", "Read-only file system",
                        "Permission denied", "Not a directory",
                        "not a directory", "Is a directory")


def file_system_problem(error):
  """The first line of a TensorFlow OpError that is a file-system problem
  (see FILE_SYSTEM_PROBLEMS), else None."""
  if not isinstance(error, tf.errors.OpError):
    return None
  message = error.message.strip()
  if not any(problem in message for problem in FILE_SYSTEM_PROBLEMS):
    return None
  # The line that names the file and the problem (a graph's error starts
  # with "Graph execution error:" and names them further on).
  lines = [line.strip() for line in message.splitlines()
           if any(problem in line for problem in FILE_SYSTEM_PROBLEMS)]
  return re.sub(r"^.*?(Error|error):\s*", "", lines[0]) if lines else None


def tensorflow_problem(error):
  """The message of a TensorFlow error that is bad input, not a bug (the
  `translate` of script_errors.run_reporting_errors for the TensorFlow
  scripts): a full or unwritable --output_dir (mid-run too), or a truncated
  or corrupt checkpoint or file; else None."""
  if not isinstance(error, tf.errors.OpError):
    return None
  problem = file_system_problem(error)
  if problem is not None:
    return problem
  first_line = (error.message.strip().splitlines() or [""])[0]
  if "Restore" in error.message:
    return ("the checkpoint cannot be read whole (truncated or corrupt?): %s"
            % first_line)
  if isinstance(error, tf.errors.DataLossError):
    return ("a file cannot be read whole (truncated or corrupt?): %s" %
            first_line)
  return None


# A feature of a record: its dtype and length.
FeatureSpec = collections.namedtuple("FeatureSpec", ["dtype", "length"])


def feature_values(feature):
  """(kind, values) of a tf.train.Feature: "int64_list" or "float_list"
  and its values as a list (None, [] when it is empty)."""
  kind = feature.WhichOneof("kind")
  if kind is None:
    return None, []
  return kind, list(getattr(feature, kind).value)


def _check_record(where, features, required, optional, value_ranges):
  """Checks one record's features; returns the optional ones it has."""
  present = []
  for name, spec in list(required.items()) + list(optional.items()):
    if name not in features:
      if name in required:
        raise script_errors.InputError(
            "%s lacks feature %r (has: %s). Was it written by "
            "create_pretraining_data.py for these flags?" %
            (where, name, ", ".join(sorted(features))))
      continue
    kind, values = feature_values(features[name])
    want_kind = "float_list" if spec.dtype == tf.float32 else "int64_list"
    if kind != want_kind:
      raise script_errors.InputError("%s feature %r is %s, expected %s." %
                       (where, name, kind, want_kind))
    if len(values) != spec.length:
      raise script_errors.InputError(
          "%s feature %r has length %d but the flags expect %d "
          "(check --max_seq_length and --max_predictions_per_seq against "
          "the flags the data was made with)." %
          (where, name, len(values), spec.length))
    if name in value_ranges:
      low, high = value_ranges[name]
      for value in values:
        if not low <= value < high:
          raise script_errors.InputError(
              "%s feature %r holds %d, outside [%d, %d)." %
              (where, name, value, low, high))
    if name in optional:
      present.append(name)
  return present


def check_input_files(input_files, required, optional=None,
                      value_ranges=None, all_records=False, visit=None,
                      visit_records=1):
  """Checks the first record (or every record) of every file.

  Args:
    input_files: list of TFRecord paths.
    required: dict name -> FeatureSpec that every record must have.
    optional: dict name -> FeatureSpec that records may have; one file
      having it means every file must.
    value_ranges: dict name -> (low, high): every value must be in
      [low, high), e.g. label ids within their head's tags.
    all_records: read every record (also finds truncated files), not only
      the first of each file.
    visit: a function(path, number, features) given each record read, in
      the same pass: the first `visit_records` of each file (every record
      with `all_records`), e.g. lert_model.HeadLabelCheck.visit.

  Returns:
    The names of the optional features that the files carry.

  Raises:
    InputError naming the file, the record and the feature on any problem;
    also when no file holds a record (training would wait forever).
  """
  optional = optional or {}
  value_ranges = value_ranges or {}
  present_in = collections.defaultdict(list)
  checked = []
  for path in input_files:
    number = 0
    for number, record in read_records(path):
      features = tf.train.Example.FromString(record).features.feature
      if number == 1 or all_records:
        present = _check_record("%s: record %d" % (path, number), features,
                                required, optional, value_ranges)
      if number == 1:
        checked.append(path)
        for name in present:
          present_in[name].append(path)
      if visit is not None:
        visit(path, number, features)
      if not all_records and number >= (visit_records if visit else 1):
        break
    if not number:
      tf.logging.warning("Input file %s holds no record.", path)
  if not checked:
    # Training would wait forever for a first record.
    raise script_errors.InputError(
        "None of the %d input files holds a record: %s." %
        (len(input_files), ", ".join(input_files)))
  for name, paths in present_in.items():
    if len(paths) != len(checked):
      missing = sorted(set(checked) - set(paths))
      raise script_errors.InputError(
          "Feature %r is in %s but not in %s: mix no files of "
          "different formats." % (name, paths[0], missing[0]))
  return sorted(present_in)


def read_records(path):
  """Yields (number, serialized record) of a TFRecord file, from 1; a file
  that is not one, or is truncated or corrupt, is an InputError naming it
  and the record."""
  number = 0
  try:
    for record in tf.io.tf_record_iterator(path):
      number += 1
      yield number, record
  except tf.errors.OpError as e:
    raise script_errors.InputError(
        "%s: record %d: not a readable TFRecord (truncated "
        "or corrupt?): %s" % (path, number + 1, e.message))


def find_unreadable_record(input_files):
  """The first "file: record N: ..." that cannot be read, or None."""
  for path in input_files:
    number = 0
    try:
      for _ in tf.io.tf_record_iterator(path):
        number += 1
    except tf.errors.OpError as e:
      return "%s: record %d: %s" % (path, number + 1, e.message)
  return None


def input_fn_builder(input_files, features, is_training, drop_remainder=True,
                     num_cpu_threads=4, shuffle_buffer_size=1000, seed=None):
  """Returns an `input_fn(params)` over TFRecord files.

  Args:
    input_files: list of TFRecord paths.
    features: dict name -> FeatureSpec to parse (others are ignored).
    is_training: repeat and shuffle forever; otherwise one ordered pass.
    drop_remainder: drop a last partial batch (TPUs need fixed shapes).
    num_cpu_threads: files read in parallel.
    shuffle_buffer_size: records in the shuffle buffer.
    seed: makes the shuffles repeatable.

  Integer features are cast to int32, which TPUs need.
  """
  name_to_features = {
      name: tf.io.FixedLenFeature([spec.length], spec.dtype)
      for name, spec in features.items()}

  def parse_batch(serialized):
    batch = tf.io.parse_example(serialized, name_to_features)
    return {name: tf.cast(value, tf.int32) if value.dtype == tf.int64 else value
            for name, value in batch.items()}

  def input_fn(params):
    batch_size = params["batch_size"]
    # (first, count, total): a worker of a multi-worker run reads the stream
    # of global batches (total replicas' batches) and keeps `count` replica
    # batches of each, from the `first`, one after the other
    # (estimator_runner.EstimatorRunner): together the workers train on
    # exactly the batches one process would.
    first, count, total = params.get("slices") or (0, 1, 1)
    if is_training:
      dataset = tf.data.Dataset.from_tensor_slices(tf.constant(input_files))
      dataset = dataset.shuffle(len(input_files), seed=seed).repeat()
      # Read several files at once so that a batch mixes files.
      dataset = dataset.interleave(
          tf.data.TFRecordDataset,
          cycle_length=min(num_cpu_threads, len(input_files)),
          num_parallel_calls=tf.data.experimental.AUTOTUNE)
      dataset = dataset.shuffle(shuffle_buffer_size, seed=seed)
    else:
      dataset = tf.data.TFRecordDataset(input_files)
    dataset = dataset.batch(batch_size * total, drop_remainder=drop_remainder)
    if total > 1:
      dataset = dataset.flat_map(lambda serialized: (
          tf.data.Dataset.from_tensor_slices(tf.reshape(
              serialized[first * batch_size:(first + count) * batch_size],
              [count, batch_size]))))
    dataset = dataset.map(parse_batch,
                          num_parallel_calls=tf.data.experimental.AUTOTUNE)
    return dataset.prefetch(tf.data.experimental.AUTOTUNE)

  return input_fn


def array_input_fn_builder(arrays):
  """An `input_fn(params)` over in-memory arrays, in order, for prediction.

  `arrays` maps feature names to numpy arrays whose first dimension indexes
  the examples. The last batch may be partial (TPUEstimator pads it on TPU).
  """
  def input_fn(params):
    dataset = tf.data.Dataset.from_tensor_slices(
        {name: tf.constant(value) for name, value in arrays.items()})
    return dataset.batch(params["batch_size"], drop_remainder=False)

  return input_fn


def make_example(int_features, float_features=None):
  """A tf.train.Example from dicts name -> list of ints / list of floats."""
  feature = {}
  for name, items in int_features.items():
    feature[name] = tf.train.Feature(
        int64_list=tf.train.Int64List(value=[int(item) for item in items]))
  for name, items in (float_features or {}).items():
    feature[name] = tf.train.Feature(
        float_list=tf.train.FloatList(value=[float(item) for item in items]))
  return tf.train.Example(features=tf.train.Features(feature=feature))
