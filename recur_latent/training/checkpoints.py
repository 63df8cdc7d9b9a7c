"""Orbax checkpoints: periodic saves, keep-N, exact resume, best-by-validation.

A workdir holds `config.json`, `checkpoints/<step>` (the most recent
`keep_checkpoints` train states) and `best/<step>` (the train state with the
best out-of-distribution validation score, with its score in `best/score.json`).
"""
import json
import logging
import os

from absl import logging as absl_logging

import jax
import ml_collections
import orbax.checkpoint as ocp
from flax import nnx

CONFIG_FILE = "config.json"


def save_config(config, workdir):
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, CONFIG_FILE), "w") as f:
    f.write(config.to_json_best_effort(indent=2, sort_keys=True))


def load_config(workdir):
  with open(os.path.join(workdir, CONFIG_FILE)) as f:
    raw = json.load(f)
  return ml_collections.ConfigDict(_lists_to_tuples(raw))


def _lists_to_tuples(tree):
  # JSON has no tuples; configs use tuples for sequences (sizes, ops).
  if isinstance(tree, dict):
    return {k: _lists_to_tuples(v) for k, v in tree.items()}
  if isinstance(tree, list):
    return tuple(_lists_to_tuples(v) for v in tree)
  return tree


class _BelowWarningFromOrbax(logging.Filter):
  def filter(self, record):
    return record.levelno >= logging.WARNING or "orbax" not in record.pathname


def quiet_checkpoint_logs():
  """Drops Orbax's INFO chatter (several lines per save) from absl's log output."""
  absl_logging.get_absl_handler().addFilter(_BelowWarningFromOrbax())


def abstract_like(tree):
  """Shape/dtype/sharding stand-ins: restore needs a target structure."""
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


class Checkpointer:
  """Latest-N and best checkpoints of one training run."""

  def __init__(self, workdir, keep=2):
    self.workdir = os.path.abspath(workdir)
    self._latest = ocp.CheckpointManager(
        os.path.join(self.workdir, "checkpoints"),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))
    self._best = ocp.CheckpointManager(
        os.path.join(self.workdir, "best"),
        options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True))
    self._score_path = os.path.join(self.workdir, "best", "score.json")

  def latest_step(self):
    return self._latest.latest_step()

  def save(self, step, state):
    if self._latest.latest_step() == step:
      return
    self._latest.save(step, args=ocp.args.StandardSave(state))
    self._latest.wait_until_finished()

  def restore(self, state_like, step=None):
    """Restores the latest (or given) step into the structure of state_like."""
    step = self._latest.latest_step() if step is None else step
    if step is None:
      return None
    return self._latest.restore(
        step, args=ocp.args.StandardRestore(abstract_like(state_like)))

  def best_score(self):
    if not os.path.exists(self._score_path):
      return None
    with open(self._score_path) as f:
      return json.load(f)["score"]

  def maybe_save_best(self, step, state, score):
    """Keeps `state` as the best checkpoint if `score` beats the previous best."""
    best = self.best_score()
    if best is not None and score <= best:
      return False
    self._best.save(step, args=ocp.args.StandardSave(state), force=True)
    self._best.wait_until_finished()
    with open(self._score_path, "w") as f:
      json.dump({"step": int(step), "score": float(score)}, f)
    return True

  def restore_best(self, state_like):
    step = self._best.latest_step()
    if step is None:
      return None
    return self._best.restore(
        step, args=ocp.args.StandardRestore(abstract_like(state_like)))

  def close(self):
    self._latest.close()
    self._best.close()


def load_model(path, *, which="best"):
  """Loads (model, config) from a training workdir.

  which: 'best' (falls back to the latest when no best exists) or 'latest'.
  A run that keeps a moving average of its weights (train.ema_decay) loads the average.
  """
  # Imported here: models depend on nothing in training, and this keeps the
  # import graph one-directional for the rest of the module.
  from recur_latent.models import factory
  from recur_latent.training import train_step as train_step_lib

  config = load_config(path)
  model = factory.build_model(config, nnx.Rngs(config.seed))
  _, _, state = train_step_lib.init_state(model, config.train)
  ckpt = Checkpointer(path)
  try:
    restored = ckpt.restore_best(state) if which == "best" else None
    if restored is None:
      restored = ckpt.restore(state)
  finally:
    ckpt.close()
  if restored is None:
    raise FileNotFoundError(f"no checkpoint found under {path}")
  nnx.update(model, train_step_lib.eval_params(restored))
  return model, config
