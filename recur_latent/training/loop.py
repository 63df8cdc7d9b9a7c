"""The training loop: resume, step, log, validate, checkpoint, stop cleanly.

The loop dispatches step t before it reads step t-1's metrics, so the host
never makes the device wait; a non-finite loss stops the run (naming the
step) before any checkpoint of the bad state is written.
"""
import signal
import time

import jax
import numpy as np
from absl import logging
from flax import nnx

from recur_latent.models import factory
from recur_latent.training import checkpoints as checkpoints_lib
from recur_latent.training import config_checks
from recur_latent.training import data_stream
from recur_latent.training import metrics_writer
from recur_latent.training import throughput
from recur_latent.training import train_step as train_step_lib


class NonFiniteLossError(FloatingPointError):
  """The loss became NaN or Inf; the last good checkpoint is left intact."""


class _TerminationFlag:
  """Turns SIGTERM (e.g. a preempted VM) into a clean save-and-exit."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self):
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # Not the main thread (e.g. a notebook worker).
      self._previous = None
    return self

  def _handle(self, signum, frame):
    del signum, frame
    self.requested = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def _trigger_reached(score, train_cfg, source):
  """Whether `score` starts the 'triggered' schedule's decay.

  `source` names the score: 'validation' (mean OOD validation) or the training
  metric logged at that step; only the one `train.decay_trigger_metric` names counts.
  """
  return (train_cfg.schedule == "triggered"
          and train_cfg.get("decay_trigger_metric", "validation") == source
          and score >= train_cfg.decay_trigger)


def _start_decay(state, step, score, train_cfg, source):
  """`state` with the decay starting at `step`."""
  logging.info("%s %.3f >= decay_trigger %.3f: learning-rate decay starts at step %d "
               "and lasts %d steps", source, score, train_cfg.decay_trigger, step,
               train_cfg.decay_steps)
  decay_start = jax.device_put(np.int32(step), state.decay_start.sharding)
  return state.replace(decay_start=decay_start)


def _host_metrics(metrics):
  return {k: float(v) for k, v in jax.device_get(metrics).items()}


def train(config, workdir, *, validate_fn=None, log_to_console=True):
  """Trains `config` in `workdir`, resuming from its latest checkpoint.

  Args:
    config: a ConfigDict from configs/.
    workdir: where checkpoints, metrics and the config go.
    validate_fn: `fn(model, config) -> {size: fully_solved}` run every
      `train.eval_every` steps; by default the OOD validation of
      recur_latent.evaluation.
  Returns:
    A dict summary (final step, wall-clock, best validation, time to target).
  """
  t_start = time.time()  # Time to accuracy counts everything: setup and compile too.
  if config.train.distributed:
    jax.distributed.initialize()
  config_checks.check_config(config, num_devices=jax.device_count())
  if validate_fn is None and config.train.eval_every:
    from recur_latent.evaluation import ood  # Lazy: evaluation is optional here.
    validate_fn = ood.validation_fn(config)

  mesh = train_step_lib.make_mesh()
  model = factory.build_model(config, nnx.Rngs(config.seed))
  graphdef, tx, state = train_step_lib.init_state(model, config.train)
  state = jax.device_put(state, train_step_lib.state_sharding(state, mesh))
  checkpointer = checkpoints_lib.Checkpointer(workdir, keep=config.train.keep_checkpoints)
  restored = checkpointer.restore(state)
  if restored is not None:
    state = restored
    logging.info("resumed from step %d", int(state.step))
  checkpoints_lib.save_config(config, workdir)

  start_step = int(state.step)
  num_steps = config.train.num_steps
  source = data_stream.BatchSource(
      config, process_index=jax.process_index(), process_count=jax.process_count())
  prefetcher = data_stream.Prefetcher(source, start_step, depth=config.data.prefetch)
  writer = metrics_writer.MetricsWriter(workdir) if jax.process_index() == 0 else None
  progress = metrics_writer.Progress(start_step, num_steps, config.train.batch_size)
  key = jax.random.key(config.seed)
  summary = {"start_step": start_step, "time_to_target_s": None, "best_val": None}

  step_fn = train_step_lib.jit_train_step(graphdef, tx, config, mesh, state)
  pending = None  # (step, device metrics) of the step dispatched last.
  compiled_by_shape = {}  # Batch shapes -> compiled train step.
  step = start_step
  last_val_step = None  # Step of the latest validation in this process.
  validations_at_target = 0  # Latest validations in a row at the target, in this process.
  trigger_metric = config.train.get("decay_trigger_metric", "validation")
  # With a training-metric trigger, validation can wait for the decay: before it the
  # quickstart scored 0 at 2x in every run, at ~4 s a validation (results/h200_session9/).
  val_after_decay = config.train.get("val_after_decay", False)
  # A host copy of `state.decay_start >= 0`, read from the device once here: reading it
  # at every log step would wait for the step in flight.
  decay_started = config.train.schedule == "triggered" and int(state.decay_start) >= 0

  def start_decay_if_due(step, score, source):
    nonlocal state, decay_started
    if not decay_started and _trigger_reached(score, config.train, source):
      state = _start_decay(state, step, score, config.train, source)
      decay_started = True

  def finish_pending():
    """Reads the last dispatched step's metrics, logs them, stops on non-finite."""
    nonlocal pending
    if pending is None:
      return
    done_step, device_metrics = pending
    pending = None
    host = _host_metrics(device_metrics)
    if not host.pop("finite"):
      raise NonFiniteLossError(
          f"non-finite training step at step {done_step} (loss={host['loss']}, "
          f"grad_norm={host['grad_norm']}, param_norm={host['param_norm']}); "
          "training stopped and the update was discarded. "
          f"The last good checkpoint (step {checkpointer.latest_step()}) is intact.")
    if done_step % config.train.log_every == 0 or done_step == num_steps:
      host["elapsed_s"] = time.time() - t_start
      if writer:
        writer.write(done_step, host)
      if log_to_console:
        logging.info(progress.line(done_step, host))
      if trigger_metric in host:
        start_decay_if_due(done_step, host[trigger_metric], trigger_metric)

  try:
    with _TerminationFlag() as termination:
      while step < num_steps:
        batch_step, batch_np = prefetcher.next()
        assert batch_step == step, (batch_step, step)
        batch = train_step_lib.shard_batch(batch_np, mesh)
        shape = tuple(sorted((k, v.shape) for k, v in batch.items()))
        if shape not in compiled_by_shape:  # One compile per padded length.
          compile_start = time.time()
          compiled_by_shape[shape] = step_fn.lower(state, batch, key).compile()
          cost = {"compile_s": time.time() - compile_start,
                  "step_flops_xla": throughput.compiled_flops(compiled_by_shape[shape]),
                  "step_peak_bytes": throughput.compiled_peak_bytes(compiled_by_shape[shape]),
                  "padded_length": throughput.padded_length(batch_np)}
          summary.setdefault("compiles", []).append(cost)
          summary["compile_s"] = summary.get("compile_s", 0.0) + cost["compile_s"]
          if writer:
            writer.write(step, cost)
          logging.info("compiled the train step for length %d in %.1fs: %.3g FLOPs per step (XLA), "
                       "%.2f GB peak device memory", cost["padded_length"], cost["compile_s"],
                       cost["step_flops_xla"], cost["step_peak_bytes"] / 1e9)
        state, device_metrics = compiled_by_shape[shape](state, batch, key)
        finish_pending()  # The previous step's, while this one runs.
        pending = (step + 1, device_metrics)
        step += 1
        over_budget = (config.train.max_train_seconds > 0
                       and time.time() - t_start > config.train.max_train_seconds)
        at_end = step == num_steps or over_budget
        reached_target = False
        # At the end, validation runs again unless the last one is a few steps
        # back (a run stopped by its budget just after one: on 2 CPU cores one
        # validation costs ~1 minute, a sixth of the quickstart's budget).
        recent = last_val_step is not None and step - last_val_step < max(1, config.train.eval_every // 4)
        periodic = (bool(config.train.eval_every) and step % config.train.eval_every == 0
                    and (decay_started or not val_after_decay))
        if validate_fn and (periodic or (at_end and not recent)):
          finish_pending()
          last_val_step = step
          scores = validate_fn(nnx.merge(graphdef, train_step_lib.eval_params(state)), config)
          score = float(np.mean(list(scores.values())))
          record = {f"val_solved_n{n}": s for n, s in scores.items()}
          record["val_solved_mean"] = score
          record["elapsed_s"] = time.time() - t_start
          at_target = min(scores.values()) >= config.train.target_accuracy
          # The run stops after `target_repeats` validations in a row at the target;
          # time_to_target_s stays the first of them.
          validations_at_target = validations_at_target + 1 if at_target else 0
          if summary["time_to_target_s"] is None and at_target:
            summary["time_to_target_s"] = record["elapsed_s"]
            record["time_to_target_s"] = record["elapsed_s"]
          if writer:
            writer.write(step, record)
          logging.info("step %d validation: %s", step, record)
          if checkpointer.maybe_save_best(step, state, score):
            summary["best_val"] = {"step": step, **record}
          start_decay_if_due(step, score, "validation")
          reached_target = (config.train.stop_at_target
                            and validations_at_target >= config.train.get("target_repeats", 1))
        if ((config.train.checkpoint_every and step % config.train.checkpoint_every == 0)
            or at_end or reached_target):
          finish_pending()
          checkpointer.save(step, state)
        if termination.requested:
          finish_pending()
          checkpointer.save(step, state)
          logging.info("SIGTERM: saved step %d and stopped", step)
          summary["terminated"] = True
          break
        if over_budget or reached_target:
          logging.info("stopped at step %d: %s", step,
                       "target accuracy reached" if reached_target else
                       f"wall-clock budget of {config.train.max_train_seconds}s used")
          break
      finish_pending()
  finally:
    prefetcher.close()
    checkpointer.close()
    if writer:
      writer.close()
  summary.update(final_step=step, wall_clock_s=time.time() - t_start)
  return summary
