# coding=utf-8
"""The classification tasks of the paper: readers of their public file
layouts, their labels, and the features of an example.

The layouts read, per task:

  * xnli: Google's multilingual tsv (`language` column; `zh` rows kept, the
    others counted), Google's translated MNLI train (`premise hypo label`,
    `contradictory`), ERNIE's zh-only tsv (`text_a text_b label`, with or
    without header);
  * ocnli: CLUE JSON lines `sentence1 sentence2 label`; `-` (no gold label)
    is skipped and counted;
  * chnsenticorp: tsv `label text_a` with header (any column order, an extra
    `qid` column) or without;
  * lcqmc: tsv `text_a text_b label`, with or without header;
  * bq: CSV `sentence1,sentence2,label` with header, with or without a BOM;
  * tnews: CLUE JSON lines `label sentence` (label ids 100-116 with gaps).

All of them plain or gzipped, read by `input_reading.read_lines`. Blank
lines are passed over. A missing or extra column (a tab inside a text), an
empty text_a, an unknown label or an empty file is an error naming the file
and line. An empty text_b is no second segment, as in Google's
run_classifier.py.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections
import csv
import itertools
import json

from lert.contract import input_reading
from lert.contract import script_errors
from lert.finetuning import packing

# One example; label is None where the file has no label (a test set).
Example = collections.namedtuple(
    "Example", ["guid", "text_a", "text_b", "label", "source"])

# The examples of a file and the counted skips (reason -> count).
ReadResult = collections.namedtuple("ReadResult", ["examples", "skipped"])

# A task: its labels (index order of the output layer) and its reader.
Task = collections.namedtuple("Task", ["name", "labels", "reader"])

NLI_LABELS = ("contradiction", "entailment", "neutral")
TNEWS_LABELS = ("100", "101", "102", "103", "104", "106", "107", "108",
                "109", "110", "112", "113", "114", "115", "116")


def _tsv(path):
  for number, line in input_reading.read_lines(path):
    if line.strip():
      yield "%s:%d" % (path, number), line.split("\t")


def _table(path, rows, columns, header_names, optional=("label",)):
  """Examples of a table: the header (if its first row has every name in
  `header_names`) says where each column is, else `columns` does.

  columns: dict field -> index without header; header_names: dict field ->
  header name. Yields (where, dict field -> value or None).
  """
  rows = iter(rows)
  first = next(rows, None)
  if first is None:
    raise script_errors.InputError("%s holds no example." % path)
  where, fields = first
  names = [f.strip() for f in fields]
  if all(name in names for field, name in header_names.items()
         if field not in optional):
    positions = {field: names.index(name) for field, name in
                 header_names.items() if name in names}
    width = len(names)
  else:
    positions = dict(columns)
    width = max(columns.values()) + 1
    rows = itertools.chain([first], rows)
  seen = 0
  for where, fields in rows:
    seen += 1
    # Every row has the header's columns (or the layout's): a text holding
    # a tab, or a missing column, would shift or drop a field.
    if len(fields) != width:
      raise script_errors.InputError(
          "%s: %d columns, expected %d (%s)." % (
              where, len(fields), width, ", ".join(
                  field for field, _ in sorted(positions.items(),
                                               key=lambda x: x[1]))))
    yield where, {field: fields[index] for field, index in positions.items()}
  if not seen:
    raise script_errors.InputError("%s holds a header and no example." % path)


def _json_lines(path):
  for number, line in input_reading.read_lines(path):
    if not line.strip():
      continue
    where = "%s:%d" % (path, number)
    try:
      value = json.loads(line)
    except ValueError as e:
      raise script_errors.InputError("%s: not valid JSON (%s)." % (where, e))
    if not isinstance(value, dict):
      raise script_errors.InputError("%s: expected a JSON object." % where)
    yield where, value


def _build(task_labels, items, skip_label=None):
  """Examples from (where, values) with text_a, text_b, label; checks
  labels and counts skips."""
  examples, skipped = [], collections.Counter()
  where = "the file"
  for where, values in items:
    for field in ("text_a", "text_b"):
      if values.get(field) is not None and not isinstance(values[field],
                                                           str):
        raise script_errors.InputError("%s: %s is not a string." %
                                       (where, field))
    if not (values.get("text_a") or "").strip():
      raise script_errors.InputError("%s: no text (text_a is empty)." % where)
    label = values.get("label")
    if label is not None:
      label = str(label).strip()
      if skip_label is not None and label == skip_label:
        skipped["label %r (no gold label)" % skip_label] += 1
        continue
      if label not in task_labels:
        raise script_errors.InputError("%s: unknown label %r (labels: %s)." %
                                   (where, label, ", ".join(task_labels)))
    examples.append(Example("%d" % len(examples), values["text_a"],
                            values.get("text_b"), label, where))
  if not examples:
    raise script_errors.InputError("%s: no usable example up to here." % where)
  return ReadResult(examples, skipped)


def read_xnli(path):
  rows = list(_tsv(path))
  if not rows:
    raise script_errors.InputError("%s holds no example." % path)
  header = [f.strip() for f in rows[0][1]]
  skipped = collections.Counter()
  if "language" in header:  # Google's multilingual xnli.{dev,test}.tsv
    items = []
    for where, values in _table(path, rows, {}, {
        "language": "language", "text_a": "sentence1",
        "text_b": "sentence2", "label": "gold_label"}):
      if values["language"] != "zh":
        skipped["language other than zh"] += 1
        continue
      items.append((where, values))
  elif "premise" in header:  # Google's translated MNLI train
    items = [(where, dict(values, label=(
        "contradiction" if values.get("label") == "contradictory"
        else values.get("label"))))
             for where, values in _table(path, rows, {}, {
                 "text_a": "premise", "text_b": "hypo", "label": "label"})]
  else:  # ERNIE's zh-only layout
    items = list(_table(path, rows, {"text_a": 0, "text_b": 1, "label": 2},
                        {"text_a": "text_a", "text_b": "text_b",
                         "label": "label"}))
  result = _build(NLI_LABELS, items)
  result.skipped.update(skipped)
  return result


def read_ocnli(path):
  items = [(where, {"text_a": v.get("sentence1"), "text_b": v.get("sentence2"),
                    "label": v.get("label")})
           for where, v in _json_lines(path)]
  for where, values in items:
    if values["text_b"] is None:
      raise script_errors.InputError("%s: no sentence2." % where)
  return _build(NLI_LABELS, items, skip_label="-")


def read_chnsenticorp(path):
  return _build(("0", "1"), _table(path, _tsv(path), {"label": 0, "text_a": 1},
                                   {"label": "label", "text_a": "text_a"}))


def read_lcqmc(path):
  return _build(("0", "1"), _table(path, _tsv(path),
                                   {"text_a": 0, "text_b": 1, "label": 2},
                                   {"text_a": "text_a", "text_b": "text_b",
                                    "label": "label"}))


def read_bq(path):
  lines = [(number, line) for number, line in input_reading.read_lines(path)
           if line.strip()]
  rows = [("%s:%d" % (path, number), fields) for (number, _), fields in
          zip(lines, csv.reader([line for _, line in lines]))]
  return _build(("0", "1"), _table(path, rows, {"text_a": 0, "text_b": 1,
                                                "label": 2},
                                   {"text_a": "sentence1",
                                    "text_b": "sentence2",
                                    "label": "label"}))


def read_tnews(path):
  return _build(TNEWS_LABELS, [
      (where, {"text_a": v.get("sentence"), "label": v.get("label")})
      for where, v in _json_lines(path)])


TASKS = collections.OrderedDict((task.name, task) for task in [
    Task("xnli", NLI_LABELS, read_xnli),
    Task("ocnli", NLI_LABELS, read_ocnli),
    Task("chnsenticorp", ("0", "1"), read_chnsenticorp),
    Task("lcqmc", ("0", "1"), read_lcqmc),
    Task("bq", ("0", "1"), read_bq),
    Task("tnews", TNEWS_LABELS, read_tnews),
])


def check_labelled(examples):
  """Raises InputError naming the first example without a label (training
  and evaluation need every one)."""
  for example in examples:
    if example.label is None:
      raise script_errors.InputError("%s: no label." % example.source)


def example_features(example, index, label_map, tokenizer, max_seq_length):
  """(feature row, whether the text was truncated) of an example."""
  tokens_a = tokenizer.tokenize(example.text_a)
  tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else []
  # As Google's run_classifier: a text_b of no tokens (empty or white
  # space) is no second segment, and leaves room for one more A token.
  room = max_seq_length - (3 if tokens_b else 2)
  truncated = packing.truncate_pair(tokens_a, tokens_b, room)
  row = packing.pack_tokens(tokenizer, tokens_a, tokens_b, max_seq_length)
  row["label_id"] = [label_map.get(example.label, 0)]
  row["example_index"] = [index]
  return row, truncated
