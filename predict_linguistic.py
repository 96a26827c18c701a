# coding=utf-8
"""Asks a LERT checkpoint what it learned: tags and tokens of masked words.

For every masked word the tool prints the checkpoint's top-k tokens for each
of its WordPiece pieces, and its top-k POS, NER and DEP tags (read from the
word's first piece, as in training), with probabilities and a short gloss.

Inputs (one kind per run):

  --text='哈尔滨[MASK][MASK]大学位于哈尔滨市。'     each [MASK] is one position
  --text='哈尔滨工业大学位于哈尔滨市。' --mask=位于,哈尔滨市
                                                 every piece of each occurrence
                                                 of these words is masked
  --input_file=sentences.txt                     one text per line, as --text
  --tagged_file='tagged/*.jsonl'                 linguistic_tagger.py output,
                                                 a document per input: words
                                                 chosen by --random_seed are
                                                 masked, and accuracy against
                                                 the gold tags is printed

Example:

  python predict_linguistic.py --checkpoint=demo_output/model \\
    --bert_config_file=configs/lert_config_tiny.json \\
    --text='哈尔滨工业大学位于哈尔滨市。' --mask=位于,哈尔滨市

A checkpoint without linguistic heads (MLM-only, or converted from Hugging
Face without linguistic_heads.safetensors) gives MLM predictions only, and
says so once.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import contextlib
import json
import os
import random

from absl import app
from absl import flags
import numpy as np
import tensorflow.compat.v1 as tf

from lert.contract import atomic_files
from lert.contract import input_reading
from lert.contract import script_errors
from lert.contract import script_flags
from lert.model import checkpoint_parameters
from lert.model import lert_model
from lert.pretraining_data import instances
from lert.pretraining_data import masking
from lert.pretraining_data import tagged_documents
from lert.running import checkpoints
from lert.running import estimator_runner
from lert.running import input_pipeline
from lert.running import run_config
from lert.tagging import linguistic_tags
import modeling
import tokenization

FLAGS = flags.FLAGS

MASK = "[MASK]"

# A masked word of an input: its text and character span in the input text,
# the positions of its pieces in the model input, the original pieces
# ([MASK] where the user wrote [MASK]) and its gold tag ids (None = unknown).
MaskedWord = collections.namedtuple(
    "MaskedWord", ["text", "start", "end", "positions", "pieces", "gold"])

# One model input: where it comes from, its text, the instance fed to the
# model and its masked words.
PredictionInput = collections.namedtuple(
    "PredictionInput", ["source", "text", "instance", "masked_words"])

# The tokens of a text grouped into words: per word its tokens, character
# span, whether it is masked, and gold tag ids per task (or None).
Word = collections.namedtuple("Word",
                              ["tokens", "start", "end", "masked", "gold"])

NO_GOLD = {task: None for task in linguistic_tags.TASKS}


def define_flags(flag_values=FLAGS):
  define = script_flags.FlagDefiner(flag_values)
  define.string("checkpoint", None,
                "LERT/BERT checkpoint: a prefix (model.ckpt-1000) or a "
                "directory holding one (the latest is used).")
  define.string("bert_config_file", None,
                "Model config (default: bert_config.json beside the "
                "checkpoint).")
  define.string("vocab_file", None,
                "Vocabulary (default: vocab.txt beside the checkpoint, "
                "else configs/vocab.txt).")
  define.bool("do_lower_case", True, "Lower-case the input (Chinese "
              "BERT and LERT: true).")
  define.multi_string("text", None,
                      "A text with [MASK] tokens in it, or with words "
                      "to mask given by --mask; repeat for several.")
  define.string("input_file", None,
                "UTF-8 text file, one input per line, read like "
                "--text.")
  define.list("mask", None,
              "Words to mask in --text/--input_file: every occurrence, "
              "every piece.")
  define.string("tagged_file", None,
                "Comma-separated globs of linguistic_tagger.py JSON "
                "Lines; each document is one input (split at sentence "
                "boundaries to fit) with words masked at random "
                "(--mask_fraction; --random_seed and the document's "
                "index choose them), and the "
                "accuracy against the gold tags is reported.")
  define.float("mask_fraction", 0.15,
               "With --tagged_file: share of each document's words to "
               "mask (at least one).")
  define.integer("max_inputs", None,
                 "Predict at most this many inputs.")
  define.integer("top_k", 3, "Candidates shown per token and per tag.")
  define.integer("max_seq_length", 128,
                 "Tokens per model input; longer inputs are split at "
                 "word boundaries.")
  define.integer("predict_batch_size", 32, "Inputs per batch.")
  define.string("output_file", None,
                "Write the predictions as JSON Lines, one line per "
                "input.")
  define.bool("quiet", False, "Print only the summary, not the table "
              "of every input.")
  run_config.define_run_flags(flag_values)
  define.adopt_module_key_flags(run_config)
  define.required("checkpoint")
  define.at_least_one("top_k", "predict_batch_size")
  run_config.register_batch_validators(("predict_batch_size",),
                                       flag_values)
  define.validator("max_inputs", lambda n: n is None or n >= 1,
                           "--max_inputs must be at least 1.")
  define.validator(
      "mask", lambda words: all(w.strip() for w in words or []),
      "--mask holds an empty word (a stray comma?): give words separated by "
      "single commas.")
  define.validator("max_seq_length", lambda n: n >= 3,
                           "--max_seq_length must be at least 3.")
  define.validator("mask_fraction", lambda f: 0.0 < f <= 1.0,
                           "--mask_fraction must be in (0, 1].")
  define.multi_validator(
      ["text", "input_file", "tagged_file"],
      lambda values: sum(bool(v) for v in values.values()) == 1,
      "Give exactly one of --text, --input_file and --tagged_file.")
  define.multi_validator(
      ["mask", "tagged_file"],
      lambda values: not (values["mask"] and values["tagged_file"]),
      "--mask applies to --text/--input_file; --tagged_file chooses its own "
      "words.")


# ----------------------------------------------------------------------------
# Inputs -> words -> instances.


def text_words(text, tokenizer, mask_words, where):
  """The words of a text: each [MASK] and each occurrence of a word of
  `mask_words` is a masked word; every other token is a word of its own."""
  spans = []  # masked character spans
  for word in sorted(set(mask_words or []), key=len, reverse=True):
    start = text.find(word)
    while start >= 0:
      if not any(s < start + len(word) and start < e for s, e in spans):
        spans.append((start, start + len(word)))
      start = text.find(word, start + len(word))
  words = []
  cursor = 0
  while cursor <= len(text):
    next_mask = text.find(MASK, cursor)
    end = len(text) if next_mask < 0 else next_mask
    for token, start, stop in tokenizer.tokenize_with_offsets(
        text[cursor:end]):
      words.append(Word([token], cursor + start, cursor + stop, False,
                        NO_GOLD))
    if next_mask < 0:
      break
    words.append(Word([MASK], next_mask, next_mask + len(MASK), True,
                      NO_GOLD))
    cursor = next_mask + len(MASK)
  for start, end in sorted(spans):
    inside = [i for i, w in enumerate(words)
              if w.start < end and start < w.end]
    if not inside:
      raise script_errors.InputError(
          "%s: the word %r to mask has no token." % (where, text[start:end]))
    first, last = inside[0], inside[-1]
    if words[first].start < start or words[last].end > end or any(
        words[i].masked for i in inside):
      raise script_errors.InputError(
          "%s: the word %r to mask cuts a token (%r); mask whole tokens." %
          (where, text[start:end],
           [t for i in inside for t in words[i].tokens]))
    tokens = [t for i in inside for t in words[i].tokens]
    words[first:last + 1] = [Word(tokens, start, end, True, NO_GOLD)]
  if not any(word.masked for word in words):
    if mask_words:
      raise script_errors.InputError(
          "%s: nothing to predict: none of the --mask words (%s) occurs in "
          "the text, and it has no [MASK]." % (where, ",".join(mask_words)))
    raise script_errors.InputError(
        "%s: nothing to predict: write [MASK] in the text or give --mask." %
        where)
  return words


def tagged_document_words(sentences, tokenizer, where, mask_fraction, rng):
  """(text, sentences of Words) of a tagged document, its sentences joined;
  a random `mask_fraction` of its words (at least one) is masked."""
  text, result = "", []
  for number, (sentence_text, words, tag_ids) in enumerate(sentences, 1):
    here = "%s: sentence %d" % (where, number)
    sentence = tagged_documents.tokenize_sentence(
        sentence_text, words, tag_ids, tokenizer, here)
    spans = tagged_documents.word_char_spans(sentence_text, words,
                                                    here)
    tokens_of = collections.defaultdict(list)
    for token, word in zip(sentence.tokens, sentence.word_ids):
      tokens_of[word].append(token)
    result.append([Word(tokens_of[i], len(text) + spans[i][0],
                        len(text) + spans[i][1], False,
                        {task: tag_ids[task][i]
                         for task in linguistic_tags.TASKS})
                   for i in sorted(tokens_of)])
    text += sentence_text
  indexes = [(s, w) for s, words in enumerate(result)
             for w in range(len(words))]
  if indexes:
    count = max(1, int(round(len(indexes) * mask_fraction)))
    for s, w in rng.sample(indexes, min(count, len(indexes))):
      result[s][w] = result[s][w]._replace(masked=True)
  return text, result


def build_inputs(source, text, sentences, max_seq_length):
  """PredictionInputs of a text's sentences of Words: `[CLS] words [SEP]`.

  Sentences are packed together up to `max_seq_length`, as in training (a
  model reads a word better in its context); a sentence longer than that is
  split at word boundaries. Chunks without a masked word are left out.
  """
  limit = max_seq_length - 2
  pieces = []  # sentences, and the parts of over-long ones
  for words in sentences:
    current, length = [], 0
    for word in words:
      if len(word.tokens) > limit:
        raise script_errors.InputError(
            "%s: the word %r has %d tokens, more than --max_seq_length "
            "allows." % (source, text[word.start:word.end], len(word.tokens)))
      if length + len(word.tokens) > limit:
        pieces.append(current)
        current, length = [], 0
      current.append(word)
      length += len(word.tokens)
    if current:
      pieces.append(current)
  chunks, current, length = [], [], 0
  for piece in pieces:
    size = sum(len(word.tokens) for word in piece)
    if current and length + size > limit:
      chunks.append(current)
      current, length = [], 0
    current += piece
    length += size
  if current:
    chunks.append(current)
  inputs = []
  for chunk in chunks:
    if not any(word.masked for word in chunk):
      continue
    tokens, positions, labels, tags, masked_words = [], [], [], [], []
    for word in chunk:
      start = len(tokens) + 1
      if word.masked:
        word_positions = list(range(start, start + len(word.tokens)))
        positions += word_positions
        labels += word.tokens
        gold = tuple(word.gold[task] for task in linguistic_tags.TASKS)
        tags += [gold] * len(word_positions)
        masked_words.append(MaskedWord(text[word.start:word.end], word.start,
                                       word.end, word_positions, word.tokens,
                                       word.gold))
        tokens += [MASK] * len(word.tokens)
      else:
        tokens += word.tokens
    tokens = ["[CLS]"] + tokens + ["[SEP]"]
    instance = masking.Instance(
        tokens=tokens, segment_ids=[0] * len(tokens),
        masked_positions=positions, masked_labels=labels, tags=tags,
        ngram_lengths=[])
    inputs.append(PredictionInput(source, text, instance, masked_words))
  return inputs


def read_text_inputs(texts, tokenizer, mask_words, max_seq_length):
  """texts: list of (source, text). Every word of `mask_words` must occur
  in some text."""
  inputs = []
  for source, text in texts:
    words = text_words(text, tokenizer, mask_words, source)
    inputs.extend(build_inputs(source, text, [words], max_seq_length))
  for word in mask_words or []:
    if not any(word in text for _, text in texts):
      raise script_errors.InputError(
          "--mask: the word %r is in none of the %d texts." %
          (word, len(texts)))
  return inputs


def read_text_file(path):
  """(path:line, text) of every non-empty line of a UTF-8 text file."""
  texts = [("%s:%d" % (path, number), line.strip())
           for number, line in input_reading.read_lines(path) if line.strip()]
  if not texts:
    raise script_errors.InputError("%s holds no text." % path)
  return texts


def read_tagged_inputs(input_files, tokenizer, mask_fraction, seed,
                       max_seq_length):
  """The inputs of the tagger's JSON Lines: one per document (split at
  sentence boundaries to fit), words masked by `seed` and the document's
  index."""
  inputs = []
  for index, (where, line) in enumerate(
      tagged_documents.read_documents(input_files)):
    rng = random.Random("%d-%d" % (seed, index))
    text, sentences = tagged_document_words(
        tagged_documents.parse_document(line, where).sentences,
        tokenizer, where,
        mask_fraction, rng)
    inputs.extend(build_inputs(where, text, sentences, max_seq_length))
  return inputs


def input_arrays(inputs, tokenizer, max_seq_length):
  """name -> numpy array [num_inputs, ...] of the model's features."""
  num_positions = max(len(i.instance.masked_positions) for i in inputs)
  rows = [instances.instance_to_features(
      i.instance, tokenizer, max_seq_length, num_positions) for i in inputs]
  schema = lert_model.record_schema(max_seq_length, num_positions)
  return {name: np.array([row[name] for row in rows],
                         dtype=np.float32 if spec.dtype == tf.float32 else
                         np.int32)
          for name, spec in schema.items()
          if name in ("input_ids", "input_mask", "segment_ids",
                      "masked_lm_positions", "masked_lm_weights")}


# ----------------------------------------------------------------------------
# Predictions -> words.


def _top(probs, k, names=None):
  order = np.argsort(-probs, kind="stable")[:k]
  return [(names[i] if names else int(i), float(probs[i])) for i in order]


def word_predictions(item, prediction, tasks, inv_vocab, top_k):
  """The JSON-ready predictions of one input's masked words."""
  index_of = {int(p): j for j, p in enumerate(
      prediction["masked_lm_positions"][:len(
          item.instance.masked_positions)])}
  words = []
  for word in item.masked_words:
    pieces = []
    for position, original in zip(word.positions, word.pieces):
      j = index_of[position]
      pieces.append(collections.OrderedDict([
          ("position", position),
          ("token", None if original == MASK else original),
          ("mlm", [{"token": inv_vocab[int(i)], "prob": round(float(p), 6)}
                   for i, p in zip(prediction["mlm_top_ids"][j][:top_k],
                                   prediction["mlm_top_probs"][j][:top_k])])]))
    out = collections.OrderedDict([("word", word.text),
                                   ("start", word.start), ("end", word.end),
                                   ("pieces", pieces)])
    first = index_of[word.positions[0]]  # tags are read from the first piece
    for task in tasks:
      tags = linguistic_tags.TAGS_BY_TASK[task]
      out[task] = [{"tag": tag, "gloss": linguistic_tags.GLOSSES[task][tag],
                    "prob": round(p, 6)}
                   for tag, p in _top(prediction[task + "_probs"][first],
                                      top_k, tags)]
    if any(word.gold[task] is not None for task in linguistic_tags.TASKS):
      out["gold"] = {task: (None if word.gold[task] is None else
                            linguistic_tags.id_to_tag(task, word.gold[task]))
                     for task in linguistic_tags.TASKS}
    words.append(out)
  return words


class Accuracy(object):
  """Per-task accuracy of the top tag (and of the top MLM token) against the
  gold labels, with the majority-class baseline of the same positions."""

  def __init__(self, tasks):
    self.tasks = tasks
    self.correct = collections.Counter()
    self.total = collections.Counter()
    self.gold = {task: collections.Counter() for task in tasks}

  def add(self, words):
    for word in words:
      for piece in word["pieces"]:
        if piece["token"] is not None:
          self.total["mlm"] += 1
          self.correct["mlm"] += piece["mlm"][0]["token"] == piece["token"]
      for task in self.tasks:
        gold = word.get("gold", {}).get(task)
        if gold is None:
          continue
        self.total[task] += 1
        self.correct[task] += word[task][0]["tag"] == gold
        self.gold[task][gold] += 1

  def results(self):
    """name -> (accuracy, majority baseline or None, count)."""
    results = collections.OrderedDict()
    for name in ["mlm"] + list(self.tasks):
      if not self.total[name]:
        continue
      baseline = None
      if name != "mlm":
        baseline = (self.gold[name].most_common(1)[0][1] /
                    float(self.total[name]))
      results[name] = (self.correct[name] / float(self.total[name]),
                       baseline, self.total[name])
    return results

  def report(self):
    lines = []
    for name, (accuracy, baseline, count) in self.results().items():
      if name == "mlm":
        lines.append("  MLM accuracy %.4f over %d masked tokens" %
                     (accuracy, count))
      else:
        top = self.gold[name].most_common(1)[0][0]
        lines.append("  %s accuracy %.4f over %d masked words (majority "
                     "class %s: %.4f)" % (name.upper(), accuracy, count, top,
                                          baseline))
    return "\n".join(lines)


def format_table(item, words, tasks):
  """The readable terminal block of one input."""
  text = item.text
  marked, cursor = [], 0
  for word in sorted(item.masked_words, key=lambda w: w.start):
    shown = text[word.start:word.end]
    marked.append(text[cursor:word.start] +
                  (shown if shown == MASK else "[" + shown + "]"))
    cursor = word.end
  marked.append(text[cursor:])
  lines = ["%s" % item.source, "  " + "".join(marked)]
  for word in words:
    gold = word.get("gold")
    head = "  %s" % word["word"]
    if word["word"] == MASK:
      head += " (token %d)" % word["pieces"][0]["position"]
    if gold:
      head += "   (gold: %s)" % " / ".join(
          "%s %s" % (task.upper(), gold[task] or "-")
          for task in linguistic_tags.TASKS)
    lines.append(head)
    lines.append("    MLM  " + "  |  ".join(
        " ".join("%s %.2f" % (c["token"], c["prob"]) for c in piece["mlm"])
        for piece in word["pieces"]))
    for task in tasks:
      lines.append("    %s  %s" % (task.upper(), "   ".join(
          "%s (%s) %.2f" % (c["tag"], c["gloss"], c["prob"])
          for c in word[task])))
  return "\n".join(lines)


# ----------------------------------------------------------------------------
# The script.


def heads_notice(checkpoint, tasks):
  """The one-time notice about linguistic heads a checkpoint lacks."""
  if not tasks:
    return ("Note: %s has no linguistic heads (an MLM-only checkpoint, or one "
            "converted from Hugging Face without %s): only MLM predictions "
            "are shown." % (checkpoint, "linguistic_heads.safetensors"))
  missing = [t.upper() for t in linguistic_tags.TASKS if t not in tasks]
  if missing:
    return ("Note: %s has no %s head: those predictions are not shown." %
            (checkpoint, "/".join(missing)))
  return None


def predict(checkpoint, config, tasks, inputs, tokenizer, max_seq_length,
            top_k, settings, batch_size=32):
  """Yields (input, Estimator prediction) for every input, in order."""
  arrays = input_arrays(inputs, tokenizer, max_seq_length)
  model_fn = lert_model.model_fn_builder(
      bert_config=config, tasks=tasks, use_tpu=settings.use_tpu,
      use_one_hot_embeddings=settings.use_tpu,
      top_k=min(top_k, config.vocab_size), predict_checkpoint=checkpoint)
  runner = estimator_runner.EstimatorRunner(model_fn, settings,
                                            predict_batch_size=batch_size)
  input_fn = input_pipeline.array_input_fn_builder(arrays)
  return zip(inputs, runner.predict(input_fn, checkpoint_path=checkpoint))


def run():
  checkpoint = checkpoints.resolve_checkpoint(FLAGS.checkpoint,
                                              "--checkpoint")
  # A truncated data file is named here, not by a restore mid-run.
  checkpoints.read_whole(checkpoint, "--checkpoint")
  config_file, vocab_file = checkpoints.checkpoint_companions(
      checkpoint, FLAGS.bert_config_file, FLAGS.vocab_file)
  config = modeling.BertConfig.from_json_file(config_file)
  config.check_max_seq_length(FLAGS.max_seq_length, config_file)
  tokenizer = tokenization.FullTokenizer(vocab_file, FLAGS.do_lower_case)
  inv_vocab = linguistic_tags.readable_inverse_vocab(tokenizer.vocab)
  names = {name for name, _ in tf.train.list_variables(checkpoint)}
  if "cls/predictions/transform/dense/kernel" not in names:
    raise script_errors.InputError(
        "%s has no MLM head (cls/predictions/transform): it is an encoder "
        "only, and there is nothing to predict with." % checkpoint)
  tasks = checkpoint_parameters.tasks_in_checkpoint(checkpoint)
  notice = heads_notice(checkpoint, tasks)
  if notice:
    print(notice)

  if FLAGS.tagged_file:
    inputs = read_tagged_inputs(
        input_reading.expand_input_files(FLAGS.tagged_file), tokenizer,
        FLAGS.mask_fraction, FLAGS.random_seed, FLAGS.max_seq_length)
  else:
    texts = ([("--text %d" % (i + 1), t) for i, t in enumerate(FLAGS.text)]
             if FLAGS.text else read_text_file(FLAGS.input_file))
    inputs = read_text_inputs(texts, tokenizer, FLAGS.mask,
                              FLAGS.max_seq_length)
  if FLAGS.max_inputs is not None:
    inputs = inputs[:FLAGS.max_inputs]
  if not inputs:
    raise script_errors.InputError("The input has nothing to predict.")

  # The Estimator only reads: its directory is the checkpoint's.
  settings = run_config.run_settings_from_flags(
      FLAGS, output_dir=os.path.dirname(checkpoint) or ".")
  accuracy = Accuracy(tasks)
  with contextlib.ExitStack() as stack:
    writer = None
    if FLAGS.output_file:
      writer = stack.enter_context(atomic_files.atomic_open(FLAGS.output_file))
    for item, prediction in predict(checkpoint, config, tasks, inputs,
                                    tokenizer, FLAGS.max_seq_length,
                                    FLAGS.top_k, settings,
                                    FLAGS.predict_batch_size):
      words = word_predictions(item, prediction, tasks, inv_vocab,
                               FLAGS.top_k)
      accuracy.add(words)
      if not FLAGS.quiet:
        print(format_table(item, words, tasks) + "\n")
      if writer:
        writer.write(json.dumps(collections.OrderedDict([
            ("source", item.source), ("text", item.text),
            ("masked_words", words)]), ensure_ascii=False) + "\n")
  print("%d inputs, %d masked words." %
        (len(inputs), sum(len(i.masked_words) for i in inputs)))
  report = accuracy.report()
  if FLAGS.tagged_file and report:
    print("Accuracy against the gold tags:\n" + report)
  if writer:
    print("Predictions: %s" % FLAGS.output_file)


def main(_):
  tf.logging.set_verbosity(tf.logging.ERROR)
  script_errors.run_reporting_errors(run, "predict_linguistic.py",
                                     input_pipeline.tensorflow_problem)


if __name__ == "__main__":
  define_flags()
  app.run(main)
