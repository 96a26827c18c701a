# coding=utf-8
"""LERT pre-training graph: heads (docs/spec.md §2), LIP (docs/spec.md §3),
loss, training."""

import pytest
from conftest import tiny_config
from pretraining_helpers import build_model_fn, constant_features, fixed_batch
from bert_variables import expected_bert_variables

import numpy as np
import tensorflow.compat.v1 as tf

from lert.model import lert_model
from lert.tagging import linguistic_tags

EVAL = tf.estimator.ModeKeys.EVAL
TRAIN = tf.estimator.ModeKeys.TRAIN


def expected_head_variables(hidden, vocab_size, tasks):
  expected = {
      "cls/predictions/transform/dense/kernel": [hidden, hidden],
      "cls/predictions/transform/dense/bias": [hidden],
      "cls/predictions/transform/LayerNorm/gamma": [hidden],
      "cls/predictions/transform/LayerNorm/beta": [hidden],
      "cls/predictions/output_bias": [vocab_size],
  }
  sizes = {"pos": 28, "ner": 13, "dep": 14}  # docs/spec.md §1
  for task in tasks:
    expected["cls/predictions/output_%s_layer/kernel" % task] = [hidden,
                                                                 sizes[task]]
    expected["cls/predictions/output_%s_layer/bias" % task] = [sizes[task]]
  return expected


@pytest.mark.parametrize("tasks", [
    ["pos", "ner", "dep"], [], ["pos"], ["ner"], ["dep"], ["pos", "dep"]])
def test_exact_variables_for_each_task_choice(tasks):
  config = tiny_config(vocab_size=150)
  model_fn = build_model_fn(config, tasks=tasks)
  model_fn(constant_features(fixed_batch(150)), None, TRAIN, {})
  trainable = {v.op.name: v.shape.as_list() for v in tf.trainable_variables()}
  expected = expected_bert_variables(config)
  expected.update(expected_head_variables(32, 150, tasks))
  assert trainable == expected
  assert not any("seq_relationship" in name for name in trainable)
  # Besides them the checkpoint holds only Adam's moments and the step; the
  # pooler, which no pre-training loss reaches, has no moments (as in the
  # LERT release).
  others = {v.op.name for v in tf.global_variables()} - set(trainable)
  slotted = {n for n in trainable if not n.startswith("bert/pooler/")}
  assert len(slotted) == len(trainable) - 2
  assert others == ({n + "/adam_m" for n in slotted} |
                    {n + "/adam_v" for n in slotted} | {"global_step"})


def test_pooler_is_untouched_by_pre_training():
  """The release skips variables without a gradient: the pooler keeps its
  initial values bit for bit (weight decay would shrink it otherwise)."""
  config = tiny_config(vocab_size=150)
  spec = build_model_fn(config, learning_rate=1e-2, num_warmup_steps=0)(
      constant_features(fixed_batch(150)), None, TRAIN, {})
  pooler = [v for v in tf.global_variables()
            if v.op.name == "bert/pooler/dense/kernel"][0]
  layer = [v for v in tf.global_variables()
           if v.op.name == "bert/encoder/layer_0/output/dense/kernel"][0]
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    before = sess.run([pooler, layer])
    for _ in range(3):
      sess.run(spec.train_op)
    after = sess.run([pooler, layer])
  np.testing.assert_array_equal(after[0], before[0])
  assert np.abs(after[1] - before[1]).max() > 1e-4


def test_tag_inventories_match_spec():
  assert linguistic_tags.POS_TAGS[:4] == ["n", "v", "wp", "u"]
  assert linguistic_tags.POS_TAGS[27] == "%"
  assert linguistic_tags.tag_to_id("pos", "x") == 27
  assert linguistic_tags.NER_TAGS == (
      "O S-Ns S-Nh B-Ni E-Ni I-Ni S-Ni B-Ns E-Ns I-Ns B-Nh E-Nh I-Nh".split())
  assert linguistic_tags.DEP_LABELS == (
      "ATT WP ADV VOB SBV COO RAD HED POB CMP LAD FOB DBL IOB".split())
  assert linguistic_tags.tag_to_id("dep", "IS") is None
  # The released code spells the labels with a prefix (NER-S-Ns).
  assert linguistic_tags.RELEASE_PREFIX["ner"] == "NER-"
  with pytest.raises(ValueError, match="Unknown linguistic task 'srl'"):
    linguistic_tags.parse_task_list("pos,srl")
  assert linguistic_tags.parse_task_list("dep, pos") == ["pos", "dep"]
  assert linguistic_tags.parse_task_list("") == []


def test_lip_end_steps_defaults_and_orders():
  assert lert_model.lip_end_steps(2000000) == {
      "pos": 333333, "ner": 666666, "dep": 1000000}
  assert lert_model.lip_end_steps(600, "PDN") == {
      "pos": 100, "dep": 200, "ner": 300}
  assert lert_model.lip_end_steps(600, "npd") == {
      "ner": 100, "pos": 200, "dep": 300}
  assert lert_model.lip_end_steps(600, "DNP") == {
      "dep": 100, "ner": 200, "pos": 300}
  # The release hard-codes these for its 2M steps.
  assert lert_model.lip_end_steps(
      2000000, "PND", {"pos": 333000, "ner": 666000, "dep": None}) == {
          "pos": 333000, "ner": 666000, "dep": 1000000}
  with pytest.raises(ValueError, match="permutation of PND"):
    lert_model.lip_end_steps(100, "PNN")


@pytest.mark.parametrize("schedule,step,expected", [
    ("linear", 0, {"pos": 0.0, "ner": 0.0, "dep": 0.0}),
    ("linear", 25, {"pos": 0.5, "ner": 0.25, "dep": 25 / 150.}),
    ("linear", 50, {"pos": 1.0, "ner": 0.5, "dep": 50 / 150.}),
    ("linear", 100, {"pos": 1.0, "ner": 1.0, "dep": 100 / 150.}),
    ("linear", 250, {"pos": 1.0, "ner": 1.0, "dep": 1.0}),
    ("none", 0, {"pos": 1.0, "ner": 1.0, "dep": 1.0}),
    ("none", 50, {"pos": 1.0, "ner": 1.0, "dep": 1.0}),
])
def test_lip_lambda_values(schedule, step, expected):
  end_steps = lert_model.lip_end_steps(300)  # 50, 100, 150
  step_var = tf.Variable(step, dtype=tf.int64)
  lambdas = lert_model.lip_lambdas(step_var, ["pos", "ner", "dep"],
                                        end_steps, schedule)
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    got = sess.run(lambdas)
  assert got == pytest.approx(expected, abs=1e-6)


def _log_softmax(x):
  x = x - x.max(axis=-1, keepdims=True)
  return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def _numpy_task_loss(logits, labels, weights):
  ce = -_log_softmax(logits.astype(np.float64))[np.arange(len(labels)),
                                                labels]
  return (weights * ce).sum() / (weights.sum() + 1e-5)


def test_total_loss_equals_numpy_spec_formula():
  config = tiny_config(vocab_size=150)
  batch = fixed_batch(150, batch_size=3, max_predictions_per_seq=6,
                      missing_label_rate=0.4, seed=5)
  # The batch must exercise padding and missing labels.
  assert (batch["masked_lm_weights"] == 0).any()
  assert ((batch["pos_label_weights"] == 0) &
          (batch["masked_lm_weights"] == 1)).any()
  end_steps = {"pos": 60, "ner": 120, "dep": 180}
  model_fn = build_model_fn(config, end_steps=end_steps)
  spec = model_fn(constant_features(batch), None, EVAL, {})
  graph = tf.get_default_graph()
  fetch = {name: graph.get_tensor_by_name(name + "_logits:0")
           for name in ("mlm", "pos", "ner", "dep")}
  fetch["total"] = spec.loss
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    sess.run(tf.train.get_global_step().assign(30))
    got = sess.run(fetch)

  mlm_weights = batch["masked_lm_weights"].reshape(-1)
  expected = _numpy_task_loss(got["mlm"], batch["masked_lm_ids"].reshape(-1),
                              mlm_weights)
  for task, lam in (("pos", 0.5), ("ner", 0.25), ("dep", 30 / 180.)):
    weights = mlm_weights * batch[task + "_label_weights"].reshape(-1)
    expected += lam * _numpy_task_loss(
        got[task], batch[task + "_labels"].reshape(-1), weights)
  assert got["total"] == pytest.approx(expected, rel=1e-5)
  assert got["mlm"].shape == (18, 150)
  assert got["pos"].shape == (18, 28)
  assert got["ner"].shape == (18, 13)
  assert got["dep"].shape == (18, 14)


def test_missing_label_weights_absent_means_all_labels_used():
  config = tiny_config(vocab_size=150)
  batch = fixed_batch(150, missing_label_rate=None)
  assert "pos_label_weights" not in batch
  model_fn = build_model_fn(config, tasks=["pos"],
                            end_steps={"pos": 0, "ner": 0, "dep": 0})
  spec = model_fn(constant_features(batch), None, EVAL, {})
  graph = tf.get_default_graph()
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    mlm_logits, pos_logits, total = sess.run(
        [graph.get_tensor_by_name("mlm_logits:0"),
         graph.get_tensor_by_name("pos_logits:0"), spec.loss])
  weights = batch["masked_lm_weights"].reshape(-1)
  expected = (_numpy_task_loss(mlm_logits, batch["masked_lm_ids"].reshape(-1),
                               weights) +
              _numpy_task_loss(pos_logits, batch["pos_labels"].reshape(-1),
                               weights))
  assert total == pytest.approx(expected, rel=1e-5)


def test_tiny_model_overfits_a_fixed_batch():
  config = tiny_config(vocab_size=150)
  batch = fixed_batch(150, batch_size=8, max_predictions_per_seq=4, seed=2,
                      missing_label_rate=0.2)
  tf.set_random_seed(0)
  model_fn = build_model_fn(config, num_train_steps=300, learning_rate=2e-3,
                            num_warmup_steps=20)
  spec = model_fn(constant_features(batch), None, TRAIN, {})
  graph = tf.get_default_graph()
  losses = {name: graph.get_tensor_by_name(name + "_loss:0")
            for name in ("mlm", "pos", "ner", "dep")}
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    first = sess.run(losses)
    for _ in range(300):
      sess.run(spec.train_op)
    last = sess.run(losses)
    assert sess.run(tf.train.get_global_step()) == 300
  for name in losses:
    assert last[name] < 0.25 * first[name], (name, first[name], last[name])
