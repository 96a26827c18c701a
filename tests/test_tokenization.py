# coding=utf-8
"""BERT tokenization, WordPiece and character offsets."""

import os

import pytest

import tokenization

from conftest import REPO

VOCAB_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "我", "在", "北",
                "京", "用", "，", "。", "！", "(", ")", "bert", "-", "base",
                "un", "##want", "##ed", "runn", "##ing", "2022", "年", "12",
                "##3", "cafe", ",", "σ", "ς", "$", "."]


@pytest.fixture
def tokenizer(tmp_path):
  path = tmp_path / "vocab.txt"
  path.write_text(u"\n".join(VOCAB_TOKENS) + u"\n", encoding="utf-8")
  return tokenization.FullTokenizer(str(path), do_lower_case=True)


def test_mixed_chinese_english_digits_punctuation_with_offsets(tokenizer):
  text = u"我在北京用BERT-base，2022年 unwanted running！(123)"
  got = tokenizer.tokenize_with_offsets(text)
  assert [t for t, _, _ in got] == [
      u"我", u"在", u"北", u"京", u"用", u"bert", u"-", u"base", u"，",
      u"2022", u"年", u"un", u"##want", u"##ed", u"runn", u"##ing", u"！",
      u"(", u"12", u"##3", u")"]
  spans = [text[s:e] for _, s, e in got]
  assert spans == [
      u"我", u"在", u"北", u"京", u"用", u"BERT", u"-", u"base", u"，",
      u"2022", u"年", u"un", u"want", u"ed", u"runn", u"ing", u"！",
      u"(", u"12", u"3", u")"]
  assert got[5] == (u"bert", 5, 9)
  assert got[-1] == (u")", len(text) - 1, len(text))


def test_tokenize_matches_offsets_tokens(tokenizer):
  text = u"我在北京\t用 bert\u3000unwanted。"
  assert tokenizer.tokenize(text) == [
      t for t, _, _ in tokenizer.tokenize_with_offsets(text)]


def test_cleaning_drops_control_and_replacement_chars(tokenizer):
  text = u"我\x00在\ufffd北\x07京"
  got = tokenizer.tokenize_with_offsets(text)
  assert got == [(u"我", 0, 1), (u"在", 2, 3), (u"北", 4, 5), (u"京", 6, 7)]


def test_accents_are_stripped_and_offsets_cover_originals(tokenizer):
  text = u"Café,café"
  got = tokenizer.tokenize_with_offsets(text)
  assert got == [(u"cafe", 0, 4), (u",", 4, 5), (u"cafe", 5, 9)]


def test_decomposed_accent_stays_inside_its_token(tokenizer):
  text = u"cafe\u0301$"  # e + combining acute accent, then "$"
  got = tokenizer.tokenize_with_offsets(text)
  assert got == [(u"cafe", 0, 5), (u"$", 5, 6)]


def test_greek_final_sigma_lowercased_per_word(tokenizer):
  # Python's lower() maps a word-final capital sigma to "ς", as BERT does.
  assert tokenizer.tokenize(u"Σ ΣΣ") == [u"σ", u"[UNK]"]


def test_unknown_and_too_long_words(tokenizer):
  assert tokenizer.tokenize_with_offsets(u"我xyz") == [(u"我", 0, 1),
                                                      (u"[UNK]", 1, 4)]
  long_word = u"a" * 201
  assert tokenizer.tokenize(long_word) == [u"[UNK]"]


def test_no_lower_case_keeps_case(tmp_path):
  path = tmp_path / "vocab.txt"
  path.write_text(u"[UNK]\nBERT\nbert\n", encoding="utf-8")
  tok = tokenization.FullTokenizer(str(path), do_lower_case=False)
  assert tok.tokenize(u"BERT bert") == [u"BERT", u"bert"]
  assert tok.convert_tokens_to_ids([u"BERT", u"bert"]) == [1, 2]


def test_every_cjk_char_is_a_token_and_punctuation_split():
  basic = tokenization.BasicTokenizer(do_lower_case=True)
  assert basic.tokenize(u"中文abc的。Hello!") == [
      u"中", u"文", u"abc", u"的", u"。", u"hello", u"!"]


def test_vocab_line_numbers_are_ids(tmp_path):
  path = tmp_path / "vocab.txt"
  path.write_text(u"[PAD]\n\n[UNK]\n", encoding="utf-8")
  vocab = tokenization.load_vocab(str(path))
  assert vocab[u"[UNK]"] == 2


def test_shipped_chinese_vocab():
  vocab = tokenization.load_vocab(os.path.join(REPO, "configs", "vocab.txt"))
  assert len(vocab) == 21128
  assert [vocab[t] for t in (u"[PAD]", u"[UNK]", u"[CLS]", u"[SEP]",
                             u"[MASK]")] == [0, 100, 101, 102, 103]
  tok = tokenization.FullTokenizer(
      os.path.join(REPO, "configs", "vocab.txt"))
  text = u"哈工大讯飞联合实验室发布LERT模型，2022年11月。"
  tokens = tok.tokenize_with_offsets(text)
  assert [t for t, _, _ in tokens][:4] == [u"哈", u"工", u"大", u"讯"]
  assert u"[UNK]" not in [t for t, _, _ in tokens]
  # Every token's span is the original text, modulo "##" and case.
  for token, start, end in tokens:
    assert token.replace(u"##", u"") == text[start:end].lower()


def test_missing_vocab_file_error(tmp_path):
  with pytest.raises((IOError, OSError)):
    tokenization.FullTokenizer(str(tmp_path / "nope.txt"))


def test_convert_to_unicode():
  assert tokenization.convert_to_unicode(u"中".encode("utf-8")) == u"中"
  with pytest.raises(ValueError):
    tokenization.convert_to_unicode(3)

