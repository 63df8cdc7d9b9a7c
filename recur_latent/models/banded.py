"""Aligned relative attention as far scores plus a near band; the same attention.

For query i and key j <= i (positions i and j, no cache) the relative terms are
c2p[i, r] + p2c[r, j] with r = clip(i - j, 0, W). Write

  c2p[i, r] = c2p[i, W] + dc2p[i, r],   p2c[r, j] = b_j + dp2c[r, j],   b_j = p2c[W, j],

so dc2p[i, W] = dp2c[W, j] = 0. c2p[i, W] is one constant per query row and
cancels in the softmax; b_j = k_j . qr_W is a per-key bias, folded into the
content scores as (q_i + qr_W) . k_j; what is left,

  t[i, r] = dc2p[i, r] + dp2c[r, i - r]    (r < W),

is nonzero only on the W diagonals 0 <= i - j < W. With the sequence cut into
n blocks of C >= W positions, every key of query block c with a nonzero t lies
in blocks c - 1 and c. So the scores come in two parts, softmaxed jointly:

  far   [B, H, L, L]:     (q + qr_W) . k for keys in blocks <= c - 2 (a static mask);
  near  [B, H, n, C, 2C]: (q + qr_W) . k + t for keys in blocks c - 1 and c
                          (block -1 is zeros, masked), t at r = C + a - b' for
                          row a of the block and column b' of the window.

Nothing is gathered or scattered: t is placed into the near window by skews
(pad, flatten, reshape, slice), whose autodiff is the transposed skew. The
far part is a plain masked q . k^T, without the [B, H, L, L] relative terms of
`positions.relative_terms` and their backward's diagonal reads. Padded
positions (L up to n * C) come after every real query, so causality masks
them as keys; their query rows are dropped.
"""
import jax
import jax.numpy as jnp
import numpy as np


def block_size(window: int) -> int:
  """The block length C: the smallest that works (C >= W), so the near band is narrowest."""
  return max(window, 1)


def applies(length: int, window: int) -> bool:
  """Whether the split saves anything: it needs W >= 1 and more than two blocks."""
  return window >= 1 and length > 2 * block_size(window)


def _shift_rows_right(x_BHML):
  """[..., M, L] -> [..., M, L]: entry (r, i) is x[r, i - r], 0 where i < r.

  In rows of L + M - 1 the flat index r * (L + M) + i - r of the right-padded
  rows is r * (L + M - 1) + i; where i < r it falls into the previous row's
  padding (M zeros), so the shift brings in zeros.
  """
  *lead, rows, length = x_BHML.shape
  pad = [(0, 0)] * len(lead)
  flat = jnp.pad(x_BHML, pad + [(0, 0), (0, rows)]).reshape(*lead, rows * (length + rows))
  return flat[..., : rows * (length + rows - 1)].reshape(*lead, rows, length + rows - 1)[..., :length]


def _place_in_window(t_BHNCM, block):
  """[..., C, W] -> [..., C, 2C]: entry (a, b') is t[a, C + a - b'] where 0 <= C + a - b' < W, else 0.

  Row a reversed and padded to y[a, s] = t[a, C - s] (s = b' - a, nonzero for
  C - W < s <= C) in rows of 2C + 1, then read in rows of 2C: that shifts row a
  right by a, and the wrapped-in entries are y's trailing zeros.
  """
  *lead, _, window = t_BHNCM.shape
  pad = [(0, 0)] * (len(lead) + 1)
  y = jnp.pad(t_BHNCM[..., ::-1], pad + [(block - window + 1, block)])  # [..., C, 2C + 1]
  flat = y.reshape(*lead, block * (2 * block + 1))[..., : block * 2 * block]
  return flat.reshape(*lead, block, 2 * block)


def _blocks(x, axis, block, num_blocks):
  """Splits `axis` (length L) into [n, C], zero-padded at the end."""
  pad = [(0, 0)] * x.ndim
  pad[axis] = (0, num_blocks * block - x.shape[axis])
  return jnp.pad(x, pad).reshape(*x.shape[:axis], num_blocks, block, *x.shape[axis + 1:])


def _near_window(x, axis):
  """Blocks [..., n, C, ...] (n at `axis`) -> [..., n, 2C, ...]: blocks c - 1 (zeros for c = 0) and c."""
  pad = [(0, 0)] * x.ndim
  pad[axis] = (1, 0)
  prev = jax.lax.slice_in_dim(jnp.pad(x, pad), 0, x.shape[axis], axis=axis)
  return jnp.concatenate([prev, x], axis=axis + 1)


def scores(q_BLHK, k_BLHK, kr_RHK, qr_RHK, window: int, scale: float):
  """Masked float32 scores: far [B, H, L, L] and near [B, H, n, C, 2C] (masked: finfo.min).

  q, k [B, L, H, K] and kr, qr [W + 1, H, K] in the compute dtype. Equal to the
  scaled relative scores up to a per-row constant (c2p[i, W] * scale).
  """
  f32 = jnp.float32
  length = q_BLHK.shape[1]
  block = block_size(window)
  num_blocks = -(-length // block)
  q_BHLK, k_BHLK = jnp.swapaxes(q_BLHK, 1, 2), jnp.swapaxes(k_BLHK, 1, 2)
  c2p_BHLR = jnp.einsum("bhqk,rhk->bhqr", q_BHLK, kr_RHK, preferred_element_type=f32)
  p2c_BHRL = jnp.einsum("bhsk,rhk->bhrs", k_BHLK, qr_RHK, preferred_element_type=f32)
  dc2p_BHLM = c2p_BHLR[..., :window] - c2p_BHLR[..., window:]
  dp2c_BHML = p2c_BHRL[..., :window, :] - p2c_BHRL[..., window:, :]
  t_BHLM = dc2p_BHLM + jnp.swapaxes(_shift_rows_right(dp2c_BHML), -1, -2)
  low = jnp.finfo(f32).min

  # b_j = p2c[W, j] = k_j . qr_W rides along with the content scores: (q + qr_W) . k.
  q_BHLK = q_BHLK + qr_RHK[window][None, :, None, :]
  far_BHLL = jnp.einsum("bhqk,bhsk->bhqs", q_BHLK, k_BHLK, preferred_element_type=f32)
  # Keys in blocks <= c - 2: j < (i // C - 1) C.
  limit_L1 = np.maximum((np.arange(length) // block - 1) * block, 0)[:, None].astype(np.int32)
  far_BHLL = jnp.where(jnp.arange(length)[None, :] < limit_L1, far_BHLL * scale, low)

  q_BHNCK = _blocks(q_BHLK, 2, block, num_blocks)
  k_BHNTK = _near_window(_blocks(k_BHLK, 2, block, num_blocks), 2)  # T = 2C.
  near_BHNCT = jnp.einsum("bhnak,bhnck->bhnac", q_BHNCK, k_BHNTK, preferred_element_type=f32)
  near_BHNCT = (near_BHNCT + _place_in_window(_blocks(t_BHLM, 2, block, num_blocks), block)) * scale
  a_C1, col_1T = np.arange(block)[:, None], np.arange(2 * block)[None, :]
  causal_CT = col_1T <= a_C1 + block
  first_NCT = (np.arange(num_blocks) > 0)[:, None, None] | (col_1T >= block)[None]
  near_BHNCT = jnp.where(causal_CT[None] & first_NCT, near_BHNCT, low)
  return far_BHLL, near_BHNCT


@jax.custom_vjp
def softmax(far_BHLL, near_BHNCT):
  """One softmax over both key sets (shared max and normalizer), without concatenating them."""
  return _softmax_fwd(far_BHLL, near_BHNCT)[0]


def _softmax_fwd(far_BHLL, near_BHNCT):
  *lead, length, _ = far_BHLL.shape
  num_blocks, block = near_BHNCT.shape[-3:-1]
  padded = num_blocks * block
  pad = [(0, 0)] * len(lead) + [(0, padded - length)]
  low = jnp.finfo(far_BHLL.dtype).min
  max_BHP = jnp.maximum(jnp.pad(far_BHLL.max(-1), pad, constant_values=low),
                        near_BHNCT.max(-1).reshape(*lead, padded))
  sum_far_BHL = jnp.exp(far_BHLL - max_BHP[..., :length, None]).sum(-1)
  sum_near_BHP = jnp.exp(near_BHNCT - max_BHP.reshape(*lead, num_blocks, block, 1)).sum(-1)
  lse_BHP = max_BHP + jnp.log(jnp.pad(sum_far_BHL, pad) + sum_near_BHP.reshape(*lead, padded))
  probs = (jnp.exp(far_BHLL - lse_BHP[..., :length, None]),
           jnp.exp(near_BHNCT - lse_BHP.reshape(*lead, num_blocks, block, 1)))
  return probs, probs


def _softmax_bwd(probs, d_probs):
  """The softmax gradient p * (dp - sum_j dp_j p_j), the sum running over both key sets."""
  (far_BHLL, near_BHNCT), (d_far_BHLL, d_near_BHNCT) = probs, d_probs
  *lead, length, _ = far_BHLL.shape
  num_blocks, block = near_BHNCT.shape[-3:-1]
  padded = num_blocks * block
  pad = [(0, 0)] * len(lead) + [(0, padded - length)]
  dot_BHP = (jnp.pad((d_far_BHLL * far_BHLL).sum(-1), pad)
             + (d_near_BHNCT * near_BHNCT).sum(-1).reshape(*lead, padded))
  return (far_BHLL * (d_far_BHLL - dot_BHP[..., :length, None]),
          near_BHNCT * (d_near_BHNCT - dot_BHP.reshape(*lead, num_blocks, block, 1)))


softmax.defvjp(_softmax_fwd, _softmax_bwd)


def combine(probs_far_BHLL, probs_near_BHNCT, v_BLHK):
  """Attention output [B, L, H, K]: far probabilities times v plus near ones times the near values."""
  dt = v_BLHK.dtype
  length = v_BLHK.shape[1]
  num_blocks, block = probs_near_BHNCT.shape[-3:-1]
  v_BHLK = jnp.swapaxes(v_BLHK, 1, 2)
  out_BHLK = jnp.einsum("bhqs,bhsk->bhqk", probs_far_BHLL.astype(dt), v_BHLK)
  v_BHNTK = _near_window(_blocks(v_BHLK, 2, block, num_blocks), 2)
  near_BHNCK = jnp.einsum("bhnac,bhnck->bhnak", probs_near_BHNCT.astype(dt), v_BHNTK)
  near_BHLK = near_BHNCK.reshape(*near_BHNCK.shape[:2], num_blocks * block, -1)[:, :, :length]
  return jnp.swapaxes(out_BHLK + near_BHLK, 1, 2)
