"""Random computational graphs over Z_p, sampled as the paper's generator does.

Sampling (SPEC section 1): nodes 0..N-1; the first `num_leaves` are leaves
with a uniform value and depth 0. Every later node i draws k ~ U{1..max_fan_in}
parents (capped by the number of candidates), uniformly without replacement,
among the earlier nodes whose depth is below `max_depth`; the parent list is
shuffled; depth = 1 + max parent depth; k = 1 copies the parent, k >= 2
computes ((a op1 b) op2 c) mod p left to right with uniformly drawn ops.

The sampler is vectorized over graphs: it loops over the node index only.
Drawing an ordered k-tuple of distinct candidates one by one (each draw uniform
over the candidates not drawn yet) gives a uniformly random ordered tuple, i.e.
a uniform subset that is already shuffled, so no separate shuffle is needed.
"""
import dataclasses
from typing import Sequence

import numpy as np

from recur_latent.data import vocab as vocab_lib

MAX_FAN_IN = vocab_lib.MAX_OPERANDS  # Width of `parents_GNK`.


@dataclasses.dataclass(frozen=True)
class GraphBatch:
  """A batch of G graphs with N nodes each (read-only numpy arrays)."""

  parents_GNK: np.ndarray  # int32 [G,N,3] parent node ids in equation order; -1 padded.
  num_parents_GN: np.ndarray  # int32 [G,N] k; 0 for leaves.
  ops_GNK: np.ndarray  # int32 [G,N,2] op1, op2 ids (vocab.ADD/SUB/MUL); -1 where absent.
  values_GN: np.ndarray  # int32 [G,N] value of each node in Z_modulus.
  depths_GN: np.ndarray  # int32 [G,N] depth of each node (0 for leaves).
  names_GN: np.ndarray  # int32 [G,N] name index of each node (x_<index>).
  order_GN: np.ndarray  # int32 [G,N] node ids in equation order (by depth, then creation).
  modulus: int
  num_names: int

  @property
  def num_graphs(self) -> int:
    return self.values_GN.shape[0]

  @property
  def num_nodes(self) -> int:
    return self.values_GN.shape[1]

  @property
  def graph_depth_G(self) -> np.ndarray:
    return self.depths_GN.max(axis=1)

  def select(self, index) -> "GraphBatch":
    """The sub-batch of graphs `index` (a slice, an int array or a bool mask)."""
    if isinstance(index, (int, np.integer)):
      index = [index]
    arrays = {f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)
              if f.name.endswith(("_GN", "_GNK"))}
    return GraphBatch(modulus=self.modulus, num_names=self.num_names, **arrays)


def concat_graphs(batches: Sequence[GraphBatch]) -> GraphBatch:
  """One batch of the graphs of several (same N, modulus and names)."""
  first = batches[0]
  for batch in batches:
    if (batch.num_nodes, batch.modulus, batch.num_names) != (
        first.num_nodes, first.modulus, first.num_names):
      raise ValueError("concat_graphs needs batches of equal num_nodes, "
                       "modulus and num_names")
  arrays = {}
  for field in dataclasses.fields(GraphBatch):
    if field.name.endswith(("_GN", "_GNK")):
      arrays[field.name] = np.concatenate([getattr(b, field.name) for b in batches])
      arrays[field.name].setflags(write=False)
  return GraphBatch(modulus=first.modulus, num_names=first.num_names, **arrays)


def _check_arguments(num_graphs, num_nodes, num_leaves, max_depth, modulus,
                     num_names, max_fan_in):
  if num_graphs < 0:
    raise ValueError(f"num_graphs must be >= 0, got {num_graphs}")
  if num_leaves < 1:
    raise ValueError(f"num_leaves must be >= 1, got {num_leaves}")
  if num_nodes <= num_leaves:
    raise ValueError(
        f"num_nodes ({num_nodes}) must exceed num_leaves ({num_leaves})")
  if num_names < num_nodes:
    raise ValueError(
        f"num_names ({num_names}) must be >= num_nodes ({num_nodes}): names are "
        "an injective map of the nodes")
  if modulus < 2:
    raise ValueError(f"modulus must be >= 2, got {modulus}")
  if max_depth is not None and max_depth < 1:
    raise ValueError(f"max_depth must be >= 1 or None, got {max_depth}")
  if not 1 <= max_fan_in <= MAX_FAN_IN:
    raise ValueError(f"max_fan_in must be in 1..{MAX_FAN_IN}, got {max_fan_in}")


def _apply_ops(op_G, a_G, b_G, modulus):
  """Elementwise a op b mod p with a per-element operation id."""
  return np.where(op_G == vocab_lib.ADD, a_G + b_G,
                  np.where(op_G == vocab_lib.SUB, a_G - b_G, a_G * b_G)) % modulus


def _sample_names(rng, num_graphs, num_nodes, num_names):
  """Injective name maps: a partial Fisher-Yates shuffle of 0..V-1 per graph."""
  perm_GV = np.tile(np.arange(num_names, dtype=np.int32), (num_graphs, 1))
  rows_G = np.arange(num_graphs)
  u_GN = rng.random((num_graphs, num_nodes))
  for i in range(num_nodes):
    j_G = i + (u_GN[:, i] * (num_names - i)).astype(np.int64)
    picked_G = perm_GV[rows_G, j_G]
    perm_GV[rows_G, j_G] = perm_GV[:, i]
    perm_GV[:, i] = picked_G
  return np.ascontiguousarray(perm_GV[:, :num_nodes])


def sample_graphs(seed, num_graphs: int, num_nodes: int, *, num_leaves: int = 6,
                  max_depth: int | None = None, ops: Sequence[str] = ("add",),
                  modulus: int = 23, num_names: int = 128,
                  max_fan_in: int = MAX_FAN_IN) -> GraphBatch:
  """Samples `num_graphs` graphs; a pure function of its arguments and `seed`.

  Args:
    seed: int, tuple of ints (e.g. (seed, step)) or np.random.SeedSequence.
    num_graphs: G.
    num_nodes: N, including the leaves.
    num_leaves: number of leaf (source) nodes.
    max_depth: only nodes of depth < max_depth may be parents (None: no cap),
      so no node is deeper than max_depth.
    ops: operation names drawn uniformly, a subset of ('add', 'sub', 'mul').
    modulus: p; values live in Z_p.
    num_names: V; names are drawn injectively from x_0..x_{V-1}.
    max_fan_in: k is uniform on 1..max_fan_in.
  """
  _check_arguments(num_graphs, num_nodes, num_leaves, max_depth, modulus,
                   num_names, max_fan_in)
  op_ids = np.asarray(vocab_lib.op_ids(ops), dtype=np.int64)
  if len(set(op_ids.tolist())) != len(op_ids):
    raise ValueError(f"ops must not repeat (it would skew the draw), got {ops}")
  rng = np.random.Generator(np.random.PCG64(seed))
  G, N, K = num_graphs, num_nodes, MAX_FAN_IN

  # All random draws up front: a few large calls are much faster than many.
  # Per-node state is node-major ([.., N, G]) so that the loop over nodes
  # touches contiguous rows; it is transposed to [G, N, ..] at the end.
  leaf_values_LG = rng.integers(0, modulus, (num_leaves, G))
  fan_in_NG = rng.integers(1, max_fan_in + 1, (N, G))
  u_KNG = rng.random((K, N, G))
  op_draw_KNG = op_ids[rng.integers(0, len(op_ids), (2, N, G))]
  names_GN = _sample_names(rng, G, N, num_names)

  parents_KNG = np.full((K, N, G), -1, dtype=np.int64)
  num_parents_NG = np.zeros((N, G), dtype=np.int64)
  values_NG = np.zeros((N, G), dtype=np.int64)
  values_NG[:num_leaves] = leaf_values_LG
  depths_NG = np.zeros((N, G), dtype=np.int64)
  rows_G = np.arange(G)
  slots_K1 = np.arange(K)[:, None]

  # Candidates of each graph: a packed list of node ids (column g of
  # candidates_NG) plus its length. With no depth cap the list is 0..i-1.
  candidates_NG = np.tile(np.arange(N, dtype=np.int64)[:, None], (1, G))
  num_candidates_G = np.full(G, num_leaves, dtype=np.int64)
  for i in range(num_leaves, N):
    c_G = num_candidates_G if max_depth is not None else np.full(G, i)
    k_G = np.minimum(fan_in_NG[i], c_G)
    # Sequential draws without replacement by rank: r2 skips r1, r3 skips both.
    r1_G = (u_KNG[0, i] * c_G).astype(np.int64)
    r2_G = (u_KNG[1, i] * np.maximum(c_G - 1, 0)).astype(np.int64)
    r2_G += r2_G >= r1_G
    r3_G = (u_KNG[2, i] * np.maximum(c_G - 2, 0)).astype(np.int64)
    lo_G, hi_G = np.minimum(r1_G, r2_G), np.maximum(r1_G, r2_G)
    r3_G += r3_G >= lo_G
    r3_G += r3_G >= hi_G
    ranks_KG = np.minimum(np.stack([r1_G, r2_G, r3_G]), c_G - 1)  # Unused slots stay in range.
    if max_depth is None:
      parent_KG = ranks_KG
    else:
      parent_KG = candidates_NG.ravel()[ranks_KG * G + rows_G]
    used_KG = slots_K1 < k_G
    parents_KNG[:, i] = np.where(used_KG, parent_KG, -1)
    num_parents_NG[i] = k_G

    flat_KG = parent_KG * G + rows_G
    parent_depth_KG = depths_NG.ravel()[flat_KG]
    depths_NG[i] = 1 + np.where(used_KG, parent_depth_KG, 0).max(axis=0)
    a_G, b_G, c3_G = values_NG.ravel()[flat_KG]
    ab_G = _apply_ops(op_draw_KNG[0, i], a_G, b_G, modulus)
    abc_G = _apply_ops(op_draw_KNG[1, i], ab_G, c3_G, modulus)
    values_NG[i] = np.where(k_G == 1, a_G, np.where(k_G == 2, ab_G, abc_G))

    if max_depth is not None:
      # Append i where eligible (the list holds <= i entries, so index <= i < N).
      eligible_G = depths_NG[i] < max_depth
      flat_G = num_candidates_G * G + rows_G
      candidates_NG.ravel()[flat_G] = np.where(eligible_G, i, candidates_NG.ravel()[flat_G])
      num_candidates_G += eligible_G

  num_ops_NG = np.maximum(num_parents_NG - 1, 0)
  ops_2NG = np.where(np.arange(2)[:, None, None] < num_ops_NG, op_draw_KNG, -1)
  depths_GN = depths_NG.T
  order_GN = np.argsort(depths_GN, axis=1, kind="stable")

  def frozen(array):
    array = np.ascontiguousarray(array, dtype=np.int32)
    array.setflags(write=False)
    return array

  return GraphBatch(
      parents_GNK=frozen(parents_KNG.transpose(2, 1, 0)),
      num_parents_GN=frozen(num_parents_NG.T),
      ops_GNK=frozen(ops_2NG.transpose(2, 1, 0)), values_GN=frozen(values_NG.T),
      depths_GN=frozen(depths_GN), names_GN=frozen(names_GN),
      order_GN=frozen(order_GN), modulus=modulus, num_names=num_names)
