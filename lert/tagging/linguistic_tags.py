# coding=utf-8
"""The LERT linguistic tag inventories and the mapping from LTP's output.

This is the one home of the tag lists: every script imports it. The order of
each list is part of the checkpoint format (index i of a head's output is the
i-th entry, docs/spec.md §1), so never reorder them.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

# POS: LTP's 863 tag set. The 28th tag is the non-lexeme tag that LTP writes as
# `x`; the released label list spells it `%`.
POS_TAGS = ("n v wp u d a m p r ns c q nt nh nd j i b ni nz nl z k ws o h e "
            "%").split()

# NER: BIES-O over person (Nh), organisation (Ni) and place (Ns).
NER_TAGS = ("O S-Ns S-Nh B-Ni E-Ni I-Ni S-Ni B-Ns E-Ns I-Ns B-Nh E-Nh "
            "I-Nh").split()

# DEP: the relation of a word to its head, attributed to the dependent.
DEP_LABELS = "ATT WP ADV VOB SBV COO RAD HED POB CMP LAD FOB DBL IOB".split()

# Short glosses for people reading predictions (LTP's documentation).
GLOSSES = {
    "pos": {
        "n": "general noun", "v": "verb", "wp": "punctuation",
        "u": "auxiliary", "d": "adverb", "a": "adjective", "m": "number",
        "p": "preposition", "r": "pronoun", "ns": "place name",
        "c": "conjunction", "q": "measure word", "nt": "temporal noun",
        "nh": "person name", "nd": "direction noun", "j": "abbreviation",
        "i": "idiom", "b": "noun modifier", "ni": "organisation name",
        "nz": "other proper noun", "nl": "location noun",
        "z": "descriptive word", "k": "suffix", "ws": "foreign word",
        "o": "onomatopoeia", "h": "prefix", "e": "exclamation",
        "%": "non-lexeme (LTP x)"},
    "ner": {
        "O": "no entity", "S-Ns": "one-word place name",
        "S-Nh": "one-word person name", "B-Ni": "first word of an organisation",
        "E-Ni": "last word of an organisation",
        "I-Ni": "inner word of an organisation",
        "S-Ni": "one-word organisation", "B-Ns": "first word of a place name",
        "E-Ns": "last word of a place name",
        "I-Ns": "inner word of a place name",
        "B-Nh": "first word of a person name",
        "E-Nh": "last word of a person name",
        "I-Nh": "inner word of a person name"},
    "dep": {
        "ATT": "attribute", "WP": "punctuation", "ADV": "adverbial",
        "VOB": "verb-object", "SBV": "subject-verb", "COO": "coordination",
        "RAD": "right adjunct", "HED": "head of the sentence",
        "POB": "preposition-object", "CMP": "complement",
        "LAD": "left adjunct", "FOB": "fronted object", "DBL": "double",
        "IOB": "indirect object"},
}

# The three linguistic tasks, in the order the paper names them.
TASKS = ("pos", "ner", "dep")

TAGS_BY_TASK = {"pos": POS_TAGS, "ner": NER_TAGS, "dep": DEP_LABELS}
NUM_TAGS = {task: len(tags) for task, tags in TAGS_BY_TASK.items()}

# The released code names the labels with these prefixes (`POS-n`, `NER-S-Ns`).
RELEASE_PREFIX = {"pos": "POS-", "ner": "NER-", "dep": "DEP-"}

# LTP spellings that differ from the released label lists.
_LTP_POS_ALIASES = {"x": "%"}

_INDEX = {task: {tag: i for i, tag in enumerate(tags)}
          for task, tags in TAGS_BY_TASK.items()}


def tag_to_id(task, tag):
  """Index of an LTP tag in `task`'s inventory, or None if it has none.

  None means "missing label" (docs/spec.md §4): e.g. LTP 4's DEP `IS` has no
  index, so such a word still counts for MLM but trains no DEP head.
  """
  if task == "pos":
    tag = _LTP_POS_ALIASES.get(tag, tag)
  return _INDEX[task].get(tag)


def tag_index(task):
  """tag -> index of `task`'s inventory, LTP's spellings included (the
  mapping tag_to_id applies; a new dict)."""
  index = dict(_INDEX[task])
  if task == "pos":
    index.update((alias, _INDEX[task][tag])
                 for alias, tag in _LTP_POS_ALIASES.items())
  return index


def id_to_tag(task, index):
  return TAGS_BY_TASK[task][index]


def parse_task_list(text):
  """Parses a comma-separated task list such as "pos,ner,dep" or ""."""
  tasks = [t.strip().lower() for t in text.split(",") if t.strip()]
  for task in tasks:
    if task not in TASKS:
      raise ValueError("Unknown linguistic task %r: choose from %s." %
                       (task, ",".join(TASKS)))
  if len(set(tasks)) != len(tasks):
    raise ValueError("Linguistic task listed twice in %r." % text)
  # Keep the canonical order so that variable creation order is stable.
  return [t for t in TASKS if t in tasks]


# ----------------------------------------------------------------------------
# Linguistic masking (LMLM, paper §5.3; docs/spec.md §8): the 80% case of a
# masked token writes a mask token that names its tag, `[MASK-POS-n]`,
# instead of `[MASK]`. The 55 tag tokens live in the vocabulary's `[unusedN]`
# slots, POS tags first, then NER tags, then DEP labels, each list in its §1
# order: `[MASK-POS-n]` is `[unused1]`, `[MASK-NER-O]` `[unused29]`,
# `[MASK-DEP-ATT]` `[unused42]`. So the vocabulary, the model's shapes and
# conversion stay as they are.

# --linguistic_masking: which tag the mask token carries. "all" carries the
# three (their tokens' embeddings summed at the position, docs/choices.md);
# "mix" one of the three, drawn per masked token.
MASKING_MODES = ("none", "pos", "ner", "dep", "all", "mix")

_SLOT_OFFSET = {"pos": 0, "ner": len(POS_TAGS),
                "dep": len(POS_TAGS) + len(NER_TAGS)}
NUM_MASK_TAG_TOKENS = sum(len(tags) for tags in TAGS_BY_TASK.values())


def mask_tag_token(task, index):
  """The readable name of the mask token of tag `index` of `task`:
  `[MASK-POS-n]`, `[MASK-NER-S-Ns]`, `[MASK-DEP-ATT]`."""
  return "[MASK-%s%s]" % (RELEASE_PREFIX[task], TAGS_BY_TASK[task][index])


def mask_tag_slot(task, index):
  """The vocabulary entry that holds that mask token: `[unusedN]`."""
  return "[unused%d]" % (_SLOT_OFFSET[task] + index + 1)


def mask_tag_tokens():
  """(readable name, vocabulary slot) of the 55 mask tokens, in slot
  order."""
  return [(mask_tag_token(task, index), mask_tag_slot(task, index))
          for task in TASKS for index in range(NUM_TAGS[task])]


def readable_inverse_vocab(vocab):
  """id -> token of a vocabulary (token -> id) for people reading
  predictions: the tag mask slots by their names (`[unused10]` ->
  `[MASK-POS-ns]`), which no tokenized text produces."""
  inverse = {index: token for token, index in vocab.items()}
  for name, slot in mask_tag_tokens():
    if slot in vocab:
      inverse[vocab[slot]] = name
  return inverse


def joined_mask_token(names):
  """The one name of a position's tag masks under "all":
  [`[MASK-POS-ns]`, `[MASK-NER-S-Ns]`] -> `[MASK-POS-ns+NER-S-Ns]`."""
  return "[MASK-%s]" % "+".join(name[len("[MASK-"):-1] for name in names)


def split_mask_token(token):
  """The inverse of joined_mask_token: `[MASK-POS-ns+NER-S-Ns]` ->
  [`[MASK-POS-ns]`, `[MASK-NER-S-Ns]`] (a single tag mask: itself)."""
  return ["[MASK-%s]" % part for part in token[len("[MASK-"):-1].split("+")]
