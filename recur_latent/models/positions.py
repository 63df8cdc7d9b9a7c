"""Position encodings: relative-distance buckets, RoPE, and the shared relative table.

Four options (`position` in the model config):
  'relative'  DeBERTa-style disentangled attention (see attention.py); this file
              gives the distance buckets, the table shared by all layers, and
              `relative_terms`, the full-sequence gather with a scatter-free backward.
  'rope'      rotary embeddings applied to queries and keys.
  'absolute'  a learned [max_len, D] table added to the input of the body.
  'none'      no position information (causal masking alone orders tokens).
"""
import functools

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


def relative_terms(c2p_BHQR: jax.Array, p2c_BHRS: jax.Array, window: int) -> jax.Array:
  """c2p[i, r] + p2c[r, j] at r = clip(i - j, 0, window) for aligned positions: [B, H, Q, S].

  Same values as gathering both tables at `relative_buckets(arange(L), arange(L),
  window)`, for the full-sequence case (no cache) where query i and key j sit at
  positions i and j, so Q == S. Only the backward differs: see `_aligned_terms_bwd`.
  """
  *lead_c, length, num_r = c2p_BHQR.shape
  *lead_p, num_r_p, num_keys = p2c_BHRS.shape
  if (lead_c, num_r, length) != (lead_p, num_r_p, num_keys) or num_r != window + 1:
    raise ValueError(f"relative_terms needs c2p [..., L, {window + 1}] and p2c "
                     f"[..., {window + 1}, L]; got {c2p_BHQR.shape} and {p2c_BHRS.shape}")
  # One dtype in, one out, so the custom backward's cotangents match the primals;
  # autodiff of the cast returns each table's gradient in its own dtype.
  dtype = jnp.result_type(c2p_BHQR, p2c_BHRS)
  return _aligned_terms(c2p_BHQR.astype(dtype), p2c_BHRS.astype(dtype), window)


def _aligned_buckets(length: int, window: int) -> jax.Array:
  pos_1L = jnp.arange(length, dtype=jnp.int32)[None, :]
  return relative_buckets(pos_1L, pos_1L, window)[0]


def _gather_terms(c2p_BHQR, p2c_BHRS, buckets_QS):
  buckets_11QS = buckets_QS[None, None]
  return (jnp.take_along_axis(c2p_BHQR, buckets_11QS, axis=-1)
          + jnp.take_along_axis(p2c_BHRS, buckets_11QS, axis=-2))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _aligned_terms(c2p_BHQR, p2c_BHRS, window):
  return _gather_terms(c2p_BHQR, p2c_BHRS, _aligned_buckets(c2p_BHQR.shape[-2], window))


def _aligned_terms_fwd(c2p_BHQR, p2c_BHRS, window):
  return _aligned_terms(c2p_BHQR, p2c_BHRS, window), None


def _aligned_terms_bwd(window, _, d_BHQS):
  """Gradients of both tables by row / column sums and diagonal reads, never a scatter.

  Autodiff of take_along_axis scatter-adds dS into the tables, which on GPU
  means atomics and dominated the train step (see attention.py). Here every
  bucket is read out of dS instead. A distance 0 < r < W has exactly one key
  per query (j = i - r) and one query per key (i = j + r): a diagonal of dS.
  Buckets 0 (every j >= i) and W (every j <= i - W) collect many entries:
  masked row sums for c2p, masked column sums for p2c.
  """
  length = d_BHQS.shape[-1]
  buckets_QS = _aligned_buckets(length, window)
  zero = jnp.zeros((), d_BHQS.dtype)
  # Bucket 0 is clip of every distance <= 0; with W = 0 it is also bucket W (all pairs).
  d0_BHQS = jnp.where(buckets_QS == 0, d_BHQS, zero)
  c2p_edges, p2c_edges = [d0_BHQS.sum(-1, keepdims=True)], [d0_BHQS.sum(-2, keepdims=True)]
  if window >= 1:
    dw_BHQS = jnp.where(buckets_QS == window, d_BHQS, zero)
    c2p_edges.append(dw_BHQS.sum(-1, keepdims=True))
    p2c_edges.append(dw_BHQS.sum(-2, keepdims=True))
  # The sums become their own reduction kernels. XLA fused them into the
  # concatenations below, which were then the step's two most expensive
  # kernels on the H200 (5 ms per layer of a 61 ms step; results/performance.md).
  c2p_edges, p2c_edges = jax.lax.optimization_barrier((c2p_edges, p2c_edges))
  if window < 2:
    return jnp.concatenate(c2p_edges, -1), jnp.concatenate(p2c_edges, -2)
  # Distances 1..W-1: the c2p gradient is dS[i, i - r]; the p2c gradient
  # dS[j + r, j] is the same diagonal indexed by its key, a shift of the first.
  c2p_mid_BHQM = _subdiagonals(d_BHQS, window - 1)
  p2c_mid_BHMS = _by_key(c2p_mid_BHQM)
  d_c2p_BHQR = jnp.concatenate([c2p_edges[0], c2p_mid_BHQM, c2p_edges[1]], -1)
  d_p2c_BHRS = jnp.concatenate([p2c_edges[0], p2c_mid_BHMS, p2c_edges[1]], -2)
  return d_c2p_BHQR, d_p2c_BHRS


def _subdiagonals(x_BHQS, count):
  """[..., Q, count]: entry (i, r - 1) is x[i, i - r] for r = 1..count, 0 where i < r.

  Read by a skew instead of a gather: flattened and padded in front by F,
  row-major rows of length L + 1 put x[i, i - F + c] at row i, column c, so
  the first F columns hold the diagonals r = F..1. Flatten, pad, reshape and
  slice are copies with contiguous reads (the reshapes are free), where a
  gather along the rows was the train step's most expensive kernel (a
  strided read per element; results/performance.md).
  """
  *lead, length, _ = x_BHQS.shape
  reach = min(count, length - 1)  # Distances >= L never occur.
  if reach < 1:
    return jnp.zeros((*lead, length, count), x_BHQS.dtype)
  flat = x_BHQS.reshape(*lead, length * length)
  flat = jnp.pad(flat, [(0, 0)] * len(lead) + [(reach, length - reach)])
  skewed = flat.reshape(*lead, length, length + 1)[..., :reach][..., ::-1]  # Column r - 1 is r.
  valid_Q1M = jnp.arange(length)[:, None] >= jnp.arange(1, reach + 1)[None, :]
  diag_BHQM = jnp.where(valid_Q1M, skewed, jnp.zeros((), x_BHQS.dtype))
  if reach < count:
    diag_BHQM = jnp.pad(diag_BHQM, [(0, 0)] * len(lead) + [(0, 0), (0, count - reach)])
  return diag_BHQM


def _by_key(diag_BHQM):
  """[..., M, L]: entry (r - 1, j) is diag[j + r, r - 1], 0 where j + r >= L.

  Row m of the transpose shifted left by r = m + 1: in rows of length L + 1,
  the transpose's flat index m * L + j + m + 1 is m * (L + 1) + j + 1.
  """
  *lead, length, count = diag_BHQM.shape
  flat = jnp.swapaxes(diag_BHQM, -1, -2).reshape(*lead, count * length)
  flat = jnp.pad(flat[..., 1:], [(0, 0)] * len(lead) + [(0, count + 1)])
  shifted_BHMS = flat.reshape(*lead, count, length + 1)[..., :length]
  valid_MS = (jnp.arange(1, count + 1)[:, None] + jnp.arange(length)[None, :]) < length
  return jnp.where(valid_MS, shifted_BHMS, jnp.zeros((), diag_BHQM.dtype))


_aligned_terms.defvjp(_aligned_terms_fwd, _aligned_terms_bwd)


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
