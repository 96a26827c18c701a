# coding=utf-8
"""run_pretraining.py end to end: Estimator runs, resume, checkpoints,
errors."""

import os
import re
import subprocess
import pytest
import run_pretraining
from conftest import run_script
from conftest import REPO, event_scalars, tiny_config, write_config
from pretraining_helpers import build_model_fn, fixed_batch, run_settings
from pretraining_helpers import train_tiny_checkpoint

from absl import flags
import numpy as np
import tensorflow.compat.v1 as tf

from lert.contract import script_errors
from lert.model import checkpoint_parameters
from lert.model import lert_model
from lert.pretraining_data import records
from lert.pretraining_data import synthetic_data
from lert.running import checkpoints
from lert.running import estimator_runner
from lert.running import input_pipeline
from lert.running import run_config
import modeling

SEQ, PRED, VOCAB = 16, 4, 150


def make_records(directory, num_files=2, records_per_file=12,
                 missing_label_rate=0.2):
  paths = []
  if not os.path.isdir(str(directory)):
    os.makedirs(str(directory))
  for i in range(num_files):
    path = os.path.join(str(directory), "part-%d.tfrecord" % i)
    synthetic_data.write_synthetic_records(
        path, records_per_file, SEQ, PRED, VOCAB, seed=i,
        missing_label_rate=missing_label_rate)
    paths.append(path)
  return paths


def pretraining_input_fn(paths, is_training=True, with_weights=True):
  required, optional = lert_model.pretraining_features(
      SEQ, PRED, ["pos", "ner", "dep"])
  features = dict(required)
  if with_weights:
    features.update(optional)
  return input_pipeline.input_fn_builder(paths, features, is_training,
                                         drop_remainder=is_training, seed=3)


@pytest.mark.slow
def test_train_resume_continues_global_step_and_lip_schedule(tmp_path):
  paths = make_records(tmp_path / "data")
  output_dir = str(tmp_path / "model")
  num_train_steps = 12  # T = 2, 4, 6
  model_fn = build_model_fn(tiny_config(VOCAB), num_train_steps=12,
                            output_dir=output_dir, save_summary_steps=1)
  runner = estimator_runner.EstimatorRunner(model_fn, run_settings(output_dir),
                                            train_batch_size=4)
  runner.train(pretraining_input_fn(paths), max_steps=6)  # "killed" here
  assert tf.train.latest_checkpoint(output_dir).endswith("model.ckpt-6")
  # Like the release's checkpoints, ours hold no Adam slots for the pooler
  # (no loss reaches it), and such a checkpoint resumes.
  saved = dict(tf.train.list_variables(output_dir))
  assert "bert/pooler/dense/kernel" in saved
  assert "bert/pooler/dense/kernel/adam_m" not in saved
  assert "bert/encoder/layer_0/output/dense/kernel/adam_m" in saved

  # A new process with the same flags resumes from the checkpoint.
  with tf.Graph().as_default():
    runner = estimator_runner.EstimatorRunner(
        model_fn, run_settings(output_dir), train_batch_size=4)
    runner.train(pretraining_input_fn(paths), max_steps=num_train_steps)
  assert tf.train.latest_checkpoint(output_dir).endswith("model.ckpt-12")

  scalars = event_scalars(output_dir)
  for task, end_step in (("pos", 2), ("ner", 4), ("dep", 6)):
    lambdas = scalars["lambda/" + task]
    assert sorted(lambdas) == list(range(12))  # each step once, no restart
    for step, value in lambdas.items():
      assert value == pytest.approx(min(step / float(end_step), 1.0))
  assert sorted(scalars["loss/total"]) == list(range(12))
  for name in ("loss/mlm", "loss/pos", "loss/ner", "loss/dep",
               "learning_rate"):
    assert len(scalars[name]) == 12


@pytest.mark.slow
def test_checkpoint_restores_into_plain_bert_model(tmp_path):
  paths = make_records(tmp_path / "data", num_files=1)
  output_dir = str(tmp_path / "model")
  config = tiny_config(VOCAB)
  runner = estimator_runner.EstimatorRunner(
      build_model_fn(config, num_train_steps=3), run_settings(output_dir),
      train_batch_size=4)
  runner.train(pretraining_input_fn(paths), max_steps=3)
  checkpoint = tf.train.latest_checkpoint(output_dir)

  with tf.Graph().as_default():
    ids = tf.constant([[101, 110, 120, 102]], tf.int32)
    model = modeling.BertModel(config, is_training=False, input_ids=ids)
    # A Saver of every BertModel variable restores only when the checkpoint
    # holds each one under Google's name with its shape.
    saver = tf.train.Saver(var_list=tf.global_variables())
    with tf.Session() as sess:
      saver.restore(sess, checkpoint)
      assert np.isfinite(sess.run(model.get_pooled_output())).all()
  names = {name for name, _ in tf.train.list_variables(checkpoint)}
  assert "cls/predictions/output_dep_layer/kernel" in names
  assert not any("seq_relationship" in name for name in names)


def test_init_checkpoint_loads_bert_and_reports_new_heads(tmp_path):
  # A "Google BERT" checkpoint: encoder only, plus an NSP head we don't use.
  config = tiny_config(VOCAB)
  bert_dir = tmp_path / "bert"
  with tf.Graph().as_default():
    modeling.BertModel(config, is_training=False,
                       input_ids=tf.constant([[1, 2]]))
    tf.get_variable("cls/seq_relationship/output_weights", [2, 32])
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      checkpoint = tf.train.Saver().save(sess,
                                         str(bert_dir / "bert_model.ckpt"))
  with tf.Graph().as_default():
    modeling.BertModel(config, is_training=False,
                       input_ids=tf.constant([[1, 2]]))
    lert_model.lert_head_logits(
        config, tf.zeros([1, 2, 32]), tf.zeros([VOCAB, 32]),
        tf.constant([[0]]), ["pos", "ner", "dep"])
    _, loaded, new = checkpoints.init_from_checkpoint(
        str(bert_dir), use_tpu=False,
        optional_group=checkpoint_parameters.head_group)
    assert len(loaded) == 7 + 16 * 2
    assert all(name.startswith("bert/") for name in loaded)
    assert set(new) == {
        "cls/predictions/transform/dense/kernel",
        "cls/predictions/transform/dense/bias",
        "cls/predictions/transform/LayerNorm/beta",
        "cls/predictions/transform/LayerNorm/gamma",
        "cls/predictions/output_bias",
        "cls/predictions/output_pos_layer/kernel",
        "cls/predictions/output_pos_layer/bias",
        "cls/predictions/output_ner_layer/kernel",
        "cls/predictions/output_ner_layer/bias",
        "cls/predictions/output_dep_layer/kernel",
        "cls/predictions/output_dep_layer/bias"}
    # The values, not just the names: after initialisation every loaded
    # variable holds the checkpoint's value (a fresh random initialisation
    # would not), and the new ones keep their initialisers.
    reader = tf.train.load_checkpoint(checkpoint)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      for variable in tf.global_variables():
        name = variable.op.name
        if name in loaded:
          np.testing.assert_array_equal(sess.run(variable),
                                        reader.get_tensor(name), name)
      bias = [v for v in tf.global_variables()
              if v.op.name == "cls/predictions/output_bias"][0]
      assert not sess.run(bias).any()  # zeros initialiser, not loaded


def test_init_checkpoint_of_another_shape_is_an_error(tmp_path):
  """A variable whose shape differs from the checkpoint's was skipped (and
  trained from its random initialisation) with a buried warning: now the
  warm start stops, naming the first such variable and both shapes."""
  with tf.Graph().as_default():
    modeling.BertModel(tiny_config(VOCAB), is_training=False,
                       input_ids=tf.constant([[1, 2]]))
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      checkpoint = tf.train.Saver().save(sess, str(tmp_path / "a" / "m.ckpt"))
  with tf.Graph().as_default():
    modeling.BertModel(tiny_config(VOCAB, intermediate_size=48),
                       is_training=False, input_ids=tf.constant([[1, 2]]))
    with pytest.raises(
        script_errors.InputError,
        match=r"holds bert/encoder/layer_0/intermediate/dense/kernel with "
        r"shape \[32, 64\], the model needs \[32, 48\]"):
      checkpoints.init_from_checkpoint(checkpoint, use_tpu=False)


@pytest.mark.slow
def test_two_replicas_train_as_one_device_with_the_global_batch(tmp_path):
  """--num_gpus > 1 (MirroredStrategy), here over two CPU devices: each
  replica takes half of the global batch, and the update equals the one of a
  single device on the whole batch (the gradients are averaged, then
  clipped). Every record has the same number of weighted positions, so the
  mean of the replicas' mean losses is the global mean."""
  batch = fixed_batch(VOCAB, batch_size=12, max_seq_length=SEQ,
                      max_predictions_per_seq=PRED, missing_label_rate=0.0)
  for name in batch:
    if name.endswith("weights"):
      batch[name][:] = 1.0

  def input_fn(params):
    return tf.data.Dataset.from_tensor_slices(batch).batch(
        params["batch_size"], drop_remainder=True).repeat()

  def train(output_dir, devices, init_checkpoint=None, steps=3):
    runner = estimator_runner.EstimatorRunner(
        build_model_fn(tiny_config(VOCAB), num_train_steps=steps,
                       num_warmup_steps=0, learning_rate=1e-2,
                       init_checkpoint=init_checkpoint),
        run_settings(output_dir), train_batch_size=4,
        mirrored_devices=devices)
    with tf.Graph().as_default():
      runner.train(input_fn, max_steps=steps)
    return runner

  # Both start from the same weights (random initialisers depend on the
  # graph, which the strategy changes on TensorFlow 1.15).
  train(str(tmp_path / "init"), None, steps=1)
  start = tf.train.latest_checkpoint(str(tmp_path / "init"))
  two = train(str(tmp_path / "two"), ["/cpu:0", "/cpu:1"], start)
  assert two.use_plain_estimator and two.num_replicas == 2
  # Two real devices (/cpu:0 and /cpu:1), not two names for one.
  assert two.estimator.config.session_config.device_count["CPU"] == 2
  train(str(tmp_path / "one"), None, start)
  one_checkpoint = tf.train.latest_checkpoint(str(tmp_path / "one"))
  two_checkpoint = tf.train.latest_checkpoint(str(tmp_path / "two"))
  assert two_checkpoint.endswith("model.ckpt-3")
  initial = tf.train.load_checkpoint(start)
  moved = 0
  for name, _ in tf.train.list_variables(one_checkpoint):
    if "adam_" in name or name == "global_step":
      continue
    expected = tf.train.load_variable(one_checkpoint, name)
    actual = tf.train.load_variable(two_checkpoint, name)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-6,
                               err_msg=name)
    moved += not np.allclose(expected, initial.get_tensor(name), atol=1e-4)
  assert moved > 30  # three real updates, not a model that stood still


def pretrain(args, cwd):
  return run_script("run_pretraining.py", *args, cwd=str(cwd), timeout=300)


@pytest.mark.slow
def test_script_trains_evaluates_and_writes_results(tmp_path):
  make_records(tmp_path / "data")
  config_file = write_config(str(tmp_path / "config.json"), tiny_config(VOCAB))
  result = pretrain([
      "--bert_config_file=" + config_file,
      "--input_file=" + str(tmp_path / "data" / "*.tfrecord"),
      "--output_dir=" + str(tmp_path / "out"), "--do_train", "--do_eval",
      "--train_batch_size=4", "--gradient_accumulation_steps=2",
      "--max_seq_length=%d" % SEQ, "--max_predictions_per_seq=%d" % PRED,
      "--num_train_steps=4", "--num_warmup_steps=1", "--max_eval_steps=2",
      "--eval_batch_size=4"], tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  results = dict(line.split(" = ") for line in
                 (tmp_path / "out" / "eval_results.txt").read_text()
                 .splitlines())
  assert set(results) == {
      "global_step", "loss", "masked_lm_accuracy", "masked_lm_loss",
      "pos_accuracy", "pos_loss", "ner_accuracy", "ner_loss", "dep_accuracy",
      "dep_loss", "pos_majority_accuracy", "ner_majority_accuracy",
      "dep_majority_accuracy", "final_layer_cosine",
      "masked_lm_unigram_entropy", "collapse_guard"}
  assert results["global_step"] == "4"
  # The majority-class baseline of the 8 evaluated records (2 batches of 4,
  # read in file order), computed here from the records themselves.
  examples = [tf.train.Example.FromString(r).features.feature for r in
              tf.io.tf_record_iterator(str(tmp_path / "data" /
                                           "part-0.tfrecord"))][:8]
  for task in ("pos", "ner", "dep"):
    counts = {}
    for feature in examples:
      weights = (np.array(feature["masked_lm_weights"].float_list.value) *
                 np.array(feature[task + "_label_weights"].float_list.value))
      for label, weight in zip(feature[task + "_labels"].int64_list.value,
                               weights):
        counts[label] = counts.get(label, 0.0) + weight
    expected = max(counts.values()) / sum(counts.values())
    assert float(results[task + "_majority_accuracy"]) == pytest.approx(
        expected, abs=1e-6), task
  for name in ("masked_lm_loss", "pos_loss", "ner_loss", "dep_loss"):
    assert float(results[name]) > 0
  assert "λ_pos reaches 1 at step 0" in result.stderr  # int(4/6) == 0


@pytest.mark.slow
def test_a_checkpoint_it_did_not_write_is_adopted_and_resumed_in_place(
    tmp_path):
  """A directory holding a checkpoint with its optimizer state but no
  lert_run.json (a downloaded one; here trained by the Estimator directly)
  was refused, and the advice (--overwrite) deleted it. It resumes from its
  step now, and neither the saver's rotation nor --overwrite removes it."""
  paths = make_records(tmp_path / "data")
  out = tmp_path / "out"
  with tf.Graph().as_default():
    adopted = train_tiny_checkpoint(str(out), paths, tiny_config(VOCAB),
                                    steps=2, seq_length=SEQ,
                                    max_predictions=PRED)
  assert adopted.endswith("model.ckpt-2")
  kept = {name: (out / name).read_bytes() for name in os.listdir(str(out))
          if name.startswith("model.ckpt-2.")}
  config_file = write_config(str(tmp_path / "config.json"), tiny_config(VOCAB))
  lr = 1e-3
  args = ["--bert_config_file=" + config_file,
          "--input_file=" + str(tmp_path / "data" / "*.tfrecord"),
          "--output_dir=" + str(out), "--do_train", "--train_batch_size=4",
          "--max_seq_length=%d" % SEQ, "--max_predictions_per_seq=%d" % PRED,
          "--num_train_steps=5", "--num_warmup_steps=1",
          "--learning_rate=%g" % lr, "--save_checkpoints_steps=1",
          "--keep_checkpoint_max=1"]
  result = pretrain(args, tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  latest = tf.train.latest_checkpoint(str(out))
  assert latest.endswith("model.ckpt-5")
  # The adopted files survived the rotation (keep 1: ckpt-3 and ckpt-4 went).
  assert {name: (out / name).read_bytes() for name in kept} == kept
  assert not (out / "model.ckpt-3.index").exists()
  # Three steps from the adopted weights (an update of BERT's AdamW, which
  # has no bias correction, is at most ~0.1/sqrt(0.001) = 3.2 lr early on),
  # not a run from fresh random ones: two draws of a kernel (stddev 0.02,
  # 2048 and more values) differ by 0.05 or more somewhere.
  for name, _ in tf.train.list_variables(adopted):
    if name.startswith("bert/") and name.endswith(("kernel", "embeddings")):
      moved = np.abs(tf.train.load_variable(latest, name) -
                     tf.train.load_variable(adopted, name)).max()
      assert moved <= 10 * lr, (name, moved)
  assert tf.train.load_variable(latest, "global_step") == 5
  # --overwrite (another recipe) removes what the run wrote, not them.
  result = pretrain([a for a in args if not a.startswith("--learning")] +
                      ["--learning_rate=2e-3", "--num_train_steps=1",
                       "--overwrite"], tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  assert {name: (out / name).read_bytes() for name in kept} == kept
  assert not (out / "model.ckpt-5.index").exists()


@pytest.mark.slow
def test_a_checkpoint_of_other_variables_is_not_adopted(tmp_path):
  paths = make_records(tmp_path / "data", num_files=1)
  out = tmp_path / "out"
  with tf.Graph().as_default():
    train_tiny_checkpoint(str(out), paths, tiny_config(VOCAB), steps=1,
                          seq_length=SEQ, max_predictions=PRED)
  before = sorted((p.name, p.stat().st_mtime_ns) for p in out.iterdir())
  config_file = write_config(str(tmp_path / "config.json"), tiny_config(VOCAB))
  args = ["--bert_config_file=" + config_file,
          "--input_file=" + paths[0], "--output_dir=" + str(out),
          "--do_train", "--max_seq_length=%d" % SEQ,
          "--max_predictions_per_seq=%d" % PRED, "--num_train_steps=2"]
  for extra, message in (
      (["--linguistic_tasks=pos"], "this run cannot resume it: it holds "
       "cls/predictions/output_dep_layer/bias, which this run has not (it "
       "has the heads of --linguistic_tasks=pos,ner,dep)"),

      (["--init_checkpoint=" + str(out)], "drop --init_checkpoint to resume")):
    result = pretrain(args + extra, tmp_path)
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("run_pretraining.py: error: "), last
    assert message in last, last
    assert sorted((p.name, p.stat().st_mtime_ns) for p in
                  out.iterdir()) == before
  # Google's releases hold no optimizer state: a fresh run from them.
  stripped = tmp_path / "stripped"
  with tf.Graph().as_default():
    checkpoint = tf.train.latest_checkpoint(str(out))
    for name, _ in tf.train.list_variables(checkpoint):
      if "adam" not in name:
        tf.Variable(tf.train.load_variable(checkpoint, name), name=name)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      tf.train.Saver().save(sess, str(stripped / "model.ckpt-1"))
  result = pretrain([a.replace(str(out), str(stripped)) for a in args],
                      tmp_path)
  assert result.returncode == 1
  assert re.search(r"cannot resume it: it has no bert/\S+/adam_m \(shape "
                   r"\[[0-9, ]+\]\), which this run needs\. To start a fresh "
                   r"run from its weights, pass --init_checkpoint=",
                   result.stderr), result.stderr[-2000:]
  # A checkpoint that no `checkpoint` file names would be passed over.
  os.remove(str(out / "checkpoint"))
  result = pretrain(args, tmp_path)
  assert result.returncode == 1
  assert "but no `checkpoint` file names it" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("case,message", [
    ("no_match", "matches no file"),
    ("short_records", "has length 16 but the flags expect 32"),
    ("bad_config", "is not valid JSON"),
    ("all_empty", "None of the 2 input files holds a record"),
    ("other_model", "variable bert/encoder/layer_0/intermediate/dense/kernel "
                    "has shape [32, 64], but --bert_config_file"),
])
def test_script_errors_name_the_problem(tmp_path, case, message):
  make_records(tmp_path / "data", num_files=1)
  config_file = write_config(str(tmp_path / "config.json"), tiny_config(VOCAB))
  args = ["--bert_config_file=" + config_file,
          "--input_file=" + str(tmp_path / "data" / "*.tfrecord"),
          "--output_dir=" + str(tmp_path / "out"), "--do_train",
          "--max_seq_length=%d" % SEQ, "--max_predictions_per_seq=%d" % PRED]
  if case == "no_match":
    args[1] = "--input_file=" + str(tmp_path / "nothing" / "*.tfrecord")
  elif case == "short_records":
    args[4] = "--max_seq_length=32"
  elif case == "all_empty":  # training would hang at step 0
    os.makedirs(str(tmp_path / "empty"))
    for name in ("a", "b"):
      with tf.io.TFRecordWriter(str(tmp_path / "empty" / name)):
        pass
    args[1] = "--input_file=" + str(tmp_path / "empty" / "*")
  elif case == "other_model":
    # A checkpoint of another intermediate_size in --output_dir: refused
    # before anything restores it or rewrites its files.
    with tf.Graph().as_default():
      train_tiny_checkpoint(str(tmp_path / "out"), make_records(
          tmp_path / "data", num_files=1), tiny_config(VOCAB), steps=1,
                            seq_length=SEQ, max_predictions=PRED)
    before = sorted((p.name, p.stat().st_mtime) for p in
                    (tmp_path / "out").iterdir())
    write_config(config_file, tiny_config(VOCAB, intermediate_size=48))
  else:
    (tmp_path / "config.json").write_text(u"{oops")
  result = pretrain(args, tmp_path)
  assert result.returncode != 0
  assert message in result.stderr
  assert "Traceback" not in result.stderr
  if case == "other_model":
    assert "[32, 48]" in result.stderr
    assert sorted((p.name, p.stat().st_mtime) for p in
                  (tmp_path / "out").iterdir()) == before


def test_an_unwritable_output_dir_is_one_line(tmp_path):
  make_records(tmp_path / "data", num_files=1)
  config_file = write_config(str(tmp_path / "config.json"), tiny_config(VOCAB))
  (tmp_path / "a_file").write_text(u"not a directory")
  result = pretrain([
      "--bert_config_file=" + config_file,
      "--input_file=" + str(tmp_path / "data" / "*.tfrecord"),
      "--output_dir=" + str(tmp_path / "a_file" / "out"), "--do_train",
      "--max_seq_length=%d" % SEQ, "--max_predictions_per_seq=%d" % PRED],
                      tmp_path)
  assert result.returncode == 1
  assert "Traceback" not in result.stderr
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("run_pretraining.py: error: " +
                         str(tmp_path / "a_file"))
  assert "not a directory" in last.lower()


def test_a_full_disk_mid_run_is_one_line():
  """A real ENOSPC from TensorFlow's file system (/dev/full is always full),
  raised inside the run as a checkpoint or summary write would be."""

  def writes_to_a_full_disk():
    with tf.gfile.GFile("/dev/full", "w") as f:
      f.write("x" * 100000)

  if not os.path.exists("/dev/full"):
    pytest.skip("no /dev/full on this system")
  with pytest.raises(SystemExit) as raised:
    script_errors.run_reporting_errors(writes_to_a_full_disk, "script.py",
                                     input_pipeline.tensorflow_problem)
  assert str(raised.value) == (
      "script.py: error: /dev/full; No space left on device")

  def fails_otherwise():  # a TensorFlow error that is not the disk's
    raise tf.errors.InvalidArgumentError(None, None, "Incompatible shapes")

  with pytest.raises(tf.errors.InvalidArgumentError):
    script_errors.run_reporting_errors(fails_otherwise, "script.py",
                                     input_pipeline.tensorflow_problem)


def test_check_input_files_errors_name_file_and_feature(tmp_path):
  good = make_records(tmp_path / "good", num_files=1)[0]
  required, optional = lert_model.pretraining_features(
      SEQ, PRED, ["pos", "ner", "dep"])
  assert input_pipeline.check_input_files([good], required, optional) == [
      "dep_label_weights", "ner_label_weights", "pos_label_weights"]

  lacking = str(tmp_path / "lacking.tfrecord")
  with tf.io.TFRecordWriter(lacking) as writer:
    writer.write(input_pipeline.make_example(
        {"input_ids": [1] * SEQ}).SerializeToString())
  with pytest.raises(script_errors.InputError) as info:
    input_pipeline.check_input_files([lacking], required, optional)
  assert lacking in str(info.value) and "input_mask" in str(info.value)

  wrong_type = str(tmp_path / "wrong_type.tfrecord")
  values = {name: [0] * spec.length for name, spec in required.items()}
  with tf.io.TFRecordWriter(wrong_type) as writer:
    writer.write(input_pipeline.make_example(values).SerializeToString())
  with pytest.raises(script_errors.InputError,
                     match="'masked_lm_weights' is int64_list, expected "
                     "float_list"):
    input_pipeline.check_input_files([wrong_type], required, optional)

  no_weights = make_records(tmp_path / "plain", num_files=1,
                            missing_label_rate=None)[0]
  with pytest.raises(script_errors.InputError, match="mix no files"):
    input_pipeline.check_input_files([good, no_weights], required, optional)

  not_a_record = tmp_path / "text.tfrecord"
  not_a_record.write_text(u"hello, this is not a TFRecord file at all")
  with pytest.raises(script_errors.InputError, match="not a readable"):
    input_pipeline.check_input_files([str(not_a_record)], required, optional)


def test_input_fn_reads_the_nine_spec_features(tmp_path):
  paths = make_records(tmp_path / "data", num_files=2, records_per_file=5)
  input_fn = pretraining_input_fn(paths, is_training=False)
  batch = tf.data.make_one_shot_iterator(
      input_fn({"batch_size": 10})).get_next()
  with tf.Session() as sess:
    values = sess.run(batch)
  assert values["input_ids"].shape == (10, SEQ)
  assert values["input_ids"].dtype == np.int32
  assert values["masked_lm_weights"].dtype == np.float32
  assert values["pos_label_weights"].shape == (10, PRED)
  # Padding positions carry 0 in every field.
  padding = values["masked_lm_weights"] == 0
  for name in ("masked_lm_positions", "masked_lm_ids", "pos_labels",
               "ner_labels", "dep_labels", "pos_label_weights"):
    assert not values[name][padding].any()


@pytest.mark.parametrize("script,args", [
    ("run_pretrain_tpu.sh", ["base", "my-tpu", "gs://b/*.tfrecord",
                             "gs://b/out"]),
    ("run_pretrain_gpu.sh", ["small", "data/*.tfrecord", "out", "2"])])
def test_entry_point_scripts_run_the_paper_recipe(tmp_path, script, args):
  """What the wrapper passes to run_pretraining.py ($PYTHON, a stand-in
  here), parsed by the script's own flags: the paper's recipe (docs/spec.md
  §3, §5), and no flag the script lacks."""
  stub = tmp_path / "python"
  stub.write_text(u"#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\n")
  stub.chmod(0o755)
  result = subprocess.run(
      ["bash", os.path.join(REPO, "scripts", script)] + args,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
      env=dict(os.environ, PYTHON=str(stub)))
  assert result.returncode == 0, result.stderr
  argv = result.stdout.splitlines()
  assert argv[0].endswith("run_pretraining.py")
  flag_values = flags.FlagValues()
  run_pretraining.define_flags(flag_values)
  flag_values(["run_pretraining.py"] + argv[1:])  # unknown flags raise
  size = args[0]
  assert flag_values.bert_config_file.endswith("lert_config_%s.json" % size)
  assert flag_values.train_batch_size == {"small": 1024, "base": 416}[size]
  assert flag_values.num_train_steps == 2000000
  assert flag_values.num_warmup_steps == 10000
  assert flag_values.learning_rate == 1e-4
  assert (flag_values.max_seq_length, flag_values.max_predictions_per_seq) == (
      512, 75)
  end_steps = lert_model.lip_end_steps(
      flag_values.num_train_steps, flag_values.lip_order,
      {"pos": flag_values.pos_end_step, "ner": flag_values.ner_end_step,
       "dep": flag_values.dep_end_step})
  if script == "run_pretrain_tpu.sh":  # the release's hard-coded values
    assert end_steps == {"pos": 333000, "ner": 666000, "dep": 1000000}
  else:  # 1/6, 1/3, 1/2 of the steps (STEPS may scale the schedule)
    assert end_steps == {"pos": 333333, "ner": 666666, "dep": 1000000}
  assert flag_values.linguistic_tasks == "pos,ner,dep"


def test_use_xla_turns_on_jit_for_the_session(tmp_path):
  del tmp_path
  on = run_config.session_config(use_xla=True)
  off = run_config.session_config()
  assert (on.graph_options.optimizer_options.global_jit_level ==
          tf.OptimizerOptions.ON_1)
  assert (off.graph_options.optimizer_options.global_jit_level !=
          tf.OptimizerOptions.ON_1)


def write_records_with(path, count, bad_record=None, **bad_values):
  """`count` valid records; record number `bad_record` (1-based) gets the
  given feature values at its first masked position."""
  rng = np.random.RandomState(0)
  with tf.io.TFRecordWriter(path) as writer:
    for number in range(1, count + 1):
      values = synthetic_data.synthetic_example(rng, SEQ, PRED, VOCAB, 0.2)
      if number == bad_record:
        for name, value in bad_values.items():
          values[name] = np.array(values[name])
          values[name][0] = value
      writer.write(records.serialize_record(values, SEQ, PRED))
  return path


@pytest.mark.parametrize("feature,value,bounds", [
    ("pos_labels", 99, "[0, 28)"), ("dep_labels", -1, "[0, 14)"),
    ("input_ids", VOCAB, "[0, %d)" % VOCAB),
    ("masked_lm_positions", SEQ, "[0, %d)" % SEQ)])
def test_out_of_range_values_are_named_by_the_record_check(tmp_path, feature,
                                                           value, bounds):
  path = write_records_with(str(tmp_path / "bad.tfrecord"), 6, 4,
                            **{feature: value})
  required, optional = lert_model.pretraining_features(
      SEQ, PRED, ["pos", "ner", "dep"])
  ranges = lert_model.value_ranges(tiny_config(VOCAB), SEQ,
                                   ["pos", "ner", "dep"])
  # The first record is fine: the quick check passes, the full one names it.
  input_pipeline.check_input_files([path], required, optional, ranges)
  with pytest.raises(script_errors.InputError) as info:
    input_pipeline.check_input_files([path], required, optional, ranges,
                                     all_records=True)
  assert str(info.value) == "%s: record 4 feature %r holds %d, outside %s." % (
      path, feature, value, bounds)


@pytest.mark.slow
def test_bad_values_and_truncated_files_stop_training_with_one_line(tmp_path):
  """Past the first record, an out-of-range label stops training (the
  in-graph check) instead of training on a loss of 0; a truncated file is
  named instead of a bare DataLossError."""
  config_file = write_config(str(tmp_path / "config.json"), tiny_config(VOCAB))
  os.makedirs(str(tmp_path / "data"))
  bad = write_records_with(str(tmp_path / "data" / "bad.tfrecord"), 8, 5,
                           pos_labels=99)
  args = ["--bert_config_file=" + config_file, "--input_file=" + bad,
          "--output_dir=" + str(tmp_path / "out"), "--do_train",
          "--max_seq_length=%d" % SEQ, "--max_predictions_per_seq=%d" % PRED,
          "--train_batch_size=8", "--num_train_steps=2",
          "--num_warmup_steps=1"]
  result = pretrain(args, tmp_path)
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("run_pretraining.py: error: ")
  assert "pos_labels holds a value outside [0, 28)" in last
  assert "--check_records" in last
  result = pretrain(args + ["--check_records"], tmp_path)
  assert result.stderr.strip().splitlines()[-1] == (
      "run_pretraining.py: error: %s: record 5 feature 'pos_labels' holds "
      "99, outside [0, 28)." % bad)

  good = make_records(tmp_path / "good", num_files=1, records_per_file=40)[0]
  data = open(good, "rb").read()
  truncated = str(tmp_path / "good" / "truncated.tfrecord")
  with open(truncated, "wb") as f:
    f.write(data[:len(data) // 2])
  os.remove(good)
  args[1] = "--input_file=" + truncated
  args[2] = "--output_dir=" + str(tmp_path / "out2")
  result = pretrain(args, tmp_path)
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("run_pretraining.py: error: %s: record " % truncated)
  assert "Traceback" not in result.stderr


@pytest.mark.parametrize("flag,message", [
    ("--lip_order=PNN", "--lip_order must be a permutation of PND"),
    ("--num_train_steps=0", "--num_train_steps must be at least 1"),
    ("--linguistic_tasks=pos,syn", "--linguistic_tasks must be"),
    ("--gradient_accumulation_steps=3", "--train_batch_size must be a "
                                        "multiple of"),
])
def test_bad_flags_are_reported_when_parsed(tmp_path, flag, message):
  result = pretrain(["--bert_config_file=c.json", "--input_file=x",
                       "--output_dir=" + str(tmp_path / "out"), "--do_train",
                       "--train_batch_size=32", flag], tmp_path)
  assert result.returncode == 1
  assert message in result.stderr
  assert "Traceback" not in result.stderr
  assert not os.path.exists(str(tmp_path / "out"))


def _records_without_labels_of(directory, task):
  """Synthetic records whose `task` labels are all marked missing (made
  from a corpus without those tags: People's Daily has no DEP)."""
  paths = make_records(directory, num_files=2, records_per_file=6)
  for path in paths:
    examples = [tf.train.Example.FromString(r)
                for r in tf.io.tf_record_iterator(path)]
    with tf.io.TFRecordWriter(path) as writer:
      for example in examples:
        weights = example.features.feature[
            records.label_weights_feature(task)].float_list.value
        weights[:] = [0.0] * len(weights)
        writer.write(example.SerializeToString())
  return paths


def test_a_head_whose_task_the_records_lack_is_one_line_before_training(
    tmp_path):
  """--linguistic_tasks=dep on records with no DEP label trained the DEP
  head on nothing (dep_loss 0.0), --check_records or not."""
  _records_without_labels_of(tmp_path / "data", "dep")
  config_file = write_config(str(tmp_path / "config.json"), tiny_config(VOCAB))
  for check in ([], ["--check_records"]):
    out = tmp_path / ("out%d" % len(check))
    result = pretrain([
        "--bert_config_file=" + config_file,
        "--input_file=" + str(tmp_path / "data" / "*.tfrecord"),
        "--output_dir=" + str(out), "--do_train", "--train_batch_size=4",
        "--max_seq_length=%d" % SEQ, "--max_predictions_per_seq=%d" % PRED,
        "--num_train_steps=2", "--linguistic_tasks=pos,dep"] + check,
                      tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "run_pretraining.py: error: --linguistic_tasks=pos,dep: no record "
        "of --input_file (%s and 1 more) carries a DEP label "
        "(dep_label_weights is 0 at every masked position): the DEP head "
        "would train on nothing. Make the records from a corpus with DEP "
        "tags, or leave dep out of --linguistic_tasks." %
        (tmp_path / "data" / "part-0.tfrecord"))
    assert not [n for n in os.listdir(str(out)) if n.startswith("model")]


def test_a_head_is_refused_records_that_write_its_label_at_the_input(
    tmp_path):
  """Records of --linguistic_masking=pos hand the POS head its label as the
  input token ([MASK-POS-n]); other heads, and the MLM alone, may train on
  them. Made by the real script from the sample corpus."""
  sample = os.path.join(REPO, "data", "sample", "tagged.jsonl")
  made = {}
  for mode in ("none", "pos", "mix", "all"):
    made[mode] = str(tmp_path / ("%s.tfrecord" % mode))
    result = run_script(
        "create_pretraining_data.py", "--input_file=" + sample,
        "--output_file=" + made[mode], "--max_seq_length=64",
        "--max_predictions_per_seq=10", "--dupe_factor=1",
        "--linguistic_masking=" + mode)
    assert result.returncode == 0, result.stderr[-2000:]
  for mode, task in (("pos", "pos"), ("mix", "ner"), ("all", "dep")):
    with pytest.raises(script_errors.InputError) as raised:
      lert_model.check_head_labels([made[mode]], [task])
    assert str(raised.value).startswith(
        "%s: record " % made[mode]) and (
            "writes the %s tag of a masked token into its input" %
            task.upper()) in str(raised.value)
  lert_model.check_head_labels([made["pos"]], ["ner", "dep"])
  lert_model.check_head_labels([made["pos"]], [])
  lert_model.check_head_labels([made["none"]], ["pos", "ner", "dep"])


@pytest.mark.slow
def test_a_full_disk_at_a_checkpoint_is_one_line_and_leaves_no_temporary(
    tmp_path):
  """A checkpoint save that runs out of space (here a file-size limit:
  EFBIG, as ENOSPC) printed a 60-line OutOfRangeError traceback and left
  TensorFlow's model.ckpt-N_temp/, which a later run recorded as its own.
  On a fresh run and on a resume; the earlier checkpoint stays whole."""
  import resource
  make_records(tmp_path / "data")
  # The vocabulary of LERT-tiny: a checkpoint of ~30 MB, its graph ~2 MB.
  config = os.path.join(REPO, "configs", "lert_config_tiny.json")
  out = tmp_path / "out"
  command = ["--bert_config_file=" + config,
             "--input_file=" + str(tmp_path / "data" / "*.tfrecord"),
             "--output_dir=" + str(out), "--do_train", "--train_batch_size=4",
             "--max_seq_length=%d" % SEQ, "--max_predictions_per_seq=%d" % PRED,
             "--save_checkpoints_steps=1"]

  def limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (8 << 20, 8 << 20))

  def temporaries():
    return [os.path.relpath(os.path.join(root, name), str(out))
            for root, dirs, files in os.walk(str(out))
            for name in files + dirs if "_temp" in name or ".tmp" in name]

  fresh = run_script("run_pretraining.py", *(command + [
      "--num_train_steps=2"]), cwd=str(tmp_path), preexec_fn=limit_file_size)
  assert fresh.returncode == 1
  last = fresh.stderr.strip().splitlines()[-1]
  assert re.match(r"run_pretraining\.py: error: cannot save the checkpoint "
                  r"of step 0: \S*model\.ckpt-0_temp\S*; File too large "
                  r"\(the checkpoints before it are kept; nothing "
                  r"half-written is\)\.$", last), last
  assert "Traceback" not in fresh.stderr, fresh.stderr[-3000:]
  assert temporaries() == []
  assert not [n for n in os.listdir(str(out)) if n.startswith("model.ckpt")]

  finished = pretrain(command + ["--num_train_steps=2"], tmp_path)
  assert finished.returncode == 0, finished.stderr[-3000:]
  before = {name: (out / name).read_bytes() for name in os.listdir(str(out))
            if name.startswith("model.ckpt-2.")}
  resumed = run_script("run_pretraining.py", *(command + [
      "--num_train_steps=4"]), cwd=str(tmp_path), preexec_fn=limit_file_size)
  assert resumed.returncode == 1
  last = resumed.stderr.strip().splitlines()[-1]
  assert re.match(r"run_pretraining\.py: error: cannot save the checkpoint "
                  r"of step 3: \S*model\.ckpt-3_temp\S*; File too large",
                  last), last
  assert "Traceback" not in resumed.stderr, resumed.stderr[-3000:]
  assert temporaries() == []
  assert tf.train.latest_checkpoint(str(out)).endswith("model.ckpt-2")
  assert before == {name: (out / name).read_bytes() for name in before}
  manifest = (out / "lert_run.json").read_text()
  assert "_temp" not in manifest and ".tmp" not in manifest


@pytest.mark.slow
def test_an_adopted_checkpoint_of_another_name_is_not_saved_again(tmp_path):
  """A downloaded bert_model.ckpt (step 2, with its optimizer state) was
  saved again as model.ckpt-2 when the run started, although the docs say
  an adopted checkpoint is not."""
  paths = make_records(tmp_path / "data")
  out = tmp_path / "out"
  with tf.Graph().as_default():
    trained = train_tiny_checkpoint(str(out), paths, tiny_config(VOCAB),
                                    steps=2, seq_length=SEQ,
                                    max_predictions=PRED)
  for name in os.listdir(str(out)):
    if name.startswith("model.ckpt-2."):
      os.rename(str(out / name),
                str(out / name.replace("model.ckpt-2", "bert_model.ckpt")))
    elif name.startswith("model.ckpt") or name.startswith("events"):
      os.remove(str(out / name))
  tf.train.update_checkpoint_state(str(out), str(out / "bert_model.ckpt"))
  assert trained.endswith("model.ckpt-2")
  config_file = write_config(str(tmp_path / "config.json"), tiny_config(VOCAB))
  result = pretrain([
      "--bert_config_file=" + config_file,
      "--input_file=" + str(tmp_path / "data" / "*.tfrecord"),
      "--output_dir=" + str(out), "--do_train", "--train_batch_size=4",
      "--max_seq_length=%d" % SEQ, "--max_predictions_per_seq=%d" % PRED,
      "--num_train_steps=3", "--num_warmup_steps=1",
      "--save_checkpoints_steps=1"], tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Resumed from %s: not saved again." % (out / "bert_model.ckpt") in (
      result.stderr)
  assert not [n for n in os.listdir(str(out)) if n.startswith("model.ckpt-2")]
  assert tf.train.latest_checkpoint(str(out)).endswith("model.ckpt-3")
