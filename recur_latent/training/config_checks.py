"""Validates a config before anything is built or compiled.

Every error names the offending field, so a typo in a sweep fails in a second
instead of after a compile.
"""
from recur_latent.data import vocab as vocab_lib
from recur_latent.models import transformer as transformer_lib
from recur_latent.models.factory import METHODS
from recur_latent.models.attention import RELATIVE_SCORES
from recur_latent.models.positions import POSITIONS
from recur_latent.models.recurrence import HALTING
from recur_latent.training.optimizer import SCHEDULES

# What can start the 'triggered' decay: OOD validation, or a training metric of the log steps.
DECAY_TRIGGER_METRICS = ("validation", "due_value_accuracy", "value_accuracy", "state_accuracy")
# Methods whose objective is one pass over the batch, where padded positions can be skipped.
SKIP_PADDING_METHODS = ("feedforward", "discrete", "discrete_ec")
AUX_METHODS = ("feedforward", "e2e_recurrent", "continuous", "discrete", "discrete_ec")  # Methods with training aids.


class ConfigError(ValueError):
  """A config field has a value the codebase cannot run with."""


def _require(ok, field, message):
  if not ok:
    raise ConfigError(f"config.{field}: {message}")


def check_config(config, *, num_devices=1):
  """Raises ConfigError naming the first invalid field."""
  _require(config.method in METHODS, "method",
           f"unknown method {config.method!r}; expected one of {METHODS}")
  d, m, t, e = config.data, config.model, config.train, config.eval
  _require(d.modulus >= 2, "data.modulus", f"must be >= 2, got {d.modulus}")
  try:
    vocab_lib.op_ids(tuple(d.ops))
  except ValueError as err:
    raise ConfigError(f"config.data.ops: {err}") from None
  _require(d.num_leaves >= 1, "data.num_leaves", f"must be >= 1, got {d.num_leaves}")
  _require(1 <= d.max_fan_in <= 3, "data.max_fan_in",
           f"must be in 1..3, got {d.max_fan_in}")
  _require(d.train_min_nodes > d.num_leaves, "data.train_min_nodes",
           f"must exceed num_leaves={d.num_leaves}, got {d.train_min_nodes}")
  _require(d.train_max_nodes >= d.train_min_nodes, "data.train_max_nodes",
           f"must be >= train_min_nodes={d.train_min_nodes}, got {d.train_max_nodes}")
  largest = max([d.train_max_nodes, *e.sizes, *t.val_sizes])
  _require(d.num_names >= largest, "data.num_names",
           f"the name pool ({d.num_names}) is smaller than the largest graph "
           f"size used ({largest} nodes)")
  _require(d.train_max_depth is None or d.train_max_depth >= 1,
           "data.train_max_depth", f"must be >= 1 or None, got {d.train_max_depth}")
  _require(d.size_chunks >= 1, "data.size_chunks", f"must be >= 1, got {d.size_chunks}")
  _require(d.bucket >= 1, "data.bucket", f"must be >= 1, got {d.bucket}")
  _require(d.pad_batches in ("max", "bucket", "longest"), "data.pad_batches",
           f"must be max, bucket or longest, got {d.pad_batches!r}")
  _require(d.fixed_dataset_size >= 0, "data.fixed_dataset_size", "must be >= 0")

  _require(m.d_model >= 1 and m.num_heads >= 1, "model.d_model",
           f"d_model={m.d_model} and num_heads={m.num_heads} must be positive")
  _require(m.d_model % m.num_heads == 0, "model.num_heads",
           f"d_model={m.d_model} is not divisible by num_heads={m.num_heads}")
  _require(m.num_layers >= 1, "model.num_layers", f"must be >= 1, got {m.num_layers}")
  _require(m.position in POSITIONS, "model.position",
           f"unknown position {m.position!r}; expected one of {POSITIONS}")
  _require(m.rel_window >= 1, "model.rel_window", f"must be >= 1, got {m.rel_window}")
  _require(m.get("relative_scores", "dense") in RELATIVE_SCORES, "model.relative_scores",
           f"unknown {m.get('relative_scores')!r}; expected one of {RELATIVE_SCORES}")
  _require(0.0 <= m.dropout < 1.0, "model.dropout", f"must be in [0, 1), got {m.dropout}")
  scores = m.get("relative_scores", "dense")
  _require(not (scores in ("fused", "flash") and m.dropout > 0), "model.dropout",
           f"relative_scores={scores!r} has no attention dropout; got dropout={m.dropout}")
  _require(m.dtype in ("float32", "bfloat16"), "model.dtype",
           f"must be float32 or bfloat16, got {m.dtype!r}")

  _require(t.batch_size >= 1, "train.batch_size", f"must be >= 1, got {t.batch_size}")
  _require(t.batch_size % num_devices == 0, "train.batch_size",
           f"global batch {t.batch_size} is not divisible by the {num_devices} devices")
  _require(t.batch_size % d.size_chunks == 0, "data.size_chunks",
           f"batch_size={t.batch_size} is not divisible by size_chunks={d.size_chunks}")
  _require(t.num_steps >= 1, "train.num_steps", f"must be >= 1, got {t.num_steps}")
  _require(t.learning_rate > 0, "train.learning_rate", "must be positive")
  repeats = t.get("target_repeats", 1)
  _require(isinstance(repeats, int) and repeats >= 1, "train.target_repeats",
           f"must be an integer >= 1 (validations in a row at the target), got {repeats!r}")
  _require(0.0 <= t.get("ema_decay", 0.0) < 1.0, "train.ema_decay",
           f"must be in [0, 1) (0: no weight average), got {t.get('ema_decay', 0.0)}")
  _require(t.schedule in SCHEDULES, "train.schedule",
           f"must be one of {SCHEDULES}, got {t.schedule!r}")
  if t.schedule == "triggered":
    metric = t.get("decay_trigger_metric", "validation")
    _require(metric in DECAY_TRIGGER_METRICS, "train.decay_trigger_metric",
             f"must be one of {DECAY_TRIGGER_METRICS}, got {metric!r}")
    _require(metric == "validation" or config.method != "cot", "train.decay_trigger_metric",
             f"chain-of-thought training logs no {metric}; use 'validation'")
    _require(metric != "validation" or t.eval_every > 0, "train.eval_every",
             "the triggered schedule needs validation (eval_every > 0) to start its decay")
    _require(0.0 < t.decay_trigger <= 1.0, "train.decay_trigger",
             f"must be in (0, 1], got {t.decay_trigger}")
    _require(t.decay_steps >= 1, "train.decay_steps", f"must be >= 1, got {t.decay_steps}")
  if t.get("val_after_decay", False):
    _require(t.schedule == "triggered" and t.get("decay_trigger_metric", "validation") != "validation",
             "train.val_after_decay", "needs schedule='triggered' with a training-metric "
             "decay_trigger_metric: validation cannot both start the decay and wait for it")
  _require(m.value_init in ("normal", "fourier"), "model.value_init",
           f"must be normal or fourier, got {m.value_init!r}")
  if m.value_init == "fourier":
    _require(m.d_model >= 2 * (d.modulus // 2), "model.value_init",
             f"fourier needs d_model >= {2 * (d.modulus // 2)} for modulus {d.modulus}")
  _require(t.loss in ("faithful", "weighted"), "train.loss",
           f"must be faithful or weighted, got {t.loss!r}")
  if t.get("skip_padding", False):
    _require(t.loss == "weighted", "train.skip_padding",
             f"needs train.loss='weighted' (the '{t.loss}' loss reads padded positions)")
    _require(config.method in SKIP_PADDING_METHODS and not t.rollout, "train.skip_padding",
             f"applies to the one-pass and teacher-forced objectives ({SKIP_PADDING_METHODS}, "
             f"rollout off), not {config.method!r}" + (" with train.rollout" if t.rollout else ""))
  _require(t.iterations in ("sample", "all"), "train.iterations",
           f"must be sample or all, got {t.iterations!r}")
  _require(t.train_iters >= 1, "train.train_iters", f"must be >= 1, got {t.train_iters}")
  _require(0.0 <= t.corrupt_batch_prob <= 1.0, "train.corrupt_batch_prob", "must be in [0, 1]")
  _require(0.0 <= t.corrupt_token_prob <= 1.0, "train.corrupt_token_prob", "must be in [0, 1]")
  _require(t.corrupt_candidates in ("due", "previous", "computed"),
           "train.corrupt_candidates",
           f"must be due, previous or computed, got {t.corrupt_candidates!r}")
  _require(t.corrupt_values in ("uniform", "model"), "train.corrupt_values",
           f"must be uniform or model, got {t.corrupt_values!r}")
  _require(t.operand_loss_weight >= 0, "train.operand_loss_weight", "must be >= 0")
  _require(t.operand_value_loss_weight >= 0, "train.operand_value_loss_weight", "must be >= 0")
  _require(t.operand_value_loss_weight == 0 or t.operand_loss_weight > 0,
           "train.operand_value_loss_weight", "needs train.operand_loss_weight > 0")
  _require(t.use_value_loss_weight >= 0, "train.use_value_loss_weight", "must be >= 0")
  _require(t.pair_value_loss_weight >= 0, "train.pair_value_loss_weight", "must be >= 0")
  _require(t.prefix_value_loss_weight >= 0, "train.prefix_value_loss_weight", "must be >= 0")
  tied = tuple(getattr(m, "tied_layers", ()))
  _require(transformer_lib.tied_layers_valid(tied, m.num_layers), "model.tied_layers",
           f"must be >= 2 distinct indices of the {m.num_layers} layers, got {tied}")
  for field, layer_field in (("operand_loss_weight", "operand_heads_layer"),
                             ("use_value_loss_weight", "operand_heads_layer"),
                             ("pair_value_loss_weight", "pair_heads_layer"),
                             ("prefix_value_loss_weight", "prefix_heads_layer")):
    if t[field] == 0:
      continue
    _require(0 <= m[layer_field] < m.num_layers, f"model.{layer_field}",
             f"train.{field} needs auxiliary heads after one of the {m.num_layers} layers, "
             f"got {m[layer_field]}")
    _require(config.method in AUX_METHODS, f"train.{field}",
             f"the auxiliary losses apply to the methods {AUX_METHODS}, not {config.method!r}")
  _require(t.max_train_seconds >= 0, "train.max_train_seconds", "must be >= 0")
  _require(t.log_every >= 1, "train.log_every", f"must be >= 1, got {t.log_every}")
  _require(not (config.method == "cot" and t.rollout), "train.rollout",
           "rollout training applies to the latent methods, not cot")

  val_halting = config.train.get("val_halting", "")
  _require(val_halting in ("",) + HALTING, "train.val_halting",
           f"unknown halting rule {val_halting!r}; expected '' (the first of eval.halting) or one of {HALTING}")
  for mode in e.halting:
    _require(mode in HALTING, "eval.halting",
             f"unknown halting rule {mode!r}; expected some of {HALTING}")
  _require(e.max_iters >= 1, "eval.max_iters", f"must be >= 1, got {e.max_iters}")
  _require(e.batch_size >= 1, "eval.batch_size", f"must be >= 1, got {e.batch_size}")
  _require(e.get("suffix_chunks", 1) >= 1, "eval.suffix_chunks",
           f"must be >= 1, got {e.get('suffix_chunks', 1)}")
  for n in [*e.sizes, *t.val_sizes]:
    _require(n > d.num_leaves, "eval.sizes",
             f"graph size {n} must exceed num_leaves={d.num_leaves}")
