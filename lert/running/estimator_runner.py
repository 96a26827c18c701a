# coding=utf-8
"""The one Estimator/RunConfig builder for pre-training and fine-tuning.

A model_fn returns a `TPUEstimatorSpec`. `EstimatorRunner` runs it through
`TPUEstimator` on TPU, CPU or one GPU (TPUEstimator falls back to CPU/GPU when
`use_tpu` is false), or through a plain `Estimator` with a
`MirroredStrategy` for data parallelism over several GPUs of one host or
several workers. `write_eval_results` writes what an evaluation returns.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import json
import os

import tensorflow.compat.v1 as tf

from lert.contract import atomic_files
from lert.contract import script_errors
from lert.running import hooks
from lert.running import run_config


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
    self.num_replicas = 1
    self.cluster = run_config.cluster_from_environment()
    self.worker_slices = None  # (first, count): this worker's batch slices
    self.use_plain_estimator = True
    if self.cluster.num_workers > 1:
      config = self._multi_worker_config()
    elif settings.num_gpus > 1 or mirrored_devices:
      config = self._mirrored_config(
          mirrored_devices or ["/gpu:%d" % i for i in range(settings.num_gpus)])
    else:
      self.use_plain_estimator = False
      self.estimator = tf.estimator.tpu.TPUEstimator(
          use_tpu=settings.use_tpu, model_fn=model_fn,
          config=self._tpu_config(), params=params,
          train_batch_size=train_batch_size, eval_batch_size=eval_batch_size,
          predict_batch_size=predict_batch_size)
      return
    multi_worker = self.cluster.num_workers > 1

    def estimator_model_fn(features, labels, mode, params):
      spec = model_fn(features, labels, mode, params).as_estimator_spec()
      if multi_worker and mode == tf.estimator.ModeKeys.TRAIN:
        hooks.add_stop_agreement()
      return spec

    self.estimator = tf.estimator.Estimator(
        model_fn=estimator_model_fn, config=config, params=params)

  def _multi_worker_config(self):
    """The RunConfig of one worker of the TF_CONFIG cluster."""
    settings = self.settings
    if settings.use_tpu:
      raise script_errors.InputError(
          "TF_CONFIG names a multi-worker cluster and --use_tpu is given: "
          "a TPU pod slice is one TPUEstimator run (unset TF_CONFIG).")
    # Collective all-reduce over the workers (and each one's GPUs),
    # configured by TF_CONFIG; graph-mode Estimator training goes through
    # tf.estimator.train_and_evaluate (self.train).
    strategy = run_config.start_multi_worker_strategy(
        self.cluster, settings.worker_timeout_secs)
    self.num_replicas = strategy.num_replicas_in_sync
    local = self.num_replicas // self.cluster.num_workers
    self.worker_slices = (self.cluster.worker_number * local, local)
    if self.batch_sizes["train"] % self.num_replicas:
      raise script_errors.InputError(
          "The training batch %d does not split over the %d replicas of "
          "the TF_CONFIG cluster (%d workers)." % (
              self.batch_sizes["train"], self.num_replicas,
              self.cluster.num_workers))
    # A worker reads the chief's checkpoints (it resumes from them) but
    # saves nothing: no checkpoints, summaries or step counts, which
    # MonitoredTrainingSession would write under output_dir/tmp_worker_N
    # (the model's variables are mirrored: saving needs no collective).
    # The chief saves through ResumingCheckpointSaverHook (self.train)
    # alone.
    chief = self.cluster.is_chief
    return tf.estimator.RunConfig(
        model_dir=settings.output_dir,
        tf_random_seed=settings.random_seed,
        save_checkpoints_steps=None, save_checkpoints_secs=None,
        save_summary_steps=settings.save_summary_steps if chief else None,
        log_step_count_steps=100 if chief else None,
        keep_checkpoint_max=settings.keep_checkpoint_max or None,
        session_config=run_config.session_config(settings.use_xla),
        train_distribute=strategy)

  def _mirrored_config(self, devices):
    """The RunConfig of data parallelism over `devices` of this host."""
    settings = self.settings
    self.num_replicas = len(devices)
    for name, size in self.batch_sizes.items():
      if size % self.num_replicas:
        raise ValueError("The %s batch size %d is not divisible by the %d "
                         "GPUs." % (name, size, self.num_replicas))
    strategy = tf.distribute.MirroredStrategy(devices=devices)
    num_cpu_devices = len([d for d in devices if "cpu" in d.lower()])
    return tf.estimator.RunConfig(
        model_dir=settings.output_dir,
        tf_random_seed=settings.random_seed,
        save_checkpoints_steps=settings.save_checkpoints_steps,
        save_summary_steps=settings.save_summary_steps,
        keep_checkpoint_max=settings.keep_checkpoint_max or None,
        session_config=run_config.session_config(settings.use_xla,
                                                 num_cpu_devices),
        train_distribute=strategy, eval_distribute=strategy)

  def _tpu_config(self):
    """The RunConfig of TPUEstimator: a TPU, the CPU or one GPU."""
    settings = self.settings
    resolver = None
    if settings.use_tpu:
      if not settings.tpu_name:
        raise ValueError("--use_tpu needs --tpu_name.")
      resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
          settings.tpu_name, zone=settings.tpu_zone,
          project=settings.gcp_project)
    return tf.estimator.tpu.RunConfig(
        cluster=resolver,
        master=settings.master,
        model_dir=settings.output_dir,
        tf_random_seed=settings.random_seed,
        save_checkpoints_steps=settings.save_checkpoints_steps,
        save_summary_steps=settings.save_summary_steps,
        keep_checkpoint_max=settings.keep_checkpoint_max or None,
        session_config=run_config.session_config(settings.use_xla),
        tpu_config=tf.estimator.tpu.TPUConfig(
            iterations_per_loop=settings.iterations_per_loop,
            num_shards=settings.num_tpu_cores,
            per_host_input_for_training=(
                tf.estimator.tpu.InputPipelineConfig.PER_HOST_V2)))

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
    stop_hook = hooks.StopOnSignalHook()
    train_hooks = [stop_hook]
    if (self.settings.save_checkpoints_steps and not self.settings.use_tpu
        and self.cluster.is_chief):
      # Replaces the Estimator's own saver hook (TPUEstimator on a TPU adds
      # its own, which stays).
      train_hooks.append(hooks.ResumingCheckpointSaverHook(
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
        self._train_on_workers(input_fn, max_steps, train_hooks)
      else:
        self.estimator.train(input_fn=self._input_fn(input_fn, "train"),
                             max_steps=max_steps, hooks=train_hooks)
      signum = script_errors.pending_stop()
    if signum is not None:
      step = stop_hook.stopped_at  # (a worker may not see the checkpoints)
      checkpoint = tf.train.latest_checkpoint(self.settings.output_dir)
      if step is None and checkpoint:
        step = hooks.global_step_of(checkpoint)
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

  def _train_on_workers(self, input_fn, max_steps, train_hooks):
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
        hooks=train_hooks + [hooks.WorkerWatchHook(
            self.settings.worker_timeout_secs, message)])
    try:
      tf.estimator.train_and_evaluate(
          self.estimator, spec,
          tf.estimator.EvalSpec(input_fn=spec.input_fn, steps=1))
    except (hooks.WorkersLost, tf.errors.UnavailableError,
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


def write_eval_results(output_dir, result, ordered=False):
  """Writes the metrics to <output_dir>/eval_results.txt, atomically, as
  `name = value` lines (lists and dicts as JSON), and logs them.

  The names are sorted, or with `ordered` kept in the order of `result`.
  """
  path = os.path.join(output_dir, "eval_results.txt")
  with atomic_files.atomic_open(path) as writer:
    tf.logging.info("***** Eval results *****")
    for key in (list(result) if ordered else sorted(result)):
      value = result[key]
      if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False)
      tf.logging.info("  %s = %s", key, value)
      writer.write("%s = %s\n" % (key, value))
  return path
