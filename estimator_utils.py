# coding=utf-8
"""The one Estimator/RunConfig builder for pre-training and fine-tuning.

A model_fn returns a `TPUEstimatorSpec`. `EstimatorRunner` runs it through
`TPUEstimator` on TPU, CPU or one GPU (TPUEstimator falls back to CPU/GPU when
`use_tpu` is false), or through a plain `Estimator` with a
`MirroredStrategy` for data parallelism over several GPUs of one host.
It also holds the checkpoint warm-start shared by every script.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import atexit
import collections
import gc
import json
import os
import socket
import sys
import threading
import time

import tensorflow.compat.v1 as tf
# The saveable state of a dataset iterator, as tf.data's own
# CheckpointInputPipelineHook builds it (one model and input checkpoint pair
# here, instead of its separately timed files).
from tensorflow.python.data.ops import iterator_ops

import input_pipeline
import modeling
import optimization
import outputs
import script_errors
import script_flags

RunSettings = collections.namedtuple("RunSettings", [
    "output_dir",
    "use_tpu",
    "tpu_name",
    "tpu_zone",
    "gcp_project",
    "master",
    "num_tpu_cores",
    "iterations_per_loop",
    "num_gpus",
    "use_xla",
    "save_checkpoints_steps",
    "save_summary_steps",
    "keep_checkpoint_max",
    "random_seed",
    "worker_timeout_secs",
])


def define_run_flags(flag_values):
  """Defines the flags of `RunSettings` in an absl FlagValues."""
  define = script_flags.FlagDefiner(flag_values)
  define.bool("use_tpu", False, "Run on TPU through TPUEstimator.")
  define.string("tpu_name", None,
                "Cloud TPU name or grpc://ip:port address.")
  define.string("tpu_zone", None, "GCE zone of the Cloud TPU; found "
                "from metadata when not given.")
  define.string("gcp_project", None, "GCP project of the Cloud TPU; "
                "found from metadata when not given.")
  define.string("master", None, "TensorFlow master URL.")
  define.integer("num_tpu_cores", 8,
                 "TPU cores to use (8 on a v3-8), with --use_tpu.")
  define.integer("iterations_per_loop", 1000,
                 "Steps the TPU runs between returns to the host.")
  define.integer("num_gpus", 0,
                 "GPUs of this host for data-parallel training through "
                 "tf.distribute.MirroredStrategy; 0 or 1 runs on the "
                 "default device. The batch is split over the GPUs.")
  define.bool("use_xla", False, "Compile with XLA (CPU/GPU).")
  define.integer("save_checkpoints_steps", 1000,
                 "Steps between checkpoints.")
  define.integer("save_summary_steps", 100,
                 "Steps between TensorBoard summaries.")
  define.integer("keep_checkpoint_max", 5,
                 "Checkpoints to keep (0 keeps all).")
  define.integer("random_seed", 12345,
                 "Seed for initialisation, dropout and shuffling.")
  define.integer("worker_timeout_secs", 600,
                 "In a multi-worker run (TF_CONFIG): the longest a training "
                 "step may wait for the other workers before the run stops "
                 "(a worker died or is unreachable).")
  define.multi_validator(
      ["use_tpu", "tpu_name"], lambda v: not v["use_tpu"] or v["tpu_name"],
      "--use_tpu needs --tpu_name (a Cloud TPU name or grpc://ip:port).")
  define.validator("num_gpus", lambda n: n >= 0,
                   "--num_gpus must be >= 0.")
  define.validator("worker_timeout_secs", lambda n: n >= 1,
                   "--worker_timeout_secs must be >= 1.")


def register_batch_validators(names, flag_values):
  """Checks when flags are parsed that each batch flag named splits evenly
  over --num_gpus (the flags of define_run_flags)."""
  define = script_flags.FlagDefiner(flag_values)
  for name in names:
    define.multi_validator(
        [name, "num_gpus"],
        lambda v, n=name: v["num_gpus"] <= 1 or v[n] % v["num_gpus"] == 0,
        "--%s must be a multiple of --num_gpus (each GPU gets an equal "
        "share)." % name)


def environment_workers():
  """The workers TF_CONFIG names (1 when unset or unreadable: main then
  reports what is wrong with it), for the flags' parse-time checks."""
  try:
    return cluster_from_environment().num_workers
  except script_errors.InputError:
    return 1


def register_worker_batch_validator(name, flag_values):
  """Checks when flags are parsed that the batch flag `name` splits evenly
  over the workers of the TF_CONFIG cluster."""
  define = script_flags.FlagDefiner(flag_values)
  define.validator(
      name, lambda size: size % environment_workers() == 0,
      "--%s must be a multiple of the workers that TF_CONFIG names (each "
      "trains on an equal share of every batch)." % name)


# This process's place in a multi-worker run (TF_CONFIG): the workers
# (chief included), this task's type and index, and whether it is the
# chief, which alone writes the output directory.
# `worker_number`: its place among them, the chief first (which share of
# each global batch it trains on); `own_address`, `other_addresses`: its
# host:port and the other tasks'.
Cluster = collections.namedtuple("Cluster", ["num_workers", "task_type",
                                             "task_index", "is_chief",
                                             "worker_number", "own_address",
                                             "other_addresses"])


def cluster_from_environment(environ=None):
  """The Cluster that TF_CONFIG describes (the standard variable of
  tf.distribute; docs/pretraining.md#several-machines), or one worker
  when it is unset.

  A cluster has "worker" tasks and at most one "chief"; without a chief,
  worker 0 is the chief. Raises InputError naming TF_CONFIG when it is not
  such a JSON object.
  """
  text = (os.environ if environ is None else environ).get("TF_CONFIG", "")
  if not text.strip():
    return Cluster(1, None, 0, True, 0, None, ())
  try:
    config = json.loads(text)
    cluster = config.get("cluster") or {}
    task = config.get("task") or {}
    if not isinstance(cluster, dict) or not isinstance(task, dict):
      raise ValueError("cluster and task must be objects")
  except (ValueError, AttributeError) as e:
    raise script_errors.InputError(
        "TF_CONFIG is not the JSON of a tf.distribute cluster (%s): e.g. "
        '{"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": '
        '{"type": "worker", "index": 0}}.' % e)
  other = sorted(set(cluster) - {"chief", "worker"})
  if other:
    raise script_errors.InputError(
        "TF_CONFIG names %s tasks: multi-worker training takes \"worker\" "
        "tasks and at most one \"chief\" (no parameter servers, no "
        "evaluator: evaluate in a run of its own)." % other[0])
  chiefs, workers = cluster.get("chief", []), cluster.get("worker", [])
  task_type, index = task.get("type"), task.get("index", 0)
  tasks = {"chief": chiefs, "worker": workers}
  if (len(chiefs) > 1 or task_type not in tasks or not isinstance(index, int)
      or not 0 <= index < len(tasks[task_type])):
    raise script_errors.InputError(
        "TF_CONFIG's task %s is not one of its cluster's %d chief and %d "
        "worker tasks." % (json.dumps(task), len(chiefs), len(workers)))
  is_chief = task_type == "chief" or (not chiefs and index == 0)
  number = 0 if task_type == "chief" else index + len(chiefs)
  others = tuple(address for kind in ("chief", "worker")
                 for i, address in enumerate(tasks[kind])
                 if (kind, i) != (task_type, index))
  return Cluster(len(chiefs) + len(workers), task_type, index, is_chief,
                 number, tasks[task_type][index], others)


def check_devices(num_gpus):
  """Raises InputError when this machine has fewer GPUs than --num_gpus asks
  for (MirroredStrategy would wait on devices that are not there, after its
  first checkpoint had bound the output directory): called before anything
  is written."""
  if not num_gpus:
    return
  found = len(tf.config.experimental.list_physical_devices("GPU"))
  if found < num_gpus:
    raise script_errors.InputError(
        "--num_gpus=%d, but TensorFlow sees %d GPU%s on this machine%s: "
        "pass --num_gpus=%d (0 runs on the CPU)." % (
            num_gpus, found, "" if found == 1 else "s",
            "" if found else " (no CUDA device, or a TensorFlow built "
            "without CUDA)", found))


def run_settings_from_flags(flag_values, **overrides):
  """RunSettings from the flags of `define_run_flags` (plus --output_dir),
  with `overrides` taking precedence."""
  values = {field: overrides[field] if field in overrides else
            getattr(flag_values, field) for field in RunSettings._fields}
  return RunSettings(**values)


def session_config(use_xla=False, num_cpu_devices=None):
  """The session config of every run: soft placement, XLA JIT if asked.

  `num_cpu_devices` > 1 splits the CPU into that many devices (/cpu:0, ...),
  for data parallelism over the CPU.
  """
  config = tf.ConfigProto(allow_soft_placement=True)
  if num_cpu_devices:
    config.device_count["CPU"] = num_cpu_devices
  if use_xla:
    config.graph_options.optimizer_options.global_jit_level = (
        tf.OptimizerOptions.ON_1)
  return config


# What TensorFlow leaves in the output directory when a write fails (a
# full disk): a checkpoint's temporary directory (model.ckpt-N_temp/ on
# TF 2, model.ckpt-N_temp_<hex>/ on TF 1) and graph.pbtxt's temporary file;
# outputs.OutputDirectory removes them (its `temporaries`).
TENSORFLOW_TEMPORARIES = ("model.ckpt-*_temp*", "graph.pbtxt.tmp*")

# The input pipeline's state beside each checkpoint (exact resume): the
# prefix of its files and the name of its `checkpoint` index file.
INPUT_STATE_PREFIX = "input.ckpt"
INPUT_STATE_INDEX = "checkpoint_input"


def _iterator_saveables():
  """The saveable states of the graph's dataset iterators."""
  return [iterator_ops._IteratorSaveable(resource, resource.name)
          for resource in tf.get_collection(iterator_ops.GLOBAL_ITERATORS)]


def _global_step_of(checkpoint):
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
      saveables = _iterator_saveables()
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
      if restored and _global_step_of(restored) == step:
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


def start_multi_worker_strategy(cluster, seconds):
  """MultiWorkerMirroredStrategy() of the TF_CONFIG cluster, once every
  other worker is there (wait_for_workers): making it waits for them in
  C++ (TensorFlow 2, holding the interpreter, so that neither a signal nor
  a timeout reaches this process) and installs TensorFlow's own SIGTERM
  handler, which the stop signals' handlers then take back
  (script_errors.reclaim_stop_signals)."""
  wait_for_workers(cluster, seconds)
  strategy = tf.distribute.experimental.MultiWorkerMirroredStrategy()
  script_errors.reclaim_stop_signals()
  atexit.register(_release_server)
  return strategy


def _release_server():
  """Stops TensorFlow 1.15's in-process server of a multi-worker run while
  the interpreter is whole: left to the interpreter's end, its __del__
  prints an AttributeError traceback after the script's last line."""
  try:
    from tensorflow.python.distribute import distribute_coordinator
  except ImportError:
    return
  local = getattr(distribute_coordinator, "_thread_local", None)
  if getattr(local, "server", None) is not None:
    del local.server
    gc.collect()


def _address(text):
  host, _, port = text.rpartition(":")
  return host.strip("[]") or "localhost", int(port)


def wait_for_workers(cluster, seconds, poll=0.5):
  """Waits, in Python (the stop signals stop it), until the address of
  every other task of the cluster accepts a connection; raises InputError
  after `seconds` (--worker_timeout_secs). Meanwhile this task's own port
  listens, so that the others, waiting the same way, see it before its
  TensorFlow server starts there."""
  own = None
  if cluster.own_address:
    try:
      own = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
      own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
      own.bind(("", _address(cluster.own_address)[1]))
      own.listen(64)
    except (OSError, ValueError):
      own = None  # taken: the others wait for its server instead
  try:
    waiting = list(cluster.other_addresses)
    deadline = time.time() + seconds
    while waiting:
      for address in list(waiting):
        try:
          socket.create_connection(_address(address), timeout=poll).close()
          waiting.remove(address)
        except (OSError, ValueError):
          pass
      if not waiting:
        break
      if time.time() > deadline:
        raise script_errors.InputError(
            "%s %d of the TF_CONFIG cluster waited more than "
            "--worker_timeout_secs=%d for the other workers to start (none "
            "answers at %s): start each with the same command and a "
            "TF_CONFIG naming its own task, and check that their addresses "
            "are reachable from here." % (
                cluster.task_type, cluster.task_index, seconds,
                ", ".join(waiting)))
      time.sleep(poll)
  finally:
    if own is not None:
      own.close()


class EstimatorRunner(object):
  """Trains, evaluates and predicts with one model_fn on the chosen device.

  `train_batch_size` etc. are global batch sizes: with several GPUs each
  replica gets an equal share.
  """

  def __init__(self, model_fn, settings, train_batch_size=32,
               eval_batch_size=8, predict_batch_size=8, params=None,
               mirrored_devices=None):
    self.settings = settings
    self.batch_sizes = {"train": train_batch_size, "eval": eval_batch_size,
                        "predict": predict_batch_size}
    keep = settings.keep_checkpoint_max or None
    self.num_replicas = 1
    self.cluster = cluster_from_environment()
    self.worker_slices = None  # (first, count): this worker's batch slices
    if self.cluster.num_workers > 1:
      if settings.use_tpu:
        raise script_errors.InputError(
            "TF_CONFIG names a multi-worker cluster and --use_tpu is given: "
            "a TPU pod slice is one TPUEstimator run (unset TF_CONFIG).")
      # Collective all-reduce over the workers (and each one's GPUs),
      # configured by TF_CONFIG; graph-mode Estimator training goes through
      # tf.estimator.train_and_evaluate (self.train).
      strategy = start_multi_worker_strategy(self.cluster,
                                             settings.worker_timeout_secs)
      self.num_replicas = strategy.num_replicas_in_sync
      local = self.num_replicas // self.cluster.num_workers
      self.worker_slices = (self.cluster.worker_number * local, local)
      if train_batch_size % self.num_replicas:
        raise script_errors.InputError(
            "The training batch %d does not split over the %d replicas of "
            "the TF_CONFIG cluster (%d workers)." % (
                train_batch_size, self.num_replicas,
                self.cluster.num_workers))
      # A worker reads the chief's checkpoints (it resumes from them) but
      # saves nothing: no checkpoints, summaries or step counts, which
      # MonitoredTrainingSession would write under output_dir/tmp_worker_N
      # (the model's variables are mirrored: saving needs no collective).
      # The chief saves through ResumingCheckpointSaverHook (self.train)
      # alone.
      chief = self.cluster.is_chief
      config = tf.estimator.RunConfig(
          model_dir=settings.output_dir,
          tf_random_seed=settings.random_seed,
          save_checkpoints_steps=None, save_checkpoints_secs=None,
          save_summary_steps=settings.save_summary_steps if chief else None,
          log_step_count_steps=100 if chief else None,
          keep_checkpoint_max=keep,
          session_config=session_config(settings.use_xla),
          train_distribute=strategy)

      def estimator_model_fn(features, labels, mode, params):
        spec = model_fn(features, labels, mode, params).as_estimator_spec()
        if mode == tf.estimator.ModeKeys.TRAIN:
          add_stop_agreement()
        return spec

      self.estimator = tf.estimator.Estimator(
          model_fn=estimator_model_fn, config=config, params=params)
      self.use_plain_estimator = True
      return
    if settings.num_gpus > 1 or mirrored_devices:
      devices = mirrored_devices or ["/gpu:%d" % i
                                     for i in range(settings.num_gpus)]
      self.num_replicas = len(devices)
      for name, size in self.batch_sizes.items():
        if size % self.num_replicas:
          raise ValueError("The %s batch size %d is not divisible by the %d "
                           "GPUs." % (name, size, self.num_replicas))
      strategy = tf.distribute.MirroredStrategy(devices=devices)
      num_cpu_devices = len([d for d in devices if "cpu" in d.lower()])
      config = tf.estimator.RunConfig(
          model_dir=settings.output_dir,
          tf_random_seed=settings.random_seed,
          save_checkpoints_steps=settings.save_checkpoints_steps,
          save_summary_steps=settings.save_summary_steps,
          keep_checkpoint_max=keep,
          session_config=session_config(settings.use_xla, num_cpu_devices),
          train_distribute=strategy, eval_distribute=strategy)

      def estimator_model_fn(features, labels, mode, params):
        return model_fn(features, labels, mode, params).as_estimator_spec()

      self.estimator = tf.estimator.Estimator(
          model_fn=estimator_model_fn, config=config, params=params)
      self.use_plain_estimator = True
      return

    cluster = None
    if settings.use_tpu:
      if not settings.tpu_name:
        raise ValueError("--use_tpu needs --tpu_name.")
      cluster = tf.distribute.cluster_resolver.TPUClusterResolver(
          settings.tpu_name, zone=settings.tpu_zone,
          project=settings.gcp_project)
    config = tf.estimator.tpu.RunConfig(
        cluster=cluster,
        master=settings.master,
        model_dir=settings.output_dir,
        tf_random_seed=settings.random_seed,
        save_checkpoints_steps=settings.save_checkpoints_steps,
        save_summary_steps=settings.save_summary_steps,
        keep_checkpoint_max=keep,
        session_config=session_config(settings.use_xla),
        tpu_config=tf.estimator.tpu.TPUConfig(
            iterations_per_loop=settings.iterations_per_loop,
            num_shards=settings.num_tpu_cores,
            per_host_input_for_training=(
                tf.estimator.tpu.InputPipelineConfig.PER_HOST_V2)))
    self.estimator = tf.estimator.tpu.TPUEstimator(
        use_tpu=settings.use_tpu, model_fn=model_fn, config=config,
        params=params, train_batch_size=train_batch_size,
        eval_batch_size=eval_batch_size,
        predict_batch_size=predict_batch_size)
    self.use_plain_estimator = False

  def _input_fn(self, input_fn, kind):
    if not self.use_plain_estimator:
      return input_fn  # TPUEstimator sets params["batch_size"] itself.
    per_replica = self.batch_sizes[kind] // self.num_replicas
    if self.worker_slices and kind == "train":
      # Every worker reads the one stream of global batches and trains on
      # its replicas' slices of each (input_pipeline.input_fn_builder).
      first, count = self.worker_slices
      return lambda params: input_fn(dict(
          params, batch_size=per_replica,
          slices=(first, count, self.num_replicas)))
    return lambda params: input_fn(dict(params, batch_size=per_replica))

  def exact_resume(self):
    """Whether a resumed training reads on where the stopped one left off
    (the input state is saved with each checkpoint): on CPU or one GPU, not
    on TPU or over several replicas (docs/reliability.md#exact-resume)."""
    return not self.settings.use_tpu and self.num_replicas == 1

  def train(self, input_fn, max_steps):
    """Trains to `max_steps`. A stop signal during training (SIGTERM from a
    preempting scheduler, Ctrl-C) ends it after the current step with a
    checkpoint there, then raises script_errors.Stopped naming the step."""
    stop_hook = StopOnSignalHook()
    hooks = [stop_hook]
    if (self.settings.save_checkpoints_steps and not self.settings.use_tpu
        and self.cluster.is_chief):
      # Replaces the Estimator's own saver hook (TPUEstimator on a TPU adds
      # its own, which stays).
      hooks.append(ResumingCheckpointSaverHook(
          self.settings.output_dir,
          save_steps=self.settings.save_checkpoints_steps,
          input_state=self.exact_resume(),
          max_to_keep=self.settings.keep_checkpoint_max or None))
    if not self.exact_resume():
      tf.logging.info("A resumed run reads its input from the start (%s): "
                      "it is not the exact continuation of a stopped one.",
                      "TPU" if self.settings.use_tpu else "%d replicas" %
                      self.num_replicas)
    with script_errors.stops_deferred():
      if self.cluster.num_workers > 1:
        self._train_on_workers(input_fn, max_steps, hooks)
      else:
        self.estimator.train(input_fn=self._input_fn(input_fn, "train"),
                             max_steps=max_steps, hooks=hooks)
      signum = script_errors.pending_stop()
    if signum is not None:
      step = stop_hook.stopped_at  # (a worker may not see the checkpoints)
      checkpoint = tf.train.latest_checkpoint(self.settings.output_dir)
      if step is None and checkpoint:
        step = _global_step_of(checkpoint)
      raise script_errors.Stopped(signum, step)
    if stop_hook.stopped_at is not None:
      # Stopped with the others, by a signal to another worker.
      raise script_errors.InputError(
          "%s %d of the TF_CONFIG cluster stopped at step %d with the "
          "others: another worker was stopped by a signal (its log says "
          "which), and the chief saved the checkpoint of that step. Start "
          "every worker again with the same command to resume." % (
              self.cluster.task_type, self.cluster.task_index,
              stop_hook.stopped_at))

  def _train_on_workers(self, input_fn, max_steps, hooks):
    """Trains as one worker of the TF_CONFIG cluster. Estimator trains with
    MultiWorkerMirroredStrategy only through train_and_evaluate (there is
    no evaluator task, so nothing is evaluated). The chief alone saves
    checkpoints and summaries. A step that waits longer than
    --worker_timeout_secs for the other workers (one died, or is
    unreachable) ends the run with one line."""
    message = (
        "%s %d of the TF_CONFIG cluster lost the other workers (%%s): one "
        "of them stopped or is unreachable, and its log says why. Start "
        "every worker again with the same command to resume from the last "
        "checkpoint." % (self.cluster.task_type, self.cluster.task_index))
    spec = tf.estimator.TrainSpec(
        input_fn=self._input_fn(input_fn, "train"), max_steps=max_steps,
        hooks=hooks + [WorkerWatchHook(self.settings.worker_timeout_secs,
                                       message)])
    try:
      tf.estimator.train_and_evaluate(
          self.estimator, spec,
          tf.estimator.EvalSpec(input_fn=spec.input_fn, steps=1))
    except (WorkersLost, tf.errors.UnavailableError,
            tf.errors.CancelledError, tf.errors.AbortedError) as e:
      raise script_errors.InputError(message % type(e).__name__)

  def evaluate(self, input_fn, steps=None):
    return self.estimator.evaluate(input_fn=self._input_fn(input_fn, "eval"),
                                   steps=steps)

  def predict(self, input_fn, checkpoint_path=None):
    """Yields one dict per example, in input order."""
    return self.estimator.predict(
        input_fn=self._input_fn(input_fn, "predict"),
        checkpoint_path=checkpoint_path)


def resolve_checkpoint(path, what="--init_checkpoint"):
  """The checkpoint prefix for a prefix or a directory holding checkpoints.

  Raises script_errors.InputError naming `what` when there is none.
  """
  if not path:
    raise script_errors.InputError("%s: no checkpoint given." % what)
  if tf.gfile.IsDirectory(path):
    latest = tf.train.latest_checkpoint(path)
    if latest is None:
      if tf.gfile.Exists(os.path.join(path, "config.json")) and any(
          tf.gfile.Exists(os.path.join(path, name))
          for name in ("model.safetensors", "pytorch_model.bin")):
        raise script_errors.InputError(
            "%s: %s is a Hugging Face model directory, not a TensorFlow "
            "checkpoint: convert it first (python convert_checkpoint.py "
            "--direction=hf2tf --input=%s --output_dir=%s_tf) and pass "
            "the converted directory." % (what, path, path,
                                          path.rstrip("/")))
      raise script_errors.InputError(
          "%s: directory %s holds no checkpoint." % (what, path))
    return latest
  if not tf.gfile.Exists(path + ".index"):
    raise script_errors.InputError(
        "%s: %s is not a checkpoint (no %s.index)." % (what, path, path))
  try:
    tf.train.list_variables(path)
  except tf.errors.OpError as e:
    raise _unreadable(what, path, e)
  return path


def _unreadable(what, path, error):
  """The InputError of a checkpoint its reader fails on."""
  # (The reader raises IndexError on TF 2 for a short read: no .message.)
  message = getattr(error, "message", None) or str(error)
  return script_errors.InputError(
      "%s: %s is not a readable checkpoint (truncated or corrupt?): %s" %
      (what, path, message.strip().splitlines()[0]))


def read_whole(prefix, what="--init_checkpoint"):
  """Reads every tensor of a checkpoint, one at a time: a truncated or
  corrupt data file is an InputError naming it (restoring it later fails in
  the middle of a run, with a traceback). Costs one read of the file, which
  the run then finds in the page cache."""
  try:
    reader = tf.train.load_checkpoint(prefix)
    for name in sorted(reader.get_variable_to_shape_map()):
      reader.get_tensor(name)
  except (tf.errors.OpError, IndexError) as e:
    raise _unreadable(what, prefix, e)


def describe_checkpoint(path):
  """An --init_checkpoint as a manifest records it: its absolute prefix and
  its .index file by content (the index holds each tensor's CRC32C, so a
  checkpoint rewritten under the same name is a difference); None for
  none. Resolves `path` (a directory or a prefix) and reads it whole
  first (read_whole), so that a truncated checkpoint is one line before the
  output directory opens."""
  if not path:
    return None
  prefix = resolve_checkpoint(path)
  read_whole(prefix)
  if not outputs.is_remote(prefix):
    prefix = os.path.abspath(prefix)
  return collections.OrderedDict([
      ("path", prefix), ("index", outputs.describe_file(prefix + ".index"))])


def resume_mismatch(model_fn, features, checkpoint):
  """Why a training run of `model_fn` cannot resume from `checkpoint`, or
  None: the first variable of its training graph (the global step and the
  optimizer's slots included) that the checkpoint lacks or holds with
  another shape, or the first the checkpoint holds that the graph has not.

  `features`: the record features (name -> input_pipeline.FeatureSpec) the
  model reads; the graph is built on zeros in a graph of its own (integer
  features as int32, as the input pipeline gives them).
  """
  with tf.Graph().as_default():
    model_fn({name: tf.zeros([1, spec.length], tf.int32 if spec.dtype ==
                             tf.int64 else spec.dtype)
              for name, spec in features.items()}, None,
             tf.estimator.ModeKeys.TRAIN, {})
    wanted = collections.OrderedDict(
        (modeling.variable_name(v), v.shape.as_list())
        for v in tf.global_variables())
  saved = dict(tf.train.list_variables(checkpoint))
  for name, shape in wanted.items():
    if name not in saved:
      return "it has no %s (shape %s), which this run needs" % (name, shape)
    if list(saved[name]) != shape:
      return "it holds %s with shape %s, this run has %s" % (
          name, list(saved[name]), shape)
  for name in sorted(saved):
    if name not in wanted:
      return "it holds %s, which this run has not" % name
  return None


def checkpoint_directory(path):
  """The directory of a checkpoint given as a prefix or a directory."""
  if tf.gfile.IsDirectory(path):
    return path
  return os.path.dirname(os.path.abspath(path))


def checkpoint_companions(checkpoint, config_file=None, vocab_file=None):
  """(config file, vocabulary file) of a checkpoint.

  The given files, else `bert_config.json` and `vocab.txt` beside the
  checkpoint (convert_checkpoint.py writes both); the vocabulary falls back
  to the Chinese BERT one in configs/. Raises InputError when there is no
  config.
  """
  directory = os.path.dirname(checkpoint)
  if not config_file:
    config_file = os.path.join(directory, "bert_config.json")
    if not tf.gfile.Exists(config_file):
      raise script_errors.InputError(
          "Give --bert_config_file: there is no bert_config.json beside %s." %
          checkpoint)
  if not vocab_file:
    vocab_file = os.path.join(directory, "vocab.txt")
    if not tf.gfile.Exists(vocab_file):
      vocab_file = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "configs", "vocab.txt")
  if not tf.gfile.Exists(vocab_file):
    raise script_errors.InputError("Vocabulary %s does not exist." %
                                    vocab_file)
  return config_file, vocab_file


def predict_scaffold_fn(checkpoint):
  """A scaffold_fn that restores a model for prediction from `checkpoint`.

  The Estimator's global step starts at 0 when the checkpoint has none (a
  converted or a Google BERT checkpoint); any other variable the checkpoint
  lacks, or holds with another shape, is an InputError naming it, never a
  silently random weight or a reshape error.
  """
  def scaffold_fn():
    shapes = dict(tf.train.list_variables(checkpoint))
    variables = tf.global_variables()
    restore = [v for v in variables if v.op.name in shapes]
    missing = [v for v in variables if v.op.name not in shapes]
    for variable in missing:
      if variable.op.name != "global_step":
        raise script_errors.InputError(
            "%s lacks the variable %s that the model needs." %
            (checkpoint, variable.op.name))
    for variable in restore:
      want = variable.shape.as_list()
      if list(shapes[variable.op.name]) != want:
        raise script_errors.InputError(
            "%s holds %s with shape %s, the model (its config) needs %s." %
            (checkpoint, variable.op.name, list(shapes[variable.op.name]),
             want))
    uninitialized = tf.report_uninitialized_variables(restore)
    # Not "never used" noise after an error line when the restore fails.
    getattr(uninitialized, "mark_used", lambda: None)()
    return tf.train.Scaffold(
        saver=tf.train.Saver(restore),
        ready_for_local_init_op=uninitialized,
        local_init_op=tf.group(tf.local_variables_initializer(),
                               tf.variables_initializer(missing)))
  return scaffold_fn


def init_from_checkpoint(init_checkpoint, use_tpu, new_by_design=(),
                         optional_group=None):
  """Warm-starts the graph's trainable variables from a Google BERT/LERT
  checkpoint, strictly: a variable that should come from the checkpoint but
  is not in it, or is in it with another shape, is an InputError naming the
  first such variable and both shapes, never a run from random weights.

  Args:
    init_checkpoint: a checkpoint prefix or a directory, or None (nothing is
      loaded: every variable is new).
    use_tpu: return the loading as a scaffold_fn (TPUEstimator) instead of
      loading at once.
    new_by_design: name prefixes of variables that are new by design (a
      task's output layer): loaded when the checkpoint holds them with their
      shape, else freshly initialised and listed.
    optional_group: a function name -> group name or None: a group (a
      pre-training head) that the checkpoint holds no variable of is new;
      one it holds any variable of must load whole. Variables of no group
      (the encoder) must load.

  Returns:
    WarmStart(scaffold_fn or None, loaded names, new names).
  """
  name_to_variable = collections.OrderedDict(
      (modeling.variable_name(v), v) for v in tf.trainable_variables())
  if not init_checkpoint:
    return WarmStart(None, [], list(name_to_variable))
  init_checkpoint = resolve_checkpoint(init_checkpoint)
  shapes = dict(tf.train.list_variables(init_checkpoint))
  group_of = optional_group or (lambda name: None)
  groups_present = {group_of(name) for name in shapes} - {None}
  assignment_map = collections.OrderedDict()
  new = []
  for name, variable in name_to_variable.items():
    want = variable.shape.as_list()
    have = list(shapes[name]) if name in shapes else None
    if have == want:
      assignment_map[name] = name
      continue
    if any(name.startswith(prefix) for prefix in new_by_design):
      new.append(name)
      continue
    group = group_of(name)
    if group is not None and group not in groups_present:
      new.append(name)
      continue
    if have is None:
      raise script_errors.InputError(
          "--init_checkpoint %s lacks %s (shape %s) that the model needs: "
          "is it a checkpoint of this model (--bert_config_file, "
          "--linguistic_tasks)?" % (init_checkpoint, name, want))
    raise script_errors.InputError(
        "--init_checkpoint %s holds %s with shape %s, the model needs %s: "
        "give the config the checkpoint was trained with." % (
            init_checkpoint, name, have, want))

  def scaffold_fn():
    tf.train.init_from_checkpoint(init_checkpoint, assignment_map)
    return tf.train.Scaffold()

  loaded = list(assignment_map)
  tf.logging.info("**** Variables initialised from %s: %d ****",
                  init_checkpoint, len(loaded))
  for name in loaded:
    tf.logging.info("  %s  *INIT_FROM_CKPT*", name)
  tf.logging.info("**** New variables by design (fresh initialisation): %d "
                  "****", len(new))
  for name in new:
    tf.logging.info("  %s  *NEW*", name)
  if use_tpu:
    return WarmStart(scaffold_fn, loaded, new)
  scaffold_fn()
  return WarmStart(None, loaded, new)


# The result of init_from_checkpoint.
WarmStart = collections.namedtuple("WarmStart",
                                   ["scaffold_fn", "loaded", "new"])


def write_eval_results(output_dir, result, ordered=False):
  """Writes the metrics to <output_dir>/eval_results.txt, atomically, as
  `name = value` lines (lists and dicts as JSON), and logs them.

  The names are sorted, or with `ordered` kept in the order of `result`.
  """
  path = os.path.join(output_dir, "eval_results.txt")
  with outputs.atomic_open(path) as writer:
    tf.logging.info("***** Eval results *****")
    for key in (list(result) if ordered else sorted(result)):
      value = result[key]
      if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False)
      tf.logging.info("  %s = %s", key, value)
      writer.write("%s = %s\n" % (key, value))
  return path
