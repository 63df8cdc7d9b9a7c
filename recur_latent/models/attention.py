"""Causal multi-head self-attention with four position options and a KV cache.

Relative positions (DeBERTa-style disentangled attention). The score of query
i for key j is

  (q_i . k_j  +  q_i . kr_r  +  k_j . qr_r) / sqrt(3 * d_head),  r = clip(i - j, 0, W)

content-to-content, content-to-position and position-to-content, where
kr = rel W_kr and qr = rel W_qr project the shared, LayerNormed relative table
rel [W + 1, D] with this layer's own projections. Causal attention only ever
sees i - j >= 0, so one table row per distance 0..W suffices and both relative
terms use the same row (DeBERTa's signed distance for p2c collapses to |i - j|).

How it is computed, and why: the two relative terms depend on (i, j) only
through r, so we first form the small tables c2p [B, H, Q, W + 1] = q . kr and
p2c [B, H, W + 1, S] = qr . k and then gather them at r(i, j) while adding to
the content scores. That costs O(L * W) multiply-adds instead of O(L^2 * d),
and the gathers are elementwise in (i, j), so XLA fuses them into the one
[B, H, Q, S] score tensor (no extra materialized [B, H, L, L] tensors, unlike
expanding the relative embeddings to [L, L, D] or computing both terms as full
matrix products).

The backward of those gathers is the expensive part. Autodiff of
take_along_axis is a scatter-add of dS [B, H, Q, S] into c2p and p2c: every
(i, j) adds into one of only W + 1 entries of its row or column, which on GPU
means contended atomics. On the H200 the paper-size train step (4 layers,
d 384, 16 heads, batch 256, L ~224) took 0.121 s with relative positions
against 0.035 s with RoPE, a gap attributed to that scatter-add. So on the
full-sequence path (no cache, positions the default arange) the terms come
from `positions.relative_terms`, whose backward reads each bucket out of dS
instead: a distance 0 < r < W is one diagonal of dS (read by a skewed
reshape), the shared buckets 0 and W are masked row / column sums, and
nothing is scattered. Measured on the H200 (results/performance.md): 59.6 to
60.8 ms per step against 121 ms, and RoPE at 31 ms. The profile puts most of
the rest in the concatenations that assemble the two tables' gradients.
Explicit positions or a cache (prefill, decoding) keep the plain gathers,
whose buckets can be arbitrary.

With `relative_scores='banded'`, beyond two blocks of C = W positions
(L > 2W) the full-sequence path drops
even those [B, H, L, L] relative terms and their backward's diagonal reads
(banded.py): every distance >= W shares c2p[i, W] + p2c[W, j], a per-row
constant (dropped: it cancels in the softmax) plus a per-key bias (folded
into the queries), so the relative terms differ from that only on W
diagonals. The scores are then a plain masked q . k^T for keys two or more
blocks back plus a near window [C, 2C] per block of queries for the rest,
softmaxed jointly; nothing is gathered or scattered, and the backward is
autodiff's but for the joint softmax's usual p (dp - sum p dp). The same
attention up to float reassociation. Short sequences (the quickstart's
L ~ 100 at W = 64), where the split saves nothing, and `collect` (which
returns the full [B, H, Q, S] probabilities) keep `relative_terms`. Dropout
draws separate masks for the two parts. On the H200 (results/h200_session7/)
it is 21% slower than 'dense' in training and 6% faster in the rollout at
N = 128, so the default stays 'dense'; banded's use is memory.

With `relative_scores='fused'` the aligned path hands the relative terms to
`jax.nn.dot_product_attention` as its bias (in the compute dtype), so on a GPU
with bf16 inputs cuDNN's flash kernel does the softmax and the value product
without float32 [B, H, L, L] scores and probabilities in memory; only the
16-bit bias (and, in training, its gradient) is materialized. Elsewhere XLA's
reference runs the same function. No attention dropout on this path.
For RoPE and NoPE (no relative terms) 'fused' and 'flash' both send the
full-sequence path through the same call with no bias at all.

With `relative_scores='flash'` (flash_relative.py) the relative terms never
reach memory as a [B, H, L, L] tensor: a Pallas (Triton) flash-attention
kernel adds them inside each tile from one small band table per query,
forward and backward, on the full sequence and on a rollout's suffix alike. Off a GPU the
same function runs in plain JAX. No attention dropout on this path either.

Scores and softmax run in float32 whatever the compute dtype; matmul inputs use
the compute dtype. The same code serves full sequences (keys = the sequence)
and incremental decoding (keys = a fixed-size cache [B, S, H, K] into which the
new keys are written at their positions; causality then masks unwritten slots).
"""
import jax
import jax.numpy as jnp
from flax import nnx

from recur_latent.models import banded
from recur_latent.models import flash_relative
from recur_latent.models import positions as positions_lib

RELATIVE_SCORES = ("dense", "banded", "fused", "flash")


def fused_implementation(dtype) -> str:
  """cuDNN where it can run (a GPU, 16-bit inputs), else XLA's reference attention."""
  on_gpu = jax.default_backend() == "gpu"
  return "cudnn" if on_gpu and jnp.dtype(dtype) in (jnp.bfloat16, jnp.float16) else "xla"


def _relative_tables(q_BQHK, k_BSHK, kr_RHK, qr_RHK):
  """The small float32 tables c2p [B, H, Q, R] = q . kr and p2c [B, H, R, S] = qr . k."""
  f32 = jnp.float32
  return (jnp.einsum("bqhk,rhk->bhqr", q_BQHK, kr_RHK, preferred_element_type=f32),
          jnp.einsum("bshk,rhk->bhrs", k_BSHK, qr_RHK, preferred_element_type=f32))


def _gathered_relative_terms(c2p_BHQR, p2c_BHRS, positions_BQ, key_pos_BS, window):
  """c2p[i, r] + p2c[r, j] at each pair's clipped distance r, for any positions: [B, H, Q, S]."""
  buckets_B1QS = positions_lib.relative_buckets(positions_BQ, key_pos_BS, window)[:, None]
  return (jnp.take_along_axis(c2p_BHQR, buckets_B1QS, axis=-1)
          + jnp.take_along_axis(p2c_BHRS, buckets_B1QS, axis=-2))


def _causal_mask(positions_BQ, key_pos_BS):
  """[B, 1, Q, S]: True where the key's position is at or before the query's."""
  return (key_pos_BS[:, None, :] <= positions_BQ[:, :, None])[:, None]


def dropout(x: jax.Array, rate: float, key: jax.Array | None) -> jax.Array:
  """Inverted dropout; identity when `key` is None or the rate is 0."""
  if key is None or rate == 0.0:
    return x
  keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), 0.0).astype(x.dtype)


def _init_param(rngs, shape, in_axis, out_axis):
  init = jax.nn.initializers.lecun_normal(in_axis=in_axis, out_axis=out_axis)
  return nnx.Param(init(rngs.params(), shape, jnp.float32))


def _zeros(shape):
  return nnx.Param(jnp.zeros(shape, jnp.float32))


def _check_suffix(cache, positions_BQ, suffix_start, num_queries):
  if cache is None or positions_BQ is not None:
    raise ValueError("suffix_start needs a cache and no explicit positions")
  if suffix_start < 0 or suffix_start + num_queries != cache["k"].shape[1]:
    raise ValueError(f"a suffix from {suffix_start} of {num_queries} positions does not end "
                     f"at the cache's length {cache['k'].shape[1]}")


class CausalSelfAttention(nnx.Module):
  """Causal multi-head self-attention; parameters are float32, compute in `dtype`."""

  def __init__(self, d_model: int, num_heads: int, *, position: str, rel_window: int = 64,
               relative_scores: str = "dense", dropout_rate: float = 0.0, dtype=jnp.float32,
               rngs: nnx.Rngs):
    if d_model % num_heads:
      raise ValueError(f"d_model {d_model} is not divisible by num_heads {num_heads}")
    self.num_heads = num_heads
    self.head_dim = d_model // num_heads
    self.position = positions_lib.check_position(position)
    self.rel_window = rel_window
    if relative_scores not in RELATIVE_SCORES:
      raise ValueError(f"unknown relative_scores {relative_scores!r}; expected one of {RELATIVE_SCORES}")
    # 'banded': the near/far split of banded.py where it applies; 'dense':
    # always `positions.relative_terms` (the path measured on the H200).
    self.relative_scores = relative_scores
    self.dropout_rate = dropout_rate
    self.dtype = dtype
    d, h, k = d_model, num_heads, self.head_dim
    self.w_q = _init_param(rngs, (d, h, k), 0, (1, 2))
    self.w_k = _init_param(rngs, (d, h, k), 0, (1, 2))
    self.w_v = _init_param(rngs, (d, h, k), 0, (1, 2))
    self.b_q, self.b_k, self.b_v = _zeros((h, k)), _zeros((h, k)), _zeros((h, k))
    self.w_o = _init_param(rngs, (h, k, d), (0, 1), 2)
    self.b_o = _zeros((d,))
    if position == "relative":
      # Per-layer projections of the shared relative table (DeBERTa's W_{k,r}, W_{q,r}).
      self.w_kr = _init_param(rngs, (d, h, k), 0, (1, 2))
      self.w_qr = _init_param(rngs, (d, h, k), 0, (1, 2))
    else:
      self.w_kr = self.w_qr = None

  def init_cache(self, batch_size: int, max_len: int) -> dict[str, jax.Array]:
    """An empty KV cache for `max_len` positions (keys already position-encoded)."""
    shape = (batch_size, max_len, self.num_heads, self.head_dim)
    return {"k": jnp.zeros(shape, self.dtype), "v": jnp.zeros(shape, self.dtype)}

  def _project_qkv(self, x_BLD):
    """q, k, v [B, L, H, K] from one product with the three weights side by side.

    One [d, 3 H K] product instead of three [d, H K] ones: its backward is
    then one weight-gradient and one input-gradient product, not three of
    each and their sum. The parameters stay separate (checkpoints, interp/).
    """
    dt = self.dtype
    w_DTHK = jnp.stack([w[...].astype(dt) for w in (self.w_q, self.w_k, self.w_v)], axis=1)
    qkv_BLTHK = jnp.einsum("bld,dthk->blthk", x_BLD, w_DTHK)
    # Each bias joins its own slice, where XLA fuses it into what reads the
    # slice; added to the joint product, it was a pass of its own (0.36 ms
    # of the H200 step, results/h200_session18/).
    return tuple(qkv_BLTHK[:, :, t] + b[...].astype(dt)
                 for t, b in enumerate((self.b_q, self.b_k, self.b_v)))

  def __call__(self, x_BQD: jax.Array, *, positions_BQ: jax.Array | None = None,
               rel_RD: jax.Array | None = None, cache: dict[str, jax.Array] | None = None,
               suffix_start: int | None = None, dropout_key: jax.Array | None = None,
               lengths_B: jax.Array | None = None, collect: bool = False):
    """Attends each query to the keys at positions <= its own.

    Args:
      x_BQD: inputs (the LayerNormed residual stream) of Q new positions.
      positions_BQ: int positions of the inputs, [B, Q] or [1, Q] (shared);
        None means arange(Q), and without a cache it takes the relative
        path whose backward has no scatter (same values).
      rel_RD: the shared normalized relative table ('relative' only).
      cache: optional {'k', 'v'} of shape [B, S, H, K]; the new keys/values are
        written at `positions_BQ` and attention runs over all S slots.
      suffix_start: with a cache, a static int: the inputs are positions
        [suffix_start, S) and the cache's first suffix_start slots hold their
        keys and values (a rollout that recomputes only what changed). Writes
        are a static slice; 0 takes the full-sequence path.
      dropout_key: dropout on attention probabilities (None: off).
      lengths_B: optional int [B], each row's number of real positions: a
        query at or past it gets a zero output (the 'flash' kernels skip
        the work only padding needs). For callers that never read padded
        positions, such as a loss that ignores them.
      collect: also return intermediates for interpretability.

    Returns:
      (y_BQD, new_cache or None, aux) where aux is {} unless `collect`:
      'attn_probs_BHQS' (float32) and 'head_out_BQHD' (each head's output
      through its slice of the output projection, bias excluded).
    """
    dt = self.dtype
    if suffix_start is not None:
      _check_suffix(cache, positions_BQ, suffix_start, x_BQD.shape[1])
      if suffix_start > 0:
        positions_BQ = jnp.arange(suffix_start, cache["k"].shape[1], dtype=jnp.int32)[None, :]
    # Aligned: query i and key j sit at positions i and j, known at trace time.
    aligned = positions_BQ is None and (cache is None or suffix_start == 0)
    if positions_BQ is None:
      positions_BQ = jnp.arange(x_BQD.shape[1], dtype=jnp.int32)[None, :]
    x_BQD = x_BQD.astype(dt)
    q_BQHK, k_BQHK, v_BQHK = self._project_qkv(x_BQD)
    if self.position == "rope":
      q_BQHK = positions_lib.rope(q_BQHK, positions_BQ)
      k_BQHK = positions_lib.rope(k_BQHK, positions_BQ)

    if cache is None:
      new_cache = None
      keys_BSHK, values_BSHK, key_pos_BS = k_BQHK, v_BQHK, positions_BQ
    elif suffix_start is not None:
      write = lambda slots, new: jax.lax.dynamic_update_slice_in_dim(
          slots, new.astype(slots.dtype), suffix_start, axis=1)
      new_cache = {"k": write(cache["k"], k_BQHK), "v": write(cache["v"], v_BQHK)}
      if aligned:
        keys_BSHK, values_BSHK, key_pos_BS = k_BQHK, v_BQHK, positions_BQ
      else:
        keys_BSHK, values_BSHK = new_cache["k"].astype(dt), new_cache["v"].astype(dt)
        key_pos_BS = jnp.arange(keys_BSHK.shape[1])[None, :]
    else:
      batch_B1 = jnp.arange(x_BQD.shape[0])[:, None]
      keys_BSHK = cache["k"].at[batch_B1, positions_BQ].set(k_BQHK.astype(cache["k"].dtype))
      values_BSHK = cache["v"].at[batch_B1, positions_BQ].set(v_BQHK.astype(cache["v"].dtype))
      new_cache = {"k": keys_BSHK, "v": values_BSHK}
      key_pos_BS = jnp.arange(keys_BSHK.shape[1])[None, :]
      keys_BSHK, values_BSHK = keys_BSHK.astype(dt), values_BSHK.astype(dt)

    # Padded rows are zeroed where the attention is formed (flash) or after it (the other paths).
    padded = None if lengths_B is None else positions_BQ >= lengths_B[:, None]
    kr_RHK = qr_RHK = None
    if self.position == "relative":
      kr_RHK, qr_RHK = self._relative_projections(rel_RD)
      if (aligned and not collect and self.relative_scores == "banded"
          and banded.applies(x_BQD.shape[1], self.rel_window)):
        out_BQHK = self._banded(q_BQHK, keys_BSHK, values_BSHK, kr_RHK, qr_RHK, dropout_key)
        return self._output(out_BQHK, new_cache, None, padded)
      if (aligned or suffix_start) and not collect and self.relative_scores == "flash":
        out_BQHK = self._flash(q_BQHK, keys_BSHK, values_BSHK, kr_RHK, qr_RHK, dropout_key,
                               0 if aligned else suffix_start, lengths_B)
        return self._output(out_BQHK, new_cache, None)
      if aligned and not collect and self.relative_scores == "fused":
        out_BQHK = self._fused(q_BQHK, keys_BSHK, values_BSHK, kr_RHK, qr_RHK, dropout_key)
        return self._output(out_BQHK, new_cache, None, padded)
      if suffix_start and not collect and self.relative_scores == "fused":
        out_BQHK = self._fused_suffix(q_BQHK, keys_BSHK, values_BSHK, kr_RHK, qr_RHK,
                                      positions_BQ, key_pos_BS)
        return self._output(out_BQHK, new_cache, None, padded)
    elif aligned and not collect and self.relative_scores in ("fused", "flash"):
      out_BQHK = self._fused_plain(q_BQHK, keys_BSHK, values_BSHK, dropout_key)
      return self._output(out_BQHK, new_cache, None, padded)
    out_BQHK, probs_BHQS = self._dense(q_BQHK, keys_BSHK, values_BSHK, kr_RHK, qr_RHK,
                                       positions_BQ, key_pos_BS, aligned, dropout_key)
    return self._output(out_BQHK, new_cache, probs_BHQS if collect else None, padded)

  def _dense(self, q_BQHK, k_BSHK, v_BSHK, kr_RHK, qr_RHK, positions_BQ, key_pos_BS, aligned,
             dropout_key):
    """Softmax attention over float32 [B, H, Q, S] scores: (out_BQHK, probs_BHQS).

    kr_RHK and qr_RHK are the relative projections ('relative'), else None.
    """
    f32 = jnp.float32
    scores_BHQS = jnp.einsum("bqhk,bshk->bhqs", q_BQHK, k_BSHK, preferred_element_type=f32)
    if kr_RHK is not None:
      c2p_BHQR, p2c_BHRS = _relative_tables(q_BQHK, k_BSHK, kr_RHK, qr_RHK)
      if aligned:
        scores_BHQS = scores_BHQS + positions_lib.relative_terms(c2p_BHQR, p2c_BHRS, self.rel_window)
      else:
        scores_BHQS = scores_BHQS + _gathered_relative_terms(c2p_BHQR, p2c_BHRS, positions_BQ,
                                                             key_pos_BS, self.rel_window)
      scores_BHQS = scores_BHQS / jnp.sqrt(3.0 * self.head_dim)
    else:
      scores_BHQS = scores_BHQS / jnp.sqrt(float(self.head_dim))

    scores_BHQS = jnp.where(_causal_mask(positions_BQ, key_pos_BS), scores_BHQS, jnp.finfo(f32).min)
    probs_BHQS = jax.nn.softmax(scores_BHQS, axis=-1)
    dropped_BHQS = dropout(probs_BHQS, self.dropout_rate, dropout_key)
    return jnp.einsum("bhqs,bshk->bqhk", dropped_BHQS.astype(self.dtype), v_BSHK), probs_BHQS

  def _relative_projections(self, rel_RD):
    """kr [W + 1, H, K] and qr [W + 1, H, K]: this layer's projections of the shared table."""
    if rel_RD is None:
      raise ValueError("relative positions need the shared table rel_RD")
    dt = self.dtype
    rel_RD = rel_RD.astype(dt)
    return (jnp.einsum("rd,dhk->rhk", rel_RD, self.w_kr[...].astype(dt)),
            jnp.einsum("rd,dhk->rhk", rel_RD, self.w_qr[...].astype(dt)))

  def _banded(self, q_BQHK, k_BQHK, v_BQHK, kr_RHK, qr_RHK, dropout_key):
    """The aligned relative path as far scores plus a near band (banded.py); same output."""
    scale = (3.0 * self.head_dim) ** -0.5
    far_BHQS, near_BHNCT = banded.scores(q_BQHK, k_BQHK, kr_RHK, qr_RHK, self.rel_window, scale)
    far_BHQS, near_BHNCT = banded.softmax(far_BHQS, near_BHNCT)
    if dropout_key is not None:
      far_key, near_key = jax.random.split(dropout_key)
      far_BHQS = dropout(far_BHQS, self.dropout_rate, far_key)
      near_BHNCT = dropout(near_BHNCT, self.dropout_rate, near_key)
    return banded.combine(far_BHQS, near_BHNCT, v_BQHK)

  def _refuse_dropout(self, dropout_key):
    """The fused and flash paths have no attention dropout: asking for it is an error."""
    if dropout_key is not None and self.dropout_rate > 0.0:
      raise ValueError(f"relative_scores={self.relative_scores!r} has no attention dropout; "
                       "set model.dropout=0")

  def _fused(self, q_BQHK, k_BQHK, v_BQHK, kr_RHK, qr_RHK, dropout_key):
    """The aligned relative path through `jax.nn.dot_product_attention`; same output.

    The relative terms become its additive bias ([B, H, Q, S] in the compute
    dtype, scaled like the scores), so softmax and the value product run in
    one fused kernel: cuDNN's flash attention on a GPU with bf16/fp16 inputs,
    XLA's reference elsewhere. The bias's gradient (cuDNN returns it) flows
    back through `relative_terms`' scatter-free backward.
    """
    self._refuse_dropout(dropout_key)
    scale = (3.0 * self.head_dim) ** -0.5
    c2p_BHQR, p2c_BHRS = _relative_tables(q_BQHK, k_BQHK, kr_RHK, qr_RHK)
    bias_BHQS = positions_lib.relative_terms(c2p_BHQR, p2c_BHRS, self.rel_window) * scale
    return jax.nn.dot_product_attention(
        q_BQHK, k_BQHK, v_BQHK, bias=bias_BHQS.astype(q_BQHK.dtype), scale=scale,
        is_causal=True, implementation=fused_implementation(q_BQHK.dtype))

  def _fused_plain(self, q_BQHK, k_BQHK, v_BQHK, dropout_key):
    """The aligned path without relative terms (RoPE, NoPE) as one fused causal kernel.

    No bias at all, so on a GPU cuDNN's flash attention never materializes a
    [B, H, L, L] tensor; 'fused' and 'flash' both take it (method 3 is NoPE).
    """
    self._refuse_dropout(dropout_key)
    return jax.nn.dot_product_attention(
        q_BQHK, k_BQHK, v_BQHK, scale=self.head_dim ** -0.5, is_causal=True,
        implementation=fused_implementation(q_BQHK.dtype))

  def _flash(self, q_BQHK, k_BSHK, v_BSHK, kr_RHK, qr_RHK, dropout_key, query_offset, lengths_B):
    """The aligned or suffix relative path as Pallas kernels (flash_relative.py); same output."""
    self._refuse_dropout(dropout_key)
    return flash_relative.attention(q_BQHK, k_BSHK, v_BSHK, kr_RHK, qr_RHK,
                                    scale=(3.0 * self.head_dim) ** -0.5, query_offset=query_offset,
                                    lengths_B=lengths_B)

  def _fused_suffix(self, q_BQHK, k_BSHK, v_BSHK, kr_RHK, qr_RHK, positions_BQ, key_pos_BS):
    """`_fused` for queries that start past the first key (a rollout's suffix); same values.

    The relative terms are gathered at each pair's bucket, and causality is
    folded into the bias, since a fused kernel's own causal mask assumes the
    queries start at key 0.
    """
    scale = (3.0 * self.head_dim) ** -0.5
    c2p_BHQR, p2c_BHRS = _relative_tables(q_BQHK, k_BSHK, kr_RHK, qr_RHK)
    bias_BHQS = _gathered_relative_terms(c2p_BHQR, p2c_BHRS, positions_BQ, key_pos_BS,
                                         self.rel_window) * scale
    dt = q_BQHK.dtype
    bias_BHQS = jnp.where(_causal_mask(positions_BQ, key_pos_BS), bias_BHQS.astype(dt),
                          jnp.finfo(dt).min)
    return jax.nn.dot_product_attention(
        q_BQHK, k_BSHK, v_BSHK, bias=bias_BHQS, scale=scale, is_causal=False,
        implementation=fused_implementation(dt))

  def _output(self, out_BQHK, new_cache, probs_BHQS, padded_BQ=None):
    """(y_BQD, new_cache, aux); aux holds the intermediates when `probs_BHQS` is given (collect).

    Rows marked in padded_BQ get a zero attention output.
    """
    dt = self.dtype
    if padded_BQ is not None:
      out_BQHK = jnp.where(padded_BQ[:, :, None, None], 0, out_BQHK).astype(out_BQHK.dtype)
    w_o_HKD = self.w_o[...].astype(dt)
    y_BQD = jnp.einsum("bqhk,hkd->bqd", out_BQHK, w_o_HKD) + self.b_o[...].astype(dt)
    aux = {}
    if probs_BHQS is not None:
      aux = {"attn_probs_BHQS": probs_BHQS,
             "head_out_BQHD": jnp.einsum("bqhk,hkd->bqhd", out_BQHK, w_o_HKD)}
    return y_BQD, new_cache, aux
