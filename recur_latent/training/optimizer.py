"""AdamW with warmup, a cosine or constant schedule, and gradient clipping."""
import jax
import optax


def learning_rate_schedule(train_cfg):
  peak = train_cfg.learning_rate
  warmup = max(int(train_cfg.warmup_steps), 0)
  if train_cfg.schedule == "constant":
    after = optax.constant_schedule(peak)
  elif train_cfg.schedule == "cosine":
    after = optax.cosine_decay_schedule(
        peak, max(train_cfg.num_steps - warmup, 1), alpha=train_cfg.end_lr_fraction)
  else:
    raise ValueError(f"unknown schedule {train_cfg.schedule!r}")
  if warmup == 0:
    return after
  return optax.join_schedules(
      # Starts at peak / warmup, not 0, so that the very first step already learns.
      [optax.linear_schedule(peak / warmup, peak, warmup), after], boundaries=[warmup])


def make_optimizer(train_cfg):
  """The optimizer of every method; weight decay skips biases and norms."""
  def decay_mask(params):
    # Matrices (embeddings, projections) decay; vectors (biases, scales) do not.
    return jax.tree.map(lambda p: p.ndim >= 2, params)

  adamw = optax.adamw(
      learning_rate_schedule(train_cfg), b1=train_cfg.b1, b2=train_cfg.b2,
      weight_decay=train_cfg.weight_decay, mask=decay_mask)
  if train_cfg.grad_clip and train_cfg.grad_clip > 0:
    return optax.chain(optax.clip_by_global_norm(train_cfg.grad_clip), adamw)
  return adamw
