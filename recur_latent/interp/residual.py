"""How much each sublayer changes the residual stream it writes into.

relative change = ||update|| / ||residual before the update||, per example at a
chosen position (the probe's rhs). A sublayer with relative change near 0 is
a near no-op there; the paper's layer-2 MLP, which computes the sum, changes
the rhs residual a lot.
"""
import numpy as np


def relative_change(update_BD: np.ndarray, resid_in_BD: np.ndarray) -> np.ndarray:
  """||update|| / ||resid_in|| per row: [B] (the norms are over the last axis)."""
  update_BD = np.asarray(update_BD, dtype=np.float64)
  resid_in_BD = np.asarray(resid_in_BD, dtype=np.float64)
  if update_BD.shape != resid_in_BD.shape:
    raise ValueError(f"shapes differ: update {update_BD.shape}, residual {resid_in_BD.shape}")
  resid_norm = np.linalg.norm(resid_in_BD, axis=-1)
  update_norm = np.linalg.norm(update_BD, axis=-1)
  return np.where(resid_norm > 0, update_norm / np.where(resid_norm > 0, resid_norm, 1.0), np.inf)


def at_positions(x_BL_: np.ndarray, positions_B: np.ndarray) -> np.ndarray:
  """Row `positions_B[b]` of each example: [B, L, ...] -> [B, ...]."""
  x_BL_ = np.asarray(x_BL_)
  return x_BL_[np.arange(x_BL_.shape[0]), np.asarray(positions_B)]


def summarize(ratios_B: np.ndarray) -> dict[str, float]:
  """Mean, median and 10/90th percentiles of per-example relative changes."""
  ratios_B = np.asarray(ratios_B, dtype=np.float64)
  return {
      "mean": float(ratios_B.mean()),
      "median": float(np.median(ratios_B)),
      "p10": float(np.percentile(ratios_B, 10)),
      "p90": float(np.percentile(ratios_B, 90)),
  }
