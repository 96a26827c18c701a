# coding=utf-8
"""Reading comprehension: the CMRC 2018 metric, the SQuAD-style files,
windows and span decoding, and run_squad.py end to end."""

import io
import json
import os
import subprocess
import sys
import pytest
from conftest import REPO, run_script, tiny_config, write_config

import numpy as np

from lert.contract import script_errors
from lert.finetuning import cmrc_metric
from lert.finetuning import squad_data
import tokenization

pytest.importorskip("nltk", reason="the CMRC metric segments with NLTK")

VOCAB_FILE = os.path.join(REPO, "configs", "vocab.txt")


# ----------------------------------------------------------------------------
# The metric, by hand.


@pytest.mark.parametrize("answers,prediction,f1,em", [
    ([u"北京大学"], u"北京大学", 1.0, 1.0),
    ([u"北京大学"], u"北京", 2 / 3.0, 0.0),              # P 1, R 1/2
    # The LCS is contiguous: 丙丁.
    ([u"甲乙丙丁"], u"甲丙丁", 4 / 7.0, 0.0),
    ([u"New York City"], u"new york", 0.8, 0.0),        # words, lower-cased
    ([u"2008年"], u"2008年5月", 2 / 3.0, 0.0),          # mixed: 2008 年 | 5 月
    ([u"《红楼梦》"], u"红楼梦", 1.0, 1.0),               # punctuation removed
    ([u"红楼梦"], u"“红楼梦”。", 1.0, 1.0),
    ([u"北京", u"北京市"], u"北京市", 1.0, 1.0),          # best gold answer
    ([u"上海"], u"北京", 0.0, 0.0),
])
def test_f1_and_em_on_hand_worked_cases(answers, prediction, f1, em):
  assert cmrc_metric.f1_score(answers, prediction) == pytest.approx(f1)
  assert cmrc_metric.em_score(answers, prediction) == em


def test_mixed_segmentation_of_chinese_latin_digits_punctuation():
  assert cmrc_metric.mixed_segmentation(
      u"LERT在CMRC 2018上得了88.1分！") == [
          "lert", u"在", "cmrc", "2018", u"上", u"得", u"了", "88.1", u"分",
          u"！"]
  assert cmrc_metric.mixed_segmentation(u"《三体》", True) == [
      u"三", u"体"]


def _data(qas):
  return {"data": [{"paragraphs": [{"context": u"北京上海", "qas": [
      {"id": qid, "question": u"哪里？", "answers": [
          {"text": t, "answer_start": 0} for t in answers]}
      for qid, answers in qas]}]}]}


def test_missing_prediction_is_skipped_and_scores_zero(tmp_path):
  data = _data([("q1", [u"北京"]), ("q2", [u"上海", u"上海市"])])
  score = cmrc_metric.evaluate(data, {"q2": u"上海市"})
  assert (score.f1, score.em, score.total, score.skip) == (50.0, 50.0, 2, 1)
  data_file = str(tmp_path / "data.json")
  with io.open(data_file, "w", encoding="utf-8") as f:
    json.dump(data, f, ensure_ascii=False)
  predictions = str(tmp_path / "predictions.json")
  with io.open(predictions, "w", encoding="utf-8") as f:
    json.dump({"q2": u"上海市"}, f, ensure_ascii=False)
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, "cmrc2018_evaluate.py"), data_file,
       predictions], stdout=subprocess.PIPE, universal_newlines=True)
  assert json.loads(result.stdout) == {
      "AVERAGE": "50.000", "F1": "50.000", "EM": "50.000", "TOTAL": 2,
      "SKIP": 1}


def test_the_evaluator_reads_a_file_with_a_bom(tmp_path):
  """cmrc2018_evaluate.py refused a UTF-8 BOM that the other readers
  accept."""
  data = _data([("q1", [u"北京"])])
  paths = []
  for name, value in (("data.json", data), ("predictions.json",
                                            {"q1": u"北京"})):
    path = str(tmp_path / name)
    with io.open(path, "w", encoding="utf-8-sig") as f:
      json.dump(value, f, ensure_ascii=False)
    paths.append(path)
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, "cmrc2018_evaluate.py")] + paths,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
  assert result.returncode == 0, result.stderr
  assert json.loads(result.stdout)["EM"] == "100.000"


def test_the_evaluator_refuses_predictions_it_would_score_zero(tmp_path):
  """A predictions file that was a JSON list scored 0 for everything, exit
  0; so did an n-best file (id -> candidates) and another set's ids."""
  data_file = str(tmp_path / "data.json")
  with io.open(data_file, "w", encoding="utf-8") as f:
    json.dump(_data([("q1", [u"北京"]), ("q2", [u"上海"])]), f)
  cases = [([u"北京"], "is a JSON list, not an object of question id"),
           ({"q1": [{"text": u"北京"}]},
            'the prediction of "q1" is a JSON list, not an answer text'),
           ({"x9": u"北京"}, "holds none of the 2 question ids")]
  for value, message in cases:
    predictions = str(tmp_path / "predictions.json")
    with io.open(predictions, "w", encoding="utf-8") as f:
      json.dump(value, f, ensure_ascii=False)
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "cmrc2018_evaluate.py"),
         data_file, predictions], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, universal_newlines=True)
    assert result.returncode == 1 and not result.stdout, result.stdout
    assert result.stderr.startswith("cmrc2018_evaluate.py: error: ")
    assert message in result.stderr, result.stderr
  # A partial file is scored (the missing ones 0, as the official script)
  # and says how many were missing.
  with io.open(predictions, "w", encoding="utf-8") as f:
    json.dump({"q1": u"北京"}, f, ensure_ascii=False)
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, "cmrc2018_evaluate.py"),
       data_file, predictions], stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, universal_newlines=True)
  assert json.loads(result.stdout)["EM"] == "50.000"
  assert "1 of 2 questions have no prediction" in result.stderr


def _write_squad(path, context, qas):
  with io.open(path, "w", encoding="utf-8") as f:
    json.dump({"data": [{"paragraphs": [{"context": context, "qas": [
        {"id": qid, "question": u"问？", "answers": [
            {"text": text, "answer_start": start}]}
        for qid, text, start in qas]}]}]}, f, ensure_ascii=False)
  return path


def test_answer_start_counted_in_utf16_units_is_moved_to_its_text(tmp_path):
  """CMRC TRIAL_210_*: after a character outside the BMP the file counts
  one more (UTF-16 units). Google's run_squad.py and the CMRC baseline keep
  such answers; we dropped them from training."""
  context = u"\U0001F41F俗名龙尖，体长可达80公分。"
  path = _write_squad(str(tmp_path / "d.json"), context, [
      ("q1", u"龙尖", 4),        # right: 3 in code points
      ("q2", u"80公分", 11),     # right: 10
      ("q3", u"俗名", 1),        # exact
      ("q4", u"鲨鱼", 1)])       # not in the text at all
  result = squad_data.read_questions(path)
  spans = {q.qid: q.span for q in result.questions}
  assert spans == {"q1": (3, 5), "q2": (10, 14), "q3": (1, 3), "q4": None}
  assert result.counts["answers moved to their text near answer_start"] == 2
  assert result.counts["answers whose answer_start does not match"] == 1


def test_two_questions_with_one_id_are_an_error(tmp_path):
  """One was scored against the other's answer, without a warning."""
  path = _write_squad(str(tmp_path / "d.json"), u"北京上海",
                      [("q1", u"北京", 0), ("q1", u"上海", 2)])
  with pytest.raises(script_errors.InputError,
                     match=r"question q1: the id is also the id of .*"
                     r"question q1"):
    squad_data.read_questions(path)


# ----------------------------------------------------------------------------
# The real files.


@pytest.fixture(scope="module")
def tokenizer():
  return tokenization.FullTokenizer(VOCAB_FILE)


@pytest.mark.slow
@pytest.mark.parametrize("path,counts,round_trip", [
    ("cmrc2018/cmrc2018_trial.json",
     {"paragraphs": 256, "questions": 1002, "answers": 1002,
      # TRIAL_210_QUERY_0..4: answer_start counted UTF-16 units after a
      # character outside the BMP, one too many; the references keep them.
      "answers moved to their text near answer_start": 5},
     {squad_data.EXACT: 999, squad_data.OFF_BOUNDARY: 3}),
    ("drcd/DRCD_dev.json",
     {"paragraphs": 1000, "questions": 3524, "answers": 7048},
     {squad_data.EXACT: 3522, squad_data.OFF_BOUNDARY: 2}),
])
def test_real_files_counts_and_span_round_trip(shared_dir, tokenizer, path,
                                               counts, round_trip):
  result = squad_data.read_questions(os.path.join(shared_dir, "data", path))
  assert dict(result.counts) == counts
  kinds = {}
  for index, question in enumerate(result.questions):
    if not question.span:
      continue
    windows = squad_data.question_windows(question, index, tokenizer, 512,
                                          64, 128)
    kind = squad_data.label_round_trip(question, windows)
    kinds[kind] = kinds.get(kind, 0) + 1
    gold = question.context[question.span[0]:question.span[1]]
    if kind == squad_data.EXACT:
      for window in windows:
        if window.start_position:  # every window that holds it
          start, end = squad_data.decode(window)
          assert question.context[start:end] == gold
    elif kind == squad_data.OFF_BOUNDARY:
      start, end = squad_data.decode(
          [w for w in windows if w.start_position][0])
      # A gold answer with an edge space, or a digit inside a number.
      assert (question.context[start:end] == gold.strip() or
              gold in question.context[start:end])
  assert kinds == round_trip


def test_windows_that_cut_the_answer_are_counted(shared_dir, tokenizer):
  result = squad_data.read_questions(os.path.join(
      shared_dir, "data", "cmrc2018", "cmrc2018_trial.json"))
  kinds = {}
  for index, question in enumerate(result.questions[:200]):
    if not question.span:
      continue
    windows = squad_data.question_windows(question, index, tokenizer, 48, 16,
                                          16)
    assert all(len(w.tokens) <= 48 for w in windows)
    kind = squad_data.label_round_trip(question, windows)
    kinds[kind] = kinds.get(kind, 0) + 1
    # Checked from the windows' characters: does any window hold the answer?
    held = any(
        min(s[0] for s in w.char_spans if s) <= question.span[0] and
        question.span[1] <= max(s[1] for s in w.char_spans if s)
        for w in windows)
    assert held == (kind != squad_data.OUTSIDE), question.source
  assert kinds[squad_data.OUTSIDE] > 0 and kinds[squad_data.EXACT] > 0


def test_gold_answers_fed_back_score_100(shared_dir, tmp_path):
  data_file = os.path.join(shared_dir, "data", "cmrc2018",
                           "cmrc2018_trial.json")
  with io.open(data_file, encoding="utf-8") as f:
    data = json.load(f)
  gold = {qid: answers[0] for qid, answers in
          cmrc_metric.questions(data)}
  score = cmrc_metric.evaluate(data, gold)
  assert (score.f1, score.em, score.total, score.skip) == (
      100.0, 100.0, 1002, 0)


def test_best_answer_is_the_exact_original_characters(tokenizer):
  context = u"LERT 模型在 CMRC 2018 上得了 ８８．１ 分。"
  question = squad_data.Question("q", u"得了几分？", context, [u"８８．１"],
                                 (context.index(u"８"), context.index(u"１") +
                                  1), "t")
  (window,) = squad_data.question_windows(question, 0, tokenizer, 64, 16, 16)
  assert squad_data.label_round_trip(question, [window]) == squad_data.EXACT
  starts = np.full(len(window.tokens), -5.0)
  ends = np.full(len(window.tokens), -5.0)
  # "CMRC" is the pieces cm ##rc; the span runs to "2018".
  first = [i for i, span in enumerate(window.char_spans)
           if span and span[0] == context.index("CMRC")][0]
  last = [i for i, span in enumerate(window.char_spans)
          if span and span[1] == context.index("2018") + 4][0]
  starts[first], ends[last] = 5.0, 5.0
  starts[window.start_position] = ends[window.end_position] = 4.0
  nbest = squad_data.best_answers([question], [window], [starts], [ends],
                                  n_best_size=5, max_answer_length=30)
  texts = [c.text for c in nbest["q"]]
  assert texts[0] == u"CMRC 2018"      # the space and the case survive
  assert u"８８．１" in texts           # full-width digits too
  probs = squad_data.probabilities(nbest["q"])
  assert probs.sum() == pytest.approx(1.0) and probs[0] == probs.max()


def test_bad_files_are_errors_naming_them(tmp_path):
  bad = str(tmp_path / "bad.json")
  with open(bad, "w") as f:
    f.write('{"data": [')
  with pytest.raises(script_errors.InputError,
                     match="bad.json is not valid JSON"):
    squad_data.read_questions(bad)
  with open(bad, "w") as f:
    f.write('{"data": [{"paragraphs": [{"qas": []}]}]}')
  with pytest.raises(script_errors.InputError,
                     match=r"bad.json is not SQuAD v1-style JSON \(KeyError "
                     r"'context'\)"):
    squad_data.read_questions(bad)


# ----------------------------------------------------------------------------
# run_squad.py end to end.


def sample_squad():
  """SQuAD v1 JSON written from the project's sample corpus: each paragraph
  a context, each of its first two sentences' words (from the hand
  annotation) the answer to a question; one context starts with a
  character outside the BMP, whose answers' answer_start counts UTF-16
  units (as CMRC's TRIAL_210_* do)."""
  paragraphs = []
  with io.open(os.path.join(REPO, "data", "sample", "tagged.jsonl"),
               encoding="utf-8") as f:
    for number, line in enumerate(f):
      sentences = json.loads(line)["sentences"][:3]
      astral = number == 1
      context = (u"\U0001F4D6" if astral else u"") + u"".join(
          s["text"] for s in sentences)
      qas = []
      for k, sentence in enumerate(sentences[:2]):
        answer = max(sentence["words"], key=len)
        start = context.index(answer)
        qas.append({"id": "S%d_%d" % (number, k),
                    "question": sentence["text"].replace(answer, u"什么"),
                    "answers": [{"text": answer,
                                 "answer_start": start + int(astral)}]})
      paragraphs.append({"context": context, "qas": qas})
  return {"version": "v1.0", "data": [{"title": u"样例",
                                       "paragraphs": paragraphs[:12]}]}


@pytest.mark.slow
@pytest.mark.parametrize("source", ["sample", "cmrc2018_trial"])
def test_run_squad_trains_predicts_scores_and_caches(request, source,
                                                     tmp_path):
  """On SQuAD JSON the project writes from its sample (always; with a BOM
  and UTF-16 answer_starts), and on four CMRC 2018 trial articles where
  ../shared is there."""
  if source == "sample":
    small = sample_squad()
    # A question without answers, and one whose answer is not in its
    # context: counted, printed, recorded; not trained on (run_squad.py
    # went on with only an INFO line).
    small["data"][0]["paragraphs"].append({"context": u"天气很好。", "qas": [
        {"id": "X0", "question": u"天气？", "answers": []},
        {"id": "X1", "question": u"天气？",
         "answers": [{"text": u"下雨", "answer_start": 0}]}]})
  else:
    shared_dir = request.getfixturevalue("shared_dir")
    with io.open(os.path.join(shared_dir, "data", "cmrc2018",
                              "cmrc2018_trial.json"), encoding="utf-8") as f:
      small = {"version": "v1.0", "data": json.load(f)["data"][:4]}
  data_file = str(tmp_path / "small.json")
  with io.open(data_file, "w", encoding="utf-8-sig" if source == "sample"
               else "utf-8") as f:
    json.dump(small, f, ensure_ascii=False)
  config_file = write_config(str(tmp_path / "config.json"), tiny_config(
      21128, max_position_embeddings=128))
  output_dir = str(tmp_path / "out")
  common = ["--bert_config_file=" + config_file, "--vocab_file=" + VOCAB_FILE,
            "--output_dir=" + output_dir, "--eval_file=" + data_file,
            "--max_seq_length=96", "--doc_stride=48", "--max_query_length=24"]
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, "run_squad.py"), "--do_train",
       "--do_eval", "--train_file=" + data_file, "--train_batch_size=8",
       "--num_train_epochs=1", "--learning_rate=1e-4",
       "--train_from_scratch"] + common,
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "training answers:" in result.stderr
  if source == "sample":  # both answers of the astral context were moved
    assert "2 answers moved to their text near answer_start" in result.stderr
  with io.open(os.path.join(output_dir, "predictions.json"),
               encoding="utf-8") as f:
    predictions = json.load(f)
  with io.open(os.path.join(output_dir, "nbest_predictions.json"),
               encoding="utf-8") as f:
    nbest = json.load(f)
  contexts = {qa["id"]: p["context"] for a in small["data"]
              for p in a["paragraphs"] for qa in p["qas"]}
  assert sorted(predictions) == sorted(contexts)
  for qid, text in predictions.items():
    assert text in contexts[qid]
    assert nbest[qid][0]["text"] == text
    assert sum(c["probability"] for c in nbest[qid]) == pytest.approx(1.0)
  values = dict(line.split(" = ", 1) for line in io.open(
      os.path.join(output_dir, "eval_results.txt"), encoding="utf-8")
                .read().splitlines())
  score = cmrc_metric.evaluate(small, predictions)
  assert float(values["F1"]) == pytest.approx(score.f1)
  assert float(values["EM"]) == pytest.approx(score.em)
  assert values["TOTAL"] == str(len(contexts)) and values["SKIP"] == "0"
  assert values["init_checkpoint"] == "none (--train_from_scratch)"
  if source == "sample":
    skipped = ("1 answers whose answer_start does not match, 2 questions "
               "with no usable answer (eval only)")
    assert "(train): %s; not trained on." % skipped in result.stdout
    assert "(eval): %s." % skipped in result.stdout
    assert values["questions with no usable answer (eval only)"] == "2"
    assert json.loads(values["train"])[
        "answers whose answer_start does not match"] == 1
  # A second run reads the cached features instead of tokenizing again.
  again = subprocess.run(
      [sys.executable, os.path.join(REPO, "run_squad.py"), "--do_eval"] +
      common, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      universal_newlines=True)
  assert again.returncode == 0, again.stderr[-3000:]
  assert "cached windows" in again.stderr
  with io.open(os.path.join(output_dir, "predictions.json"),
               encoding="utf-8") as f:
    assert json.load(f) == predictions


def test_a_train_file_without_a_usable_answer_is_named(tmp_path):
  """When no answer lies in its context, the error named the internal
  train-*.tf_record of --output_dir instead of the input."""
  train = tmp_path / "train.json"
  train.write_text(json.dumps({"version": "v1", "data": [{"paragraphs": [{
      "context": u"北京是首都。", "qas": [{
          "id": "q1", "question": u"首都？",
          "answers": [{"text": u"上海", "answer_start": 0}]}]}]}]}),
                   encoding="utf-8")
  out = tmp_path / "out"
  result = run_script(
      "run_squad.py", "--bert_config_file=" + os.path.join(
          REPO, "configs", "lert_config_tiny.json"),
      "--vocab_file=" + os.path.join(REPO, "configs", "vocab.txt"),
      "--train_file=%s" % train, "--do_train", "--train_from_scratch",
      "--output_dir=%s" % out, "--max_seq_length=64", "--max_query_length=16")
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      "run_squad.py: error: %s: no question of it can be used for "
      "training (a training question needs its answer in its context)."
      % train)
