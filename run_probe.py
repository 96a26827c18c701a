# coding=utf-8
r"""Layer-wise linear probes of a frozen encoder: what does each layer know
of parts of speech, entities and syntactic relations?

  python run_probe.py --bert_config_file=configs/lert_config_tiny.json \
    --vocab_file=configs/vocab.txt --init_checkpoint=pretrain/model.ckpt-2000 \
    --tagged_file=pd1998/heldout.jsonl \
    --conllu_train=../shared/data/ud_gsdsimp/zh_gsdsimp-ud-dev.conllu.gz \
    --conllu_test=../shared/data/ud_gsdsimp/zh_gsdsimp-ud-test.conllu.gz \
    --output_dir=probe/mlm

For every task and every layer (0: the embeddings' output, then each
Transformer layer), a multinomial logistic regression on the mean of each
word's WordPiece states, trained on gold annotation that pre-training never
saw and scored by accuracy on held-out sentences, beside the majority
label's accuracy (lert/probing/, docs/experiments.md#probes):

  * pos, ner: People's Daily articles held out from the pre-training corpus
    (convert_pku_corpus.py --held_out_file), split by article
    (--test_share of them for testing);
  * upos, deprel: a Universal Dependencies treebank (CoNLL-U), trained on
    --conllu_train, scored on --conllu_test; deprel names the relation of
    each word to its gold head from both words' features.

--random_init probes an encoder of random weights instead: the control
that tells what the probe learns by itself. Writes probe.md, probe.tsv and
probe.png to --output_dir.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import os
import sys

from absl import app
from absl import flags
import tensorflow.compat.v1 as tf

from lert.contract import atomic_files
from lert.contract import figures
from lert.contract import fingerprints
from lert.contract import outputs
from lert.contract import script_errors
from lert.contract import script_flags
from lert.probing import features
from lert.probing import probe_data
from lert.probing import probe_tables
from lert.probing import probes
from lert.running import checkpoints
from lert.running import input_pipeline
import modeling
import tokenization

FLAGS = flags.FLAGS

TASKS = probe_data.TAGGED_TASKS + probe_data.CONLLU_TASKS


def define_flags(flag_values=FLAGS):
  define = script_flags.FlagDefiner(flag_values)
  define.string("bert_config_file", None, "The encoder's config JSON.")
  define.string("vocab_file", None, "Its WordPiece vocabulary.")
  define.string("init_checkpoint", None,
                "The checkpoint to probe (a prefix, or a directory: its "
                "latest).")
  define.bool("random_init", False,
              "Probe an encoder of random weights (--random_seed) instead "
              "of --init_checkpoint: the control.")
  define.string("tagged_file", None,
                "Tagged JSON Lines with gold words, POS and NER (tasks "
                "pos, ner), e.g. convert_pku_corpus.py --held_out_file.")
  define.float("test_share", 0.2, "The share of --tagged_file's articles "
               "held out for scoring.")
  define.string("conllu_train", None, "CoNLL-U to train the upos and "
                "deprel probes on.")
  define.string("conllu_test", None, "CoNLL-U to score them on.")
  define.list("tasks", None, "Of pos, ner, upos, deprel (default: every "
              "task the given data has).")
  define.integer("max_seq_length", 128, "WordPiece tokens per sentence; "
                 "the words beyond are left out (and counted).")
  define.integer("batch_size", 32, "Sentences per encoder batch.")
  define.float("regularization", 1.0,
               "C of the logistic regression (scikit-learn's: the inverse "
               "of the L2 penalty's weight), the same for every probe.")
  define.integer("max_train_words", 20000,
                 "Train each probe on at most this many words, chosen at "
                 "random (--random_seed) from the training sentences' "
                 "(0: all); every test word is scored.")
  define.float("tolerance", 1e-4,
               "The fit stops when the largest gradient component of the "
               "objective (over the number of words) is below this.")
  define.integer("random_seed", 12345, "Seeds the test articles and "
                 "--random_init's weights.")
  define.string("output_dir", None, "Where probe.md, probe.tsv and "
                "probe.png go.")
  define.bool("overwrite", False, "Replace what an earlier run with "
              "other settings wrote in --output_dir (only its files).")
  define.required("bert_config_file", "vocab_file", "output_dir")
  define.at_least_one("max_seq_length", "batch_size")
  define.validator("max_train_words", lambda n: n >= 0,
                   message="--max_train_words must be >= 0.")
  define.validator("tolerance", lambda x: x > 0,
                   message="--tolerance must be positive.")
  define.validator("test_share", lambda x: 0 < x < 1,
                   message="--test_share must be between 0 and 1.")
  define.validator("regularization", lambda x: x > 0,
                   message="--regularization must be positive.")
  define.validator("tasks", lambda names: names is None or (
      names and all(n in TASKS for n in names)),
                   message="--tasks must be a subset of %s." % ",".join(
                       TASKS))
  define.multi_validator(
      ["init_checkpoint", "random_init"],
      lambda v: bool(v["init_checkpoint"]) != v["random_init"],
      message="Give --init_checkpoint, or --random_init for the control "
      "(one of them).")
  define.multi_validator(
      ["conllu_train", "conllu_test"],
      lambda v: bool(v["conllu_train"]) == bool(v["conllu_test"]),
      message="--conllu_train and --conllu_test go together.")


OUTPUTS = ("probe.md", "probe.tsv", "probe.png")


def main(_):
  script_errors.run_reporting_errors(run, "run_probe.py",
                                     input_pipeline.tensorflow_problem)


def wanted_tasks():
  """The tasks to probe; one without its data is an error now, before
  any encoder runs."""
  have = ((probe_data.TAGGED_TASKS if FLAGS.tagged_file else ()) +
          (probe_data.CONLLU_TASKS if FLAGS.conllu_train else ()))
  tasks = FLAGS.tasks or list(have)
  if not tasks:
    raise script_errors.InputError(
        "Nothing to probe: give --tagged_file (pos, ner) and/or "
        "--conllu_train and --conllu_test (upos, deprel).")
  for task in tasks:
    if task not in have:
      raise script_errors.InputError(
          "--tasks=%s: %s needs %s." % (
              ",".join(tasks), task, "--tagged_file" if task in
              probe_data.TAGGED_TASKS else "--conllu_train and "
              "--conllu_test"))
  return tasks


def read_data(tasks):
  """name -> (train sentences, test sentences) of each data set."""
  data = collections.OrderedDict()
  if any(t in probe_data.TAGGED_TASKS for t in tasks):
    articles = probe_data.read_tagged(FLAGS.tagged_file)
    data["tagged"] = probe_data.split_articles(articles, FLAGS.test_share,
                                               FLAGS.random_seed)
    for task in probe_data.TAGGED_TASKS:
      if task in tasks and not any(
          label is not None for s in data["tagged"][0]
          for label in s.labels[task]):
        raise script_errors.InputError(
            "%s has no %s tags: leave %s out of --tasks." % (
                FLAGS.tagged_file, task.upper(), task))
  if any(t in probe_data.CONLLU_TASKS for t in tasks):
    data["conllu"] = (probe_data.read_conllu(FLAGS.conllu_train),
                      probe_data.read_conllu(FLAGS.conllu_test))
  return data


def run():
  tasks = wanted_tasks()
  bert_config = modeling.BertConfig.from_json_file(FLAGS.bert_config_file)
  tokenizer = tokenization.FullTokenizer(FLAGS.vocab_file,
                                         do_lower_case=True)
  checkpoint = (None if FLAGS.random_init else
                checkpoints.resolve_checkpoint(FLAGS.init_checkpoint))
  data = read_data(tasks)
  data_files = [p for p in (FLAGS.tagged_file, FLAGS.conllu_train,
                            FLAGS.conllu_test) if p]
  inputs = data_files + [FLAGS.bert_config_file, FLAGS.vocab_file]
  settings = collections.OrderedDict([
      ("bert_config", bert_config.to_dict()),
      ("checkpoint", checkpoints.describe_checkpoint(checkpoint)
       if checkpoint else "random weights, seed %d" % FLAGS.random_seed),
      ("data", [fingerprints.describe_file(p) for p in data_files]),
      ("vocab", fingerprints.describe_file(FLAGS.vocab_file)),
      ("tasks", tasks), ("test_share", FLAGS.test_share),
      ("max_seq_length", FLAGS.max_seq_length),
      ("regularization", FLAGS.regularization),
      ("max_train_words", FLAGS.max_train_words),
      ("tolerance", FLAGS.tolerance),
      ("random_seed", FLAGS.random_seed)])
  if checkpoint:
    inputs.append(checkpoints.checkpoint_directory(checkpoint))
  with outputs.OutputDirectory(FLAGS.output_dir, "run_probe.py", settings,
                               OUTPUTS, inputs=inputs,
                               overwrite=FLAGS.overwrite):
    results = []
    for name, (train, test) in data.items():
      sets = []
      for split, sentences in (("train", train), ("test", test)):
        print("%s %s: encoding %d sentences" % (name, split, len(sentences)))
        sys.stdout.flush()
        sets.append(features.word_features(
            bert_config, checkpoint, tokenizer, [s.words for s in sentences],
            FLAGS.max_seq_length, FLAGS.batch_size, FLAGS.random_seed,
            progress=_progress))
      for task in tasks:
        if task not in (probe_data.TAGGED_TASKS if name == "tagged" else
                        probe_data.CONLLU_TASKS):
          continue
        train_examples = probes.subsample(
            probes.task_examples(train, sets[0].rows, task),
            FLAGS.max_train_words, FLAGS.random_seed)
        test_examples = probes.task_examples(test, sets[1].rows, task)
        for skipped, split in ((train_examples.skipped, "training"),
                               (test_examples.skipped, "test")):
          if skipped:
            print("%s: %d %s words left out (beyond --max_seq_length=%d "
                  "or without a WordPiece)" % (task, skipped, split,
                                               FLAGS.max_seq_length))
        print("Probing %s on %d layers: %d training and %d test words" % (
            task, len(sets[0].layers), len(train_examples.labels),
            len(test_examples.labels)))
        sys.stdout.flush()
        results += probes.probe_task(task, sets[0].layers, train_examples,
                                     sets[1].layers, test_examples,
                                     FLAGS.regularization, FLAGS.tolerance)
    title = "Linear probes of %s" % (checkpoint or "random weights (seed "
                                     "%d)" % FLAGS.random_seed)
    markdown, tsv = probe_tables.format_probe_tables(title, results)
    atomic_files.write_text(os.path.join(FLAGS.output_dir, "probe.md"),
                            markdown)
    atomic_files.write_text(os.path.join(FLAGS.output_dir, "probe.tsv"),
                            tsv)
    if figures.available():
      probe_tables.draw_probes(os.path.join(FLAGS.output_dir, "probe.png"),
                               title, results)
    else:
      print("probe.png not drawn: matplotlib is not installed.")
  print(markdown)


def _progress(done, total):
  sys.stdout.write("\r  %d/%d sentences" % (done, total))
  if done == total:
    sys.stdout.write("\n")
  sys.stdout.flush()


if __name__ == "__main__":
  tf.logging.set_verbosity(tf.logging.WARN)
  define_flags()
  app.run(main)
