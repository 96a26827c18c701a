# coding=utf-8
"""The summary of a pre-training data run: documents, instances, masked
positions and tags counted, merged across workers, reported, and checked
against --max_untagged_share.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections

from lert.contract import input_reading
from lert.contract import script_errors
from lert.pretraining_data import tagged_documents
from lert.tagging import linguistic_tags


def check_untagged_share(summary, mode, max_share, input_files):
  """After the records are made, before they are kept: raises InputError
  when more than `max_share` of the documents lack a tag the mode writes
  (their tokens got [MASK]: the records are partly of another mode)."""
  for task in tagged_documents.masking_tasks(mode):
    share = summary.untagged[task] / float(max(summary.documents, 1))
    if share > max_share:
      raise script_errors.InputError(
          "%s: %d of %d documents (%.1f%%) carry no %s tag, more than "
          "--max_untagged_share=%g allows for --linguistic_masking=%s: "
          "their masked tokens would get [MASK]. Tag those documents, or "
          "raise --max_untagged_share." % (
              input_reading.describe_files(input_files), summary.untagged[task],
              summary.documents, 100.0 * share, task.upper(), max_share,
              mode))


class Summary(object):
  """Counts for the closing report."""

  def __init__(self):
    self.documents = 0
    self.instances = 0
    self.tokens = 0
    self.corpus_tokens = 0  # of the input, once per dupe
    self.content_tokens = 0  # of the instances, [CLS] and [SEP] left out
    self.masked = 0
    self.ngrams = collections.Counter()
    self.labels = {task: collections.Counter()
                   for task in linguistic_tags.TASKS}
    self.missing = collections.Counter()
    # Documents that carry no tag of a task (every one null).
    self.untagged = collections.Counter()
    # The 80% case's tokens: "plain" [MASK], or per task its tag masks
    # (--linguistic_masking; an "all" token counts once per tag).
    self.mask_tokens = collections.Counter()

  def add(self, instance):
    self.instances += 1
    self.tokens += len(instance.tokens)
    self.content_tokens += (len(instance.tokens) -
                            instance.tokens.count("[CLS]") -
                            instance.tokens.count("[SEP]"))
    self.masked += len(instance.masked_positions)
    self.ngrams.update(instance.ngram_lengths)
    for i in instance.masked_positions:
      token = instance.tokens[i]
      if token == "[MASK]":
        self.mask_tokens["plain"] += 1
      elif token.startswith("[MASK-"):
        # [MASK-POS-n] counts for "pos"
        self.mask_tokens.update(
            name[len("[MASK-"):].split("-", 1)[0].lower()
            for name in linguistic_tags.split_mask_token(token))
    for column, task in enumerate(linguistic_tags.TASKS):
      tags = [tags[column] for tags in instance.tags]
      self.missing[task] += tags.count(None)
      self.labels[task].update(tag for tag in tags if tag is not None)

  def merge(self, other):
    self.documents += other.documents
    self.instances += other.instances
    self.tokens += other.tokens
    self.corpus_tokens += other.corpus_tokens
    self.content_tokens += other.content_tokens
    self.masked += other.masked
    self.ngrams.update(other.ngrams)
    self.mask_tokens.update(other.mask_tokens)
    for task in linguistic_tags.TASKS:
      self.labels[task].update(other.labels[task])
    self.missing.update(other.missing)
    self.untagged.update(other.untagged)

  def counters(self):
    """The counts as one flat dict name -> int (Beam metrics, JSON)."""
    counts = {"documents": self.documents, "instances": self.instances,
              "tokens": self.tokens, "corpus_tokens": self.corpus_tokens,
              "content_tokens": self.content_tokens, "masked": self.masked}
    counts.update(("ngram_%d" % n, c) for n, c in self.ngrams.items())
    counts.update(("mask_tokens_%s" % kind, c)
                  for kind, c in self.mask_tokens.items())
    for task in linguistic_tags.TASKS:
      counts.update(("%s_label_%s" % (task, linguistic_tags.id_to_tag(task, i)),
                     c) for i, c in self.labels[task].items())
      counts["%s_missing" % task] = self.missing[task]
      counts["%s_untagged_documents" % task] = self.untagged[task]
    return counts

  @classmethod
  def from_counters(cls, counts):
    """The inverse of counters()."""
    summary = cls()
    for name in ("documents", "instances", "tokens", "corpus_tokens",
                 "content_tokens", "masked"):
      setattr(summary, name, counts.get(name, 0))
    for name, count in counts.items():
      if name.startswith("ngram_"):
        summary.ngrams[int(name[len("ngram_"):])] = count
      if name.startswith("mask_tokens_"):
        summary.mask_tokens[name[len("mask_tokens_"):]] = count
      for task in linguistic_tags.TASKS:
        if name == "%s_missing" % task:
          summary.missing[task] = count
        elif name == "%s_untagged_documents" % task:
          summary.untagged[task] = count
        elif name.startswith("%s_label_" % task):
          tag = name[len("%s_label_" % task):]
          summary.labels[task][linguistic_tags.tag_to_id(task, tag)] = count
    return summary

  def report(self):
    lines = ["Documents: %d" % self.documents,
             "Instances: %d" % self.instances,
             "Tokens: %d" % self.tokens,
             "Masked tokens: %d (%.2f%%)" % (
                 self.masked, 100.0 * self.masked / max(self.tokens, 1)),
             "Corpus tokens in the records: %d of %d (%.2f%%; every "
             "dupe counted)" % (
                 self.content_tokens, self.corpus_tokens,
                 100.0 * self.content_tokens / max(self.corpus_tokens, 1))]
    total = sum(self.ngrams.values())
    lines.append("N-gram lengths: " + ", ".join(
        "%d: %d (%.1f%%)" % (n, self.ngrams[n], 100.0 * self.ngrams[n] /
                             max(total, 1)) for n in sorted(self.ngrams)))
    tagged = [task for task in linguistic_tags.TASKS
              if self.mask_tokens[task]]
    if tagged:
      lines.append("Mask tokens: [MASK] %d; tag masks %s" % (
          self.mask_tokens["plain"], ", ".join(
              "%s %d" % (task.upper(), self.mask_tokens[task])
              for task in linguistic_tags.TASKS)))
    if any(self.untagged.values()):
      lines.append("Documents without tags: " + ", ".join(
          "%s %d (%.2f%%)" % (task.upper(), self.untagged[task],
                              100.0 * self.untagged[task] /
                              max(self.documents, 1))
          for task in linguistic_tags.TASKS))
    for task in linguistic_tags.TASKS:
      counts = self.labels[task]
      top = ", ".join("%s %d" % (linguistic_tags.id_to_tag(task, i), c)
                      for i, c in counts.most_common(8))
      lines.append("%s labels: %s; missing %d (%.2f%% of masked)" % (
          task.upper(), top, self.missing[task],
          100.0 * self.missing[task] / max(self.masked, 1)))
    return "\n".join(lines)
