# coding=utf-8
"""CoNLL-U files for the probe tests (test_probing.py, the runner's)."""

import gzip
import io
import json
import os

import numpy as np

from conftest import REPO

SAMPLE = os.path.join(REPO, "data", "sample", "tagged.jsonl")


CONLLU = u"""# sent_id = 1
# text = 他来了。
1\t他\t他\tPRON\tPRP\t_\t2\tnsubj\t_\t_
2\t来\t来\tVERB\tVV\t_\t0\troot\t_\t_
3\t了\t了\tAUX\tAS\t_\t2\taux\t_\t_
4\t。\t。\tPUNCT\t.\t_\t2\tpunct\t_\t_

1-2\t北京大学\t_\t_\t_\t_\t_\t_\t_\t_
1\t北京\t北京\tPROPN\tNNP\t_\t2\tnmod\t_\t_
2\t大学\t大学\tNOUN\tNN\t_\t0\troot\t_\t_
"""


def write_conllu(path, text=CONLLU):
  with gzip.open(str(path), "wt", encoding="utf-8") as f:
    f.write(text)
  return str(path)


def ud_sentences(count, seed):
  """Small CoNLL-U sentences of the sample corpus's words with a
  learnable UPOS (by word) and relations (all to the first word)."""
  rng = np.random.RandomState(seed)
  words = []
  with io.open(SAMPLE, encoding="utf-8") as f:
    for line in f:
      for sentence in json.loads(line)["sentences"]:
        words += sentence["words"]
  blocks = []
  for _ in range(count):
    chosen = [words[i] for i in rng.randint(0, len(words), 5)]
    rows = ["%d\t%s\t_\t%s\t_\t_\t%d\t%s\t_\t_" % (
        i + 1, w, "NOUN" if len(w) > 1 else "X", 0 if i == 0 else 1,
        "root" if i == 0 else ("dep" if len(w) > 1 else "punct"))
            for i, w in enumerate(chosen)]
    blocks.append("\n".join(rows))
  return "\n\n".join(blocks) + "\n"
