"""Position encodings: relative-distance buckets, RoPE, and the shared relative table.

Four options (`position` in the model config):
  'relative'  DeBERTa-style disentangled attention (see attention.py); this file
              gives the distance buckets and the table shared by all layers.
  'rope'      rotary embeddings applied to queries and keys.
  'absolute'  a learned [max_len, D] table added to the input of the body.
  'none'      no position information (causal masking alone orders tokens).
"""
import jax
import jax.numpy as jnp
from flax import nnx

POSITIONS = ("relative", "rope", "absolute", "none")


def check_position(position: str) -> str:
  if position not in POSITIONS:
    raise ValueError(f"unknown position encoding {position!r}; expected one of {POSITIONS}")
  return position


def relative_buckets(query_pos_BQ: jax.Array, key_pos_BS: jax.Array, window: int) -> jax.Array:
  """Clipped causal distance `clip(q - k, 0, window)` for every (query, key) pair: [B, Q, S].

  Attention is causal, so keys after the query (negative distances) are masked
  anyway; they share bucket 0 here. Every distance >= window shares the last
  bucket, so the table needs only window + 1 rows.
  """
  distance_BQS = query_pos_BQ[:, :, None] - key_pos_BS[:, None, :]
  return jnp.clip(distance_BQS, 0, window).astype(jnp.int32)


class RelativeTable(nnx.Module):
  """The relative-position embedding table [window + 1, D] and its LayerNorm.

  One instance lives in the Transformer body and its (normalized) output is
  passed to every layer, which applies its own key/query projections (as in
  DeBERTa, where the table is shared across layers).
  """

  def __init__(self, window: int, d_model: int, *, rngs: nnx.Rngs):
    self.window = window
    init = jax.nn.initializers.normal(stddev=1.0)
    self.embedding = nnx.Param(init(rngs.params(), (window + 1, d_model), jnp.float32))
    self.norm = nnx.LayerNorm(d_model, rngs=rngs)

  def __call__(self) -> jax.Array:
    """The normalized table rel_RD, R = window + 1 (row r is distance r)."""
    return self.norm(self.embedding[...])


def rope(x_BLHK: jax.Array, positions_BL: jax.Array, base: float = 10_000.0) -> jax.Array:
  """Rotary position embedding (rotate-half form) of queries or keys, computed in fp32."""
  head_dim = x_BLHK.shape[-1]
  if head_dim % 2:
    raise ValueError(f"RoPE needs an even head dimension, got {head_dim}")
  half = head_dim // 2
  inv_freq_K = base ** (-jnp.arange(half, dtype=jnp.float32) / half)
  angle_BLK = positions_BL[..., None].astype(jnp.float32) * inv_freq_K
  cos_BL1K = jnp.cos(angle_BLK)[:, :, None, :]
  sin_BL1K = jnp.sin(angle_BLK)[:, :, None, :]
  x = x_BLHK.astype(jnp.float32)
  x1, x2 = x[..., :half], x[..., half:]
  rotated = jnp.concatenate([x1 * cos_BL1K - x2 * sin_BL1K, x2 * cos_BL1K + x1 * sin_BL1K], axis=-1)
  return rotated.astype(x_BLHK.dtype)
