# coding=utf-8
"""Optimisers for pre-training and fine-tuning.

Adam with decoupled weight decay (BERT's AdamWeightDecay, which LERT used),
or LAMB for large batches; linear warm-up then linear decay of the learning
rate; global-norm gradient clipping; gradient accumulation over several
micro-batches; and dynamic loss scaling for float16 training.

The global step counts optimiser updates, so with gradient accumulation over
k micro-batches one step consumes k batches. The learning-rate and LIP
schedules, `--num_train_steps` and checkpoints all count updates, which is
what the paper calls a step.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import re

import tensorflow.compat.v1 as tf

# Weight decay (and LAMB's trust ratio) is not applied to these variables.
EXCLUDE_FROM_WEIGHT_DECAY = ("LayerNorm", "layer_norm", "bias")


def learning_rate_schedule(global_step, init_lr, num_train_steps,
                           num_warmup_steps):
  """Linear warm-up to `init_lr`, then linear decay to 0 at the last step."""
  step = tf.cast(global_step, tf.float32)
  decayed = init_lr * (1.0 - tf.minimum(step, float(num_train_steps)) /
                       float(max(num_train_steps, 1)))
  if not num_warmup_steps:
    return decayed
  warmup = init_lr * step / float(num_warmup_steps)
  return tf.where_v2(step < float(num_warmup_steps), warmup, decayed)


def _variable_name(variable):
  """A variable's name as a checkpoint holds it, without ":0" (Google's
  `_get_variable_name`; modeling.variable_name too: this module imports
  nothing, so that it drops into any BERT codebase)."""
  return re.sub(r":\d+$", "", variable.name)


def create_optimizer(loss, init_lr, num_train_steps, num_warmup_steps,
                     use_tpu=False, weight_decay_rate=0.01,
                     optimizer_name="adamw", gradient_accumulation_steps=1,
                     clip_norm=1.0, use_loss_scaling=False):
  """Builds the training op for `loss`.

  Args:
    loss: scalar float32 loss of one (micro-)batch.
    init_lr: peak learning rate.
    num_train_steps: number of optimiser updates; the rate reaches 0 there.
    num_warmup_steps: updates of linear warm-up.
    use_tpu: wrap the optimiser in a CrossShardOptimizer.
    weight_decay_rate: decoupled weight decay (BERT and the LERT release:
      0.01; the paper's text says 0.1).
    optimizer_name: "adamw" or "lamb".
    gradient_accumulation_steps: micro-batches whose mean gradient makes one
      update.
    clip_norm: global-norm clipping threshold.
    use_loss_scaling: dynamic loss scaling, for float16 compute.

  Returns:
    The training op. It increments the global step once per update.
  """
  if gradient_accumulation_steps < 1:
    raise ValueError("gradient_accumulation_steps must be >= 1, got %d." %
                     gradient_accumulation_steps)
  if tf.distribute.has_strategy() and (gradient_accumulation_steps > 1 or
                                       use_loss_scaling):
    raise ValueError("Gradient accumulation and float16 loss scaling are not "
                     "supported with several GPUs (--num_gpus > 1): use a "
                     "larger per-GPU batch or bf16/fp32.")
  global_step = tf.train.get_or_create_global_step()
  learning_rate = learning_rate_schedule(global_step, init_lr,
                                         num_train_steps, num_warmup_steps)
  tvars = tf.trainable_variables()
  loss_scale = DynamicLossScale() if use_loss_scaling else None
  grads, tvars = _gradients(loss, tvars, loss_scale)

  updates = []  # assignments other than the optimiser's own
  apply_now = None  # None: every step updates
  if gradient_accumulation_steps > 1:
    grads, apply_now, accumulate_ops = _accumulate(
        grads, tvars, gradient_accumulation_steps)
    updates.extend(accumulate_ops)
  if loss_scale:
    # With accumulation, `grads` are the accumulated means: one overflowing
    # micro-batch makes them non-finite until the update.
    finite = tf.reduce_all([tf.reduce_all(tf.is_finite(g)) for g in grads])
    updates.append(loss_scale.update(finite, apply_now))
    # An overflowing update is skipped; the next one uses a smaller scale.
    apply_now = finite if apply_now is None else tf.logical_and(apply_now,
                                                                 finite)

  grads = _clipped(grads, clip_norm)

  optimizer_class = {"adamw": AdamWeightDecayOptimizer,
                     "lamb": LAMBOptimizer}.get(optimizer_name)
  if optimizer_class is None:
    raise ValueError("Unknown optimizer %r: use adamw or lamb." %
                     optimizer_name)
  optimizer = optimizer_class(
      learning_rate=learning_rate, weight_decay_rate=weight_decay_rate,
      exclude_from_weight_decay=EXCLUDE_FROM_WEIGHT_DECAY,
      apply_condition=apply_now)
  if use_tpu:
    # Sums the gradients of the TPU cores, as Google BERT does (Adam is
    # invariant to that scale).
    optimizer = tf.tpu.CrossShardOptimizer(optimizer)
  # The global step is advanced below, once per update.
  apply_op = optimizer.apply_gradients(zip(grads, tvars))

  # The step advances after the update has read it for the learning rate.
  with tf.control_dependencies([apply_op] + updates):
    increment = (tf.constant(1, global_step.dtype) if apply_now is None else
                 tf.cast(apply_now, global_step.dtype))
    step_op = global_step.assign_add(increment)
  return tf.group(apply_op, step_op, *updates, name="train_op")


def _gradients(loss, tvars, loss_scale):
  """The gradients of `loss` (scaled by `loss_scale`, then unscaled) with
  respect to the variables of `tvars` it reaches, and those variables."""
  scaled_loss = loss * loss_scale.value if loss_scale else loss
  grads = tf.gradients(scaled_loss, tvars)
  # A variable the loss does not reach (the pooler in pre-training: there is
  # no next-sentence task) is left alone, as in the LERT release: no update,
  # no weight decay, no Adam slots.
  tvars = [v for g, v in zip(grads, tvars) if g is not None]
  grads = [tf.convert_to_tensor(g) for g in grads if g is not None]
  if not tvars:
    raise ValueError("The loss depends on no trainable variable.")
  if loss_scale:
    grads = [g / loss_scale.value for g in grads]
  return grads, tvars


def _clipped(grads, clip_norm):
  """The gradients clipped to a global norm of `clip_norm`.

  With several replicas (MirroredStrategy), every replica clips the mean of
  all replicas' gradients, as one device would clip the gradient of the
  global batch; apply_gradients sums over the replicas again, hence the
  division."""
  num_replicas = (tf.distribute.get_strategy().num_replicas_in_sync
                  if tf.distribute.has_strategy() else 1)
  if num_replicas > 1:
    grads = _mean_over_replicas(grads)
  grads, _ = tf.clip_by_global_norm(grads, clip_norm=clip_norm)
  if num_replicas > 1:
    grads = [g / float(num_replicas) for g in grads]
  return grads


def _mean_over_replicas(values):
  """The mean of each tensor over the replicas, on every replica (the
  gradient-free all-reduce of TensorFlow 1.15 and 2.x alike)."""

  def reduce(strategy, *per_replica):
    return strategy.extended.batch_reduce_to(
        tf.distribute.ReduceOp.MEAN, [(v, v) for v in per_replica])

  return list(tf.distribute.get_replica_context().merge_call(
      reduce, args=tuple(values)))


def _accumulation_count():
  """The micro-batches accumulated since the last update (a local variable:
  0 at every checkpoint, a step being an update)."""
  with tf.variable_scope(tf.get_variable_scope(), reuse=tf.AUTO_REUSE):
    return tf.get_variable("gradient_accumulation/count", shape=[],
                           dtype=tf.int32, trainable=False,
                           initializer=tf.zeros_initializer(),
                           collections=[tf.GraphKeys.LOCAL_VARIABLES])


def accumulation_count_variable():
  """The graph's accumulation counter (_accumulation_count), or None when
  it does not accumulate."""
  for variable in tf.local_variables():
    if variable.op.name.endswith("gradient_accumulation/count"):
      return variable
  return None


def training_step(gradient_accumulation_steps=1):
  """The counter of the batch being trained, for modeling.set_dropout_step:
  the global step, or with gradient accumulation global_step * k + the
  micro-batch's place in its update (each micro-batch draws its own
  dropout masks). Read before the update of the same step changes it."""
  step = tf.cast(tf.train.get_or_create_global_step(), tf.int64)
  if gradient_accumulation_steps <= 1:
    return step
  return (step * gradient_accumulation_steps +
          tf.cast(_accumulation_count(), tf.int64))


def _accumulate(grads, tvars, num_micro_batches):
  """Sums gradients over micro-batches in non-trainable accumulators.

  The accumulators are local variables, so checkpoints never hold them: they
  are zero at every save (a step is an update), and a `<var>/...` name that
  BERT tools do not know makes some of them (Hugging Face's
  `load_tf_weights_in_bert`) write it over the real weight `<var>`.

  Returns (mean gradients including this micro-batch, a boolean tensor that
  is true on every `num_micro_batches`-th call, the accumulator updates).
  Nothing branches: on other calls the optimiser's assignments keep the old
  values, which keeps the graph simple and TPU-friendly.
  """
  local = [tf.GraphKeys.LOCAL_VARIABLES]
  count = _accumulation_count()
  new_count = count + 1
  apply_now = tf.equal(new_count, num_micro_batches)
  mean_grads, ops = [], []
  for grad, var in zip(grads, tvars):
    accumulator = tf.get_variable(
        _variable_name(var) + "/gradient_accumulator", shape=var.shape,
        dtype=tf.float32, trainable=False, initializer=tf.zeros_initializer(),
        collections=local)
    total = accumulator + grad
    mean_grads.append(total / float(num_micro_batches))
    ops.append(accumulator.assign(
        tf.where_v2(apply_now, tf.zeros_like(total), total)))
  # After the gradients: the dropout of this micro-batch reads the count
  # (training_step), and a reference variable's read is not a snapshot.
  with tf.control_dependencies(mean_grads):
    ops.append(count.assign(tf.where_v2(apply_now, 0, new_count)))
  return mean_grads, apply_now, ops


class DynamicLossScale(object):
  """Loss scale that halves on overflow and doubles after a run of good
  steps."""

  def __init__(self, initial_scale=2.0 ** 15, growth_interval=2000):
    self.growth_interval = growth_interval
    self.scale = tf.get_variable(
        "loss_scale/scale", shape=[], dtype=tf.float32, trainable=False,
        initializer=tf.constant_initializer(initial_scale))
    self.good_steps = tf.get_variable(
        "loss_scale/good_steps", shape=[], dtype=tf.int32, trainable=False,
        initializer=tf.zeros_initializer())
    self.value = tf.identity(self.scale)

  def update(self, finite, is_update_step=None):
    """Halves the scale when `finite` is false, doubles it after
    `growth_interval` finite updates in a row.

    With gradient accumulation, `is_update_step` is true on the micro-batch
    that completes an update: the scale is decided there alone, once per
    update (an overflow in any micro-batch leaves the accumulated gradients
    non-finite), and stays put on the other micro-batches.
    """
    good = self.good_steps + 1
    grow = tf.logical_and(finite, good >= self.growth_interval)
    new_scale = tf.where_v2(
        finite, tf.where_v2(grow, self.value * 2.0, self.value),
        tf.maximum(self.value / 2.0, 1.0))
    new_good = tf.where_v2(tf.logical_and(finite, tf.logical_not(grow)), good,
                           0)
    if is_update_step is not None:
      new_scale = tf.where_v2(is_update_step, new_scale, self.value)
      new_good = tf.where_v2(is_update_step, new_good, self.good_steps)
    return tf.group(self.scale.assign(new_scale),
                    self.good_steps.assign(new_good))


class AdamWeightDecayOptimizer(tf.train.Optimizer):
  """Adam with decoupled weight decay, as in BERT (no bias correction).

  The moments are the slot variables `<var>/adam_m` and `<var>/adam_v`, as
  in Google BERT and LERT checkpoints. With `apply_condition` (a boolean
  tensor) every assignment keeps the old value when it is false. Built on
  tf.train.Optimizer, so TPU cross-shard and multi-GPU (MirroredStrategy)
  gradient reduction work as for TensorFlow's own optimisers.
  """

  def __init__(self, learning_rate, weight_decay_rate=0.0, beta_1=0.9,
               beta_2=0.999, epsilon=1e-6, exclude_from_weight_decay=None,
               apply_condition=None, name="AdamWeightDecayOptimizer"):
    super(AdamWeightDecayOptimizer, self).__init__(False, name)
    self.learning_rate = learning_rate
    self.weight_decay_rate = weight_decay_rate
    self.beta_1 = beta_1
    self.beta_2 = beta_2
    self.epsilon = epsilon
    self.exclude_from_weight_decay = exclude_from_weight_decay
    self.apply_condition = apply_condition

  def _create_slots(self, var_list):
    for var in var_list:
      self._zeros_slot(var, "m", "adam_m")
      self._zeros_slot(var, "v", "adam_v")

  def _apply_dense(self, grad, var):
    m = self.get_slot(var, "m")
    v = self.get_slot(var, "v")
    next_m = self.beta_1 * m + (1.0 - self.beta_1) * grad
    next_v = self.beta_2 * v + (1.0 - self.beta_2) * tf.square(grad)
    update = next_m / (tf.sqrt(next_v) + self.epsilon)
    excluded = self._is_excluded(_variable_name(var))
    if self.weight_decay_rate and not excluded:
      update += self.weight_decay_rate * var
    update = self._scale_update(update, var, excluded)
    next_var = var - self.learning_rate * update
    assignments = []
    for variable, value in ((var, next_var), (m, next_m), (v, next_v)):
      if self.apply_condition is not None:
        value = tf.where_v2(self.apply_condition, value, variable)
      assignments.append(variable.assign(value))
    return tf.group(*assignments)

  def _resource_apply_dense(self, grad, var):
    return self._apply_dense(grad, var)

  def _apply_sparse(self, grad, var):
    return self._apply_dense(tf.convert_to_tensor(grad), var)

  def _resource_apply_sparse(self, grad, var, indices):
    dense = tf.math.unsorted_segment_sum(grad, indices,
                                         tf.shape(var, out_type=tf.int32)[0])
    return self._apply_dense(dense, var)

  def _scale_update(self, update, param, excluded):
    del param, excluded  # Adam applies the update as it is.
    return update

  def _is_excluded(self, param_name):
    return any(re.search(pattern, param_name) is not None
               for pattern in self.exclude_from_weight_decay or ())


class LAMBOptimizer(AdamWeightDecayOptimizer):
  """LAMB (You et al., 2020): Adam's update scaled per variable by the trust
  ratio ||w|| / ||update||, for large-batch training. Variables excluded from
  weight decay get no trust ratio."""

  def __init__(self, learning_rate, name="LAMBOptimizer", **kwargs):
    super(LAMBOptimizer, self).__init__(learning_rate, name=name, **kwargs)

  def _scale_update(self, update, param, excluded):
    if excluded:
      return update
    w_norm = tf.norm(param, ord=2)
    u_norm = tf.norm(update, ord=2)
    ratio = tf.where_v2(tf.logical_and(w_norm > 0.0, u_norm > 0.0),
                        w_norm / u_norm, 1.0)
    return ratio * update
