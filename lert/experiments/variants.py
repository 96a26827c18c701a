# coding=utf-8
"""The paper's experiments (Table 7, Table 8, Figure 3, Table 9): each a list
of pre-training variants that differ in one setting, and the scales they
run at (the model, the pre-training recipe, how the fine-tuning recipe is
scaled). No TensorFlow here.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import os

from lert.contract import script_errors
from lert.tagging import linguistic_tags


# A pre-training variant: its name in the paper's table, the linguistic
# heads trained, the LIP schedule and order, and the masking mode.
Variant = collections.namedtuple("Variant", [
    "name", "linguistic_tasks", "lip_schedule", "lip_order", "masking"])


def _variant(name, tasks="", schedule="none", order="PND", masking="none"):
  return Variant(name, tuple(linguistic_tags.parse_task_list(tasks)),
                 schedule, order, masking)


# An experiment: its title, the model size and pre-training steps of the
# paper, its variants (the first is the baseline), and the tags a corpus
# must have for it to mean anything.
Experiment = collections.namedtuple("Experiment", [
    "title", "paper_size", "paper_steps", "variants", "needs"])


EXPERIMENTS = collections.OrderedDict([
    ("table7", Experiment(
        "Table 7: LERT-small against an MLM-only BERT-small, same recipe",
        "small", 2000000, [
            _variant("BERT (MLM)"),
            _variant("LERT", "pos,ner,dep", "linear", "PND")], ())),
    # The paper's footnote 6: no task warm-up in the ablation.
    ("table8", Experiment(
        "Table 8: ablation of the linguistic tasks (no task warm-up)",
        "base", 500000, [
            _variant("MLM"), _variant("+POS", "pos"), _variant("+NER", "ner"),
            _variant("+DEP", "dep"), _variant("+All", "pos,ner,dep")], ())),
    ("figure3", Experiment(
        "Figure 3: the order of the linguistic tasks in LIP",
        "base", 1000000, [
            _variant("PND", "pos,ner,dep", "linear", "PND"),
            _variant("PDN", "pos,ner,dep", "linear", "PDN"),
            _variant("NPD", "pos,ner,dep", "linear", "NPD"),
            _variant("DNP", "pos,ner,dep", "linear", "DNP"),
            _variant("no warm-up", "pos,ner,dep")], linguistic_tags.TASKS)),
    # What pre-training adds where fine-tuning data is scarce: Table 7's
    # pair fine-tuned on a few training sizes (--train_sizes), where the
    # differences between pre-trainings are widest (issue 34).
    ("lowresource", Experiment(
        "Low-resource fine-tuning: Table 7's pair on a few training sizes",
        "small", 2000000, [
            _variant("BERT (MLM)"),
            _variant("LERT", "pos,ner,dep", "linear", "PND")], ())),
    # What the encoders of Table 7's pair know of words, entities and
    # relations, layer by layer: linear probes on gold annotation that
    # pre-training never saw (run_probe.py; no fine-tuning).
    ("probe", Experiment(
        "Probes: Table 7's pair, layer by layer (linear probes)",
        "small", 2000000, [
            _variant("BERT (MLM)"),
            _variant("LERT", "pos,ner,dep", "linear", "PND")], ())),
    ("table9", Experiment(
        "Table 9: linguistic masking (LMLM), MLM objective only",
        "base", 500000, [
            _variant("MLM"), _variant("POS-mask", masking="pos"),
            _variant("NER-mask", masking="ner"),
            _variant("DEP-mask", masking="dep"),
            _variant("All-mask", masking="all"),
            _variant("Mix-mask", masking="mix")], ())),
])


# The row of a model fine-tuned from random weights, in every table with
# --from_scratch: what pre-training adds at all.
FROM_SCRATCH = Variant("from scratch", (), None, None, None)


def variants_for(experiment, corpus_tasks, names=None):
  """The variants of an experiment that a corpus with labels for
  `corpus_tasks` can train: a variant needing a missing task is left out,
  except "all tasks" variants, which keep the tasks there are (+All on a
  corpus without DEP trains POS+NER, and LERT POS+NER with their LIP
  schedule). Figure 3, which orders all three, needs all three. Returns
  (variants, notes)."""
  kept, notes = [], []
  lacking = [t for t in EXPERIMENTS[experiment].needs if t not in corpus_tasks]
  if lacking:
    return [], ["%s left out: it compares schedules of all three tasks and "
                "the corpus has no %s labels." % (
                    experiment, "/".join(t.upper() for t in lacking))]
  for variant in EXPERIMENTS[experiment].variants:
    tasks = variant.linguistic_tasks
    missing = [t for t in tasks if t not in corpus_tasks]
    masked = [t for t in linguistic_tags.TASKS if t not in corpus_tasks and (
        variant.masking in ("all", "mix", t))]
    if masked:
      # All-mask and Mix-mask write the three tags: never under their names
      # with fewer (create_pretraining_data.py refuses them too).
      notes.append("%s %s left out: the corpus has no %s labels." % (
          experiment, variant.name, "/".join(m.upper() for m in masked)))
      continue
    if missing and len(tasks) < len(linguistic_tags.TASKS):
      notes.append("%s %s left out: the corpus has no %s labels." % (
          experiment, variant.name, "/".join(m.upper() for m in missing)))
      continue
    if missing:
      present = tuple(t for t in tasks if t in corpus_tasks)
      variant = variant._replace(
          name="%s (%s)" % (variant.name, "+".join(t.upper()
                                                   for t in present)),
          linguistic_tasks=present)
    kept.append(variant)
  if names:
    kept = [v for v in kept if v.name in names or
            v.name.split(" (")[0] in names]
  return kept, notes


def check_variant_names(experiment_names, names):
  """Every name of --variants must be a variant of one of the experiments."""
  known = [v.name for e in experiment_names for v in EXPERIMENTS[e].variants]
  short = [n.split(" (")[0] for n in known]  # "BERT" for "BERT (MLM)"
  for name in names or ():
    if name not in known and name not in short:
      raise script_errors.InputError(
          "--variants: %s is not a variant of %s (%s)." % (
              name, ", ".join(experiment_names), ", ".join(
                  collections.OrderedDict.fromkeys(known))))


def variant_key(variant):
  """The variant's directory name, from its settings: variants of several
  experiments with the same settings share their cells."""
  if variant.masking != "none":
    return "lmlm-" + variant.masking
  if not variant.linguistic_tasks:
    return "mlm"
  key = "-".join(variant.linguistic_tasks)
  if variant.lip_schedule == "none":
    return key + "-nowarmup"
  return key + "-" + variant.lip_order


# The settings of a scale: the model, the pre-training recipe, and how the
# fine-tuning recipe is scaled (None: the paper's).
Scale = collections.namedtuple("Scale", [
    "name", "bert_config", "size", "max_seq_length", "max_predictions_per_seq",
    "dupe_factor", "train_batch_size", "learning_rate", "num_train_steps",
    "num_warmup_steps", "finetune_learning_rate", "finetune_epochs",
    "finetune_max_seq_length", "finetune_batch_size", "max_train_examples",
    "max_eval_examples", "seeds", "record_files", "from_scratch",
    "train_sizes"])


# The mini recipe's peak learning rate, from a sweep of MLM alone on People's
# Daily (docs/experiments.md#the-mini-recipe): at 1e-3 the encoder collapses
# and stays so; at 1e-4 its MLM loss reaches the unigram entropy only at step
# 2,000; at 3e-4 it is healthy from step 500 on, with the lowest held-out
# loss at every checkpoint.
MINI_LEARNING_RATE = 3e-4

SCALES = collections.OrderedDict([
    # CPU-sized: the 4-layer, 128-wide configs/lert_config_tiny.json, about
    # 14 minutes per pre-training on two cores. The recipe and the reasons
    # for it: docs/experiments.md#the-mini-recipe (a sweep of MLM alone;
    # fine-tuning epochs as Table 3's small models; 5 seeds; the low-resource
    # sizes below the 2,000 training examples of the tables, whose samples
    # hold theirs).
    ("mini", Scale("mini", "configs/lert_config_tiny.json", "small", 128, 20,
                   2, 32, MINI_LEARNING_RATE, 2000, 200, 2e-4, None, 128, 32,
                   2000, 500, 5, 8, True, (250, 1000))),
    # One GPU: LERT-small, tens of minutes per variant; fine-tuning as the
    # paper's small models, on the whole task data.
    ("small", Scale("small", "configs/lert_config_small.json", "small", 128,
                    20, 5, 128, 5e-4, 20000, 1000, None, None, None, 32,
                    None, None, 3, 8, True, (250, 1000, 4000))),
    # The paper's sizes, batch, length and steps (docs/spec.md §5), for a
    # TPU v3-8 or a GPU node; the model size and steps are the experiment's.
    ("paper", Scale("paper", None, None, 512, 75, 10, None, 1e-4, None,
                    10000, None, None, None, 32, None, None, 5, 8, False,
                    (250, 1000, 4000))),
])


PAPER_BATCH = {"small": 1024, "base": 416, "large": 256}


# A tiny scale for the tests: a few steps on the sample corpus.
TEST_SCALE = Scale("test", "configs/lert_config_tiny.json", "small", 64, 10,
                   1, 8, 1e-3, 4, 1, 1e-3, 1, 64, 8, 40, 20, 2, 1, False,
                   (10, 20))


def resolve_scale(scale, experiment):
  """The scale with the experiment's paper settings filled in."""
  paper = EXPERIMENTS[experiment]
  if scale.name != "paper":
    return scale
  return scale._replace(
      bert_config="configs/lert_config_%s.json" % paper.paper_size,
      size=paper.paper_size, train_batch_size=PAPER_BATCH[paper.paper_size],
      num_train_steps=paper.paper_steps)


def model_key(scale):
  """The model and steps part of a variant's directory."""
  name = os.path.basename(scale.bert_config)
  if name.startswith("lert_config_"):
    name = name[len("lert_config_"):]
  return "%s-%d" % (name.rsplit(".", 1)[0], scale.num_train_steps)
