# coding=utf-8
"""The single-machine writer of create_pretraining_data.py: a worker pool
making each document's records with `instances.InstanceMaker`, written
round-robin to the output files in document order (the Beam pipeline has
its own).
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import contextlib
import multiprocessing
import time

from lert.contract import atomic_files
from lert.contract import script_errors
from lert.pretraining_data import data_summary
from lert.pretraining_data import instances
from lert.pretraining_data import records
from lert.pretraining_data import tagged_documents


_WORKER_MAKER = None


def _init_worker(kwargs):
  global _WORKER_MAKER
  script_errors.init_worker_signals()
  _WORKER_MAKER = instances.InstanceMaker(**kwargs)


def _run_worker(item):
  return _WORKER_MAKER(item)


def _batches(iterable, size):
  batch = []
  for item in iterable:
    batch.append(item)
    if len(batch) == size:
      yield batch
      batch = []
  if batch:
    yield batch


def write_pretraining_data(input_files, output_files, maker_kwargs,
                           num_workers=1, docs_per_batch=256,
                           dump_examples=0, log=print,
                           record_writer="auto", max_untagged_share=1.0):
  """Streams documents through InstanceMaker(s) into the output files.

  Returns the Summary. Outputs are written through atomic_files.atomic_path
  (temporary names, renamed at the end), so a failed or killed run leaves no
  partial file behind, and a second run writing the same files at once
  stops. `record_writer`: records.TFRecordWriter's backend. More
  documents lacking a tag of --linguistic_masking than
  `max_untagged_share` raise InputError before the files are kept.
  """
  summary = data_summary.Summary()
  maker_kwargs = dict(maker_kwargs, keep_instances=dump_examples)
  maker = instances.InstanceMaker(**maker_kwargs)
  with contextlib.ExitStack() as stack:
    temp_files = [stack.enter_context(atomic_files.atomic_path(path))
                  for path in output_files]
    writers = [stack.enter_context(records.TFRecordWriter(path,
                                                          record_writer))
               for path in temp_files]
    dump = None
    if dump_examples:
      dump = stack.enter_context(atomic_files.atomic_open(
          output_files[0] + ".examples.txt"))
    _write_documents(input_files, maker, maker_kwargs, writers, dump,
                     summary, num_workers, docs_per_batch, dump_examples, log,
                     max_untagged_share)
  return summary


def _write_documents(input_files, maker, maker_kwargs, writers, dump, summary,
                     num_workers, docs_per_batch, dump_examples, log,
                     max_untagged_share):
  """The loop of write_pretraining_data."""
  pool = None
  if num_workers > 1:
    # "spawn": forking a process that has loaded TensorFlow is unsafe.
    pool = multiprocessing.get_context("spawn").Pool(
        num_workers, _init_worker, (maker_kwargs,))
  start = time.time()
  documents = tagged_documents.read_documents(input_files)
  try:
    for batch in _batches(documents, docs_per_batch):
      if pool is not None:
        results = pool.map(_run_worker, batch, chunksize=8)
      else:
        results = [maker(item) for item in batch]
      for result in results:
        for offset, record in enumerate(result.records):
          number = summary.instances + offset
          writers[number % len(writers)].write(record)
          if dump is not None and number < dump_examples:
            instance = result.first_instances[offset]
            dump.write(u"instance %d\n%s\n" % (
                number, instances.describe_instance(instance)))
        summary.merge(result.summary)
      log("\r%d documents, %d instances, %.0f s" % (
          summary.documents, summary.instances, time.time() - start))
    if not summary.instances:
      raise script_errors.InputError(
          "%s: no instance: the input has no document with a "
          "sentence to use." % ", ".join(input_files))
    data_summary.check_untagged_share(
        summary, maker_kwargs.get("linguistic_masking", "none"),
        max_untagged_share, input_files)
  finally:
    if pool is not None:
      pool.terminate()
