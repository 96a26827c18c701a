# coding=utf-8
"""Linguistic masking (LMLM, paper §5.3, Table 9; docs/spec.md §8)."""

import collections
import hashlib
import io
import json
import os
import pytest
from conftest import REPO
from conftest import run_script
from conftest import tiny_config

import numpy as np
import tensorflow.compat.v1 as tf

from lert.model import prediction_format
from lert.pretraining_data import instances
from lert.pretraining_data import masking
from lert.pretraining_data import records
from lert.tagging import linguistic_tags
import modeling
import tokenization

VOCAB = os.path.join(REPO, "configs", "vocab.txt")
MASK_ID = 103

# A hand-worked document: every character is unique, so a masked token's
# label names its word. 来了 has no DEP label (null).
DOCUMENT = {"sentences": [
    {"text": u"北京是首都。", "words": [u"北京", u"是", u"首都", u"。"],
     "pos": ["ns", "v", "n", "wp"], "ner": ["S-Ns", "O", "O", "O"],
     "dep_head": [2, 0, 2, 2], "dep_label": ["SBV", "HED", "VOB", "WP"]},
    {"text": u"他来了", "words": [u"他", u"来了"], "pos": ["r", "v"],
     "ner": ["O", "O"], "dep_head": [2, 0], "dep_label": ["SBV", None]}]}
# The vocabulary ids of each word's tag masks, worked out by hand from the
# table of docs/spec.md §8: POS tag i is [unused(i+1)], NER tag i
# [unused(29+i)], DEP label i [unused(42+i)]; [unusedN] has id N.
# POS ns=9 v=1 n=0 wp=2 r=8; NER S-Ns=1 O=0; DEP SBV=4 HED=7 VOB=3 WP=1.
HAND_IDS = {  # character -> (POS mask id, NER mask id, DEP mask id)
    u"北": (10, 30, 46), u"京": (10, 30, 46), u"是": (2, 29, 49),
    u"首": (1, 29, 45), u"都": (1, 29, 45), u"。": (3, 29, 43),
    u"他": (9, 29, 46), u"来": (2, 29, None), u"了": (2, 29, None)}


@pytest.fixture(scope="module")
def vocab():
  return tokenization.load_vocab(VOCAB)


def test_the_tag_tokens_are_the_unused_slots_no_text_produces(vocab):
  table = linguistic_tags.mask_tag_tokens()
  assert len(table) == 55 == linguistic_tags.NUM_MASK_TAG_TOKENS
  assert table[0] == ("[MASK-POS-n]", "[unused1]")
  assert table[27] == ("[MASK-POS-%]", "[unused28]")
  assert table[28] == ("[MASK-NER-O]", "[unused29]")
  assert table[41] == ("[MASK-DEP-ATT]", "[unused42]")
  assert table[54] == ("[MASK-DEP-IOB]", "[unused55]")
  ids = [vocab[slot] for _, slot in table]
  assert ids == list(range(1, 56))
  assert len(set(name for name, _ in table)) == 55
  # No text tokenizes to a slot: not the vocabulary's own entries, not the
  # slot names or the readable names written out, not the sample corpus.
  tokenizer = tokenization.FullTokenizer(VOCAB)
  texts = [token for token in vocab if not token.startswith("[unused")]
  texts += [slot for _, slot in table] + [name for name, _ in table]
  with io.open(os.path.join(REPO, "data", "sample", "corpus.txt"),
               encoding="utf-8") as f:
    texts += f.read().splitlines()
  produced = set()
  for start in range(0, len(texts), 500):
    produced.update(tokenizer.convert_tokens_to_ids(
        tokenizer.tokenize(u" ".join(texts[start:start + 500]))))
  assert not produced & set(ids)
  # Nor does the random 10% case.
  maker = instances.InstanceMaker(**maker_kwargs("pos"))
  assert not set(maker.tokenizer.convert_tokens_to_ids(
      maker.vocab_words)) & set(ids)


def test_the_tag_masker_on_hand_worked_tags(vocab):
  tags = (9, 1, 0)  # ns, S-Ns, ATT
  expected = {"pos": "[MASK-POS-ns]", "ner": "[MASK-NER-S-Ns]",
              "dep": "[MASK-DEP-ATT]",
              "all": "[MASK-POS-ns+NER-S-Ns+DEP-ATT]"}
  for mode, token in expected.items():
    assert masking.TagMasker(mode)(tags) == token
  assert masking.mask_tag_slots(expected["all"]) == [
      "[unused10]", "[unused30]", "[unused42]"]
  # A missing tag: plain [MASK]; "all" keeps the tags it has.
  assert masking.TagMasker("dep")((9, 1, None)) == "[MASK]"
  assert masking.TagMasker("all")((9, None, None)) == "[MASK-POS-ns]"
  assert masking.TagMasker("all")((None, None, None)) == "[MASK]"
  inverse = linguistic_tags.readable_inverse_vocab(vocab)
  assert inverse[10] == "[MASK-POS-ns]" and inverse[103] == "[MASK]"
  assert linguistic_tags.joined_mask_token(
      [inverse[10], inverse[30]]) == "[MASK-POS-ns+NER-S-Ns]"


def maker_kwargs(mode, **overrides):
  values = dict(vocab_file=VOCAB, do_lower_case=True, max_seq_length=16,
                max_predictions_per_seq=6, masked_lm_prob=0.3,
                short_seq_prob=0.0, max_ngram=2, dupe_factor=60,
                random_seed=5, linguistic_masking=mode)
  values.update(overrides)
  return values


def parsed_records(mode, documents=(DOCUMENT,), **overrides):
  maker = instances.InstanceMaker(**maker_kwargs(mode, **overrides))
  result = []
  for number, document in enumerate(documents, 1):
    made = maker(("doc%d.jsonl:1" % number,
                  json.dumps(document, ensure_ascii=False)))
    result.append([tf.train.Example.FromString(r).features.feature
                   for r in made.records])
  return result


def values(feature):
  kind = feature.WhichOneof("kind")
  return list(getattr(feature, kind).value)


@pytest.mark.parametrize("mode", ["pos", "ner", "dep", "all", "mix"])
def test_each_mode_changes_only_the_mask_tokens_to_the_hand_worked_ids(
    mode, vocab):
  inverse = {index: token for token, index in vocab.items()}
  plain = parsed_records("none")[0]
  tagged = parsed_records(mode)[0]
  assert len(plain) == len(tagged) > 50
  column = {"pos": 0, "ner": 1, "dep": 2}
  seen = collections.Counter()
  for before, after in zip(plain, tagged):
    # Same positions, labels and 80/10/10 outcome: only the input ids of
    # the [MASK] case differ.
    names = set(before) | set(after)
    assert set(after) - set(before) == (
        {records.MASK_TAG_FEATURE} if mode == "all" else set())
    for name in names - {"input_ids", records.MASK_TAG_FEATURE}:
      assert values(before[name]) == values(after[name]), name
    ids_before, ids_after = values(before["input_ids"]), values(
        after["input_ids"])
    positions = values(before["masked_lm_positions"])
    labels = values(before["masked_lm_ids"])
    weights = values(before["masked_lm_weights"])
    added = (values(after[records.MASK_TAG_FEATURE]) if mode == "all"
             else None)
    for i, (a, b) in enumerate(zip(ids_before, ids_after)):
      if a != MASK_ID:
        assert b == a
        if added:
          assert added[2 * i:2 * i + 2] == [0, 0]
        continue
      j = positions.index(i)
      assert weights[j] == 1.0
      hand = HAND_IDS[inverse[labels[j]]]
      if mode == "all":
        present = [t for t in hand if t is not None]
        assert b == present[0]
        assert added[2 * i:2 * i + 2] == (present[1:] + [0, 0])[:2]
      elif mode == "mix":
        assert b in hand or (b == MASK_ID and None in hand)
        seen["plain" if b == MASK_ID else hand.index(b)] += 1
      else:
        expected = hand[column[mode]]
        assert b == (MASK_ID if expected is None else expected)
      seen["masked"] += 1
  assert seen["masked"] > 50
  if mode == "mix":  # each task drawn about a third of the time
    for task in range(3):
      assert 0.2 < seen[task] / float(seen["masked"]) < 0.5, seen


def serialized(made):
  return [[values(f["input_ids"]) for f in r] for r in made]


def test_mix_is_deterministic_per_seed_and_document():
  other = {"sentences": [dict(DOCUMENT["sentences"][0])]}
  first = parsed_records("mix", (DOCUMENT, other))
  again = parsed_records("mix", (DOCUMENT, other))
  alone = parsed_records("mix", (DOCUMENT,))
  reseeded = parsed_records("mix", (DOCUMENT,), random_seed=6)
  assert serialized(first) == serialized(again)
  # A document's draws do not depend on the others.
  assert serialized(first)[:1] == serialized(alone)
  assert serialized(reseeded) != serialized(alone)


def test_none_is_byte_identical_to_the_records_before_lmlm(tmp_path):
  """The SHA-256 of records made from data/sample by the code before
  --linguistic_masking existed (commit 6f224e5)."""
  output = str(tmp_path / "none.tfrecord")
  result = run_script(
      "create_pretraining_data.py",
      "--input_file=" + os.path.join(REPO, "data", "sample", "tagged.jsonl"),
      "--output_file=" + output, "--max_seq_length=128",
      "--max_predictions_per_seq=20", "--dupe_factor=3", "--random_seed=7",
      "--linguistic_masking=none")
  assert result.returncode == 0, result.stderr[-2000:]
  with open(output, "rb") as f:
    assert hashlib.sha256(f.read()).hexdigest() == (
        "6037e12b14babc0d7e8c8271bf0601096b64e1c98113bb71bfbcbee46c301345")
  assert "tag masks" not in result.stdout


def test_the_script_counts_the_tag_tokens_and_refuses_a_vocab_without_slots(
    tmp_path):
  corpus = tmp_path / "doc.jsonl"
  corpus.write_text(json.dumps(DOCUMENT, ensure_ascii=False) + "\n",
                    encoding="utf-8")
  command = ["create_pretraining_data.py",
             "--input_file=%s" % corpus, "--max_seq_length=16",
             "--max_predictions_per_seq=6", "--dupe_factor=10",
             "--linguistic_masking=dep"]
  result = run_script(*(command + ["--output_file=%s" % (tmp_path / "a")]))
  assert result.returncode == 0, result.stderr[-2000:]
  line = [text for text in result.stdout.splitlines()
          if "tag masks" in text][0]
  counts = dict(part.rsplit(" ", 1) for part in
                line.split("; tag masks ")[1].split(", "))
  plain = int(line.split("[MASK] ")[1].split(";")[0])
  assert counts["POS"] == counts["NER"] == "0" and int(counts["DEP"]) > 0
  assert plain > 0  # 来了 has no DEP label
  vocab = tmp_path / "vocab.txt"
  with io.open(VOCAB, encoding="utf-8") as f:
    entries = [e for e in f.read().splitlines() if e != "[unused40]"]
  vocab.write_text("\n".join(entries) + "\n", encoding="utf-8")
  result = run_script(*(command + ["--output_file=%s" % (tmp_path / "b"),
                                   "--vocab_file=%s" % vocab]))
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      "create_pretraining_data.py: error: %s has no [unused40]: "
      "--linguistic_masking puts its 55 tag mask tokens in the vocabulary's "
      "[unused1]..[unused55] (the Chinese BERT vocabulary has 99)." % vocab)
  assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("fast", ["--fast_tokenizer", "--nofast_tokenizer"])
def test_a_vocabulary_without_bert_special_tokens_is_one_line(tmp_path, fast):
  """A vocabulary without [UNK] (a JSON file given by mistake, another
  model's) was a traceback from the Rust WordPiece ("Missing [UNK] token")
  with the fast tokenizer."""
  vocab = tmp_path / "vocab.txt"
  vocab.write_text(u'{"vocab_size": 10}\n[CLS]\n', encoding="utf-8")
  corpus = tmp_path / "doc.jsonl"
  corpus.write_text(json.dumps(DOCUMENT, ensure_ascii=False) + "\n",
                    encoding="utf-8")
  result = run_script("create_pretraining_data.py", "--input_file=%s" % corpus,
                      "--output_file=%s" % (tmp_path / "out.tfrecord"),
                      "--vocab_file=%s" % vocab, fast)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      "create_pretraining_data.py: error: %s has no [PAD], [UNK], [SEP], "
      "[MASK]: a BERT vocabulary holds [PAD], [UNK], [CLS], [SEP], [MASK] "
      "(configs/vocab.txt is Chinese BERT's)." % vocab)
  assert not (tmp_path / "out.tfrecord").exists()


def test_all_sums_the_tag_embeddings_at_the_position():
  """Input id a with added ids (b, c) embeds as a single token whose word
  embedding is E[a] + E[b] + E[c]; an added 0 adds nothing."""
  config = tiny_config(vocab_size=30)
  ids = np.array([[5, 7, 9, 11]], dtype=np.int32)
  added = np.zeros([1, 4, 2], dtype=np.int32)
  added[0, 1] = [3, 4]   # position 1: E[7] + E[3] + E[4]
  added[0, 2] = [6, 0]   # position 2: E[9] + E[6]
  with tf.Graph().as_default():
    summed = modeling.BertModel(config, False, tf.constant(ids),
                                added_token_ids=tf.constant(added),
                                scope="bert")
    with tf.variable_scope("", reuse=True):
      plain = modeling.BertModel(config, False,
                                 tf.constant([[5, 28, 29, 11]]), scope="bert")
    table = summed.get_embedding_table()
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      e = sess.run(table)
      # Rows 28 and 29 stand for the sums.
      e[28] = e[7] + e[3] + e[4]
      e[29] = e[9] + e[6]
      sess.run(table.assign(e))
      a, b = sess.run([summed.get_sequence_output(),
                       plain.get_sequence_output()])
  np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_predictions_name_the_tag_masks(vocab):
  inverse = linguistic_tags.readable_inverse_vocab(vocab)
  prediction = {
      "masked_lm_weights": np.array([1.0, 1.0, 0.0]),
      "masked_lm_positions": np.array([3, 5, 0]),
      "mlm_top_ids": np.array([[10, 11], [30, 2], [0, 0]]),
      "mlm_top_probs": np.array([[0.6, 0.4], [0.7, 0.3], [0, 0]]),
      "masked_input_ids": np.array([10, 103, 0]),
      "masked_mask_tag_ids": np.array([[30, 42], [0, 0], [0, 0]])}
  items = prediction_format.masked_position_predictions(prediction, [], inverse)
  assert [item["input_token"] for item in items] == [
      "[MASK-POS-ns+NER-S-Ns+DEP-ATT]", "[MASK]"]
  assert items[0]["mlm_tokens"] == ["[MASK-POS-ns]", "[MASK-POS-c]"]


def _without(document, *keys):
  """The document with every tag of `keys` null (a corpus that lacks
  them)."""
  document = json.loads(json.dumps(document))
  for sentence in document["sentences"]:
    for key in keys:
      sentence[key] = [None] * len(sentence["words"])
  return document


def _write_corpus(path, documents):
  path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n"
                          for d in documents), encoding="utf-8")
  return path


@pytest.mark.parametrize("mode,lacks,named", [
    ("pos", ("pos",), "POS"),
    ("dep", ("dep_label",), "DEP"),  # People's Daily has no DEP
    ("ner", ("ner",), "NER"),
    # A POS-only corpus: two thirds of Mix, and All, would not be theirs.
    ("mix", ("ner", "dep_label"), "NER/DEP"),
    ("all", ("ner", "dep_label"), "NER/DEP")])
def test_a_mode_whose_tags_the_corpus_lacks_is_one_line_before_any_record(
    tmp_path, mode, lacks, named):
  corpus = _write_corpus(tmp_path / "c.jsonl",
                         [_without(DOCUMENT, *lacks)] * 3)
  output = tmp_path / "out.tfrecord"
  result = run_script(
      "create_pretraining_data.py", "--input_file=%s" % corpus,
      "--output_file=%s" % output, "--max_seq_length=16",
      "--max_predictions_per_seq=6", "--dupe_factor=2",
      "--linguistic_masking=" + mode)
  assert result.returncode == 1, result.stdout[-2000:]
  lines = result.stderr.strip().splitlines()
  assert lines[-1].startswith(
      "create_pretraining_data.py: error: %s: no document carries %s tags, "
      "which --linguistic_masking=%s writes" % (corpus, named, mode))
  assert "Traceback" not in result.stderr
  # Found before the work: no progress line, no file.
  assert "documents," not in result.stderr and not output.exists()
  assert os.listdir(str(tmp_path)) == ["c.jsonl"]


def test_documents_lacking_the_modes_tag_are_counted_and_refused_above_a_share(
    tmp_path):
  """Two of three documents carry NER: --linguistic_masking=ner counts the
  third in the summary and refuses the records above
  --max_untagged_share (default 1%), keeping none of them."""
  corpus = _write_corpus(tmp_path / "c.jsonl", [
      DOCUMENT, DOCUMENT, _without(DOCUMENT, "ner")])
  command = ["create_pretraining_data.py", "--input_file=%s" % corpus,
             "--max_seq_length=16", "--max_predictions_per_seq=6",
             "--dupe_factor=2", "--linguistic_masking=ner"]
  refused = tmp_path / "refused.tfrecord"
  result = run_script(*(command + ["--output_file=%s" % refused]))
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      "create_pretraining_data.py: error: %s: 1 of 3 documents (33.3%%) "
      "carry no NER tag, more than --max_untagged_share=0.01 allows for "
      "--linguistic_masking=ner: their masked tokens would get [MASK]. Tag "
      "those documents, or raise --max_untagged_share." % corpus)
  assert [n for n in os.listdir(str(tmp_path)) if n != "c.jsonl"] == []
  kept = tmp_path / "kept.tfrecord"
  result = run_script(*(command + ["--output_file=%s" % kept,
                                   "--max_untagged_share=0.4"]))
  assert result.returncode == 0, result.stderr[-2000:]
  assert ("Documents without tags: POS 0 (0.00%), NER 1 (33.33%), "
          "DEP 0 (0.00%)") in result.stdout.splitlines()
  assert kept.exists()
  # Without masking nothing is refused, and the count is still shown.
  plain = tmp_path / "plain.tfrecord"
  result = run_script(*(command[:-1] + ["--output_file=%s" % plain]))
  assert result.returncode == 0, result.stderr[-2000:]
  assert "Documents without tags: POS 0 (0.00%), NER 1 (33.33%)" in (
      result.stdout)
