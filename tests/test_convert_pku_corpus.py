# coding=utf-8
"""convert_pku_corpus.py: the PKU (People's Daily 1998) annotation -> tagged
JSON Lines, on hand-worked lines and on the real corpus."""

import gzip
import io
import json
import os
import pytest
import convert_pku_corpus as pku
from conftest import REPO
from conftest import run_script

from lert.contract import script_errors
from lert.pretraining_data import tagged_documents

SCRIPT = os.path.join(REPO, "convert_pku_corpus.py")


def sentences_of(line, where="f.txt:1"):
  return pku.tagged_sentences(pku.parse_paragraph(line, where))


def test_a_hand_worked_paragraph():
  line = (u"19980101-01-001-006/m  在/p  １９９８年/t  [中央/n  人民/n  "
          u"广播/vn  电台/n]nt  、/w  江/nr  泽民/nr  到/v  "
          u"北京/ns  。/w  他/r  笑/v  了/y  。/w  ")
  first, second = sentences_of(line)
  assert first["words"] == [u"在", u"１９９８年", u"中央", u"人民", u"广播",
                            u"电台", u"、", u"江", u"泽民", u"到", u"北京",
                            u"。"]
  assert first["text"] == u"在１９９８年中央人民广播电台、江泽民到北京。"
  assert first["pos"] == ["p", "nt", "n", "n", "v", "n", "wp", "nh", "nh",
                          "v", "ns", "wp"]
  assert first["ner"] == ["O", "O", "B-Ni", "I-Ni", "I-Ni", "E-Ni", "O",
                          "B-Nh", "E-Nh", "O", "S-Ns", "O"]
  assert first["dep_head"] == first["dep_label"] == [None] * 12
  assert second == {"text": u"他笑了。", "words": [u"他", u"笑", u"了", u"。"],
                    "pos": ["r", "v", "u", "wp"], "ner": ["O"] * 4,
                    "dep_head": [None] * 4, "dep_label": [None] * 4}


def test_nested_brackets_and_compounds_that_are_no_entity():
  # The outer ]nt wins over the inner ]nt; an outer ]nz is no entity, so
  # the inner ]ns stays; a bracketed ]ns inside nothing is a place.
  (sentence,) = sentences_of(
      u"19980101-01-001-007/m  [[中国/ns  共产党/n]nt  中央/n]nt  和/c  "
      u"[[香港/ns  特别/a  行政区/n]ns  政府/n]nz  在/p  [人民/n  大会堂/n]ns")
  assert sentence["ner"] == ["B-Ni", "I-Ni", "E-Ni", "O", "B-Ns", "I-Ns",
                             "E-Ns", "O", "O", "B-Ns", "E-Ns"]
  assert sentence["pos"] == ["ns", "n", "n", "c", "ns", "a", "n", "n", "p",
                             "n", "n"]
  # A word tagged nt alone is an organisation; single, double and triple
  # spaces all separate tokens.
  (sentence,) = sentences_of(u"19980101-01-001-008/m 新华社/nt   记者/n  兰/nr "
                             u"红光/nr  摄/Vg")
  assert sentence["words"] == [u"新华社", u"记者", u"兰", u"红光", u"摄"]
  assert sentence["ner"] == ["S-Ni", "O", "B-Nh", "E-Nh", "O"]
  assert sentence["pos"] == ["ni", "n", "nh", "nh", "v"]


def test_every_pku_tag_maps_to_an_ltp_tag():
  from lert.tagging import linguistic_tags
  for pku_tag, ltp_tag in pku.PKU_TO_LTP.items():
    assert linguistic_tags.tag_to_id("pos", ltp_tag) is not None, pku_tag


@pytest.mark.parametrize("line,message", [
    (u"迈向/v  充满/v", u"f.txt:1: expected the paragraph id "
     u"(19980101-01-001-001/m) first, got '迈向/v'."),
    (u"19980101-01-001-001/m  迈向/qq", u"f.txt:1: unknown PKU tag 'qq' "
     u"(word '迈向'); the known ones are in convert_pku_corpus.PKU_TO_LTP."),
    (u"19980101-01-001-001/m  [中国/ns  政府/n", u"f.txt:1: a compound opened "
     u"at '中国' is not closed."),
    (u"19980101-01-001-001/m  中国/ns  政府/n]nt", u"f.txt:1: '政府/n]nt' "
     u"closes a compound that was not opened."),
    (u"19980101-01-001-001/m  中国", u"f.txt:1: '中国' is not word/tag (or "
     u"[word/tag, word/tag]tag)."),
])
def test_bad_lines_are_one_error_naming_the_line(line, message):
  with pytest.raises(script_errors.InputError) as e:
    pku.parse_paragraph(line, "f.txt:1")
  assert str(e.value) == message


def test_the_script_writes_an_article_per_line_that_the_pipeline_reads(
    tmp_path):
  corpus = tmp_path / "pd.txt.gz"
  with gzip.open(str(corpus), "wt", encoding="utf-8") as f:
    f.write(u"19980101-01-001-001/m  迈向/v  新/a  世纪/n  。/w  \n"
            u"19980101-01-001-002/m  江/nr  泽民/nr  讲话/n  \n\n"
            u"19980101-01-002-001/m  北京/ns  下雪/v  。/w  \n")
  output = tmp_path / "tagged.jsonl"
  result = run_script(SCRIPT, "--input_file=%s" % corpus,
                      "--output_file=%s" % output)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "Articles: 2, paragraphs: 3, sentences: 3, words: 10" in result.stdout
  assert "Entities: Nh 1, Ns 1, Ni 0" in result.stdout
  with io.open(str(output), encoding="utf-8") as f:
    documents = [json.loads(line) for line in f]
  assert [len(d["sentences"]) for d in documents] == [2, 1]
  assert documents[0]["source"] == "%s:1" % corpus
  assert documents[1]["source"] == "%s:4" % corpus
  for number, line in enumerate(io.open(str(output), encoding="utf-8"), 1):
    parsed = tagged_documents.parse_document(line, "t:%d" % number)
    assert parsed.sentences[0][2]["dep"] == [None] * len(
        parsed.sentences[0][1])
  # A bad line stops it with one line, and nothing is written.
  bad = tmp_path / "bad.txt"
  bad.write_text(u"19980101-01-001-001/m  迈向/v\n\n一/m\n", encoding="utf-8")
  result = run_script(SCRIPT, "--input_file=%s" % bad,
                      "--output_file=%s" % (tmp_path / "b.jsonl"))
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      u"convert_pku_corpus.py: error: %s:3: expected the paragraph id "
      u"(19980101-01-001-001/m) first, got '一/m'." % bad)
  assert not (tmp_path / "b.jsonl").exists()


def test_held_out_articles_and_a_shuffled_order(tmp_path):
  """--held_out_file sets round(share * n) articles aside, in corpus
  order; --shuffle_articles writes the others in a seeded order; together
  they are the corpus's articles, each once."""
  corpus = tmp_path / "pd.txt"
  corpus.write_text(u"".join(
      u"1998010%d-01-%03d-001/m  北京/ns  下雪/v  。/w\n" % (1 + i % 9, i)
      for i in range(40)), encoding="utf-8")

  def convert(name, *flags):
    result = run_script(SCRIPT, "--input_file=%s" % corpus,
                        "--output_file=%s" % (tmp_path / name), *flags)
    assert result.returncode == 0, result.stderr[-2000:]
    with io.open(str(tmp_path / name), encoding="utf-8") as f:
      return [json.loads(line)["source"] for line in f]

  whole = convert("whole.jsonl")
  kept = convert("kept.jsonl", "--held_out_file=%s" % (tmp_path / "h.jsonl"),
                 "--held_out_share=0.1", "--shuffle_articles")
  with io.open(str(tmp_path / "h.jsonl"), encoding="utf-8") as f:
    held = [json.loads(line)["source"] for line in f]
  assert len(held) == 4 and len(kept) == 36
  assert sorted(held + kept) == sorted(whole)
  assert held == [s for s in whole if s in held]  # corpus order
  assert kept != [s for s in whole if s in kept]  # shuffled
  assert convert("again.jsonl", "--held_out_file=%s" % (
      tmp_path / "h2.jsonl"), "--held_out_share=0.1",
                 "--shuffle_articles") == kept
  assert convert("other.jsonl", "--shuffle_articles",
                 "--random_seed=7") != convert("one.jsonl",
                                               "--shuffle_articles")


def test_the_real_people_s_daily_corpus(shared_dir, tmp_path):
  path = os.path.join(shared_dir, "data", "pd1998", "199801.txt.gz")
  lines = []
  counts, tags = pku.convert([path], lines.append)
  # The counts ../shared/README.md gives for this file.
  assert counts.articles == 3148
  assert counts.paragraphs == 19484
  assert counts.words == 1121447
  assert len(tags) == 44
  assert len(lines) == 3148
  # Every line is read by the pipeline, and the first article's words are
  # those of the file.
  first = json.loads(lines[0])
  assert first["sentences"][0]["words"][:3] == [u"迈向", u"充满", u"希望"]
  for number, line in enumerate(lines[:200], 1):
    tagged_documents.parse_document(line, "t:%d" % number)
