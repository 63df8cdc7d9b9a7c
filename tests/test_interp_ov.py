"""Tests of OV-circuit amplification with hand-built heads and factor subspaces."""
import numpy as np
import pytest

from recur_latent.interp import ov

D, SUB = 17, 4  # Four 4-dim factor subspaces orthogonal to the all-ones direction.
FACTOR_SIZES = (6, 11, 4, 9)


def _factor_bases(seed=0):
  rng = np.random.default_rng(seed)
  m = rng.normal(size=(D, D))
  m[:, 0] = 1.0  # QR keeps the ones direction first; the rest is orthogonal to it.
  q, _ = np.linalg.qr(m)
  return [q[:, 1 + SUB * f:1 + SUB * (f + 1)] for f in range(4)]


def _embeddings(bases, seed=1):
  rng = np.random.default_rng(seed)
  return [rng.normal(size=(n, SUB)) @ b.T for n, b in zip(FACTOR_SIZES, bases)]


def test_head_projecting_on_one_factor_amplifies_only_that_factor():
  bases = _factor_bases()
  embeddings = _embeddings(bases)
  w_v_HDK = np.stack([bases[1], bases[3]])  # Head 0 reads factor 1, head 1 factor 3.
  w_o_HKD = np.stack([3.0 * bases[1].T, bases[0].T])  # Head 1 writes it elsewhere.
  ov_HDD = ov.ov_matrices(w_v_HDK, w_o_HKD)
  assert ov_HDD.shape == (2, D, D)
  amp_HF = ov.amplification(ov_HDD, embeddings)
  np.testing.assert_allclose(amp_HF, [[0, 3, 0, 0], [0, 0, 0, 1]], atol=1e-9)


def test_layernorm_scale_and_centering_are_applied_before_the_head():
  bases = _factor_bases()
  embeddings = _embeddings(bases)
  projector_DD = bases[2] @ bases[2].T
  ov_1DD = projector_DD[None]
  # A uniform LN scale changes numerator and denominator alike.
  np.testing.assert_allclose(ov.amplification(ov_1DD, embeddings, 2.0 * np.ones(D))[0, 2], 1.0)
  # A constant offset on every row lies along the ones direction, removed by LN centering.
  shifted = [e + 5.0 for e in embeddings]
  np.testing.assert_allclose(ov.amplification(ov_1DD, shifted),
                             ov.amplification(ov_1DD, embeddings), atol=1e-9)
  # A non-uniform scale: an axis-aligned head keeping dims 0..3 passes on the scaled share.
  gamma_D = np.linspace(0.5, 2.0, D)
  keep_DD = np.diag((np.arange(D) < 4).astype(float))[None]
  centered_VD = embeddings[1] - embeddings[1].mean(axis=1, keepdims=True)
  scaled_VD = centered_VD * gamma_D
  expected = np.linalg.norm(scaled_VD[:, :4]) / np.linalg.norm(scaled_VD)
  np.testing.assert_allclose(ov.amplification(keep_DD, embeddings, gamma_D)[0, 1], expected)


def test_center_rows_removes_a_factor_mean_the_head_would_otherwise_move():
  bases = _factor_bases()
  rng = np.random.default_rng(2)
  # Factor 0: all tokens share a big mean along factor 2's subspace, differing elsewhere.
  table_VD = rng.normal(size=(6, SUB)) @ bases[0].T + 10.0 * bases[2][:, 0]
  ov_1DD = (bases[2] @ bases[2].T)[None]
  assert ov.amplification(ov_1DD, [table_VD])[0, 0] > 0.9
  assert ov.amplification(ov_1DD, [table_VD], center_rows=True)[0, 0] == pytest.approx(0, abs=1e-9)


def test_mismatched_head_shapes_are_rejected():
  with pytest.raises(ValueError, match="mismatched"):
    ov.ov_matrices(np.zeros((2, D, 4)), np.zeros((2, 3, D)))
