"""The Pallas (Triton) kernels of flash_relative.py: the forward, a dq kernel and a dk/dv kernel.

Every kernel works on one (batch, head) pair's rows [L, K] (the grid's last
two axes) and on tiles of BQ queries by BK keys. A tile's score is

  s2(i, j) = log2(e) * scale * (q_i . k_j + band(i, p_i - j)),

in base 2, so that each probability is one `ex2.approx` of s2 - lse2 (the
row's log-sum-exp, also base 2), and not libdevice's accurate expf, which
is several instructions. At the model's head dim (24, padded to 32) a tile's
products are small, and the elementwise work on its scores is much of the
time (the forward kernel went from 1.05 to 0.91 ms a step with ex2).
The band term is added, and the causal mask applied, only on tiles within W
of the diagonal ("near" tiles).

Each (batch) row has a length: positions at or past it are padding, whose
outputs are zeros. Causal attention never lets a position before the length
see one past it, so tiles whose queries or keys all lie past it are skipped,
and the backward treats the padded rows' output gradients as zeros. For the
fast recipe's train step (rows at 41% of their padded length) the three
kernels went from 4.11 to 2.66 ms a step on the H200 (results/h200_session19/).

The backward is two kernels: dq (with the band's gradient, stored straight
from each near tile's dS) over query blocks, and dk/dv over key blocks; each
recomputes its tiles' probabilities. One kernel per (batch, head) that formed
each tile's dS once (dq summed across key blocks in a float32 scratch) was
not faster on the H200 (results/h200_session18/): 4.64 ms a step, against
3.68 for these two before the ex2 scores (3.09 now, on 32 x 32 tiles), and a
train step of 20.34 against 20.41 ms; it has 4x fewer programs to hide each
tile's latency with.
"""
import functools
import math
import typing

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plgpu

MASKED = -1e30  # A large finite score for masked pairs: exp underflows to 0 without inf - inf.
_LOG2E = math.log2(math.e)
LENGTH_COPIES = 16  # A row's length is passed as [B, 16] copies: Triton blocks are powers of two.


class Static(typing.NamedTuple):
  """The kernels' static arguments (hashable, for custom_vjp's nondiff_argnums)."""
  scale: float
  query_offset: int
  window: int
  block_q: int
  block_k: int
  num_warps: int
  num_stages: int
  interpret: bool


def _exp2(x, st: Static):
  """2^x: the GPU's ex2.approx (about 2 ulp; flushes subnormals), jnp.exp2 in the interpreter."""
  if st.interpret:
    return jnp.exp2(x)
  [y] = plgpu.elementwise_inline_asm("ex2.approx.ftz.f32 $0, $1;", args=[x], constraints="=f,f",
                                     pack=1, result_shape_dtypes=[jax.ShapeDtypeStruct.like(x)])
  return y


def _mm(a, b, contract_a=1, contract_b=0):
  """a @ b on the tensor cores with a float32 accumulator (contracting the given axes)."""
  return jax.lax.dot_general(a, b, (((contract_a,), (contract_b,)), ((), ())),
                             preferred_element_type=jnp.float32)


def _tile_geometry(st: Static, first_query, first_key):
  """r [BQ, BK] = p_i - j for a tile, and its row / column indices inside the tile."""
  shape = (st.block_q, st.block_k)
  rows = jax.lax.broadcasted_iota(jnp.int32, shape, 0)
  cols = jax.lax.broadcasted_iota(jnp.int32, shape, 1)
  r = (st.query_offset + first_query + rows) - (first_key + cols)
  return r, rows, cols


def _tile_scores(st: Static, q, k, band_ref, first_query, first_key, band_row0, near: bool):
  """Base-2 scaled scores of one tile [BQ, BK] (float32); near tiles add the band and the mask.

  band_ref holds the table's rows from band_row0 (the tile's queries are
  band_row0 + rows), so the gather stays inside the program's block.
  """
  s = _mm(q, k, 1, 1)
  scale2 = st.scale * _LOG2E
  if not near:
    return s * scale2, None
  r, rows, cols = _tile_geometry(st, first_query, first_key)
  in_band = (r >= 0) & (r < st.window)
  r_in = jnp.clip(r, 0, st.window - 1)
  band = plgpu.load(band_ref.at[band_row0 + rows, r_in], mask=in_band, other=0.0)
  s = (s + band.astype(jnp.float32)) * scale2
  return jnp.where(r >= 0, s, MASKED), (r, in_band, rows, cols)


def _row_length(length_ref):
  """The row's length: its block holds it repeated (a power-of-two block for Triton)."""
  return jnp.max(length_ref[...])


def _valid_rows(st: Static, first_query, length):
  """[BQ, 1]: which of the tile's queries lie before the row's length."""
  rows = jax.lax.broadcasted_iota(jnp.int32, (st.block_q, 1), 0)
  return st.query_offset + first_query + rows < length


def _key_ranges(st: Static, first_query, num_key_blocks, length):
  """(far_end, near_end): the key blocks the query tile needs, [0, near_end); those in
  [0, far_end) lie W or more behind every query of the tile.

  Keys past the row's length serve only padded queries; a tile of padded
  queries needs none.
  """
  first_pos = st.query_offset + first_query
  key_blocks = jnp.where(first_pos < length,
                         jnp.minimum(pl.cdiv(length, st.block_k), num_key_blocks), 0)
  near_end = jnp.minimum(pl.cdiv(first_pos + st.block_q, st.block_k), key_blocks)
  far_end = jnp.clip((first_pos - st.window + 1) // st.block_k, 0, near_end)
  return far_end, near_end


def _query_ranges(st: Static, first_key, num_query_blocks, length):
  """(start, far_start, end): the query blocks [start, end) that see the key tile before the
  row's length; from far_start on, all are W behind it."""
  end = jnp.where(first_key < length,
                  jnp.clip(pl.cdiv(length - st.query_offset, st.block_q), 0, num_query_blocks), 0)
  start = jnp.clip((first_key - st.query_offset) // st.block_q, 0, end)
  far_from = first_key + st.block_k - 1 + st.window - st.query_offset
  far_start = jnp.clip(pl.cdiv(far_from, st.block_q), start, end)
  return start, far_start, end


def _store_band_grad(dband_ref, row0, ds_scaled, band_geometry):
  """Stores a near tile's dS into the band's gradient at (query, r): each entry has one key.

  r mod W' is r in the band and distinct across a tile's row (W' >= a tile
  side), so no two lanes of the store share an address, masked or not (the
  interpreter's masked scatter writes back every lane).
  """
  r, in_band, rows, _ = band_geometry
  slot = jnp.bitwise_and(r, dband_ref.shape[-1] - 1)
  plgpu.store(dband_ref.at[row0 + rows, slot], ds_scaled.astype(dband_ref.dtype), mask=in_band)


def forward_kernel(q_ref, k_ref, v_ref, band_ref, length_ref, o_ref, lse_ref, *, st: Static):
  """Output and base-2 log-sum-exp of one query block (online softmax over its keys)."""
  first_query = pl.program_id(0) * st.block_q
  q = q_ref[...]
  num_key_blocks = k_ref.shape[0] // st.block_k
  length = _row_length(length_ref)

  def tile(near):
    def body(kb, carry):
      m_Q, l_Q, acc_QK = carry
      keys = pl.ds(kb * st.block_k, st.block_k)
      s, _ = _tile_scores(st, q, k_ref[keys, :], band_ref, first_query, kb * st.block_k, 0, near)
      m_new = jnp.maximum(m_Q, s.max(axis=1))
      p = _exp2(s - m_new[:, None], st)
      alpha = _exp2(m_Q - m_new, st)
      acc_QK = acc_QK * alpha[:, None] + _mm(p.astype(v_ref.dtype), v_ref[keys, :])
      return m_new, l_Q * alpha + p.sum(axis=1), acc_QK
    return body

  block_q, head_dim = q.shape
  carry = (jnp.full((block_q,), -jnp.inf, jnp.float32), jnp.zeros((block_q,), jnp.float32),
           jnp.zeros((block_q, head_dim), jnp.float32))
  far_end, near_end = _key_ranges(st, first_query, num_key_blocks, length)
  carry = jax.lax.fori_loop(0, far_end, tile(False), carry)
  m_Q, l_Q, acc_QK = jax.lax.fori_loop(far_end, near_end, tile(True), carry)
  seen_Q = l_Q > 0  # False only in a skipped tile, which saw no key.
  out_QK = acc_QK / jnp.where(seen_Q, l_Q, 1.0)[:, None]
  o_ref[...] = jnp.where(_valid_rows(st, first_query, length), out_QK, 0.0).astype(o_ref.dtype)
  lse_ref[...] = jnp.where(seen_Q, m_Q + jnp.log2(jnp.where(seen_Q, l_Q, 1.0)), 0.0)


def _tile_grads(st: Static, q, k, v, do, lse_Q, delta_Q, band_ref, first_query, first_key,
                band_row0, near):
  """(p, dS / scale, band geometry) of one tile: its probabilities and its scores' gradient."""
  s, geometry = _tile_scores(st, q, k, band_ref, first_query, first_key, band_row0, near)
  p = _exp2(s - lse_Q[:, None], st)
  return p, p * (_mm(do, v, 1, 1) - delta_Q[:, None]), geometry


def dq_kernel(q_ref, k_ref, v_ref, band_ref, do_ref, lse_ref, delta_ref, length_ref, zeros_ref,
              dq_ref, dband_ref, *, st: Static):
  """dq and the band table's gradient for one query block, looping over its keys."""
  del zeros_ref  # The same buffer as dband_ref.
  first_query = pl.program_id(0) * st.block_q
  length = _row_length(length_ref)
  q = q_ref[...]
  do = jnp.where(_valid_rows(st, first_query, length), do_ref[...], 0).astype(do_ref.dtype)
  lse_Q, delta_Q = lse_ref[...], delta_ref[...]
  num_key_blocks = k_ref.shape[0] // st.block_k
  far_end, near_end = _key_ranges(st, first_query, num_key_blocks, length)

  def tile(near):
    def body(kb, dq_QK):
      keys = pl.ds(kb * st.block_k, st.block_k)
      k = k_ref[keys, :]
      _, ds, geometry = _tile_grads(st, q, k, v_ref[keys, :], do, lse_Q, delta_Q, band_ref,
                                    first_query, kb * st.block_k, 0, near)
      if near:
        _store_band_grad(dband_ref, 0, ds * st.scale, geometry)
      return dq_QK + _mm(ds.astype(k.dtype), k)
    return body

  dq_QK = jnp.zeros(q.shape, jnp.float32)
  dq_QK = jax.lax.fori_loop(0, far_end, tile(False), dq_QK)
  dq_QK = jax.lax.fori_loop(far_end, near_end, tile(True), dq_QK)
  dq_ref[...] = (dq_QK * st.scale).astype(dq_ref.dtype)


def dkv_kernel(q_ref, k_ref, v_ref, band_ref, do_ref, lse_ref, delta_ref, length_ref, dk_ref,
               dv_ref, *, st: Static):
  """dk and dv for one key block, looping over the queries that see it."""
  first_key = pl.program_id(0) * st.block_k
  length = _row_length(length_ref)
  k, v = k_ref[...], v_ref[...]
  num_query_blocks = q_ref.shape[0] // st.block_q
  start, far_start, end = _query_ranges(st, first_key, num_query_blocks, length)

  def tile(near):
    def body(qb, carry):
      dk_KD, dv_KD = carry
      queries = pl.ds(qb * st.block_q, st.block_q)
      q = q_ref[queries, :]
      do = jnp.where(_valid_rows(st, qb * st.block_q, length), do_ref[queries, :], 0
                     ).astype(do_ref.dtype)
      p, ds, _ = _tile_grads(st, q, k, v, do, lse_ref[queries], delta_ref[queries], band_ref,
                             qb * st.block_q, first_key, qb * st.block_q, near)
      return dk_KD + _mm(ds.astype(q.dtype), q, 0, 0), dv_KD + _mm(p.astype(do.dtype), do, 0, 0)
    return body

  zeros = jnp.zeros(k.shape, jnp.float32)
  carry = jax.lax.fori_loop(start, far_start, tile(True), (zeros, zeros))
  dk_KD, dv_KD = jax.lax.fori_loop(far_start, end, tile(False), carry)
  dk_ref[...] = (dk_KD * st.scale).astype(dk_ref.dtype)
  dv_ref[...] = dv_KD.astype(dv_ref.dtype)


def call(kernel, st: Static, grid_blocks, in_specs, out_specs, out_shape, *args, aliases=None):
  """pallas_call over the grid (block, batch, head)."""
  batch, heads = args[0].shape[0], args[0].shape[2]
  return pl.pallas_call(
      functools.partial(kernel, st=st), out_shape=out_shape,
      grid=(grid_blocks, batch, heads), in_specs=in_specs, out_specs=out_specs,
      input_output_aliases=aliases or {},
      compiler_params=plgpu.CompilerParams(num_warps=st.num_warps, num_stages=st.num_stages),
      interpret=st.interpret, name=kernel.__name__)(*args)


def specs(st: Static, q, k, band):
  """BlockSpecs over the grid (block, batch, head): a program's block, or a (batch, head)'s whole."""
  seq = lambda n: pl.BlockSpec((None, n, None, q.shape[-1]), lambda i, b, h: (b, 0, h, 0))
  return dict(
      q_block=pl.BlockSpec((None, st.block_q, None, q.shape[-1]), lambda i, b, h: (b, i, h, 0)),
      k_block=pl.BlockSpec((None, st.block_k, None, k.shape[-1]), lambda i, b, h: (b, i, h, 0)),
      q_all=seq(q.shape[1]), k_all=seq(k.shape[1]),
      band_block=pl.BlockSpec((None, None, st.block_q, band.shape[-1]), lambda i, b, h: (b, h, i, 0)),
      band_all=pl.BlockSpec((None, None) + band.shape[2:], lambda i, b, h: (b, h, 0, 0)),
      rows_block=pl.BlockSpec((None, None, st.block_q), lambda i, b, h: (b, h, i)),
      rows_all=pl.BlockSpec((None, None, q.shape[1]), lambda i, b, h: (b, h, 0)),
      length=pl.BlockSpec((None, LENGTH_COPIES), lambda i, b, h: (b, 0)))
