"""The factor-embedding sum: the lookup's value, and the matmul backward against autodiff's scatter."""
import jax
import jax.numpy as jnp
import numpy as np

from recur_latent.models import factor_embedding


def _lookup_sum(tables, tokens_BLF):
  return sum(table[tokens_BLF[..., f]] for f, table in enumerate(tables))


def _case(seed=0, sizes=(6, 513, 25, 4), depth=48, batch=3, length=37):
  keys = jax.random.split(jax.random.key(seed), len(sizes) + 2)
  tables = tuple(jax.random.normal(k, (v, depth), jnp.float32) for k, v in zip(keys, sizes))
  tokens_BLF = jnp.stack([jax.random.randint(k, (batch, length), 0, v)
                          for k, v in zip(jax.random.split(keys[-2], len(sizes)), sizes)], axis=-1)
  # Repeated tokens (every row of a small table is hit many times) are the case the scatter gets wrong
  # fast and the product must get right.
  weights_BLD = jax.random.normal(keys[-1], (batch, length, depth), jnp.float32)
  return tables, tokens_BLF, weights_BLD


def test_forward_is_the_sum_of_lookups():
  tables, tokens_BLF, _ = _case()
  np.testing.assert_array_equal(factor_embedding.embedding_sum(tables, tokens_BLF),
                                _lookup_sum(tables, tokens_BLF))


def test_table_gradients_match_autodiff_of_the_lookup():
  tables, tokens_BLF, weights_BLD = _case(seed=1)
  loss = lambda fn: lambda t: jnp.sum(jnp.sin(fn(t, tokens_BLF)) * weights_BLD)
  got = jax.grad(loss(factor_embedding.embedding_sum))(tables)
  want = jax.grad(loss(_lookup_sum))(tables)
  for g, w in zip(got, want):
    # The bf16 head + remainder split keeps about 16 bits of each token's gradient.
    np.testing.assert_allclose(g, w, rtol=0, atol=1e-4 * float(jnp.abs(w).max()))
  # Rows no token uses get exactly zero.
  unused = np.setdiff1d(np.arange(513), np.asarray(tokens_BLF[..., 1]).ravel())
  assert unused.size and np.all(np.asarray(got[1])[unused] == 0.0)


def test_gradient_is_not_just_the_bf16_rounding():
  # With the remainder dropped the error would be ~2^-9 of the gradient; the split must beat it.
  tables, tokens_BLF, weights_BLD = _case(seed=2, sizes=(7,), depth=16, batch=2, length=300)
  weights_BLD = weights_BLD * (1.0 + 1e-3 * jnp.arange(16))
  got = jax.grad(lambda t: jnp.sum(factor_embedding.embedding_sum(t, tokens_BLF) * weights_BLD))(tables)[0]
  want = jax.grad(lambda t: jnp.sum(_lookup_sum(t, tokens_BLF) * weights_BLD))(tables)[0]
  rel = float(jnp.abs(got - want).max() / jnp.abs(want).max())
  assert rel < 2e-5, rel
