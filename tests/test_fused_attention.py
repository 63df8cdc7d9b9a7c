"""relative_scores='fused': the relative terms as the bias of jax.nn.dot_product_attention.

On this CPU the fused path runs XLA's reference attention; on a GPU with bf16
it runs cuDNN (timed in results/, not here). Both must compute the dense
path's function, gradients included.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import common
from recur_latent.models import attention
from recur_latent.models import transformer
from recur_latent.training import config_checks
from tests import model_testing
from tests.test_banded_attention import _layer_outputs, _normal, _set_scores
from tests.test_banded_attention import assert_layer_matches_dense


@pytest.mark.parametrize("length", [9, 37])
def test_fused_layer_and_its_gradients_match_dense(length):
  x, _, y_dense = assert_layer_matches_dense("fused", length)
  with jax.default_matmul_precision("highest"):
    y_plain, _ = _layer_outputs(attention.CausalSelfAttention(
        x.shape[-1], 2, position="none", rngs=nnx.Rngs(0)), x, None, "dense")
  assert float(jnp.abs(y_dense - y_plain).max()) > 0.1  # The relative terms matter here.


def test_fused_bf16_transformer_stays_close_to_dense():
  body = transformer.Transformer(d_model=32, num_heads=2, num_layers=2, position="relative",
                                 rel_window=4, dtype=jnp.bfloat16, rngs=nnx.Rngs(3))
  x = _normal(4, 2, 30, 32)
  _set_scores(body, "dense")
  dense = model_testing.jit_apply(body, lambda m, x: m(x), x)
  _set_scores(body, "fused")
  fused, collected = model_testing.jit_apply(
      body, lambda m, x: (m(x), m.run(x, collect=True)[0]), x)
  # The bias is rounded to bf16 on the fused path; the dense path adds it in float32.
  np.testing.assert_allclose(np.asarray(fused, np.float32), np.asarray(dense, np.float32),
                             atol=0.06 * float(jnp.abs(dense).max()))
  np.testing.assert_array_equal(collected, dense)  # `collect` keeps the dense path.


def test_fused_implementation_is_xla_off_gpu_and_dropout_is_refused():
  assert jax.default_backend() != "gpu"
  assert attention.fused_implementation(jnp.bfloat16) == "xla"
  assert_dropout_is_refused("fused")


def assert_dropout_is_refused(relative_scores):
  """A path without attention dropout refuses it: in the layer, and in the config before any build."""
  layer = attention.CausalSelfAttention(8, 2, position="relative", rel_window=4,
                                        relative_scores=relative_scores, dropout_rate=0.1,
                                        rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="dropout"):
    layer(jnp.zeros((1, 6, 8)), rel_RD=jnp.zeros((5, 8)), dropout_key=jax.random.key(0))
  cfg = common.base_config()
  cfg.model.relative_scores = relative_scores
  cfg.model.dropout = 0.1
  with pytest.raises(ValueError, match="model.dropout"):
    config_checks.check_config(cfg)
  cfg.model.dropout = 0.0
  config_checks.check_config(cfg)


@pytest.mark.parametrize("position", ["none", "rope"])
@pytest.mark.parametrize("relative_scores", ["fused", "flash"])
def test_fused_plain_causal_attention_matches_dense(position, relative_scores, monkeypatch):
  """RoPE and NoPE layers (method 3 is NoPE) on 'fused'/'flash': one bias-free fused call."""
  calls = []
  fused_plain = attention.CausalSelfAttention._fused_plain
  monkeypatch.setattr(attention.CausalSelfAttention, "_fused_plain",
                      lambda self, *a: calls.append(1) or fused_plain(self, *a))
  layer = attention.CausalSelfAttention(16, 2, position=position, rngs=nnx.Rngs(1))
  x = _normal(5, 2, 23, 16)
  with jax.default_matmul_precision("highest"):
    y_dense, (dp_dense, dx_dense) = _layer_outputs(layer, x, None, "dense")
    y, (dp, dx) = _layer_outputs(layer, x, None, relative_scores)
    # Causal: changing the last position leaves every earlier output alone.
    y_moved, _ = _layer_outputs(layer, x.at[:, -1].add(1.0), None, relative_scores)
  assert len(calls) == 2  # Traced once per fused call above; never for 'dense'.
  np.testing.assert_allclose(y, y_dense, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(dx, dx_dense, rtol=1e-4, atol=1e-5)
  for g, g_dense in zip(jax.tree.leaves(dp), jax.tree.leaves(dp_dense)):
    np.testing.assert_allclose(g, g_dense, rtol=1e-4, atol=1e-5)
  np.testing.assert_array_equal(y_moved[:, :-1], y[:, :-1])
  assert float(jnp.abs(y_moved[:, -1] - y[:, -1]).max()) > 1e-3
  with pytest.raises(ValueError, match="dropout"):
    attention.CausalSelfAttention(16, 2, position=position, relative_scores=relative_scores,
                                  dropout_rate=0.1, rngs=nnx.Rngs(0))(
        x, dropout_key=jax.random.key(0))
