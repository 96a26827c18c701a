# coding=utf-8
"""The session hooks of a training run: the saver that resumes exactly (model
and input-pipeline state saved as one pair), the stop on a signal that every
worker agrees on, and the watchdog of lost workers.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import os
import sys
import threading
import time

import tensorflow.compat.v1 as tf
# The saveable state of a dataset iterator, as tf.data's own
# CheckpointInputPipelineHook builds it (one model and input checkpoint pair
# here, instead of its separately timed files).
from tensorflow.python.data.ops import iterator_ops

from lert.contract import script_errors
from lert.running import input_pipeline
import optimization


# What TensorFlow leaves in the output directory when a write fails (a
# full disk): a checkpoint's temporary directory (model.ckpt-N_temp/ on
# TF 2, model.ckpt-N_temp_<hex>/ on TF 1) and graph.pbtxt's temporary file;
# outputs.OutputDirectory removes them (its `temporaries`).
TENSORFLOW_TEMPORARIES = ("model.ckpt-*_temp*", "graph.pbtxt.tmp*")


# The input pipeline's state beside each checkpoint (exact resume): the
# prefix of its files and the name of its `checkpoint` index file.
INPUT_STATE_PREFIX = "input.ckpt"


INPUT_STATE_INDEX = "checkpoint_input"

# What an Estimator run writes in its model directory: the checkpoints with
# their input state, TensorBoard events, the graph and the evaluation's
# events. The first patterns of every training script's OUTPUTS (what
# --overwrite removes).
ESTIMATOR_OUTPUTS = ("checkpoint", "model.ckpt-*", INPUT_STATE_INDEX,
                     INPUT_STATE_PREFIX + "-*", "events.out.tfevents.*",
                     "graph.pbtxt", "eval")


def iterator_saveables():
  """The saveable states of the graph's dataset iterators."""
  return [iterator_ops._IteratorSaveable(resource, resource.name)
          for resource in tf.get_collection(iterator_ops.GLOBAL_ITERATORS)]


def global_step_of(checkpoint):
  """The global step a checkpoint holds, or None."""
  try:
    return int(tf.train.load_variable(checkpoint, "global_step"))
  except (tf.errors.OpError, ValueError, KeyError):
    return None


class ResumingCheckpointSaverHook(tf.train.CheckpointSaverHook):
  """The Estimator's checkpoint saver, except that:

  - a resumed run does not save again, at its start, the checkpoint it has
    just restored (the same step and values). That checkpoint may be one
    the run adopted (a downloaded one, run_pretraining.adopt_checkpoint): its
    files stay as they were, and out of the saver's rotation;
  - with `input_state`, each checkpoint model.ckpt-N gets a companion
    input.ckpt-N holding the input pipeline's state (the shuffle buffer,
    the files' read positions), written just after it; a run that resumes
    from model.ckpt-N restores input.ckpt-N, so that it reads on from the
    record where the saving run stopped (docs/reliability.md#exact-resume).
    Without a companion (a checkpoint saved elsewhere, or by a run killed
    between the two saves) it says so and reads from the start.
  """

  def __init__(self, checkpoint_dir, save_steps, input_state=False,
               max_to_keep=None):
    super(ResumingCheckpointSaverHook, self).__init__(checkpoint_dir,
                                                      save_steps=save_steps)
    self._input_state = input_state
    self._max_to_keep = max_to_keep
    self._input_saver = None

  def begin(self):
    super(ResumingCheckpointSaverHook, self).begin()
    if self._input_state:
      saveables = iterator_saveables()
      if saveables:
        self._input_saver = tf.train.Saver(
            saveables, max_to_keep=self._max_to_keep, sharded=True,
            save_relative_paths=True)

  def after_create_session(self, session, coord):
    self._starting = True
    self._start_step = session.run(self._global_step_tensor)
    self._restore_input = self._input_saver is not None
    try:
      super(ResumingCheckpointSaverHook, self).after_create_session(session,
                                                                    coord)
    finally:
      self._starting = False

  def before_run(self, run_context):
    # After every hook's after_create_session: the iterator is initialised
    # (the Estimator's dataset initialiser runs there), and this restores
    # over it.
    if getattr(self, "_restore_input", False):
      self._restore_input = False
      self._restore_input_state(run_context.session)
    return super(ResumingCheckpointSaverHook, self).before_run(run_context)

  def _input_prefix(self):
    return os.path.join(self._checkpoint_dir, INPUT_STATE_PREFIX)

  def _restore_input_state(self, session):
    step = self._start_step
    if not step:
      return
    prefix = "%s-%d" % (self._input_prefix(), step)
    if tf.train.checkpoint_exists(prefix):
      self._input_saver.restore(session, prefix)
      tf.logging.info("Input pipeline restored from %s: the run reads on "
                      "where the one that saved step %d stopped.", prefix,
                      step)
    else:
      tf.logging.warning(
          "No input pipeline state for step %d (%s): the input is read "
          "from its start, so this resumed run is not the exact "
          "continuation of the one that saved the checkpoint.", step,
          prefix)

  def _save(self, session, step):
    if getattr(self, "_starting", False):
      # The checkpoint restored holds this step: whatever its name (an
      # adopted bert_model.ckpt too), it is not saved again.
      restored = tf.train.latest_checkpoint(self._checkpoint_dir)
      if restored and global_step_of(restored) == step:
        tf.logging.info("Resumed from %s: not saved again.", restored)
        return False
    try:
      should_stop = super(ResumingCheckpointSaverHook, self)._save(session,
                                                                   step)
      # Not at the start: before the first step the iterator may not be
      # initialised yet, and a run at its start has read nothing.
      if self._input_saver is not None and not getattr(self, "_starting",
                                                       False):
        self._input_saver.save(session, self._input_prefix(),
                               global_step=step,
                               latest_filename=INPUT_STATE_INDEX,
                               write_meta_graph=False)
    except tf.errors.OpError as e:
      # A full disk: TensorFlow raises OutOfRangeError ("File too large"),
      # which the training loop would take for the end of the input and
      # end the run with exit status 0, the checkpoint unsaved.
      problem = input_pipeline.file_system_problem(e)
      if problem is None:
        raise
      raise script_errors.InputError(
          "cannot save the checkpoint of step %d: %s (the checkpoints "
          "before it are kept; nothing half-written is)." % (step, problem))
    return should_stop


# A multi-worker training's stop flag (a placeholder per replica, fed 1 by a
# worker that received a stop signal) and its sum over every replica of the
# cluster, computed with each step: the workers stop after the same step.
STOP_FLAGS = "lert_stop_flags"


STOP_AGREED = "lert_stop_agreed"


def add_stop_agreement():
  """In a replica's TRAIN graph of a multi-worker run: the stop flag and its
  all-reduced sum (StopOnSignalHook feeds and reads them)."""
  flag = tf.placeholder_with_default(tf.constant(0.0), [], name="stop_flag")
  agreed = tf.distribute.get_replica_context().all_reduce(
      tf.distribute.ReduceOp.SUM, flag)
  tf.add_to_collection(STOP_FLAGS, flag)
  tf.add_to_collection(STOP_AGREED, agreed)


class StopOnSignalHook(tf.train.SessionRunHook):
  """Ends training after the step during which a stop signal came
  (script_errors.stops_deferred): the checkpoint saver's end() then saves a
  checkpoint at that step. With gradient accumulation it waits for the
  update that ends the current micro-batches (its accumulators are not in a
  checkpoint).

  In a multi-worker run every worker ends after the same step: each feeds
  whether it received a signal into the step's stop flag, whose sum over
  the cluster (add_stop_agreement) comes back with the step, and the step
  it ended after is `stopped_at`. The handlers of the stop signals are
  taken back from TensorFlow's preemption notifier when the session starts
  (script_errors.reclaim_stop_signals)."""

  def __init__(self):
    self.stopped_at = None  # the step after which a multi-worker run ended

  def begin(self):
    self._count = optimization.accumulation_count_variable()
    self._flags = tf.get_collection(STOP_FLAGS)
    agreed = tf.get_collection(STOP_AGREED)
    self._agreed = agreed[0] if agreed else None
    self._step = tf.train.get_global_step()

  def after_create_session(self, session, coord):
    script_errors.reclaim_stop_signals()

  def before_run(self, run_context):
    if self._agreed is None:
      return None
    flag = 0.0 if script_errors.pending_stop() is None else 1.0
    return tf.train.SessionRunArgs(
        self._agreed,
        feed_dict={placeholder: flag for placeholder in self._flags})

  def after_run(self, run_context, run_values):
    if self._agreed is not None:
      if not run_values.results:
        return
    elif script_errors.pending_stop() is None:
      return
    if self._count is not None and run_context.session.run(self._count):
      return
    if self._agreed is not None:
      self.stopped_at = int(run_context.session.run(self._step))
    run_context.request_stop()


class WorkersLost(Exception):
  """A multi-worker training lost a worker (WorkerWatchHook)."""


class WorkerWatchHook(tf.train.SessionRunHook):
  """Ends a multi-worker training that lost a worker, instead of letting
  it wait for ever:

  - a second session raises WorkersLost (MonitoredSession makes one after
    the UnavailableError of a dead peer, then waits for the peer to come
    back: TensorFlow 2.15);
  - a step that runs longer than `seconds` (the first one, which waits for
    every worker to join, excepted) means a peer that stopped answering
    (TensorFlow 1.15 waits in the all-reduce without an error): a watchdog
    thread prints the one error line and ends the process with status 1,
    as SIGKILL would (the lock it held is released with the process; the
    next run takes the directory over).
  """

  def __init__(self, seconds, message):
    self._seconds = seconds
    self._message = message
    self._sessions = 0
    self._steps = 0
    self._started = None
    self._watch = None

  def after_create_session(self, session, coord):
    self._sessions += 1
    if self._sessions > 1:
      raise WorkersLost("the session with the other workers broke")
    if self._watch is None:
      self._watch = threading.Thread(target=self._watchdog)
      self._watch.daemon = True
      self._watch.start()

  def before_run(self, run_context):
    if self._steps:
      self._started = time.time()

  def after_run(self, run_context, run_values):
    self._started = None
    self._steps += 1

  def end(self, session):
    self._seconds = None

  def _watchdog(self):
    while self._seconds is not None:
      started = self._started
      if started is not None and time.time() - started > self._seconds:
        sys.stderr.write("%s: error: %s\n" % (
            os.path.basename(sys.argv[0]), self._message % "a step waited "
            "more than --worker_timeout_secs=%d" % self._seconds))
        sys.stderr.flush()
        os._exit(1)
      time.sleep(0.5)
