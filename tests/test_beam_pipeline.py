# coding=utf-8
"""prepare_pretraining_data_beam.py on Beam's in-process runner, against
the single-machine scripts it must agree with."""

import glob
import io
import json
import os
import signal
import subprocess
import sys
import pytest
from conftest import REPO
from conftest import stop_midway
from conftest import write_sample_without

import tensorflow.compat.v1 as tf

from lert.pretraining_data import writer
from lert.tagging import ltp_tagging

pytest.importorskip("apache_beam", reason="Apache Beam is installed in the "
                    "TF 2.15 / Python 3.11 environment only "
                    "(requirements-beam.txt)")

VOCAB = os.path.join(REPO, "configs", "vocab.txt")
SAMPLE = os.path.join(REPO, "data", "sample", "tagged.jsonl")
MASKING = ["--max_seq_length=64", "--max_predictions_per_seq=10",
           "--dupe_factor=2", "--random_seed=5", "--vocab_file=" + VOCAB]
RAW = (u"哈尔滨工业大学位于哈尔滨。它创建于1920年！学校有很多学生？\n"
       u"LERT是一个中文预训练模型，由HFL发布。\n"
       u"\n"
       u"今天天气很好。我们去公园散步吧！\n"
       u"\n"
       u"北京是中国的首都，上海是最大的城市。\n")


def run_beam(args, expect_ok=True):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
             PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, "prepare_pretraining_data_beam.py")]
      + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      universal_newlines=True, timeout=600)
  if expect_ok:
    assert result.returncode == 0, result.stderr[-3000:]
  return result


def records_in(pattern):
  return sorted(record for path in sorted(glob.glob(pattern))
                for record in tf.io.tf_record_iterator(path))


def lines_in(pattern):
  lines = []
  for path in sorted(glob.glob(pattern)):
    with io.open(path, encoding="utf-8") as f:
      lines.extend(line for line in f.read().splitlines() if line)
  return sorted(lines)


def split_sample(directory):
  """The sample's 32 documents in two files."""
  with io.open(SAMPLE, encoding="utf-8") as f:
    lines = f.read().splitlines(True)
  os.makedirs(directory)
  paths = []
  for index, part in enumerate((lines[:20], lines[20:])):
    paths.append(os.path.join(directory, "part-%d.jsonl" % index))
    with io.open(paths[-1], "w", encoding="utf-8") as f:
      f.writelines(part)
  return paths


def single_machine_records(paths, output):
  kwargs = dict(vocab_file=VOCAB, do_lower_case=True, max_seq_length=64,
                max_predictions_per_seq=10, masked_lm_prob=0.15,
                short_seq_prob=0.1, max_ngram=4, dupe_factor=2,
                random_seed=5)
  outputs = [output + "-%d" % i for i in range(3)]
  summary = writer.write_pretraining_data(
      paths, outputs, kwargs, log=lambda message: None)
  return sorted(record for path in outputs
                for record in tf.io.tf_record_iterator(path)), summary


@pytest.mark.parametrize("workers", [
    [], ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]])
def test_records_from_tagged_lines_equal_the_single_machine_scripts(
    tmp_path, workers):
  paths = split_sample(str(tmp_path / "in"))
  expected, summary = single_machine_records(paths, str(tmp_path / "single"))
  out = str(tmp_path / "beam")
  result = run_beam(["--input_file=" + ",".join(paths),
                     "--input_format=tagged", "--output_dir=" + out,
                     "--num_record_shards=3"] + MASKING + workers)
  got = records_in(os.path.join(out, "records", "part-*.tfrecord"))
  assert len(got) == summary.instances > 50
  assert got == expected
  assert len(glob.glob(os.path.join(out, "records", "*"))) == 3
  # The summary, from Beam's metrics, is the single machine's.
  with open(os.path.join(out, "summary.json")) as f:
    counts = json.load(f)["records"]
  assert counts == summary.counters()
  assert summary.report() in result.stdout
  assert lines_in(os.path.join(out, "dead_letter", "*")) == []


@pytest.mark.slow
def test_raw_text_is_tagged_as_the_tagger_does_and_bad_lines_are_dead_letters(
    tmp_path):
  pytest.importorskip("ltp", reason="LTP is in the TF 2.15 environment only")
  from ltp_tiny import build_tiny_ltp
  model = build_tiny_ltp(str(tmp_path / "ltp"), VOCAB)
  corpus = str(tmp_path / "corpus.txt")
  with io.open(corpus, "w", encoding="utf-8") as f:
    f.write(RAW)
  bad = str(tmp_path / "bad.txt")
  with io.open(bad, "wb") as f:
    f.write(u"第一句。\n坏\x00行\n第二句。\n\n".encode("utf-8") + b"\xff\n" +
            u"第三句。\n".encode("utf-8"))

  # The tagger on both files (skipping the bad lines), then the records.
  tagger_dir = str(tmp_path / "tagger")
  summary, _, skipped = ltp_tagging.run(ltp_tagging.TaggingSettings(
      input_files=[corpus, bad], output_dir=tagger_dir, ltp_model=model,
      device="cpu", batch_size=2, num_output_shards=2, num_shards=1,
      shard_index=0, num_workers=1, num_threads=1, max_sentence_chars=500,
      on_error="skip", overwrite=False), log=lambda message: None)
  assert skipped == 2 and summary.documents == 5
  expected_records, _ = single_machine_records(
      sorted(glob.glob(os.path.join(tagger_dir, "*.jsonl"))),
      str(tmp_path / "single"))

  out = str(tmp_path / "beam")
  run_beam(["--input_file=%s,%s" % (corpus, bad), "--input_format=raw",
            "--output_dir=" + out, "--ltp_model=" + model, "--device=cpu",
            "--batch_size=2", "--on_error=skip", "--num_tagged_shards=2",
            "--num_record_shards=2"] + MASKING)
  assert lines_in(os.path.join(out, "tagged", "*.jsonl")) == lines_in(
      os.path.join(tagger_dir, "*.jsonl"))
  assert records_in(os.path.join(out, "records", "*")) == expected_records
  dead = [json.loads(line) for line in lines_in(
      os.path.join(out, "dead_letter", "*"))]
  assert sorted((d["source"], d["stage"]) for d in dead) == [
      (bad + ":2", "read"), (bad + ":5", "read")]
  with open(os.path.join(out, "summary.json")) as f:
    counts = json.load(f)
  assert counts["tagger_and_dead_letters"]["dead_letter_read"] == 2
  assert counts["tagger_and_dead_letters"]["tagger_documents"] == 5
  assert counts["records"]["documents"] == 5


def test_a_bad_tagged_document_is_a_dead_letter_or_a_one_line_error(tmp_path):
  paths = split_sample(str(tmp_path / "in"))
  with io.open(paths[1], "a", encoding="utf-8") as f:
    f.write(u'{"sentences": [{"words": ["我"], "pos": ["zz"], "ner": ["O"], '
            u'"dep_head": [0], "dep_label": ["HED"]}]}\n')
  bad_line = "%s:13" % paths[1]
  out = str(tmp_path / "skip")
  run_beam(["--input_file=" + ",".join(paths), "--input_format=tagged",
            "--output_dir=" + out, "--on_error=skip"] + MASKING)
  (dead,) = [json.loads(line) for line in lines_in(
      os.path.join(out, "dead_letter", "*"))]
  assert dead["source"] == bad_line and dead["stage"] == "records"
  assert "unknown POS tag 'zz'" in dead["problem"]
  with open(os.path.join(out, "summary.json")) as f:
    counts = json.load(f)
  assert counts["records"]["documents"] == 32  # the rest is all there
  assert counts["tagger_and_dead_letters"] == {"dead_letter_records": 1}

  result = run_beam(["--input_file=" + ",".join(paths),
                     "--input_format=tagged",
                     "--output_dir=" + str(tmp_path / "stop")] + MASKING,
                    expect_ok=False)
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("prepare_pretraining_data_beam.py: error: " +
                         bad_line + ": sentence 1: unknown POS tag 'zz'")
  # One line: no worker traceback before it, no beam-temp-* left behind.
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  assert not glob.glob(os.path.join(str(tmp_path / "stop"), "**",
                                    "beam-temp-*"), recursive=True)


def test_a_masking_mode_whose_tags_the_input_lacks_is_one_line_first(
    tmp_path):
  """People's Daily has no DEP: --linguistic_masking=dep (or mix, all)
  would write the records of --linguistic_masking=none."""
  corpus = write_sample_without(tmp_path / "no_dep.jsonl", "dep_head",
                                "dep_label")
  out = tmp_path / "out"
  result = run_beam(["--input_file=%s" % corpus, "--input_format=tagged",
                     "--output_dir=%s" % out, "--linguistic_masking=mix"],
                    expect_ok=False)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith(
      "prepare_pretraining_data_beam.py: error: %s: no document carries "
      "DEP tags, which --linguistic_masking=mix writes" % corpus)
  assert not out.exists()
  # Some documents without NER: counted, and above --max_untagged_share the
  # records are not kept.
  partial = tmp_path / "partial.jsonl"
  with io.open(SAMPLE, encoding="utf-8") as f:
    lines = f.read().splitlines()
  without = write_sample_without(tmp_path / "no_ner.jsonl", "ner")
  with io.open(without, encoding="utf-8") as f:
    lines[:4] = f.read().splitlines()[:4]
  partial.write_text(u"\n".join(lines) + u"\n", encoding="utf-8")
  result = run_beam(["--input_file=%s" % partial, "--input_format=tagged",
                     "--output_dir=%s" % out, "--linguistic_masking=ner"]
                    + MASKING, expect_ok=False)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      "prepare_pretraining_data_beam.py: error: %s: 4 of 32 documents "
      "(12.5%%) carry no NER tag, more than --max_untagged_share=0.01 allows "
      "for --linguistic_masking=ner: their masked tokens would get [MASK]. "
      "Tag those documents, or raise --max_untagged_share." % partial)
  assert sorted(os.listdir(str(out))) == ["lert_run.json"]


def test_a_misspelt_flag_is_an_error_before_the_pipeline_starts(tmp_path):
  """--max_seq_lenght ran with the default, exit 0, after one log line."""
  result = run_beam(["--input_file=" + SAMPLE, "--input_format=tagged",
                     "--output_dir=" + str(tmp_path / "o"),
                     "--max_seq_lenght=64"] + MASKING[1:], expect_ok=False)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      "prepare_pretraining_data_beam.py: error: unknown flag "
      "--max_seq_lenght=64: it is neither a flag of this script (see --help) "
      "nor a Beam pipeline option.")
  assert not os.path.exists(str(tmp_path / "o"))


def test_an_unknown_runner_is_one_line_before_anything_is_written(tmp_path):
  """--runner=NoSuchRunner was a ValueError traceback, exit 0, after the
  output directory had been made."""
  result = run_beam(["--input_file=" + SAMPLE, "--input_format=tagged",
                     "--output_dir=" + str(tmp_path / "o"),
                     "--runner=NoSuchRunner"] + MASKING[1:], expect_ok=False)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1].startswith(
      "prepare_pretraining_data_beam.py: error: --runner=NoSuchRunner: "
      "Unexpected pipeline runner: NoSuchRunner.")
  assert "Traceback" not in result.stderr
  assert not os.path.exists(str(tmp_path / "o"))


def test_a_stopped_pipeline_leaves_no_debris(tmp_path):
  """SIGTERM left beam-temp-* and the lock; and a signal that arrives inside
  a step comes back from Beam wrapped in a RuntimeError (a traceback). Now:
  one line, exit 143, only the record of the run left."""
  out = tmp_path / "o"
  command = [sys.executable,
             os.path.join(REPO, "prepare_pretraining_data_beam.py"),
             "--input_file=" + SAMPLE, "--input_format=tagged",
             "--output_dir=" + str(out), "--max_seq_length=64",
             "--max_predictions_per_seq=10", "--dupe_factor=4000",
             "--vocab_file=" + VOCAB]
  result = stop_midway(command, str(out / "*" / "beam-temp-*"),
                       signal.SIGTERM, tmp_path)
  assert result.returncode == 143, result.stderr[-3000:]
  assert result.stderr.strip().splitlines()[-1] == (
      "prepare_pretraining_data_beam.py: stopped by SIGTERM.")
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  assert sorted(os.listdir(str(out))) == ["lert_run.json"]


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path):
  """A write that fails in a step (here a file-size limit: EFBIG, as
  ENOSPC on a full disk) was Beam's RuntimeError traceback."""
  import resource

  def limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (100000, 100000))

  out = tmp_path / "o"
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, "prepare_pretraining_data_beam.py"),
       "--input_file=" + SAMPLE, "--input_format=tagged",
       "--output_dir=" + str(out), "--max_seq_length=64",
       "--max_predictions_per_seq=10", "--dupe_factor=400",
       "--vocab_file=" + VOCAB], preexec_fn=limit_file_size, cwd=REPO,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, universal_newlines=True, timeout=600)
  assert result.returncode == 1, result.stderr[-3000:]
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("prepare_pretraining_data_beam.py: error: [Errno 27] "
                         "File too large in step Write"), last
  assert last.endswith(": the outputs are not written (nothing is left).")
  assert "Traceback" not in result.stderr
  assert sorted(os.listdir(str(out))) == ["lert_run.json"]


@pytest.mark.slow
def test_a_rerun_with_other_shards_is_refused_or_replaces_them(tmp_path):
  """Another --num_record_shards left the first run's shards beside the new
  ones: records/* held the data twice."""
  out = str(tmp_path / "o")
  args = ["--input_file=" + SAMPLE, "--input_format=tagged",
          "--output_dir=" + out] + MASKING
  run_beam(args + ["--num_record_shards=3"])
  first = records_in(os.path.join(out, "records", "*"))
  # A user's files inside the directories the pipeline writes are not its
  # own: neither --overwrite nor a re-run removes them.
  mine = [tmp_path / "o" / "records" / "my_notes.txt",
          tmp_path / "o" / "dead_letter" / "reviewed.jsonl",
          tmp_path / "o" / "records" / "mine" / "part-keep.tfrecord"]
  for path in mine:
    path.parent.mkdir(exist_ok=True)
    path.write_text(u"mine")
  with open(os.path.join(out, "lert_run.json")) as f:
    assert json.load(f)["settings"]["num_record_shards"] == 3
  result = run_beam(args + ["--num_record_shards=2"], expect_ok=False)
  assert result.returncode == 1
  assert ("was written with num_record_shards = 3, this run has 2" in
          result.stderr.strip().splitlines()[-1])
  shards = os.path.join(out, "records", "part-*")
  assert len(glob.glob(shards)) == 3
  (tmp_path / "o" / "notes.txt").write_text(u"mine")
  run_beam(args + ["--num_record_shards=2", "--overwrite"])
  assert len(glob.glob(shards)) == 2
  assert records_in(shards) == first
  assert (tmp_path / "o" / "notes.txt").exists()
  assert all(path.read_text() == u"mine" for path in mine)
  # The same settings again: the pipeline is redone, nothing doubles.
  run_beam(args + ["--num_record_shards=2"])
  assert records_in(shards) == first
  assert all(path.read_text() == u"mine" for path in mine)
  with open(os.path.join(out, "lert_run.json")) as f:
    recorded = json.load(f)["files"]
  assert "records/my_notes.txt" not in recorded
  assert len([n for n in recorded if n.startswith("records/part-")]) == 2
