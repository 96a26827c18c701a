# coding=utf-8
"""The cost of exact resume: the size of input.ckpt-N and the time to save
it, beside the model checkpoint it accompanies.

Builds pre-training records of LERT's features (random values, which cost
what real ones do), reads them through run_pretraining.py's input pipeline
(input_pipeline.input_fn_builder: 4 files interleaved, a shuffle buffer of
1,000 records, batches parsed and prefetched) for a few batches, then saves
the iterator's state with the saver the training hook uses
(hooks.ResumingCheckpointSaverHook), several times. The model
checkpoint of LERT-base with its Adam slots is 1.2 GB (3 x 102M float32
values + the heads) and of LERT-small 0.19 GB, for comparison.

  python -m bench.input_state_cost --lengths 128,512 --batch_size 32
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import argparse
import glob
import os
import shutil
import tempfile
import time

import tensorflow.compat.v1 as tf

from lert.model import lert_model
from lert.pretraining_data import synthetic_data
from lert.running import hooks
from lert.running import input_pipeline
from lert.tagging import linguistic_tags


def parse_args():
  parser = argparse.ArgumentParser(
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--lengths", default="128,512",
                      help="Sequence lengths, comma-separated.")
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--records", type=int, default=4000,
                      help="Records written per length (4 files).")
  parser.add_argument("--saves", type=int, default=5)
  return parser.parse_args()


def measure(directory, seq_length, batch_size, num_records, saves):
  max_predictions = int(round(seq_length * 0.15))
  paths = []
  for i in range(4):
    path = os.path.join(directory, "part-%d.tfrecord" % i)
    synthetic_data.write_synthetic_records(
        path, num_records // 4, seq_length, max_predictions, 21128, seed=i,
        missing_label_rate=0.1)
    paths.append(path)
  required, optional = lert_model.pretraining_features(
      seq_length, max_predictions, list(linguistic_tags.TASKS))
  required.update(optional)
  input_fn = input_pipeline.input_fn_builder(paths, required,
                                             is_training=True, seed=1)
  with tf.Graph().as_default():
    iterator = tf.data.make_initializable_iterator(
        input_fn({"batch_size": batch_size}))
    batch = iterator.get_next()
    saver = tf.train.Saver(hooks.iterator_saveables(),
                           sharded=True, save_relative_paths=True)
    with tf.Session() as session:
      session.run(iterator.initializer)
      for _ in range(5):
        session.run(batch)
      times = []
      for step in range(saves):
        session.run(batch)
        start = time.time()
        prefix = saver.save(session, os.path.join(directory, "input.ckpt"),
                            global_step=step, write_meta_graph=False)
        times.append(time.time() - start)
  size = sum(os.path.getsize(name) for name in glob.glob(prefix + ".*"))
  record_size = os.path.getsize(paths[0]) / float(num_records // 4)
  return size, sorted(times)[len(times) // 2], record_size


def main():
  args = parse_args()
  print("| length | batch | record (KB) | input.ckpt-N (MB) | save (s) |")
  print("| --- | --- | --- | --- | --- |")
  for length in [int(x) for x in args.lengths.split(",")]:
    directory = tempfile.mkdtemp(prefix="input_state_")
    try:
      size, seconds, record_size = measure(directory, length,
                                           args.batch_size, args.records,
                                           args.saves)
    finally:
      shutil.rmtree(directory)
    print("| %d | %d | %.1f | %.1f | %.3f |" % (
        length, args.batch_size, record_size / 1024.0, size / 1e6, seconds))


if __name__ == "__main__":
  main()
