# coding=utf-8
"""create_pretraining_data.py: alignment, masking, labels, determinism,
errors."""

import collections
import gzip
import io
import json
import os
import random
import signal
import sys
import pytest
from conftest import run_script
from conftest import REPO
from conftest import stop_midway

import numpy as np
import tensorflow.compat.v1 as tf

from lert.contract import script_errors
from lert.pretraining_data import instances
from lert.pretraining_data import masking
from lert.pretraining_data import tagged_documents
from lert.pretraining_data import writer
from lert.tagging import linguistic_tags
import tokenization

VOCAB = os.path.join(REPO, "configs", "vocab.txt")
CJK = [c for c in u"的一是在不了有和人这中大为上个国我以要他时来"
       u"用们生到作地于出就分对成会可主发年动同工也能"
       u"下过子说产种面而方后多定行学法所民得经"]


@pytest.fixture(scope="module")
def tokenizer():
  return tokenization.FullTokenizer(VOCAB)


def random_sentence(rng, num_words):
  words = ["".join(rng.choice(CJK) for _ in range(rng.choice([1, 2, 2, 3])))
           for _ in range(num_words)]
  return {
      "text": "".join(words), "words": words,
      "pos": [rng.choice(linguistic_tags.POS_TAGS[:-1] + ["x"])
              for _ in words],
      "ner": [rng.choice(linguistic_tags.NER_TAGS) for _ in words],
      "dep_head": [rng.randint(0, num_words) for _ in words],
      "dep_label": [None if rng.random() < 0.05 else
                    rng.choice(linguistic_tags.DEP_LABELS) for _ in words]}


def write_corpus(path, num_docs, seed=0, sentences_per_doc=(3, 12)):
  rng = random.Random(seed)
  with io.open(path, "w", encoding="utf-8") as f:
    for _ in range(num_docs):
      doc = {"sentences": [random_sentence(rng, rng.randint(4, 18))
                           for _ in range(rng.randint(*sentences_per_doc))]}
      f.write(json.dumps(doc, ensure_ascii=False) + u"\n")
  return path


def maker_kwargs(**overrides):
  values = dict(vocab_file=VOCAB, do_lower_case=True, max_seq_length=128,
                max_predictions_per_seq=20, masked_lm_prob=0.15,
                short_seq_prob=0.1, max_ngram=4, dupe_factor=2,
                random_seed=7)
  values.update(overrides)
  return values


def make_instances(corpus, **overrides):
  maker = instances.InstanceMaker(**maker_kwargs(**overrides))
  made = []
  for where, line in tagged_documents.read_documents([corpus]):
    made.extend(maker.instances(maker.document(where, line)))
  return made


def test_alignment_on_mixed_text(tokenizer):
  text = u"LERT 模型在2022年发布，iPhone12售价5999元。"
  words = [u"LERT", u"模型", u"在", u"2022年", u"发布", u"，", u"iPhone",
           u"12", u"售价", u"5999", u"元", u"。"]
  ids = {"pos": list(range(12)), "ner": [0] * 12, "dep": [None] * 12}
  sentence = tagged_documents.tokenize_sentence(text, words, ids, tokenizer,
                                                "t")
  tokens = sentence.tokens
  grouped = collections.OrderedDict()
  for token, word in zip(tokens, sentence.word_ids):
    grouped.setdefault(words[word], []).append(token)
  assert grouped[u"LERT"] == [u"le", u"##rt"]
  assert grouped[u"模型"] == [u"模", u"型"]
  assert grouped[u"2022年"] == [u"2022", u"年"]
  # "iPhone12" is one basic token for WordPiece, split by LTP into two
  # words: each piece belongs to the word holding its first character.
  assert grouped[u"iPhone"] == [u"iphone"]
  assert grouped[u"12"] == [u"##12"]
  assert grouped[u"5999"] == [u"599", u"##9"]
  assert sentence.word_ids == sorted(sentence.word_ids)


def test_alignment_tolerates_whitespace_and_dropped_characters(tokenizer):
  text = u"我 爱\u200bNLP  ！"
  words = [u"我", u"爱\u200b", u"NLP", u"！"]
  ids = {"pos": [8, 1, 19, 2], "ner": [0] * 4, "dep": [4, 7, 3, 1]}
  sentence = tagged_documents.tokenize_sentence(text, words, ids, tokenizer,
                                                "t")
  assert sentence.tokens == [u"我", u"爱", u"n", u"##lp", u"！"]
  assert sentence.word_ids == [0, 1, 2, 2, 3]


def test_word_not_in_text_is_an_error(tokenizer):
  with pytest.raises(script_errors.InputError,
                     match=u"f.jsonl:3: word '他' is not found"):
    tagged_documents.tokenize_sentence(u"我爱你", [u"我", u"他"], {}, tokenizer,
                                       "f.jsonl:3")


# N-grams cut at segment ends, and the last N-gram chosen to land closest to
# 15%, favour short N-grams a little, more so in short sequences: the
# tolerance of the N-gram shares is per length.
@pytest.mark.parametrize("max_seq_length,max_predictions,tolerance",
                         [(128, 40, 0.07), (512, 80, 0.04)])
def test_masked_fraction_and_ngram_distribution(tmp_path, max_seq_length,
                                                max_predictions, tolerance):
  corpus = write_corpus(str(tmp_path / "c.jsonl"), 150, seed=1)
  made = make_instances(corpus, dupe_factor=3,
                        max_seq_length=max_seq_length,
                        max_predictions_per_seq=max_predictions)
  tokens = sum(len(inst.tokens) for inst in made)
  masked = sum(len(inst.masked_positions) for inst in made)
  assert len(made) > 250
  assert abs(masked / float(tokens) - 0.15) < 0.01
  assert max(len(inst.masked_positions) for inst in made) <= (
      max_predictions)
  lengths = collections.Counter(n for inst in made
                                for n in inst.ngram_lengths)
  total = float(sum(lengths.values()))
  shares = [lengths[n] / total for n in (1, 2, 3, 4)]
  for share, p in zip(shares, (0.4, 0.3, 0.2, 0.1)):
    assert abs(share - p) < tolerance, shares
  assert shares[0] > shares[1] > shares[2] > shares[3] > 0.05


def test_each_masked_position_gets_its_words_tags(tmp_path):
  # Words of one to three characters, no character in two words, and tags
  # that are a function of the word: every token of a multi-character word
  # must carry its word's tags (a token taking its own character's tags, or
  # a neighbour's, is caught).
  lexicon, i = [], 0
  for length in [1, 2, 3] * 20:
    if i + length > len(CJK):
      break
    lexicon.append(u"".join(CJK[i:i + length]))
    i += length
  word_of_char = {c: w for w in lexicon for c in w}

  def tags_of(word):
    index = lexicon.index(word)
    return (index % 27, index % 13, None if index % 10 == 0 else index % 14)

  rng = random.Random(9)
  corpus = str(tmp_path / "c.jsonl")
  with io.open(corpus, "w", encoding="utf-8") as f:
    for _ in range(30):
      sentences = []
      for _ in range(rng.randint(2, 6)):
        words = [rng.choice(lexicon) for _ in range(rng.randint(3, 12))]
        sentences.append({
            "words": words,
            "pos": [linguistic_tags.POS_TAGS[tags_of(w)[0]] for w in words],
            "ner": [linguistic_tags.NER_TAGS[tags_of(w)[1]] for w in words],
            "dep_head": [0] * len(words),
            "dep_label": [None if tags_of(w)[2] is None else
                          linguistic_tags.DEP_LABELS[tags_of(w)[2]]
                          for w in words]})
      f.write(json.dumps({"sentences": sentences}, ensure_ascii=False) +
              u"\n")
  checked = collections.Counter()
  for instance in make_instances(corpus, max_seq_length=64):
    for label, tags in zip(instance.masked_labels, instance.tags):
      word = word_of_char[label]
      assert tags == tags_of(word), (label, word)
      checked[len(word)] += 1
  assert checked[1] > 100 and checked[2] > 100 and checked[3] > 100


def test_every_token_of_a_chosen_word_is_masked(tokenizer):
  rng = random.Random(3)
  tokens = ["[CLS]", "a", "##b", "##c", "d", "e", "##f", "[SEP]", "g", "##h",
            "[SEP]"]
  words = [None, (0, 0), (0, 0), (0, 0), (0, 1), (0, 2), (0, 2), None,
           (1, 0), (1, 0), None]
  segment_ids = [0] * 8 + [1] * 3
  tags = [None] + [(i, 0, 0) for i in range(6)] + [None, (7, 0, 0),
                                                    (8, 0, 0), None]
  for _ in range(200):
    instance = masking.create_masked_lm_predictions(
        tokens, segment_ids, words, tags, 0.5, 20, 4, ["x"], rng)
    masked = set(instance.masked_positions)
    for group in ([1, 2, 3], [4], [5, 6], [8, 9]):
      assert set(group) <= masked or not set(group) & masked
    # The budget is round(11 * 0.5) = 6 tokens, met at an N-gram boundary.
    assert 3 <= len(masked) <= 8
    assert 0 not in masked and 7 not in masked and 10 not in masked
    assert instance.tags == [tags[i] for i in instance.masked_positions]
    assert instance.masked_labels == [tokens[i]
                                      for i in instance.masked_positions]


def test_80_10_10_replacement(tmp_path):
  corpus = write_corpus(str(tmp_path / "c.jsonl"), 120, seed=4)
  made = make_instances(corpus, dupe_factor=3)
  outcome = collections.Counter()
  for inst in made:
    for position, label in zip(inst.masked_positions, inst.masked_labels):
      token = inst.tokens[position]
      outcome["mask" if token == "[MASK]" else
              "keep" if token == label else "random"] += 1
  total = float(sum(outcome.values()))
  assert total > 5000
  assert abs(outcome["mask"] / total - 0.8) < 0.02
  assert abs(outcome["keep"] / total - 0.1) < 0.015
  assert abs(outcome["random"] / total - 0.1) < 0.015


def run_main(args):
  return run_script("create_pretraining_data.py", *args, timeout=300)


def test_output_is_identical_for_any_worker_count(tmp_path):
  corpus = write_corpus(str(tmp_path / "c.jsonl"), 30, seed=5)
  outputs = []
  for workers in (1, 2):
    out = [str(tmp_path / ("w%d-%d.tfrecord" % (workers, i))) for i in (0, 1)]
    summary = writer.write_pretraining_data(
        [corpus], out, maker_kwargs(), num_workers=workers, docs_per_batch=7,
        log=lambda message: None)
    assert summary.documents == 30
    outputs.append([open(p, "rb").read() for p in out])
  assert outputs[0] == outputs[1]
  assert all(len(data) > 1000 for data in outputs[0])
  assert not [p for p in os.listdir(str(tmp_path)) if p.endswith(".tmp")]


def test_a_reader_of_the_nine_spec_features_parses_records(tmp_path):
  corpus = write_corpus(str(tmp_path / "c.jsonl"), 10, seed=6)
  out = str(tmp_path / "out.tfrecord")
  writer.write_pretraining_data([corpus], [out], maker_kwargs(dupe_factor=1),
                                log=lambda message: None)
  spec = {name: tf.io.FixedLenFeature([128], tf.int64)
          for name in ("input_ids", "input_mask", "segment_ids")}
  spec.update({name: tf.io.FixedLenFeature([20], tf.int64)
               for name in ("masked_lm_positions", "masked_lm_ids",
                            "pos_labels", "ner_labels", "dep_labels")})
  spec["masked_lm_weights"] = tf.io.FixedLenFeature([20], tf.float32)
  count = 0
  vocab = tokenization.load_vocab(VOCAB)
  for record in tf.io.tf_record_iterator(out):
    parsed = tf.train.Example.FromString(record).features.feature
    values = {name: np.array(parsed[name].int64_list.value or
                             parsed[name].float_list.value)
              for name in spec}
    ids = values["input_ids"]
    length = int(values["input_mask"].sum())
    assert ids[0] == vocab["[CLS]"] and ids[length - 1] == vocab["[SEP]"]
    assert not ids[length:].any()
    real = values["masked_lm_weights"] > 0
    positions = values["masked_lm_positions"][real]
    assert (np.diff(positions) > 0).all() and (positions < length).all()
    assert not values["masked_lm_positions"][~real].any()
    assert (values["pos_labels"] < 28).all() and (values["ner_labels"] < 13
                                                  ).all()
    weights = np.array(parsed["dep_label_weights"].float_list.value)
    assert not values["dep_labels"][weights == 0].any()
    count += 1
  assert count > 10
  with tf.Graph().as_default():
    dataset = tf.data.TFRecordDataset([out]).map(
        lambda r: tf.io.parse_single_example(r, spec))
    first = tf.data.make_one_shot_iterator(dataset).get_next()
    with tf.Session() as sess:
      assert sess.run(first)["input_ids"].shape == (128,)


@pytest.mark.parametrize("line,message", [
    (u"{not json", u"c.jsonl:2: not valid JSON"),
    (u'{"sentences": [{"words": ["我"], "pos": ["r", "v"], "ner": ["O"], '
     u'"dep_head": [0], "dep_label": ["HED"]}]}',
     u"c.jsonl:2: sentence 1: 1 words but 2 pos entries"),
    (u'{"sentences": [{"words": ["我"], "pos": ["zz"], "ner": ["O"], '
     u'"dep_head": [0], "dep_label": ["HED"]}]}',
     u"c.jsonl:2: sentence 1: unknown POS tag 'zz'"),
    (u'{"sentences": [{"words": ["我"], "pos": ["r"], "ner": ["O"], '
     u'"dep_head": [0], "dep_label": ["IS"]}]}',
     u"unknown DEP tag 'IS'"),
    (u'{"sentences": [{"words": ["我"], "pos": ["r"], "ner": ["O"], '
     u'"dep_head": [3], "dep_label": ["HED"]}]}',
     u"dep_head 3 is not in 0..1"),
])
def test_bad_input_names_file_and_line(tmp_path, line, message):
  corpus = str(tmp_path / "c.jsonl")
  good = (u'{"sentences": [{"words": ["我"], "pos": ["r"], "ner": ["O"], '
          u'"dep_head": [0], "dep_label": ["HED"]}]}')
  with io.open(corpus, "w", encoding="utf-8") as f:
    f.write(good + u"\n" + line + u"\n")
  with pytest.raises(script_errors.InputError) as info:
    make_instances(corpus)
  assert message in str(info.value)


def test_a_word_longer_than_an_instance_is_an_error(tmp_path):
  """A 1 MB "word" became 16,394 instances with nothing masked, exit 0 (a
  word is masked only whole). At --max_seq_length 16 an instance holds 13
  tokens: a word of 13 is fine, one of 14 is an error naming its line."""
  def corpus(length):
    path = str(tmp_path / ("c%d.jsonl" % length))
    word = u"中" * length
    with io.open(path, "w", encoding="utf-8") as f:
      f.write(u'{"sentences": [{"words": ["我"], "pos": ["r"], "ner": ["O"], '
              u'"dep_head": [0], "dep_label": ["HED"]}]}\n')
      f.write(u'{"sentences": [{"words": ["我", "%s"], "pos": ["r", "n"], '
              u'"ner": ["O", "O"], "dep_head": [0, 1], '
              u'"dep_label": ["HED", "VOB"]}]}\n' % word)
    return path
  assert make_instances(corpus(13), max_seq_length=16)
  with pytest.raises(script_errors.InputError) as info:
    make_instances(corpus(14), max_seq_length=16)
  assert str(info.value).startswith(
      u'%s:2: sentence 1: word 2 ("%s", 14 characters) is 14 WordPiece '
      u"tokens, more than an instance holds (--max_seq_length - 3 = 13)" %
      (corpus(14), u"中" * 14))


def test_invalid_utf8_names_the_line(tmp_path):
  corpus = tmp_path / "c.jsonl"
  corpus.write_bytes(b'{"sentences": []}\n\n{"sentences": "\xff"}\n')
  with pytest.raises(script_errors.InputError,
                     match="c.jsonl:3: invalid UTF-8"):
    list(tagged_documents.read_documents([str(corpus)]))


def test_a_bom_and_crlf_are_read_as_elsewhere(tmp_path):
  """create_pretraining_data.py refused a UTF-8 BOM that the other readers
  accept; every reader now reads lines through input_reading.read_lines."""
  plain = write_corpus(str(tmp_path / "plain.jsonl"), 3, seed=2)
  text = io.open(plain, encoding="utf-8").read()
  bom = str(tmp_path / "bom.jsonl")
  with io.open(bom, "w", encoding="utf-8", newline="") as f:
    f.write(u"\ufeff" + text.replace(u"\n", u"\r\n"))
  assert ([line for _, line in tagged_documents.read_documents([bom])] ==
          [line for _, line in tagged_documents.read_documents([plain])])


def test_script_summary_dump_and_error(tmp_path):
  corpus = write_corpus(str(tmp_path / "c.jsonl"), 8, seed=8)
  out = str(tmp_path / "out" / "data.tfrecord")
  result = run_main(["--input_file=" + corpus, "--output_file=" + out,
                     "--max_seq_length=64", "--max_predictions_per_seq=10",
                     "--dupe_factor=1", "--dump_examples=2"])
  assert result.returncode == 0, result.stderr[-2000:]
  assert "Documents: 8" in result.stdout
  assert "N-gram lengths: 1:" in result.stdout
  assert "DEP labels:" in result.stdout and "missing" in result.stdout
  dump = open(out + ".examples.txt", encoding="utf-8").read()
  assert dump.startswith("instance 0\ntokens: [CLS]")
  assert "POS=" in dump and "instance 1" in dump and "instance 2" not in dump

  with io.open(corpus, "a", encoding="utf-8") as f:
    f.write(u"oops\n")
  result = run_main(["--input_file=" + corpus, "--output_file=" + out,
                     "--max_seq_length=64", "--max_predictions_per_seq=10"])
  assert result.returncode != 0
  assert "c.jsonl:9: not valid JSON" in result.stderr
  assert "Traceback" not in result.stderr


def test_failed_run_keeps_the_previous_outputs_and_leaves_no_tmp(tmp_path):
  """A run that fails part-way (a bad line after good documents) leaves the
  previous run's records and .examples.txt as they were, and no .tmp."""
  corpus = write_corpus(str(tmp_path / "c.jsonl"), 8, seed=8)
  out = str(tmp_path / "out" / "data.tfrecord")
  args = ["--input_file=" + corpus, "--output_file=" + out,
          "--max_seq_length=64", "--max_predictions_per_seq=10",
          "--dupe_factor=1", "--dump_examples=2", "--docs_per_batch=2"]
  assert run_main(args).returncode == 0
  before = {name: open(os.path.join(str(tmp_path / "out"), name), "rb").read()
            for name in os.listdir(str(tmp_path / "out"))}
  assert sorted(before) == ["data.tfrecord", "data.tfrecord.examples.txt"]
  with io.open(corpus, "a", encoding="utf-8") as f:
    f.write(u"oops\n")
  result = run_main(args[:2] + ["--random_seed=3"] + args[2:])
  assert result.returncode == 1 and "c.jsonl:9: not valid JSON" in result.stderr
  after = {name: open(os.path.join(str(tmp_path / "out"), name), "rb").read()
           for name in os.listdir(str(tmp_path / "out"))}
  assert after == before


@pytest.mark.parametrize("signum,workers", [(signal.SIGTERM, 2),
                                            (signal.SIGINT, 1)])
def test_a_stopped_run_leaves_no_temporary_file(tmp_path, signum, workers):
  """SIGTERM left 2 x 2.3 MB *.tfrecord.tmp; Ctrl-C left them too, with a
  traceback. Now: one line, exit 128 + the signal, no .tmp, the previous
  records as they were (with worker processes too)."""
  out = tmp_path / "out"
  out.mkdir()
  (out / "a.tfrecord").write_bytes(b"previous")
  command = [sys.executable, os.path.join(REPO, "create_pretraining_data.py"),
             "--input_file=" + os.path.join(REPO, "data", "sample",
                                            "tagged.jsonl"),
             "--output_file=%s,%s" % (out / "a.tfrecord", out / "b.tfrecord"),
             "--max_seq_length=64", "--max_predictions_per_seq=10",
             "--dupe_factor=2000", "--docs_per_batch=2",
             "--num_workers=%d" % workers]
  # Stopped once the first batches are written (the workers running).
  result = stop_midway(command, (str(out / "*.tmp"), " instances, "), signum,
                       tmp_path)
  name = signal.Signals(signum).name
  assert result.returncode == 128 + signum, result.stderr[-3000:]
  assert result.stderr.strip().splitlines()[-1] == (
      "create_pretraining_data.py: stopped by %s." % name)
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  assert sorted(os.listdir(str(out))) == ["a.tfrecord"]
  assert (out / "a.tfrecord").read_bytes() == b"previous"


@pytest.mark.parametrize("flag,message", [
    ("--output_file=a.tfrecord,b.tfrecord,a.tfrecord",
     "--output_file must name distinct files"),
    ("--max_ngram=0", "--max_ngram must be 1..4"),
    ("--max_ngram=5", "--max_ngram must be 1..4"),
    ("--max_seq_length=4", "--max_seq_length must be at least 5"),
    ("--max_predictions_per_seq=0", "--max_predictions_per_seq must be at "
                                    "least 1"),
    ("--max_predictions_per_seq=40 --max_seq_length=32",
     "--max_predictions_per_seq exceeds --max_seq_length"),
])
def test_bad_flags_are_reported_when_parsed(tmp_path, flag, message):
  corpus = write_corpus(str(tmp_path / "c.jsonl"), 2, seed=1)
  args = ["--input_file=" + corpus,
          "--output_file=" + str(tmp_path / "x.tfrecord")]
  if flag.startswith("--output_file"):
    args[1] = "--output_file=" + ",".join(
        str(tmp_path / name) for name in flag.split("=")[1].split(","))
  else:
    args.extend(flag.split())
  result = run_main(args)
  assert result.returncode == 1
  assert message in result.stderr
  assert "Traceback" not in result.stderr
  assert os.listdir(str(tmp_path)) == ["c.jsonl"]


def test_empty_input_is_an_error_and_writes_nothing(tmp_path):
  corpus = tmp_path / "empty.jsonl"
  corpus.write_text(u"\n\n")
  out = str(tmp_path / "out.tfrecord")
  result = run_main(["--input_file=" + str(corpus), "--output_file=" + out])
  assert result.returncode == 1
  assert "no instance" in result.stderr
  assert sorted(os.listdir(str(tmp_path))) == ["empty.jsonl"]


def test_warns_when_max_predictions_caps_the_masked_share(tmp_path):
  corpus = write_corpus(str(tmp_path / "c.jsonl"), 2, seed=1)
  result = run_main(["--input_file=" + corpus, "--output_file=" +
                     str(tmp_path / "x.tfrecord"), "--max_seq_length=128",
                     "--max_predictions_per_seq=10", "--dupe_factor=1"])
  assert result.returncode == 0, result.stderr[-2000:]
  assert ("--max_predictions_per_seq 10 caps the masked share below "
          "--masked_lm_prob 0.15 (about 19 of 128 tokens)") in result.stdout


@pytest.mark.parametrize("max_seq_length,short_seq_prob", [
    (128, 0.1), (64, 0.0), (32, 0.5)])
def test_packing_loses_no_token(tmp_path, max_seq_length, short_seq_prob):
  """At --dupe_factor 1 the instances of a document, in order and with the
  masked tokens put back, are exactly its tokens: no sentence loses its
  overshoot, an over-long sentence (50 words, about 100 tokens: over-long
  at lengths 64 and 32) is split at word boundaries, none is truncated."""
  rng = random.Random(3)
  corpus = str(tmp_path / "c.jsonl")
  with io.open(corpus, "w", encoding="utf-8") as f:
    for _ in range(12):
      doc = {"sentences": [random_sentence(rng, rng.choice([5, 12, 30, 50]))
                           for _ in range(rng.randint(2, 8))]}
      f.write(json.dumps(doc, ensure_ascii=False) + u"\n")
  maker = instances.InstanceMaker(**maker_kwargs(
      max_seq_length=max_seq_length, short_seq_prob=short_seq_prob,
      dupe_factor=1, max_predictions_per_seq=max_seq_length // 4))
  total = over_long = 0
  for where, line in tagged_documents.read_documents([corpus]):
    document = maker.document(where, line)
    expected = [t for s in document.sentences for t in s.tokens]
    over_long += sum(len(s.tokens) > max_seq_length - 3
                     for s in document.sentences)
    rebuilt = []
    for instance in maker.instances(document):
      tokens = list(instance.tokens)
      for position, label in zip(instance.masked_positions,
                                 instance.masked_labels):
        tokens[position] = label
      assert len(tokens) <= max_seq_length
      rebuilt.extend(t for t in tokens if t not in ("[CLS]", "[SEP]"))
    assert rebuilt == expected
    total += len(expected)
    summary = maker((where, line)).summary
    assert summary.content_tokens == summary.corpus_tokens == len(expected)
  assert total > 2000
  assert (over_long > 0) == (max_seq_length < 128)


@pytest.mark.parametrize("case,message", [
    ("truncated_gz", "c.jsonl.gz: cannot be read after line"),
    ("directory", "is a directory; give its files"),
    ("missing_vocab", "no-such-vocab.txt"),
])
def test_file_system_errors_are_one_line(tmp_path, case, message):
  corpus = write_corpus(str(tmp_path / "c.jsonl"), 20, seed=2)
  args = ["--input_file=" + corpus,
          "--output_file=" + str(tmp_path / "out" / "x.tfrecord")]
  if case == "truncated_gz":
    data = gzip.compress(open(corpus, "rb").read())
    with open(corpus + ".gz", "wb") as f:
      f.write(data[:len(data) // 2])
    args[0] = "--input_file=" + corpus + ".gz"
  elif case == "directory":
    os.makedirs(str(tmp_path / "d"))
    args[0] = "--input_file=" + str(tmp_path / "d")
  else:
    args.append("--vocab_file=" + str(tmp_path / "no-such-vocab.txt"))
  result = run_main(args)
  assert result.returncode == 1
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("create_pretraining_data.py: error: ")
  assert message in last
  assert "Traceback" not in result.stderr
