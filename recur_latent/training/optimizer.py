"""AdamW with warmup, a learning-rate schedule and gradient clipping.

The learning rate is applied by the train step, not inside optax, because the
'triggered' schedule depends on more than the step count: its decay starts
at the step (kept in the train state, so resuming is exact) where
out-of-distribution validation first reached `train.decay_trigger`. A run then
needs no step count guessed in advance: it trains at the peak rate while it
is learning and anneals once it is nearly there.

Schedules (after a linear warmup that starts at peak / warmup_steps):
  constant   the peak rate.
  cosine     cosine decay to end_lr_fraction * peak over the remaining steps.
  triggered  the peak rate until the trigger step, then cosine decay to
             end_lr_fraction * peak over `decay_steps`, then flat.
"""
import jax
import jax.numpy as jnp
import optax

SCHEDULES = ("constant", "cosine", "triggered")
NOT_TRIGGERED = -1  # decay_start before validation has reached the trigger.


def _cosine(progress, peak, end_fraction):
  progress = jnp.clip(progress, 0.0, 1.0)
  return peak * (end_fraction + (1.0 - end_fraction) * 0.5 * (1.0 + jnp.cos(jnp.pi * progress)))


def learning_rate_schedule(train_cfg):
  """`fn(count, decay_start=NOT_TRIGGERED) -> lr` for the update after `count` updates.

  Works on Python ints and on traced int32 scalars (inside the train step).
  """
  peak = float(train_cfg.learning_rate)
  warmup = max(int(train_cfg.warmup_steps), 0)
  end = float(train_cfg.end_lr_fraction)
  kind = train_cfg.schedule
  if kind not in SCHEDULES:
    raise ValueError(f"unknown schedule {kind!r}; expected one of {SCHEDULES}")
  num_steps = int(train_cfg.num_steps)
  decay_steps = max(int(getattr(train_cfg, "decay_steps", 1)), 1)

  def schedule(count, decay_start=NOT_TRIGGERED):
    count = jnp.asarray(count, jnp.float32)
    if kind == "constant":
      after = jnp.full_like(count, peak)
    elif kind == "cosine":
      after = _cosine((count - warmup) / max(num_steps - warmup, 1), peak, end)
    else:
      start = jnp.asarray(decay_start, jnp.float32)
      decayed = _cosine((count - start) / decay_steps, peak, end)
      after = jnp.where(start >= 0, jnp.where(count >= start, decayed, peak), peak)
    if warmup == 0:
      return after
    # Starts at peak / warmup, not 0, so that the very first step already learns.
    ramp = peak * (count + 1.0) / warmup
    return jnp.where(count < warmup, jnp.minimum(ramp, peak), after)

  return schedule


def make_optimizer(train_cfg):
  """AdamW's direction (clipped, Adam-scaled, plus decoupled weight decay), lr not applied.

  The train step multiplies the result by -lr: together this is optax.adamw.
  Weight decay skips biases and norms.
  """
  def decay_mask(params):
    # Matrices (embeddings, projections) decay; vectors (biases, scales) do not.
    return jax.tree.map(lambda p: p.ndim >= 2, params)

  parts = []
  if train_cfg.grad_clip and train_cfg.grad_clip > 0:
    parts.append(optax.clip_by_global_norm(train_cfg.grad_clip))
  parts += [optax.scale_by_adam(b1=train_cfg.b1, b2=train_cfg.b2),
            optax.add_decayed_weights(train_cfg.weight_decay, mask=decay_mask)]
  return optax.chain(*parts)
