# coding=utf-8
"""PREDICT: run_pretraining.py --do_predict and predict_linguistic.py."""

import io
import json
import os
import re
import subprocess
import sys
import pytest
import predict_linguistic
from conftest import run_script
from conftest import REPO, tiny_config, write_config
from pretraining_helpers import build_model_fn, train_tiny_checkpoint

import numpy as np
import tensorflow.compat.v1 as tf

from lert.contract import script_errors
from lert.pretraining_data import instances
from lert.pretraining_data import records as record_format
from lert.pretraining_data import synthetic_data
from lert.tagging import linguistic_tags
import tokenization

SEQ, PRED, VOCAB = 16, 4, 150
EVAL = tf.estimator.ModeKeys.EVAL
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def write_vocab(path, tokens, size=None):
  tokens = SPECIALS + sorted(set(tokens) - set(SPECIALS))
  if size:
    tokens += ["[unused%d]" % i for i in range(size - len(tokens))]
  with io.open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(tokens) + "\n")
  return path


def read_records(path):
  """The records of a file as a batch of numpy arrays, parsed directly."""
  columns = {}
  for record in tf.io.tf_record_iterator(path):
    feature = tf.train.Example.FromString(record).features.feature
    for name in feature:
      kind = feature[name].WhichOneof("kind")
      columns.setdefault(name, []).append(
          list(getattr(feature[name], kind).value))
  return {name: np.array(values, np.float32 if name.endswith("weights")
                         else np.int32)
          for name, values in columns.items()}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
  """Tiny checkpoints with all heads and with none, on synthetic records."""
  root = tmp_path_factory.mktemp("predict")
  os.makedirs(str(root / "data"))
  records = str(root / "data" / "part-0.tfrecord")
  synthetic_data.write_synthetic_records(records, 10, SEQ, PRED, VOCAB,
                                         seed=4, missing_label_rate=0.3)
  config = tiny_config(VOCAB)
  result = {"records": records,
            "config": write_config(str(root / "bert_config.json"), config),
            "vocab": write_vocab(str(root / "vocab.txt"),
                                 list(u"我今天去了北京看书。"), VOCAB)}
  for name, tasks in (("all", ("pos", "ner", "dep")), ("mlm", ())):
    with tf.Graph().as_default():
      train_tiny_checkpoint(str(root / name), [records], config, tasks=tasks,
                            steps=3)
    result[name] = str(root / name)
  return result


@pytest.mark.slow
def test_do_predict_equals_eval_argmax_and_sums_to_one(checkpoints):
  output_dir = checkpoints["all"]
  result = run_script(
      "run_pretraining.py", "--do_predict",
      "--bert_config_file=" + checkpoints["config"],
      "--input_file=" + checkpoints["records"], "--output_dir=" + output_dir,
      "--max_seq_length=%d" % SEQ, "--max_predictions_per_seq=%d" % PRED,
      "--vocab_file=" + checkpoints["vocab"], "--top_k=3")
  assert result.returncode == 0, result.stderr[-3000:]
  with io.open(os.path.join(output_dir, "predictions.jsonl"),
               encoding="utf-8") as f:
    lines = [json.loads(line) for line in f]
  batch = read_records(checkpoints["records"])
  assert [line["record"] for line in lines] == list(range(10))

  # The eval-mode logits of the same records, from the same checkpoint.
  with tf.Graph().as_default():
    build_model_fn(tiny_config(VOCAB))(
        {name: tf.constant(value) for name, value in batch.items()}, None,
        EVAL, {})
    graph = tf.get_default_graph()
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, tf.train.latest_checkpoint(output_dir))
      logits = sess.run({name: graph.get_tensor_by_name(name + "_logits:0")
                         for name in ("mlm", "pos", "ner", "dep")})
  vocab = tokenization.load_vocab(checkpoints["vocab"])
  inv_vocab = linguistic_tags.readable_inverse_vocab(vocab)
  checked = 0
  for i, line in enumerate(lines):
    real = int(batch["masked_lm_weights"][i].sum())
    assert len(line["predictions"]) == real
    for j, item in enumerate(line["predictions"]):
      row = i * PRED + j
      assert item["position"] == batch["masked_lm_positions"][i][j]
      assert item["mlm_ids"][0] == logits["mlm"][row].argmax()
      assert item["mlm_tokens"] == [inv_vocab[k] for k in item["mlm_ids"]]
      assert item["input_token"] == inv_vocab[
          batch["input_ids"][i][item["position"]]]
      assert item["mlm_probs"] == sorted(item["mlm_probs"], reverse=True)
      assert item["label_id"] == batch["masked_lm_ids"][i][j]
      for task in ("pos", "ner", "dep"):
        probs = np.array(item[task + "_probs"])
        assert len(probs) == linguistic_tags.NUM_TAGS[task]
        assert abs(probs.sum() - 1.0) < 1e-4
        expected = logits[task][row].argmax()
        assert linguistic_tags.TAGS_BY_TASK[task].index(item[task]) == expected
        assert probs.argmax() == expected
        # Gold tags by name, in docs/spec.md §1 order; a missing label is null.
        if batch[task + "_label_weights"][i][j] > 0:
          assert item[task + "_label"] == linguistic_tags.TAGS_BY_TASK[task][
              batch[task + "_labels"][i][j]]
        else:
          assert item[task + "_label"] is None
      checked += 1
  assert checked > 10


@pytest.mark.slow
def test_no_heads_notice_once_and_mlm_predictions(checkpoints, tmp_path):
  output = str(tmp_path / "out.jsonl")
  args = ["--bert_config_file=" + checkpoints["config"],
          "--vocab_file=" + checkpoints["vocab"],
          "--text=我今天[MASK]北京。", "--text=我今天去了北京[MASK]书。",
          "--output_file=" + output, "--max_seq_length=%d" % SEQ]
  result = run_script("predict_linguistic.py",
                      "--checkpoint=" + checkpoints["mlm"], *args)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.count("has no linguistic heads") == 1
  with io.open(output, encoding="utf-8") as f:
    lines = [json.loads(line) for line in f]
  assert len(lines) == 2
  word = lines[1]["masked_words"][0]
  assert word["word"] == "[MASK]" and word["start"] == 7
  assert word["pieces"][0]["position"] == 8  # [CLS] + 7 characters
  assert len(word["pieces"][0]["mlm"]) == 3
  assert not set(word) & {"pos", "ner", "dep"}
  # With every head: no notice, and the tags are there.
  result = run_script("predict_linguistic.py",
                      "--checkpoint=" + checkpoints["all"], *args)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "no linguistic heads" not in result.stdout
  with io.open(output, encoding="utf-8") as f:
    word = json.loads(f.readline())["masked_words"][0]
  # Each head shows its top 3 (--top_k) distinct tags, most probable
  # first, from one distribution.
  for task in ("pos", "ner", "dep"):
    probs = [c["prob"] for c in word[task]]
    assert len(set(c["tag"] for c in word[task])) == len(probs) == 3
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) <= 1.0 + 1e-5
  # The wrapper script takes a text argument as --text.
  result = subprocess.run(
      ["bash", os.path.join(REPO, "scripts", "predict_linguistic.sh"), "auto",
       checkpoints["mlm"], u"我今天[MASK]北京。"] + args[:2] +
      ["--max_seq_length=%d" % SEQ],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
      env=dict(os.environ, PYTHON=sys.executable))
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.count("has no linguistic heads") == 1
  assert "1 inputs, 1 masked words." in result.stdout


@pytest.mark.slow
def test_a_checkpoint_of_another_model_or_truncated_is_one_line(
    checkpoints, tmp_path):
  """A config of another hidden size with the same layer count ended in a
  reshape error; a truncated checkpoint in a traceback."""
  args = ["--vocab_file=" + checkpoints["vocab"], "--text=我今天[MASK]北京。",
          "--max_seq_length=%d" % SEQ]
  other = write_config(str(tmp_path / "other.json"),
                       tiny_config(VOCAB, hidden_size=16,
                                   intermediate_size=32))
  result = run_script("predict_linguistic.py",
                      "--checkpoint=" + checkpoints["all"],
                      "--bert_config_file=" + other, *args)
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("predict_linguistic.py: error: ")
  assert "bert/embeddings/word_embeddings with shape [150, 32]" in last
  assert "Traceback" not in result.stderr
  # A copy of the checkpoint with its data file cut in half.
  prefix = tf.train.latest_checkpoint(checkpoints["all"])
  copy = tmp_path / "cut"
  copy.mkdir()
  for path in tf.io.gfile.glob(prefix + ".*"):
    data = open(path, "rb").read()
    if ".data-" in path:
      data = data[:len(data) // 2]
    with open(str(copy / os.path.basename(path)), "wb") as f:
      f.write(data)
  cut = str(copy / os.path.basename(prefix))
  for script, flags in (
      ("predict_linguistic.py", ["--checkpoint=" + cut,
                                 "--bert_config_file=" + checkpoints["config"]]
       + args),
      ("convert_checkpoint.py", ["--direction=tf2hf", "--input=" + cut,
                                 "--bert_config_file=" + checkpoints["config"],
                                 "--output_dir=" + str(tmp_path / "hf")])):
    result = run_script(script, *flags)
    assert result.returncode == 1, (script, result.stderr[-2000:])
    last = result.stderr.strip().splitlines()[-1]
    # It said "cannot be read whole (truncated or corrupt?): Graph
    # execution error:", without the file and the reason.
    if script == "predict_linguistic.py":
      assert last.startswith(
          "predict_linguistic.py: error: --checkpoint: %s is not a readable "
          "checkpoint (truncated or corrupt?): " % cut), last
    assert cut in last and "Graph execution" not in last, last
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
  assert not os.path.exists(str(tmp_path / "hf"))


@pytest.mark.slow
def test_converted_checkpoint_without_global_step_predicts_the_same(
    checkpoints, tmp_path):
  """A checkpoint from convert_checkpoint.py (no global step; config and
  vocabulary beside it) gives the same predictions as the original."""
  pytest.importorskip("safetensors")
  import convert_checkpoint
  convert_checkpoint.tf_to_hf(checkpoints["all"], checkpoints["config"],
                              checkpoints["vocab"], str(tmp_path / "hf"))
  converted, _, _ = convert_checkpoint.hf_to_tf(str(tmp_path / "hf"),
                                                str(tmp_path / "tf"))
  assert "global_step" not in dict(tf.train.list_variables(converted))
  outputs = []
  for args in (["--checkpoint=" + checkpoints["all"],
                "--bert_config_file=" + checkpoints["config"],
                "--vocab_file=" + checkpoints["vocab"]],
               ["--checkpoint=" + str(tmp_path / "tf")]):
    output = str(tmp_path / ("out%d.jsonl" % len(outputs)))
    result = run_script("predict_linguistic.py", "--text=我今天[MASK]北京。",
                        "--max_seq_length=%d" % SEQ, "--output_file=" + output,
                        *args)
    assert result.returncode == 0, result.stderr[-3000:]
    with io.open(output, encoding="utf-8") as f:
      outputs.append(json.load(f)["masked_words"])
  assert outputs[0] == outputs[1]


@pytest.fixture(scope="module")
def tokenizer():
  return tokenization.FullTokenizer(os.path.join(REPO, "configs",
                                                 "vocab.txt"))


def test_mask_words_masks_every_piece_of_every_occurrence(tokenizer):
  text = u"哈尔滨工业大学位于哈尔滨市，用tensorflow训练。"
  words = predict_linguistic.text_words(text, tokenizer,
                                        [u"哈尔滨", u"tensorflow"], "t")
  (item,) = predict_linguistic.build_inputs("t", text, [words], 64)
  masked = [(w.text, w.start, w.pieces) for w in item.masked_words]
  assert masked == [
      (u"哈尔滨", 0, [u"哈", u"尔", u"滨"]),
      (u"哈尔滨", 9, [u"哈", u"尔", u"滨"]),
      (u"tensorflow", 15, tokenizer.tokenize(u"tensorflow"))]
  assert len(masked[2][2]) > 1  # a word of several WordPieces
  tokens = item.instance.tokens
  for word in item.masked_words:
    assert [tokens[p] for p in word.positions] == ["[MASK]"] * len(
        word.pieces)
  # The original pieces are the labels, and nothing else is masked.
  assert item.instance.masked_labels == [p for w in item.masked_words
                                         for p in w.pieces]
  assert tokens.count("[MASK]") == 3 + 3 + len(masked[2][2])
  assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"


def test_literal_mask_tokens_and_input_errors(tokenizer):
  words = predict_linguistic.text_words(u"我[MASK][MASK]了", tokenizer, None,
                                        "t")
  assert [(w.tokens, w.masked) for w in words] == [
      ([u"我"], False), (["[MASK]"], True), (["[MASK]"], True),
      ([u"了"], False)]
  with pytest.raises(script_errors.InputError, match="nothing to predict"):
    predict_linguistic.text_words(u"我们走了", tokenizer, None, "f.txt:3")
  with pytest.raises(script_errors.InputError, match="cuts a token"):
    predict_linguistic.text_words(u"用tensorflow训练", tokenizer, [u"ten"],
                                  "t")
  # --mask was given: the message does not tell to give it.
  with pytest.raises(script_errors.InputError,
                     match=r"t: nothing to predict: none of the --mask words "
                     r"\(北京\) occurs in the text, and it has no \[MASK\]"):
    predict_linguistic.text_words(u"上海很大", tokenizer, [u"北京"], "t")
  with pytest.raises(script_errors.InputError,
                     match="the word '上海' is in none of the 1 texts"):
    predict_linguistic.read_text_inputs([("t", u"北京很大")], tokenizer,
                                        [u"北京", u"上海"], 64)


def test_long_input_is_split_at_word_boundaries(tokenizer):
  text = u"北京" * 20 + u"[MASK]" + u"上海" * 20
  words = predict_linguistic.text_words(text, tokenizer, [u"上海"], "t")
  inputs = predict_linguistic.build_inputs("t", text, [words], 16)
  masked = sum(len(i.masked_words) for i in inputs)
  assert masked == 21
  assert all(len(i.instance.tokens) <= 16 for i in inputs)
  # Every masked word is in exactly one input; no masked piece is lost.
  assert sorted(w.start for i in inputs for w in i.masked_words) == sorted(
      [40] + [46 + 2 * k for k in range(20)])


def test_tagged_document_is_one_input_split_at_sentence_boundaries(
    tokenizer, tmp_path):
  path, _ = _sample_documents(str(tmp_path / "tagged.jsonl"), 1)
  with io.open(path, encoding="utf-8") as f:
    sentences = json.loads(f.readline())["sentences"]
  lengths = [len(tokenizer.tokenize(s["text"])) for s in sentences]
  (whole,) = predict_linguistic.read_tagged_inputs([path], tokenizer, 0.5, 1,
                                                   128)
  assert whole.text == u"".join(s["text"] for s in sentences)
  assert whole.instance.tokens[1:-1] == [
      "[MASK]" if i in whole.instance.masked_positions else t
      for i, t in enumerate(tokenizer.tokenize(whole.text), 1)]
  # Room for two sentences at most: every input is whole sentences.
  limit = max(a + b for a, b in zip(lengths, lengths[1:])) + 2
  parts = predict_linguistic.read_tagged_inputs([path], tokenizer, 0.5, 1,
                                                limit)
  assert len(parts) > 1
  runs = {sum(lengths[i:j]) for i in range(len(lengths))
          for j in range(i + 1, len(lengths) + 1)}
  for part in parts:
    assert len(part.instance.tokens) <= limit
    assert len(part.instance.tokens) - 2 in runs  # whole sentences only
  # The same words are masked whatever the split, with their gold tags.
  assert ([(w.start, w.gold) for w in whole.masked_words] ==
          [(w.start, w.gold) for p in parts for w in p.masked_words])


def _sample_documents(path, count):
  source = os.path.join(REPO, "data", "sample", "tagged.jsonl")
  with io.open(source, encoding="utf-8") as f:
    lines = f.readlines()[:count]
  with io.open(path, "w", encoding="utf-8") as f:
    f.writelines(lines)
  text = u"".join(s["text"] for line in lines
                  for s in json.loads(line)["sentences"])
  return path, text


@pytest.mark.slow
def test_tagged_file_accuracy_printed_equals_json_and_is_near_one(tmp_path):
  """A checkpoint overfit to the masked sentences of a tagged file: the
  accuracy the tool prints equals the one computed from its JSON output."""
  tagged, text = _sample_documents(str(tmp_path / "tagged.jsonl"), 3)
  vocab_file = write_vocab(str(tmp_path / "vocab.txt"),
                           tokenization.FullTokenizer(
                               os.path.join(REPO, "configs", "vocab.txt"))
                           .tokenize(text))
  tokenizer = tokenization.FullTokenizer(vocab_file)
  seq = 64
  inputs = predict_linguistic.read_tagged_inputs([tagged], tokenizer, 0.15,
                                                 7, seq)
  num_positions = max(len(i.instance.masked_positions) for i in inputs)
  records = str(tmp_path / "train.tfrecord")
  with tf.io.TFRecordWriter(records) as writer:
    for item in inputs:
      writer.write(record_format.serialize_record(
          instances.instance_to_features(
              item.instance, tokenizer, seq, num_positions),
          seq, num_positions))
  config = tiny_config(len(tokenizer.vocab), hidden_size=64,
                       intermediate_size=128)
  config_file = write_config(str(tmp_path / "bert_config.json"), config)
  train_tiny_checkpoint(str(tmp_path / "model"), [records], config,
                        steps=300, seq_length=seq,
                        max_predictions=num_positions, learning_rate=1e-3,
                        batch_size=8, lip_schedule="none")

  output = str(tmp_path / "predictions.jsonl")
  result = run_script(
      "predict_linguistic.py", "--checkpoint=" + str(tmp_path / "model"),
      "--bert_config_file=" + config_file, "--vocab_file=" + vocab_file,
      "--tagged_file=" + tagged, "--random_seed=7",
      "--max_seq_length=%d" % seq, "--output_file=" + output, "--quiet")
  assert result.returncode == 0, result.stderr[-3000:]
  printed = {name.lower(): float(value) for name, value in re.findall(
      r"(MLM|POS|NER|DEP) accuracy ([0-9.]+)", result.stdout)}
  assert sorted(printed) == ["dep", "mlm", "ner", "pos"]

  correct, total = {}, {}
  with io.open(output, encoding="utf-8") as f:
    lines = [json.loads(line) for line in f]
  assert len(lines) == len(inputs)
  for line in lines:
    for word in line["masked_words"]:
      for piece in word["pieces"]:
        total["mlm"] = total.get("mlm", 0) + 1
        correct["mlm"] = correct.get("mlm", 0) + (
            piece["mlm"][0]["token"] == piece["token"])
      for task in ("pos", "ner", "dep"):
        if word["gold"][task] is not None:
          total[task] = total.get(task, 0) + 1
          correct[task] = correct.get(task, 0) + (
              word[task][0]["tag"] == word["gold"][task])
  for name in printed:
    assert printed[name] == pytest.approx(correct[name] / total[name],
                                          abs=1e-4), name
  for task in ("pos", "ner", "dep"):
    assert printed[task] > 0.9, (task, result.stdout[-800:])
