# coding=utf-8
"""The parameters of a LERT/BERT checkpoint: their names, shapes and groups.

The one home of what a checkpoint holds (docs/spec.md §2):

* the variable names of the linguistic heads (`head_variable_name`) and the
  head each variable belongs to (`head_group`, which a warm start uses to
  load a head whole or start it fresh);
* the table of every convertible parameter (`parameter_table`): its TF name,
  its Hugging Face name, whether the Hugging Face tensor is the transpose of
  the TF one, its shape and its group. `convert_checkpoint.py` converts by
  this table and `run_pretraining.py` checks a warm-start checkpoint
  against it;
* which linguistic heads a checkpoint has (`tasks_in_checkpoint`).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections

import tensorflow.compat.v1 as tf

from lert.tagging import linguistic_tags


def head_layer_name(task):
  """The layer of a linguistic head under cls/predictions, e.g.
  output_pos_layer."""
  return "output_%s_layer" % task


def head_variable_name(task):
  """The scope of a linguistic head's variables, e.g.
  cls/predictions/output_pos_layer."""
  return "cls/predictions/" + head_layer_name(task)


def head_group(name):
  """The head a variable belongs to: a linguistic task, "mlm" for the rest of
  cls/predictions, or None (the encoder, and other heads such as Google
  BERT's next-sentence one). A warm start loads a head whole when the
  checkpoint has it, and starts it fresh when it has none of it."""
  for task in linguistic_tags.TASKS:
    if name.startswith(head_variable_name(task) + "/"):
      return task
  return "mlm" if name.startswith("cls/predictions/") else None


# ----------------------------------------------------------------------------
# The table: every parameter's TF and Hugging Face names and shapes.

# One parameter: its TF variable name, its Hugging Face name, whether the HF
# tensor is the transpose of the TF one (dense kernels: TF [in, out],
# torch.nn.Linear [out, in]), its TF shape, and its group: "encoder"
# (required), "pooler", "mlm", "nsp" (optional), or a linguistic task
# (the heads file).
Parameter = collections.namedtuple(
    "Parameter", ["tf_name", "hf_name", "transpose", "shape", "group"])

# Sub-layers of one Transformer layer: TF scope, HF module, kind.
_LAYER_PARTS = (
    ("attention/self/query", "attention.self.query", "dense"),
    ("attention/self/key", "attention.self.key", "dense"),
    ("attention/self/value", "attention.self.value", "dense"),
    ("attention/output/dense", "attention.output.dense", "dense"),
    ("attention/output/LayerNorm", "attention.output.LayerNorm", "norm"),
    ("intermediate/dense", "intermediate.dense", "dense_up"),
    ("output/dense", "output.dense", "dense_down"),
    ("output/LayerNorm", "output.LayerNorm", "norm"),
)


def _dense(tf_scope, hf_module, in_size, out_size, group):
  return [Parameter(tf_scope + "/kernel", hf_module + ".weight", True,
                    [in_size, out_size], group),
          Parameter(tf_scope + "/bias", hf_module + ".bias", False,
                    [out_size], group)]


def _norm(tf_scope, hf_module, size, group):
  return [Parameter(tf_scope + "/gamma", hf_module + ".weight", False,
                    [size], group),
          Parameter(tf_scope + "/beta", hf_module + ".bias", False,
                    [size], group)]


def parameter_table(config, tasks=linguistic_tags.TASKS):
  """Every convertible parameter of a BERT/LERT model of `config`."""
  h, v = config.hidden_size, config.vocab_size
  table = [
      Parameter("bert/embeddings/word_embeddings",
                "bert.embeddings.word_embeddings.weight", False, [v, h],
                "encoder"),
      Parameter("bert/embeddings/position_embeddings",
                "bert.embeddings.position_embeddings.weight", False,
                [config.max_position_embeddings, h], "encoder"),
      Parameter("bert/embeddings/token_type_embeddings",
                "bert.embeddings.token_type_embeddings.weight", False,
                [config.type_vocab_size, h], "encoder"),
  ]
  table += _norm("bert/embeddings/LayerNorm", "bert.embeddings.LayerNorm", h,
                 "encoder")
  for i in range(config.num_hidden_layers):
    tf_prefix = "bert/encoder/layer_%d/" % i
    hf_prefix = "bert.encoder.layer.%d." % i
    for tf_part, hf_part, kind in _LAYER_PARTS:
      if kind == "norm":
        table += _norm(tf_prefix + tf_part, hf_prefix + hf_part, h, "encoder")
      else:
        in_size, out_size = {"dense": (h, h),
                             "dense_up": (h, config.intermediate_size),
                             "dense_down": (config.intermediate_size, h)}[kind]
        table += _dense(tf_prefix + tf_part, hf_prefix + hf_part, in_size,
                        out_size, "encoder")
  table += _dense("bert/pooler/dense", "bert.pooler.dense", h, h, "pooler")
  table += _dense("cls/predictions/transform/dense",
                  "cls.predictions.transform.dense", h, h, "mlm")
  table += _norm("cls/predictions/transform/LayerNorm",
                 "cls.predictions.transform.LayerNorm", h, "mlm")
  table.append(Parameter("cls/predictions/output_bias", "cls.predictions.bias",
                         False, [v], "mlm"))
  # Google BERT's next-sentence head (BERT-wwm checkpoints have it; LERT
  # does not). Google stores its weights [2, H], as torch does.
  table.append(Parameter("cls/seq_relationship/output_weights",
                         "cls.seq_relationship.weight", False, [2, h], "nsp"))
  table.append(Parameter("cls/seq_relationship/output_bias",
                         "cls.seq_relationship.bias", False, [2], "nsp"))
  for task in tasks:
    table += _dense(head_variable_name(task),
                    head_variable_name(task).replace("/", "."), h,
                    linguistic_tags.NUM_TAGS[task], task)
  return table



def tasks_in_checkpoint(checkpoint):
  """The linguistic tasks whose head a checkpoint holds, in docs/spec.md §1
  order."""
  names = {name for name, _ in tf.train.list_variables(checkpoint)}
  return [task for task in linguistic_tags.TASKS
          if head_variable_name(task) + "/kernel" in names]
