# coding=utf-8
"""The LTP tagging core: raw text -> sentences -> LTP -> the tagged format.

Two parts. What `linguistic_tagger.py` (one machine) and
`prepare_pretraining_data_beam.py` (Apache Beam) share: the LTP flags,
reading the raw corpus (input_reading.read_lines' rules), sentence
splitting, the LTP call and the mapping of LTP's tags to the LERT
inventories (linguistic_tags) — `define_ltp_flags`, `read_raw_documents`,
`load_ltp`, `tag_document`, `TagStats`. Then the single-machine run of
`linguistic_tagger.py` only (`run`: output shards, the `.untagged` documents
of pending shards, the worker pool, the output directory), which the Beam
pipeline replaces with its own; the tests compare the two. No TensorFlow
here.

A tagged document is one JSON line of the tagged format, described once in
docs/data.md#the-tagged-format: its `source`, and per sentence its text,
words, POS, word-level BIES-O NER tags, 1-based `dep_head` and `dep_label`;
a tag with no docs/spec.md §1 index is null (a missing label) and counted.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import io
import json
import multiprocessing
import os
import time
import unicodedata


from lert.contract import atomic_files
from lert.contract import fingerprints
from lert.contract import input_reading
from lert.contract import outputs
from lert.contract import script_errors
from lert.contract import script_flags
from lert.tagging import linguistic_tags



def define_ltp_flags(flag_values, default_device="cpu"):
  """The flags of the LTP analysis and of bad raw lines, which this script
  and prepare_pretraining_data_beam.py share."""
  define = script_flags.FlagDefiner(flag_values)
  define.string("ltp_model", "LTP/small",
                "LTP 4 model: a hub name (LTP/tiny, LTP/small, LTP/base, "
                "...) or a local model directory.")
  define.enum("device", default_device, ["cpu", "cuda", "auto"],
              "Where LTP runs; auto: a CUDA GPU where PyTorch sees one, "
              "else the CPU.")
  define.integer("batch_size", 32, "Sentences per LTP call.")
  define.integer("num_threads", 1,
                 "PyTorch threads per worker. On small CPUs the default "
                 "thread count makes LTP many times slower.")
  define.integer("max_sentence_chars", 500,
                 "Longer sentences are split (at a comma if possible) to "
                 "stay within LTP's 512-token input.")
  define.enum("on_error", "stop", ["stop", "skip"],
              "On a bad line (invalid UTF-8, NUL or control "
              "characters, a line of invisible format characters "
              "only): stop with an error naming the file and line, or "
              "skip the line and count it.")
  define.at_least_one("batch_size", "num_threads")
  define.validator(
      "max_sentence_chars", lambda value: 1 <= value <= MAX_LTP_CHARS,
      message="--max_sentence_chars must be 1..%d: LTP reads at most %d "
      "tokens with [CLS] and [SEP], and silently cuts longer input." %
      (MAX_LTP_CHARS, MAX_LTP_CHARS + 2))


# LTP's encoder reads 512 tokens, [CLS] and [SEP] included; a Chinese
# character is at least one token.
MAX_LTP_CHARS = 510


SENTENCE_ENDS = u"。！？!?；;…"
CLOSING_MARKS = u"”’\"'」』）)】》"
CLAUSE_BREAKS = u"，,、：:"
NER_TYPES = ("Nh", "Ni", "Ns")




def _only_format_characters(text):
  """A line of zero-width spaces and the like: it looks empty, is not
  stripped, and crashes LTP."""
  return bool(text) and all(unicodedata.category(c) in ("Cf", "Zs") or
                            c.isspace() for c in text)


def read_raw_documents(input_files, on_error="stop", skipped=None,
                       open_file=input_reading.open_binary, counts=None):
  """Yields (source, [paragraph, ...]) per document of the raw corpus, read
  by input_reading.read_lines (its rules for BOMs, line ends, NULs, control
  characters and invalid UTF-8; `counts` gets its counts).

  `source` is "file:line" of the document's first line. Bad lines raise
  script_errors.InputError, or with on_error="skip" are left out and counted in
  `skipped` (a list, given SkippedLines).
  """
  for path in input_files:
    for item in _read_raw_file(path, on_error, skipped, open_file, counts):
      yield item


def _check_not_tagged(text, where):
  """Raises InputError when a raw file's first line is a document of the
  tagger's own output (it would be tagged again as text, JSON punctuation
  and all)."""
  if not text.startswith("{"):
    return
  try:
    value = json.loads(text)
  except ValueError:
    return
  if isinstance(value, dict) and isinstance(value.get("sentences"), list):
    raise script_errors.InputError(
        "%s is a document of tagged JSON Lines (linguistic_tagger.py's "
        "output), not raw text: it is tagged already. Make records of it "
        "with create_pretraining_data.py (or "
        "prepare_pretraining_data_beam.py --input_format=tagged)." % where)


def _read_raw_file(path, on_error, skipped, open_file, counts=None):
  """read_raw_documents of one file."""
  paragraphs, source, saw_text = [], None, False
  for line_number, line in input_reading.read_lines(
      path, on_error, skipped, counts, open_file):
    if _only_format_characters(line.strip()):
      problem = ("only invisible format characters (%s)" %
                 " ".join("U+%04X" % ord(c) for c in line.strip()))
      if on_error != "skip":
        raise script_errors.InputError(
            "%s:%d: %s. Fix the line, or pass --on_error=skip "
            "to skip such lines." % (path, line_number, problem))
      if skipped is not None:
        skipped.append(input_reading.SkippedLine(path, line_number, problem))
      continue
    text = line.strip()
    if not text:
      if paragraphs:
        yield source, paragraphs
      paragraphs, source = [], None
      continue
    if not saw_text:
      _check_not_tagged(text, "%s:%d" % (path, line_number))
    saw_text = True
    if source is None:
      source = "%s:%d" % (path, line_number)
    paragraphs.append(text)
  if paragraphs:
    yield source, paragraphs
  if not saw_text and on_error == "stop":
    raise script_errors.InputError("%s: the file holds no text." % path)


def split_sentences(paragraph, max_chars=500):
  """Splits a paragraph after sentence-final punctuation (and closing quotes).

  Sentences longer than `max_chars` are split again at the last clause
  break before the limit, or at the limit. Nothing is dropped but the
  whitespace around sentences: "".join(result) == the paragraph without it.
  """
  sentences = []
  start = 0
  i = 0
  while i < len(paragraph):
    if paragraph[i] in SENTENCE_ENDS:
      end = i + 1
      while end < len(paragraph) and (paragraph[end] in SENTENCE_ENDS or
                                      paragraph[end] in CLOSING_MARKS):
        end += 1
      sentences.append(paragraph[start:end])
      start = i = end
    else:
      i += 1
  sentences.append(paragraph[start:])
  result = []
  for sentence in sentences:
    sentence = sentence.strip()
    while len(sentence) > max_chars:
      cut = max(sentence.rfind(c, 0, max_chars) for c in CLAUSE_BREAKS) + 1
      if cut <= 0:
        cut = max_chars
      result.append(sentence[:cut].strip())
      sentence = sentence[cut:].strip()
    if sentence:
      result.append(sentence)
  return [s for s in result if s]


def entities_to_bieso(entities, num_words):
  """LTP's NER spans (tag, text, first_word, last_word) -> word tags.

  Spans of a type outside Nh/Ni/Ns make their words' tags None (missing).
  """
  tags = ["O"] * num_words
  for entity in entities:
    tag, first, last = entity[0], entity[2], entity[3]
    if tag not in NER_TYPES:
      for i in range(first, last + 1):
        tags[i] = None
      continue
    if first == last:
      tags[first] = "S-" + tag
    else:
      tags[first] = "B-" + tag
      for i in range(first + 1, last):
        tags[i] = "I-" + tag
      tags[last] = "E-" + tag
  return tags


class TagStats(object):
  """Counts for the summary, mergeable across shards."""

  def __init__(self, values=None):
    values = values or {}
    self.documents = values.get("documents", 0)
    self.sentences = values.get("sentences", 0)
    self.words = values.get("words", 0)
    self.tags = {task: collections.Counter(values.get("tags", {}).get(task, {}))
                 for task in linguistic_tags.TASKS}
    self.missing = collections.Counter(values.get("missing", {}))

  def to_dict(self):
    return {"documents": self.documents, "sentences": self.sentences,
            "words": self.words,
            "tags": {task: dict(c) for task, c in self.tags.items()},
            "missing": dict(self.missing)}

  def merge(self, other):
    self.documents += other.documents
    self.sentences += other.sentences
    self.words += other.words
    for task in linguistic_tags.TASKS:
      self.tags[task].update(other.tags[task])
    self.missing.update(other.missing)


def map_sentence(text, words, pos, entities, dep, stats):
  """One tagged sentence in the output format, with tags mapped to
  docs/spec.md §1."""
  ner = entities_to_bieso(entities, len(words))
  sentence = {"text": text, "words": list(words), "pos": [], "ner": [],
              "dep_head": [int(h) for h in dep["head"]], "dep_label": []}
  for task, raw_tags, key in (("pos", pos, "pos"), ("ner", ner, "ner"),
                              ("dep", dep["label"], "dep_label")):
    for tag in raw_tags:
      if tag is None or linguistic_tags.tag_to_id(task, tag) is None:
        stats.missing["%s:%s" % (task, tag)] += 1
        tag = None
      else:
        stats.tags[task][tag] += 1
      sentence[key].append(tag)
  stats.sentences += 1
  stats.words += len(words)
  return sentence


def load_ltp(model, device="cpu", num_threads=1):
  """Loads an LTP 4 model from the hub or a local directory."""
  # LTP needs PyTorch only: keep transformers from importing TensorFlow.
  os.environ.setdefault("USE_TF", "0")
  import torch
  from ltp import LTP
  torch.set_num_threads(num_threads)
  if device == "auto":
    device = "cuda" if torch.cuda.is_available() else "cpu"
  if device == "cuda" and not torch.cuda.is_available():
    raise script_errors.InputError(
        "--device=cuda, but PyTorch sees no CUDA device "
        "(torch %s): use --device=cpu or a CUDA build of "
        "PyTorch." % torch.__version__)
  try:
    ltp = LTP(model)
  except Exception as e:
    raise script_errors.InputError(
        "Could not load the LTP model %r (%s: %s). Give a hub name such as "
        "LTP/small on a machine that can download it, or a local model "
        "directory." % (model, type(e).__name__, e))
  if device == "cuda":
    ltp.to("cuda")
  return ltp


def tag_documents(ltp, documents, batch_size, max_sentence_chars, stats):
  """Runs LTP over the sentences of several documents (source, paragraphs)
  pairs; returns the tagged documents in order.

  The sentences of all of them are analysed shortest first, `batch_size` at
  a time, so that a batch holds sentences of about one length (LTP pads a
  batch to its longest: sorted batches are 1.7-2.5x faster on CPU,
  docs/performance.md) and fills across document ends. What LTP gives a
  sentence does not depend on its batch.
  """
  texts, owners = [], []
  for number, (_, paragraphs) in enumerate(documents):
    for paragraph in paragraphs:
      for text in split_sentences(paragraph, max_sentence_chars):
        texts.append(text)
        owners.append(number)
  order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
  analyses = [None] * len(texts)
  for start in range(0, len(order), batch_size):
    chosen = order[start:start + batch_size]
    output = ltp.pipeline([texts[i] for i in chosen],
                          tasks=["cws", "pos", "ner", "dep"])
    for i, words, pos, entities, dep in zip(chosen, output.cws, output.pos,
                                            output.ner, output.dep):
      analyses[i] = (words, pos, entities, dep)
  tagged = [{"source": source, "sentences": []}
            for source, _ in documents]
  for text, owner, (words, pos, entities, dep) in zip(texts, owners,
                                                      analyses):
    tagged[owner]["sentences"].append(
        map_sentence(text, words, pos, entities, dep, stats))
  stats.documents += len(documents)
  return tagged


def tag_document(ltp, source, paragraphs, batch_size, max_sentence_chars,
                 stats):
  """Runs LTP over one document's sentences, `batch_size` at a time
  (tag_documents)."""
  return tag_documents(ltp, [(source, paragraphs)], batch_size,
                       max_sentence_chars, stats)[0]


# ----------------------------------------------------------------------------
# The single-machine run of linguistic_tagger.py: sharded, resumable, with a
# worker pool. The Beam pipeline does not use it.


def shard_path(output_dir, index, num_output_shards):
  return os.path.join(output_dir, "tagged-%05d-of-%05d.jsonl" %
                      (index, num_output_shards))


def untagged_dir(output_dir):
  """Where the documents of pending shards wait for their workers."""
  return os.path.join(output_dir, ".untagged")


def pending_path(output_dir, index, num_output_shards):
  """Where the untagged documents of a pending shard wait for its worker."""
  return os.path.join(untagged_dir(output_dir),
                      os.path.basename(shard_path(output_dir, index,
                                                  num_output_shards)))


def split_input(input_files, output_dir, pending, num_output_shards,
                on_error, skipped, counts=None):
  """Reads the corpus once and writes each pending shard's documents (as
  JSON Lines of source and paragraphs) to its pending_path.

  Bad input stops the run here, before any tagging. Returns the number of
  documents to tag.
  """
  if pending and not os.path.isdir(untagged_dir(output_dir)):
    os.makedirs(untagged_dir(output_dir))
  writers = {j: io.open(pending_path(output_dir, j, num_output_shards), "w",
                        encoding="utf-8") for j in pending}
  total = 0
  try:
    for doc_index, (source, paragraphs) in enumerate(
        read_raw_documents(input_files, on_error, skipped, counts=counts)):
      writer = writers.get(doc_index % num_output_shards)
      if writer is not None:
        writer.write(json.dumps({"source": source, "paragraphs": paragraphs},
                                ensure_ascii=False) + u"\n")
        total += 1
  finally:
    for writer in writers.values():
      writer.close()
  return total


def remove_pending(output_dir, pending, num_output_shards):
  """Removes the untagged documents of this machine's `pending` shards, and
  their directory once no machine has any left there."""
  for j in pending:
    path = pending_path(output_dir, j, num_output_shards)
    if os.path.exists(path):
      os.remove(path)
  try:
    os.rmdir(untagged_dir(output_dir))
  except OSError:
    pass  # absent, or another machine's documents wait there


# tag_shard analyses whole documents in groups of at least this many
# batches of sentences, sorted by length within the group.
SORTED_BATCHES_PER_GROUP = 16


def tag_shard(ltp, output_dir, index, num_output_shards, batch_size,
              max_sentence_chars, progress=None):
  """Tags the documents that split_input set aside for one output shard;
  writes the shard atomically and removes its untagged documents.

  Returns the shard's TagStats (also saved beside it, for resumed runs).
  """
  stats = TagStats()
  path = shard_path(output_dir, index, num_output_shards)
  untagged = pending_path(output_dir, index, num_output_shards)
  # The shard exists only when complete, its counts beside it.
  with io.open(untagged, encoding="utf-8") as reader, \
      atomic_files.atomic_open(path) as writer:

    def tag(group):
      for document in tag_documents(ltp, group, batch_size,
                                    max_sentence_chars, stats):
        writer.write(json.dumps(document, ensure_ascii=False) + u"\n")
      if progress is not None:
        progress(len(group))

    # Whole documents, in groups of at least SORTED_BATCHES_PER_GROUP
    # batches of sentences (tag_documents sorts each group by length).
    group, sentences = [], 0
    for line in reader:
      document = json.loads(line)
      group.append((document["source"], document["paragraphs"]))
      sentences += sum(len(split_sentences(p, max_sentence_chars))
                       for p in document["paragraphs"])
      if sentences >= SORTED_BATCHES_PER_GROUP * batch_size:
        tag(group)
        group, sentences = [], 0
    if group:
      tag(group)
    result = stats.to_dict()
    atomic_files.write_text(path + ".stats.json", json.dumps(result))
  os.remove(untagged)
  return result


_WORKER = {}


def _init_worker(settings):
  script_errors.init_worker_signals()
  _WORKER["ltp"] = load_ltp(settings.ltp_model, settings.device,
                            settings.num_threads)
  _WORKER["settings"] = settings


def _tag_shard_in_worker(index):
  s = _WORKER["settings"]
  return tag_shard(_WORKER["ltp"], s.output_dir, index,
                   s.num_output_shards, s.batch_size,
                   s.max_sentence_chars)


# The settings that decide the output (not the machine's share or speed).
_RECORDED = ("ltp_model", "num_output_shards", "max_sentence_chars",
             "on_error")
# What the tagger writes in --output_dir (all that --overwrite removes).
OUTPUTS = ("tagged-*-of-*.jsonl", "tagged-*-of-*.jsonl.stats.json",
           "tagged-*.tmp", ".untagged")


def output_directory(settings):
  """The outputs.OutputDirectory of a tagging run: its input and settings
  are recorded beside the shards, and a later run with other input or
  settings is refused (it would keep the finished shards of the first)
  unless --overwrite. Each machine's share (--shard_index) has its own
  lock, so that several machines can fill one directory."""
  recorded = collections.OrderedDict(
      [("input_files", [fingerprints.describe_file(path)
                        for path in settings.input_files])])
  recorded.update((name, getattr(settings, name)) for name in _RECORDED)
  return outputs.OutputDirectory(
      settings.output_dir, "linguistic_tagger.py", recorded, OUTPUTS,
      inputs=settings.input_files,
      overwrite=settings.overwrite,
      lock_name="%s-%d-of-%d" % (outputs.LOCK, settings.shard_index,
                                 settings.num_shards))


def _tag_pending(settings, pending, total):
  """Tags the pending shards, in this process or in --num_workers, with a
  progress bar over their `total` documents."""
  from tqdm import tqdm
  with tqdm(total=total, unit="doc", disable=not total) as bar:
    if settings.num_workers <= 1 or len(pending) <= 1:
      ltp = load_ltp(settings.ltp_model, settings.device,
                     settings.num_threads) if pending else None
      for j in pending:
        tag_shard(ltp, settings.output_dir, j, settings.num_output_shards,
                  settings.batch_size, settings.max_sentence_chars,
                  progress=bar.update)
      return
    # Load the model here once first: a model that fails to load in the
    # workers would make the pool start new workers forever.
    load_ltp(settings.ltp_model, "cpu", 1)
    pool = multiprocessing.get_context("spawn").Pool(
        min(settings.num_workers, len(pending)), _init_worker, (settings,))
    try:
      for result in pool.imap_unordered(_tag_shard_in_worker, pending):
        bar.update(result["documents"])
    finally:
      pool.terminate()
      pool.join()
      # A worker stopped by terminate leaves its shard's temporary file.
      for j in pending:
        atomic_files.remove_abandoned(shard_path(settings.output_dir, j,
                                                 settings.num_output_shards))


def run(settings, log=print):
  """Tags every pending shard of this machine; returns the merged summary."""
  if not 0 <= settings.shard_index < settings.num_shards:
    raise script_errors.InputError("--shard_index must be in 0..%d." %
                                   (settings.num_shards - 1))
  with output_directory(settings):
    return _run_in_output_directory(settings, log)


def _run_in_output_directory(settings, log):
  """run() once the output directory is locked and recorded."""
  output_dir = settings.output_dir
  num_output_shards = settings.num_output_shards
  mine = [j for j in range(num_output_shards)
          if j % settings.num_shards == settings.shard_index]
  done = [j for j in mine
          if os.path.exists(shard_path(output_dir, j, num_output_shards))]
  pending = [j for j in mine if j not in done]

  # The corpus is read once, checked whole (bad input stops the run before
  # any tagging) and cut into the pending shards' documents. Whatever
  # happens, they go at the end (a re-run splits the corpus anew), so that a
  # failed run leaves no file behind.
  skipped = []
  counts = collections.Counter()
  try:
    total = split_input(settings.input_files, output_dir, pending,
                        num_output_shards, settings.on_error, skipped,
                        counts)
    for what, count in sorted(counts.items()):
      log("%d %s (the tokenizer drops them too)." % (count, what))
    log("%d shards of %d for this machine: %d already done, %d to tag "
        "(%d documents)." % (len(mine), num_output_shards, len(done),
                             len(pending), total))
    start = time.time()
    _tag_pending(settings, pending, total)
    elapsed = time.time() - start
  finally:
    remove_pending(output_dir, pending, num_output_shards)

  # The summary covers every shard of this machine, resumed ones included.
  summary = TagStats()
  for j in mine:
    with io.open(shard_path(output_dir, j, num_output_shards) + ".stats.json",
                 encoding="utf-8") as f:
      summary.merge(TagStats(json.load(f)))
  return summary, elapsed, len(skipped)


def format_summary(summary, elapsed, skipped_lines):
  lines = ["Documents: %d" % summary.documents,
           "Sentences: %d" % summary.sentences,
           "Words: %d" % summary.words,
           "Time: %.1f s" % elapsed,
           "Skipped bad lines: %d" % skipped_lines]
  for task in linguistic_tags.TASKS:
    counts = summary.tags[task]
    lines.append("%s: %s" % (task.upper(), ", ".join(
        "%s %d" % (tag, n) for tag, n in counts.most_common())))
  missing = ", ".join("%s %d" % (k, n)
                      for k, n in sorted(summary.missing.items()))
  lines.append("Missing labels (no docs/spec.md §1 index): %s" %
               (missing or "none"))
  return "\n".join(lines)


# The settings of define_ltp_flags, which the tagger and the Beam pipeline
# share.
LtpSettings = collections.namedtuple("LtpSettings", [
    "ltp_model", "device", "batch_size", "num_threads", "max_sentence_chars",
    "on_error"])

# The settings of a tagging run (run()): LtpSettings, the input, and the
# machine's share of the output shards.
TaggingSettings = collections.namedtuple(
    "TaggingSettings", LtpSettings._fields + (
        "input_files", "output_dir", "num_output_shards", "num_shards",
        "shard_index", "num_workers", "overwrite"))


def ltp_settings_from_flags(flag_values):
  """The LtpSettings of the flags of define_ltp_flags."""
  return LtpSettings(**{field: getattr(flag_values, field)
                        for field in LtpSettings._fields})
