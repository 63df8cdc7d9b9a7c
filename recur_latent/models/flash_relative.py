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
forward or in the backward, whose dq kernel writes the table's gradient
straight from each tile's dS: an entry (i, r) has one key, so every gradient
entry is stored once and nothing is accumulated across programs.

`attention` takes queries at positions query_offset + [0, Q) against keys at
[0, S): offset 0 is the full sequence (training), S - Q a rollout's suffix.
Off a GPU it runs `reference`, the same function in plain JAX; `interpret`
runs the kernels through Pallas' interpreter (the tests check them so on CPU).

On several devices: XLA's partitioner does not split a Pallas call (it would
gather the whole batch onto every device). Under an abstract mesh with a
'data' axis (the train step traces under its mesh) the kernels run in a
shard_map over the batch, each device on its own rows; every input and
output has the batch first, so the backward needs no collective.
"""
import functools
import typing

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plgpu
from jax.sharding import PartitionSpec as P

IMPLEMENTATIONS = ("pallas", "interpret", "xla")
_MASKED = -1e30  # A large finite score for masked pairs: exp underflows to 0 without inf - inf.


def default_implementation() -> str:
  return "pallas" if jax.default_backend() == "gpu" else "xla"


def attention(q_BQHK, k_BSHK, v_BSHK, kr_RHK, qr_RHK, *, scale: float, query_offset: int = 0,
              implementation: str | None = None, block_q: int = 64, block_k: int = 64,
              num_warps: int = 4, num_stages: int = 2):
  """Causal relative-position attention, out [B, Q, H, K] in the dtype of q.

  Args:
    q_BQHK, k_BSHK, v_BSHK: queries at positions query_offset + [0, Q); keys
      and values at [0, S) (query_offset + Q <= S).
    kr_RHK, qr_RHK: this layer's projections of the relative table, R = W + 1.
    scale: multiplies every score (1 / sqrt(3 d_head) for the model).
    query_offset: static position of the first query.
    implementation: 'pallas' (GPU), 'interpret' (the kernels on any backend),
      'xla' (plain JAX); None picks 'pallas' on a GPU, else 'xla'.
    block_q, block_k: tile sizes (powers of two, >= 16).
    num_warps, num_stages: Triton's launch and pipelining settings.
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
    return reference(q_BQHK, k_BSHK, v_BSHK, band_BHQW, scale=scale, query_offset=query_offset)
  for name, size in (("block_q", block_q), ("block_k", block_k)):
    if size < 16 or size & (size - 1):
      raise ValueError(f"{name} must be a power of two >= 16, got {size}")
  pad_q, pad_k = -num_queries % block_q, -num_keys % block_k
  head_dim = q_BQHK.shape[-1]
  pad_d = _pow2(max(head_dim, 16)) - head_dim
  pad_w = max(_pow2(window), block_q, block_k) - window  # The dq kernel's stores need W' >= a tile side.
  pad = lambda x, *widths: jnp.pad(x, [(0, w) for w in widths])
  st = _Static(float(scale), int(query_offset), window, block_q, block_k, num_warps, num_stages,
               implementation == "interpret")
  kernels = _over_data_shards(lambda *args: _kernel_attention(*args, st), q_BQHK.shape[0])
  out_BQHK = kernels(pad(q_BQHK, 0, pad_q, 0, pad_d), pad(k_BSHK, 0, pad_k, 0, pad_d),
                     pad(v_BSHK, 0, pad_k, 0, pad_d), pad(band_BHQW, 0, 0, pad_q, pad_w))
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


def reference(q_BQHK, k_BSHK, v_BSHK, band_BHQW, *, scale, query_offset):
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
  scores_BHQS = jnp.where(r_QS >= 0, scores_BHQS, _MASKED)
  probs_BHQS = jax.nn.softmax(scores_BHQS, axis=-1)
  out_BQHK = jnp.einsum("bhqs,bshk->bqhk", probs_BHQS.astype(v_BSHK.dtype), v_BSHK,
                        preferred_element_type=f32)
  return out_BQHK.astype(q_BQHK.dtype)


class _Static(typing.NamedTuple):
  """The kernels' static arguments (hashable, for custom_vjp's nondiff_argnums)."""
  scale: float
  query_offset: int
  window: int
  block_q: int
  block_k: int
  num_warps: int
  num_stages: int
  interpret: bool


def _pow2(n: int) -> int:
  return 1 << max(n - 1, 0).bit_length()


def _mm(a, b, contract_a=1, contract_b=0):
  """a @ b on the tensor cores with a float32 accumulator (contracting the given axes)."""
  return jax.lax.dot_general(a, b, (((contract_a,), (contract_b,)), ((), ())),
                             preferred_element_type=jnp.float32)


def _tile_geometry(st: _Static, first_query, first_key):
  """r [BQ, BK] = p_i - j for a tile, and its row / column indices inside the tile."""
  shape = (st.block_q, st.block_k)
  rows = jax.lax.broadcasted_iota(jnp.int32, shape, 0)
  cols = jax.lax.broadcasted_iota(jnp.int32, shape, 1)
  r = (st.query_offset + first_query + rows) - (first_key + cols)
  return r, rows, cols


def _tile_scores(st: _Static, q, k, band_ref, first_query, first_key, band_row0, near: bool):
  """Scaled scores of one tile [BQ, BK] (float32); near tiles add the band and the causal mask.

  band_ref holds the table's rows from band_row0 (the tile's queries are
  band_row0 + rows), so the gather stays inside the program's block.
  """
  s = _mm(q, k, 1, 1)
  if not near:
    return s * st.scale, None
  r, rows, cols = _tile_geometry(st, first_query, first_key)
  in_band = (r >= 0) & (r < st.window)
  r_in = jnp.clip(r, 0, st.window - 1)
  band = plgpu.load(band_ref.at[band_row0 + rows, r_in], mask=in_band, other=0.0)
  s = (s + band.astype(jnp.float32)) * st.scale
  return jnp.where(r >= 0, s, _MASKED), (r, in_band, rows, cols)


def _key_ranges(st: _Static, first_query, num_key_blocks):
  """(far_end, near_end): key blocks [0, far_end) lie W or more behind every query of the tile."""
  first_pos = st.query_offset + first_query
  far_end = jnp.clip((first_pos - st.window + 1) // st.block_k, 0, num_key_blocks)
  near_end = jnp.minimum(pl.cdiv(first_pos + st.block_q, st.block_k), num_key_blocks)
  return far_end, near_end


def _query_ranges(st: _Static, first_key, num_query_blocks):
  """(start, far_start): query blocks that see the key tile; from far_start on, all are W behind."""
  start = jnp.clip((first_key - st.query_offset) // st.block_q, 0, num_query_blocks)
  far_from = first_key + st.block_k - 1 + st.window - st.query_offset
  far_start = jnp.clip(pl.cdiv(far_from, st.block_q), start, num_query_blocks)
  return start, far_start


def _forward_kernel(q_ref, k_ref, v_ref, band_ref, o_ref, lse_ref, *, st: _Static):
  first_query = pl.program_id(0) * st.block_q
  q = q_ref[...]
  num_key_blocks = k_ref.shape[0] // st.block_k

  def tile(near):
    def body(kb, carry):
      m_Q, l_Q, acc_QK = carry
      keys = pl.ds(kb * st.block_k, st.block_k)
      s, _ = _tile_scores(st, q, k_ref[keys, :], band_ref, first_query, kb * st.block_k, 0, near)
      m_new = jnp.maximum(m_Q, s.max(axis=1))
      p = jnp.exp(s - m_new[:, None])
      alpha = jnp.exp(m_Q - m_new)
      acc_QK = acc_QK * alpha[:, None] + _mm(p.astype(v_ref.dtype), v_ref[keys, :])
      return m_new, l_Q * alpha + p.sum(axis=1), acc_QK
    return body

  block_q, head_dim = q.shape
  carry = (jnp.full((block_q,), -jnp.inf, jnp.float32), jnp.zeros((block_q,), jnp.float32),
           jnp.zeros((block_q, head_dim), jnp.float32))
  far_end, near_end = _key_ranges(st, first_query, num_key_blocks)
  carry = jax.lax.fori_loop(0, far_end, tile(False), carry)
  m_Q, l_Q, acc_QK = jax.lax.fori_loop(far_end, near_end, tile(True), carry)
  o_ref[...] = (acc_QK / l_Q[:, None]).astype(o_ref.dtype)
  lse_ref[...] = m_Q + jnp.log(l_Q)


def _dq_kernel(q_ref, k_ref, v_ref, band_ref, do_ref, lse_ref, delta_ref, zeros_ref, dq_ref, dband_ref,
               *, st: _Static):
  """dq and the band table's gradient for one query block, looping over its keys.

  dband starts as zeros (aliased to zeros_ref), which entries without a key
  keep; the others are each one tile's dS, stored once. Writing it at the
  band's width, instead of a table twice as wide that XLA then sliced, took
  0.3 ms off the H200 step (results/h200_session17/dband_exact/).
  """
  del zeros_ref  # The same buffer as dband_ref.
  first_query = pl.program_id(0) * st.block_q
  q, do = q_ref[...], do_ref[...]
  lse_Q, delta_Q = lse_ref[...], delta_ref[...]
  num_key_blocks = k_ref.shape[0] // st.block_k
  far_end, near_end = _key_ranges(st, first_query, num_key_blocks)
  def tile(near):
    def body(kb, dq_QK):
      keys = pl.ds(kb * st.block_k, st.block_k)
      k = k_ref[keys, :]
      s, band = _tile_scores(st, q, k, band_ref, first_query, kb * st.block_k, 0, near)
      p = jnp.exp(s - lse_Q[:, None])
      ds = p * (_mm(do, v_ref[keys, :], 1, 1) - delta_Q[:, None]) * st.scale
      if near:
        r, in_band, rows, cols = band
        # r mod W' is r in the band and distinct across a tile's row (W' >= a
        # tile side), so no two lanes of the store share an address, masked or
        # not (the interpreter's masked scatter writes back every lane).
        slot = jnp.bitwise_and(r, dband_ref.shape[-1] - 1)
        plgpu.store(dband_ref.at[rows, slot], ds.astype(dband_ref.dtype), mask=in_band)
      return dq_QK + _mm(ds.astype(k.dtype), k)
    return body

  dq_QK = jnp.zeros(q.shape, jnp.float32)
  dq_QK = jax.lax.fori_loop(0, far_end, tile(False), dq_QK)
  dq_QK = jax.lax.fori_loop(far_end, near_end, tile(True), dq_QK)
  dq_ref[...] = dq_QK.astype(dq_ref.dtype)


def _dkv_kernel(q_ref, k_ref, v_ref, band_ref, do_ref, lse_ref, delta_ref, dk_ref, dv_ref,
                *, st: _Static):
  """dk and dv for one key block, looping over the queries that see it."""
  first_key = pl.program_id(0) * st.block_k
  k, v = k_ref[...], v_ref[...]
  num_query_blocks = q_ref.shape[0] // st.block_q
  start, far_start = _query_ranges(st, first_key, num_query_blocks)

  def tile(near):
    def body(qb, carry):
      dk_KD, dv_KD = carry
      queries = pl.ds(qb * st.block_q, st.block_q)
      q, do = q_ref[queries, :], do_ref[queries, :]
      s, _ = _tile_scores(st, q, k, band_ref, qb * st.block_q, first_key, qb * st.block_q, near)
      p = jnp.exp(s - lse_ref[queries][:, None])
      dv_KD = dv_KD + _mm(p.astype(do.dtype), do, 0, 0)
      ds = p * (_mm(do, v, 1, 1) - delta_ref[queries][:, None]) * st.scale
      return dk_KD + _mm(ds.astype(q.dtype), q, 0, 0), dv_KD
    return body

  zeros = jnp.zeros(k.shape, jnp.float32)
  carry = jax.lax.fori_loop(start, far_start, tile(True), (zeros, zeros))
  dk_KD, dv_KD = jax.lax.fori_loop(far_start, num_query_blocks, tile(False), carry)
  dk_ref[...] = dk_KD.astype(dk_ref.dtype)
  dv_ref[...] = dv_KD.astype(dv_ref.dtype)


def _call(kernel, st: _Static, grid_blocks, in_specs, out_specs, out_shape, *args, aliases=None):
  batch, heads = args[0].shape[0], args[0].shape[2]
  return pl.pallas_call(
      functools.partial(kernel, st=st), out_shape=out_shape,
      grid=(grid_blocks, batch, heads), in_specs=in_specs, out_specs=out_specs,
      input_output_aliases=aliases or {},
      compiler_params=plgpu.CompilerParams(num_warps=st.num_warps, num_stages=st.num_stages),
      interpret=st.interpret, name=kernel.__name__.strip("_"))(*args)


def _specs(st: _Static, q, k, band):
  """BlockSpecs over the grid (block, batch, head): a program's block, or a (batch, head)'s whole."""
  seq = lambda n: pl.BlockSpec((None, n, None, q.shape[-1]), lambda i, b, h: (b, 0, h, 0))
  return dict(
      q_block=pl.BlockSpec((None, st.block_q, None, q.shape[-1]), lambda i, b, h: (b, i, h, 0)),
      k_block=pl.BlockSpec((None, st.block_k, None, k.shape[-1]), lambda i, b, h: (b, i, h, 0)),
      q_all=seq(q.shape[1]), k_all=seq(k.shape[1]),
      band_block=pl.BlockSpec((None, None, st.block_q, band.shape[-1]), lambda i, b, h: (b, h, i, 0)),
      band_all=pl.BlockSpec((None, None) + band.shape[2:], lambda i, b, h: (b, h, 0, 0)),
      rows_block=pl.BlockSpec((None, None, st.block_q), lambda i, b, h: (b, h, i)),
      rows_all=pl.BlockSpec((None, None, q.shape[1]), lambda i, b, h: (b, h, 0)))


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _kernel_attention(q, k, v, band, st: _Static):
  return _forward(q, k, v, band, st)[0]


def _forward(q, k, v, band, st: _Static):
  sp = _specs(st, q, k, band)
  batch, num_queries, heads, _ = q.shape
  return _call(_forward_kernel, st, num_queries // st.block_q,
               [sp["q_block"], sp["k_all"], sp["k_all"], sp["band_block"]],
               [sp["q_block"], sp["rows_block"]],
               [jax.ShapeDtypeStruct(q.shape, q.dtype),
                jax.ShapeDtypeStruct((batch, heads, num_queries), jnp.float32)],
               q, k, v, band)


def _kernel_attention_fwd(q, k, v, band, st):
  out, lse = _forward(q, k, v, band, st)
  return out, (q, k, v, band, out, lse)


def _kernel_attention_bwd(st, residuals, d_out):
  q, k, v, band, out, lse = residuals
  sp = _specs(st, q, k, band)
  # delta_i = sum_d o_i do_i: the softmax backward's row term, [B, H, Q].
  delta = jnp.einsum("bqhk,bqhk->bhq", out.astype(jnp.float32), d_out.astype(jnp.float32))
  d_out = d_out.astype(q.dtype)
  args = (q, k, v, band, d_out, lse, delta)
  dq, dband = _call(_dq_kernel, st, q.shape[1] // st.block_q,
                    [sp["q_block"], sp["k_all"], sp["k_all"], sp["band_block"], sp["q_block"],
                     sp["rows_block"], sp["rows_block"], sp["band_block"]],
                    [sp["q_block"], sp["band_block"]],
                    [jax.ShapeDtypeStruct(q.shape, q.dtype), jax.ShapeDtypeStruct(band.shape, band.dtype)],
                    *args, jnp.zeros(band.shape, band.dtype), aliases={7: 1})
  dk, dv = _call(_dkv_kernel, st, k.shape[1] // st.block_k,
                 [sp["q_all"], sp["k_block"], sp["k_block"], sp["band_all"], sp["q_all"],
                  sp["rows_all"], sp["rows_all"]],
                 [sp["k_block"], sp["k_block"]],
                 [jax.ShapeDtypeStruct(k.shape, k.dtype), jax.ShapeDtypeStruct(v.shape, v.dtype)],
                 *args)
  return dq, dk, dv, dband


_kernel_attention.defvjp(_kernel_attention_fwd, _kernel_attention_bwd)
