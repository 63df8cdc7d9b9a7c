"""Tiny configs and hand-built problem batches for the model tests.

The batches follow the SPEC token layout but are built here (not with the data
package) so the model tests depend only on vocab.py.
"""
import jax
import ml_collections
import numpy as np
from flax import nnx

from recur_latent.data import vocab as V


def model_config(**overrides) -> ml_collections.ConfigDict:
  cfg = ml_collections.ConfigDict(dict(
      d_model=32, num_heads=4, num_layers=2, mlp_ratio=4, dropout=0.1, position="relative",
      rel_window=8, max_len=256, dtype="float32", cot_vocab_size=0))
  cfg.update(overrides)
  return cfg


def _row(vocab, syntax, var=None, op=None, value=None):
  return [syntax, vocab.var_na if var is None else var, V.OP_NA if op is None else op,
          vocab.value_na if value is None else value]


def problem_batch(vocab: V.Vocab, num_nodes_per_example, *, seed=0, num_leaves=2, length=None):
  """Random addition graphs tokenized as in the SPEC: dict of inputs/targets/node_depth/graph_depth.

  Node i >= num_leaves takes 1 or 2 parents among earlier nodes; equations are
  written grouped by depth. Returns numpy arrays padded to a common length.
  """
  rng = np.random.default_rng(seed)
  inputs, targets, depths_l, graph_depths = [], [], [], []
  for n in num_nodes_per_example:
    values, depth, parents = [], [], []
    for i in range(n):
      if i < num_leaves:
        values.append(int(rng.integers(vocab.modulus)))
        depth.append(0)
        parents.append([])
      else:
        ps = list(rng.choice(i, size=min(i, int(rng.integers(1, 3))), replace=False))
        values.append(sum(values[p] for p in ps) % vocab.modulus)
        depth.append(1 + max(depth[p] for p in ps))
        parents.append(ps)
    names = rng.permutation(vocab.num_names)[:n]
    rows_in, rows_out, node_depth = [], [], []
    for i in sorted(range(n), key=lambda i: (depth[i], i)):
      if rows_in:
        rows_in.append(_row(vocab, V.SEPARATOR)); rows_out.append(rows_in[-1]); node_depth.append(-1)
      if not parents[i]:
        lhs = [_row(vocab, V.VALUE_TOKEN, value=values[i])]
      else:
        lhs = []
        for k, p in enumerate(parents[i]):
          if k:
            lhs.append(_row(vocab, V.OP_TOKEN, op=V.ADD))
          lhs.append(_row(vocab, V.VAR_TOKEN, var=names[p], value=vocab.value_empty))
      lhs.append(_row(vocab, V.EQUALS))
      rows_in += lhs; rows_out += lhs; node_depth += [-1] * len(lhs)
      rows_in.append(_row(vocab, V.VAR_TOKEN, var=names[i], value=vocab.value_empty))
      rows_out.append(_row(vocab, V.VAR_TOKEN, var=names[i], value=values[i]))
      node_depth.append(depth[i])
    inputs.append(rows_in); targets.append(rows_out); depths_l.append(node_depth)
    graph_depths.append(max(depth))
  length = length or max(len(r) for r in inputs)
  pad = _row(vocab, V.PAD)
  def padded(rows, fill):
    return [r + [fill] * (length - len(r)) for r in rows]
  return dict(inputs_BLF=np.array(padded(inputs, pad), np.int32),
              targets_BLF=np.array(padded(targets, pad), np.int32),
              node_depth_BL=np.array(padded(depths_l, -1), np.int32),
              graph_depth_B=np.array(graph_depths, np.int32))


def jit_apply(model, fn, *args):
  """Runs fn(model, *args) under one jax.jit with the model split into graphdef and state.

  Eager calls compile every primitive separately (slow for the relative-attention
  gathers); the jitted path is also the way training and evaluation use models.
  """
  graphdef, state = nnx.split(model)
  return jax.jit(lambda s, *a: fn(nnx.merge(graphdef, s), *a))(state, *args)
