"""The near/far split of aligned relative attention (banded.py) against `positions.relative_terms`."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from recur_latent.models import attention
from recur_latent.models import banded
from recur_latent.models import positions
from recur_latent.models import transformer
from tests import model_testing


def _reference(q, k, v, kr, qr, window, relative=True):
  """The full-score path: q . k plus the gathered relative terms, one softmax over [L, L]."""
  length, dim = q.shape[1], q.shape[-1]
  scores = jnp.einsum("bqhk,bshk->bhqs", q, k)
  if relative:
    c2p = jnp.einsum("bqhk,rhk->bhqr", q, kr)
    p2c = jnp.einsum("bshk,rhk->bhrs", k, qr)
    scores = scores + positions.relative_terms(c2p, p2c, window)
  causal = jnp.tril(jnp.ones((length, length), bool))
  probs = jax.nn.softmax(jnp.where(causal, scores / np.sqrt(3.0 * dim), jnp.finfo(jnp.float32).min), -1)
  return jnp.einsum("bhqs,bshk->bqhk", probs, v)


def _banded(q, k, v, kr, qr, window):
  scale = (3.0 * q.shape[-1]) ** -0.5
  return banded.combine(*banded.softmax(*banded.scores(q, k, kr, qr, window, scale)), v)


def _normal(seed, *shape, scale=1.0):
  """numpy draws: eager jax.random would compile a program per shape."""
  return jnp.asarray(scale * np.random.default_rng(seed).normal(size=shape), jnp.float32)


def _inputs(length, window, seed, batch=2, heads=2, dim=8):
  q, k, v = (_normal(seed + i, batch, length, heads, dim) for i in range(3))
  # Large tables, so that a misplaced relative term shows.
  kr, qr = (_normal(seed + i, window + 1, heads, dim, scale=2.0) for i in range(3, 5))
  return (q, k, v, kr, qr), _normal(seed + 5, batch, length, heads, dim)


def _compare(window, args, cotangent):
  """Outputs and input gradients of both paths, and the reference without relative terms."""
  def run(*args):
    results = []
    for fn in (_reference, _banded):
      out, pullback = jax.vjp(lambda *a: fn(*a, window), *args)
      results.append((out, pullback(cotangent)))
    return results, _reference(*args, window, relative=False)
  return jax.jit(run)(*args)


@pytest.mark.parametrize("window, length", [
    (4, 9),    # Just above 2C, not a multiple of C.
    (4, 16),   # A multiple of C.
    (8, 45),   # Several blocks and a partial one.
    (64, 200),  # The default window.
])
def test_banded_matches_relative_terms(window, length):
  assert banded.applies(length, window)
  args, cotangent = _inputs(length, window, seed=length)
  with jax.default_matmul_precision("highest"):
    ((want, want_grads), (got, got_grads)), content_only = _compare(window, args, cotangent)
  assert float(jnp.abs(want - content_only).max()) > 0.1  # The relative terms matter here.
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  for name, g, w in zip(("q", "k", "v", "kr", "qr"), got_grads, want_grads):
    scale = float(jnp.abs(w).max())
    np.testing.assert_allclose(g / scale, w / scale, atol=2e-5, err_msg=f"gradient of {name}")


def test_skews_place_the_entries_where_the_docstrings_say():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 3, 11)).astype(np.float32)  # [.., M, L]
  shifted = np.asarray(banded._shift_rows_right(jnp.asarray(x)))
  want = np.zeros_like(x)
  for r in range(3):
    want[:, r, r:] = x[:, r, : 11 - r]
  np.testing.assert_array_equal(shifted, want)
  block, window = 5, 3
  t = rng.normal(size=(2, block, window)).astype(np.float32)
  placed = np.asarray(banded._place_in_window(jnp.asarray(t), block))
  want = np.zeros((2, block, 2 * block), np.float32)
  for a in range(block):
    for col in range(2 * block):
      if 0 <= block + a - col < window:
        want[:, a, col] = t[:, a, block + a - col]
  np.testing.assert_array_equal(placed, want)


def _set_scores(module, relative_scores):
  for _, sub in nnx.iter_modules(module):
    if isinstance(sub, attention.CausalSelfAttention):
      sub.relative_scores = relative_scores


def _layer_outputs(layer, x, rel, relative_scores, dropout_key=None):
  _set_scores(layer, relative_scores)
  graphdef, state = nnx.split(layer)

  def loss(state, x):
    y, _, _ = nnx.merge(graphdef, state)(x, rel_RD=rel, dropout_key=dropout_key)
    return (y * jnp.cos(jnp.arange(y.size).reshape(y.shape))).sum(), y  # A generic cotangent.

  (_, y), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(state, x)
  return y, grads


def assert_layer_matches_dense(relative_scores, length=37):
  """A relative layer on `relative_scores` against 'dense': outputs, input and parameter gradients.

  Returns (x, rel, y_dense) for further checks.
  """
  window, d_model = 8, 16
  layer = attention.CausalSelfAttention(d_model, 2, position="relative", rel_window=window,
                                        rngs=nnx.Rngs(0))
  x = _normal(1, 2, length, d_model)
  rel = _normal(2, window + 1, d_model, scale=3.0)  # Large, so misplaced relative terms show.
  with jax.default_matmul_precision("highest"):
    y_dense, (dp_dense, dx_dense) = _layer_outputs(layer, x, rel, "dense")
    y, (dp, dx) = _layer_outputs(layer, x, rel, relative_scores)
  np.testing.assert_allclose(y, y_dense, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(dx, dx_dense, rtol=1e-4, atol=1e-5)
  for (path, g), g_dense in zip(jax.tree_util.tree_leaves_with_path(dp), jax.tree.leaves(dp_dense)):
    scale = float(jnp.abs(g_dense).max())
    np.testing.assert_allclose(g / scale, g_dense / scale, atol=2e-5, err_msg=str(path))
  return x, rel, y_dense


def test_attention_layer_and_its_gradients_match_the_old_path():
  assert_layer_matches_dense("banded")


def test_dropout_applies_to_both_parts():
  window, length, d_model = 4, 20, 8
  layer = attention.CausalSelfAttention(d_model, 2, position="relative", rel_window=window,
                                        relative_scores="banded", dropout_rate=0.5,
                                        rngs=nnx.Rngs(0))
  assert banded.applies(length, window)
  # The last query's near keys (blocks 3 and 4 of C = 4) get zero values (the biases are
  # zero), so its output comes from far keys only; the first query has only a near key.
  x = _normal(1, 1, length, d_model).at[:, 12:].set(0.0)
  rel = _normal(2, window + 1, d_model)
  graphdef, state = nnx.split(layer)
  apply = lambda key: nnx.merge(graphdef, state)(x, rel_RD=rel, dropout_key=key)[0][0]
  plain, dropped = jax.jit(lambda keys: (apply(None), jax.vmap(apply)(keys)))(
      jax.random.split(jax.random.key(3), 1024))
  spread = dropped.std(0) / jnp.abs(plain).max(-1, keepdims=True)
  assert float(spread[0].min()) > 0.1  # Near probabilities dropped.
  assert float(spread[-1].min()) > 0.05  # Far probabilities dropped.
  # Inverted dropout is unbiased: the mean over many masks comes back to the plain output.
  np.testing.assert_allclose(dropped.mean(0), plain, atol=0.1 * float(jnp.abs(plain).max()))


def test_transformer_at_long_length_matches_the_old_path():
  body = transformer.Transformer(d_model=16, num_heads=2, num_layers=2, position="relative",
                                 rel_window=4, rngs=nnx.Rngs(3))
  x = _normal(4, 2, 30, 16)
  positions_1L = jnp.arange(30)[None, :]
  with jax.default_matmul_precision("highest"):
    _set_scores(body, "dense")
    old = model_testing.jit_apply(body, lambda m, x: m(x), x)
    _set_scores(body, "banded")
    new, collected, explicit = model_testing.jit_apply(
        body, lambda m, x: (m(x), m.run(x, collect=True)[0], m(x, positions_BL=positions_1L)), x)
  np.testing.assert_allclose(new, old, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(collected, old, rtol=1e-4, atol=1e-4)  # `collect` keeps the old path.
  np.testing.assert_allclose(explicit, old, rtol=1e-4, atol=1e-4)  # Explicit positions: plain gathers.


def test_model_config_selects_the_banded_scores_and_rejects_unknown_ones():
  from configs import common
  from recur_latent.training import config_checks
  cfg = common.base_config()
  cfg.model.relative_scores = "banded"
  body = transformer.Transformer(**transformer.transformer_kwargs(cfg.model), rngs=nnx.Rngs(0))
  assert all(layer.attn.relative_scores == "banded" for layer in body.layers)
  cfg.model.relative_scores = "sparse"
  with pytest.raises(ValueError, match="model.relative_scores"):
    config_checks.check_config(cfg)
