"""Tests of the 3-D DFT energy shares on functions with known spectra."""
import numpy as np
import pytest

from recur_latent.interp import fourier

P = 7


def _grid(p=P):
  return np.meshgrid(np.arange(p), np.arange(p), np.arange(p), indexing="ij")


def test_function_of_the_sum_has_all_nonconstant_energy_on_the_diagonal():
  a, b, c = _grid()
  s = (a + b + c) % P
  # Two features of (a+b+c) mod p: a cosine and an arbitrary lookup table.
  table = np.random.default_rng(0).normal(size=P)
  f_PPPX = np.stack([np.cos(2 * np.pi * 2 * s / P), table[s]], axis=-1)
  shares = fourier.energy_shares(f_PPPX)
  np.testing.assert_allclose(shares.nonconstant_per_feature[fourier.DIAGONAL], [1.0, 1.0],
                             atol=1e-9)
  assert shares.nonconstant_aggregate[fourier.DIAGONAL] == pytest.approx(1.0)
  assert shares.aggregate[fourier.AXIS] == pytest.approx(0.0, abs=1e-12)
  assert shares.aggregate[fourier.OTHER] == pytest.approx(0.0, abs=1e-12)
  # The cosine has no mean; the table feature keeps its mean on the constant term.
  assert shares.per_feature[fourier.CONSTANT][0] == pytest.approx(0.0, abs=1e-12)
  expected_constant = table.mean() ** 2 / np.mean(table ** 2)
  assert shares.per_feature[fourier.CONSTANT][1] == pytest.approx(expected_constant)
  # The cosine at frequency 2 puts its energy at (2,2,2) and (-2,-2,-2).
  spectrum = fourier.diagonal_spectrum(f_PPPX[..., 0])
  assert set(np.flatnonzero(spectrum > 1e-6)) == {2, P - 2}


def test_function_of_one_operand_lives_on_its_axis_not_the_diagonal():
  a, _, _ = _grid()
  f_PPP = np.sin(2 * np.pi * 3 * a / P) + 0.5 * np.cos(2 * np.pi * a / P)
  shares = fourier.energy_shares(f_PPP)
  assert shares.per_feature[fourier.DIAGONAL].shape == ()
  assert shares.aggregate[fourier.DIAGONAL] == pytest.approx(0.0, abs=1e-12)
  assert shares.nonconstant_aggregate[fourier.AXIS] == pytest.approx(1.0)
  axes = fourier.axis_spectrum(f_PPP)
  assert axes.shape == (3, P)
  assert axes[0, 1:].sum() > 0 and axes[1:, 1:].sum() == pytest.approx(0.0, abs=1e-9)
  top = [k for k, _ in fourier.top_frequencies(f_PPP, count=4)]
  assert set(top) == {(1, 0, 0), (P - 1, 0, 0), (3, 0, 0), (P - 3, 0, 0)}


def test_product_of_operands_is_neither_axis_nor_diagonal_and_shares_sum_to_one():
  a, b, c = _grid(5)
  f_PPP = np.cos(2 * np.pi * a / 5) * np.cos(2 * np.pi * b / 5) + (c == 0)
  shares = fourier.energy_shares(f_PPP)
  assert sum(shares.aggregate.values()) == pytest.approx(1.0)
  assert sum(shares.nonconstant_aggregate.values()) == pytest.approx(1.0)
  assert shares.aggregate[fourier.OTHER] > 0.3
  assert shares.aggregate[fourier.DIAGONAL] == pytest.approx(0.0, abs=1e-12)


def test_masks_partition_the_frequency_cube():
  masks = fourier.frequency_masks(5)
  stacked = np.stack(list(masks.values())).astype(int)
  assert (stacked.sum(axis=0) == 1).all()
  assert masks[fourier.DIAGONAL].sum() == 4 and masks[fourier.AXIS].sum() == 12


def test_rejects_non_cubic_input():
  with pytest.raises(ValueError, match="p, p, p"):
    fourier.energy_shares(np.zeros((5, 5, 4)))


def test_chunked_spectra_match_unchunked():
  rng = np.random.default_rng(3)
  f_PPPX = rng.normal(size=(5, 5, 5, 3, 4))
  whole, chunked = fourier.energy_shares(f_PPPX), fourier.energy_shares(f_PPPX, chunk=5)
  for name in fourier.FREQUENCY_CLASSES:
    np.testing.assert_allclose(chunked.per_feature[name], whole.per_feature[name])
    assert chunked.per_feature[name].shape == (3, 4)
  np.testing.assert_allclose(fourier.total_spectrum(f_PPPX, chunk=5),
                             fourier.energy(f_PPPX).sum(axis=(3, 4)))
  np.testing.assert_allclose(fourier.diagonal_spectrum(f_PPPX, chunk=5),
                             fourier.diagonal_spectrum(f_PPPX))
  np.testing.assert_allclose(fourier.axis_spectrum(f_PPPX, chunk=5), fourier.axis_spectrum(f_PPPX))
