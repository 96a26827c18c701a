# coding=utf-8
"""Checkpoints read by a run: resolving a path to a checkpoint, reading one
whole, naming its companions (config, vocabulary), and the strict warm
start shared by every script (`init_from_checkpoint`).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import os

import tensorflow.compat.v1 as tf

from lert.contract import atomic_files
from lert.contract import fingerprints
from lert.contract import script_errors
# The saveable state of a dataset iterator, as tf.data's own
# CheckpointInputPipelineHook builds it (one model and input checkpoint pair
# here, instead of its separately timed files).
import lert
import modeling


def resolve_checkpoint(path, what="--init_checkpoint"):
  """The checkpoint prefix for a prefix or a directory holding checkpoints.

  Raises script_errors.InputError naming `what` when there is none.
  """
  if not path:
    raise script_errors.InputError("%s: no checkpoint given." % what)
  if tf.gfile.IsDirectory(path):
    latest = tf.train.latest_checkpoint(path)
    if latest is None:
      if tf.gfile.Exists(os.path.join(path, "config.json")) and any(
          tf.gfile.Exists(os.path.join(path, name))
          for name in ("model.safetensors", "pytorch_model.bin")):
        raise script_errors.InputError(
            "%s: %s is a Hugging Face model directory, not a TensorFlow "
            "checkpoint: convert it first (python convert_checkpoint.py "
            "--direction=hf2tf --input=%s --output_dir=%s_tf) and pass "
            "the converted directory." % (what, path, path,
                                          path.rstrip("/")))
      raise script_errors.InputError(
          "%s: directory %s holds no checkpoint." % (what, path))
    return latest
  if not tf.gfile.Exists(path + ".index"):
    raise script_errors.InputError(
        "%s: %s is not a checkpoint (no %s.index)." % (what, path, path))
  try:
    tf.train.list_variables(path)
  except tf.errors.OpError as e:
    raise _unreadable(what, path, e)
  return path


def _unreadable(what, path, error):
  """The InputError of a checkpoint its reader fails on."""
  # (The reader raises IndexError on TF 2 for a short read: no .message.)
  message = getattr(error, "message", None) or str(error)
  return script_errors.InputError(
      "%s: %s is not a readable checkpoint (truncated or corrupt?): %s" %
      (what, path, message.strip().splitlines()[0]))


def read_whole(prefix, what="--init_checkpoint"):
  """Reads every tensor of a checkpoint, one at a time: a truncated or
  corrupt data file is an InputError naming it (restoring it later fails in
  the middle of a run, with a traceback). Costs one read of the file, which
  the run then finds in the page cache."""
  try:
    reader = tf.train.load_checkpoint(prefix)
    for name in sorted(reader.get_variable_to_shape_map()):
      reader.get_tensor(name)
  except (tf.errors.OpError, IndexError) as e:
    raise _unreadable(what, prefix, e)


def describe_checkpoint(path):
  """An --init_checkpoint as a manifest records it: its absolute prefix and
  its .index file by content (the index holds each tensor's CRC32C, so a
  checkpoint rewritten under the same name is a difference); None for
  none. Resolves `path` (a directory or a prefix) and reads it whole
  first (read_whole), so that a truncated checkpoint is one line before the
  output directory opens."""
  if not path:
    return None
  prefix = resolve_checkpoint(path)
  read_whole(prefix)
  if not atomic_files.is_remote(prefix):
    prefix = os.path.abspath(prefix)
  return collections.OrderedDict([
      ("path", prefix),
      ("index", fingerprints.describe_file(prefix + ".index"))])


def resume_mismatch(model_fn, features, checkpoint):
  """Why a training run of `model_fn` cannot resume from `checkpoint`, or
  None: the first variable of its training graph (the global step and the
  optimizer's slots included) that the checkpoint lacks or holds with
  another shape, or the first the checkpoint holds that the graph has not.

  `features`: the record features (name -> input_pipeline.FeatureSpec) the
  model reads; the graph is built on zeros in a graph of its own (integer
  features as int32, as the input pipeline gives them).
  """
  with tf.Graph().as_default():
    model_fn({name: tf.zeros([1, spec.length], tf.int32 if spec.dtype ==
                             tf.int64 else spec.dtype)
              for name, spec in features.items()}, None,
             tf.estimator.ModeKeys.TRAIN, {})
    wanted = collections.OrderedDict(
        (modeling.variable_name(v), v.shape.as_list())
        for v in tf.global_variables())
  saved = dict(tf.train.list_variables(checkpoint))
  for name, shape in wanted.items():
    if name not in saved:
      return "it has no %s (shape %s), which this run needs" % (name, shape)
    if list(saved[name]) != shape:
      return "it holds %s with shape %s, this run has %s" % (
          name, list(saved[name]), shape)
  for name in sorted(saved):
    if name not in wanted:
      return "it holds %s, which this run has not" % name
  return None


def checkpoint_directory(path):
  """The directory of a checkpoint given as a prefix or a directory."""
  if tf.gfile.IsDirectory(path):
    return path
  return os.path.dirname(os.path.abspath(path))


def checkpoint_companions(checkpoint, config_file=None, vocab_file=None):
  """(config file, vocabulary file) of a checkpoint.

  The given files, else `bert_config.json` and `vocab.txt` beside the
  checkpoint (convert_checkpoint.py writes both); the vocabulary falls back
  to the Chinese BERT one in configs/. Raises InputError when there is no
  config.
  """
  directory = os.path.dirname(checkpoint)
  if not config_file:
    config_file = os.path.join(directory, "bert_config.json")
    if not tf.gfile.Exists(config_file):
      raise script_errors.InputError(
          "Give --bert_config_file: there is no bert_config.json beside %s." %
          checkpoint)
  if not vocab_file:
    vocab_file = os.path.join(directory, "vocab.txt")
    if not tf.gfile.Exists(vocab_file):
      vocab_file = os.path.join(lert.CONFIGS_DIR, "vocab.txt")
  if not tf.gfile.Exists(vocab_file):
    raise script_errors.InputError("Vocabulary %s does not exist." %
                                    vocab_file)
  return config_file, vocab_file


def predict_scaffold_fn(checkpoint):
  """A scaffold_fn that restores a model for prediction from `checkpoint`.

  The Estimator's global step starts at 0 when the checkpoint has none (a
  converted or a Google BERT checkpoint); any other variable the checkpoint
  lacks, or holds with another shape, is an InputError naming it, never a
  silently random weight or a reshape error.
  """
  def scaffold_fn():
    shapes = dict(tf.train.list_variables(checkpoint))
    variables = tf.global_variables()
    restore = [v for v in variables if v.op.name in shapes]
    missing = [v for v in variables if v.op.name not in shapes]
    for variable in missing:
      if variable.op.name != "global_step":
        raise script_errors.InputError(
            "%s lacks the variable %s that the model needs." %
            (checkpoint, variable.op.name))
    for variable in restore:
      want = variable.shape.as_list()
      if list(shapes[variable.op.name]) != want:
        raise script_errors.InputError(
            "%s holds %s with shape %s, the model (its config) needs %s." %
            (checkpoint, variable.op.name, list(shapes[variable.op.name]),
             want))
    uninitialized = tf.report_uninitialized_variables(restore)
    # Not "never used" noise after an error line when the restore fails.
    getattr(uninitialized, "mark_used", lambda: None)()
    return tf.train.Scaffold(
        saver=tf.train.Saver(restore),
        ready_for_local_init_op=uninitialized,
        local_init_op=tf.group(tf.local_variables_initializer(),
                               tf.variables_initializer(missing)))
  return scaffold_fn


def init_from_checkpoint(init_checkpoint, use_tpu, new_by_design=(),
                         optional_group=None):
  """Warm-starts the graph's trainable variables from a Google BERT/LERT
  checkpoint, strictly: a variable that should come from the checkpoint but
  is not in it, or is in it with another shape, is an InputError naming the
  first such variable and both shapes, never a run from random weights.

  Args:
    init_checkpoint: a checkpoint prefix or a directory, or None (nothing is
      loaded: every variable is new).
    use_tpu: return the loading as a scaffold_fn (TPUEstimator) instead of
      loading at once.
    new_by_design: name prefixes of variables that are new by design (a
      task's output layer): loaded when the checkpoint holds them with their
      shape, else freshly initialised and listed.
    optional_group: a function name -> group name or None: a group (a
      pre-training head) that the checkpoint holds no variable of is new;
      one it holds any variable of must load whole. Variables of no group
      (the encoder) must load.

  Returns:
    WarmStart(scaffold_fn or None, loaded names, new names).
  """
  name_to_variable = collections.OrderedDict(
      (modeling.variable_name(v), v) for v in tf.trainable_variables())
  if not init_checkpoint:
    return WarmStart(None, [], list(name_to_variable))
  init_checkpoint = resolve_checkpoint(init_checkpoint)
  shapes = dict(tf.train.list_variables(init_checkpoint))
  group_of = optional_group or (lambda name: None)
  groups_present = {group_of(name) for name in shapes} - {None}
  assignment_map = collections.OrderedDict()
  new = []
  for name, variable in name_to_variable.items():
    want = variable.shape.as_list()
    have = list(shapes[name]) if name in shapes else None
    if have == want:
      assignment_map[name] = name
      continue
    if any(name.startswith(prefix) for prefix in new_by_design):
      new.append(name)
      continue
    group = group_of(name)
    if group is not None and group not in groups_present:
      new.append(name)
      continue
    if have is None:
      raise script_errors.InputError(
          "--init_checkpoint %s lacks %s (shape %s) that the model needs: "
          "is it a checkpoint of this model (--bert_config_file, "
          "--linguistic_tasks)?" % (init_checkpoint, name, want))
    raise script_errors.InputError(
        "--init_checkpoint %s holds %s with shape %s, the model needs %s: "
        "give the config the checkpoint was trained with." % (
            init_checkpoint, name, have, want))

  def scaffold_fn():
    tf.train.init_from_checkpoint(init_checkpoint, assignment_map)
    return tf.train.Scaffold()

  loaded = list(assignment_map)
  tf.logging.info("**** Variables initialised from %s: %d ****",
                  init_checkpoint, len(loaded))
  for name in loaded:
    tf.logging.info("  %s  *INIT_FROM_CKPT*", name)
  tf.logging.info("**** New variables by design (fresh initialisation): %d "
                  "****", len(new))
  for name in new:
    tf.logging.info("  %s  *NEW*", name)
  if use_tpu:
    return WarmStart(scaffold_fn, loaded, new)
  scaffold_fn()
  return WarmStart(None, loaded, new)


# The result of init_from_checkpoint.
WarmStart = collections.namedtuple("WarmStart",
                                   ["scaffold_fn", "loaded", "new"])
