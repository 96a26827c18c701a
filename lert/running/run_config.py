# coding=utf-8
"""Where a run runs: the run flags, the TF_CONFIG cluster of a multi-worker run,
the devices, and the start of the multi-worker strategy.

`RunSettings` are the flags every training script shares (TPU, GPUs,
checkpoint cadence, seed); `Cluster` is TF_CONFIG read and checked;
`wait_for_workers` waits for the other workers' addresses before TensorFlow
does (its own wait holds the GIL, so signals would wait too).
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
import time

import tensorflow.compat.v1 as tf

# The saveable state of a dataset iterator, as tf.data's own
# CheckpointInputPipelineHook builds it (one model and input checkpoint pair
# here, instead of its separately timed files).
from lert.contract import script_errors
from lert.contract import script_flags


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


def register_training_batch_validators(flag_values):
  """The batch checks of a training script: --train_batch_size,
  --eval_batch_size and --predict_batch_size each split evenly over
  --num_gpus, and --train_batch_size over the TF_CONFIG workers."""
  register_batch_validators(
      ("train_batch_size", "eval_batch_size", "predict_batch_size"),
      flag_values)
  register_worker_batch_validator("train_batch_size", flag_values)


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
