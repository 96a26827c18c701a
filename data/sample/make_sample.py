# coding=utf-8
"""Builds corpus.txt and tagged.jsonl from the hand annotation.

annotation.txt holds one sentence per line as "word/POS/head/DEP[/NER]"
tokens. This writes the raw text (corpus.txt: one paragraph per line, a blank
line between documents) and its analysis in linguistic_tagger.py's output
format (tagged.jsonl), after checking that every sentence is a well-formed
dependency tree with tags from the LERT inventories, and that the tagger's
sentence splitter cuts each paragraph into exactly the annotated sentences.

  python -m data.sample.make_sample          # rewrite both files
  python -m data.sample.make_sample --check  # fail if they are out of date

(run from the repository, whose lert package it imports).
"""

from __future__ import print_function

import io
import json
import os
import sys

from lert.tagging import linguistic_tags
from lert.tagging import ltp_tagging

HERE = os.path.dirname(os.path.abspath(__file__))


class AnnotationError(ValueError):
  pass


def parse_sentence(line, where):
  words, pos, heads, labels, ner = [], [], [], [], []
  for token in line.split():
    fields = token.split("/")
    if len(fields) not in (4, 5):
      raise AnnotationError("%s: token %r is not word/POS/head/DEP[/NER]." %
                            (where, token))
    words.append(fields[0])
    pos.append(fields[1])
    heads.append(int(fields[2]))
    labels.append(fields[3])
    ner.append(fields[4] if len(fields) == 5 else "O")
  check_sentence(words, pos, heads, labels, ner, where)
  return {"text": "".join(words), "words": words, "pos": pos, "ner": ner,
          "dep_head": heads, "dep_label": labels}


def check_sentence(words, pos, heads, labels, ner, where):
  """A single root (HED), heads in range, no cycles, known tags, valid BIES."""
  n = len(words)
  for task, tags in (("pos", pos), ("ner", ner), ("dep", labels)):
    for word, tag in zip(words, tags):
      if linguistic_tags.tag_to_id(task, tag) is None:
        raise AnnotationError("%s: unknown %s tag %r on %r." %
                              (where, task, tag, word))
  roots = [i for i, h in enumerate(heads) if h == 0]
  if len(roots) != 1 or labels[roots[0]] != "HED":
    raise AnnotationError("%s: needs exactly one root labelled HED." % where)
  for i, (head, label) in enumerate(zip(heads, labels)):
    if not 0 <= head <= n or head == i + 1:
      raise AnnotationError("%s: word %d %r has head %d." %
                            (where, i + 1, words[i], head))
    if (label == "HED") != (head == 0):
      raise AnnotationError("%s: HED must be the root only (word %r)." %
                            (where, words[i]))
    if (label == "WP") != (pos[i] == "wp"):
      raise AnnotationError("%s: punctuation %r must be wp/WP." %
                            (where, words[i]))
  for start in range(n):  # every word reaches the root
    seen, node = set(), start
    while heads[node] != 0:
      if node in seen:
        raise AnnotationError("%s: a cycle through %r." % (where, words[node]))
      seen.add(node)
      node = heads[node] - 1
  previous = "O"
  for word, tag in zip(words, ner):
    inside = previous[:1] in ("B", "I")
    if tag[:1] in ("I", "E") and not (inside and tag[2:] == previous[2:]):
      raise AnnotationError("%s: NER %s on %r does not continue an entity." %
                            (where, tag, word))
    if inside and tag[:1] not in ("I", "E"):
      raise AnnotationError("%s: entity before %r is not closed." %
                            (where, word))
    previous = tag
  if previous[:1] in ("B", "I"):
    raise AnnotationError("%s: the last entity is not closed." % where)


def parse_annotation(path):
  """Returns documents as lists of paragraphs of sentence dicts."""
  documents, paragraphs, sentences = [], [], []
  with io.open(path, encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
      line = line.strip()
      if line.startswith("#"):
        continue
      if not line or line == "--":
        if sentences:
          paragraphs.append(sentences)
          sentences = []
        if not line and paragraphs:
          documents.append(paragraphs)
          paragraphs = []
        continue
      sentences.append(parse_sentence(line, "%s:%d" % (path, number)))
  if sentences:
    paragraphs.append(sentences)
  if paragraphs:
    documents.append(paragraphs)
  return documents


def render(documents, corpus_name="data/sample/corpus.txt"):
  """(corpus.txt text, tagged.jsonl text) for the parsed annotation."""
  corpus_lines, tagged_lines = [], []
  for paragraphs in documents:
    source = "%s:%d" % (corpus_name, len(corpus_lines) + 1)
    for sentences in paragraphs:
      paragraph = "".join(s["text"] for s in sentences)
      split = ltp_tagging.split_sentences(paragraph)
      if split != [s["text"] for s in sentences]:
        raise AnnotationError("The sentence splitter cuts %r as %r." %
                              (paragraph, split))
      corpus_lines.append(paragraph)
    corpus_lines.append("")
    document = {"source": source,
                "sentences": [s for p in paragraphs for s in p]}
    tagged_lines.append(json.dumps(document, ensure_ascii=False))
  return "\n".join(corpus_lines), "\n".join(tagged_lines) + "\n"


def main():
  documents = parse_annotation(os.path.join(HERE, "annotation.txt"))
  corpus, tagged = render(documents)
  outputs = {"corpus.txt": corpus, "tagged.jsonl": tagged}
  if "--check" in sys.argv:
    for name, text in outputs.items():
      with io.open(os.path.join(HERE, name), encoding="utf-8") as f:
        if f.read() != text:
          sys.exit("%s is out of date: run python -m data.sample.make_sample"
                   % name)
  else:
    for name, text in outputs.items():
      with io.open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        f.write(text)
  sentences = sum(len(p) for d in documents for p in d)
  words = sum(len(s["words"]) for d in documents for p in d for s in p)
  print("%d documents, %d sentences, %d words" % (len(documents), sentences,
                                                   words))


if __name__ == "__main__":
  main()
