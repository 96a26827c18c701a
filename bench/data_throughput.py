# coding=utf-8
"""Data-generation throughput of create_pretraining_data.py.

Builds tagged corpora of two sizes from the People's Daily text in
../shared/data/peopledaily (its sentences, 20 to a document; words are the
annotated entities and single characters, NER from the corpus's own entity
annotation; POS and DEP are placeholders, which cost the same as real tags),
then writes pre-training records with one worker and with every core, and
prints instances/second and the peak memory of the writer and its workers.

  python bench/data_throughput.py --sizes 2000,20000
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

ENTITY_TYPES = {"PER": ("Nh", "nh"), "LOC": ("Ns", "ns"), "ORG": ("Ni", "ni")}


def parse_args():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--peopledaily",
                      default=os.path.join(os.path.dirname(REPO), "shared",
                                           "data", "peopledaily", "train.txt"))
  parser.add_argument("--sizes", default="2000,20000",
                      help="Corpus sizes in sentences, comma-separated.")
  parser.add_argument("--max_seq_length", type=int, default=512)
  parser.add_argument("--max_predictions_per_seq", type=int, default=75)
  parser.add_argument("--dupe_factor", type=int, default=5)
  parser.add_argument("--workers", default="1,%d" % (os.cpu_count() or 1),
                      help="Worker counts to time, comma-separated.")
  parser.add_argument("--run", nargs=3, metavar=("CORPUS", "OUTPUT", "WORKERS"),
                      help=argparse.SUPPRESS)  # one timed run, in a child
  return parser.parse_args()


def read_peopledaily(path, limit):
  """Yields (chars, BIO tags) per sentence of the character-per-line file."""
  chars, tags, count = [], [], 0
  with io.open(path, encoding="utf-8") as f:
    for line in f:
      parts = line.split()
      if len(parts) == 2:
        chars.append(parts[0])
        tags.append(parts[1])
        continue
      if chars:
        yield chars, tags
        count += 1
        if count == limit:
          return
      chars, tags = [], []
  if chars and count < limit:
    yield chars, tags


def to_tagged_sentence(chars, tags):
  """A sentence in the tagger's format: entities as words, else characters."""
  words, pos, ner = [], [], []
  i = 0
  while i < len(chars):
    if tags[i].startswith("B-") and tags[i][2:] in ENTITY_TYPES:
      kind = tags[i][2:]
      end = i + 1
      while end < len(chars) and tags[end] == "I-" + kind:
        end += 1
      words.append("".join(chars[i:end]))
      pos.append(ENTITY_TYPES[kind][1])
      ner.append("S-" + ENTITY_TYPES[kind][0])
      i = end
      continue
    words.append(chars[i])
    pos.append("wp" if chars[i] in u"，。、；：！？“”（）《》" else "n")
    ner.append("O")
    i += 1
  heads = [0] + [1] * (len(words) - 1)
  labels = ["HED"] + ["WP" if p == "wp" else "ATT" for p in pos[1:]]
  return {"text": "".join(words), "words": words, "pos": pos, "ner": ner,
          "dep_head": heads, "dep_label": labels}


def write_corpus(path, source, num_sentences, sentences_per_doc=20):
  document, total = [], 0
  with io.open(path, "w", encoding="utf-8") as f:
    for chars, tags in read_peopledaily(source, num_sentences):
      document.append(to_tagged_sentence(chars, tags))
      total += 1
      if len(document) == sentences_per_doc:
        f.write(json.dumps({"sentences": document}, ensure_ascii=False) +
                u"\n")
        document = []
    if document:
      f.write(json.dumps({"sentences": document}, ensure_ascii=False) + u"\n")
  return total


def timed_run(args):
  """Runs in a child process: writes the records, prints a JSON result."""
  import create_pretraining_data  # pylint: disable=g-import-not-at-top
  corpus, output, workers = args.run
  maker_kwargs = dict(
      vocab_file=os.path.join(REPO, "configs", "vocab.txt"),
      do_lower_case=True, max_seq_length=args.max_seq_length,
      max_predictions_per_seq=args.max_predictions_per_seq,
      masked_lm_prob=0.15, short_seq_prob=0.1, max_ngram=4,
      dupe_factor=args.dupe_factor, random_seed=12345)
  start = time.time()
  summary = create_pretraining_data.write_pretraining_data(
      [corpus], [output], maker_kwargs, num_workers=int(workers),
      log=lambda message: None)
  elapsed = time.time() - start
  print(json.dumps({
      "instances": summary.instances, "seconds": elapsed,
      "main_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.,
      "worker_mib": resource.getrusage(
          resource.RUSAGE_CHILDREN).ru_maxrss / 1024.}))


def main():
  args = parse_args()
  if args.run:
    timed_run(args)
    return
  if not os.path.exists(args.peopledaily):
    sys.exit("People's Daily text not found at %s (it is in ../shared)." %
             args.peopledaily)
  workdir = tempfile.mkdtemp(prefix="lert_data_bench_")
  rows = []
  try:
    for size in [int(s) for s in args.sizes.split(",")]:
      corpus = os.path.join(workdir, "corpus-%d.jsonl" % size)
      sentences = write_corpus(corpus, args.peopledaily, size)
      for workers in [int(w) for w in args.workers.split(",")]:
        output = os.path.join(workdir, "out.tfrecord")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        result = subprocess.run(
            [sys.executable, __file__, "--run", corpus, output, str(workers),
             "--max_seq_length", str(args.max_seq_length),
             "--max_predictions_per_seq", str(args.max_predictions_per_seq),
             "--dupe_factor", str(args.dupe_factor)],
            stdout=subprocess.PIPE, env=env, check=True,
            universal_newlines=True)
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        rows.append((sentences, workers, figures))
  finally:
    shutil.rmtree(workdir)

  print("create_pretraining_data.py throughput (People's Daily text, length "
        "%d, %d predictions, dupe_factor %d)" % (
            args.max_seq_length, args.max_predictions_per_seq,
            args.dupe_factor))
  print("%10s %8s %10s %9s %14s %16s %16s" % (
      "sentences", "workers", "instances", "seconds", "instances/s",
      "writer peak MiB", "worker peak MiB"))
  for sentences, workers, f in rows:
    print("%10d %8d %10d %9.1f %14.1f %16.0f %16s" % (
        sentences, workers, f["instances"], f["seconds"],
        f["instances"] / f["seconds"], f["main_mib"],
        "%.0f" % f["worker_mib"] if workers > 1 else "-"))
  print("Python %s, %d CPUs" % (sys.version.split()[0], os.cpu_count() or 0))


if __name__ == "__main__":
  main()
