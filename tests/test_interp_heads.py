"""Tests of per-head relative variance and operand grouping on hand-built heads."""
import numpy as np
import pytest

from recur_latent.interp import heads

NUM_SETTINGS, NUM_VALUES, DIM = 6, 9, 4


def _slot_grids(head_fn, seed=0):
  """Outputs [G, V, H, D] per slot for operands drawn per grid: slot s varies."""
  rng = np.random.default_rng(seed)
  embed = rng.normal(size=(50, DIM))  # A random vector per operand.
  grids = []
  for slot in range(3):
    fixed = rng.integers(0, 50, size=(NUM_SETTINGS, 2))
    varying = rng.choice(50, size=NUM_VALUES, replace=False)
    out = np.zeros((NUM_SETTINGS, NUM_VALUES, 3, DIM))
    for g in range(NUM_SETTINGS):
      for v in range(NUM_VALUES):
        operands = list(fixed[g])
        operands.insert(slot, varying[v])
        out[g, v] = head_fn([embed[o] for o in operands])
    grids.append(out)
  return grids


def _three_heads(vectors):
  v0, v1, v2 = vectors
  return np.stack([
      v1,  # Copies slot 1.
      np.full(DIM, 3.0),  # Constant: carries nothing.
      v0 + v2,  # Mixes slots 0 and 2.
  ])


def test_copy_head_has_relative_variance_one_on_its_slot_only():
  relvar_HS = heads.slot_relative_variance(_slot_grids(_three_heads))
  assert relvar_HS.shape == (3, 3)
  np.testing.assert_allclose(relvar_HS[0], [0.0, 1.0, 0.0], atol=1e-9)
  np.testing.assert_allclose(relvar_HS[1], [0.0, 0.0, 0.0])
  assert 0.2 < relvar_HS[2, 0] < 0.8 and 0.2 < relvar_HS[2, 2] < 0.8
  assert relvar_HS[2, 1] == pytest.approx(0.0, abs=1e-9)


def test_grouping_assigns_copy_head_to_its_slot_and_others_to_none():
  relvar_HS = heads.slot_relative_variance(_slot_grids(_three_heads))
  labels_H = heads.group_heads(relvar_HS, threshold=0.9)
  assert labels_H.tolist() == [1, heads.NO_GROUP, heads.NO_GROUP]
  groups = heads.groups_by_slot(labels_H, num_slots=3)
  assert groups == {0: [], 1: [0], 2: [], heads.NO_GROUP: [1, 2]}


def test_relative_variance_accepts_extra_head_axes():
  rng = np.random.default_rng(1)
  outputs_GVLHD = rng.normal(size=(4, 5, 2, 3, 6))
  assert heads.relative_variance(outputs_GVLHD).shape == (2, 3)
  values = heads.relative_variance(outputs_GVLHD)
  assert ((values >= 0) & (values <= 1)).all()


def test_attention_mass_reads_the_given_positions():
  attn_BHK = np.zeros((2, 3, 10))
  attn_BHK[0, 0, 4] = 1.0
  attn_BHK[1, 0, 7] = 1.0
  attn_BHK[:, 1, :] = 0.1
  positions_BS = np.array([[4, 5, 6], [7, 8, 9]])
  mass_HS = heads.attention_mass(attn_BHK, positions_BS)
  np.testing.assert_allclose(mass_HS[0], [1.0, 0.0, 0.0])
  np.testing.assert_allclose(mass_HS[1], [0.1, 0.1, 0.1])
  np.testing.assert_allclose(mass_HS[2], [0.0, 0.0, 0.0])
