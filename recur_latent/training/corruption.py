"""Error correction: teach the model to recompute values it cannot trust.

In a fraction of batches the value factor of candidate variable tokens is
replaced by a uniform draw over the value vocabulary while the labels stay
correct. Candidates, relative to the iteration t being trained:
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


def corrupt_values(key, state_BLF, node_depth_BL, t_B, *, batch_prob,
                   token_prob, candidates, value_vocab_size):
  """Returns (corrupted state, mask of corrupted positions).

  One Bernoulli(batch_prob) draw decides whether this batch is corrupted at
  all (the paper corrupts whole batches); then each candidate is replaced
  with probability token_prob.
  """
  if batch_prob <= 0.0 or token_prob <= 0.0:
    return state_BLF, jnp.zeros(node_depth_BL.shape, bool)
  batch_key, token_key, value_key = jax.random.split(key, 3)
  corrupt_batch = jax.random.bernoulli(batch_key, batch_prob)
  chosen_BL = jax.random.bernoulli(token_key, token_prob, node_depth_BL.shape)
  mask_BL = corrupt_batch & chosen_BL & candidate_mask(node_depth_BL, t_B, candidates)
  random_BL = jax.random.randint(value_key, node_depth_BL.shape, 0, value_vocab_size)
  values_BL = jnp.where(mask_BL, random_BL, state_BLF[..., vocab_lib.VALUE])
  return state_BLF.at[..., vocab_lib.VALUE].set(values_BL), mask_BL
