# coding=utf-8
"""A linear probe: multinomial logistic regression with an L2 penalty,
fitted by L-BFGS in NumPy. The objective is scikit-learn's
LogisticRegression (lbfgs, multinomial, intercept not penalised):

  C * sum_i -log softmax(x_i W + b)[y_i] + |W|^2 / 2,

strictly convex in W, so that any correct solver reaches the same W and
the same predictions (tests/test_probing.py checks them against
scikit-learn). No TensorFlow here.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections

import numpy as np

# A fitted probe: weights [features, classes], biases [classes], the
# standardisation of the features (mean, scale) and the solver's record.
Probe = collections.namedtuple("Probe", [
    "weights", "biases", "mean", "scale", "iterations", "converged"])


def _objective(params, x, onehot, c):
  """The objective and its gradient, divided by the number of examples
  (the same minimum, better scaled)."""
  n, d = x.shape
  k = onehot.shape[1]
  w, b = params[:d * k].reshape(d, k), params[d * k:]
  logits = x.dot(w) + b
  logits -= logits.max(axis=1, keepdims=True)
  log_norm = np.log(np.exp(logits).sum(axis=1, keepdims=True))
  log_probs = logits - log_norm
  loss = (-c * (onehot * log_probs).sum() + 0.5 * (w * w).sum()) / n
  residual = c * (np.exp(log_probs) - onehot)
  grad_w = (x.T.dot(residual) + w) / n
  grad_b = residual.sum(axis=0) / n
  return loss, np.concatenate([grad_w.ravel(), grad_b])


def lbfgs(function, start, max_iterations=1000, tolerance=1e-4, memory=10):
  """Minimises function(params) -> (value, gradient) from `start` by
  L-BFGS with a backtracking (Armijo) line search; stops when the largest
  gradient component is below `tolerance`. Returns (params, iterations,
  converged)."""
  params = start.copy()
  value, grad = function(params)
  steps, changes = [], []
  for iteration in range(1, max_iterations + 1):
    if np.abs(grad).max() < tolerance:
      return params, iteration - 1, True
    # The two-loop recursion: direction = -H grad.
    q = grad.copy()
    alphas = []
    for s, y in reversed(list(zip(steps, changes))):
      alpha = s.dot(q) / y.dot(s)
      alphas.append(alpha)
      q -= alpha * y
    if steps:
      q *= steps[-1].dot(changes[-1]) / changes[-1].dot(changes[-1])
    for (s, y), alpha in zip(zip(steps, changes), reversed(alphas)):
      q += (alpha - y.dot(q) / y.dot(s)) * s
    direction = -q
    slope = grad.dot(direction)
    if slope >= 0:  # not a descent direction: start the memory again
      steps, changes = [], []
      direction, slope = -grad, -grad.dot(grad)
    rate = 1.0 if steps else min(1.0, 1.0 / np.abs(grad).sum())
    while True:
      candidate = params + rate * direction
      new_value, new_grad = function(candidate)
      if new_value <= value + 1e-4 * rate * slope or rate < 1e-12:
        break
      rate *= 0.5
    s, y = candidate - params, new_grad - grad
    if s.dot(y) > 1e-12:
      steps.append(s)
      changes.append(y)
      if len(steps) > memory:
        steps.pop(0)
        changes.pop(0)
    if rate < 1e-12 or value - new_value <= 1e-15 * max(1.0, abs(value)):
      params, value, grad = candidate, new_value, new_grad
      return params, iteration, np.abs(grad).max() < tolerance * 10
    params, value, grad = candidate, new_value, new_grad
  return params, max_iterations, False


def standardisation(features):
  """(mean, scale) of the training features; a constant feature keeps
  scale 1."""
  mean = features.mean(axis=0)
  scale = features.std(axis=0)
  scale[scale < 1e-8] = 1.0
  return mean, scale


def fit(features, labels, num_classes, c=1.0, standardise=True,
        max_iterations=1000, tolerance=1e-4):
  """The Probe of integer `labels` in [0, num_classes) from `features`
  [examples, dims] (float64 inside). `tolerance`: on the largest
  component of the gradient of the objective over the number of examples
  (scikit-learn's default tol is 1e-4 too)."""
  features = np.asarray(features, np.float64)
  if standardise:
    mean, scale = standardisation(features)
  else:
    mean, scale = np.zeros(features.shape[1]), np.ones(features.shape[1])
  x = (features - mean) / scale
  onehot = np.eye(num_classes)[np.asarray(labels)]
  d = x.shape[1]
  params, iterations, converged = lbfgs(
      lambda p: _objective(p, x, onehot, c),
      np.zeros(d * num_classes + num_classes), max_iterations, tolerance)
  return Probe(params[:d * num_classes].reshape(d, num_classes),
               params[d * num_classes:], mean, scale, iterations, converged)


def probabilities(probe, features):
  """[examples, classes] of the fitted probe."""
  x = (np.asarray(features, np.float64) - probe.mean) / probe.scale
  logits = x.dot(probe.weights) + probe.biases
  logits -= logits.max(axis=1, keepdims=True)
  exp = np.exp(logits)
  return exp / exp.sum(axis=1, keepdims=True)


def predict(probe, features):
  return probabilities(probe, features).argmax(axis=1)
