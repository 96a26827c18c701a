# coding=utf-8
"""Fine-tuning: metrics, the task readers on the real files, bad data, and
run_classifier.py / run_ner.py end to end with a tiny model."""

import collections
import gzip
import io
import json
import os
import subprocess
import sys
import pytest
from conftest import run_script
from conftest import REPO, tiny_config, write_config

import numpy as np
import tensorflow.compat.v1 as tf

from lert.contract import script_errors
from lert.experiments import recipe
from lert.finetuning import classifier_data
from lert.finetuning import metrics
from lert.finetuning import ner_data
from lert.finetuning import packing
from lert.finetuning import task_model
import tokenization

VOCAB_FILE = os.path.join(REPO, "configs", "vocab.txt")


# ----------------------------------------------------------------------------
# Metrics, by hand.


def test_accuracy_and_confusion_matrix():
  gold, predicted = [0, 1, 1, 2, 2], [0, 1, 0, 2, 1]
  assert metrics.accuracy(gold, predicted) == pytest.approx(0.6)
  assert metrics.confusion_matrix(gold, predicted, 3).tolist() == [
      [1, 0, 0], [1, 1, 0], [0, 1, 1]]


def test_bio_entities_reads_stray_inside_tags_as_starts():
  assert metrics.bio_entities("B-PER I-PER O B-LOC".split()) == [
      ("PER", 0, 2), ("LOC", 3, 4)]
  assert metrics.bio_entities("O I-PER I-PER O".split()) == [("PER", 1, 3)]
  assert metrics.bio_entities("B-PER I-LOC I-LOC".split()) == [
      ("PER", 0, 1), ("LOC", 1, 3)]
  assert metrics.bio_entities("B-ORG B-ORG I-ORG".split()) == [
      ("ORG", 0, 1), ("ORG", 1, 3)]


def test_entity_f1_exact_partial_wrong_type_and_split():
  gold = [
      "B-PER I-PER O B-LOC I-LOC O".split(),          # PER exact, LOC partial
      "B-ORG I-ORG I-ORG O".split(),                  # ORG predicted as PER
      "B-LOC I-LOC I-LOC O B-PER".split(),            # LOC split in two
  ]
  predicted = [
      "B-PER I-PER O B-LOC O O".split(),
      "B-PER I-PER I-PER O".split(),
      "B-LOC I-LOC B-LOC O B-PER".split(),
  ]
  scores = metrics.entity_scores(gold, predicted)
  # gold: PER 2, LOC 2, ORG 1 = 5; predicted: PER 3, LOC 3 = 6; correct:
  # PER (0,2) and PER (4,5) = 2.
  assert (scores.gold, scores.predicted, scores.correct) == (5, 6, 2)
  assert scores.precision == pytest.approx(2 / 6.0)
  assert scores.recall == pytest.approx(2 / 5.0)
  assert scores.f1 == pytest.approx(2 * (1 / 3.0) * 0.4 / (1 / 3.0 + 0.4))
  assert scores.by_type["PER"] == pytest.approx((2 / 3.0, 1.0, 0.8))
  assert scores.by_type["LOC"] == (0.0, 0.0, 0.0)
  assert scores.by_type["ORG"] == (0.0, 0.0, 0.0)


def test_truncate_pair_cuts_the_longer_first():
  a, b = list("abcdef"), list("xyz")
  assert packing.truncate_pair(a, b, 6)
  assert (a, b) == (list("abc"), list("xyz"))
  a, b = list("ab"), list("xy")
  assert not packing.truncate_pair(a, b, 6)


def test_an_empty_text_b_is_no_second_segment_as_in_google_bert():
  """Google's run_classifier.py: `if tokens_b` — a text_b of no tokens gives
  [CLS] A [SEP] and leaves max_seq_length - 2 tokens to A (we reserved a
  third special token and cut one more A token)."""
  tokenizer = tokenization.FullTokenizer(VOCAB_FILE)
  text = u"一二三四五六七八"
  for text_b in (u"", u"   ", None):
    example = classifier_data.Example("0", text, text_b, "1", "x:1")
    row, truncated = classifier_data.example_features(example, 0, {"1": 1},
                                                      tokenizer, 8)
    # By hand: [CLS] 一 二 三 四 五 六 [SEP], all segment 0.
    assert row["input_ids"] == tokenizer.convert_tokens_to_ids(
        ["[CLS]"] + list(u"一二三四五六") + ["[SEP]"])
    assert row["segment_ids"] == [0] * 8 and row["input_mask"] == [1] * 8
    assert truncated
  example = classifier_data.Example("0", text, u"九", "1", "x:1")
  row, _ = classifier_data.example_features(example, 0, {"1": 1}, tokenizer, 8)
  assert row["input_ids"] == tokenizer.convert_tokens_to_ids(
      ["[CLS]"] + list(u"一二三四") + ["[SEP]", u"九", "[SEP]"])
  assert row["segment_ids"] == [0] * 6 + [1] * 2


# ----------------------------------------------------------------------------
# The real files in ../shared/data.


@pytest.mark.parametrize("task,path,count,labels,skipped", [
    ("chnsenticorp", "chnsenticorp/train.tsv", 9600, {"0": 4801, "1": 4799},
     {}),
    ("chnsenticorp", "chnsenticorp/dev.tsv", 1200, {"0": 607, "1": 593}, {}),
    ("ocnli", "ocnli/dev.json", 2950,
     {"neutral": 1103, "entailment": 947, "contradiction": 900},
     {"label '-' (no gold label)": 50}),
    ("ocnli", "ocnli/train.3k.json", 2994, None,
     {"label '-' (no gold label)": 6}),
    ("xnli", "xnli/dev.tsv", 2490,
     {"neutral": 830, "entailment": 830, "contradiction": 830}, {}),
    ("lcqmc", "lcqmc/dev.tsv", 8802, {"1": 4402, "0": 4400}, {}),
    ("bq", "bq_corpus/dev.csv", 10000, {"0": 5000, "1": 5000}, {}),
    ("tnews", "tnews/train.json.gz", 53360, None, {}),
])
def test_real_files_read_with_their_counts(shared_dir, task, path, count,
                                           labels, skipped):
  result = classifier_data.TASKS[task].reader(
      os.path.join(shared_dir, "data", path))
  assert len(result.examples) == count
  assert dict(result.skipped) == skipped
  counts = collections.Counter(e.label for e in result.examples)
  if labels:
    assert dict(counts) == labels
  assert set(counts) <= set(classifier_data.TASKS[task].labels)
  first = result.examples[0]
  assert first.text_a and first.source.endswith(":2" if task in (
      "chnsenticorp", "xnli", "bq") else ":1")
  if task == "tnews":
    assert len(counts) == 15 and counts["109"] == 5955
  if task == "bq":  # the BOM does not stick to the first header name
    assert first.text_a.startswith(u"不要借了")


@pytest.mark.parametrize("separator,newline,bom,gz", [
    (" ", "\n", False, False),      # People's Daily
    ("\t", "\n", False, True),      # MSRA-NER, gzipped
    (" ", "\r\n", True, False),     # the same from a Windows editor
])
def test_ner_layouts_read_exactly(tmp_path, separator, newline, bom, gz):
  """Both NER layouts on a file written here (the real files are in
  ../shared): sentences, characters, tags, separator and where each
  sentence starts; predictions are written back in the input's layout."""
  rows = [[(u"张", "B-PER"), (u"伟", "I-PER"), (u"在", "O"), (u"北", "B-LOC"),
           (u"京", "I-LOC")], [(u"华", "B-ORG"), (u"为", "I-ORG")]]
  text = (u"\ufeff" if bom else u"") + u"".join(
      u"".join(c + separator + t + newline for c, t in sentence) + newline
      for sentence in rows) + newline
  path = str(tmp_path / ("ner.txt" + (".gz" if gz else "")))
  opener = gzip.open if gz else io.open
  with opener(path, "wb") as f:
    f.write(text.encode("utf-8"))
  sentences = ner_data.read_sentences(path)
  assert [s.chars for s in sentences] == [[c for c, _ in r] for r in rows]
  assert [s.tags for s in sentences] == [[t for _, t in r] for r in rows]
  assert [s.separator for s in sentences] == [separator] * 2
  assert [s.source for s in sentences] == [path + ":1", path + ":7"]
  out = ner_data.write_sentences(str(tmp_path / "out.txt"), sentences,
                                 [s.tags for s in sentences])
  assert io.open(out, encoding="utf-8").read() == text.lstrip(
      u"\ufeff").replace(u"\r\n", u"\n")[:-1]


def entities_to_bio(entities, length):
  """The BIO tags of entities (type, start, end) over `length` positions:
  the inverse of metrics.bio_entities, written here to check it."""
  tags = ["O"] * length
  for kind, start, end in entities:
    tags[start] = "B-" + kind
    for i in range(start + 1, end):
      tags[i] = "I-" + kind
  return tags


@pytest.mark.slow
def test_people_daily_and_msra_counts_and_bio_round_trip(shared_dir):
  data = os.path.join(shared_dir, "data")
  dev = ner_data.read_sentences(os.path.join(data, "peopledaily", "dev.txt"))
  assert len(dev) == 4631
  assert sum(len(s.chars) for s in dev) == 172601
  entities = collections.Counter(
      kind for s in dev for kind, _, _ in metrics.bio_entities(s.tags))
  assert dict(entities) == {"PER": 1984, "LOC": 2877, "ORG": 1331}
  train = ner_data.read_sentences(os.path.join(data, "peopledaily",
                                               "train.txt"))
  assert len(train) == 50658
  msra = ner_data.read_sentences(os.path.join(data, "msra_ner",
                                              "train_bio.txt.gz"))
  assert len(msra) == 45000 and msra[0].separator == "\t"
  assert dev[0].separator == " "
  # BIO -> entities -> BIO is exact, except for the sentences that start
  # inside a name (the source cut a list of names mid-name): their first
  # I-PER reads as the start of an entity and comes back as B-PER.
  starts_inside = 0
  for sentence in dev + train:
    back = entities_to_bio(metrics.bio_entities(sentence.tags),
                           len(sentence.tags))
    if sentence.tags[0].startswith("I-"):
      starts_inside += 1
      assert back[0] == "B-" + sentence.tags[0][2:]
      assert back[1:] == sentence.tags[1:]
    else:
      assert back == sentence.tags, sentence.source
  assert starts_inside == 17


# ----------------------------------------------------------------------------
# Layouts and bad data on small files.


def write(path, text, gz=False):
  data = text.encode("utf-8")
  with (gzip.open(path, "wb") if gz else open(path, "wb")) as f:
    f.write(data)
  return path


def test_xnli_google_layouts(tmp_path):
  header = ("language\tgold_label\tsentence1_binary_parse\t"
            "sentence2_binary_parse\tsentence1_parse\tsentence2_parse\t"
            "sentence1\tsentence2\tpromptID\tpairID\n")
  path = write(str(tmp_path / "xnli.dev.tsv"), header +
               "en\tneutral\t-\t-\t-\t-\tA man.\tA person.\t1\t1\n"
               u"zh\tentailment\t-\t-\t-\t-\t他来了。\t有人来了。\t1\t2\n"
               u"zh\tcontradiction\t-\t-\t-\t-\t天晴。\t下雨。\t1\t3\n")
  result = classifier_data.read_xnli(path)
  assert [(e.text_a, e.text_b, e.label) for e in result.examples] == [
      (u"他来了。", u"有人来了。", "entailment"),
      (u"天晴。", u"下雨。", "contradiction")]
  assert dict(result.skipped) == {"language other than zh": 1}
  path = write(str(tmp_path / "multinli.train.zh.tsv.gz"),
               u"premise\thypo\tlabel\n他来了。\t没人来。\tcontradictory\n",
               gz=True)
  (example,) = classifier_data.read_xnli(path).examples
  assert example.label == "contradiction"


def test_tsv_with_and_without_header_read_the_same(tmp_path):
  rows = (u"开初婚未育证明怎么弄？\t初婚未育情况证明怎么开？\t1\n"
          u"谁知道？\t什么歌\t0\n")
  plain = classifier_data.read_lcqmc(write(str(tmp_path / "a.tsv"), rows))
  headed = classifier_data.read_lcqmc(write(
      str(tmp_path / "b.tsv"), u"text_a\ttext_b\tlabel\n" + rows))
  assert ([e[1:4] for e in plain.examples] ==
          [e[1:4] for e in headed.examples])
  # ChnSentiCorp's header may name its columns in another order.
  (example,) = classifier_data.read_chnsenticorp(write(
      str(tmp_path / "c.tsv"), u"qid\ttext_a\tlabel\n7\t很好\t1\n")).examples
  assert (example.text_a, example.label) == (u"很好", "1")


@pytest.mark.parametrize("reader,text,message", [
    (classifier_data.read_lcqmc, u"好\t很好\t1\n只有两列\t0\n",
     "x:2: 2 columns, expected 3"),
    (classifier_data.read_chnsenticorp, u"label\ttext_a\n2\t好\n",
     "x:2: unknown label '2' (labels: 0, 1)"),
    (classifier_data.read_ocnli, u'{"sentence1": "a", "label": "neutral"}\n',
     "x:1: no sentence2"),
    (classifier_data.read_tnews, u'{"label": "105", "sentence": "a"}\n',
     "x:1: unknown label '105'"),
    (classifier_data.read_tnews, u'{"label": "101", "sentence": "a"\n',
     "x:1: not valid JSON"),
    (classifier_data.read_bq, u"", "x is empty"),
    (lambda p: ner_data.read_sentences(p), u"中 B-ORG\n共 I-ORG extra\n",
     "x:2: expected a character and its tag"),
    (lambda p: ner_data.read_sentences(p), u"中 B-ORG\n共 I-XYZ\n",
     "x:2: unknown tag 'I-XYZ'"),
    # A column too many was dropped silently; an empty text trained on an
    # empty example; a NUL was taken as text.
    (classifier_data.read_chnsenticorp, u"label\ttext_a\n1\t好\t多\n",
     "x:2: 3 columns, expected 2 (label, text_a)"),
    (classifier_data.read_chnsenticorp, u"1\t好\n1\t\n",
     "x:2: no text (text_a is empty)"),
    (classifier_data.read_lcqmc, u"好\t很好\t1\n好\x00\t很好\t1\n",
     "x:2: a NUL character"),
    # A header alone was "the file: no usable example up to here".
    (classifier_data.read_chnsenticorp, u"label\ttext_a\n",
     "x holds a header and no example."),
])
def test_bad_data_is_an_error_naming_file_and_line(tmp_path, reader, text,
                                                   message):
  path = write(str(tmp_path / "x"), text)
  with pytest.raises(script_errors.InputError) as error:
    reader(path)
  assert message in str(error.value).replace(str(tmp_path) + os.sep, "")


def test_ner_windows_lose_no_character_and_stitch_back():
  tokenizer = tokenization.FullTokenizer(VOCAB_FILE)
  chars = list(u"北京大学位于海淀区") * 3 + [u"\u200b", u"A"]
  tags = ["O"] * len(chars)
  tags[0], tags[1] = "B-LOC", "I-LOC"
  sentence = ner_data.Sentence(chars, tags, "s:1", " ")
  windows = ner_data.windows([sentence], tokenizer, 10)
  assert [len(w.tokens) for w in windows] == [8, 8, 8, 5]
  assert sum((w.chars for w in windows), []) == chars
  assert windows[-1].tokens[-2:] == ["[UNK]", "a"]  # dropped char -> [UNK]
  row = ner_data.window_features(windows[0], sentence, 0, tokenizer, 10)
  assert row["label_ids"][:4] == [0, ner_data.LABELS.index("B-LOC"),
                                  ner_data.LABELS.index("I-LOC"), 0]
  assert row["label_mask"] == [0] + [1] * 8 + [0]
  # Stitching: the label of each character's first token, in order.
  probabilities = []
  for window in windows:
    probs = np.zeros((10, len(ner_data.LABELS)))
    probs[:, 0] = 1.0
    if window.start == 0:
      probs[1, 3] = probs[2, 4] = 2.0  # B-LOC, I-LOC
    probabilities.append(probs)
  (predicted,) = ner_data.stitch([sentence], windows, probabilities)
  assert predicted == tags


# ----------------------------------------------------------------------------
# The scripts end to end with a tiny model.


def read_results(path):
  """name -> value of an eval_results.txt."""
  with io.open(path, encoding="utf-8") as f:
    return dict(line.split(" = ", 1) for line in f.read().splitlines())


def small_vocab_config(tmp_path, texts):
  """A vocabulary of the characters of `texts` and a tiny config for it."""
  tokenizer = tokenization.FullTokenizer(VOCAB_FILE)
  tokens = sorted(set(t for text in texts for t in tokenizer.tokenize(text)))
  vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + tokens
  vocab_file = str(tmp_path / "vocab.txt")
  with io.open(vocab_file, "w", encoding="utf-8") as f:
    f.write(u"\n".join(vocab) + u"\n")
  config_file = write_config(str(tmp_path / "config.json"),
                             tiny_config(len(vocab)))
  return vocab_file, config_file


@pytest.mark.slow
def test_run_classifier_trains_evaluates_predicts(tmp_path):
  rows = [(u"这家酒店很好，服务周到。", "1"), (u"房间太差了，不推荐。", "0"),
          (u"早餐丰富，位置方便。", "1"), (u"服务很差，很吵。", "0")] * 3
  train = write(str(tmp_path / "train.tsv"), u"label\ttext_a\n" + u"".join(
      u"%s\t%s\n" % (label, text) for text, label in rows))
  vocab_file, config_file = small_vocab_config(tmp_path, [t for t, _ in rows])
  output_dir = str(tmp_path / "out")
  result = run_script(
      "run_classifier.py", "--task_name=chnsenticorp",
      "--bert_config_file=" + config_file, "--vocab_file=" + vocab_file,
      "--output_dir=" + output_dir, "--train_file=" + train,
      "--eval_file=" + train, "--predict_file=" + train, "--do_train",
      "--do_eval", "--do_predict", "--max_seq_length=12",
      "--train_batch_size=4", "--num_train_epochs=2",
      "--learning_rate=1e-3", "--train_from_scratch")
  assert result.returncode == 0, result.stderr[-3000:]
  values = read_results(os.path.join(output_dir, "eval_results.txt"))
  assert values["num_examples"] == "12"
  # 这家酒店很好，服务周到。 (12 characters), three times
  assert values["num_truncated"] == "3"
  # Random weights are said, in the log and in the results.
  assert values["init_checkpoint"] == "none (--train_from_scratch)"
  assert "fine-tuning from random weights" in result.stderr
  matrix = np.array(json.loads(values["confusion_matrix"]))
  assert matrix.sum() == 12
  assert float(values["accuracy"]) == pytest.approx(np.trace(matrix) / 12.0)
  lines = io.open(os.path.join(output_dir, "test_results.tsv"),
                  encoding="utf-8").read().splitlines()
  assert lines[0] == "index\tprediction\tp_0\tp_1"
  assert len(lines) == 13
  for line in lines[1:]:
    index, label, p0, p1 = line.split("\t")
    assert label == ("0" if float(p0) > float(p1) else "1")
    assert float(p0) + float(p1) == pytest.approx(1.0, abs=1e-5)
  # 2 epochs of 12 examples in batches of 4 = 6 steps.
  assert tf.train.latest_checkpoint(output_dir).endswith("model.ckpt-6")


@pytest.mark.slow
def test_run_ner_trains_evaluates_and_writes_the_input_format(tmp_path):
  sentences = [(u"张伟在北京工作。", "B-PER I-PER O B-LOC I-LOC O O O"),
               (u"华为发布芯片。", "B-ORG I-ORG O O O O O")] * 4
  text = u"".join(u"".join(u"%s\t%s\n" % (c, t) for c, t in zip(
      chars, tags.split())) + u"\n" for chars, tags in sentences)
  train = write(str(tmp_path / "train.txt"), text)
  predict_input = write(str(tmp_path / "test.txt"),
                        u"张\n伟\n在\n华\n为\n\n北\n京\n")  # characters only
  vocab_file, config_file = small_vocab_config(tmp_path,
                                               [s for s, _ in sentences])
  output_dir = str(tmp_path / "out")
  result = run_script(
      "run_ner.py", "--bert_config_file=" + config_file,
      "--vocab_file=" + vocab_file, "--output_dir=" + output_dir,
      "--train_file=" + train, "--eval_file=" + train,
      "--predict_file=" + predict_input, "--do_train", "--do_eval",
      "--do_predict", "--max_seq_length=6", "--train_batch_size=4",
      "--num_train_epochs=1", "--learning_rate=1e-3", "--train_from_scratch")
  assert result.returncode == 0, result.stderr[-3000:]
  values = read_results(os.path.join(output_dir, "eval_results.txt"))
  assert values["gold_entities"] == "12"  # 2 + 1 per pair of sentences x 4
  # The eval predictions repeat the input, characters and separator, with
  # predicted tags; sentences longer than 4 characters were split into
  # windows and stitched back whole.
  written = ner_data.read_sentences(os.path.join(output_dir,
                                                 "eval_predictions.txt"))
  original = ner_data.read_sentences(train)
  assert [s.chars for s in written] == [s.chars for s in original]
  assert written[0].separator == "\t"
  scores = metrics.entity_scores([s.tags for s in original],
                                 [s.tags for s in written])
  assert float(values["f1"]) == pytest.approx(scores.f1)
  predicted = ner_data.read_sentences(os.path.join(output_dir,
                                                   "test_predictions.txt"))
  assert [u"".join(s.chars) for s in predicted] == [u"张伟在华为", u"北京"]
  # 8 sentences in windows of 4 characters: 16 windows, 4 steps.
  assert tf.train.latest_checkpoint(output_dir).endswith("model.ckpt-4")


def test_an_entity_without_its_b_tag_is_counted_and_printed(tmp_path,
                                                            capsys):
  """run_ner.py took I-PER with no B-PER before it silently. It stays an
  entity (conlleval reads it so, and the scores must stay conlleval's), and
  each one is counted, with where the first is."""
  import run_ner
  path = write(str(tmp_path / "t.txt"),
               u"王 I-PER\n五 I-PER\n在 O\n京 I-LOC\n\n"  # lines 1, 4
               u"张 B-PER\n伟 I-PER\n华 I-ORG\n为 I-ORG\n")  # line 8
  sentences = run_ner.read(path, "eval")
  assert ner_data.unstarted_entities(sentences) == [
      path + ":1", path + ":4", path + ":8"]
  assert ("t.txt (eval): 3 I- tags that follow O or another type (the first "
          "at %s:1), read as the start of an entity" % path in
          capsys.readouterr().out)
  assert metrics.bio_entities(sentences[1].tags) == [("PER", 0, 2),
                                                         ("ORG", 2, 4)]
  clean = write(str(tmp_path / "c.txt"), u"张 B-PER\n伟 I-PER\n")
  assert not ner_data.unstarted_entities(run_ner.read(clean, "eval"))
  assert "I- tags" not in capsys.readouterr().out


@pytest.mark.slow
def test_init_checkpoint_loads_the_encoder_and_reports_the_new_layer(
    tmp_path):
  """Fine-tuning from a pre-training checkpoint: the encoder comes from it
  (one step at a tiny learning rate leaves it within 1e-5), the output layer
  is new, and the log says which is which."""
  rows = [(u"很好", "1"), (u"很差", "0")] * 4
  train = write(str(tmp_path / "train.tsv"), u"".join(
      u"%s\t%s\n" % (label, text) for text, label in rows))
  vocab_file, config_file = small_vocab_config(tmp_path, [t for t, _ in rows])
  with tf.Graph().as_default():
    import modeling
    modeling.BertModel(modeling.BertConfig.from_json_file(config_file), False,
                       tf.constant([[1, 2]]))
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      init = tf.train.Saver().save(sess, str(tmp_path / "pre" / "model.ckpt"))
  output_dir = str(tmp_path / "out")
  result = run_script(
      "run_classifier.py", "--task_name=chnsenticorp",
      "--bert_config_file=" + config_file, "--vocab_file=" + vocab_file,
      "--init_checkpoint=" + str(tmp_path / "pre"),
      "--output_dir=" + output_dir, "--train_file=" + train, "--do_train",
      "--max_seq_length=8", "--train_batch_size=8", "--num_train_epochs=1",
      "--learning_rate=1e-9")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "output_weights  *NEW*" in result.stderr
  assert ("bert/embeddings/word_embeddings  *INIT_FROM_CKPT*" in
          result.stderr)
  tuned = tf.train.load_checkpoint(tf.train.latest_checkpoint(output_dir))
  before = tf.train.load_checkpoint(init)
  for name in ("bert/embeddings/word_embeddings",
               "bert/encoder/layer_1/output/dense/kernel"):
    np.testing.assert_allclose(tuned.get_tensor(name), before.get_tensor(name),
                               atol=1e-5)


def test_summarize_seeds_reports_max_and_mean(tmp_path):
  from scripts import summarize_seeds
  for i, value in enumerate(["0.5", "0.75", "0.625"]):
    os.makedirs(str(tmp_path / str(i)))
    write(str(tmp_path / str(i) / "eval_results.txt"),
          u"task = x\naccuracy = %s\nloss = 1.0\n" % value)
  summary = summarize_seeds.summarize([str(tmp_path / str(i))
                                       for i in range(3)])
  assert list(summary) == ["accuracy"]
  assert summary["accuracy"][:2] == (0.75, pytest.approx(0.625))


@pytest.mark.slow
def test_seed_runner_runs_the_task_script_per_seed(tmp_path):
  """scripts/run_seeds.sh -> run_chnsenticorp.sh -> finetune.sh ->
  run_classifier.py, with the real small config, on a few examples."""
  data = tmp_path / "data"
  os.makedirs(str(data))
  write(str(data / "train.tsv"),
        u"label\ttext_a\n1\t很好\n0\t很差\n1\t不错\n0\t太差\n")
  write(str(data / "dev.tsv"), u"label\ttext_a\n1\t很好\n0\t很差\n")
  out = str(tmp_path / "out")
  result = subprocess.run(
      ["bash", os.path.join(REPO, "scripts", "run_seeds.sh"), "chnsenticorp",
       "small", "none", str(data), out, "1 2"],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
      env=dict(os.environ, MAXLEN="8", EPOCHS="1", BATCH="4",
               TF_CPP_MIN_LOG_LEVEL="2", PYTHON=sys.executable))
  assert result.returncode == 0, result.stderr[-3000:]
  accuracies = []
  for seed in (1, 2):
    values = read_results(os.path.join(out, "seed-%d" % seed,
                                       "eval_results.txt"))
    accuracies.append(float(values["accuracy"]))
  summary = io.open(os.path.join(out, "summary.txt")).read()
  assert summary.startswith("accuracy: %.4f (%.4f) over 2 runs" % (
      max(accuracies), sum(accuracies) / 2))


@pytest.mark.parametrize("task,size,expected", [
    ("xnli", "small", "--max_seq_length=128 --num_train_epochs=5 "
                      "--learning_rate=5e-5"),
    ("xnli", "base", "--max_seq_length=128 --num_train_epochs=2 "
                     "--learning_rate=3e-5"),
    ("lcqmc", "large", "--max_seq_length=128 --num_train_epochs=3 "
                       "--learning_rate=2e-5"),
    ("bq", "large", "--max_seq_length=128 --num_train_epochs=2 "
                    "--learning_rate=2e-5"),
    ("chnsenticorp", "base", "--max_seq_length=256 --num_train_epochs=5 "
                             "--learning_rate=3e-5"),
    ("tnews", "small", "--max_seq_length=128 --num_train_epochs=5 "
                       "--learning_rate=5e-5"),
    ("ocnli", "large", "--max_seq_length=128 --num_train_epochs=3 "
                       "--learning_rate=2e-5"),
    ("msra_ner", "base", "--max_seq_length=256 --num_train_epochs=10 "
                         "--learning_rate=3e-5"),
    ("peopledaily", "small", "--max_seq_length=256 --num_train_epochs=10 "
                             "--learning_rate=5e-5"),
    ("cmrc2018", "small", "--max_seq_length=512 --num_train_epochs=3 "
                          "--learning_rate=5e-5"),
    ("cmrc2018", "large", "--max_seq_length=512 --num_train_epochs=1 "
                          "--learning_rate=2e-5"),
    ("drcd", "large", "--max_seq_length=512 --num_train_epochs=3 "
                      "--learning_rate=2e-5"),
])
def test_task_scripts_pass_the_paper_settings(tmp_path, task, size, expected):
  """What scripts/run_TASK.sh passes to python ($PYTHON), caught by a
  stand-in."""
  stub = str(tmp_path / "python")
  write(stub, u'#!/bin/sh\necho "$@"\n')
  os.chmod(stub, 0o755)
  result = subprocess.run(
      ["bash", os.path.join(REPO, "scripts", "run_%s.sh" % task), size,
       "ckpt", str(tmp_path / "data"), str(tmp_path / "out"), "7"],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
      env=dict(os.environ, PYTHON=stub))
  assert result.returncode == 0, result.stderr
  args = result.stdout.split()
  script = {"msra_ner": "run_ner.py", "peopledaily": "run_ner.py",
            "cmrc2018": "run_squad.py", "drcd": "run_squad.py"}.get(
                task, "run_classifier.py")
  assert args[0].endswith(script)
  for flag in expected.split() + ["--random_seed=7", "--train_batch_size=32",
                                  "--init_checkpoint=ckpt"]:
    assert flag in args
  assert ("--task_name=" + task in args) == (script == "run_classifier.py")
  # Every flag passed exists.
  module = __import__(script[:-3])
  from absl import flags
  flag_values = flags.FlagValues()
  module.define_flags(flag_values)
  for arg in args[1:]:
    assert arg.split("=")[0][2:] in flag_values, arg


@pytest.mark.slow
def test_fine_tuned_tiny_model_beats_the_majority_on_chnsenticorp(
    shared_dir, tmp_path):
  """A randomly initialised 2-layer model, 2 epochs of ChnSentiCorp train
  (about 35 s on two cores): dev accuracy clearly above the majority class.
  A loss that does not train (e.g. labels broadcast against the batch) stays
  at the majority."""
  data = os.path.join(shared_dir, "data", "chnsenticorp")
  config_file = write_config(str(tmp_path / "config.json"), tiny_config(
      21128, hidden_size=64, intermediate_size=256, num_attention_heads=2,
      max_position_embeddings=64, dropout=0.1))
  output_dir = str(tmp_path / "out")
  result = run_script(
      "run_classifier.py", "--task_name=chnsenticorp",
      "--bert_config_file=" + config_file, "--output_dir=" + output_dir,
      "--vocab_file=" + VOCAB_FILE,
      "--train_file=" + os.path.join(data, "train.tsv"),
      "--eval_file=" + os.path.join(data, "dev.tsv"), "--do_train",
      "--do_eval", "--max_seq_length=64", "--num_train_epochs=2",
      "--train_batch_size=32", "--learning_rate=3e-4",
      "--save_checkpoints_steps=10000", "--train_from_scratch")
  assert result.returncode == 0, result.stderr[-3000:]
  values = read_results(os.path.join(output_dir, "eval_results.txt"))
  dev = classifier_data.read_chnsenticorp(os.path.join(data, "dev.tsv"))
  majority = max(collections.Counter(
      e.label for e in dev.examples).values()) / 1200.0
  assert majority == pytest.approx(607 / 1200.0)
  assert float(values["accuracy"]) > majority + 0.15, values["accuracy"]


def _split_lines(path, header, train_count, eval_count, blank_separated):
  """The first records of a real file as train and eval files in its own
  format (header, gzip and blank-line sentences kept)."""
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    lines = f.read().decode("utf-8").splitlines(True)
  head, body = (lines[:1], lines[1:]) if header else ([], lines)
  if blank_separated:
    records, current = [], []
    for line in body:
      current.append(line)
      if not line.strip():
        records.append(current)
        current = []
  else:
    records = [[line] for line in body]
  parts = (records[:train_count],
           records[train_count:train_count + eval_count])
  return [u"".join(head + [line for r in part for line in r]) for part in parts]


@pytest.mark.slow
@pytest.mark.parametrize("task,path,header,blank", [
    ("xnli", "xnli/dev.tsv", True, False),
    ("lcqmc", "lcqmc/dev.tsv", False, False),
    ("bq", "bq_corpus/dev.csv", True, False),
    ("tnews", "tnews/train.json.gz", False, False),
    ("msra_ner", "msra_ner/train_bio.txt.gz", False, True),
])
def test_single_split_tasks_train_on_part_and_evaluate_on_the_rest(
    shared_dir, tmp_path, task, path, header, blank):
  source = os.path.join(shared_dir, "data", path)
  train_text, eval_text = _split_lines(source, header, 64, 32, blank)
  suffix = path.split("/")[-1].replace("dev", "part").replace("train", "part")
  train = write(str(tmp_path / ("train-" + suffix)), train_text,
                gz=path.endswith(".gz"))
  evaluation = write(str(tmp_path / ("eval-" + suffix)), eval_text,
                     gz=path.endswith(".gz"))
  config_file = write_config(str(tmp_path / "config.json"), tiny_config(
      21128, max_position_embeddings=64))
  output_dir = str(tmp_path / "out")
  script = "run_ner.py" if task == "msra_ner" else "run_classifier.py"
  args = ["--bert_config_file=" + config_file, "--vocab_file=" + VOCAB_FILE,
          "--output_dir=" + output_dir, "--train_file=" + train,
          "--eval_file=" + evaluation, "--do_train", "--do_eval",
          "--max_seq_length=64", "--train_batch_size=16",
          "--num_train_epochs=1", "--learning_rate=1e-4",
          "--train_from_scratch"]
  if script == "run_classifier.py":
    args.append("--task_name=" + task)
  result = run_script(script, *args)
  assert result.returncode == 0, result.stderr[-3000:]
  values = read_results(os.path.join(output_dir, "eval_results.txt"))
  if script == "run_classifier.py":
    assert values["num_examples"] == "32"
    matrix = np.array(json.loads(values["confusion_matrix"]))
    assert matrix.sum() == 32
    assert float(values["accuracy"]) == pytest.approx(
        np.trace(matrix) / 32.0)
  else:
    assert values["num_sentences"] == "32"
    gold = ner_data.read_sentences(evaluation)
    assert values["gold_entities"] == str(sum(
        len(metrics.bio_entities(s.tags)) for s in gold))


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_weight_decay_and_output_dropout_reach_the_update(dropout):
  """One AdamW step of the output layer: decoupled weight decay subtracts
  lr·wd·w on top of the Adam step, so two runs differing only in
  --weight_decay_rate differ by exactly that; --output_dropout_prob makes
  the training loss change from step to step (the encoder here has no
  dropout), 0 does not; at one step the masks are the same (drawn from the
  seed and the step: exact resume)."""
  import numpy as np
  from conftest import tiny_config
  config = tiny_config(vocab_size=30)
  features = {"input_ids": np.array([[2, 5, 7, 3]] * 2, np.int32),
              "input_mask": np.ones([2, 4], np.int32),
              "segment_ids": np.zeros([2, 4], np.int32),
              "label_id": np.array([[0], [1]], np.int32)}
  learning_rate = 0.1
  results = {}
  for decay in (0.0, 0.3):
    with tf.Graph().as_default():
      tf.set_random_seed(1)
      model_fn = task_model.model_fn_builder(
          config, 2, "sequence", None, learning_rate, 10, 0, False, False,
          weight_decay_rate=decay, output_dropout_prob=dropout)
      spec = model_fn({k: tf.constant(v) for k, v in features.items()},
                      None, tf.estimator.ModeKeys.TRAIN, {})
      weights = [v for v in tf.global_variables()
                 if v.op.name == "output_weights"][0]
      step = tf.train.get_global_step()
      with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        losses = []
        for value in (0, 1, 2):
          sess.run(step.assign(value))
          losses.append(sess.run(spec.loss))
        assert sess.run(spec.loss) == losses[-1]
        sess.run(step.assign(0))
        before = sess.run(weights)
        sess.run(spec.train_op)
        results[decay] = (before, sess.run(weights))
    assert (len(set(losses)) > 1) == (dropout > 0), losses
  (before, plain), (same, decayed) = results[0.0], results[0.3]
  np.testing.assert_array_equal(before, same)  # the same initial weights
  # The same graph seed draws the same dropout masks in both runs.
  np.testing.assert_allclose(plain - decayed, learning_rate * 0.3 * before,
                             rtol=1e-4, atol=1e-7)


def test_finetune_sh_and_python_read_the_same_recipe(tmp_path):
  """configs/finetune_recipe.tsv is read by the shell (awk, no Python) and
  by lert.experiments.recipe: every task and size gives the same script,
  length, epochs and learning rate both ways."""
  stub = str(tmp_path / "python")
  write(stub, u'#!/bin/sh\necho "$@"\n')
  os.chmod(stub, 0o755)
  assert len(recipe.FINETUNE_TASKS) == 10
  for task, row in recipe.FINETUNE_TASKS.items():
    for size_index, size in enumerate(recipe.SIZES):
      result = subprocess.run(
          ["bash", os.path.join(REPO, "scripts", "finetune.sh"), task, size,
           "ckpt", str(tmp_path / "data"), str(tmp_path / "out")],
          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
          universal_newlines=True, env=dict(os.environ, PYTHON=stub))
      assert result.returncode == 0, result.stderr
      args = result.stdout.split()
      assert args[0].endswith("/" + row.script)
      values = dict(a[2:].split("=", 1) for a in args[1:] if "=" in a)
      assert int(values["max_seq_length"]) == row.max_seq_length
      assert int(values["num_train_epochs"]) == row.epochs[size_index]
      assert float(values["learning_rate"]) == row.learning_rates[size_index]
      assert values["train_file"].endswith("train." + row.ext)
  result = subprocess.run(
      ["bash", os.path.join(REPO, "scripts", "finetune.sh"), "bq", "huge",
       "ckpt", "d", "o"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      universal_newlines=True, env=dict(os.environ, PYTHON=stub))
  assert result.returncode == 1
  assert result.stderr == ("finetune.sh: error: SIZE must be small, base or "
                           "large, not 'huge'.\n")


def test_a_malformed_recipe_row_is_one_line_naming_it(tmp_path):
  path = tmp_path / "recipe.tsv"
  with io.open(recipe.RECIPE_FILE, encoding="utf-8") as f:
    lines = f.read().splitlines()
  row = next(i for i, line in enumerate(lines) if line.startswith("bq\t"))
  lines[row] = lines[row].replace("\t128\t", "\tlong\t")
  path.write_text(u"\n".join(lines) + u"\n")
  with pytest.raises(script_errors.InputError,
                     match=r"recipe.tsv:%d: not a recipe row" % (row + 1)):
    recipe.read_recipe(str(path))
  assert recipe.read_recipe()["bq"] == recipe.FINETUNE_TASKS["bq"]
  assert recipe.FINETUNE_TASKS["bq"].learning_rates == (5e-5, 3e-5, 2e-5)


def test_the_task_readers_import_no_tensorflow():
  """The readers pack their tokens through lert/finetuning/packing.py, not
  the TensorFlow training stack (they imported finetuning.py for it)."""
  code = ("import sys; from lert.finetuning import (classifier_data, "
          "ner_data, squad_data, packing, metrics, cmrc_metric); "
          "from lert.experiments import recipe, variants, task_data; "
          "print(sorted(m for m in sys.modules if m.startswith('tensorflow')))")
  result = subprocess.run([sys.executable, "-c", code], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == "[]"
