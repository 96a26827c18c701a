# coding=utf-8
"""The shipped sample corpus and its hand annotation."""

import io
import json
import os

import pytest
import tensorflow.compat.v1 as tf

from lert.pretraining_data import writer

from conftest import REPO

from data.sample import make_sample

SAMPLE = os.path.join(REPO, "data", "sample")


def test_generated_files_are_up_to_date_with_the_annotation():
  documents = make_sample.parse_annotation(
      os.path.join(SAMPLE, "annotation.txt"))
  corpus, tagged = make_sample.render(documents)
  assert io.open(os.path.join(SAMPLE, "corpus.txt"),
                 encoding="utf-8").read() == corpus
  assert io.open(os.path.join(SAMPLE, "tagged.jsonl"),
                 encoding="utf-8").read() == tagged
  sentences = [s for d in documents for p in d for s in p]
  assert len(documents) == 32 and len(sentences) == 201
  # Every DEP label and entity type occurs somewhere.
  labels = {label for s in sentences for label in s["dep_label"]}
  assert {"SBV", "VOB", "ATT", "ADV", "HED", "WP", "RAD", "POB", "COO",
          "LAD", "CMP", "DBL", "IOB", "FOB"} <= labels
  entities = {t[2:] for s in sentences for t in s["ner"] if t != "O"}
  assert entities == {"Nh", "Ni", "Ns"}


@pytest.mark.parametrize("line,message", [
    (u"我/r/2/SBV 来/v/0/HED 了/u/2/XYZ", "unknown dep tag 'XYZ'"),
    (u"我/r/2/SBV 来/v/1/HED", "needs exactly one root"),
    (u"我/r/3/SBV 来/v/0/HED 了/u/1/RAD 吧/u/3/RAD",
     "a cycle through"),
    (u"王/nh/2/ATT/B-Nh 来/v/0/HED", u"entity before '来' is not closed"),
    (u"来/v/0/HED 王/nh/1/VOB/B-Nh", "the last entity is not closed"),
    (u"来/v/0/HED 王/nh/1/VOB/E-Nh", "does not continue an entity"),
    (u"来/v/0/HED 。/wp/1/VOB", "must be wp/WP"),
])
def test_annotation_checks(line, message):
  with pytest.raises(make_sample.AnnotationError, match=message):
    make_sample.parse_sentence(line, "x")


def test_sample_makes_pretraining_records(tmp_path):
  out = str(tmp_path / "sample.tfrecord")
  summary = writer.write_pretraining_data(
      [os.path.join(SAMPLE, "tagged.jsonl")], [out],
      dict(vocab_file=os.path.join(REPO, "configs", "vocab.txt"),
           do_lower_case=True, max_seq_length=128, max_predictions_per_seq=20,
           masked_lm_prob=0.15, short_seq_prob=0.1, max_ngram=4,
           dupe_factor=2, random_seed=1), log=lambda m: None)
  assert summary.documents == 32
  # Counted from the file, not the writer's own counter: every instance is
  # there, each with at least one masked position.
  weights = [tf.train.Example.FromString(r).features.feature[
      "masked_lm_weights"].float_list.value
             for r in tf.io.tf_record_iterator(out)]
  assert len(weights) == summary.instances
  assert all(sum(w) >= 1 for w in weights)
  assert summary.missing["dep"] == 0  # the hand annotation has every label
  with io.open(os.path.join(SAMPLE, "tagged.jsonl"), encoding="utf-8") as f:
    first = json.loads(f.readline())
  assert first["source"] == "data/sample/corpus.txt:1"


@pytest.mark.parametrize("name", ["vocab.txt", "lert_config_small.json",
                                  "lert_config_base.json",
                                  "lert_config_large.json"])
def test_shipped_configs_match_the_released_files(shared_dir, name):
  with open(os.path.join(shared_dir, "vocab", name), "rb") as f:
    released = f.read()
  with open(os.path.join(REPO, "configs", name), "rb") as f:
    assert f.read() == released
