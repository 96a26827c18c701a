# coding=utf-8
"""Optimiser: schedule, weight decay, clipping, accumulation, loss scaling."""

import pytest

import numpy as np
import tensorflow.compat.v1 as tf

import optimization


def linear_model_loss(x, y):
  """Mean squared error of a linear model with a decayed kernel and a bias."""
  kernel = tf.get_variable(
      "dense/kernel", initializer=np.arange(12, dtype=np.float32).reshape(
          4, 3) / 10.0)
  bias = tf.get_variable("dense/bias", initializer=np.ones(3, np.float32))
  prediction = tf.matmul(x, kernel) + bias
  return tf.reduce_mean(tf.square(prediction - y))


def data(batch_size=8, seed=0):
  rng = np.random.RandomState(seed)
  return (rng.randn(batch_size, 4).astype(np.float32),
          (3 * rng.randn(batch_size, 3)).astype(np.float32))


def train_and_read(x_value, y_value, micro_batches, updates=2, **kwargs):
  """Trains with the batch split in `micro_batches`; returns all variables."""
  size = len(x_value) // micro_batches
  with tf.Graph().as_default():
    x = tf.placeholder(tf.float32, [None, 4])
    y = tf.placeholder(tf.float32, [None, 3])
    loss = linear_model_loss(x, y)
    train_op = optimization.create_optimizer(
        loss, init_lr=0.1, num_train_steps=10, num_warmup_steps=0,
        gradient_accumulation_steps=micro_batches, **kwargs)
    with tf.Session() as sess:
      sess.run([tf.global_variables_initializer(),
                tf.local_variables_initializer()])
      for _ in range(updates):
        for i in range(micro_batches):
          sess.run(train_op, {x: x_value[i * size:(i + 1) * size],
                              y: y_value[i * size:(i + 1) * size]})
      return {v.op.name: sess.run(v) for v in
              tf.global_variables() + tf.local_variables()}


@pytest.mark.parametrize("optimizer_name", ["adamw", "lamb"])
def test_accumulating_k_micro_batches_equals_one_big_batch(optimizer_name):
  x_value, y_value = data()
  big = train_and_read(x_value, y_value, 1, optimizer_name=optimizer_name)
  accumulated = train_and_read(x_value, y_value, 4,
                               optimizer_name=optimizer_name)
  assert big["global_step"] == accumulated["global_step"] == 2
  for name in ("dense/kernel", "dense/bias", "dense/kernel/adam_m",
               "dense/kernel/adam_v", "dense/bias/adam_m"):
    np.testing.assert_allclose(accumulated[name], big[name], rtol=1e-5,
                               atol=1e-6, err_msg=name)
  # The accumulators are empty again after each update, and they are local
  # variables: no checkpoint holds them (issue: HF's TF loader would write
  # `dense/kernel/gradient_accumulator` over `dense/kernel`).
  assert not accumulated["dense/kernel/gradient_accumulator"].any()
  assert accumulated["gradient_accumulation/count"] == 0
  with tf.Graph().as_default():
    loss = linear_model_loss(tf.constant(x_value), tf.constant(y_value))
    optimization.create_optimizer(loss, 0.1, 10, 0,
                                  gradient_accumulation_steps=4)
    saved = {v.op.name for v in tf.global_variables()}
    assert not [name for name in saved if "accumul" in name]
    assert "dense/kernel/gradient_accumulator" in {
        v.op.name for v in tf.local_variables()}
  # And training did move the weights.
  assert np.abs(big["dense/kernel"] - train_and_read(
      x_value, y_value, 1, updates=0)["dense/kernel"]).max() > 0.05


def test_partial_accumulation_does_not_update():
  x_value, y_value = data()
  with tf.Graph().as_default():
    loss = linear_model_loss(tf.constant(x_value), tf.constant(y_value))
    train_op = optimization.create_optimizer(
        loss, 0.1, 10, 0, gradient_accumulation_steps=3)
    kernel = [v for v in tf.global_variables()
              if v.op.name == "dense/kernel"][0]
    with tf.Session() as sess:
      sess.run([tf.global_variables_initializer(),
                tf.local_variables_initializer()])
      before = sess.run(kernel)
      sess.run(train_op)
      sess.run(train_op)
      np.testing.assert_array_equal(sess.run(kernel), before)
      assert sess.run(tf.train.get_global_step()) == 0
      sess.run(train_op)
      assert sess.run(tf.train.get_global_step()) == 1
      assert np.abs(sess.run(kernel) - before).max() > 0


def test_learning_rate_warmup_then_linear_decay():
  with tf.Graph().as_default():
    step = tf.placeholder(tf.int64, [])
    lr = optimization.learning_rate_schedule(step, 1e-4, 1000, 100)
    with tf.Session() as sess:
      got = [sess.run(lr, {step: s}) for s in (0, 50, 100, 550, 1000, 1200)]
  np.testing.assert_allclose(got, [0.0, 5e-5, 9e-5, 4.5e-5, 0.0, 0.0],
                             rtol=1e-5, atol=1e-12)


def test_one_adam_step_matches_numpy_with_decay_and_clipping():
  x_value, y_value = data()
  got = train_and_read(x_value, y_value, 1, updates=1,
                       weight_decay_rate=0.01)
  kernel0 = np.arange(12, dtype=np.float64).reshape(4, 3) / 10.0
  bias0 = np.ones(3)
  residual = x_value.astype(np.float64).dot(kernel0) + bias0 - y_value
  scale = 2.0 / residual.size
  grads = {"kernel": x_value.T.dot(residual) * scale,
           "bias": residual.sum(0) * scale}
  norm = np.sqrt(sum((g ** 2).sum() for g in grads.values()))
  assert norm > 1.0  # clipping is active in this case
  lr = 0.1 * (1 - 0.0 / 10)  # step 0, no warm-up
  for name, value0, decayed in (("kernel", kernel0, True),
                                ("bias", bias0, False)):
    g = grads[name] / norm
    m = 0.1 * g
    v = 0.001 * g ** 2
    update = m / (np.sqrt(v) + 1e-6)
    if decayed:  # biases (and LayerNorm) get no weight decay
      update += 0.01 * value0
    np.testing.assert_allclose(got["dense/" + name], value0 - lr * update,
                               rtol=1e-5, atol=1e-6)


def test_two_lamb_steps_match_numpy():
  """LAMB against NumPy (not only against itself): Adam's update plus weight
  decay, scaled by the trust ratio ||w|| / ||update|| for the kernel; the
  bias, excluded from weight decay, gets ratio 1."""
  x_value, y_value = data()
  got = train_and_read(x_value, y_value, 1, updates=2,
                       weight_decay_rate=0.01, optimizer_name="lamb")
  values = {"kernel": np.arange(12, dtype=np.float64).reshape(4, 3) / 10.0,
            "bias": np.ones(3)}
  moments = {name: [np.zeros_like(v), np.zeros_like(v)]
             for name, v in values.items()}
  for step in range(2):
    residual = (x_value.astype(np.float64).dot(values["kernel"]) +
                values["bias"] - y_value)
    scale = 2.0 / residual.size
    grads = {"kernel": x_value.T.dot(residual) * scale,
             "bias": residual.sum(0) * scale}
    norm = np.sqrt(sum((g ** 2).sum() for g in grads.values()))
    grads = {name: g / max(norm, 1.0) for name, g in grads.items()}
    lr = 0.1 * (1 - step / 10.0)
    for name in ("kernel", "bias"):
      m, v = moments[name]
      m = 0.9 * m + 0.1 * grads[name]
      v = 0.999 * v + 0.001 * grads[name] ** 2
      moments[name] = [m, v]
      update = m / (np.sqrt(v) + 1e-6)
      if name == "kernel":
        update = update + 0.01 * values[name]
        update *= np.linalg.norm(values[name]) / np.linalg.norm(update)
      values[name] = values[name] - lr * update
  for name in ("kernel", "bias"):
    np.testing.assert_allclose(got["dense/" + name], values[name],
                               rtol=1e-5, atol=1e-6)


def test_loss_scaling_skips_overflowing_updates_and_halves_the_scale():
  with tf.Graph().as_default():
    w = tf.get_variable("w/kernel", initializer=np.float32(1.0))
    factor = tf.placeholder(tf.float32, [])
    # Scaled by 2**15 the gradient of 1e36·w² overflows float32.
    loss = factor * w * w
    train_op = optimization.create_optimizer(loss, 0.1, 10, 0,
                                             use_loss_scaling=True)
    scale = [v for v in tf.global_variables()
             if v.op.name == "loss_scale/scale"][0]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      sess.run(train_op, {factor: 1e36})
      assert sess.run(w) == 1.0
      assert sess.run(scale) == 2.0 ** 14
      assert sess.run(tf.train.get_global_step()) == 0
      sess.run(train_op, {factor: 1.0})
      assert sess.run(w) < 1.0
      assert sess.run(tf.train.get_global_step()) == 1


def test_loss_scaling_with_accumulation_decides_once_per_update():
  """4 micro-batches per update, the 2nd of the first update overflowing:
  that update is skipped and the scale halves once (32768 -> 16384, not
  2048 as when every remaining micro-batch halved it again); the next,
  clean, update applies and counts one clean update, not four."""
  with tf.Graph().as_default():
    w = tf.get_variable("w/kernel", initializer=np.float32(1.0))
    factor = tf.placeholder(tf.float32, [])
    train_op = optimization.create_optimizer(
        factor * w * w, 0.1, 10, 0, use_loss_scaling=True,
        gradient_accumulation_steps=4)
    state = {v.op.name: v for v in tf.global_variables()}
    with tf.Session() as sess:
      sess.run([tf.global_variables_initializer(),
                tf.local_variables_initializer()])
      seen = []
      for value in (1.0, 1e36, 1.0, 1.0):
        sess.run(train_op, {factor: value})
        seen.append(sess.run([state["loss_scale/scale"],
                              state["loss_scale/good_steps"]]))
      assert seen == [[32768.0, 0]] * 3 + [[16384.0, 0]]
      assert sess.run(w) == 1.0 and sess.run(state["global_step"]) == 0
      for _ in range(4):
        sess.run(train_op, {factor: 1.0})
      assert sess.run([state["loss_scale/scale"],
                       state["loss_scale/good_steps"]]) == [16384.0, 1]
      assert sess.run(w) < 1.0 and sess.run(state["global_step"]) == 1


def test_loss_scale_grows_after_the_interval_of_clean_updates():
  with tf.Graph().as_default():
    scale = optimization.DynamicLossScale(initial_scale=8.0,
                                          growth_interval=2)
    finite = tf.placeholder(tf.bool, [])
    is_update = tf.placeholder(tf.bool, [])
    update = scale.update(finite, is_update)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      got = []
      for f, u in ((True, False), (True, True), (True, False), (True, True),
                   (False, False), (False, True), (True, True)):
        sess.run(update, {finite: f, is_update: u})
        got.append(float(sess.run(scale.scale)))
  # Only update steps count: 2 clean updates double it; one overflow halves.
  assert got == [8.0, 8.0, 8.0, 16.0, 16.0, 8.0, 8.0]


def test_unknown_optimizer_is_rejected():
  with tf.Graph().as_default():
    w = tf.get_variable("w", initializer=1.0)
    with pytest.raises(ValueError, match="Unknown optimizer 'sgd'"):
      optimization.create_optimizer(w * w, 0.1, 10, 0, optimizer_name="sgd")
