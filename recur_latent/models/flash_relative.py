"""Relative-position attention as Pallas (Triton) kernels that form the relative terms in each tile.

The score of query i (at position p_i) for key j is

  scale * (q_i . k_j + q_i . kr_r + qr_r . k_j),  r = clip(p_i - j, 0, W),  j <= p_i.

As in banded.py, split off the far bucket r = W: q_i . kr_W is one constant per
query row (it cancels in the softmax) and qr_W . k_j is a per-key bias (folded
into the queries as q_i + qr_W). What is left,

  band(i, j) = q_i . (kr_r - kr_W) + (qr_r - qr_W) . k_j     for 0 <= p_i - j < W,

is zero beyond W diagonals. XLA forms it as one small table per query,
band [B, H, Q, W] at (i, r) for the key j = p_i - r (the p2c half read along
its diagonals by a skew); the kernel is a flash attention over (q + qr_W) . k
that, only on the key tiles within W of the diagonal, gathers band(i, p_i - j)
from the query's row. No [B, H, Q, S] tensor (scores, probabilities or a
bias, as the 'fused' path's cuDNN call needs) ever reaches memory, in the
forward or in the backward, which writes the table's gradient straight
from each tile's dS: an entry (i, r) has one key, so every gradient entry is
stored once and nothing is accumulated across programs. The kernels
themselves are in flash_kernels.py.

`attention` takes queries at positions query_offset + [0, Q) against keys at
[0, S): offset 0 is the full sequence (training), S - Q a rollout's suffix.
With `lengths_B`, positions at or past a row's length are padding: their
outputs are zeros and the kernels skip the tiles that only they need (the
fast recipe's training rows average 41% of their padded length).
Off a GPU it runs `reference`, the same function in plain JAX; `interpret`
runs the kernels through Pallas' interpreter (the tests check them so on CPU).

On several devices: XLA's partitioner does not split a Pallas call (it would
gather the whole batch onto every device). Under an abstract mesh with a
'data' axis (the train step traces under its mesh) the kernels run in a
shard_map over the batch, each device on its own rows; every input and
output has the batch first, so the backward needs no collective.
"""
import functools

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from recur_latent.models import flash_kernels as kernels_lib

IMPLEMENTATIONS = ("pallas", "interpret", "xla")


def default_implementation() -> str:
  return "pallas" if jax.default_backend() == "gpu" else "xla"


def attention(q_BQHK, k_BSHK, v_BSHK, kr_RHK, qr_RHK, *, scale: float, query_offset: int = 0,
              lengths_B=None, implementation: str | None = None, block_q: int = 32,
              block_k: int = 32, num_warps: int = 2, num_stages: int = 2):
  """Causal relative-position attention, out [B, Q, H, K] in the dtype of q.

  Args:
    q_BQHK, k_BSHK, v_BSHK: queries at positions query_offset + [0, Q); keys
      and values at [0, S) (query_offset + Q <= S).
    kr_RHK, qr_RHK: this layer's projections of the relative table, R = W + 1.
    scale: multiplies every score (1 / sqrt(3 d_head) for the model).
    query_offset: static position of the first query.
    lengths_B: optional int [B]: each row's number of real positions. The
      outputs of queries at or past it are zeros, and their gradients do not
      flow (the gradient of a zeroed output is zero); None: no padding.
    implementation: 'pallas' (GPU), 'interpret' (the kernels on any backend),
      'xla' (plain JAX); None picks 'pallas' on a GPU, else 'xla'.
    block_q, block_k: tile sizes (powers of two, >= 16).
    num_warps, num_stages: Triton's launch and pipelining settings. The
      defaults, 32 x 32 tiles on 2 warps, gave the fastest H200 train step
      of those tried: 18.20 ms against 18.44 at 64 x 64 on 4 warps
      (results/h200_session18/).
  """
  implementation = implementation or default_implementation()
  if implementation not in IMPLEMENTATIONS:
    raise ValueError(f"unknown implementation {implementation!r}; expected one of {IMPLEMENTATIONS}")
  window = kr_RHK.shape[0] - 1
  num_queries, num_keys = q_BQHK.shape[1], k_BSHK.shape[1]
  if window < 1 or qr_RHK.shape[0] != window + 1:
    raise ValueError(f"the relative tables need W + 1 >= 2 rows; got {kr_RHK.shape}, {qr_RHK.shape}")
  if query_offset < 0 or query_offset + num_queries > num_keys:
    raise ValueError(f"queries at [{query_offset}, {query_offset + num_queries}) need keys up to "
                     f"their last position; got {num_keys} keys")
  q_BQHK, band_BHQW = band_table(q_BQHK, k_BSHK, kr_RHK, qr_RHK, query_offset)
  if implementation == "xla":
    return reference(q_BQHK, k_BSHK, v_BSHK, band_BHQW, scale=scale, query_offset=query_offset,
                     lengths_B=lengths_B)
  if lengths_B is None:  # The kernels always read a length: without padding, every key is real.
    lengths_B = jnp.full((q_BQHK.shape[0],), num_keys, jnp.int32)
  lengths_B = jnp.asarray(lengths_B, jnp.int32)
  for name, size in (("block_q", block_q), ("block_k", block_k)):
    if size < 16 or size & (size - 1):
      raise ValueError(f"{name} must be a power of two >= 16, got {size}")
  pad_q, pad_k = -num_queries % block_q, -num_keys % block_k
  head_dim = q_BQHK.shape[-1]
  pad_d = _pow2(max(head_dim, 16)) - head_dim  # The kernels' head dim: a power of two >= 16.
  pad_w = max(_pow2(window), block_q, block_k) - window  # The band's stores need W' >= a tile side.
  pad = lambda x, *widths: jnp.pad(x, [(0, w) for w in widths])
  st = kernels_lib.Static(float(scale), int(query_offset), window, block_q, block_k, num_warps,
                          num_stages, implementation == "interpret")
  kernels = _over_data_shards(lambda *args: _kernel_attention(*args, st), q_BQHK.shape[0])
  lengths_BC = jnp.broadcast_to(lengths_B[:, None], (lengths_B.shape[0], kernels_lib.LENGTH_COPIES))
  out_BQHK = kernels(pad(q_BQHK, 0, pad_q, 0, pad_d), pad(k_BSHK, 0, pad_k, 0, pad_d),
                     pad(v_BSHK, 0, pad_k, 0, pad_d), pad(band_BHQW, 0, 0, pad_q, pad_w), lengths_BC)
  return out_BQHK[:, :num_queries, :, :head_dim]


def _over_data_shards(fn, batch_size):
  """fn, or fn in a shard_map over the batch when tracing under a mesh with a 'data' axis > 1."""
  # Looked up, not assumed: the GPU machines run a newer JAX than CI.
  get_mesh = getattr(jax.sharding, "get_abstract_mesh", None)
  mesh = get_mesh() if get_mesh else None
  if mesh is None or mesh.empty or "data" not in mesh.axis_names:
    return fn
  shards = mesh.shape["data"]
  if shards == 1 or batch_size % shards:
    return fn
  return jax.shard_map(fn, mesh=mesh, in_specs=P("data"), out_specs=P("data"), check_vma=False)


def band_table(q_BQHK, k_BSHK, kr_RHK, qr_RHK, query_offset):
  """(q + qr_W, band [B, H, Q, W]): the kernel's inputs, in the dtype of q.

  band[i, r] = q_i . (kr_r - kr_W) + (qr_r - qr_W) . k_{p_i - r}, 0 where
  p_i - r < 0 (no such key).

  Both products are batched over (batch, head), the tables broadcast over the
  batch, so that their outputs come out in the layouts used next ([B, H, Q, W]
  and [B, H, W, S] for the skew) and autodiff's backward products read the
  table's gradient where the kernel wrote it; they are written in the dtype
  of q. As one product batched over heads with a float32 output (the first
  version), XLA transposed the 67M-entry tables several times: 6.1 of the
  H200 step's 25.3 ms of kernels (results/h200_session17/).
  """
  window = kr_RHK.shape[0] - 1
  dt, f32 = q_BQHK.dtype, jnp.float32
  batch = q_BQHK.shape[0]
  kr_RHK, qr_RHK = kr_RHK.astype(f32), qr_RHK.astype(f32)
  per_batch = lambda t_RHK: jnp.broadcast_to(
      jnp.swapaxes(t_RHK[:window] - t_RHK[window], 0, 1).astype(dt)[None],
      (batch,) + (t_RHK.shape[1], window, t_RHK.shape[2]))
  q_BHQK, k_BHSK = jnp.swapaxes(q_BQHK, 1, 2), jnp.swapaxes(k_BSHK, 1, 2)
  c2p_BHQW = jnp.einsum("bhqk,bhwk->bhqw", q_BHQK, per_batch(kr_RHK), preferred_element_type=dt)
  p2c_BHWS = jnp.einsum("bhsk,bhwk->bhws", k_BHSK, per_batch(qr_RHK), preferred_element_type=dt)
  by_query_BHQW = jnp.swapaxes(_by_query(p2c_BHWS, query_offset, q_BQHK.shape[1]), -1, -2)
  q_far_BQHK = (q_BQHK.astype(f32) + qr_RHK[window]).astype(dt)
  return q_far_BQHK, (c2p_BHQW.astype(f32) + by_query_BHQW.astype(f32)).astype(dt)


def _by_query(p2c_BHWS, query_offset, num_queries):
  """[..., W, Q]: entry (r, i) is p2c[r, query_offset + i - r], 0 where that key is < 0.

  A skew, not a gather: padded to rows of M = W + S + 1 (W zeros in front, one
  behind) and read in rows of M - 1, row r shifts left by r, so column
  query_offset + W + i holds p2c[r, query_offset + i - r] (the front zeros
  where that is negative). Autodiff's transpose is the reverse skew.
  """
  *lead, window, num_keys = p2c_BHWS.shape
  padded = jnp.pad(p2c_BHWS, [(0, 0)] * len(lead) + [(0, 0), (window, 1)])
  row = num_keys + window
  flat = padded.reshape(*lead, window * (row + 1))[..., : window * row]
  start = query_offset + window
  return flat.reshape(*lead, window, row)[..., start:start + num_queries]


def reference(q_BQHK, k_BSHK, v_BSHK, band_BHQW, *, scale, query_offset, lengths_B=None):
  """What the kernels compute, in plain JAX with [B, H, Q, S] scores (float32)."""
  f32 = jnp.float32
  window = band_BHQW.shape[-1]
  num_queries, num_keys = q_BQHK.shape[1], k_BSHK.shape[1]
  r_QS = (query_offset + jnp.arange(num_queries))[:, None] - jnp.arange(num_keys)[None, :]
  in_band_QS = (r_QS >= 0) & (r_QS < window)
  r_11QS = jnp.clip(r_QS, 0, window - 1)[None, None]
  band_BHQS = jnp.take_along_axis(band_BHQW.astype(f32), r_11QS, axis=-1)
  scores_BHQS = jnp.einsum("bqhk,bshk->bhqs", q_BQHK, k_BSHK, preferred_element_type=f32)
  scores_BHQS = (scores_BHQS + jnp.where(in_band_QS, band_BHQS, 0.0)) * scale
  scores_BHQS = jnp.where(r_QS >= 0, scores_BHQS, kernels_lib.MASKED)
  probs_BHQS = jax.nn.softmax(scores_BHQS, axis=-1)
  out_BQHK = jnp.einsum("bhqs,bshk->bqhk", probs_BHQS.astype(v_BSHK.dtype), v_BSHK,
                        preferred_element_type=f32)
  if lengths_B is not None:
    out_BQHK = _zero_padding(out_BQHK, query_offset, lengths_B)
  return out_BQHK.astype(q_BQHK.dtype)


def _zero_padding(out_BQHK, query_offset, lengths_B):
  """out with the rows of queries at or past their row's length set to 0."""
  positions_Q = query_offset + jnp.arange(out_BQHK.shape[1])
  valid_BQ11 = (positions_Q[None, :] < lengths_B[:, None])[:, :, None, None]
  return jnp.where(valid_BQ11, out_BQHK, 0)


def _pow2(n: int) -> int:
  return 1 << max(n - 1, 0).bit_length()


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def _kernel_attention(q, k, v, band, lengths, st: kernels_lib.Static):
  return _forward(q, k, v, band, lengths, st)[0]


def _forward(q, k, v, band, lengths, st: kernels_lib.Static):
  sp = kernels_lib.specs(st, q, k, band)
  batch, num_queries, heads, _ = q.shape
  return kernels_lib.call(
      kernels_lib.forward_kernel, st, num_queries // st.block_q,
      [sp["q_block"], sp["k_all"], sp["k_all"], sp["band_block"], sp["length"]],
      [sp["q_block"], sp["rows_block"]],
      [jax.ShapeDtypeStruct(q.shape, q.dtype),
       jax.ShapeDtypeStruct((batch, heads, num_queries), jnp.float32)],
      q, k, v, band, lengths)


def _kernel_attention_fwd(q, k, v, band, lengths, st):
  out, lse = _forward(q, k, v, band, lengths, st)
  return out, (q, k, v, band, lengths, out, lse)


def _kernel_attention_bwd(st, residuals, d_out):
  q, k, v, band, lengths, out, lse = residuals
  sp = kernels_lib.specs(st, q, k, band)
  # delta_i = sum_d o_i do_i: the softmax backward's row term, [B, H, Q] (0 on padded rows,
  # whose outputs are zeros; the kernels zero their d_out).
  delta = jnp.einsum("bqhk,bqhk->bhq", out.astype(jnp.float32), d_out.astype(jnp.float32))
  d_out = d_out.astype(q.dtype)
  args = (q, k, v, band, d_out, lse, delta, lengths)
  zeros = jnp.zeros(band.shape, band.dtype)  # dband's entries without a key stay 0.
  shape = lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype)
  dq, dband = kernels_lib.call(
      kernels_lib.dq_kernel, st, q.shape[1] // st.block_q,
      [sp["q_block"], sp["k_all"], sp["k_all"], sp["band_block"], sp["q_block"],
       sp["rows_block"], sp["rows_block"], sp["length"], sp["band_block"]],
      [sp["q_block"], sp["band_block"]], [shape(q), shape(band)], *args, zeros, aliases={8: 1})
  dk, dv = kernels_lib.call(
      kernels_lib.dkv_kernel, st, k.shape[1] // st.block_k,
      [sp["q_all"], sp["k_block"], sp["k_block"], sp["band_all"], sp["q_all"],
       sp["rows_all"], sp["rows_all"], sp["length"]],
      [sp["k_block"], sp["k_block"]], [shape(k), shape(v)], *args)
  return dq, dk, dv, dband, None


_kernel_attention.defvjp(_kernel_attention_fwd, _kernel_attention_bwd)
