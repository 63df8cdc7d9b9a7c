"""Which operand does each attention head carry? Relative variance and groups.

Probe equations `v0 + v1 + v2 = rhs` are run in grids where one operand slot
varies and the other two are held fixed (probes.py). A head that carries the
operand in slot s changes its output at the rhs position when slot s varies
and is constant when only the other slots change.

Relative variance of a head for slot s, on the grid of slot s
([G fixed settings] x [V values of slot s]):

  within(s) = mean over the G fixed settings of the variance across the V probes
  total(s)  = variance across all G * V probes of that grid
  relvar(s) = within(s) / total(s)

Variances of vector outputs are summed over the output dimensions (the trace
of the covariance). By the law of total variance relvar lies in [0, 1]: it is
the share of the head's output variance that the varied slot explains with the
others held fixed (1: the head reads only slot s; 0: it ignores slot s).
"""
from collections.abc import Sequence

import numpy as np

NO_GROUP = -1  # Group label of heads that carry no single operand.


def relative_variance(outputs_GVXD: np.ndarray) -> np.ndarray:
  """Relative variance of the varied axis V for each head: shape X.

  Args:
    outputs_GVXD: [G, V, *X, D] outputs over G fixed settings and V values of the
      varied slot; X are any head-indexing axes (e.g. layer, head), D the output
      dimension.
  """
  outputs_GVXD = np.asarray(outputs_GVXD, dtype=np.float64)
  if outputs_GVXD.ndim < 3:
    raise ValueError(f"expected [G, V, ..., D], got shape {outputs_GVXD.shape}")
  within_X = outputs_GVXD.var(axis=1).sum(axis=-1).mean(axis=0)
  all_probes_NXD = outputs_GVXD.reshape(-1, *outputs_GVXD.shape[2:])
  total_X = all_probes_NXD.var(axis=0).sum(axis=-1)
  # A head whose output never changes carries no operand: report 0.
  safe_total_X = np.where(total_X > 0, total_X, 1.0)
  # Guards float round-off of within slightly above total.
  return np.where(total_X > 0, np.minimum(within_X / safe_total_X, 1.0), 0.0)


def slot_relative_variance(outputs_by_slot: Sequence[np.ndarray]) -> np.ndarray:
  """Stacks `relative_variance` of each slot's grid: shape [*X, S]."""
  return np.stack([relative_variance(o) for o in outputs_by_slot], axis=-1)


def group_heads(relvar_XS: np.ndarray, threshold: float = 0.5) -> np.ndarray:
  """Assigns each head to the slot of largest relative variance, if above threshold.

  Returns int labels of shape X: a slot index, or NO_GROUP.
  """
  relvar_XS = np.asarray(relvar_XS)
  best_X = relvar_XS.argmax(axis=-1)
  return np.where(relvar_XS.max(axis=-1) > threshold, best_X, NO_GROUP)


def groups_by_slot(labels_H: np.ndarray, num_slots: int) -> dict[int, list[int]]:
  """{slot (or NO_GROUP): [heads]} for one layer's labels; every key present."""
  labels_H = np.asarray(labels_H)
  keys = list(range(num_slots)) + [NO_GROUP]
  return {k: [int(h) for h in np.flatnonzero(labels_H == k)] for k in keys}


def attention_mass(attn_BXK: np.ndarray, positions_BS: np.ndarray) -> np.ndarray:
  """Mean attention a query puts on each of S key positions: shape [*X, S].

  Args:
    attn_BXK: attention probabilities of one query per example (the rhs
      position), [B, *X, K] over K key positions; X indexes heads.
    positions_BS: [B, S] key positions to read per example (e.g. the operand
      tokens of the probe equation, or their defining positions).
  """
  attn_BXK = np.asarray(attn_BXK)
  positions_BS = np.asarray(positions_BS)
  batch, num_slots = positions_BS.shape
  x_shape = attn_BXK.shape[1:-1]
  attn_BMK = attn_BXK.reshape(batch, -1, attn_BXK.shape[-1])
  mass_BMS = np.take_along_axis(attn_BMK, positions_BS[:, None, :], axis=-1)
  return mass_BMS.mean(axis=0).reshape(*x_shape, num_slots)
