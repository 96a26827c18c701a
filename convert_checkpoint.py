# coding=utf-8
r"""Converts LERT/BERT checkpoints between TensorFlow and Hugging Face.

TF -> Hugging Face (`--direction=tf2hf`): a directory that
`transformers.BertForMaskedLM.from_pretrained` loads:

  config.json                    the BERT config (architectures BertForMaskedLM)
  vocab.txt, tokenizer_config.json
  model.safetensors              encoder, pooler and MLM head (no PyTorch)
  linguistic_heads.safetensors   the POS/NER/DEP heads, when the checkpoint
                                 has them, with their tag lists as metadata

Hugging Face -> TF (`--direction=hf2tf`): reads `model.safetensors` (or
`pytorch_model.bin` when PyTorch is installed) and `config.json`, and writes
`model.ckpt` with Google BERT's variable names plus `bert_config.json` (and
`vocab.txt` when the input has one); the linguistic heads come back when
`linguistic_heads.safetensors` is there.

Every parameter is converted by the explicit table of `parameter_table`
(TF name, Hugging Face name, whether the kernel is transposed); anything
else is an error, except optimizer state (Adam moments, the global step,
loss scale), which is never exported. Every file is written atomically
(atomic_files.atomic_path); the output directory is locked for the run, records
what was converted, and may not hold the input.

Examples:

  python convert_checkpoint.py --direction=tf2hf \
    --input=lert_base/model.ckpt-2000000 \
    --bert_config_file=configs/lert_config_base.json \
    --vocab_file=configs/vocab.txt --output_dir=lert_base_hf

  python convert_checkpoint.py --direction=hf2tf \
    --input=chinese-lert-base --output_dir=lert_base_tf
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import json
import os
import re
import shutil

from absl import app
from absl import flags
import numpy as np
import tensorflow.compat.v1 as tf

from lert.contract import atomic_files
from lert.contract import fingerprints
from lert.contract import outputs
from lert.contract import script_errors
from lert.contract import script_flags
from lert.model import checkpoint_parameters
from lert.running import checkpoints
from lert.running import input_pipeline
from lert.tagging import linguistic_tags
import modeling

FLAGS = flags.FLAGS

HEADS_FILE = "linguistic_heads.safetensors"
WEIGHTS_FILE = "model.safetensors"
TORCH_WEIGHTS_FILE = "pytorch_model.bin"

# TF checkpoint entries that are training state, never exported.
_TRAINING_STATE = re.compile(
    r"(^global_step$|/adam_[mv]$|gradient_accumulat|^loss_scale/|"
    r"^AdamWeightDecayOptimizer|^LAMBOptimizer)")
# Hugging Face entries that are no parameters of their own: a buffer, and
# the MLM decoder tied to the word embeddings and to cls.predictions.bias.
_HF_TIED = {"cls.predictions.decoder.weight":
                "bert.embeddings.word_embeddings.weight",
            "cls.predictions.decoder.bias": "cls.predictions.bias"}
_HF_BUFFERS = ("bert.embeddings.position_ids",)


class ConversionError(script_errors.InputError):
  """A checkpoint that cannot be converted; the message names the problem."""


# ----------------------------------------------------------------------------
# Configs.

_BERT_KEYS = ("vocab_size", "hidden_size", "num_hidden_layers",
              "num_attention_heads", "intermediate_size", "hidden_act",
              "hidden_dropout_prob", "attention_probs_dropout_prob",
              "max_position_embeddings", "type_vocab_size",
              "initializer_range")


def hf_config_dict(config):
  """The Hugging Face config.json of a BertConfig."""
  values = collections.OrderedDict()
  values["architectures"] = ["BertForMaskedLM"]
  values["model_type"] = "bert"
  for key in _BERT_KEYS:
    values[key] = getattr(config, key)
  values["layer_norm_eps"] = 1e-12  # modeling.layer_norm's epsilon
  values["position_embedding_type"] = "absolute"
  values["pad_token_id"] = 0
  return values


def bert_config_from_hf(values, source):
  """A BertConfig from a Hugging Face config.json; refuses what modeling.py
  cannot reproduce."""
  if values.get("model_type", "bert") != "bert":
    raise ConversionError("%s: model_type is %r; only BERT models convert." %
                          (source, values.get("model_type")))
  if values.get("position_embedding_type", "absolute") != "absolute":
    raise ConversionError("%s: position_embedding_type %r is not BERT's "
                          "absolute positions." %
                          (source, values["position_embedding_type"]))
  eps = values.get("layer_norm_eps", 1e-12)
  if abs(eps - 1e-12) > 1e-15:
    raise ConversionError("%s: layer_norm_eps is %g; modeling.py uses BERT's "
                          "1e-12." % (source, eps))
  missing = [key for key in _BERT_KEYS if key not in values]
  if missing:
    raise ConversionError("%s lacks %s." % (source, ", ".join(missing)))
  return modeling.BertConfig.from_dict(
      {key: values[key] for key in _BERT_KEYS}, source=source)


# ----------------------------------------------------------------------------
# Reading and checking.


def _check_shape(name, value, expected, source):
  if list(value.shape) != list(expected):
    raise ConversionError("%s: %s has shape %s but the config says %s." %
                          (source, name, list(value.shape), list(expected)))


def read_tf_checkpoint(checkpoint, config):
  """name -> float32 array of the model parameters of a TF checkpoint.

  Training state is left out; an unknown variable or a missing encoder
  parameter is an error.
  """
  table = {p.tf_name: p for p in checkpoint_parameters.parameter_table(config)}
  try:
    reader = tf.train.load_checkpoint(checkpoint)
    names = sorted(reader.get_variable_to_shape_map())
  except tf.errors.OpError as e:
    raise ConversionError("%s is not a readable checkpoint (truncated?): %s"
                          % (checkpoint, e.message.splitlines()[0]))
  values = {}
  for name in names:
    if _TRAINING_STATE.search(name):
      continue
    if name not in table:
      raise ConversionError(
          "%s: variable %s is no parameter of a BERT/LERT pre-training model "
          "(a fine-tuned checkpoint's task head does not convert)." %
          (checkpoint, name))
    try:
      value = reader.get_tensor(name)
    except (tf.errors.OpError, IndexError, ValueError) as e:
      # TensorFlow 2 raises IndexError for a short read, 1.15 an OpError.
      raise ConversionError("%s: variable %s cannot be read (a truncated "
                            "checkpoint?): %s" % (
                                checkpoint, name,
                                str(getattr(e, "message", e)).splitlines()[0]))
    _check_shape(name, value, table[name].shape, checkpoint)
    values[name] = value.astype(np.float32)
  _check_complete(values, table.values(), "tf_name", checkpoint)
  return values


def _check_complete(values, table, field, source):
  missing = [getattr(p, field) for p in table
             if p.group == "encoder" and getattr(p, field) not in values]
  if missing:
    raise ConversionError("%s lacks %d encoder parameters, e.g. %s." %
                          (source, len(missing), missing[0]))
  for group in ["pooler", "mlm", "nsp"] + list(linguistic_tags.TASKS):
    names = [getattr(p, field) for p in table if p.group == group]
    present = [name for name in names if name in values]
    if present and len(present) != len(names):
      raise ConversionError("%s has only part of the %s parameters: %s is "
                            "missing." % (source, group,
                                          sorted(set(names) - set(present))[0]))


def _normalise_hf_name(name):
  """Accepts BertModel's unprefixed names and old gamma/beta spellings."""
  if name.split(".")[0] in ("embeddings", "encoder", "pooler"):
    name = "bert." + name
  return re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight",
                re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", name))


def _unreadable(path, kind, error):
  """The ConversionError of a weights file its reader fails on (a garbage
  or truncated file)."""
  return ConversionError("%s is not a readable %s file (%s: %s)." %
                         (path, kind, type(error).__name__, error))


def _load_hf_file(path):
  if path.endswith(".safetensors"):
    from safetensors import numpy as safetensors_numpy
    try:
      return safetensors_numpy.load_file(path)
    except TypeError as e:  # bfloat16 has no NumPy type
      raise ConversionError("%s: %s (convert bfloat16 weights to float32 "
                            "first)." % (path, e))
    except Exception as e:
      raise _unreadable(path, "safetensors", e)
  try:
    import torch
  except ImportError:
    raise ConversionError("%s needs PyTorch to read; install torch, or give "
                          "a directory with %s." % (path, WEIGHTS_FILE))
  try:
    state = torch.load(path, map_location="cpu", weights_only=True)
  except Exception as e:
    raise _unreadable(path, "PyTorch", e)
  return {name: tensor.float().numpy() for name, tensor in state.items()}


def read_hf_directory(directory):
  """(BertConfig, name -> array in HF layout, heads name -> array, vocab path
  or None) of a Hugging Face BERT directory."""
  config_path = os.path.join(directory, "config.json")
  if not os.path.isfile(config_path):
    raise ConversionError("%s has no config.json." % directory)
  with open(config_path) as f:
    try:
      values = json.load(f)
    except ValueError as e:
      raise ConversionError("%s is not valid JSON: %s" % (config_path, e))
  config = bert_config_from_hf(values, config_path)
  weights_path = os.path.join(directory, WEIGHTS_FILE)
  if not os.path.isfile(weights_path):
    weights_path = os.path.join(directory, TORCH_WEIGHTS_FILE)
    if not os.path.isfile(weights_path):
      raise ConversionError("%s has neither %s nor %s." %
                            (directory, WEIGHTS_FILE, TORCH_WEIGHTS_FILE))
  weights = {_normalise_hf_name(name): value
             for name, value in _load_hf_file(weights_path).items()}
  heads = {}
  heads_path = os.path.join(directory, HEADS_FILE)
  if os.path.isfile(heads_path):
    heads = read_heads_file(heads_path)
  vocab = os.path.join(directory, "vocab.txt")
  return config, weights, heads, (vocab if os.path.isfile(vocab) else None)


def read_heads_file(path):
  """The linguistic heads, after checking their tag lists against
  docs/spec.md §1."""
  from safetensors import safe_open
  try:
    with safe_open(path, framework="numpy") as f:
      metadata = f.metadata() or {}
      heads = {name: f.get_tensor(name) for name in f.keys()}
  except Exception as e:
    raise _unreadable(path, "safetensors", e)
  for task in linguistic_tags.TASKS:
    hf_kernel = (checkpoint_parameters.head_variable_name(task)
                 .replace("/", ".") + ".weight")
    if hf_kernel not in heads:
      continue
    try:
      tags = json.loads(metadata.get(task + "_tags", "null"))
    except ValueError:
      tags = metadata.get(task + "_tags")
    if tags != list(linguistic_tags.TAGS_BY_TASK[task]):
      raise ConversionError(
          "%s: the %s tags in its metadata %s are not those of docs/spec.md "
          "§1 %s." % (path, task.upper(), tags,
                      list(linguistic_tags.TAGS_BY_TASK[task])))
  return heads


def hf_to_tf_values(config, weights, heads, source):
  """TF name -> array from Hugging Face tensors, by the table."""
  table = checkpoint_parameters.parameter_table(config)
  by_hf = {p.hf_name: p for p in table}
  for name, target in _HF_TIED.items():
    if name in weights and target in weights and not np.array_equal(
        weights[name], weights[target]):
      raise ConversionError("%s: %s differs from %s; LERT ties them." %
                            (source, name, target))
  values = {}
  for name, value in list(weights.items()) + list(heads.items()):
    if name in _HF_TIED or name in _HF_BUFFERS:
      continue
    if name not in by_hf:
      raise ConversionError("%s: parameter %s is no parameter of a BERT/LERT "
                            "model (a task head does not convert)." %
                            (source, name))
    parameter = by_hf[name]
    value = np.asarray(value, dtype=np.float32)
    # Checked in the file's own layout, so that the message reads true.
    _check_shape(name, value, parameter.shape[::-1] if parameter.transpose
                 else parameter.shape, source)
    if parameter.transpose:
      value = value.T
    values[parameter.tf_name] = np.ascontiguousarray(value)
  _check_complete(values, table, "tf_name", source)
  return values


# ----------------------------------------------------------------------------
# Writing.


def write_hf_directory(values, config, vocab_file, output_dir):
  """Writes the Hugging Face directory; returns the tasks of the heads."""
  from safetensors import numpy as safetensors_numpy
  model, heads = {}, {}
  tasks = []
  for parameter in checkpoint_parameters.parameter_table(config):
    if parameter.tf_name not in values:
      continue
    value = values[parameter.tf_name]
    value = np.ascontiguousarray(value.T if parameter.transpose else value)
    if parameter.group in linguistic_tags.TASKS:
      heads[parameter.hf_name] = value
      if parameter.group not in tasks:
        tasks.append(parameter.group)
    else:
      model[parameter.hf_name] = value
  atomic_files.write_text(os.path.join(output_dir, "config.json"),
                          json.dumps(hf_config_dict(config), indent=2) + "\n")
  _copy(vocab_file, os.path.join(output_dir, "vocab.txt"))
  atomic_files.write_text(os.path.join(output_dir, "tokenizer_config.json"),
                          json.dumps({"tokenizer_class": "BertTokenizer",
                                      "do_lower_case": True,
                                      "model_max_length":
                                     config.max_position_embeddings},
                                     indent=2) + "\n")
  # transformers refuses safetensors files without format metadata.
  with atomic_files.atomic_path(os.path.join(output_dir, WEIGHTS_FILE)) as temp:
    safetensors_numpy.save_file(model, temp, metadata={"format": "pt"})
  heads_path = os.path.join(output_dir, HEADS_FILE)
  if heads:
    metadata = {"format": "pt", "tasks": ",".join(tasks),
                "input": "cls.predictions.transform(hidden_states)",
                "logits": "input @ weight.T + bias"}
    for task in tasks:
      metadata[task + "_tags"] = json.dumps(
          list(linguistic_tags.TAGS_BY_TASK[task]), ensure_ascii=False)
    with atomic_files.atomic_path(heads_path) as temp:
      safetensors_numpy.save_file(heads, temp, metadata=metadata)
  elif os.path.exists(heads_path):  # an earlier run's, of another input
    os.remove(heads_path)
  return tasks


def _copy(source, target):
  with atomic_files.atomic_path(target) as temp:
    shutil.copyfile(source, temp)


def write_tf_checkpoint(values, config, output_dir, vocab_file=None):
  """Writes model.ckpt and bert_config.json; returns the checkpoint path."""
  with tf.Graph().as_default():
    variables = {name: tf.get_variable(name, shape=value.shape,
                                       dtype=tf.float32)
                 for name, value in sorted(values.items())}
    saver = tf.train.Saver(variables, save_relative_paths=True)
    with tf.Session() as sess:
      for name, variable in variables.items():
        # Fed, not baked into the graph (which is limited to 2 GB).
        value = tf.placeholder(tf.float32, variable.shape)
        sess.run(variable.assign(value), {value: values[name]})
      # The saver writes model.ckpt.{index,data-*} and `checkpoint` under
      # temporary names of its own and renames them when complete.
      saver.save(sess, os.path.join(output_dir, "model.ckpt"),
                 write_meta_graph=False)
  atomic_files.write_text(os.path.join(output_dir, "bert_config.json"),
                          config.to_json_string())
  if vocab_file:
    _copy(vocab_file, os.path.join(output_dir, "vocab.txt"))
  return os.path.join(output_dir, "model.ckpt")


# ----------------------------------------------------------------------------
# The script.


def define_flags(flag_values=FLAGS):
  define = script_flags.FlagDefiner(flag_values)
  define.enum("direction", None, ["tf2hf", "hf2tf"],
              "tf2hf: TF checkpoint -> Hugging Face directory; hf2tf: "
              "Hugging Face directory -> TF checkpoint.")
  define.string("input", None,
                "tf2hf: a checkpoint prefix or a directory holding "
                "checkpoints (the latest is used); hf2tf: a Hugging "
                "Face model directory.")
  define.string("output_dir", None,
                "Directory to write (created). It is locked while the "
                "conversion runs and records its input in "
                "lert_run.json; it may hold no input.")
  define.string("bert_config_file", None,
                "tf2hf: the model config (default: bert_config.json "
                "beside the checkpoint).")
  define.string("vocab_file", None,
                "tf2hf: the vocabulary to ship (default: vocab.txt "
                "beside the checkpoint, else configs/vocab.txt).")
  define.bool("overwrite", False,
              "Replace the files of an earlier conversion of another "
              "input in --output_dir (only the files this script "
              "writes).")
  define.required("direction", "input", "output_dir")
  for name in ("bert_config_file", "vocab_file"):
    # hf2tf takes both from the Hugging Face directory: a flag it would
    # ignore is an error.
    define.multi_validator(
        ["direction", name],
        lambda v, n=name: v["direction"] != "hf2tf" or v[n] is None,
        message="--%s is for --direction=tf2hf: hf2tf takes the config and "
        "the vocabulary from the Hugging Face directory (--input)." % name)


def tf_to_hf(checkpoint, config_file, vocab_file, output_dir, overwrite=False):
  checkpoint = checkpoints.resolve_checkpoint(checkpoint, "--input")
  config_file, vocab_file = checkpoints.checkpoint_companions(
      checkpoint, config_file, vocab_file)
  config = modeling.BertConfig.from_json_file(config_file)
  values = read_tf_checkpoint(checkpoint, config)
  with output_directory(output_dir, "tf2hf", checkpoint,
                        [checkpoints.checkpoint_directory(checkpoint),
                         config_file, vocab_file], overwrite):
    tasks = write_hf_directory(values, config, vocab_file, output_dir)
  return checkpoint, len(values), tasks


# What the conversions write (all that --overwrite removes).
HF_OUTPUTS = ("config.json", "vocab.txt", "tokenizer_config.json",
              WEIGHTS_FILE, HEADS_FILE, "*.tmp")
TF_OUTPUTS = ("model.ckpt.*", "checkpoint", "bert_config.json", "vocab.txt",
              "*.tmp", "*_temp*")


def output_directory(output_dir, direction, source, inputs, overwrite):
  """The outputs.OutputDirectory of a conversion: it may not hold, or lie
  in, an input; a conversion of another input is refused unless
  --overwrite, which removes only the files a conversion writes."""
  fingerprints.check_not_input(output_dir, inputs)
  return outputs.OutputDirectory(
      output_dir, "convert_checkpoint.py",
      {"direction": direction, "input": fingerprints.describe_file(
          source + ".index" if direction == "tf2hf" else
          os.path.join(source, "config.json"))},
      HF_OUTPUTS if direction == "tf2hf" else TF_OUTPUTS, inputs=inputs,
      overwrite=overwrite)


def hf_to_tf(directory, output_dir, overwrite=False):
  if not os.path.isdir(directory):
    raise ConversionError("%s is not a directory." % directory)
  config, weights, heads, vocab = read_hf_directory(directory)
  values = hf_to_tf_values(config, weights, heads, directory)
  with output_directory(output_dir, "hf2tf", directory, [directory],
                        overwrite):
    path = write_tf_checkpoint(values, config, output_dir, vocab)
  tasks = [task for task in linguistic_tags.TASKS
           if (checkpoint_parameters.head_variable_name(task) + "/kernel"
               in values)]
  return path, len(values), tasks


def convert():
  """Converts as the flags say and reports what was converted."""
  if FLAGS.direction == "tf2hf":
    source, count, tasks = tf_to_hf(FLAGS.input, FLAGS.bert_config_file,
                                    FLAGS.vocab_file, FLAGS.output_dir,
                                    FLAGS.overwrite)
    target = FLAGS.output_dir
  else:
    target, count, tasks = hf_to_tf(FLAGS.input, FLAGS.output_dir,
                                    FLAGS.overwrite)
    source = FLAGS.input
  print("Converted %d parameters from %s to %s; linguistic heads: %s." %
        (count, source, target, ",".join(tasks) or "none"))


def main(_):
  script_errors.run_reporting_errors(convert, "convert_checkpoint.py",
                                     input_pipeline.tensorflow_problem)


if __name__ == "__main__":
  define_flags()
  app.run(main)
