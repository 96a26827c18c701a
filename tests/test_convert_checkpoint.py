# coding=utf-8
"""convert_checkpoint.py: TF <-> Hugging Face, checked against transformers."""

import json
import os
import pytest
import convert_checkpoint
from conftest import run_script
from conftest import tiny_config, write_config
from pretraining_helpers import build_model_fn, constant_features, fixed_batch
from pretraining_helpers import train_tiny_checkpoint

import numpy as np
import tensorflow.compat.v1 as tf

from lert.contract import script_errors
from lert.model import checkpoint_parameters
from lert.pretraining_data import synthetic_data

safetensors = pytest.importorskip(
    "safetensors", reason="safetensors is installed in the TF 2.15 env only")

SEQ, PRED, VOCAB = 16, 4, 150
EVAL = tf.estimator.ModeKeys.EVAL
TASKS = ("pos", "ner", "dep")


def _records(directory):
  os.makedirs(str(directory))
  path = os.path.join(str(directory), "train.tfrecord")
  synthetic_data.write_synthetic_records(path, 16, SEQ, PRED, VOCAB, seed=0,
                                         missing_label_rate=0.2)
  return [path]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """Tiny checkpoints trained a few steps, without and with accumulation."""
  root = tmp_path_factory.mktemp("trained")
  records = _records(root / "data")
  config = tiny_config(VOCAB)
  config_file = write_config(str(root / "bert_config.json"), config)
  checkpoints = {}
  for accumulation in (1, 2):
    with tf.Graph().as_default():
      checkpoints[accumulation] = train_tiny_checkpoint(
          str(root / ("model-%d" % accumulation)), records, config,
          steps=3, gradient_accumulation_steps=accumulation)
  with tf.Graph().as_default():  # MLM only, with accumulation
    checkpoints["mlm"] = train_tiny_checkpoint(
        str(root / "model-mlm"), records, config, tasks=(), steps=3,
        gradient_accumulation_steps=2)
  return config, config_file, checkpoints


def model_values(checkpoint):
  """The model parameters of a checkpoint (no optimizer state)."""
  reader = tf.train.load_checkpoint(checkpoint)
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if not convert_checkpoint._TRAINING_STATE.search(name)}


def tf_logits(config, checkpoint, batch, tasks=TASKS):
  """name -> logits of the TF model in eval mode, [batch*P, classes]."""
  with tf.Graph().as_default():
    build_model_fn(config, tasks=tasks)(constant_features(batch), None, EVAL,
                                        {})
    graph = tf.get_default_graph()
    fetch = {name: graph.get_tensor_by_name(name + "_logits:0")
             for name in ("mlm",) + tuple(tasks)}
    with tf.Session() as sess:
      saved = {name for name, _ in tf.train.list_variables(checkpoint)}
      # A BertForMaskedLM has no pooler, which the logits do not use.
      tf.train.Saver([v for v in tf.trainable_variables()
                      if v.op.name in saved]).restore(sess, checkpoint)
      return sess.run(fetch)


def hf_outputs(model, batch):
  """MLM logits and transformed hidden states at the masked positions."""
  import torch
  with torch.no_grad():
    out = model(input_ids=torch.tensor(batch["input_ids"]).long(),
                attention_mask=torch.tensor(batch["input_mask"]).long(),
                token_type_ids=torch.tensor(batch["segment_ids"]).long(),
                output_hidden_states=True)
    index = torch.tensor(batch["masked_lm_positions"]).long()
    rows = torch.arange(index.shape[0])[:, None]
    scores = getattr(out, "logits", None)
    if scores is None:  # BertForPreTraining
      scores = out.prediction_logits
    logits = scores[rows, index].reshape(-1, scores.shape[-1])
    hidden = out.hidden_states[-1][rows, index]
    transformed = model.cls.predictions.transform(hidden)
    return logits.numpy(), transformed.reshape(-1, hidden.shape[-1]).numpy()


def convert(*args):
  return run_script("convert_checkpoint.py", *args)


@pytest.mark.slow
@pytest.mark.parametrize("accumulation", [1, 2])
def test_round_trip_tf_hf_tf_is_bit_exact(trained, tmp_path, accumulation):
  config, config_file, checkpoints = trained
  hf_dir, tf_dir = str(tmp_path / "hf"), str(tmp_path / "tf")
  result = convert("--direction=tf2hf", "--input=" + checkpoints[accumulation],
                   "--bert_config_file=" + config_file,
                   "--output_dir=" + hf_dir)
  assert result.returncode == 0, result.stderr
  assert sorted(os.listdir(hf_dir)) == [
      "config.json", "lert_run.json", "linguistic_heads.safetensors",
      "model.safetensors", "tokenizer_config.json", "vocab.txt"]
  result = convert("--direction=hf2tf", "--input=" + hf_dir,
                   "--output_dir=" + tf_dir)
  assert result.returncode == 0, result.stderr

  before = model_values(checkpoints[accumulation])
  after = model_values(os.path.join(tf_dir, "model.ckpt"))
  assert sorted(after) == sorted(before)
  # embeddings, layers, pooler, MLM, heads
  assert len(before) == 5 + 16 * 2 + 2 + 5 + 6
  for name in before:
    assert after[name].dtype == before[name].dtype, name
    np.testing.assert_array_equal(after[name], before[name], err_msg=name)
  # Training state is never exported.
  exported = safetensors.safe_open(os.path.join(hf_dir, "model.safetensors"),
                                   "numpy").keys()
  assert not [n for n in exported if "adam" in n or "accumul" in n or
              "global_step" in n]
  with open(os.path.join(tf_dir, "bert_config.json")) as f:
    assert json.load(f)["hidden_size"] == 32


@pytest.mark.slow
def test_accumulation_leaves_no_accumulator_in_checkpoints(trained):
  _, _, checkpoints = trained
  names = [name for checkpoint in (checkpoints[2], checkpoints["mlm"])
           for name, _ in tf.train.list_variables(checkpoint)]
  assert not [name for name in names if "accumul" in name]
  assert "bert/embeddings/word_embeddings/adam_m" in names  # a training one


@pytest.mark.parametrize("accumulation", [1, 2])
def test_exported_directory_gives_tf_logits_in_transformers(
    trained, tmp_path, accumulation):
  transformers = pytest.importorskip("transformers")
  config, config_file, checkpoints = trained
  hf_dir = str(tmp_path / "hf")
  convert_checkpoint.tf_to_hf(checkpoints[accumulation], config_file, None,
                              hf_dir)
  model, info = transformers.BertForMaskedLM.from_pretrained(
      hf_dir, output_loading_info=True)
  model.eval()
  assert info["missing_keys"] == []
  # BertForMaskedLM has no pooler; the file keeps it for BertModel users.
  assert sorted(info["unexpected_keys"]) == ["bert.pooler.dense.bias",
                                             "bert.pooler.dense.weight"]
  batch = fixed_batch(VOCAB, batch_size=3, max_seq_length=SEQ,
                      max_predictions_per_seq=PRED, seed=5)
  expected = tf_logits(config, checkpoints[accumulation], batch)
  mlm, transformed = hf_outputs(model, batch)
  assert np.abs(mlm - expected["mlm"]).max() < 1e-4
  heads = safetensors.safe_open(
      os.path.join(hf_dir, "linguistic_heads.safetensors"), "numpy")
  for task in TASKS:
    prefix = "cls.predictions.output_%s_layer." % task
    logits = (transformed @ heads.get_tensor(prefix + "weight").T +
              heads.get_tensor(prefix + "bias"))
    assert np.abs(logits - expected[task]).max() < 1e-4, task
  assert json.loads(heads.metadata()["ner_tags"])[:3] == ["O", "S-Ns", "S-Nh"]


def test_huggingface_tf_loader_reads_accumulation_checkpoint(trained):
  """Hugging Face's own TF loader reads an MLM-only checkpoint trained with
  accumulation correctly (it would write `<var>/gradient_accumulator` over
  `<var>` if the checkpoint had it). It cannot read the linguistic heads:
  it writes `output_*_layer/bias` over `cls.predictions.bias`; that is what
  convert_checkpoint.py is for."""
  transformers = pytest.importorskip("transformers")
  from transformers.models.bert import modeling_bert
  config, _, checkpoints = trained
  hf_config = transformers.BertConfig(
      **convert_checkpoint.hf_config_dict(config))
  # BertForPreTraining: the model class that has a pooler, as our and
  # Google's checkpoints do.
  model = transformers.BertForPreTraining(hf_config)
  modeling_bert.load_tf_weights_in_bert(model, hf_config, checkpoints["mlm"])
  model.tie_weights()
  model.eval()
  batch = fixed_batch(VOCAB, batch_size=2, max_seq_length=SEQ,
                      max_predictions_per_seq=PRED, seed=6)
  mlm, _ = hf_outputs(model, batch)
  expected = tf_logits(config, checkpoints["mlm"], batch, tasks=())["mlm"]
  assert np.abs(mlm - expected).max() < 1e-4


@pytest.mark.parametrize("safe_serialization", [True, False])
def test_model_saved_by_transformers_converts_to_the_same_tf_model(
    tmp_path, safe_serialization):
  """hf2tf checked independently: a BertForMaskedLM that transformers itself
  saved gives the same MLM logits in our TF model."""
  transformers = pytest.importorskip("transformers")
  pytest.importorskip("torch")
  import torch
  torch.manual_seed(0)
  config = tiny_config(VOCAB)
  hf_config = transformers.BertConfig(
      **convert_checkpoint.hf_config_dict(config))
  model = transformers.BertForMaskedLM(hf_config)
  with torch.no_grad():  # a non-zero MLM bias, so that it is checked too
    model.cls.predictions.bias.normal_()
  model.eval()
  hf_dir = str(tmp_path / "hf")
  model.save_pretrained(hf_dir, safe_serialization=safe_serialization)
  checkpoint, count, tasks = convert_checkpoint.hf_to_tf(
      hf_dir, str(tmp_path / "tf"))
  assert tasks == [] and count == 5 + 16 * 2 + 5  # BertForMaskedLM: no pooler
  batch = fixed_batch(VOCAB, batch_size=2, max_seq_length=SEQ,
                      max_predictions_per_seq=PRED, seed=7)
  expected, _ = hf_outputs(model, batch)
  got = tf_logits(config, checkpoint, batch, tasks=())["mlm"]
  assert np.abs(got - expected).max() < 1e-4


def _hf_dir(trained, tmp_path):
  config, config_file, checkpoints = trained
  hf_dir = str(tmp_path / "hf")
  convert_checkpoint.tf_to_hf(checkpoints[1], config_file, None, hf_dir)
  return hf_dir


def _edit_weights(hf_dir, edit):
  from safetensors import numpy as safetensors_numpy
  path = os.path.join(hf_dir, "model.safetensors")
  weights = safetensors_numpy.load_file(path)
  edit(weights)
  safetensors_numpy.save_file(weights, path, metadata={"format": "pt"})


@pytest.mark.parametrize("case,message", [
    ("no_config", "has no config.json"),
    ("no_weights", "has neither model.safetensors nor pytorch_model.bin"),
    ("shape", "bert.encoder.layer.1.intermediate.dense.weight has shape "
              "[32, 32] but the config says [64, 32]"),
    ("unknown", "parameter classifier.weight is no parameter"),
    ("missing", "lacks 1 encoder parameters, e.g. "
                "bert/encoder/layer_0/output/LayerNorm/beta"),
    ("bad_tags", "the NER tags in its metadata"),
])
def test_hf2tf_errors_name_the_problem_and_leave_nothing(trained, tmp_path,
                                                         case, message):
  hf_dir = _hf_dir(trained, tmp_path)
  if case == "no_config":
    os.remove(os.path.join(hf_dir, "config.json"))
  elif case == "no_weights":
    os.remove(os.path.join(hf_dir, "model.safetensors"))
  elif case == "shape":
    _edit_weights(hf_dir, lambda w: w.update({
        "bert.encoder.layer.1.intermediate.dense.weight": np.zeros(
            (32, 32), np.float32)}))
  elif case == "unknown":
    _edit_weights(hf_dir, lambda w: w.update(
        {"classifier.weight": np.zeros((2, 32), np.float32)}))
  elif case == "missing":
    _edit_weights(hf_dir, lambda w: w.pop(
        "bert.encoder.layer.0.output.LayerNorm.bias"))
  elif case == "bad_tags":
    from safetensors import numpy as safetensors_numpy
    path = os.path.join(hf_dir, "linguistic_heads.safetensors")
    with safetensors.safe_open(path, "numpy") as f:
      metadata = f.metadata()
      heads = {name: f.get_tensor(name) for name in f.keys()}
    metadata["ner_tags"] = json.dumps(["O", "S-Nh", "S-Ns"] +
                                      json.loads(metadata["ner_tags"])[3:])
    safetensors_numpy.save_file(heads, path, metadata=metadata)
  output_dir = str(tmp_path / "out")
  result = convert("--direction=hf2tf", "--input=" + hf_dir,
                   "--output_dir=" + output_dir)
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("convert_checkpoint.py: error: ")
  assert message in last
  assert not os.path.exists(output_dir)
  assert not [n for n in os.listdir(str(tmp_path)) if ".tmp-" in n]


def test_tf2hf_errors_on_unknown_variable_and_wrong_config(trained, tmp_path):
  config, config_file, checkpoints = trained
  # A fine-tuned checkpoint's task head is no LERT parameter.
  with tf.Graph().as_default():
    tf.get_variable("output_weights", [2, 32])
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      other = tf.train.Saver().save(sess, str(tmp_path / "ft" / "model.ckpt"))
  with pytest.raises(convert_checkpoint.ConversionError,
                     match="variable output_weights is no parameter"):
    convert_checkpoint.tf_to_hf(other, config_file, None,
                                str(tmp_path / "a"))
  wrong = write_config(str(tmp_path / "wrong.json"),
                       tiny_config(VOCAB, intermediate_size=48))
  with pytest.raises(convert_checkpoint.ConversionError,
                     match=r"layer_0/intermediate/dense/bias has shape \[64\] "
                     r"but the config says \[48\]"):
    convert_checkpoint.tf_to_hf(checkpoints[1], wrong, None,
                                str(tmp_path / "b"))
  assert not os.path.exists(str(tmp_path / "a"))
  assert not os.path.exists(str(tmp_path / "b"))
  # A user's file in the output directory is left alone; a conversion of
  # another input into it is refused, and --overwrite replaces only what a
  # conversion writes.
  c = str(tmp_path / "c")
  os.makedirs(c)
  open(os.path.join(c, "keep.txt"), "w").close()
  convert_checkpoint.tf_to_hf(checkpoints[1], config_file, None, c)
  with pytest.raises(script_errors.InputError,
                     match=r"c was written with input = .*--overwrite"):
    convert_checkpoint.tf_to_hf(checkpoints[2], config_file, None, c)
  convert_checkpoint.tf_to_hf(checkpoints[2], config_file, None, c,
                              overwrite=True)
  assert "keep.txt" in os.listdir(c)
  assert not [n for n in os.listdir(c) if "tmp" in n or "lock" in n]


@pytest.mark.slow
def test_overwrite_never_removes_the_input(trained, tmp_path):
  """--overwrite into the input's directory (or its parent) deleted the
  checkpoints and a user's file; now it is refused and nothing is lost."""
  _, config_file, checkpoints = trained
  source = os.path.dirname(checkpoints[1])
  before = sorted(os.listdir(source))
  for target in (source, os.path.dirname(source)):
    result = convert("--direction=tf2hf", "--input=" + checkpoints[1],
                     "--bert_config_file=" + config_file,
                     "--output_dir=" + target, "--overwrite")
    assert result.returncode == 1
    assert "would hold or replace the input" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        "convert_checkpoint.py: error: --output_dir"), result.stderr
    assert "Traceback" not in result.stderr
  assert sorted(os.listdir(source)) == before


def test_table_names_and_shapes_are_those_of_transformers():
  """Every Hugging Face name of the table is a parameter of transformers'
  BertForPreTraining (encoder, pooler, MLM and next-sentence heads) with
  the table's shape (transposed where the table says so), and every
  parameter of that model is in the table (the tied decoder weight is the
  word embeddings)."""
  transformers = pytest.importorskip("transformers")
  config = tiny_config(VOCAB)
  model = transformers.BertForPreTraining(transformers.BertConfig(
      **convert_checkpoint.hf_config_dict(config)))
  shapes = {name: list(value.shape)
            for name, value in model.named_parameters()}
  table = [p for p in checkpoint_parameters.parameter_table(config)
           if p.group in ("encoder", "pooler", "mlm", "nsp")]
  for p in table:
    assert shapes.get(p.hf_name) == (p.shape[::-1] if p.transpose
                                     else p.shape), p
  assert set(shapes) - {p.hf_name for p in table} <= {
      "cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}


@pytest.mark.parametrize("name", ["model.safetensors",
                                  "linguistic_heads.safetensors"])
def test_a_garbage_weights_file_is_one_line(trained, tmp_path, name):
  """A corrupt model.safetensors or heads file ended in a traceback."""
  _, config_file, checkpoints = trained
  hf_dir = str(tmp_path / "hf")
  convert_checkpoint.tf_to_hf(checkpoints[1], config_file, None, hf_dir)
  with open(os.path.join(hf_dir, name), "wb") as f:
    f.write(b"\x08\x00\x00\x00\x00\x00\x00\x00not json")
  result = convert("--direction=hf2tf", "--input=" + hf_dir,
                   "--output_dir=" + str(tmp_path / "tf"))
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("convert_checkpoint.py: error: %s is not a readable "
                         "safetensors file" % os.path.join(hf_dir, name)), (
                             result.stderr[-2000:])
  assert "Traceback" not in result.stderr
  assert not os.path.exists(str(tmp_path / "tf"))
