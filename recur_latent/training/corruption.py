"""Error correction: teach the model to recompute values it cannot trust.

In a fraction of batches the value factor of candidate variable tokens is
replaced while the labels stay correct. The replacement is a uniform draw over
the value vocabulary (the paper), or, with `train.corrupt_values=model`, a
draw from the model's own prediction at that position with the true value
excluded: the wrong values it is most likely to write itself. Candidates,
relative to the iteration t being trained:
  due:      depth == t  (the paper's code: values about to be computed)
  previous: depth == t - 1 (the values computed by the last iteration)
  computed: depth < t   (the paper's text: any value computed earlier)
"""
import jax
import jax.numpy as jnp

from recur_latent.data import vocab as vocab_lib


def candidate_mask(node_depth_BL, t_B, candidates):
  """Which defining positions may be corrupted at iteration t_B."""
  t_B1 = t_B[:, None]
  defined_BL = node_depth_BL >= 0
  if candidates == "due":
    return defined_BL & (node_depth_BL == t_B1)
  if candidates == "previous":
    return defined_BL & (node_depth_BL == t_B1 - 1)
  if candidates == "computed":
    return defined_BL & (node_depth_BL < t_B1)
  raise ValueError(f"unknown corruption candidates {candidates!r}")


def likely_errors(key, value_logits_BLV, true_values_BL):
  """A draw from softmax(value_logits) with each position's true value
  excluded: an error the model would plausibly make there."""
  true_BLV = jax.nn.one_hot(true_values_BL, value_logits_BLV.shape[-1], dtype=bool)
  logits_BLV = jnp.where(true_BLV, -jnp.inf, value_logits_BLV.astype(jnp.float32))
  return jax.random.categorical(key, logits_BLV, axis=-1).astype(jnp.int32)


def corrupt_values(key, state_BLF, node_depth_BL, t_B, *, batch_prob,
                   token_prob, candidates, value_vocab_size, replacements_fn=None):
  """Returns (corrupted state, mask of corrupted positions).

  One Bernoulli(batch_prob) draw decides whether this batch is corrupted at
  all (the paper corrupts whole batches); then each candidate is replaced
  with probability token_prob. `replacements_fn(key) -> values [B, L]`
  replaces the uniform draw; it only runs (under `lax.cond`) in a batch that
  is corrupted, so a model forward pass inside it costs nothing elsewhere.
  """
  if batch_prob <= 0.0 or token_prob <= 0.0:
    return state_BLF, jnp.zeros(node_depth_BL.shape, bool)
  batch_key, token_key, value_key = jax.random.split(key, 3)
  corrupt_batch = jax.random.bernoulli(batch_key, batch_prob)
  chosen_BL = jax.random.bernoulli(token_key, token_prob, node_depth_BL.shape)
  mask_BL = corrupt_batch & chosen_BL & candidate_mask(node_depth_BL, t_B, candidates)
  if replacements_fn is None:
    random_BL = jax.random.randint(value_key, node_depth_BL.shape, 0, value_vocab_size)
  else:
    random_BL = jax.lax.cond(corrupt_batch, replacements_fn,
                             lambda _: jnp.zeros(node_depth_BL.shape, jnp.int32), value_key)
  values_BL = jnp.where(mask_BL, random_BL, state_BLF[..., vocab_lib.VALUE])
  return state_BLF.at[..., vocab_lib.VALUE].set(values_BL), mask_BL
