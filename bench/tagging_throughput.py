# coding=utf-8
r"""LTP tagging throughput: linguistic_tagger.py end to end, beside LTP
called one sentence at a time.

Builds LTP/small's and LTP/base's architectures with random weights through
ltp_core's own classes (lert/tagging/random_ltp.py: speed does not depend on the
weights' values), writes a corpus of real Chinese news sentences (People's
Daily 1998 from ../shared/data/peopledaily, 20 sentences to a document;
else the shipped data/sample/corpus.txt repeated), and measures:

  one-by-one  the same model in this process, `ltp.pipeline([sentence])`
              per sentence (POS, NER, DEP), with every core's threads;
  in-process  the tagger's core in this process per --batch_size: each
              document's sentences in order (the tagger before it sorted),
              and ltp_tagging.tag_documents (sorted by length, batches
              across documents: the tagger now);
  script      linguistic_tagger.py as a user runs it (process start, model
              loading, reading, splitting, tagging, writing the shards), per
              --batch_size and --num_workers (threads: the cores shared
              among the workers).

Prints sentences/s and characters/s (Chinese characters of the input) and
each run's speed-up over one-by-one.

  python -m bench.tagging_throughput --architectures small,base \
      --sentences 600,200 --batch_sizes 1,8,32 --workers 1,2
"""

from __future__ import print_function

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from lert.tagging import random_ltp

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def parse_args():
  parser = argparse.ArgumentParser(
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--architectures", default="small,base")
  parser.add_argument("--sentences", default="600,200",
                      help="Sentences per architecture, comma-separated.")
  parser.add_argument("--batch_sizes", default="1,8,32")
  parser.add_argument("--workers", default="1,2")
  parser.add_argument("--peopledaily", default=os.path.join(
      os.path.dirname(REPO), "shared", "data", "peopledaily", "train.txt"))
  parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
  parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
  return parser.parse_args()


def read_sentences(args, count):
  """`count` sentences of real text."""
  sentences = []
  if os.path.isfile(args.peopledaily):
    characters = []
    with io.open(args.peopledaily, encoding="utf-8") as f:
      for line in f:
        line = line.strip()
        if line:
          characters.append(line.split()[0])
        elif characters:
          sentences.append(u"".join(characters))
          characters = []
          if len(sentences) == count:
            break
  else:
    with io.open(os.path.join(REPO, "data", "sample", "corpus.txt"),
                 encoding="utf-8") as f:
      lines = [line.strip() for line in f if line.strip()]
    while len(sentences) < count:
      sentences.extend(lines[:count - len(sentences)])
  return sentences


def write_corpus(path, sentences):
  with io.open(path, "w", encoding="utf-8") as f:
    for i, sentence in enumerate(sentences):
      if i and i % 20 == 0:
        f.write(u"\n")
      f.write(sentence + u"\n")


def one_by_one(model_dir, sentences, cores, device):
  from lert.tagging import ltp_tagging
  ltp = ltp_tagging.load_ltp(model_dir, device, num_threads=cores)
  ltp.pipeline(sentences[:2], tasks=["cws", "pos", "ner", "dep"])  # warm-up
  start = time.time()
  for sentence in sentences:
    ltp.pipeline([sentence], tasks=["cws", "pos", "ner", "dep"])
  return time.time() - start


def in_process(model_dir, sentences, batch_size, cores, device, grouped):
  """Seconds of the tagger's core in this process, on documents of 20
  sentences: grouped (ltp_tagging.tag_documents over groups of 16
  batches: sorted by length, batches across documents, as the script
  does now), or each document's sentences in order, `batch_size` at a
  time (as the script did before 2026-12-03)."""
  from lert.tagging import ltp_tagging
  ltp = ltp_tagging.load_ltp(model_dir, device, num_threads=cores)
  documents = [("doc%d" % i, sentences[i:i + 20])
               for i in range(0, len(sentences), 20)]
  ltp.pipeline(sentences[:2], tasks=["cws", "pos", "ner", "dep"])  # warm-up
  stats = ltp_tagging.TagStats()
  start = time.time()
  if grouped:
    size = ltp_tagging.SORTED_BATCHES_PER_GROUP * batch_size // 20 + 1
    for i in range(0, len(documents), size):
      ltp_tagging.tag_documents(ltp, documents[i:i + size], batch_size, 500,
                                stats)
  else:
    for _, paragraphs in documents:
      texts = [text for paragraph in paragraphs
               for text in ltp_tagging.split_sentences(paragraph, 500)]
      for i in range(0, len(texts), batch_size):
        ltp.pipeline(texts[i:i + batch_size],
                     tasks=["cws", "pos", "ner", "dep"])
  return time.time() - start


def script(model_dir, corpus, workdir, batch_size, workers, cores, device):
  """Wall seconds of linguistic_tagger.py end to end, and its own tagging
  time (the summary's Time)."""
  output_dir = os.path.join(workdir, "tagged-%d-%d" % (batch_size, workers))
  start = time.time()
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, "linguistic_tagger.py"),
       "--input_file=" + corpus, "--output_dir=" + output_dir,
       "--ltp_model=" + model_dir, "--device=" + device,
       "--batch_size=%d" % batch_size, "--num_workers=%d" % workers,
       "--num_threads=%d" % max(1, cores // workers),
       "--num_output_shards=%d" % max(2, workers)],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
      universal_newlines=True)
  wall = time.time() - start
  if result.returncode:
    sys.exit(result.stdout[-3000:])
  shutil.rmtree(output_dir)
  return wall, float(re.search(r"Time: ([0-9.]+) s", result.stdout)
                     .group(1))


def main():
  args = parse_args()
  architectures = args.architectures.split(",")
  counts = [int(x) for x in args.sentences.split(",")]
  counts += counts[-1:] * (len(architectures) - len(counts))
  workdir = tempfile.mkdtemp(prefix="tagging_bench_")
  print("LTP tagging throughput on %s (%d cores), %s" % (
      args.device, args.cores, "People's Daily 1998 sentences" if
      os.path.isfile(args.peopledaily) else "data/sample/corpus.txt"))
  print("| model | run | batch | workers x threads | sentences/s | "
        "characters/s | tagging s | wall s | speed-up |")
  print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
  try:
    for architecture, count in zip(architectures, counts):
      model_dir = random_ltp.build_random_ltp(
          os.path.join(workdir, architecture),
          os.path.join(REPO, "configs", "vocab.txt"), architecture)
      sentences = read_sentences(args, count)
      characters = sum(len(s) for s in sentences)
      corpus = os.path.join(workdir, "corpus-%s.txt" % architecture)
      write_corpus(corpus, sentences)
      base = one_by_one(model_dir, sentences, args.cores, args.device)
      print("| %s | one-by-one | 1 | 1 x %d | %.1f | %.0f | %.1f | - | 1.00 "
            "|" % (architecture, args.cores, len(sentences) / base,
                   characters / base, base))
      sys.stdout.flush()
      for grouped in (False, True):
        for batch_size in [int(x) for x in args.batch_sizes.split(",")]:
          seconds = in_process(model_dir, sentences, batch_size, args.cores,
                               args.device, grouped)
          print("| %s | %s | %d | 1 x %d | %.1f | %.0f | %.1f | - | %.2f |" % (
              architecture, "in-process, sorted groups" if grouped else
              "in-process, per document", batch_size, args.cores,
              len(sentences) / seconds, characters / seconds, seconds,
              base / seconds))
          sys.stdout.flush()
      for workers in [int(x) for x in args.workers.split(",")]:
        for batch_size in [int(x) for x in args.batch_sizes.split(",")]:
          wall, tagging = script(model_dir, corpus, workdir, batch_size,
                                 workers, args.cores, args.device)
          print("| %s | script | %d | %d x %d | %.1f | %.0f | %.1f | %.1f | "
                "%.2f |" % (architecture, batch_size, workers,
                            max(1, args.cores // workers),
                            len(sentences) / tagging, characters / tagging,
                            tagging, wall, base / tagging))
          sys.stdout.flush()
  finally:
    shutil.rmtree(workdir, ignore_errors=True)
  print("sentences %s, %.1f characters per sentence on average" % (
      ",".join(str(c) for c in counts), characters / float(len(sentences))))


if __name__ == "__main__":
  main()
