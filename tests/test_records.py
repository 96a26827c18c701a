# coding=utf-8
"""records.py: TensorFlow-free Example encoding and TFRecord files, checked
against TensorFlow's own serializer and writer."""

import os
import pytest

import numpy as np
import tensorflow.compat.v1 as tf

from lert.pretraining_data import records


def tf_example_bytes(ints, floats):
  feature = {}
  for name, values in ints.items():
    feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(
        value=values))
  for name, values in floats.items():
    feature[name] = tf.train.Feature(float_list=tf.train.FloatList(
        value=values))
  return tf.train.Example(features=tf.train.Features(
      feature=feature)).SerializeToString(deterministic=True)


@pytest.mark.parametrize("seed", range(5))
def test_examples_are_byte_identical_to_tensorflows(seed):
  rng = np.random.RandomState(seed)
  ints = {
      "input_ids": [int(v) for v in rng.randint(0, 21128, size=128)],
      "big_and_negative": [0, 127, 128, 16383, 16384, 2 ** 31, 2 ** 40,
                           2 ** 63 - 1, -1, -2 ** 63],
      "masked_lm_positions": [int(v) for v in rng.randint(0, 128, size=20)],
      "empty_ints": []}
  floats = {"masked_lm_weights": [float(v) for v in rng.rand(20)],
            "ones": [1.0, 0.0, -0.5, 1e-30, 3.4e38],
            "empty_floats": []}
  assert records.encode_example(ints, floats) == tf_example_bytes(ints,
                                                                  floats)


def test_a_pretraining_record_parses_with_its_values():
  layout = records.record_layout(8, 3)
  values = {}
  for i, (name, feature) in enumerate(layout.items()):
    values[name] = ([0.5 * i] * feature.length if feature.is_float else
                    list(range(i, i + feature.length)))
  data = records.serialize_record(values, 8, 3)
  example = tf.train.Example.FromString(data)
  for name, feature in layout.items():
    kind = example.features.feature[name]
    parsed = (list(kind.float_list.value) if feature.is_float else
              list(kind.int64_list.value))
    assert parsed == values[name], name
  with pytest.raises(ValueError, match="input_ids has length 7"):
    records.serialize_record(dict(values, input_ids=[1] * 7), 8, 3)


def test_tfrecord_files_are_byte_identical_to_tensorflows(tmp_path):
  pytest.importorskip("google_crc32c")
  rng = np.random.RandomState(0)
  payloads = [b"", b"x"] + [rng.bytes(int(n)) for n in
                            rng.randint(1, 5000, size=20)]
  ours = str(tmp_path / "ours.tfrecord")
  with records.TFRecordWriter(ours) as writer:
    assert writer.backend == "python"
    for payload in payloads:
      writer.write(payload)
  theirs = str(tmp_path / "theirs.tfrecord")
  with tf.io.TFRecordWriter(theirs) as writer:
    for payload in payloads:
      writer.write(payload)
  with open(ours, "rb") as a, open(theirs, "rb") as b:
    assert a.read() == b.read()
  assert list(tf.io.tf_record_iterator(ours)) == payloads


@pytest.mark.parametrize("backend", ["python", "tensorflow"])
def test_an_unwritable_path_is_an_error_naming_it(tmp_path, backend):
  if backend == "python":
    pytest.importorskip("google_crc32c")
  (tmp_path / "a_file").write_text(u"x")
  path = str(tmp_path / "a_file" / "out.tfrecord")
  with pytest.raises(IOError, match="^%s: cannot be written" % path):
    records.TFRecordWriter(path, backend=backend)


def test_the_module_imports_no_tensorflow():
  import subprocess
  import sys
  code = ("import sys, tokenization, create_pretraining_data; "
          "from lert.pretraining_data import (data_summary, instances, "
          "masking, masking_flags, records, tagged_documents, writer); "
          "print('tensorflow' in sys.modules)")
  result = subprocess.run([sys.executable, "-c", code],
                          cwd=os.path.dirname(os.path.dirname(
                              os.path.abspath(__file__))),
                          stdout=subprocess.PIPE, universal_newlines=True,
                          check=True)
  assert result.stdout.strip() == "False"
