# coding=utf-8
"""The PREDICT output of the pre-training model as JSON, per masked position.

`lert_model.prediction_outputs` builds the tensors (top-k MLM ids and
probabilities, each task's distribution, the gold labels when the input has
them); `masked_position_predictions` turns one record's values into the
JSON-ready dicts that `run_pretraining.py --do_predict` writes. TensorFlow-free.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections

from lert.pretraining_data import records
from lert.tagging import linguistic_tags


def _rounded(values, digits=6):
  return [round(float(v), digits) for v in values]


def masked_position_predictions(prediction, tasks, inv_vocab=None):
  """One record's PREDICT output -> a JSON-ready dict per masked position.

  Each dict holds the `position`, the MLM candidates (`mlm_ids`,
  `mlm_tokens` when `inv_vocab` maps ids to tokens, `mlm_probs`, best
  first) and per task `<task>` (the most probable tag's name) and
  `<task>_probs` (the whole distribution, in the tag order of docs/spec.md
  §1). Gold labels, when the record has them, come as `label_id` and
  `<task>_label` (null for a missing label). Padding positions are left
  out.
  """
  result = []
  for j, weight in enumerate(prediction["masked_lm_weights"]):
    if weight <= 0:
      continue
    item = collections.OrderedDict()
    item["position"] = int(prediction["masked_lm_positions"][j])
    ids = [int(i) for i in prediction["mlm_top_ids"][j]]
    item["mlm_ids"] = ids
    if inv_vocab is not None:
      item["mlm_tokens"] = [inv_vocab.get(i, "[%d]" % i) for i in ids]
      if "masked_input_ids" in prediction:
        inputs = [int(prediction["masked_input_ids"][j])]
        if "masked_mask_tag_ids" in prediction:
          inputs += [int(i) for i in prediction["masked_mask_tag_ids"][j] if i]
        names = [inv_vocab.get(i, "[%d]" % i) for i in inputs]
        item["input_token"] = (names[0] if len(names) == 1 else
                               linguistic_tags.joined_mask_token(names))
    item["mlm_probs"] = _rounded(prediction["mlm_top_probs"][j])
    if "masked_lm_ids" in prediction:
      item["label_id"] = int(prediction["masked_lm_ids"][j])
    for task in tasks:
      probs = prediction[task + "_probs"][j]
      item[task] = linguistic_tags.id_to_tag(task, int(probs.argmax()))
      item[task + "_probs"] = _rounded(probs)
      if records.labels_feature(task) in prediction:
        present = prediction.get(records.label_weights_feature(task))
        if present is not None and present[j] <= 0:
          item[task + "_label"] = None
        else:
          item[task + "_label"] = linguistic_tags.id_to_tag(
              task, int(prediction[records.labels_feature(task)][j]))
    result.append(item)
  return result
