"""Attention, positions and the Transformer body: causality, relative terms, precision, caching."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from recur_latent.data import vocab as V
from recur_latent.models import attention
from recur_latent.models import baselines
from recur_latent.models import positions
from recur_latent.models import transformer
from tests import model_testing

VOCAB = V.Vocab(modulus=7, num_names=16)
POSITIONS = ("relative", "rope", "absolute", "none")


def _random_tokens(key, batch, length):
  cols = [jax.random.randint(jax.random.fold_in(key, f), (batch, length), 0, size)
          for f, size in enumerate(VOCAB.factor_sizes)]
  return jnp.stack(cols, axis=-1).astype(jnp.int32)


@pytest.mark.parametrize("position", POSITIONS)
def test_factored_transformer_is_causal(position):
  cfg = model_testing.model_config(position=position, rel_window=3)
  model = transformer.FactoredTransformer(cfg, VOCAB, rngs=nnx.Rngs(0))
  tokens = _random_tokens(jax.random.key(1), 2, 12)
  j = 7
  changed = tokens.at[:, j].set((tokens[:, j] + 1) % jnp.array(VOCAB.factor_sizes))
  before, after = model_testing.jit_apply(model, lambda m, a, b: (m(a), m(b)), tokens, changed)
  for f in range(V.NUM_FACTORS):
    np.testing.assert_array_equal(before[f][:, :j], after[f][:, :j])
    assert not np.allclose(before[f][:, j:], after[f][:, j:])  # The change is visible from j on.


@pytest.mark.parametrize("position", POSITIONS)
def test_causal_lm_is_causal(position):
  model = baselines.CausalLM(model_testing.model_config(position=position), 20, rngs=nnx.Rngs(0))
  tokens = jax.random.randint(jax.random.key(2), (2, 10), 0, 20)
  j = 4
  changed = tokens.at[:, j].set((tokens[:, j] + 3) % 20)
  before, after = model_testing.jit_apply(model, lambda m, a, b: (m(a), m(b)), tokens, changed)
  np.testing.assert_array_equal(before[:, :j], after[:, :j])
  assert not np.allclose(before[:, j:], after[:, j:])


def test_relative_buckets_clip_far_distances():
  q = jnp.array([[0, 5, 20]])
  k = jnp.array([[0, 1, 4, 5, 19]])
  buckets = positions.relative_buckets(q, k, window=4)
  np.testing.assert_array_equal(buckets[0], [[0, 0, 0, 0, 0],   # keys after the query: bucket 0 (masked)
                                             [4, 4, 1, 0, 0],
                                             [4, 4, 4, 4, 1]])


def _layer0(model, tokens):
  _, intermediates = model_testing.jit_apply(model, lambda m, t: m.forward_with_intermediates(t), tokens)
  return intermediates[0]


def test_relative_attention_matches_naive_disentangled_formula():
  window = 3
  cfg = model_testing.model_config(position="relative", rel_window=window, num_layers=1)
  model = transformer.FactoredTransformer(cfg, VOCAB, rngs=nnx.Rngs(3))
  tokens = _random_tokens(jax.random.key(4), 1, 9)
  with jax.default_matmul_precision("highest"):  # GPUs default to TF32 for float32 matmuls.
    probs = np.asarray(_layer0(model, tokens)["attn_probs_BHLL"])[0]
  # Naive reference: expand the relative embeddings for every (i, j) pair.
  layer = model.transformer.layers[0]
  attn = layer.attn
  x = np.asarray(layer.attn_norm(model.embed(tokens)), np.float64)[0]
  rel = np.asarray(model.transformer.rel_table(), np.float64)
  proj = lambda a, w, b=None: np.einsum("ld,dhk->lhk", a, np.asarray(w[...])) + (0 if b is None else np.asarray(b[...]))
  q, k = proj(x, attn.w_q, attn.b_q), proj(x, attn.w_k, attn.b_k)
  kr, qr = proj(rel, attn.w_kr), proj(rel, attn.w_qr)
  length, heads, dim = q.shape
  scores = np.full((heads, length, length), -np.inf)
  for i in range(length):
    for j in range(i + 1):
      r = min(i - j, window)
      scores[:, i, j] = ((q[i] * k[j]).sum(-1) + (q[i] * kr[r]).sum(-1) + (k[j] * qr[r]).sum(-1)) / np.sqrt(3 * dim)
  expected = np.exp(scores - scores.max(-1, keepdims=True))
  expected /= expected.sum(-1, keepdims=True)
  np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-6)


def test_relative_attention_shares_the_clipped_bucket():
  # All positions hold the same token, so layer-1 scores differ only through positions.
  window = 4
  cfg = model_testing.model_config(position="relative", rel_window=window, num_layers=1)
  model = transformer.FactoredTransformer(cfg, VOCAB, rngs=nnx.Rngs(5))
  tokens = jnp.broadcast_to(jnp.array([V.VAR_TOKEN, 3, V.OP_NA, VOCAB.value_empty]), (1, 16, 4))
  probs = np.asarray(_layer0(model, tokens)["attn_probs_BHLL"])[0]
  i = 15
  far = probs[:, i, : i - window + 1]  # Distances >= window: one bucket, equal weights.
  np.testing.assert_allclose(far, np.broadcast_to(far[:, :1], far.shape), rtol=1e-5)
  near = probs[:, i, i - window + 1: i + 1]  # Distances window-1 .. 0: different buckets.
  assert np.abs(np.diff(near, axis=-1)).max() > 1e-4


def test_relative_model_runs_at_length_4096():
  cfg = model_testing.model_config(position="relative", d_model=16, num_heads=2, num_layers=1,
                                   rel_window=64)
  model = transformer.FactoredTransformer(cfg, VOCAB, rngs=nnx.Rngs(0))
  logits = model_testing.jit_apply(model, lambda m, t: m(t), _random_tokens(jax.random.key(0), 1, 4096))
  assert logits[V.VALUE].shape == (1, 4096, VOCAB.factor_sizes[V.VALUE])
  assert all(np.isfinite(np.asarray(l)).all() for l in logits)


@pytest.mark.parametrize("position", ("relative", "rope"))
def test_bfloat16_compute_is_close_to_float32(position):
  tokens = _random_tokens(jax.random.key(6), 2, 24)
  outs, mids = {}, {}
  for dtype in ("float32", "bfloat16"):
    cfg = model_testing.model_config(position=position, dtype=dtype)
    model = transformer.FactoredTransformer(cfg, VOCAB, rngs=nnx.Rngs(7))  # Same params.
    outs[dtype], layers = model_testing.jit_apply(model, lambda m, t: m.forward_with_intermediates(t), tokens)
    mids[dtype] = layers[0]["mlp_pre_BLM"]
  assert mids["bfloat16"].dtype == jnp.bfloat16 and mids["float32"].dtype == jnp.float32
  for lo, hi in zip(outs["bfloat16"], outs["float32"]):
    assert lo.dtype == jnp.float32  # Logits are float32 whatever the compute dtype.
    scale = float(jnp.abs(hi).max())
    assert float(jnp.abs(lo - hi).max()) < 0.05 * scale


def test_intermediates_are_consistent():
  model = transformer.FactoredTransformer(model_testing.model_config(), VOCAB, rngs=nnx.Rngs(8))
  tokens = _random_tokens(jax.random.key(9), 2, 10)
  (logits, layers), plain = model_testing.jit_apply(
      model, lambda m, t: (m.forward_with_intermediates(t), m(t)), tokens)
  np.testing.assert_allclose(logits[0], plain[0], rtol=1e-5, atol=1e-5)
  for aux in layers:
    attn = model.transformer.layers[0].attn
    heads_sum = aux["head_out_BLHD"].sum(axis=2) + attn.b_o[...]
    np.testing.assert_allclose(aux["attn_out_BLD"], heads_sum, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(aux["resid_mid_BLD"], aux["resid_pre_BLD"] + aux["attn_out_BLD"], atol=1e-5)
    np.testing.assert_allclose(aux["mlp_post_BLM"], jax.nn.relu(aux["mlp_pre_BLM"]))
    np.testing.assert_allclose(aux["resid_post_BLD"], aux["resid_mid_BLD"] + aux["mlp_out_BLD"], atol=1e-5)
    np.testing.assert_allclose(aux["attn_probs_BHLL"].sum(-1), 1.0, rtol=1e-5)
    assert np.all(np.triu(np.asarray(aux["attn_probs_BHLL"]), k=1) == 0)  # Causal.
  np.testing.assert_allclose(layers[1]["resid_pre_BLD"], layers[0]["resid_post_BLD"])


def test_dropout_key_changes_outputs_and_none_is_deterministic():
  model = transformer.FactoredTransformer(model_testing.model_config(dropout=0.3), VOCAB, rngs=nnx.Rngs(0))
  tokens = _random_tokens(jax.random.key(1), 1, 8)
  forward = lambda m, t, k: (m(t), m(t), m(t, k))
  plain, again, dropped = model_testing.jit_apply(model, forward, tokens, jax.random.key(2))
  np.testing.assert_array_equal(plain[0], again[0])
  assert not np.allclose(dropped[0], plain[0])


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("dtype", ("float32", "bfloat16"))
def test_kv_cache_decoding_equals_full_recomputation(position, dtype):
  vocab_size, total = 20, 12
  model = baselines.CausalLM(model_testing.model_config(position=position, rel_window=3, dtype=dtype),
                             vocab_size, rngs=nnx.Rngs(0))
  seq = jax.random.randint(jax.random.key(1), (2, total), 0, vocab_size)
  prompt_length = jnp.array([3, 5])
  prompt_len = 5
  # Example 0's prompt is padded with junk at positions 3, 4; decoding overwrites them.
  prompt = seq[:, :prompt_len].at[0, 3:].set(vocab_size - 1)

  def run(m, seq, prompt):
    prefill_logits, caches = m.prefill(prompt, m.init_cache(2, total))
    step_logits = []
    for step in range(total - prompt_len):
      pos = prompt_length + step
      logits, caches = m.decode_step(seq[jnp.arange(2), pos], pos, caches)
      step_logits.append(logits)
    return m(seq), prefill_logits, step_logits

  with jax.default_matmul_precision("highest"):  # GPUs default to TF32 for float32 matmuls.
    full, prefill_logits, step_logits = model_testing.jit_apply(model, run, seq, prompt)
  tol = dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else dict(rtol=2e-2, atol=2e-2)
  for b in range(2):
    np.testing.assert_allclose(prefill_logits[b, prompt_length[b] - 1], full[b, prompt_length[b] - 1], **tol)
  for step, logits in enumerate(step_logits):
    np.testing.assert_allclose(logits, full[jnp.arange(2), prompt_length + step], **tol)


def _gathered_terms(c2p_BHQR, p2c_BHRS, window):
  """The plain formulation: take_along_axis at the aligned buckets (scatter-add backward)."""
  pos_1L = jnp.arange(c2p_BHQR.shape[-2])[None, :]
  buckets_11QS = positions.relative_buckets(pos_1L, pos_1L, window)[:, None]
  return (jnp.take_along_axis(c2p_BHQR, buckets_11QS, axis=-1)
          + jnp.take_along_axis(p2c_BHRS, buckets_11QS, axis=-2))


@pytest.mark.parametrize("length,window", [(1, 1), (1, 4), (1, 0), (6, 0), (7, 1), (9, 2), (9, 3),
                                           (12, 5), (6, 6), (5, 6), (4, 9), (16, 15)])
def test_relative_terms_match_gathers_and_their_gradients(length, window):
  keys = jax.random.split(jax.random.key(length * 100 + window), 3)
  c2p = jax.random.normal(keys[0], (2, 3, length, window + 1), jnp.float32)
  p2c = jax.random.normal(keys[1], (2, 3, window + 1, length), jnp.float32)
  # A dense cotangent: the gradients must agree for any dS, not only causal-masked ones.
  d_scores = jax.random.normal(keys[2], (2, 3, length, length), jnp.float32)
  fast = jax.jit(lambda c, p: jax.vjp(lambda c, p: positions.relative_terms(c, p, window), c, p))
  plain = jax.jit(lambda c, p: jax.vjp(lambda c, p: _gathered_terms(c, p, window), c, p))
  fast_out, fast_vjp = fast(c2p, p2c)
  plain_out, plain_vjp = plain(c2p, p2c)
  np.testing.assert_array_equal(fast_out, plain_out)
  for fast_grad, plain_grad in zip(fast_vjp(d_scores), plain_vjp(d_scores)):
    assert fast_grad.dtype == jnp.float32
    np.testing.assert_allclose(fast_grad, plain_grad, rtol=1e-5, atol=1e-5)


def test_relative_terms_backward_has_no_scatter():
  c2p, p2c = jnp.ones((1, 2, 8, 4)), jnp.ones((1, 2, 4, 8))
  loss = lambda f: lambda c, p: (f(c, p, 3) ** 2).sum()
  fast = str(jax.make_jaxpr(jax.grad(loss(positions.relative_terms), argnums=(0, 1)))(c2p, p2c))
  plain = str(jax.make_jaxpr(jax.grad(loss(_gathered_terms), argnums=(0, 1)))(c2p, p2c))
  assert "scatter" in plain and "scatter" not in fast
  # The diagonals are read by skewed reshapes, not gathers (a gather along the
  # rows was the most expensive kernel of the GPU step; results/performance.md).
  backward = str(jax.make_jaxpr(lambda d: positions._aligned_terms_bwd(3, None, d))(jnp.ones((1, 2, 8, 8))))
  assert "gather" not in backward and "scatter" not in backward


def test_aligned_relative_attention_equals_explicit_positions_with_gradients():
  # positions_BQ=None takes relative_terms; explicit arange positions take the plain gathers.
  window, length, d_model = 3, 10, 16
  attn = attention.CausalSelfAttention(d_model, 4, position="relative", rel_window=window,
                                       rngs=nnx.Rngs(11))
  x = jax.random.normal(jax.random.key(13), (2, length, d_model), jnp.float32)
  rel = jax.random.normal(jax.random.key(14), (window + 1, d_model), jnp.float32)
  out_w = jax.random.normal(jax.random.key(15), (2, length, d_model), jnp.float32)
  explicit = jnp.arange(length, dtype=jnp.int32)[None, :]

  def loss(m, x, rel, pos):
    y, _, _ = m(x, positions_BQ=pos, rel_RD=rel)
    return (y * out_w).sum(), y

  def grads(m, x, rel, pos):
    return nnx.grad(loss, argnums=(0, 1, 2), has_aux=True)(m, x, rel, pos)

  with jax.default_matmul_precision("highest"):
    g_fast, y_fast = model_testing.jit_apply(attn, lambda m, x, r: grads(m, x, r, None), x, rel)
    g_plain, y_plain = model_testing.jit_apply(attn, lambda m, x, r: grads(m, x, r, explicit), x, rel)
  np.testing.assert_allclose(y_fast, y_plain, rtol=1e-5, atol=1e-6)
  fast_leaves = jax.tree.leaves(g_fast)
  plain_leaves = jax.tree.leaves(g_plain)
  assert len(fast_leaves) == len(plain_leaves) == 12  # 10 parameters, x and rel.
  for a, b in zip(fast_leaves, plain_leaves):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("explicit_positions", (False, True))
def test_transformer_default_positions_train_without_scatter(explicit_positions):
  # Transformer.run passes default positions down as None, so training takes the aligned path.
  cfg = model_testing.model_config(position="relative", rel_window=3, num_layers=2)
  body = transformer.Transformer(**transformer.transformer_kwargs(cfg), rngs=nnx.Rngs(16))
  x = jax.random.normal(jax.random.key(17), (2, 6, cfg.d_model), jnp.float32)
  pos = jnp.arange(6, dtype=jnp.int32)[None, :] if explicit_positions else None
  grad_fn = nnx.grad(lambda m, x: m(x, positions_BL=pos, dropout_key=jax.random.key(0)).sum())
  graphdef, state = nnx.split(body)
  jaxpr = str(jax.make_jaxpr(lambda s, x: grad_fn(nnx.merge(graphdef, s), x))(state, x))
  assert ("scatter" in jaxpr) == explicit_positions


@pytest.mark.parametrize("position,relative_scores", [
    ("relative", "dense"), ("relative", "fused"), ("relative", "banded"), ("relative", "flash"),
    ("rope", "dense"), ("absolute", "dense"), ("none", "dense")])
def test_a_suffix_over_the_cache_equals_the_whole_sequence(position, relative_scores):
  # 40 > 2 * rel_window: the banded path applies to the whole sequence.
  length, start, d_model = 40, 23, 32
  body = transformer.Transformer(d_model=d_model, num_heads=2, num_layers=2, position=position,
                                 rel_window=8, relative_scores=relative_scores, max_len=64,
                                 rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(1), (2, length, d_model))
  # The suffix changes after the first pass; the cache's stale keys there must not be read.
  x_new = x.at[:, start:].set(jax.random.normal(jax.random.key(2), (2, length - start, d_model)))

  def run(m, x, x_new):
    first, caches, _ = m.run(x, caches=m.init_cache(2, length), suffix_start=0)
    suffix, _, _ = m.run(x_new[:, start:], caches=caches, suffix_start=start)
    return first, suffix, m(x), m(x_new)

  with jax.default_matmul_precision("highest"):
    first, suffix, whole, whole_new = model_testing.jit_apply(body, run, x, x_new)
  np.testing.assert_allclose(first, whole, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(suffix, whole_new[:, start:], rtol=1e-4, atol=1e-4)
  assert float(jnp.abs(whole_new[:, start:] - whole[:, start:]).max()) > 0.1


def test_a_suffix_must_end_at_the_cache_length():
  layer = attention.CausalSelfAttention(8, 2, position="relative", rel_window=4, rngs=nnx.Rngs(0))
  cache = layer.init_cache(1, 10)
  x = jnp.zeros((1, 4, 8))
  with pytest.raises(ValueError, match="does not end at the cache's length 10"):
    layer(x, rel_RD=jnp.zeros((5, 8)), cache=cache, suffix_start=5)
  with pytest.raises(ValueError, match="needs a cache"):
    layer(x, rel_RD=jnp.zeros((5, 8)), suffix_start=6)
