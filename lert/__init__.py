# coding=utf-8
"""The LERT library: everything but the scripts and Google's three BERT
modules, in one sub-package per stage of the data's way
(docs/architecture.md):

  contract/          what every script keeps: errors, flags, input lines,
                     the output directory and its atomic writer
  tagging/           LTP tagging and the tag sets
  pretraining_data/  documents, instances, masking, the summary, records
  model/             the LERT heads, losses and LIP; checkpoint parameters
  running/           the Estimator runner, hooks, clusters, checkpoints,
                     the input pipeline
  finetuning/        the tasks' readers, packing, the task model, metrics
  experiments/       the paper's recipe, variants, task data and tables
"""

import os

# The shipped configs/ (vocabulary, model configs, the fine-tuning recipe).
CONFIGS_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
