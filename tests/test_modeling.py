# coding=utf-8
"""The BERT encoder: variable names, GELU, embeddings, precision, config."""

import json
import math
import os
import pytest
from conftest import REPO, tiny_config

import numpy as np
import tensorflow.compat.v1 as tf

import modeling
from bert_variables import expected_bert_variables

def build(config, seq_length=8, batch_size=2, **kwargs):
  ids = tf.placeholder(tf.int32, [batch_size, seq_length])
  mask = tf.placeholder(tf.int32, [batch_size, seq_length])
  segments = tf.placeholder(tf.int32, [batch_size, seq_length])
  model = modeling.BertModel(config, is_training=False, input_ids=ids,
                             input_mask=mask, token_type_ids=segments,
                             **kwargs)
  return model, (ids, mask, segments)


def random_inputs(placeholders, vocab_size, seed=0):
  rng = np.random.RandomState(seed)
  ids, mask, segments = placeholders
  batch, length = ids.shape.as_list()
  mask_value = np.ones([batch, length], np.int32)
  mask_value[1, length // 2:] = 0
  return {ids: rng.randint(0, vocab_size, [batch, length]),
          mask: mask_value,
          segments: (np.arange(length)[None, :] >= length // 2).astype(
              np.int32).repeat(batch, 0)}


def test_variable_names_and_shapes_are_google_berts():
  config = tiny_config(vocab_size=97, num_hidden_layers=3)
  build(config)
  got = {v.op.name: v.shape.as_list() for v in tf.global_variables()}
  assert got == expected_bert_variables(config)
  assert "bert/encoder/layer_2/attention/self/query/kernel" in got


@pytest.mark.parametrize("size,millions", [("small", 15), ("base", 102),
                                           ("large", 325)])
def test_released_configs_build_the_paper_parameter_counts(size, millions):
  """The encoder the graph builds from each released config (not a count of
  this test's own table) has the paper's size (Table 2: 15M, 102M, 325M,
  embeddings included), to the nearest million."""
  config = modeling.BertConfig.from_json_file(
      os.path.join(REPO, "configs", "lert_config_%s.json" % size))
  build(config)
  total = sum(v.shape.num_elements() for v in tf.global_variables())
  assert round(total / 1e6) == pytest.approx(millions, abs=1)


def test_gelu_is_erf_exact():
  x = np.linspace(-6.0, 6.0, 101).astype(np.float64)
  with tf.Session() as sess:
    got = sess.run(modeling.gelu(tf.constant(x)))
  expected = [0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x]
  np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
  # Not the tanh approximation of Google's original code.
  approx = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) *
                                  (x + 0.044715 * x ** 3)))
  assert np.abs(got - approx).max() > 1e-4
  assert modeling.get_activation("gelu") is modeling.gelu


def test_one_hot_embeddings_equal_gather():
  config = tiny_config(vocab_size=50)
  model, placeholders = build(config)
  with tf.variable_scope(tf.get_variable_scope(), reuse=True):
    one_hot_model = modeling.BertModel(
        config, is_training=False, input_ids=placeholders[0],
        input_mask=placeholders[1], token_type_ids=placeholders[2],
        use_one_hot_embeddings=True, scope="bert")
  assert len(tf.global_variables()) == len(expected_bert_variables(config))
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    gathered, one_hot = sess.run(
        [model.get_sequence_output(), one_hot_model.get_sequence_output()],
        random_inputs(placeholders, 50))
  np.testing.assert_allclose(gathered, one_hot, rtol=1e-5, atol=1e-5)


# The outputs (|x| < 4) are rounded to the compute type at the end: half an
# ulp there is 2^-10 in fp16 and 2^-7 in bf16. Four half-ulps pass the
# encoder (measured: 3.0e-3 and 2.8e-2) and fail its LayerNorm computed in
# fp16 (4.2e-3 to 4.6e-3).
@pytest.mark.parametrize("compute_type,tolerance", [(tf.float16, 4 * 2**-10),
                                                    (tf.bfloat16, 4 * 2**-7)])
def test_half_precision_keeps_float32_variables(compute_type, tolerance):
  if compute_type == tf.bfloat16 and tf.__version__.startswith("1."):
    pytest.skip("TF 1.15 has no bfloat16 CPU kernels (bf16 is for TPUs "
                "there); tested on TF 2.")
  tf.set_random_seed(0)
  config = tiny_config(vocab_size=50)
  model, placeholders = build(config, compute_type=compute_type)
  full_model = modeling.BertModel(
      config, is_training=False, input_ids=placeholders[0],
      input_mask=placeholders[1], token_type_ids=placeholders[2],
      scope="bert_fp32")
  variables = tf.global_variables()
  assert all(v.dtype.base_dtype == tf.float32 for v in variables)
  assert len(variables) == 2 * len(expected_bert_variables(config))
  # Same weights in both copies; then the outputs should nearly agree.
  copy_ops = [tf.assign(v2, v1) for v1, v2 in zip(
      [v for v in variables if v.op.name.startswith("bert/")],
      [v for v in variables if v.op.name.startswith("bert_fp32/")])]
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    sess.run(copy_ops)
    feed = random_inputs(placeholders, 50)
    half, full = sess.run([model.get_sequence_output(),
                           full_model.get_sequence_output()], feed)
  assert half.dtype == np.float32
  np.testing.assert_allclose(half, full, atol=tolerance)
  assert np.abs(half - full).max() > 0  # it really computed in half


def test_padding_does_not_change_real_positions():
  config = tiny_config(vocab_size=50)
  model, (ids, mask, segments) = build(config, seq_length=8, batch_size=2)
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    base = {ids: [[5, 6, 7, 8, 0, 0, 0, 0]] * 2,
            mask: [[1, 1, 1, 1, 0, 0, 0, 0]] * 2,
            segments: [[0] * 8] * 2}
    out1 = sess.run(model.get_sequence_output(), base)
    base[ids] = [[5, 6, 7, 8, 9, 9, 9, 9]] * 2
    out2 = sess.run(model.get_sequence_output(), base)
  np.testing.assert_allclose(out1[:, :4], out2[:, :4], atol=1e-5)


def test_config_round_trip_keeps_release_keys():
  path = os.path.join(REPO, "configs", "lert_config_small.json")
  config = modeling.BertConfig.from_json_file(path)
  assert (config.hidden_size, config.num_hidden_layers,
          config.num_attention_heads, config.intermediate_size) == (
              256, 12, 4, 1024)
  assert json.loads(config.to_json_string()) == json.load(open(path))


def config_json(drop=(), **changes):
  """A complete tiny config as JSON, with keys dropped or changed."""
  values = tiny_config(10).to_dict()
  values.update(changes)
  for key in drop:
    del values[key]
  return json.dumps(values)


@pytest.mark.parametrize("content,message", [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    # A missing key is an error, not a default (type_vocab_size was 16).
    (config_json(drop=["type_vocab_size"]),
     "missing required key 'type_vocab_size'"),
    (config_json(drop=["vocab_size", "hidden_size"]),
     "missing required keys 'vocab_size', 'hidden_size'"),
    (config_json(hidden_size=30, num_attention_heads=4),
     "hidden_size (30) is not a multiple of num_attention_heads (4)"),
    (config_json(vocab_size="10"), "vocab_size must be an integer"),
    (config_json(hidden_act="swishy"), "Unsupported activation"),
])
def test_malformed_config_names_the_file(tmp_path, content, message):
  path = tmp_path / "bad_config.json"
  path.write_text(content)
  with pytest.raises(modeling.ConfigError) as info:
    modeling.BertConfig.from_json_file(str(path))
  assert str(path) in str(info.value)
  assert message in str(info.value)


def test_sequence_longer_than_position_table_is_rejected():
  config = tiny_config(vocab_size=50, max_position_embeddings=4)
  with pytest.raises(ValueError, match="longer than max_position_embeddings"):
    build(config, seq_length=8)


def test_stepped_dropout_keeps_or_zeroes_each_value_and_backprop_reads_a_bool():
  """Dropout drawn from the seed and the step: every value is x / (1 - rate)
  or 0, about `rate` of them 0, the same mask at the same step and another
  at the next; its gradient is 1 / (1 - rate) where kept and 0 elsewhere;
  and the backward pass reads the boolean mask, not a float copy of it or
  of the scaled input (the memory of every dropout site while
  training)."""
  rate = 0.1
  values = np.random.RandomState(0).uniform(1.0, 2.0, size=(200, 500))
  with tf.Graph().as_default():
    tf.set_random_seed(7)
    step = tf.placeholder(tf.int64, [])
    modeling.set_dropout_step(step)
    x = tf.constant(values, tf.float32)
    before = set(tf.get_default_graph().get_operations())
    y = modeling.dropout(x, rate)
    dropout_ops = set(tf.get_default_graph().get_operations()) - before
    (gradient,) = tf.gradients(y, x)
    # What the backward pass reads of the dropout's own forward tensors.
    read_back = [t for op in tf.get_default_graph().get_operations()
                 if op not in dropout_ops and op not in before
                 for t in op.inputs
                 if t.op in dropout_ops and t.shape.num_elements() and
                 t.shape.num_elements() >= values.size]
    with tf.Session() as session:
      out, grad = session.run([y, gradient], {step: 3})
      again = session.run(y, {step: 3})
      other = session.run(y, {step: 4})
  scale = np.float32(1.0 / (1.0 - rate))
  kept = out != 0
  np.testing.assert_array_equal(out[kept],
                                values.astype(np.float32)[kept] * scale)
  assert abs((~kept).mean() - rate) < 4 * np.sqrt(rate * (1 - rate) /
                                                  values.size)
  np.testing.assert_array_equal(grad, np.where(kept, scale, 0))
  np.testing.assert_array_equal(again, out)
  assert (other != out).any()
  assert read_back and all(t.dtype == tf.bool for t in read_back), read_back
