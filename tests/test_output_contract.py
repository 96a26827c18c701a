# coding=utf-8
"""What a run promises (README "What a run promises"): the one atomic
writer, the output-directory contract (lock, manifest, resume, overwrite),
the strict warm start, and one line for bad input and bad flags."""

import io
import json
import os
import resource
import shutil
import stat
import subprocess
import time
import pytest
from conftest import REPO
from conftest import run_script
from conftest import tiny_config
from conftest import write_config

import numpy as np
import tensorflow.compat.v1 as tf

from lert.contract import atomic_files
from lert.contract import fingerprints
from lert.contract import outputs
from lert.contract import script_errors
from lert.finetuning import task_model
from lert.model import checkpoint_parameters
from lert.model import lert_model
from lert.running import checkpoints
import modeling

SAMPLE = os.path.join(REPO, "data", "sample", "tagged.jsonl")


run = run_script


def one_error_line(result, script, text):
  """The run failed with the one line `script: error: ...text...`."""
  assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-3000:]
  lines = [line for line in result.stderr.strip().splitlines()
           if not line.startswith(("WARNING", "I0", "W0", "INFO"))]
  assert lines[-1].startswith(script + ": error: "), result.stderr[-3000:]
  assert text in lines[-1], lines[-1]
  assert "Traceback" not in result.stderr, result.stderr[-3000:]


# ----------------------------------------------------------------------------
# The atomic writer.


def test_writer_refuses_targets_that_are_not_regular_files(tmp_path):
  fifo = str(tmp_path / "fifo")
  os.mkfifo(fifo)
  directory = str(tmp_path / "dir")
  os.makedirs(directory)
  link = str(tmp_path / "link")
  os.symlink(directory, link)
  for target in (fifo, directory, link):
    with pytest.raises(script_errors.InputError, match="not a|is a directory"):
      with atomic_files.atomic_open(target) as f:
        f.write(u"x")
  assert stat.S_ISFIFO(os.stat(fifo).st_mode)
  assert os.path.isdir(directory) and os.path.islink(link)
  assert sorted(os.listdir(str(tmp_path))) == ["dir", "fifo", "link"]
  # A link to a regular file writes the file, and stays a link.
  target = str(tmp_path / "dir" / "real.txt")
  atomic_files.write_text(target, u"old")
  os.symlink(target, str(tmp_path / "to-real"))
  atomic_files.write_text(str(tmp_path / "to-real"), u"new")
  assert os.path.islink(str(tmp_path / "to-real"))
  assert io.open(target).read() == u"new"


def test_a_device_output_file_is_refused_and_kept(tmp_path):
  """create_pretraining_data.py --output_file=/dev/full renamed its
  temporary file over the device (as root: a system device replaced by a
  regular file) and said "Wrote". Here a copy of /dev/full's node."""
  device = str(tmp_path / "full")
  try:
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
  except (OSError, AttributeError):
    pytest.skip("making a device node needs root")
  result = run("create_pretraining_data.py", "--input_file=" + SAMPLE,
               "--output_file=" + device, "--max_seq_length=64",
               "--max_predictions_per_seq=10")
  one_error_line(result, "create_pretraining_data.py",
                 "is not a regular file")
  assert stat.S_ISCHR(os.stat(device).st_mode)
  assert os.listdir(str(tmp_path)) == ["full"]


def _limit_file_size():
  resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
  """A write that fails (here: files limited to 4 KB, as a full disk) ends in
  one line and leaves neither output nor temporary file (the README said
  so, but .tmp files were left)."""
  out = str(tmp_path / "out" / "data.tfrecord")
  result = run("create_pretraining_data.py", "--input_file=" + SAMPLE,
               "--output_file=" + out, "--max_seq_length=64",
               "--max_predictions_per_seq=10", "--dump_examples=5",
               preexec_fn=_limit_file_size)
  one_error_line(result, "create_pretraining_data.py", "File too large")
  assert os.listdir(str(tmp_path / "out")) == []


def test_two_writers_of_one_file_at_once(tmp_path):
  """Two runs writing one file interleaved and both reported success."""
  target = str(tmp_path / "records.tfrecord")
  with atomic_files.atomic_open(target, "wb") as first:
    first.write(b"first")
    with pytest.raises(script_errors.InputError,
                       match="another run is writing .*records.tfrecord"):
      with atomic_files.atomic_open(target, "wb") as second:
        second.write(b"second")
  assert open(target, "rb").read() == b"first"
  assert os.listdir(str(tmp_path)) == ["records.tfrecord"]


# ----------------------------------------------------------------------------
# The output directory.


def directory(path, settings, patterns=("model-*", "out"), **kwargs):
  return outputs.OutputDirectory(str(path), "script.py", settings,
                                 patterns, **kwargs)


def test_output_directory_resumes_refuses_and_overwrites_only_its_files(
    tmp_path):
  out = tmp_path / "out"
  with directory(out, {"lr": 1, "data": "a"}):
    (out / "model-1").write_text(u"weights")
  (out / "notes.txt").write_text(u"the user's")
  inode = os.stat(str(out / "lert_run.json")).st_ino
  with directory(out, {"lr": 1, "data": "a"}) as again:
    assert again.resumed
  # A resume rewrites no record (several tagging machines resume at once).
  assert os.stat(str(out / "lert_run.json")).st_ino == inode
  with pytest.raises(script_errors.InputError,
                     match=r"out was written with lr = 1, this run has 2.*"
                     r"--overwrite"):
    directory(out, {"lr": 2, "data": "a"}).open()
  assert (out / "model-1").exists()
  with directory(out, {"lr": 2, "data": "a"}, overwrite=True):
    pass
  assert sorted(os.listdir(str(out))) == ["lert_run.json", "notes.txt"]
  manifest = json.load(io.open(str(out / "lert_run.json")))
  assert manifest["script"] == "script.py"
  assert manifest["settings"] == {"lr": 2, "data": "a"}
  # Another script's directory is refused too.
  with pytest.raises(script_errors.InputError,
                     match="written by script.py, not other.py"):
    outputs.OutputDirectory(str(out), "other.py", {}, []).open()


def test_overwrite_removes_what_the_script_wrote_not_what_its_patterns_match(
    tmp_path):
  """A user's model-best kept beside the run's model-1 matched the
  script's pattern model-* and was deleted by --overwrite."""
  out = tmp_path / "out"
  with directory(out, {"lr": 1}):
    (out / "model-1").write_text(u"weights")
  (out / "model-best").write_text(u"the user's")
  with directory(out, {"lr": 2}, overwrite=True):
    (out / "model-2").write_text(u"new")
  assert sorted(os.listdir(str(out))) == ["lert_run.json", "model-2",
                                          "model-best"]
  manifest = json.load(io.open(str(out / "lert_run.json")))
  assert manifest["files"] == ["model-2"]
  # A file the script rewrote in place (its size or time changed) is its own.
  with directory(out, {"lr": 2}):
    (out / "model-best").write_text(u"rewritten by the run")
  assert json.load(io.open(str(out / "lert_run.json")))["files"] == [
      "model-2", "model-best"]


def test_overwrite_removes_only_the_scripts_files_inside_its_directories(
    tmp_path):
  """Beam's records/ and the runner's pretrain/ were removed whole, with a
  user's files inside them. Inside a directory of the script's patterns,
  the script's files are recorded one by one, and what removing them
  leaves empty goes too."""
  out = tmp_path / "out"
  patterns = ["records", "pretrain", "model-*"]
  with directory(out, {"lr": 1}, patterns=patterns):
    (out / "records").mkdir()
    (out / "records" / "part-0").write_text(u"r")
    (out / "pretrain" / "cell" / "eval").mkdir(parents=True)
    (out / "pretrain" / "cell" / "model-1").write_text(u"w")
    (out / "pretrain" / "cell" / "eval" / "events").write_text(u"e")
  manifest = json.load(io.open(str(out / "lert_run.json")))
  assert manifest["files"] == ["pretrain/cell/eval/events",
                               "pretrain/cell/model-1", "records/part-0"]
  (out / "records" / "my_notes.txt").write_text(u"the user's")
  (out / "pretrain" / "my-own-run").mkdir()
  (out / "pretrain" / "my-own-run" / "model-1").write_text(u"the user's")
  with directory(out, {"lr": 2}, patterns=patterns, overwrite=True):
    pass
  left = sorted(os.path.relpath(os.path.join(root, name), str(out))
                for root, dirs, files in os.walk(str(out))
                for name in files + [d for d in dirs if not os.listdir(
                    os.path.join(root, d))])
  assert left == ["lert_run.json", "pretrain/my-own-run/model-1",
                  "records/my_notes.txt"]
  # A record of an earlier version listed a directory by its name: what is
  # in it now was the script's then (as before), the rest is the user's.
  (out / "records" / "part-1").write_text(u"r")
  manifest = json.load(io.open(str(out / "lert_run.json")))
  manifest["files"] = ["records"]
  (out / "lert_run.json").write_text(json.dumps(manifest))
  with directory(out, {"lr": 3}, patterns=patterns, overwrite=True):
    pass
  assert not (out / "records").exists()
  assert (out / "pretrain" / "my-own-run" / "model-1").exists()


def test_a_directory_without_a_record_is_refused_and_never_cleared(tmp_path):
  """A downloaded checkpoint in a directory with no lert_run.json: the old
  advice "--overwrite to replace what script.py wrote there" deleted it."""
  out = tmp_path / "out"
  out.mkdir()
  (out / "model-9").write_text(u"downloaded")
  for overwrite in (False, True):
    with pytest.raises(script_errors.InputError,
                       match=r"holds model-9, which script.py did not write "
                       r"\(there is no lert_run.json\)"):
      directory(out, {}, overwrite=overwrite).open()
  assert sorted(os.listdir(str(out))) == ["model-9"]
  # A script that can take such files over adopts them; they stay the
  # user's: an --overwrite later removes only what the run wrote.
  seen = []
  with directory(out, {"lr": 1}, adopt=seen.append) as adopted:
    assert adopted.adopted
    (out / "model-10").write_text(u"trained on")
  assert seen == [["model-9"]]
  with directory(out, {"lr": 2}, overwrite=True):
    pass
  assert sorted(os.listdir(str(out))) == ["lert_run.json", "model-9"]
  # An adopter that refuses: its line, nothing written.
  shutil.rmtree(str(out))
  out.mkdir()
  (out / "model-9").write_text(u"downloaded")

  def refuse(names):
    raise script_errors.InputError("%s is not a model of this run" % names[0])
  with pytest.raises(script_errors.InputError, match="model-9 is not a model"):
    directory(out, {}, adopt=refuse).open()
  assert sorted(os.listdir(str(out))) == ["model-9"]


def test_what_a_killed_run_wrote_is_its_own(tmp_path):
  """A run killed before it recorded its files (its lock file stays): what
  appeared after it began is attributed to it, an older user's file is
  not."""
  out = tmp_path / "out"
  with directory(out, {"lr": 1}):
    pass
  (out / "model-best").write_text(u"the user's")
  old = time.time() - 3600
  os.utime(str(out / "model-best"), (old, old))
  killed = directory(out, {"lr": 1})
  killed.open()
  (out / "model-1").write_text(u"written before the kill")
  os.close(killed._lock_fd)  # the process died: its lock file stays
  killed._lock_fd = None
  assert os.path.exists(str(out / outputs.LOCK))
  with directory(out, {"lr": 2}, overwrite=True):
    pass
  assert sorted(os.listdir(str(out))) == ["lert_run.json", "model-best"]


def test_inputs_are_recorded_by_content(tmp_path):
  """Three characters of a corpus edited in place (the same size) were no
  difference: the run said "finished" over outputs of the old text. A
  touch is no difference."""
  corpus = tmp_path / "corpus.txt"
  corpus.write_text(u"abc def\n")
  out = tmp_path / "out"

  def settings():
    return {"input": fingerprints.describe_file(str(corpus))}
  with directory(out, settings()):
    (out / "model-1").write_text(u"x")
  recorded = json.load(io.open(str(out / "lert_run.json")))
  import hashlib
  assert recorded["settings"]["input"] == [
      str(corpus), 8, "sha256:" + hashlib.sha256(b"abc def\n").hexdigest()]
  later = time.time() + 5
  os.utime(str(corpus), (later, later))
  with directory(out, settings()) as again:
    assert again.resumed
  corpus.write_text(u"abc xyz\n")
  with pytest.raises(script_errors.InputError,
                     match=r"written with input = .*sha256:.*this run has"):
    directory(out, settings()).open()


def test_an_unchanged_input_is_not_read_again(tmp_path, monkeypatch):
  corpus = tmp_path / "corpus.txt"
  corpus.write_text(u"abc\n")
  out = tmp_path / "out"
  with directory(out, {"input": fingerprints.describe_file(str(corpus))}):
    pass
  opened = []
  real_open = io.open
  monkeypatch.setattr(fingerprints.io, "open", lambda path, *a, **k: (
      opened.append(path), real_open(path, *a, **k))[1])
  with directory(out, {"input": fingerprints.describe_file(str(corpus))}):
    pass
  assert str(corpus) not in opened


def test_a_remote_output_directory_keeps_the_same_contract():
  """A gs:// directory (here TensorFlow's in-memory ram:// file system):
  the settings are compared and --overwrite removes only the script's
  files. The script's files were listed with os.listdir, which fails on a
  remote path."""
  gfile = tf.io.gfile
  out = "ram://contract-%d" % os.getpid()
  try:
    gfile.makedirs(out)
  except tf.errors.OpError:
    pytest.skip("this TensorFlow has no ram:// file system")
  with outputs.OutputDirectory(out, "script.py", {"lr": 1},
                               ["model-*", "records"]):
    gfile.makedirs(out + "/records")
    atomic_files.write_text(out + "/records/part-0", u"r")
    atomic_files.write_text(out + "/model-1", u"w")
    atomic_files.write_text(out + "/notes.txt", u"the user's")
  with pytest.raises(script_errors.InputError,
                     match="written with lr = 1, this run has 2"):
    outputs.OutputDirectory(out, "script.py", {"lr": 2},
                            ["model-*", "records"]).open()
  outputs.OutputDirectory(out, "script.py", {"lr": 2}, ["model-*", "records"],
                          overwrite=True).open()
  assert sorted(gfile.listdir(out)) == ["lert_run.json", "notes.txt"]


def test_a_remote_directory_that_cannot_be_reached_is_one_line(monkeypatch):
  """gs:// without credentials or network was a FailedPreconditionError
  traceback from makedirs (Beam's script)."""
  class Unreachable(object):

    def makedirs(self, path):
      raise tf.errors.FailedPreconditionError(
          None, None, "Error executing an HTTP request: libcurl code 6\n"
          "meaning 'Couldn't resolve host name'")

  monkeypatch.setattr(atomic_files, "gfile", Unreachable)
  with pytest.raises(script_errors.InputError) as info:
    outputs.OutputDirectory("gs://bucket/out", "script.py", {}, []).open()
  assert str(info.value).startswith(
      "gs://bucket/out: cannot make or reach the directory (Error executing "
      "an HTTP request: libcurl code 6 meaning 'Couldn't resolve host "
      "name'): check the credentials")


def test_output_directory_is_locked_for_the_run(tmp_path):
  with directory(tmp_path / "out", {}):
    with pytest.raises(script_errors.InputError,
                       match=r"is in use by another run \(pid %d" %
                       os.getpid()):
      directory(tmp_path / "out", {}).open()
  with directory(tmp_path / "out", {}):  # released
    pass
  assert os.listdir(str(tmp_path / "out")) == ["lert_run.json"]


def test_overwrite_never_touches_an_input(tmp_path):
  data = tmp_path / "data"
  data.mkdir()
  (data / "train.tsv").write_text(u"1\tgood\n")
  for target, given in ((data, data / "train.tsv"),
                        (tmp_path, data / "train.tsv"),
                        (data / "sub", data), (data, data)):
    with pytest.raises(script_errors.InputError,
                       match="would hold or replace the input"):
      directory(target, {}, inputs=[str(given)], overwrite=True).open()
  assert os.listdir(str(data)) == ["train.tsv"]


def test_a_run_that_wrote_nothing_does_not_bind_the_directory(tmp_path):
  """A tagger run that failed on bad input (no shard) locked its directory
  to that input."""
  with directory(tmp_path / "out", {"input": "bad"}):
    pass  # failed before writing anything
  with directory(tmp_path / "out", {"input": "fixed"}):
    (tmp_path / "out" / "model-1").write_text(u"x")
  with pytest.raises(script_errors.InputError, match="input"):
    directory(tmp_path / "out", {"input": "bad"}).open()


def test_an_output_directory_that_is_a_file(tmp_path):
  (tmp_path / "f").write_text(u"x")
  with pytest.raises(script_errors.InputError, match="is not a directory"):
    directory(tmp_path / "f", {}).open()


# ----------------------------------------------------------------------------
# Strict warm start.


def save_model(path, config, extra=()):
  """A checkpoint of BertModel(config) and the variables named in `extra`
  ((name, shape) pairs)."""
  with tf.Graph().as_default():
    modeling.BertModel(config, False, tf.constant([[1, 2]]))
    for name, shape in extra:
      tf.get_variable(name, shape)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      return tf.train.Saver().save(sess, path)


def build_classifier(config, num_labels=2):
  model = modeling.BertModel(config, False, tf.constant([[1, 2]]))
  task_model.create_output_layer(config, model, num_labels, "sequence",
                                 False)


def test_warm_start_of_another_hidden_size_is_an_error(tmp_path):
  """run_classifier.py warm-started from a checkpoint of another hidden size
  loaded 0 variables, made 73 new and reported an accuracy from scratch."""
  init = save_model(str(tmp_path / "h16" / "model.ckpt"),
                    tiny_config(100, hidden_size=16, intermediate_size=32))
  build_classifier(tiny_config(100))
  with pytest.raises(
      script_errors.InputError,
      match=r"holds bert/embeddings/word_embeddings with shape \[100, 16\], "
      r"the model needs \[100, 32\]"):
    checkpoints.init_from_checkpoint(init, False,
                                     task_model.OUTPUT_LAYER_VARIABLES)


def test_warm_start_lists_the_new_output_layer_and_loads_the_rest(tmp_path):
  config = tiny_config(100)
  init = save_model(str(tmp_path / "pre" / "model.ckpt"), config,
                    [("output_weights", [3, 32])])  # another task's layer
  build_classifier(config)
  start = checkpoints.init_from_checkpoint(
      init, False, task_model.OUTPUT_LAYER_VARIABLES)
  assert sorted(start.new) == ["output_bias", "output_weights"]
  assert len(start.loaded) == len(tf.trainable_variables()) - 2
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    name = "bert/encoder/layer_1/output/dense/kernel"
    variable = [v for v in tf.global_variables() if v.op.name == name][0]
    np.testing.assert_array_equal(
        sess.run(variable), tf.train.load_checkpoint(init).get_tensor(name))


def test_warm_start_without_an_encoder_variable_is_an_error(tmp_path):
  with tf.Graph().as_default():
    tf.get_variable("bert/embeddings/word_embeddings", [100, 32])
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      init = tf.train.Saver().save(sess, str(tmp_path / "part" / "m.ckpt"))
  build_classifier(tiny_config(100))
  with pytest.raises(script_errors.InputError,
                     match=r"lacks bert/embeddings/token_type_embeddings "
                     r"\(shape \[2, 32\]\)"):
    checkpoints.init_from_checkpoint(init, False,
                                     task_model.OUTPUT_LAYER_VARIABLES)


def test_pretraining_warm_start_takes_heads_whole_or_not_at_all(tmp_path):
  """A head the checkpoint lacks entirely (Google BERT has no POS head) is
  new; one it holds in part is an error."""
  config = tiny_config(100)
  encoder_only = save_model(str(tmp_path / "enc" / "model.ckpt"), config)
  partial = save_model(
      str(tmp_path / "part" / "model.ckpt"), config,
      [(checkpoint_parameters.head_variable_name("pos") + "/kernel", [32, 28])])

  def build():
    model = modeling.BertModel(config, False, tf.constant([[1, 2]]))
    lert_model.lert_head_logits(config, model.get_sequence_output(),
                                model.get_embedding_table(),
                                tf.constant([[0]]), ["pos"])

  with tf.Graph().as_default():
    build()
    start = checkpoints.init_from_checkpoint(
        encoder_only, False, optional_group=checkpoint_parameters.head_group)
    assert start.new and all(n.startswith("cls/") for n in start.new)
    assert not [n for n in start.loaded if n.startswith("cls/")]
  with tf.Graph().as_default():
    build()
    with pytest.raises(script_errors.InputError,
                       match="lacks cls/predictions/output_pos_layer/bias"):
      checkpoints.init_from_checkpoint(
          partial, False, optional_group=checkpoint_parameters.head_group)


# ----------------------------------------------------------------------------
# Flags checked when parsed.


@pytest.mark.parametrize("script,args,message", [
    ("run_pretraining.py", ["--use_tpu"], "--use_tpu needs --tpu_name"),
    ("run_pretraining.py", ["--num_gpus=2", "--train_batch_size=3"],
     "--train_batch_size must be a multiple of --num_gpus"),
    ("run_pretraining.py", ["--num_gpus=2", "--train_batch_size=4",
                            "--gradient_accumulation_steps=2"],
     "--gradient_accumulation_steps > 1 and --precision=fp16 run on one "
     "device"),
    ("run_classifier.py", ["--task_name=bq", "--num_gpus=2",
                           "--eval_batch_size=5"],
     "--eval_batch_size must be a multiple of --num_gpus"),
    ("run_classifier.py", ["--task_name=bq", "--do_train",
                           "--train_file=x"],
     "--do_train fine-tunes a pre-trained model: give --init_checkpoint"),
    ("run_classifier.py", ["--task_name=bq", "--do_train", "--train_file=x",
                           "--init_checkpoint=c", "--train_from_scratch"],
     "or --train_from_scratch to train from random weights, not both"),
    ("convert_checkpoint.py", ["--direction=hf2tf",
                               "--bert_config_file=c.json"],
     "--bert_config_file is for --direction=tf2hf"),
    ("predict_linguistic.py", ["--text=x", "--mask=位于,"],
     "--mask holds an empty word"),
    ("predict_linguistic.py", ["--text=x[MASK]", "--max_inputs=-1"],
     "--max_inputs must be at least 1"),
    ("predict_linguistic.py", ["--text=x[MASK]", "--predict_batch_size=0"],
     "--predict_batch_size must be at least 1"),
])
def test_bad_flag_combinations_are_refused_when_parsed(tmp_path, script, args,
                                                       message):
  common = {"run_pretraining.py": ["--bert_config_file=c.json",
                                   "--input_file=x", "--output_dir=o",
                                   "--do_train"],
            "run_classifier.py": ["--bert_config_file=c.json",
                                  "--output_dir=o", "--do_eval",
                                  "--eval_file=x"],
            "predict_linguistic.py": ["--checkpoint=x"],
            "convert_checkpoint.py": ["--input=x", "--output_dir=o"]}[script]
  result = run(script, *(common + args), timeout=120)
  assert result.returncode == 1
  assert message in result.stderr, result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  assert not os.path.exists(os.path.join(REPO, "o"))


# ----------------------------------------------------------------------------
# Fine-tuning runs end to end.


@pytest.fixture(scope="module")
def classifier_setup(tmp_path_factory):
  root = tmp_path_factory.mktemp("classifier")
  rows = [(u"很好", "1"), (u"很差", "0")] * 4
  train = str(root / "train.tsv")
  with io.open(train, "w", encoding="utf-8") as f:
    f.write(u"".join(u"%s\t%s\n" % (label, text) for text, label in rows))
  vocab = str(root / "vocab.txt")
  with io.open(vocab, "w", encoding="utf-8") as f:
    f.write(u"\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", u"很",
                        u"好", u"差"]) + u"\n")
  config_file = write_config(str(root / "config.json"), tiny_config(8))
  base = ["--task_name=chnsenticorp", "--bert_config_file=" + config_file,
          "--vocab_file=" + vocab, "--train_file=" + train,
          "--eval_file=" + train, "--max_seq_length=8",
          "--train_batch_size=8", "--num_train_epochs=1",
          "--train_from_scratch"]
  return root, base


def test_predicting_without_a_checkpoint_is_refused_before_anything_is_written(
    classifier_setup):
  """It refused, but first made the directory with lert_run.json and the
  feature files in it."""
  root, base = classifier_setup
  out = root / "never-trained"
  result = run_script("run_classifier.py", *(
      [a for a in base if not a.startswith("--train")] +
      ["--predict_file=" + str(root / "train.tsv"), "--do_predict",
       "--output_dir=%s" % out]))
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      "run_classifier.py: error: %s holds no fine-tuned checkpoint: run "
      "--do_train first (with the same --output_dir)." % out)
  assert not out.exists()


@pytest.mark.slow
def test_rerun_with_other_settings_is_refused_and_same_settings_resume(
    classifier_setup):
  """Re-running into a trained directory with another learning rate skipped
  training and reported the old model's accuracy as the new run's."""
  root, base = classifier_setup
  out = "--output_dir=" + str(root / "rerun")
  first = run("run_classifier.py", out, "--do_train", "--do_eval", *base)
  assert first.returncode == 0, first.stderr[-3000:]
  scores = io.open(str(root / "rerun" / "eval_results.txt")).read()
  other = run("run_classifier.py", out, "--do_train", "--do_eval",
              "--learning_rate=1e-3", *base)
  one_error_line(other, "run_classifier.py",
                 "was written with learning_rate = 3e-05, this run has 0.001")
  # The same settings resume (trained to the end: only evaluate), and
  # evaluation alone may score other files.
  again = run("run_classifier.py", out, "--do_train", "--do_eval", *base)
  assert again.returncode == 0, again.stderr[-3000:]
  assert io.open(str(root / "rerun" / "eval_results.txt")).read() == scores
  assert run("run_classifier.py", out, "--do_eval",
             *base).returncode == 0
  replaced = run("run_classifier.py", out, "--do_train", "--do_eval",
                 "--learning_rate=1e-3", "--overwrite", *base)
  assert replaced.returncode == 0, replaced.stderr[-3000:]
  manifest = json.load(io.open(str(root / "rerun" / "lert_run.json")))
  assert manifest["settings"]["learning_rate"] == 1e-3


def test_second_run_into_a_directory_in_use_stops_at_once(classifier_setup):
  root, base = classifier_setup
  with finetuning_lock(str(root / "busy")):
    result = run("run_classifier.py", "--output_dir=" + str(root / "busy"),
                 "--do_train", *base)
  one_error_line(result, "run_classifier.py", "is in use by another run")
  assert os.listdir(str(root / "busy")) == ["lert_run.json"]


def finetuning_lock(path):
  return outputs.OutputDirectory(path, "run_classifier.py", {}, [])


@pytest.mark.slow
def test_mismatched_init_checkpoint_and_pretraining_directory(
    classifier_setup, tmp_path):
  root, base = classifier_setup
  init = save_model(str(tmp_path / "h16" / "model.ckpt"),
                    tiny_config(8, hidden_size=16, intermediate_size=32))
  result = run("run_classifier.py", "--output_dir=" + str(tmp_path / "a"),
               "--do_train", "--init_checkpoint=" + init,
               *[a for a in base if a != "--train_from_scratch"])
  one_error_line(result, "run_classifier.py",
                 "holds bert/embeddings/word_embeddings with shape [8, 16]")
  assert not tf.train.latest_checkpoint(str(tmp_path / "a"))
  # --do_eval on a directory of a pre-training checkpoint (no classifier
  # layer, no record of a fine-tuning run): one line.
  save_model(str(tmp_path / "pre" / "model.ckpt"), tiny_config(8))
  result = run("run_classifier.py", "--output_dir=" + str(tmp_path / "pre"),
               "--do_eval", *base)
  one_error_line(result, "run_classifier.py",
                 "has no output layer fine-tuned for this task")


def test_a_truncated_init_checkpoint_is_one_line_and_binds_nothing(
    classifier_setup, tmp_path):
  """A truncated --init_checkpoint was an OutOfRangeError traceback mid-run,
  and the failed run's events file bound the directory to it."""
  root, base = classifier_setup
  init = save_model(str(tmp_path / "pre" / "model.ckpt"), tiny_config(8))
  data = init + ".data-00000-of-00001"
  with open(data, "r+b") as f:
    f.truncate(os.path.getsize(data) // 2)
  out = tmp_path / "a"
  result = run("run_classifier.py", "--output_dir=" + str(out), "--do_train",
               "--init_checkpoint=" + init,
               *[a for a in base if a != "--train_from_scratch"])
  one_error_line(result, "run_classifier.py",
                 "model.ckpt is not a readable checkpoint (truncated or "
                 "corrupt?)")
  assert not out.exists()


def test_gpus_that_are_not_there_are_one_line_before_anything_is_written(
    classifier_setup, tmp_path):
  """--num_gpus=2 on a machine without GPUs hung after writing model.ckpt-0,
  which then bound the output directory. (CUDA_VISIBLE_DEVICES hides any
  GPU of the machine the tests run on.)"""
  root, base = classifier_setup
  config_file = write_config(str(tmp_path / "c.json"), tiny_config(8))
  hidden = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
  for script, args in [
      ("run_pretraining.py", ["--bert_config_file=" + config_file,
                              "--input_file=" + str(tmp_path / "none"),
                              "--max_seq_length=8", "--train_batch_size=4",
                              "--max_predictions_per_seq=2"]),
      ("run_classifier.py", base)]:
    out = tmp_path / script
    result = run_script(script, "--do_train", "--num_gpus=2",
                        "--output_dir=" + str(out), *args, env=hidden,
                        timeout=300)
    one_error_line(result, script,
                   "--num_gpus=2, but TensorFlow sees 0 GPUs on this machine")
    assert not out.exists()


# ----------------------------------------------------------------------------
# Wrappers and small scripts.


def test_summarize_seeds_refuses_values_that_are_not_numbers(tmp_path):
  for i, value in enumerate(["0.9", "nan", "n/a"]):
    d = tmp_path / ("seed-%d" % i)
    d.mkdir()
    (d / "eval_results.txt").write_text(u"accuracy = %s\n" % value)
  result = run_script("scripts/summarize_seeds.py", tmp_path / "seed-0",
                      tmp_path / "seed-1")
  assert result.returncode == 1
  assert result.stderr.strip().endswith(
      "seed-1/eval_results.txt:1: accuracy = 'nan' is not a finite number.")
  result = run_script("scripts/summarize_seeds.py", tmp_path / "seed-2")
  assert "accuracy = 'n/a' is not a finite number" in result.stderr


def test_summarize_seeds_refuses_a_run_it_would_leave_out(tmp_path):
  """A run whose eval_results.txt was unreadable, or lacked the metric, was
  dropped and the rest summarised, exit 0: a mean over 2 of 3 seeds."""
  def summarize(*contents):
    paths = []
    case = tmp_path / ("case-%d" % len(list(tmp_path.iterdir())))
    for i, content in enumerate(contents):
      d = case / str(i)
      d.mkdir(parents=True)
      (d / "eval_results.txt").write_bytes(content)
      paths.append(str(d))
    return run_script("scripts/summarize_seeds.py", *paths)
  good = b"accuracy = 0.8\nglobal_step = 9\n"
  for contents, message in [
      ((good, b"\xff\xfe garbage"), "1/eval_results.txt is not UTF-8"),
      ((good, b"global_step = 9\n"), "1/eval_results.txt holds none of"),
      ((good, b"F1 = 80.0\nEM = 70.0\n"),
       "1/eval_results.txt has no accuracy, which"),
  ]:
    result = summarize(*contents)
    assert result.returncode == 1 and not result.stdout, result.stdout
    assert result.stderr.startswith("summarize_seeds.py: error: ")
    assert message in result.stderr, result.stderr
  result = summarize(good, b"accuracy = 0.6\n")
  assert result.returncode == 0, result.stderr
  assert result.stdout.startswith("accuracy: 0.8000 (0.7000) over 2 runs")


def wrapper(name, *args, **env):
  return subprocess.run(
      ["bash", os.path.join(REPO, "scripts", name)] + list(args),
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
      env=dict(os.environ, **env), timeout=120)


def test_wrappers_use_the_project_python_and_check_their_arguments(tmp_path):
  stub = tmp_path / "python"
  stub.write_text(u"#!/bin/sh\necho \"$@\" > %s/args\n" % tmp_path)
  stub.chmod(0o755)
  # Not python3 from PATH: $PYTHON, else .venv-tf2.
  result = wrapper("finetune.sh", "bq", "base", "none", str(tmp_path),
                   str(tmp_path / "o"), PYTHON=str(stub),
                   PATH="/usr/bin:/bin")
  assert result.returncode == 0, result.stderr
  assert "run_classifier.py" in (tmp_path / "args").read_text()
  result = wrapper("finetune.sh", "bq", "base", "none", str(tmp_path),
                   str(tmp_path / "o"), PYTHON=str(tmp_path / "none"))
  assert result.returncode == 1 and "no Python at" in result.stderr
  result = wrapper("run_seeds.sh", "nosuchtask", "base", "none",
                   str(tmp_path), str(tmp_path / "o"), PYTHON=str(stub))
  assert result.returncode == 1
  assert "unknown TASK 'nosuchtask'" in result.stderr
  assert "No such file" not in result.stderr
  result = wrapper("predict_linguistic.sh", "tiny", str(tmp_path),
                   str(tmp_path / "inptu.txt"), PYTHON=str(stub))
  assert result.returncode == 1
  assert "is no file" in result.stderr


@pytest.mark.parametrize("content,message", [
    # An empty --vocab_file ended in a ValueError traceback.
    (b"", "vocab.txt is empty"),
    # One that is not UTF-8 (a checkpoint given by mistake), in a
    # UnicodeDecodeError traceback.
    (b"[PAD]\n[UNK]\n\x89PNG\x00\xff\n",
     "vocab.txt:3: the vocabulary is not UTF-8 text"),
])
def test_a_vocabulary_that_is_empty_or_not_text_is_one_line(tmp_path, content,
                                                            message):
  (tmp_path / "vocab.txt").write_bytes(content)
  result = run("create_pretraining_data.py", "--input_file=" + SAMPLE,
               "--output_file=" + str(tmp_path / "out.tfrecord"),
               "--vocab_file=" + str(tmp_path / "vocab.txt"))
  one_error_line(result, "create_pretraining_data.py", message)
  assert sorted(os.listdir(str(tmp_path))) == ["vocab.txt"]


def test_a_hugging_face_directory_given_as_a_checkpoint_says_to_convert_it(
    tmp_path):
  """It said "holds no checkpoint", with no hint."""
  hf = tmp_path / "chinese-lert-base"
  hf.mkdir()
  (hf / "config.json").write_text(u"{}")
  (hf / "model.safetensors").write_bytes(b"")
  for what in ("--init_checkpoint", "--checkpoint"):
    with pytest.raises(script_errors.InputError) as raised:
      checkpoints.resolve_checkpoint(str(hf), what)
    assert str(raised.value) == (
        "%s: %s is a Hugging Face model directory, not a TensorFlow "
        "checkpoint: convert it first (python convert_checkpoint.py "
        "--direction=hf2tf --input=%s --output_dir=%s_tf) and pass the "
        "converted directory." % (what, hf, hf, hf))
  (hf / "model.safetensors").unlink()
  with pytest.raises(script_errors.InputError,
                     match="directory .* holds no checkpoint"):
    checkpoints.resolve_checkpoint(str(hf))
