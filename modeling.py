# coding=utf-8
"""The BERT encoder used by LERT, with Google BERT's variable names.

Every variable is named as in Google's `modeling.py`
(`bert/embeddings/word_embeddings`,
`bert/encoder/layer_0/attention/self/query/kernel`, ...,
`bert/pooler/dense/bias`), so Google BERT and released LERT checkpoints load
into it and its checkpoints load into any BERT tool. GELU is the exact erf
form, as in the LERT release.

Mixed precision: with `compute_type` float16 or bfloat16 the encoder computes
in that type while every variable stays float32 (the "master weights"); layer
normalisation and the attention softmax run in float32.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import copy
import json
import math
import re

import six
import tensorflow.compat.v1 as tf


class ConfigError(ValueError):
  """A model configuration file that cannot be used. (This module imports
  nothing of the project, so that it drops into any BERT codebase; the
  project's scripts report this error as bad input, in one line.)"""


class BertConfig(object):
  """Configuration of a `BertModel` (the BERT config JSON format)."""

  _DEFAULTS = collections.OrderedDict([
      ("vocab_size", None),
      ("hidden_size", 768),
      ("num_hidden_layers", 12),
      ("num_attention_heads", 12),
      ("intermediate_size", 3072),
      ("hidden_act", "gelu"),
      ("hidden_dropout_prob", 0.1),
      ("attention_probs_dropout_prob", 0.1),
      ("max_position_embeddings", 512),
      ("type_vocab_size", 16),
      ("initializer_range", 0.02),
  ])
  _INT_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers",
                 "num_attention_heads", "intermediate_size",
                 "max_position_embeddings", "type_vocab_size")
  _FLOAT_FIELDS = ("hidden_dropout_prob", "attention_probs_dropout_prob",
                   "initializer_range")

  def __init__(self, vocab_size, **kwargs):
    kwargs["vocab_size"] = vocab_size
    self._assign(kwargs)
    self.validate()

  def _assign(self, values):
    for key, default in self._DEFAULTS.items():
      setattr(self, key, values.get(key, default))
    # Released configs carry extra keys (directionality, pooler_*) that the
    # model does not use; keep them so that to_json_string round-trips.
    for key, value in values.items():
      if key not in self._DEFAULTS:
        setattr(self, key, value)

  def validate(self, source="config"):
    for key in self._INT_FIELDS:
      value = getattr(self, key)
      if isinstance(value, bool) or not isinstance(value, six.integer_types):
        raise ConfigError("%s: %s must be an integer, got %r." %
                          (source, key, value))
      if value <= 0:
        raise ConfigError("%s: %s must be positive, got %r." %
                          (source, key, value))
    for key in self._FLOAT_FIELDS:
      value = getattr(self, key)
      if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError("%s: %s must be a number, got %r." %
                          (source, key, value))
    if self.hidden_size % self.num_attention_heads:
      raise ConfigError(
          "%s: hidden_size (%d) is not a multiple of num_attention_heads (%d)."
          % (source, self.hidden_size, self.num_attention_heads))
    if not callable(self.hidden_act):
      try:
        get_activation(self.hidden_act)
      except ValueError as e:
        raise ConfigError("%s: %s" % (source, e))

  @classmethod
  def from_dict(cls, json_object, source="config"):
    if not isinstance(json_object, dict):
      raise ConfigError("%s: expected a JSON object, got %s." %
                        (source, type(json_object).__name__))
    # Every key of the BERT config format is required: a default would
    # silently build another model (a missing type_vocab_size became 16).
    missing = [key for key in cls._DEFAULTS if key not in json_object]
    if missing:
      raise ConfigError("%s: missing required key%s %s." % (
          source, "s" if len(missing) > 1 else "",
          ", ".join("'%s'" % key for key in missing)))
    config = cls.__new__(cls)
    config._assign(json_object)
    config.validate(source)
    return config

  @classmethod
  def from_json_file(cls, json_file):
    with tf.gfile.GFile(json_file, "r") as reader:
      text = reader.read()
    try:
      json_object = json.loads(text)
    except ValueError as e:
      raise ConfigError("Config file %s is not valid JSON: %s" % (json_file, e))
    return cls.from_dict(json_object, source="Config file %s" % json_file)

  def check_max_seq_length(self, max_seq_length, source="config"):
    """Raises ConfigError when --max_seq_length exceeds the positions the
    model has."""
    if max_seq_length > self.max_position_embeddings:
      raise ConfigError(
          "--max_seq_length %d exceeds max_position_embeddings %d of %s." %
          (max_seq_length, self.max_position_embeddings, source))

  def to_dict(self):
    return copy.deepcopy(self.__dict__)

  def to_json_string(self):
    return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


def _fp32_master_weights_getter(getter, name, shape=None, dtype=None,
                                *args, **kwargs):
  """Creates float32 variables and hands out a cast copy for half types."""
  if dtype in (tf.float16, tf.bfloat16):
    variable = getter(name, shape, tf.float32, *args, **kwargs)
    return tf.cast(variable, dtype)
  return getter(name, shape, dtype, *args, **kwargs)


class BertModel(object):
  """BERT: embeddings, a Transformer encoder and the [CLS] pooler.

  Example:
    model = modeling.BertModel(config, is_training=True, input_ids=ids,
                               input_mask=mask, token_type_ids=segments)
    sequence_output = model.get_sequence_output()  # [batch, seq, hidden]
  """

  def __init__(self, config, is_training, input_ids, input_mask=None,
               token_type_ids=None, use_one_hot_embeddings=False, scope=None,
               compute_type=tf.float32, add_pooler=True,
               added_token_ids=None):
    """Builds the model.

    Args:
      config: a `BertConfig`.
      is_training: whether to apply dropout.
      input_ids: int32 Tensor [batch_size, seq_length].
      input_mask: optional int32 Tensor [batch_size, seq_length], 1 = real.
      token_type_ids: optional int32 Tensor [batch_size, seq_length].
      use_one_hot_embeddings: look embeddings up by a one-hot matmul, which
        is faster on TPU than a gather.
      scope: variable scope, "bert" by default.
      compute_type: tf.float32, tf.float16 or tf.bfloat16.
      add_pooler: build the [CLS] pooler (`bert/pooler`). Without it the
        model restores from checkpoints that have none, such as a Hugging
        Face BertForMaskedLM converted by convert_checkpoint.py.
      added_token_ids: optional int32 Tensor [batch_size, seq_length, k]:
        the word embeddings of these ids (0 = none) are added to those of
        `input_ids` (linguistic masking "all", docs/spec.md §8).
    """
    config = copy.deepcopy(config)
    if not is_training:
      config.hidden_dropout_prob = 0.0
      config.attention_probs_dropout_prob = 0.0

    batch_size, seq_length = get_shape_list(input_ids, expected_rank=2)
    if input_mask is None:
      input_mask = tf.ones([batch_size, seq_length], dtype=tf.int32)
    if token_type_ids is None:
      token_type_ids = tf.zeros([batch_size, seq_length], dtype=tf.int32)

    with tf.variable_scope(scope, default_name="bert"):
      with tf.variable_scope("embeddings"):
        self._embed(config, input_ids, token_type_ids,
                    use_one_hot_embeddings, added_token_ids)

      with tf.variable_scope("encoder",
                             custom_getter=_fp32_master_weights_getter):
        attention_mask = create_attention_mask_from_input_mask(
            input_ids, input_mask)
        self.all_encoder_layers = transformer_model(
            input_tensor=tf.cast(self.embedding_output, compute_type),
            attention_mask=attention_mask,
            hidden_size=config.hidden_size,
            num_hidden_layers=config.num_hidden_layers,
            num_attention_heads=config.num_attention_heads,
            intermediate_size=config.intermediate_size,
            intermediate_act_fn=get_activation(config.hidden_act),
            hidden_dropout_prob=config.hidden_dropout_prob,
            attention_probs_dropout_prob=config.attention_probs_dropout_prob,
            initializer_range=config.initializer_range,
            do_return_all_layers=True)
      self.all_encoder_layers = [tf.cast(layer, tf.float32)
                                 for layer in self.all_encoder_layers]
      self.sequence_output = self.all_encoder_layers[-1]

      # The pooler: a tanh layer over the hidden state of the first token.
      self.pooled_output = None
      if not add_pooler:
        return
      with tf.variable_scope("pooler"):
        first_token = tf.squeeze(self.sequence_output[:, 0:1, :], axis=1)
        self.pooled_output = dense(
            first_token, config.hidden_size, activation=tf.tanh,
            kernel_initializer=create_initializer(config.initializer_range),
            name="dense")

  def _embed(self, config, input_ids, token_type_ids, use_one_hot_embeddings,
             added_token_ids):
    """Sets `embedding_output` (words, plus `added_token_ids`' words, token
    types and positions, normalised, with dropout) and `embedding_table`."""
    self.embedding_output, self.embedding_table = embedding_lookup(
        input_ids=input_ids,
        vocab_size=config.vocab_size,
        embedding_size=config.hidden_size,
        initializer_range=config.initializer_range,
        word_embedding_name="word_embeddings",
        use_one_hot_embeddings=use_one_hot_embeddings)
    if added_token_ids is not None:
      added = tf.gather(self.embedding_table, added_token_ids)
      present = tf.cast(tf.greater(added_token_ids, 0), added.dtype)
      self.embedding_output += tf.reduce_sum(
          added * tf.expand_dims(present, -1), axis=2)
    self.embedding_output = embedding_postprocessor(
        input_tensor=self.embedding_output,
        token_type_ids=token_type_ids,
        token_type_vocab_size=config.type_vocab_size,
        initializer_range=config.initializer_range,
        max_position_embeddings=config.max_position_embeddings,
        dropout_prob=config.hidden_dropout_prob,
        use_one_hot_embeddings=use_one_hot_embeddings)

  def get_pooled_output(self):
    return self.pooled_output

  def get_sequence_output(self):
    """Final hidden layer, float32 [batch_size, seq_length, hidden_size]."""
    return self.sequence_output

  def get_all_encoder_layers(self):
    return self.all_encoder_layers

  def get_embedding_output(self):
    return self.embedding_output

  def get_embedding_table(self):
    return self.embedding_table


def gelu(x):
  """The exact Gaussian error linear unit: 0.5·x·(1 + erf(x/√2))."""
  return 0.5 * x * (1.0 + tf.math.erf(x / tf.cast(math.sqrt(2.0), x.dtype)))


def get_activation(activation_string):
  """Maps a config's activation name to a function (None = linear)."""
  if not isinstance(activation_string, six.string_types):
    return activation_string
  name = activation_string.lower()
  if not name or name == "linear":
    return None
  activations = {"relu": tf.nn.relu, "gelu": gelu, "tanh": tf.tanh}
  if name not in activations:
    raise ValueError("Unsupported activation: %r (use one of %s)." %
                     (activation_string, ", ".join(sorted(activations))))
  return activations[name]


def variable_name(variable):
  """A variable's name as a checkpoint holds it: without ":0" (under
  MirroredStrategy a replica's `op.name` is "<name>/replica_1")."""
  return re.sub(r":\d+$", "", variable.name)


# The graph collection that holds the training step counter dropout is drawn
# from (set_dropout_step).
DROPOUT_STEP = "lert_dropout_step"


def set_dropout_step(step):
  """Makes the dropout of the graph built after this call a function of the
  seed and `step` (an integer tensor: the global step, or the micro-batch
  count under gradient accumulation), not of a random generator's state.

  A training run that resumes from a checkpoint then draws the masks the
  uninterrupted run would have drawn at that step (its generators would
  start again from their first draw), so that the two end bit-identical
  (docs/reliability.md#exact-resume). Without a graph-level seed
  (tf.set_random_seed; the Estimator sets it from --random_seed) dropout
  stays random as before.
  """
  graph = tf.get_default_graph()
  graph.clear_collection(DROPOUT_STEP)
  graph.add_to_collection(DROPOUT_STEP, tf.cast(step, tf.int64))


def _dropout_seed():
  """The [2] seed of a stateless dropout mask, or None (set_dropout_step)."""
  steps = tf.get_collection(DROPOUT_STEP)
  graph_seed, op_seed = tf.get_seed(None)
  if not steps or graph_seed is None:
    return None
  # Each dropout op has its own op seed (deterministic in graph-building
  # order); several replicas of one step each draw their own masks.
  step = steps[0]
  context = tf.distribute.get_replica_context()
  replicas = context.num_replicas_in_sync if context else 1
  if replicas > 1:
    step = step * replicas + tf.cast(context.replica_id_in_sync_group,
                                     tf.int64)
  first = (graph_seed * 1000003 + op_seed) % (2 ** 31 - 1)
  return tf.stack([tf.constant(first, tf.int64), step])


def dropout(input_tensor, dropout_prob):
  """Dropout at rate `dropout_prob`, as tf.nn.dropout: kept values are
  scaled by 1 / (1 - dropout_prob). Its masks are drawn from the seed and
  the step when the graph has one (set_dropout_step)."""
  if dropout_prob is None or dropout_prob == 0.0:
    return input_tensor
  seed = _dropout_seed()
  if seed is None:
    return tf.nn.dropout(input_tensor, rate=dropout_prob)
  draws = tf.random.stateless_uniform(tf.shape(input_tensor), seed=seed)
  # A select on the boolean mask, not a product with it as floats: the same
  # values (x · 1 and x · 0 are x and 0) and gradients, but backpropagation
  # keeps one byte per value instead of four.
  scaled = input_tensor * tf.cast(1.0 / (1.0 - dropout_prob),
                                  input_tensor.dtype)
  return tf.where(draws >= dropout_prob, scaled, tf.zeros_like(scaled))


def layer_norm(input_tensor, name=None):
  """Layer normalisation over the last axis (variables `beta`, `gamma`).

  Computed in float32 whatever the input type, with epsilon 1e-12 as in
  Google BERT.
  """
  dtype = input_tensor.dtype
  x = tf.cast(input_tensor, tf.float32)
  with tf.variable_scope(name, default_name="LayerNorm"):
    depth = x.shape[-1:]
    beta = tf.get_variable("beta", shape=depth, dtype=tf.float32,
                           initializer=tf.zeros_initializer())
    gamma = tf.get_variable("gamma", shape=depth, dtype=tf.float32,
                            initializer=tf.ones_initializer())
    mean, variance = tf.nn.moments(x, [-1], keep_dims=True)
    normed = (x - mean) * tf.rsqrt(variance + 1e-12)
    return tf.cast(normed * gamma + beta, dtype)


def layer_norm_and_dropout(input_tensor, dropout_prob, name=None):
  return dropout(layer_norm(input_tensor, name), dropout_prob)


def create_initializer(initializer_range=0.02):
  return tf.truncated_normal_initializer(stddev=initializer_range)


def dense(input_tensor, units, activation=None, kernel_initializer=None,
          name=None):
  """A fully-connected layer with variables `<name>/kernel` and `<name>/bias`.

  The variables take the input's dtype, so inside a scope with the
  float32-master-weights getter a half-precision input gets half-precision
  copies of float32 variables.
  """
  input_width = input_tensor.shape[-1]
  with tf.variable_scope(name, default_name="dense"):
    kernel = tf.get_variable("kernel", shape=[input_width, units],
                             dtype=input_tensor.dtype,
                             initializer=kernel_initializer)
    bias = tf.get_variable("bias", shape=[units], dtype=input_tensor.dtype,
                           initializer=tf.zeros_initializer())
    shape = get_shape_list(input_tensor)
    output = tf.matmul(tf.reshape(input_tensor, [-1, shape[-1]]), kernel)
    output = tf.nn.bias_add(output, bias)
    if len(shape) != 2:
      output = tf.reshape(output, shape[:-1] + [units])
    if activation is not None:
      output = activation(output)
    return output


def embedding_lookup(input_ids, vocab_size, embedding_size=128,
                     initializer_range=0.02,
                     word_embedding_name="word_embeddings",
                     use_one_hot_embeddings=False):
  """Looks up word embeddings; returns (output, embedding_table)."""
  embedding_table = tf.get_variable(
      name=word_embedding_name, shape=[vocab_size, embedding_size],
      initializer=create_initializer(initializer_range))
  input_shape = get_shape_list(input_ids)
  flat_ids = tf.reshape(input_ids, [-1])
  if use_one_hot_embeddings:
    output = tf.matmul(tf.one_hot(flat_ids, depth=vocab_size), embedding_table)
  else:
    output = tf.gather(embedding_table, flat_ids)
  output = tf.reshape(output, input_shape + [embedding_size])
  return output, embedding_table


def embedding_postprocessor(input_tensor, token_type_ids,
                            token_type_vocab_size=16,
                            initializer_range=0.02,
                            max_position_embeddings=512, dropout_prob=0.1,
                            use_one_hot_embeddings=False):
  """Adds segment and position embeddings, then layer norm and dropout."""
  batch_size, seq_length, width = get_shape_list(input_tensor, expected_rank=3)
  if isinstance(seq_length, int) and seq_length > max_position_embeddings:
    raise ValueError(
        "Sequence length %d is longer than max_position_embeddings (%d) of "
        "the model config." % (seq_length, max_position_embeddings))
  output = input_tensor

  token_type_table = tf.get_variable(
      name="token_type_embeddings", shape=[token_type_vocab_size, width],
      initializer=create_initializer(initializer_range))
  flat_types = tf.reshape(token_type_ids, [-1])
  if use_one_hot_embeddings:
    type_embeddings = tf.matmul(
        tf.one_hot(flat_types, depth=token_type_vocab_size), token_type_table)
  else:
    type_embeddings = tf.gather(token_type_table, flat_types)
  output += tf.reshape(type_embeddings, [batch_size, seq_length, width])

  full_position_embeddings = tf.get_variable(
      name="position_embeddings", shape=[max_position_embeddings, width],
      initializer=create_initializer(initializer_range))
  # Positions are always 0..seq_length-1, so a slice replaces the lookup.
  position_embeddings = tf.slice(full_position_embeddings, [0, 0],
                                 [seq_length, -1])
  output += tf.expand_dims(position_embeddings, 0)

  return layer_norm_and_dropout(output, dropout_prob)


def create_attention_mask_from_input_mask(from_tensor, to_mask):
  """[batch, from_seq] x [batch, to_seq] mask -> [batch, from_seq, to_seq]."""
  batch_size, from_seq_length = get_shape_list(from_tensor)[:2]
  to_seq_length = get_shape_list(to_mask, expected_rank=2)[1]
  to_mask = tf.cast(tf.reshape(to_mask, [batch_size, 1, to_seq_length]),
                    tf.float32)
  return tf.ones([batch_size, from_seq_length, 1], tf.float32) * to_mask


def attention_layer(from_tensor, to_tensor, attention_mask=None,
                    num_attention_heads=1, size_per_head=512,
                    attention_probs_dropout_prob=0.0, initializer_range=0.02,
                    batch_size=None, from_seq_length=None,
                    to_seq_length=None):
  """Multi-head scaled dot-product attention.

  `from_tensor` and `to_tensor` are 2-D [batch*seq, width] matrices (the
  encoder keeps activations 2-D to avoid reshapes, which are costly on TPU).
  Returns [batch*from_seq, num_heads*size_per_head].
  """
  def split_heads(tensor, seq_length):
    tensor = tf.reshape(tensor, [batch_size, seq_length, num_attention_heads,
                                 size_per_head])
    return tf.transpose(tensor, [0, 2, 1, 3])

  width = num_attention_heads * size_per_head
  initializer = create_initializer(initializer_range)
  query = dense(from_tensor, width, kernel_initializer=initializer,
                name="query")
  key = dense(to_tensor, width, kernel_initializer=initializer, name="key")
  value = dense(to_tensor, width, kernel_initializer=initializer,
                name="value")

  query = split_heads(query, from_seq_length)
  key = split_heads(key, to_seq_length)
  scores = tf.matmul(query, key, transpose_b=True)
  scores = tf.cast(scores, tf.float32) * (1.0 / math.sqrt(float(size_per_head)))
  if attention_mask is not None:
    # 0 for positions to attend, -10000 for masked ones, added before the
    # softmax; the softmax is computed in float32.
    adder = (1.0 - tf.expand_dims(attention_mask, axis=1)) * -10000.0
    scores += adder
  probs = tf.cast(tf.nn.softmax(scores), from_tensor.dtype)
  probs = dropout(probs, attention_probs_dropout_prob)

  context = tf.matmul(probs, split_heads(value, to_seq_length))
  context = tf.transpose(context, [0, 2, 1, 3])
  return tf.reshape(context, [batch_size * from_seq_length, width])


def transformer_model(input_tensor, attention_mask=None, hidden_size=768,
                      num_hidden_layers=12, num_attention_heads=12,
                      intermediate_size=3072, intermediate_act_fn=gelu,
                      hidden_dropout_prob=0.1,
                      attention_probs_dropout_prob=0.1,
                      initializer_range=0.02, do_return_all_layers=False):
  """The Transformer encoder of "Attention is All You Need", post-LN."""
  if hidden_size % num_attention_heads != 0:
    raise ValueError("hidden_size (%d) is not a multiple of "
                     "num_attention_heads (%d)." %
                     (hidden_size, num_attention_heads))
  size_per_head = hidden_size // num_attention_heads
  batch_size, seq_length, input_width = get_shape_list(input_tensor,
                                                       expected_rank=3)
  if input_width != hidden_size:
    raise ValueError("The input width (%d) differs from hidden_size (%d)." %
                     (input_width, hidden_size))
  initializer = create_initializer(initializer_range)

  layer_input = tf.reshape(input_tensor, [-1, hidden_size])
  all_layer_outputs = []
  for layer_idx in range(num_hidden_layers):
    with tf.variable_scope("layer_%d" % layer_idx):
      with tf.variable_scope("attention"):
        with tf.variable_scope("self"):
          attention_output = attention_layer(
              from_tensor=layer_input, to_tensor=layer_input,
              attention_mask=attention_mask,
              num_attention_heads=num_attention_heads,
              size_per_head=size_per_head,
              attention_probs_dropout_prob=attention_probs_dropout_prob,
              initializer_range=initializer_range,
              batch_size=batch_size, from_seq_length=seq_length,
              to_seq_length=seq_length)
        with tf.variable_scope("output"):
          attention_output = dense(attention_output, hidden_size,
                                   kernel_initializer=initializer)
          attention_output = dropout(attention_output, hidden_dropout_prob)
          attention_output = layer_norm(attention_output + layer_input)

      with tf.variable_scope("intermediate"):
        intermediate_output = dense(attention_output, intermediate_size,
                                    activation=intermediate_act_fn,
                                    kernel_initializer=initializer)

      with tf.variable_scope("output"):
        layer_output = dense(intermediate_output, hidden_size,
                             kernel_initializer=initializer)
        layer_output = dropout(layer_output, hidden_dropout_prob)
        layer_output = layer_norm(layer_output + attention_output)
        layer_input = layer_output
        all_layer_outputs.append(
            tf.reshape(layer_output, [batch_size, seq_length, hidden_size]))

  if do_return_all_layers:
    return all_layer_outputs
  return all_layer_outputs[-1]


def get_shape_list(tensor, expected_rank=None, name=None):
  """The tensor's shape: Python ints where static, scalar Tensors otherwise."""
  if expected_rank is not None:
    assert_rank(tensor, expected_rank, name)
  shape = tensor.shape.as_list()
  dynamic = None
  result = []
  for index, dim in enumerate(shape):
    if dim is None:
      if dynamic is None:
        dynamic = tf.shape(tensor)
      dim = dynamic[index]
    result.append(dim)
  return result


def assert_rank(tensor, expected_rank, name=None):
  """Raises ValueError if the tensor's static rank is not as expected."""
  if isinstance(expected_rank, six.integer_types):
    expected_rank = [expected_rank]
  actual_rank = tensor.shape.ndims
  if actual_rank not in expected_rank:
    raise ValueError(
        "Tensor %s has rank %d, expected one of %s (shape %s)." %
        (name or tensor.name, actual_rank, list(expected_rank),
         tensor.shape))
