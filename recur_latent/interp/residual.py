"""What each sublayer writes into the residual stream, and what of it a readout sees.

relative change = ||update|| / ||residual before the update||, per example at a
chosen position (the probe's rhs). A sublayer with relative change near 0 is
a near no-op there; the paper's layer-2 MLP, which computes the sum, changes
the rhs residual a lot.

direct logits = the part of a readout's logits that one update contributes
through the final LayerNorm (direct logit attribution). An update can carry
more than the readout uses (e.g. each operand's own value beside their sum);
this view keeps only what reaches the logits.
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


def direct_logits(update_BD: np.ndarray, resid_final_BD: np.ndarray, ln_scale_D: np.ndarray,
                  readout_DV: np.ndarray, *, epsilon: float = 1e-6) -> np.ndarray:
  """What `update` adds to the logits `LayerNorm(resid_final) @ readout`: [B, V].

  The LayerNorm's centering is linear and its per-example scale is taken from
  the final residual the update is part of, so the direct logits of all the
  updates that sum to that residual add up to the logits less the LayerNorm
  bias's share (readout bias excluded).
  """
  update_BD = np.asarray(update_BD, dtype=np.float64)
  resid_final_BD = np.asarray(resid_final_BD, dtype=np.float64)
  if update_BD.shape != resid_final_BD.shape:
    raise ValueError(f"shapes differ: update {update_BD.shape}, residual {resid_final_BD.shape}")
  centered_BD = update_BD - update_BD.mean(-1, keepdims=True)
  resid_centered_BD = resid_final_BD - resid_final_BD.mean(-1, keepdims=True)
  sigma_B1 = np.sqrt((resid_centered_BD ** 2).mean(-1, keepdims=True) + epsilon)
  return (centered_BD / sigma_B1 * np.asarray(ln_scale_D, np.float64)) @ np.asarray(
      readout_DV, np.float64)
