# coding=utf-8
"""linguistic_tagger.py: reading, sentence splitting, tag mapping, LTP runs."""

import collections
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import pytest
from conftest import REPO
from conftest import stop_midway

from lert.contract import input_reading
from lert.contract import script_errors
from lert.tagging import linguistic_tags
from lert.tagging import ltp_tagging as lt

VOCAB = os.path.join(REPO, "configs", "vocab.txt")

CORPUS = (u"哈尔滨工业大学位于哈尔滨。它创建于1920年！学校有很多学生？\n"
          u"LERT是一个中文预训练模型，由HFL发布。\n"
          u"\n"
          u"今天天气很好。我们去公园散步吧！\n"
          u"\n"
          u"“你好！”他说。\n"
          u"北京和上海都是大城市；深圳也是。\n"
          u"\n"
          u"人工智能正在改变世界。\n")


def write(path, text):
  with io.open(str(path), "w", encoding="utf-8") as f:
    f.write(text)
  return str(path)


def test_split_sentences_keeps_every_character():
  paragraph = u"“你好！”他说。我很好……你呢？OK! Fine."
  sentences = lt.split_sentences(paragraph)
  assert sentences == [u"“你好！”", u"他说。", u"我很好……", u"你呢？",
                       u"OK!", u"Fine."]
  assert u"".join(sentences) == paragraph.replace(u" ", u"")


def test_long_sentences_are_split_at_clause_breaks_never_dropped():
  clause = u"这是一个很长的句子" * 3  # 27 characters
  paragraph = u"，".join([clause] * 5) + u"。"
  pieces = lt.split_sentences(paragraph, max_chars=60)
  assert all(len(p) <= 60 for p in pieces)
  assert pieces[0].endswith(u"，")
  assert u"".join(pieces) == paragraph
  unbroken = u"字" * 130
  assert lt.split_sentences(unbroken, max_chars=50) == [
      u"字" * 50, u"字" * 50, u"字" * 30]


def test_entities_to_bieso():
  entities = [("Nh", u"汤姆", 2, 2), ("Ni", u"哈尔滨工业大学", 4, 6),
              ("Ns", u"北京上海", 7, 8), ("Nz", u"?", 0, 0)]
  assert lt.entities_to_bieso(entities, 10) == [
      None, "O", "S-Nh", "O", "B-Ni", "I-Ni", "E-Ni", "B-Ns", "E-Ns", "O"]


def test_map_sentence_maps_x_and_marks_is_missing():
  stats = lt.TagStats()
  sentence = lt.map_sentence(
      u"他说：“好”", [u"他", u"说", u"：", u"“好”"], ["r", "v", "wp", "x"],
      [("Nh", u"他", 0, 0)], {"head": [2, 0, 2, 2],
                              "label": ["SBV", "HED", "WP", "IS"]}, stats)
  assert sentence["pos"] == ["r", "v", "wp", "x"]
  assert sentence["ner"] == ["S-Nh", "O", "O", "O"]
  assert sentence["dep_label"] == ["SBV", "HED", "WP", None]
  assert sentence["dep_head"] == [2, 0, 2, 2]
  assert stats.missing == {"dep:IS": 1}
  assert stats.words == 4 and stats.sentences == 1


def test_documents_split_on_blank_lines_with_sources(tmp_path):
  path = write(tmp_path / "c.txt", CORPUS)
  documents = list(lt.read_raw_documents([path]))
  assert [source for source, _ in documents] == [
      path + ":1", path + ":4", path + ":6", path + ":9"]
  assert documents[0][1][1] == u"LERT是一个中文预训练模型，由HFL发布。"
  gz = str(tmp_path / "c.txt.gz")
  with gzip.open(gz, "wb") as f:
    f.write(CORPUS.encode("utf-8"))
  assert [p for _, p in lt.read_raw_documents([gz])] == [
      p for _, p in documents]


@pytest.mark.parametrize("content,message", [
    (b"\xe4\xbd\xa0\xe5\xa5\xbd\n\xff\xfe\n", "c.txt:2: invalid UTF-8"),
    (u"你好\n好\x00的\n".encode("utf-8"), "c.txt:2: a NUL character"),
    (b"", "c.txt is empty"),
    (b"\n  \n", "c.txt: the file holds no text"),
    # Looks empty, is not stripped, and crashes LTP.
    (u"你好\n\u200b\u200b\n".encode("utf-8"),
     "c.txt:2: only invisible format characters (U+200B U+200B)"),
    # The tagger's own output was tagged again as text, JSON and all.
    (u'\n{"sentences": [{"text": "你好", "words": ["你好"]}]}\n'.encode(
        "utf-8"), "c.txt:2 is a document of tagged JSON Lines "
     "(linguistic_tagger.py's output), not raw text: it is tagged already."),
])
def test_bad_input_names_file_and_line(tmp_path, content, message):
  path = tmp_path / "c.txt"
  path.write_bytes(content)
  with pytest.raises(script_errors.InputError) as info:
    list(lt.read_raw_documents([str(path)]))
  assert message in str(info.value)


def test_control_characters_are_removed_and_counted(tmp_path):
  """The one rule of every reader (input_reading.read_lines): a control
  character other than NUL and tab (U+0008 is in the XNLI and BQ dev sets)
  is removed, as the BERT tokenizer removes it, and counted."""
  path = tmp_path / "c.txt"
  path.write_bytes(u"你好\n\n再\x07见\x08\n".encode("utf-8"))
  counts = collections.Counter()
  documents = list(lt.read_raw_documents([str(path)], counts=counts))
  assert [p for _, p in documents] == [[u"你好"], [u"再见"]]
  assert counts == {"lines with control characters removed": 1}


def test_the_control_characters_are_category_cc_but_tab():
  """The reader's regular expression is exactly Unicode's Cc less the tab,
  over every code point (a wrong range would drop or keep text)."""
  import unicodedata
  for code in range(0x110000):
    char = chr(code)
    expected = char != u"\t" and unicodedata.category(char) == "Cc"
    assert bool(input_reading.CONTROL_CHARACTERS.match(char)) == expected, (
        hex(code))


def test_skip_mode_counts_bad_lines_and_keeps_the_rest(tmp_path):
  path = tmp_path / "c.txt"
  path.write_bytes(u"第一句。\n坏\x00行\n第二句。\n\n".encode("utf-8") +
                   b"\xff\n" + u"第三句。\n".encode("utf-8"))
  skipped = []
  documents = list(lt.read_raw_documents([str(path)], "skip", skipped))
  assert [p for _, p in documents] == [[u"第一句。", u"第二句。"],
                                       [u"第三句。"]]
  assert [(s.path, s.line) for s in skipped] == [(str(path), 2),
                                                 (str(path), 5)]
  assert "NUL" in skipped[0].problem and "UTF-8" in skipped[1].problem


@pytest.fixture(scope="module")
def tiny_ltp_dir(tmp_path_factory):
  pytest.importorskip(
      "ltp", reason="LTP (with PyTorch) is installed in the TF 2.15 / "
      "Python 3.11 environment only")
  from ltp_tiny import build_tiny_ltp
  return build_tiny_ltp(str(tmp_path_factory.mktemp("ltp") / "tiny"), VOCAB)


def settings(tmp_path, model_dir, corpus, **overrides):
  values = dict(input_files=[corpus], output_dir=str(tmp_path / "out"),
                ltp_model=model_dir, device="cpu", batch_size=2,
                num_output_shards=3, num_shards=1, shard_index=0,
                num_workers=1, num_threads=1, max_sentence_chars=500,
                on_error="stop", overwrite=False)
  values.update(overrides)
  return lt.TaggingSettings(**values)


def read_outputs(directory):
  return {name: open(os.path.join(directory, name), "rb").read()
          for name in sorted(os.listdir(directory))
          if name.endswith(".jsonl")}


def test_real_ltp_run_structure_and_alignment(tmp_path, tiny_ltp_dir):
  corpus = write(tmp_path / "c.txt", CORPUS)
  summary, _, skipped = lt.run(settings(tmp_path, tiny_ltp_dir, corpus),
                               log=lambda m: None)
  outputs = read_outputs(str(tmp_path / "out"))
  assert sorted(outputs) == ["tagged-%05d-of-00003.jsonl" % i
                             for i in range(3)]
  documents = [json.loads(line) for data in outputs.values()
               for line in data.decode("utf-8").splitlines()]
  assert len(documents) == summary.documents == 4 and skipped == 0
  raw = dict(lt.read_raw_documents([corpus]))
  sentences = 0
  for document in documents:
    texts = [s["text"] for s in document["sentences"]]
    # Nothing dropped: the sentences rebuild the document's text.
    assert u"".join(texts) == u"".join(raw[document["source"]])
    for sentence in document["sentences"]:
      sentences += 1
      n = len(sentence["words"])
      assert u"".join(sentence["words"]) == sentence["text"]
      for key in ("pos", "ner", "dep_head", "dep_label"):
        assert len(sentence[key]) == n
      assert all(0 <= h <= n for h in sentence["dep_head"])
      for task, key in (("pos", "pos"), ("ner", "ner"), ("dep", "dep_label")):
        for tag in sentence[key]:
          assert tag is None or linguistic_tags.tag_to_id(task, tag) is not None
  assert sentences == summary.sentences == 11
  # The summary against counts made here from the written files.
  counter = __import__("collections").Counter
  assert summary.words == sum(len(s["words"]) for d in documents
                              for s in d["sentences"])
  for task, key in (("pos", "pos"), ("ner", "ner"), ("dep", "dep_label")):
    written = counter(tag for d in documents for s in d["sentences"]
                      for tag in s[key] if tag is not None)
    assert {t: n for t, n in summary.tags[task].items() if n} == dict(written)
    nulls = sum(tag is None for d in documents for s in d["sentences"]
                for tag in s[key])
    assert sum(n for k, n in summary.missing.items()
               if k.startswith(task + ":")) == nulls


class CharacterLtp(object):
  """A stand-in for LTP whose analysis of a sentence is a function of the
  sentence alone (its characters are its words); records its batches."""

  def __init__(self):
    self.batches = []

  def pipeline(self, texts, tasks):
    assert tasks == ["cws", "pos", "ner", "dep"]
    self.batches.append(list(texts))
    words = [list(text) for text in texts]
    return collections.namedtuple("Output", "cws pos ner dep")(
        words, [["n"] * len(w) for w in words],
        [[("Ns", w[0], 0, 0)] for w in words],
        [{"head": list(range(len(w))), "label": ["ATT"] * len(w)}
         for w in words])


def test_documents_are_tagged_in_length_sorted_batches_and_put_back():
  """tag_documents analyses the sentences of several documents shortest
  first, in full batches across document ends, and returns each sentence to
  its document and place: the same documents and counts as tagging each
  document alone, one sentence per call."""
  documents = [("doc%d" % i, [paragraph for paragraph in text.split(u"\n")
                              if paragraph])
               for i, text in enumerate(CORPUS.split(u"\n\n") * 2)]
  ltp = CharacterLtp()
  stats = lt.TagStats()
  tagged = lt.tag_documents(ltp, documents, 3, 500, stats)
  sizes = [len(batch) for batch in ltp.batches]
  assert all(size == 3 for size in sizes[:-1]) and 0 < sizes[-1] <= 3
  lengths = [len(text) for batch in ltp.batches for text in batch]
  assert lengths == sorted(lengths)
  one_by_one, alone_stats = [], lt.TagStats()
  for source, paragraphs in documents:
    one_by_one.append(lt.tag_document(CharacterLtp(), source, paragraphs, 1,
                                      500, alone_stats))
  assert tagged == one_by_one
  assert stats.to_dict() == alone_stats.to_dict()
  assert [d["source"] for d in tagged] == ["doc%d" % i for i in range(8)]


def test_killed_run_resumes_to_identical_output(tmp_path, tiny_ltp_dir,
                                                monkeypatch):
  corpus = write(tmp_path / "c.txt", (CORPUS + u"\n") * 3)
  full = settings(tmp_path / "full", tiny_ltp_dir, corpus)
  lt.run(full, log=lambda m: None)
  expected = read_outputs(full.output_dir)

  killed = settings(tmp_path / "killed", tiny_ltp_dir, corpus)
  original = lt.tag_documents
  calls = {"n": 0}

  def dies_on_the_7th_document(ltp, documents, *args, **kwargs):
    calls["n"] += len(documents)
    if calls["n"] >= 7:
      raise KeyboardInterrupt("killed")
    return original(ltp, documents, *args, **kwargs)

  monkeypatch.setattr(lt, "tag_documents", dies_on_the_7th_document)
  with pytest.raises(KeyboardInterrupt):
    lt.run(killed, log=lambda m: None)
  monkeypatch.setattr(lt, "tag_documents", original)
  partial = read_outputs(killed.output_dir)
  assert 0 < len(partial) < 3  # one shard finished before the kill
  messages = []
  summary, _, _ = lt.run(killed, log=messages.append)
  assert "1 already done, 2 to tag" in messages[0]
  assert read_outputs(killed.output_dir) == expected
  assert summary.documents == 12


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_stopped_run_leaves_no_debris_and_resumes(tmp_path, tiny_ltp_dir,
                                                    workers):
  """SIGTERM left the shard's .jsonl.tmp, .untagged/ and the lock file. Now:
  one line, exit 143, only finished shards left, and a re-run finishes to
  the output of a run never stopped."""
  corpus = write(tmp_path / "c.txt", (CORPUS + u"\n") * 150)
  full = settings(tmp_path / "full", tiny_ltp_dir, corpus, batch_size=8)
  lt.run(full, log=lambda m: None)
  out = str(tmp_path / "out")
  command = [sys.executable, os.path.join(REPO, "linguistic_tagger.py"),
             "--input_file=" + corpus, "--output_dir=" + out,
             "--ltp_model=" + tiny_ltp_dir, "--num_output_shards=3",
             "--batch_size=8", "--num_workers=%d" % workers]
  result = stop_midway(command, os.path.join(out, "*.jsonl.tmp"),
                       signal.SIGTERM, tmp_path)
  assert result.returncode == 143, result.stderr[-3000:]
  assert result.stderr.strip().splitlines()[-1] == (
      "linguistic_tagger.py: stopped by SIGTERM.")
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  left = sorted(os.listdir(out))
  assert all(name.endswith(".jsonl") or name == "lert_run.json"
             for name in left), left
  assert len([name for name in left if name.endswith(".jsonl")]) < 3
  again = subprocess.run(command,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=600)
  assert again.returncode == 0, again.stderr[-3000:]
  assert read_outputs(out) == read_outputs(full.output_dir)


def test_workers_and_machine_shards_give_the_same_output(tmp_path,
                                                         tiny_ltp_dir):
  corpus = write(tmp_path / "c.txt", (CORPUS + u"\n") * 2)
  one = settings(tmp_path / "one", tiny_ltp_dir, corpus)
  lt.run(one, log=lambda m: None)
  two = settings(tmp_path / "two", tiny_ltp_dir, corpus, num_workers=2)
  lt.run(two, log=lambda m: None)
  assert read_outputs(two.output_dir) == read_outputs(one.output_dir)
  # Two "machines" together write the same shards.
  for index in (0, 1):
    lt.run(settings(tmp_path / "machines", tiny_ltp_dir, corpus,
                    num_shards=2, shard_index=index), log=lambda m: None)
  assert read_outputs(str(tmp_path / "machines" / "out")) == read_outputs(
      one.output_dir)


def test_script_summary_and_errors(tmp_path, tiny_ltp_dir):
  corpus = write(tmp_path / "c.txt", CORPUS)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  command = [sys.executable, os.path.join(REPO, "linguistic_tagger.py"),
             "--input_file=" + corpus, "--output_dir=" + str(tmp_path / "o"),
             "--ltp_model=" + tiny_ltp_dir, "--num_output_shards=2"]
  result = subprocess.run(command, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "Documents: 4" in result.stdout and "Sentences: 11" in result.stdout
  assert "Missing labels" in result.stdout

  bad = tmp_path / "bad.txt"
  bad.write_bytes(u"好\n坏\x00\n".encode("utf-8"))
  command[2] = "--input_file=" + str(bad)
  command[3] = "--output_dir=" + str(tmp_path / "o2")
  result = subprocess.run(command, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=300)
  assert result.returncode != 0
  assert "bad.txt:2: a NUL character" in result.stderr
  assert "Traceback" not in result.stderr
  assert not os.path.exists(str(tmp_path / "o2" /
                                "tagged-00000-of-00002.jsonl"))

  command[2] = "--input_file=" + str(tmp_path / "none*.txt")
  result = subprocess.run(command, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=300)
  assert "matches no file" in result.stderr


def test_missing_model_is_a_clear_error(tmp_path, tiny_ltp_dir):
  del tiny_ltp_dir  # needs the ltp package
  with pytest.raises(script_errors.InputError,
                     match="Could not load the LTP model"):
    lt.load_ltp(str(tmp_path / "no-such-model"))


def test_a_byte_order_mark_is_not_text(tmp_path):
  path = tmp_path / "c.txt"
  path.write_bytes(u"\ufeff哈尔滨工业大学位于哈尔滨。\n".encode("utf-8"))
  ((source, paragraphs),) = list(lt.read_raw_documents([str(path)]))
  assert paragraphs == [u"哈尔滨工业大学位于哈尔滨。"]
  assert source.endswith("c.txt:1")


@pytest.mark.parametrize("flag,message", [
    ("--max_sentence_chars=0", "--max_sentence_chars must be 1..510"),
    ("--max_sentence_chars=600", "--max_sentence_chars must be 1..510"),
    ("--num_output_shards=0", "--num_output_shards must be at least 1"),
    ("--batch_size=0", "--batch_size must be at least 1"),
    ("--shard_index=2", "--shard_index must be in 0..--num_shards - 1"),
])
def test_bad_flags_are_reported_when_parsed(tmp_path, flag, message):
  corpus = write(tmp_path / "c.txt", CORPUS)
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, "linguistic_tagger.py"),
       "--input_file=" + corpus, "--output_dir=" + str(tmp_path / "o"), flag],
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
  assert result.returncode == 1
  assert message in result.stderr
  assert "Traceback" not in result.stderr
  assert not os.path.exists(str(tmp_path / "o"))


def test_cuda_without_cuda_is_a_clear_error(tiny_ltp_dir):
  import torch
  if torch.cuda.is_available():
    pytest.skip("this machine has CUDA")
  with pytest.raises(script_errors.InputError,
                     match="--device=cuda, but PyTorch sees "
                     "no CUDA device"):
    lt.load_ltp(tiny_ltp_dir, device="cuda")


def test_truncated_gz_is_named(tmp_path):
  import gzip
  data = gzip.compress((CORPUS * 50).encode("utf-8"))
  path = tmp_path / "c.txt.gz"
  path.write_bytes(data[:len(data) // 2])
  with pytest.raises(script_errors.InputError,
                     match=r"c.txt.gz: cannot be read after line \d+ "):
    list(lt.read_raw_documents([str(path)]))


def test_rerun_with_other_input_or_flags_is_refused(tmp_path, tiny_ltp_dir):
  """A finished shard of another corpus would be kept silently: the first
  run records its input and settings beside the shards, and a different
  second run is refused (the same one resumes, as above)."""
  corpus = write(tmp_path / "c.txt", CORPUS)
  first = settings(tmp_path, tiny_ltp_dir, corpus)
  lt.run(first, log=lambda m: None)
  before = read_outputs(first.output_dir)
  other = write(tmp_path / "other.txt", CORPUS + u"\n多了一个文档。\n")
  with pytest.raises(script_errors.InputError,
                     match="was written with input_files = "):
    lt.run(first._replace(input_files=[other]), log=lambda m: None)
  with pytest.raises(script_errors.InputError, match="was written with "
                     "max_sentence_chars = 500, this run has 100"):
    lt.run(first._replace(max_sentence_chars=100), log=lambda m: None)
  assert read_outputs(first.output_dir) == before
  # Speed settings are not recorded: a re-run with others resumes, and
  # every shard is done, so nothing changes.
  summary, _, _ = lt.run(first._replace(num_workers=1, batch_size=4),
                         log=lambda m: None)
  assert summary.documents == 4
  assert read_outputs(first.output_dir) == before


def test_a_failed_run_does_not_bind_its_directory_and_overwrite(
    tmp_path, tiny_ltp_dir):
  """A run that failed on bad input (no shard written) locked its
  directory to that input; an --output_dir that is a file was a raw
  [Errno 17]."""
  bad = write(tmp_path / "bad.txt", u"好\n坏\x00\n")
  with pytest.raises(script_errors.InputError,
                     match="bad.txt:2: a NUL character"):
    lt.run(settings(tmp_path, tiny_ltp_dir, bad), log=lambda m: None)
  corpus = write(tmp_path / "c.txt", CORPUS)
  # A model that does not load, after the corpus was split: the documents
  # set aside (.untagged/) bound the directory to that model.
  with pytest.raises(script_errors.InputError,
                     match="Could not load the LTP model"):
    lt.run(settings(tmp_path, str(tmp_path / "no-model"), corpus),
           log=lambda m: None)
  assert os.listdir(str(tmp_path / "out")) == ["lert_run.json"]
  first = settings(tmp_path, tiny_ltp_dir, corpus)
  lt.run(first, log=lambda m: None)
  # --overwrite replaces the shards of other settings, and only them.
  (tmp_path / "out" / "notes.txt").write_text(u"mine")
  lt.run(first._replace(num_output_shards=2, overwrite=True),
         log=lambda m: None)
  assert sorted(os.listdir(str(tmp_path / "out"))) == sorted(
      ["lert_run.json", "notes.txt"] +
      ["tagged-%05d-of-00002.jsonl%s" % (i, ext)
       for i in range(2) for ext in ("", ".stats.json")])
  (tmp_path / "file").write_text(u"x")
  with pytest.raises(script_errors.InputError, match="file exists and is not a "
                     "directory"):
    lt.run(first._replace(output_dir=str(tmp_path / "file")),
           log=lambda m: None)


def test_a_machine_leaves_the_other_machines_documents(tmp_path,
                                                      tiny_ltp_dir):
  """Machines share .untagged/: one that finishes (or fails) while another
  still has documents waiting there removed the directory, or failed on
  it ("Directory not empty")."""
  corpus = write(tmp_path / "c.txt", CORPUS)
  share = dict(num_output_shards=2, num_shards=2)
  other = tmp_path / "out" / ".untagged" / "tagged-00000-of-00002.jsonl"
  # Machine 0 is running: its lock held, its documents waiting.
  with lt.output_directory(settings(tmp_path, tiny_ltp_dir, corpus,
                                    shard_index=0, **share)):
    other.parent.mkdir(parents=True)
    other.write_text(u"{}\n")
    summary, _, _ = lt.run(settings(tmp_path, tiny_ltp_dir, corpus,
                                    shard_index=1, **share),
                           log=lambda m: None)
  assert summary.documents == 2
  assert other.read_text() == u"{}\n"
  assert sorted(os.listdir(str(tmp_path / "out" / ".untagged"))) == [
      other.name]


def test_the_tagger_imports_no_tensorflow():
  """Its processes (and each pool worker) need PyTorch only: importing
  TensorFlow cost ~5 s and ~400 MiB each."""
  result = subprocess.run(
      [sys.executable, "-c", "import sys, linguistic_tagger; "
       "from lert.tagging import ltp_tagging; "
       "print(sorted(m for m in sys.modules if m.startswith('tensorflow')))"],
      cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      universal_newlines=True)
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == "[]"


def test_the_corpus_is_read_once_whatever_the_number_of_shards(
    tmp_path, tiny_ltp_dir, monkeypatch):
  corpus = write(tmp_path / "c.txt", (CORPUS + u"\n") * 2)
  reads = []
  original = lt._read_raw_file

  def counted(path, *args):
    reads.append(path)
    return original(path, *args)

  monkeypatch.setattr(lt, "_read_raw_file", counted)
  values = settings(tmp_path, tiny_ltp_dir, corpus, num_output_shards=5)
  summary, _, _ = lt.run(values, log=lambda m: None)
  assert reads == [corpus]
  assert summary.documents == 8
  # Only the finished shards (and their run record) are left behind.
  assert sorted(os.listdir(values.output_dir)) == sorted(
      ["lert_run.json"] + ["tagged-%05d-of-00005.jsonl%s" % (i, ext)
                          for i in range(5) for ext in ("", ".stats.json")])
