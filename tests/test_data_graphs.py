"""Tests of the graph sampler: determinism, exact values, SPEC statistics."""
import random

import numpy as np
import pytest

from recur_latent.data import eval_sets
from recur_latent.data import graphs
from recur_latent.data import problems

_FIELDS = ("parents_GNK", "num_parents_GN", "ops_GNK", "values_GN", "depths_GN",
           "names_GN", "order_GN")
_ALL_OPS = ("add", "sub", "mul")


def _within(observed, expected, tolerance, what):
  assert abs(observed - expected) <= tolerance, (
      f"{what}: observed {observed:.4f}, expected {expected:.4f} +- {tolerance:.4f}")


def _proportion_tolerance(p, n):
  """Four standard errors of a proportion estimated from n draws."""
  return 4 * np.sqrt(p * (1 - p) / n)


def test_same_seed_same_graphs_and_different_seed_different_graphs():
  a = graphs.sample_graphs((3, 7), 64, 20, ops=_ALL_OPS, max_depth=4)
  b = graphs.sample_graphs((3, 7), 64, 20, ops=_ALL_OPS, max_depth=4)
  c = graphs.sample_graphs((3, 8), 64, 20, ops=_ALL_OPS, max_depth=4)
  for field in _FIELDS:
    np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
  assert not np.array_equal(a.parents_GNK, c.parents_GNK)
  assert not np.array_equal(a.names_GN, c.names_GN)
  assert not np.array_equal(graphs.sample_graphs(1, 8, 10).values_GN,
                            graphs.sample_graphs(2, 8, 10).values_GN)


def test_shapes_dtypes_and_read_only():
  batch = graphs.sample_graphs(0, 5, 12)
  assert batch.num_graphs == 5 and batch.num_nodes == 12
  assert batch.parents_GNK.shape == (5, 12, 3) and batch.ops_GNK.shape == (5, 12, 2)
  for field in _FIELDS:
    assert getattr(batch, field).dtype == np.int32
  with pytest.raises(ValueError):
    batch.values_GN[0, 0] = 1
  np.testing.assert_array_equal(batch.select(2).values_GN, batch.values_GN[2:3])


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_nodes=6), "must exceed num_leaves"),
    (dict(num_names=10), "num_names"),
    (dict(modulus=1), "modulus"),
    (dict(ops=("add", "div")), "unknown operation"),
    (dict(ops=()), "at least one operation"),
    (dict(ops=("add", "add")), "must not repeat"),
    (dict(max_depth=0), "max_depth"),
    (dict(num_leaves=0), "num_leaves"),
    (dict(max_fan_in=4), "max_fan_in"),
])
def test_invalid_arguments_raise(kwargs, message):
  arguments = dict(seed=0, num_graphs=4, num_nodes=12, num_names=16) | kwargs
  with pytest.raises(ValueError, match=message):
    graphs.sample_graphs(**arguments)


@pytest.mark.parametrize("modulus, ops", [(23, ("add",)), (23, _ALL_OPS), (7, ("sub", "mul"))])
def test_every_value_and_depth_matches_the_exact_solver(modulus, ops):
  batch = graphs.sample_graphs(5, 100, 24, ops=ops, modulus=modulus, max_depth=5)
  for index in range(batch.num_graphs):
    problem = problems.graph_to_problem(batch, index, with_solution=False)
    values, depths = problems.solve(problem)
    expected = problems.graph_to_problem(batch, index)
    assert values == expected.values and depths == expected.depths


def test_equations_grouped_by_depth_and_parents_defined_first():
  batch = graphs.sample_graphs(1, 200, 40, max_depth=5)
  ordered_depths = np.take_along_axis(batch.depths_GN, batch.order_GN, axis=1)
  assert (np.diff(ordered_depths, axis=1) >= 0).all()
  same_depth = np.diff(ordered_depths, axis=1) == 0
  assert (np.diff(batch.order_GN, axis=1)[same_depth] > 0).all()  # Creation order.
  position_GN = np.argsort(batch.order_GN, axis=1)
  for g in range(batch.num_graphs):
    for node in range(batch.num_nodes):
      for parent in batch.parents_GNK[g, node, :batch.num_parents_GN[g, node]]:
        assert position_GN[g, parent] < position_GN[g, node]
        assert parent < node


def test_depth_is_one_plus_max_parent_depth_and_cap_is_respected():
  batch = graphs.sample_graphs(2, 300, 32, max_depth=3)
  parents, k = batch.parents_GNK, batch.num_parents_GN
  parent_depth = np.take_along_axis(
      batch.depths_GN[:, None, :], np.maximum(parents, 0), axis=2)
  parent_depth = np.where(parents >= 0, parent_depth, -1).max(axis=2)
  np.testing.assert_array_equal(batch.depths_GN[:, 6:], 1 + parent_depth[:, 6:])
  assert batch.depths_GN.max() == 3
  assert (np.where(parents >= 0, parent_depth[..., None], 0) < 3).all()
  assert (k[:, :6] == 0).all() and (k[:, 6:] >= 1).all()
  assert ((parents >= 0).sum(axis=2) == k).all()
  for g, i in zip(*np.nonzero(k >= 2)):  # Distinct parents.
    assert len(set(parents[g, i, :k[g, i]])) == k[g, i]


def test_names_are_injective_and_uniform():
  batch = graphs.sample_graphs(4, 2000, 30, num_names=40)
  for row in batch.names_GN[:200]:
    assert len(set(row.tolist())) == 30
  assert batch.names_GN.min() >= 0 and batch.names_GN.max() < 40
  # Each node's name is uniform on 0..39: mean 19.5, sd sqrt((40^2-1)/12).
  tolerance = 4 * np.sqrt((40**2 - 1) / 12 / 2000)
  for node in (0, 29):
    _within(batch.names_GN[:, node].mean(), 19.5, tolerance, f"mean name of node {node}")


def test_fan_in_uniform_where_not_capped_and_capped_by_candidates():
  batch = graphs.sample_graphs(6, 2000, 32, max_depth=6)
  k = batch.num_parents_GN[:, 6:].ravel()  # Always >= 6 candidates (the leaves).
  for value in (1, 2, 3):
    _within((k == value).mean(), 1 / 3, _proportion_tolerance(1 / 3, k.size), f"P(k={value})")
  capped = graphs.sample_graphs(6, 3000, 4, num_leaves=1)
  assert (capped.num_parents_GN[:, 1] == 1).all()  # One candidate.
  k2 = capped.num_parents_GN[:, 2]  # Two candidates: min(U{1..3}, 2).
  _within((k2 == 2).mean(), 2 / 3, _proportion_tolerance(2 / 3, k2.size), "P(k=2 | 2 cand.)")


def test_parents_uniform_over_candidates_in_every_slot():
  batch = graphs.sample_graphs(7, 6000, 7)  # Node 6 chooses among leaves 0..5.
  parents, k = batch.parents_GNK[:, 6], batch.num_parents_GN[:, 6]
  for slot in range(3):
    chosen = parents[k > slot, slot]
    for leaf in range(6):
      _within((chosen == leaf).mean(), 1 / 6, _proportion_tolerance(1 / 6, chosen.size),
              f"P(slot {slot} = leaf {leaf})")
  # Shuffled: in 3-parent lists the first parent is the smallest 1/3 of the time.
  three = parents[k == 3]
  first_smallest = (three[:, 0] == three.min(axis=1)).mean()
  _within(first_smallest, 1 / 3, _proportion_tolerance(1 / 3, len(three)), "order")


def test_ops_uniform_over_the_configured_set():
  batch = graphs.sample_graphs(8, 1000, 32, ops=_ALL_OPS)
  ops = batch.ops_GNK[batch.ops_GNK >= 0]
  for op in range(3):
    _within((ops == op).mean(), 1 / 3, _proportion_tolerance(1 / 3, ops.size), f"P(op={op})")
  k = batch.num_parents_GN
  assert ((batch.ops_GNK >= 0).sum(axis=2) == np.maximum(k - 1, 0)).all()
  sub_only = graphs.sample_graphs(8, 50, 16, ops=("sub",))
  assert set(np.unique(sub_only.ops_GNK)) <= {-1, 1}


# SPEC section 1 depth statistics. The figures are rounded (half a unit of the
# last digit is added to the tolerance) and the CDF comes from a test set of
# 1,024 to 2,048 graphs, so its own sampling error (n = 1024) counts too.
_SPEC_MEANS = {16: 3.6, 32: 6.0, 64: 8.7, 128: 11.5}
_SPEC_CDF_128 = {8: .016, 9: .097, 10: .278, 11: .522, 12: .738, 13: .875}


@pytest.mark.parametrize("num_nodes", sorted(_SPEC_MEANS))
def test_mean_depth_matches_spec(num_nodes):
  depth = graphs.sample_graphs(9, 3000, num_nodes).graph_depth_G
  tolerance = 4 * depth.std() / np.sqrt(depth.size) + 0.05
  _within(depth.mean(), _SPEC_MEANS[num_nodes], tolerance, f"mean depth N={num_nodes}")


def test_training_mean_depth_matches_spec():
  depth = graphs.sample_graphs(10, 3000, 32, max_depth=6).graph_depth_G
  assert depth.max() == 6
  _within(depth.mean(), 5.5, 4 * depth.std() / np.sqrt(depth.size) + 0.05,
          "mean depth N=32 max_depth=6")


def test_depth_cdf_at_n128_matches_spec():
  depth = graphs.sample_graphs(11, 3000, 128).graph_depth_G
  for d, p in _SPEC_CDF_128.items():
    tolerance = 4 * np.sqrt(p * (1 - p) / depth.size + p * (1 - p) / 1024) + 5e-4
    _within((depth <= d).mean(), p, tolerance, f"P(depth <= {d})")


def _reference_depths(seed, num_graphs, num_nodes, max_depth):
  """A literal per-graph transcription of the SPEC sampling steps."""
  rng = random.Random(seed)
  result = []
  for _ in range(num_graphs):
    depth = [0] * 6
    for i in range(6, num_nodes):
      candidates = [j for j in range(i) if max_depth is None or depth[j] < max_depth]
      parents = rng.sample(candidates, min(rng.randint(1, 3), len(candidates)))
      depth.append(1 + max(depth[j] for j in parents))
    result.append(max(depth))
  return np.array(result)


@pytest.mark.parametrize("num_nodes, max_depth", [(32, 6), (40, 4), (48, None)])
def test_depth_distribution_matches_a_reference_sampler(num_nodes, max_depth):
  n = 1500
  ours = graphs.sample_graphs(12, n, num_nodes, max_depth=max_depth).graph_depth_G
  reference = _reference_depths(12, n, num_nodes, max_depth)
  tolerance = 4 * np.sqrt(ours.var() / n + reference.var() / n)
  _within(ours.mean(), reference.mean(), tolerance, "mean depth vs reference")
  for d in np.unique(reference):
    pooled = ((reference <= d).mean() + (ours <= d).mean()) / 2
    _within((ours <= d).mean(), (reference <= d).mean(),
            4 * np.sqrt(2 * pooled * (1 - pooled) / n), f"CDF at {d}")


def test_eval_sets_are_fixed_uncapped_and_prefix_consistent():
  assert eval_sets.EVAL_SIZES[:3] == (8, 16, 24) and eval_sets.EVAL_SIZES[-4:] == (
      192, 256, 384, 512)
  a = eval_sets.eval_set(64, num_graphs=300)
  b = eval_sets.eval_set(64, num_graphs=600)
  for field in _FIELDS:
    np.testing.assert_array_equal(getattr(a, field), getattr(b, field)[:300])
  assert a.graph_depth_G.max() > 6  # No depth cap.
  other_n = eval_sets.eval_set(72, num_graphs=300)
  assert not np.array_equal(a.values_GN[:, :6], other_n.values_GN[:, :6])
  large = eval_sets.eval_set(256, num_graphs=4, num_names=512)
  assert large.num_nodes == 256 and large.names_GN.max() < 512
  with pytest.raises(ValueError, match="num_names"):
    eval_sets.eval_set(256, num_graphs=4)
