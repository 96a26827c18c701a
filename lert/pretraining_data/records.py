# coding=utf-8
"""Pre-training records without TensorFlow: the schema, serialization, files.

This is the one home of the TFRecord schema of docs/spec.md §4 (which features a
pre-training record holds, their types and lengths) and of its
serialization. It imports no TensorFlow, so that data-preparation processes
(create_pretraining_data.py's workers, Beam workers) do not pay for
importing it: a `tf.train.Example` is encoded here by hand, byte for byte as
TensorFlow's `SerializeToString(deterministic=True)` would encode it (the
tests compare the two), and TFRecord files are framed here too (length,
masked CRC-32C, data, masked CRC-32C), with the C CRC-32C of `google-crc32c`.
Remote paths (gs://...) and machines without `google-crc32c` fall back to
TensorFlow's writer, imported only then.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import contextlib
import io
import os
import struct

from lert.contract import atomic_files
from lert.tagging import linguistic_tags

# The nine features of docs/spec.md §4, in its order; every record carries them.
SPEC_FEATURES = ("input_ids", "input_mask", "segment_ids",
                 "masked_lm_positions", "masked_lm_ids", "masked_lm_weights",
                 "pos_labels", "ner_labels", "dep_labels")
SEQUENCE_FEATURES = ("input_ids", "input_mask", "segment_ids")
# The features of the masked LM, which every model reads.
MASKED_LM_FEATURES = ("masked_lm_positions", "masked_lm_ids",
                      "masked_lm_weights")
FLOAT_FEATURES = ("masked_lm_weights",)
# Linguistic masking "all" (docs/spec.md §8): per position two more tag mask
# tokens (0 = none) whose embeddings are added to the input token's.
MASK_TAG_FEATURE = "mask_tag_ids"
MASK_TAGS_PER_POSITION = 2

# One feature of the layout: float (else int64) and its length.
FeatureLayout = collections.namedtuple("FeatureLayout", ["is_float", "length"])


def labels_feature(task):
  """The feature of a task's label ids (docs/spec.md §4)."""
  return task + "_labels"


def label_weights_feature(task):
  """The optional feature marking a task's missing labels (1.0 = usable)."""
  return task + "_label_weights"


def record_layout(max_seq_length, max_predictions_per_seq,
                  with_label_weights=True, with_mask_tags=False):
  """name -> FeatureLayout of every feature of a pre-training record.

  The nine docs/spec.md §4 features, then (with `with_label_weights`) the three
  `<task>_label_weights` that create_pretraining_data.py adds for missing
  labels, then (with `with_mask_tags`) the `mask_tag_ids` of
  --linguistic_masking=all (§8).
  """
  layout = collections.OrderedDict()
  for name in SPEC_FEATURES:
    length = (max_seq_length if name in SEQUENCE_FEATURES else
              max_predictions_per_seq)
    layout[name] = FeatureLayout(name in FLOAT_FEATURES, length)
  if with_label_weights:
    for task in linguistic_tags.TASKS:
      layout[label_weights_feature(task)] = FeatureLayout(
          True, max_predictions_per_seq)
  if with_mask_tags:
    layout[MASK_TAG_FEATURE] = FeatureLayout(
        False, MASK_TAGS_PER_POSITION * max_seq_length)
  return layout


# ----------------------------------------------------------------------------
# tf.train.Example, encoded by hand (protobuf wire format).

_SMALL_VARINTS = []  # the encodings of 0..2**15-1, built on first use


def _varint(value):
  if value < 0:
    value += 1 << 64  # int64 as protobuf writes it: ten bytes
  out = bytearray()
  while True:
    byte = value & 0x7F
    value >>= 7
    if value:
      out.append(byte | 0x80)
    else:
      out.append(byte)
      return bytes(out)


def _small_varints():
  if not _SMALL_VARINTS:  # one, two or three bytes: 7 bits each
    _SMALL_VARINTS.extend(bytes((v,)) for v in range(1 << 7))
    _SMALL_VARINTS.extend(bytes((v & 0x7F | 0x80, v >> 7))
                          for v in range(1 << 7, 1 << 14))
    _SMALL_VARINTS.extend(bytes((v & 0x7F | 0x80, v >> 7 & 0x7F | 0x80,
                                 v >> 14)) for v in range(1 << 14, 1 << 15))
  return _SMALL_VARINTS


def _int64_varints(values):
  try:
    data = bytes(values)  # fails unless every value is in 0..255
    if data.isascii():
      return data  # one byte each (0..127): masks, segments, most tags
  except (ValueError, TypeError):
    pass
  if values and min(values) >= 0:
    try:
      return b"".join(map(_small_varints().__getitem__, values))  # token ids
    except (IndexError, TypeError):
      pass
  return b"".join(_varint(int(v)) for v in values)


def _field(number, payload):
  """A length-delimited field (of number 1, 2 or 3 here)."""
  small = _small_varints()
  size = len(payload)
  return b"".join((small[number << 3 | 2], small[size] if size < len(small)
                   else _varint(size), payload))


_NAME_FIELDS = {}  # feature name -> its encoded map key


def _feature(values, is_float):
  if hasattr(values, "tolist"):  # a NumPy array
    values = values.tolist()
  if is_float:
    packed = struct.pack("<%df" % len(values), *values)
    kind = 2  # Feature.float_list
  else:
    packed = _int64_varints(values)
    kind = 3  # Feature.int64_list
  # FloatList/Int64List: field 1, packed (empty lists write nothing).
  return _field(kind, _field(1, packed) if len(values) else b"")


def encode_example(int_features, float_features):
  """The bytes of a tf.train.Example from dicts name -> list of numbers,
  as TensorFlow's deterministic serialization writes them (map entries
  sorted by name)."""
  features = dict((name, (values, False)) for name, values in
                  int_features.items())
  features.update((name, (values, True)) for name, values in
                  float_features.items())
  entries = []
  for name in sorted(features, key=lambda n: n.encode("utf-8")):
    values, is_float = features[name]
    key = _NAME_FIELDS.get(name)
    if key is None:
      key = _NAME_FIELDS[name] = _field(1, name.encode("utf-8"))
    entries.append(_field(1, key + _field(2, _feature(values, is_float))))
  return _field(1, b"".join(entries))  # Example.features (a map)


_LAYOUTS = {}  # (max_seq_length, max_predictions_per_seq) -> record_layout


def serialize_record(values, max_seq_length, max_predictions_per_seq):
  """A serialized `tf.train.Example` of the schema from name -> list.

  `values` must hold the nine docs/spec.md §4 features, and either all or
  none of the label weights (and optionally `mask_tag_ids`), each of its
  schema length. The same values
  always give the same bytes.
  """
  layout = _LAYOUTS.get((max_seq_length, max_predictions_per_seq))
  if layout is None:
    layout = _LAYOUTS[max_seq_length, max_predictions_per_seq] = (
        record_layout(max_seq_length, max_predictions_per_seq,
                      with_mask_tags=True))
  names = set(values)
  required = set(SPEC_FEATURES)
  if not required <= names or not names <= set(layout):
    raise ValueError("A pre-training record needs the features %s (plus "
                     "optionally the label weights), got %s." %
                     (sorted(required), sorted(names)))
  ints, floats = {}, {}
  for name in values:
    if len(values[name]) != layout[name].length:
      raise ValueError("Feature %s has length %d, the schema says %d." %
                       (name, len(values[name]), layout[name].length))
    (floats if layout[name].is_float else ints)[name] = values[name]
  return encode_example(ints, floats)


# ----------------------------------------------------------------------------
# TFRecord files and output paths.


def _crc32c():
  try:
    import google_crc32c
  except ImportError:
    return None
  return google_crc32c.value


def _masked(crc):
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class TFRecordWriter(object):
  """Writes TFRecord files like tf.io.TFRecordWriter (uncompressed).

  Without TensorFlow for local paths when `google-crc32c` is installed;
  otherwise TensorFlow's own writer. `backend` forces "python" or
  "tensorflow". Errors of either are IOErrors naming the path.
  """

  def __init__(self, path, backend="auto"):
    self.path = path
    self._tf_errors = ()
    crc = _crc32c()
    if backend == "auto":
      local = not atomic_files.is_remote(path)
      backend = "python" if crc and local else "tensorflow"
    if backend == "python" and crc is None:
      raise ValueError("The TensorFlow-free TFRecord writer needs the "
                       "google-crc32c package.")
    self.backend = backend
    with self._naming_errors():
      if backend == "python":
        self._crc = crc
        self._file = io.open(path, "wb")
      else:
        import tensorflow.compat.v1 as tf
        self._tf_errors = tf.errors.OpError
        self._file = tf.io.TFRecordWriter(path)

  @contextlib.contextmanager
  def _naming_errors(self):
    try:
      yield
    except (IOError, OSError) as e:
      raise IOError("%s: cannot be written (%s)." % (self.path, e))
    except self._tf_errors as e:
      raise IOError("%s: cannot be written (%s)." % (self.path, e.message))

  def write(self, record):
    with self._naming_errors():
      if self.backend == "python":
        length = struct.pack("<Q", len(record))
        self._file.write(b"".join((
            length, struct.pack("<I", _masked(self._crc(length))), record,
            struct.pack("<I", _masked(self._crc(record))))))
      else:
        self._file.write(record)

  def close(self):
    with self._naming_errors():
      self._file.close()

  def __enter__(self):
    return self

  def __exit__(self, *unused):
    self.close()


def make_dirs(path):
  if atomic_files.is_remote(path):
    atomic_files.gfile().makedirs(path)
  elif path and not os.path.isdir(path):
    os.makedirs(path)
