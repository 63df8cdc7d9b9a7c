"""relative_scores='flash': relative attention as Pallas kernels (models/flash_relative.py).

The kernels run here through Pallas' interpreter, against the plain-JAX
reference and against the dense path of the attention layer; on a GPU they are
compiled by Triton (timed in results/, not here).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recur_latent.models import flash_relative
from tests.test_banded_attention import _normal
from tests.test_banded_attention import assert_layer_matches_dense
from tests.test_fused_attention import assert_dropout_is_refused


def _kernel_inputs(queries, keys, window, head_dim, seed):
  q = _normal(seed, 2, queries, 2, head_dim)
  k, v = (_normal(seed + i, 2, keys, 2, head_dim) for i in (1, 2))
  # Large relative tables, so that a misplaced band term shows.
  kr, qr = (_normal(seed + i, window + 1, 2, head_dim, scale=2.0) for i in (3, 4))
  return q, k, v, kr, qr


def _outputs_and_grads(implementation, args, offset, cotangent, blocks=(16, 16), lengths=None):
  def run(*args):
    return flash_relative.attention(*args, scale=0.3, query_offset=offset, lengths_B=lengths,
                                    implementation=implementation, block_q=blocks[0],
                                    block_k=blocks[1])
  out = jax.jit(run)(*args)
  grads = jax.jit(jax.grad(lambda *a: (run(*a) * cotangent).sum(), argnums=tuple(range(5))))(*args)
  return out, grads


# Lengths off the 16-blocks, a head dim padded to 32, windows below and
# above a block, queries that start inside the keys (a rollout's suffix),
# and tiles that are not square.
@pytest.mark.parametrize("queries,keys,window,head_dim,offset,blocks", [
    (40, 40, 8, 24, 0, (16, 16)), (37, 100, 20, 16, 63, (16, 16)), (50, 50, 64, 8, 0, (16, 16)),
    (70, 70, 24, 8, 0, (32, 16)), (37, 100, 20, 16, 63, (16, 32))])
def test_kernels_match_the_reference_with_gradients(queries, keys, window, head_dim, offset, blocks):
  args = _kernel_inputs(queries, keys, window, head_dim, seed=queries)
  cotangent = _normal(7, 2, queries, 2, head_dim)
  with jax.default_matmul_precision("highest"):
    ref_out, ref_grads = _outputs_and_grads("xla", args, offset, cotangent)
    out, grads = _outputs_and_grads("interpret", args, offset, cotangent, blocks)
  np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
  for name, g, g_ref in zip(("q", "k", "v", "kr", "qr"), grads, ref_grads):
    scale = float(jnp.abs(g_ref).max())
    assert scale > 0, name
    np.testing.assert_allclose(g / scale, g_ref / scale, atol=1e-5, err_msg=name)


# Rows of 70 or 100 positions: lengths inside a tile, on a tile edge, at the
# suffix's start, and an empty row, with whole tiles of padding to skip.
@pytest.mark.parametrize("queries,keys,offset,lengths", [
    (70, 70, 0, (37, 16)), (70, 70, 0, (70, 0)), (37, 100, 63, (80, 63)), (37, 100, 63, (100, 64))])
def test_padded_rows_are_zeros_and_the_real_rows_exact(queries, keys, offset, lengths):
  """With lengths, each row's real queries get what the unpadded attention gives them,
  outputs and gradients alike (their keys are all real), and padded queries get 0."""
  args = _kernel_inputs(queries, keys, 12, 8, seed=5)
  lengths = jnp.array(lengths, jnp.int32)
  real_BQ11 = ((offset + jnp.arange(queries))[None, :] < lengths[:, None])[:, :, None, None]
  cotangent = jnp.where(real_BQ11, _normal(7, 2, queries, 2, 8), 0.0)
  with jax.default_matmul_precision("highest"):
    full_out, full_grads = _outputs_and_grads("xla", args, offset, cotangent)
    ref_out, ref_grads = _outputs_and_grads("xla", args, offset, cotangent, lengths=lengths)
    out, grads = _outputs_and_grads("interpret", args, offset, cotangent, (16, 16), lengths)
  np.testing.assert_allclose(ref_out, jnp.where(real_BQ11, full_out, 0.0), rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
  for name, g, g_ref, g_full in zip(("q", "k", "v", "kr", "qr"), grads, ref_grads, full_grads):
    scale = float(jnp.abs(g_full).max())
    assert scale > 0, name
    np.testing.assert_allclose(g_ref / scale, g_full / scale, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(g / scale, g_full / scale, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("implementation", ["xla", "interpret"])
def test_flash_layer_and_its_gradients_match_dense(implementation, monkeypatch):
  """The band decomposition (far bucket folded into the queries) is the same attention."""
  monkeypatch.setattr(flash_relative, "default_implementation", lambda: implementation)
  assert_layer_matches_dense("flash")


def test_bad_arguments_and_dropout_are_refused():
  q, k, v, kr, qr = _kernel_inputs(8, 8, 4, 8, seed=0)
  with pytest.raises(ValueError, match="power of two"):
    flash_relative.attention(q, k, v, kr, qr, scale=1.0, implementation="interpret", block_q=24)
  with pytest.raises(ValueError, match="W \\+ 1 >= 2"):
    flash_relative.attention(q, k, v, kr[:1], qr[:1], scale=1.0)
  with pytest.raises(ValueError, match="need keys up to"):
    flash_relative.attention(q, k, v, kr, qr, scale=1.0, query_offset=1)
  with pytest.raises(ValueError, match="unknown implementation"):
    flash_relative.attention(q, k, v, kr, qr, scale=1.0, implementation="cuda")
  assert flash_relative.default_implementation() == "xla"  # This CPU.
  assert_dropout_is_refused("flash")


@pytest.mark.parametrize("offset", [0, 5])
def test_band_table_is_both_relative_halves_at_each_query_and_distance(offset):
  window, queries = 4, 7
  q, k, _, kr, qr = _kernel_inputs(queries, offset + queries, window, 8, seed=3)
  q_far, band = flash_relative.band_table(q, k, kr, qr, offset)
  np.testing.assert_allclose(q_far, q + qr[window], rtol=1e-6)
  for i in range(queries):
    for r in range(window):
      key = offset + i - r
      want = jnp.einsum("bhk,hk->bh", q[:, i], kr[r] - kr[window])
      if key >= 0:
        want = want + jnp.einsum("bhk,hk->bh", k[:, key], qr[r] - qr[window])
      np.testing.assert_allclose(band[:, :, i, r], want, rtol=1e-5, atol=1e-5, err_msg=f"{i}, {r}")


def test_benchmark_attention_times_every_path_against_the_float32_reference(tmp_path):
  import json
  import os
  import subprocess
  import sys
  output = tmp_path / "attention.json"
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  result = subprocess.run(
      [sys.executable, "-m", "experiments.benchmark_attention", "--batch=2", "--queries=24",
       "--offset=8", "--heads=2", "--head_dim=8", "--window=4", "--repeats=2", "--dtype=float32",
       "--flash_tiles=16x16,32x16x2", f"--output={output}"],
      cwd=repo, capture_output=True, text=True, timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})
  assert result.returncode == 0, result.stderr[-3000:]
  rows = json.loads(output.read_text())["rows"]
  assert [r["path"] for r in rows] == ["dense", "fused", "flash 16x16", "flash 32x16x2"]
  for row in rows:
    assert row["fwd_ms"] > 0 and row["fwd_bwd_ms"] > 0
    assert row["fwd_error"] < 1e-5, row
    assert max(row["grad_errors"].values()) < 1e-5, row
