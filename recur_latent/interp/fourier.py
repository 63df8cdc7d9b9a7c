"""Fourier analysis of functions of three operand values over Z_p^3.

A model that adds three numbers mod p "in the frequency domain" computes
features of the form cos(2 pi k (a + b + c) / p + phi). Their 3-D DFT over
(a, b, c) is supported on the constant frequency and on the diagonal
frequencies (k, k, k), which is what the paper reports for the layer-2 MLP.
A feature that only reads one operand lives on an axis (k, 0, 0) instead,
and products of per-operand features spread over the other frequencies.

Arrays are `f_PPPX`: the first three axes index (a, b, c) in Z_p, the
remaining axes (any number, possibly none) index features.
"""
import dataclasses

import numpy as np

# Frequency classes, a partition of Z_p^3.
CONSTANT, DIAGONAL, AXIS, OTHER = "constant", "diagonal", "axis", "other"
FREQUENCY_CLASSES = (CONSTANT, DIAGONAL, AXIS, OTHER)


def dft3(f_PPPX: np.ndarray) -> np.ndarray:
  """The 3-D DFT over the three leading axes (unnormalized, numpy convention)."""
  f_PPPX = np.asarray(f_PPPX)
  _check_cube(f_PPPX)
  return np.fft.fftn(f_PPPX, axes=(0, 1, 2))


def frequency_masks(p: int) -> dict[str, np.ndarray]:
  """Boolean [p,p,p] masks of the four frequency classes (they partition Z_p^3).

  constant: (0,0,0). diagonal: (k,k,k), k != 0. axis: exactly one nonzero
  coordinate (a function of one operand). other: everything else.
  """
  k1, k2, k3 = np.meshgrid(np.arange(p), np.arange(p), np.arange(p), indexing="ij")
  nonzero = (k1 != 0).astype(int) + (k2 != 0) + (k3 != 0)
  constant = nonzero == 0
  diagonal = (k1 == k2) & (k2 == k3) & ~constant
  axis = nonzero == 1
  other = ~(constant | diagonal | axis)
  return {CONSTANT: constant, DIAGONAL: diagonal, AXIS: axis, OTHER: other}


@dataclasses.dataclass(frozen=True)
class EnergyShares:
  """Fractions of spectral energy per frequency class.

  `per_feature[c]` has the feature shape ([] for a scalar function);
  `aggregate[c]` is a float over the energy summed across features. The
  `nonconstant_*` variants divide by the energy outside (0,0,0), i.e. they
  ignore the feature's mean, which otherwise dominates MLP activations.
  "Others" in the paper's sense (neither constant nor diagonal) is
  axis + other.
  """

  per_feature: dict[str, np.ndarray]
  aggregate: dict[str, float]
  nonconstant_per_feature: dict[str, np.ndarray]
  nonconstant_aggregate: dict[str, float]


def energy(f_PPPX: np.ndarray) -> np.ndarray:
  """Spectral energy |F(k1,k2,k3)|^2 per frequency and feature, shape of f."""
  return np.abs(dft3(f_PPPX)) ** 2


def _map_energy(f_PPPX: np.ndarray, fn, chunk: int) -> np.ndarray:
  """fn(energy [p,p,p,C]) -> [..., C] over feature chunks, concatenated: [..., *X].

  Chunking bounds memory: a 23^3 x 1024 complex spectrum is ~200 MB.
  """
  f_PPPX = np.asarray(f_PPPX)
  p = _check_cube(f_PPPX)
  feature_shape = f_PPPX.shape[3:]
  f_PPPC = f_PPPX.reshape(p, p, p, -1)
  parts = [fn(energy(f_PPPC[..., i:i + chunk].astype(np.float64)))
           for i in range(0, f_PPPC.shape[-1], chunk)]
  result = np.concatenate(parts, axis=-1)
  return result.reshape(*result.shape[:-1], *feature_shape)


def class_energies(f_PPPX: np.ndarray, chunk: int = 256) -> dict[str, np.ndarray]:
  """Total energy of each frequency class per feature: {class: [*X]}."""
  masks = frequency_masks(_check_cube(np.asarray(f_PPPX)))
  stacked = _map_energy(
      f_PPPX, lambda e_PPPC: np.stack([e_PPPC[m].sum(axis=0) for m in masks.values()]), chunk)
  return dict(zip(masks, stacked))


def energy_shares(f_PPPX: np.ndarray, chunk: int = 256) -> EnergyShares:
  """Energy shares of the constant, diagonal, axis and other frequencies."""
  class_energy = class_energies(f_PPPX, chunk)
  total_X = sum(class_energy.values())
  nonconstant_X = total_X - class_energy[CONSTANT]
  per_feature = {name: _safe_ratio(e, total_X) for name, e in class_energy.items()}
  nonconstant = {
      name: _safe_ratio(e, nonconstant_X)
      for name, e in class_energy.items() if name != CONSTANT
  }
  aggregate = {
      name: float(_safe_ratio(np.sum(e), np.sum(total_X))) for name, e in class_energy.items()
  }
  nonconstant_aggregate = {
      name: float(_safe_ratio(np.sum(class_energy[name]), np.sum(nonconstant_X)))
      for name in nonconstant
  }
  return EnergyShares(per_feature, aggregate, nonconstant, nonconstant_aggregate)


def diagonal_spectrum(f_PPPX: np.ndarray, chunk: int = 256) -> np.ndarray:
  """Energy at (k,k,k) for k = 0..p-1, summed over features: shape [p]."""
  def diagonal(e_PPPC):
    k = np.arange(e_PPPC.shape[0])
    return e_PPPC[k, k, k]
  return _sum_features(_map_energy(f_PPPX, diagonal, chunk))


def axis_spectrum(f_PPPX: np.ndarray, chunk: int = 256) -> np.ndarray:
  """Energy on each operand's axis, summed over features: shape [3, p].

  Row i holds the energy at frequency k on axis i (k at position i, 0 elsewhere);
  column 0 is the constant term in every row.
  """
  def axes(e_PPPC):
    k = np.arange(e_PPPC.shape[0])
    zero = np.zeros_like(k)
    return np.stack([e_PPPC[k, zero, zero], e_PPPC[zero, k, zero], e_PPPC[zero, zero, k]])
  energy_3KX = _map_energy(f_PPPX, axes, chunk)
  return energy_3KX.reshape(3, energy_3KX.shape[1], -1).sum(axis=-1)


def total_spectrum(f_PPPX: np.ndarray, chunk: int = 256) -> np.ndarray:
  """Energy per frequency summed over features: [p, p, p]."""
  f_PPPX = np.asarray(f_PPPX)
  p = _check_cube(f_PPPX)
  f_PPPC = f_PPPX.reshape(p, p, p, -1)
  return sum(energy(f_PPPC[..., i:i + chunk].astype(np.float64)).sum(axis=-1)
             for i in range(0, f_PPPC.shape[-1], chunk))


def top_frequencies(f_PPPX: np.ndarray, count: int = 10,
                    chunk: int = 256) -> list[tuple[tuple[int, int, int], float]]:
  """The `count` frequencies with the most energy (summed over features), as shares."""
  energy_PPP = total_spectrum(f_PPPX, chunk)
  total = energy_PPP.sum()
  order = np.argsort(energy_PPP, axis=None)[::-1][:count]
  result = []
  for flat in order:
    k = np.unravel_index(flat, energy_PPP.shape)
    result.append((tuple(int(i) for i in k), float(_safe_ratio(energy_PPP[k], total))))
  return result


def _check_cube(f_PPPX: np.ndarray) -> int:
  if f_PPPX.ndim < 3 or not f_PPPX.shape[0] == f_PPPX.shape[1] == f_PPPX.shape[2]:
    raise ValueError(f"expected an array [p, p, p, ...features], got shape {f_PPPX.shape}")
  return f_PPPX.shape[0]


def _sum_features(x_KX: np.ndarray) -> np.ndarray:
  """Sums every axis after the first."""
  return x_KX.reshape(x_KX.shape[0], -1).sum(axis=1)


def _safe_ratio(numerator, denominator):
  """numerator / denominator, 0 where the denominator is 0 (a constant-zero feature)."""
  numerator = np.asarray(numerator, dtype=np.float64)
  denominator = np.asarray(denominator, dtype=np.float64)
  safe = np.where(denominator > 0, denominator, 1.0)
  return np.where(denominator > 0, numerator / safe, 0.0)
