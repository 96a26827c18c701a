# coding=utf-8
"""BERT tokenization, WordPiece and character offsets."""

import os
import pytest
from conftest import REPO

from lert.contract import script_errors
import tokenization

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
  with pytest.raises((IOError, OSError), match="nope.txt"):
    tokenization.FullTokenizer(str(tmp_path / "nope.txt"))
  (tmp_path / "empty.txt").write_text(u"")
  with pytest.raises(tokenization.VocabularyError,
                     match="Vocabulary file .*empty.txt is empty"):
    tokenization.FullTokenizer(str(tmp_path / "empty.txt"))


def test_a_vocabulary_error_is_one_line_of_a_script(tmp_path):
  """tokenization.py imports nothing of the project: its VocabularyError is
  a ValueError that script_errors reports as bad input; another ValueError
  is a bug, reported with its traceback."""
  (tmp_path / "empty.txt").write_text(u"")
  with pytest.raises(SystemExit) as info:
    script_errors.run_reporting_errors(
        lambda: tokenization.FullTokenizer(str(tmp_path / "empty.txt")),
        "script.py")
  assert str(info.value) == ("script.py: error: Vocabulary file %s is "
                             "empty." % (tmp_path / "empty.txt"))

  def bug():
    raise ValueError("a bug")
  with pytest.raises(ValueError, match="a bug"):
    script_errors.run_reporting_errors(bug, "script.py")


def test_convert_to_unicode():
  assert tokenization.convert_to_unicode(u"中".encode("utf-8")) == u"中"
  with pytest.raises(ValueError):
    tokenization.convert_to_unicode(3)



# Latin words, digits, full-width forms, accents (precomposed and combining,
# also leading a word), Greek capital sigma (final and not), Turkish dotted
# I, ligatures, control and format characters, NUL, U+FFFD, line and
# paragraph separators, private-use, unassigned and astral characters.
HARD_TEXTS = [
    u"Café naïve ÉCOLE résumé 123 4.5% ＡＢＣ １２３ straße ﬁne İstanbul",
    u"x\u0301y \u0301abc e\u0308\u0301 Σίσυφος ΟΔΟΣ σς ΣΑΣ",
    u"a\x00b\ufffdc\u200bd\x07e\u2028f\u2029g\u00a0h\u3000i\tj\r\nk",
    u"\ue000 \U0010ffff \u0378 \U00020000\U0002a6d6 𝐀𝐁 😀 x",
    u"中文English混合，test!!2022年12月，BERT-base 的 un-wanted（括号）",
    u"",
    u"   ",
    u"a" * 250 + u" " + u"中" * 3,
]


def corpus_texts(shared_dir=None):
  """Every sentence of the sample corpus, and of People's Daily when
  `shared_dir` is given."""
  import json
  texts = []
  with open(os.path.join(REPO, "data", "sample", "tagged.jsonl"),
            encoding="utf-8") as f:
    for line in f:
      texts.extend(s["text"] for s in json.loads(line)["sentences"])
  with open(os.path.join(REPO, "data", "sample", "corpus.txt"),
            encoding="utf-8") as f:
    texts.extend(line.strip() for line in f if line.strip())
  if shared_dir is None:
    return texts
  directory = os.path.join(shared_dir, "data", "peopledaily")
  for name in sorted(os.listdir(directory)):
    chars = []
    with open(os.path.join(directory, name), encoding="utf-8") as f:
      for line in f:
        parts = line.split()
        if len(parts) == 2:
          chars.append(parts[0])
        elif chars:
          texts.append(u"".join(chars))
          chars = []
  return texts


@pytest.mark.slow
@pytest.mark.parametrize("corpus", ["sample", "people_daily"])
@pytest.mark.parametrize("do_lower_case", [True, False])
def test_fast_tokenizer_matches_the_reference_token_and_offset(
    request, corpus, do_lower_case):
  """On the project's own sample corpus always, and on People's Daily
  (../shared) where it is there."""
  pytest.importorskip("tokenizers", reason="Hugging Face tokenizers is in "
                      "the TF 2.15 / Python 3.11 environment only")
  vocab = os.path.join(REPO, "configs", "vocab.txt")
  reference = tokenization.FullTokenizer(vocab, do_lower_case)
  fast = tokenization.full_tokenizer(vocab, do_lower_case)
  assert isinstance(fast, tokenization.FastFullTokenizer)
  if corpus == "sample":
    texts = corpus_texts() + HARD_TEXTS
    assert len(texts) > 300
  else:
    texts = corpus_texts(request.getfixturevalue("shared_dir"))
    assert len(texts) > 50000
  got = []
  for start in range(0, len(texts), 500):
    got.extend(fast.tokenize_batch_with_offsets(texts[start:start + 500]))
  mismatches = [text for text, ours in zip(texts, got)
                if ours != reference.tokenize_with_offsets(text)]
  assert not mismatches[:5]
  # Nearly all of it went the fast ways (Rust, or for texts of CJK and
  # punctuation only, one token per character): the reference is the
  # exception.
  if corpus == "sample":
    assert fast.fast_texts > 0.9 * len(texts)
  else:
    assert fast.fast_texts > 0.99 * len(texts)
    assert 0.2 * len(texts) < fast.alone_texts < 0.9 * len(texts)
  # The hard cases, each alone and all together.
  fast.fast_texts = fast.reference_texts = 0
  for text in HARD_TEXTS + [u" ".join(HARD_TEXTS)]:
    assert fast.tokenize_with_offsets(text) == (
        reference.tokenize_with_offsets(text)), text
  assert fast.fast_texts >= 4 and fast.reference_texts >= 3


def test_a_character_the_fast_tokenizer_gets_wrong_sends_texts_to_the_reference(
    monkeypatch):
  """The safety net: were the Rust tokenizer wrong on a CJK character (here
  made so), the bulk check notices, finds the character one by one, and
  every text holding it is tokenized by the reference."""
  pytest.importorskip("tokenizers", reason="Hugging Face tokenizers is in "
                      "the TF 2.15 / Python 3.11 environment only")
  vocab = os.path.join(REPO, "configs", "vocab.txt")
  fast = tokenization.FastFullTokenizer(vocab)
  reference = tokenization.FullTokenizer(vocab)
  original = fast._fast_batch

  def wrong_on_bei(texts):
    return [[(u"[UNK]", s, e) if u"北" in text[s:e] else (t, s, e)
             for t, s, e in tokens]
            for text, tokens in zip(texts, original(texts))]

  monkeypatch.setattr(fast, "_fast_batch", wrong_on_bei)
  texts = [u"我在北京。", u"我在上海。", u"南京"]
  assert fast.tokenize_batch_with_offsets(texts) == [
      reference.tokenize_with_offsets(text) for text in texts]
  assert (fast.fast_texts, fast.reference_texts) == (2, 1)
  assert u"北" in fast._unsafe and u"京" in fast._safe
