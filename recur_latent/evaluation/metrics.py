"""Evaluation metrics on decoded states (pure numpy).

The unit of work is one batch of the data pipeline's dict (`targets_BLF`,
`node_depth_BL`, `graph_depth_B`, `num_nodes_B`) plus a model's predicted final
state. `batch_records` reduces a batch to per-example arrays (so batches of
different lengths, iteration counts and depths can be concatenated) and
`summarize` turns the records of one problem size into a JSON-serializable
dict. Only the values at defining (right-hand-side) variable tokens are scored:
they are the only positions whose target differs from the input.
"""
from typing import Mapping

import numpy as np

from recur_latent.data import vocab as vocab_lib

# Keys of the per-example record dicts produced by `batch_records`.
_PER_EXAMPLE_1D = ("solved_B", "nodes_correct_B", "nodes_total_B", "graph_depth_B", "num_nodes_B")


def defining_mask(node_depth_BL: np.ndarray) -> np.ndarray:
  """True at the defining (RHS) variable token of every node."""
  return np.asarray(node_depth_BL) >= 0


def node_correct(pred_BLF: np.ndarray, targets_BLF: np.ndarray, node_depth_BL: np.ndarray) -> np.ndarray:
  """True where a defining token's predicted value equals the true value; False elsewhere."""
  pred_values_BL = np.asarray(pred_BLF)[..., vocab_lib.VALUE]
  true_values_BL = np.asarray(targets_BLF)[..., vocab_lib.VALUE]
  return defining_mask(node_depth_BL) & (pred_values_BL == true_values_BL)


def fully_solved(pred_BLF: np.ndarray, targets_BLF: np.ndarray, node_depth_BL: np.ndarray) -> np.ndarray:
  """[B] bool: every node's value is right (a single wrong value fails the graph)."""
  mask_BL = defining_mask(node_depth_BL)
  correct_BL = node_correct(pred_BLF, targets_BLF, node_depth_BL)
  return np.all(correct_BL | ~mask_BL, axis=-1)


def correct_by_node_depth(correct_BL: np.ndarray, node_depth_BL: np.ndarray, num_depths: int):
  """Counts of (correct, total) defining tokens per node depth: two [B, num_depths] int arrays."""
  node_depth_BL = np.asarray(node_depth_BL)
  one_hot_BLD = node_depth_BL[..., None] == np.arange(num_depths)
  total_BD = one_hot_BLD.sum(axis=1)
  correct_BD = (one_hot_BLD & np.asarray(correct_BL)[..., None]).sum(axis=1)
  return correct_BD.astype(np.int64), total_BD.astype(np.int64)


def correction_counts(input_BLF, output_BLF, targets_BLF, node_depth_BL, vocab: vocab_lib.Vocab):
  """One-step error correction: (num wrong in the input, num of those right in the output).

  An entry is wrong in the input state when a defining token holds a value
  (not EMPTY) that differs from the truth. The rate is corrected / wrong.
  """
  input_values_BL = np.asarray(input_BLF)[..., vocab_lib.VALUE]
  output_values_BL = np.asarray(output_BLF)[..., vocab_lib.VALUE]
  true_values_BL = np.asarray(targets_BLF)[..., vocab_lib.VALUE]
  wrong_BL = (defining_mask(node_depth_BL) & (input_values_BL != vocab.value_empty)
              & (input_values_BL != true_values_BL))
  corrected_BL = wrong_BL & (output_values_BL == true_values_BL)
  return int(wrong_BL.sum()), int(corrected_BL.sum())


def forward_fill_iterations(solved_BT: np.ndarray, iters_B: np.ndarray | None, num_iters: int) -> np.ndarray:
  """[B, num_iters] per-iteration solved flags, holding each example's last state after it halted.

  Column t means "after t + 1 iterations". An example that ran `iters_B[b]`
  iterations keeps its flag from column iters_B[b] - 1 onward (a halted
  example's state no longer changes); without `iters_B` the last column is held.
  """
  solved_BT = np.asarray(solved_BT, dtype=bool)
  num_examples, recorded = solved_BT.shape
  if iters_B is None:
    last_B = np.full(num_examples, recorded - 1)
  else:
    last_B = np.clip(np.asarray(iters_B) - 1, 0, recorded - 1)
  columns_T = np.arange(num_iters)
  source_BT = np.minimum(columns_T[None, :], last_B[:, None])
  return np.take_along_axis(solved_BT, source_BT, axis=1)


def batch_records(pred_BLF, batch: Mapping[str, np.ndarray], *, iters_B=None, solved_BT=None) -> dict:
  """Per-example arrays for one evaluated batch of factored states.

  Args:
    pred_BLF: the model's final decoded state, [B, L, 4].
    batch: the data dict (`targets_BLF`, `node_depth_BL`, `graph_depth_B`, `num_nodes_B`).
    iters_B: iterations each example ran (recurrent methods), or None.
    solved_BT: fully-solved flag after each iteration (column t: after t + 1), or None.
  """
  targets_BLF = np.asarray(batch["targets_BLF"])
  pred_BLF = np.asarray(pred_BLF)
  if pred_BLF.shape != targets_BLF.shape:
    raise ValueError(f"prediction shape {pred_BLF.shape} != target shape {targets_BLF.shape}")
  node_depth_BL = np.asarray(batch["node_depth_BL"])
  return records_from_correct(node_correct(pred_BLF, targets_BLF, node_depth_BL), node_depth_BL,
                              batch["graph_depth_B"], batch["num_nodes_B"],
                              iters_B=iters_B, solved_BT=solved_BT)


def records_from_correct(correct_BX, node_depth_BX, graph_depth_B, num_nodes_B, *,
                         iters_B=None, solved_BT=None) -> dict:
  """Per-example arrays from per-node correctness.

  X indexes either token positions (node depth -1 where no node is defined) or
  nodes directly (e.g. values parsed from a chain-of-thought trace).
  """
  node_depth_BX = np.asarray(node_depth_BX)
  mask_BX = defining_mask(node_depth_BX)
  correct_BX = np.asarray(correct_BX, dtype=bool) & mask_BX
  num_depths = int(node_depth_BX.max(initial=-1)) + 1
  correct_BD, total_BD = correct_by_node_depth(correct_BX, node_depth_BX, num_depths)
  records = {
      "solved_B": np.all(correct_BX | ~mask_BX, axis=-1),
      "nodes_correct_B": correct_BX.sum(axis=-1).astype(np.int64),
      "nodes_total_B": mask_BX.sum(axis=-1).astype(np.int64),
      "graph_depth_B": np.asarray(graph_depth_B).astype(np.int64),
      "num_nodes_B": np.asarray(num_nodes_B).astype(np.int64),
      "correct_by_depth_BD": correct_BD,
      "total_by_depth_BD": total_BD,
  }
  if iters_B is not None:
    records["iters_B"] = np.asarray(iters_B).astype(np.int64)
  if solved_BT is not None:
    solved_BT = np.asarray(solved_BT, dtype=bool)
    records["solved_BT"] = forward_fill_iterations(solved_BT, iters_B, solved_BT.shape[1])
  return records


def _pad_columns(x_BK: np.ndarray, width: int, *, hold_last: bool) -> np.ndarray:
  extra = width - x_BK.shape[1]
  if extra == 0:
    return x_BK
  if hold_last:
    return np.concatenate([x_BK, np.repeat(x_BK[:, -1:], extra, axis=1)], axis=1)
  return np.pad(x_BK, ((0, 0), (0, extra)))


def concat_records(records_list: list[dict]) -> dict:
  """Concatenates per-batch records; depth columns pad with zeros, iteration columns hold the last flag."""
  if not records_list:
    raise ValueError("no records to concatenate")
  out = {key: np.concatenate([r[key] for r in records_list]) for key in _PER_EXAMPLE_1D}
  num_depths = max(r["total_by_depth_BD"].shape[1] for r in records_list)
  for key in ("correct_by_depth_BD", "total_by_depth_BD"):
    out[key] = np.concatenate([_pad_columns(r[key], num_depths, hold_last=False) for r in records_list])
  for key in ("iters_B", "solved_BT"):
    if len({key in r for r in records_list}) > 1:
      raise ValueError(f"{key} is present in some batches only")
  if "iters_B" in records_list[0]:
    out["iters_B"] = np.concatenate([r["iters_B"] for r in records_list])
  if "solved_BT" in records_list[0]:
    num_iters = max(r["solved_BT"].shape[1] for r in records_list)
    out["solved_BT"] = np.concatenate([_pad_columns(r["solved_BT"], num_iters, hold_last=True)
                                       for r in records_list])
  return out


def depth_cdf(graph_depth_B: np.ndarray, num_iters: int) -> list[float]:
  """Fraction of graphs with depth <= t, for t < num_iters.

  This is the per-iteration curve of a model that solves exactly one depth
  level per iteration (after t + 1 iterations, graphs of depth <= t are solved).
  """
  graph_depth_B = np.asarray(graph_depth_B)
  return [float(np.mean(graph_depth_B <= t)) for t in range(num_iters)]


def _standard_error(p: float, n: int) -> float:
  return float(np.sqrt(max(p * (1.0 - p), 0.0) / n)) if n else 0.0


def summarize(records: dict, *, correction: tuple[int, int] | None = None) -> dict:
  """Aggregates the records of one problem size into a JSON-serializable dict.

  Keys: num_graphs, fully_solved (+ stderr), node_accuracy, mean_graph_depth,
  by_graph_depth {depth: {count, fully_solved}}, node_accuracy_by_node_depth
  {depth: accuracy}; for recurrent methods solved_after_iters (entry t: after
  t + 1 iterations), depth_cdf (the one-level-per-iteration reference) and
  iterations {mean, min, max, mean_minus_needed, histogram}; and, when given,
  correction {num_wrong, num_corrected, rate}.
  """
  solved_B = records["solved_B"]
  num_graphs = int(solved_B.shape[0])
  rate = float(solved_B.mean()) if num_graphs else 0.0
  graph_depth_B = records["graph_depth_B"]
  summary = {
      "num_graphs": num_graphs,
      "fully_solved": rate,
      "fully_solved_stderr": _standard_error(rate, num_graphs),
      "node_accuracy": float(records["nodes_correct_B"].sum() / max(records["nodes_total_B"].sum(), 1)),
      "mean_graph_depth": float(graph_depth_B.mean()) if num_graphs else 0.0,
  }
  by_depth = {}
  for depth in np.unique(graph_depth_B):
    in_depth_B = graph_depth_B == depth
    by_depth[str(int(depth))] = {"count": int(in_depth_B.sum()),
                                 "fully_solved": float(solved_B[in_depth_B].mean())}
  summary["by_graph_depth"] = by_depth
  correct_D = records["correct_by_depth_BD"].sum(axis=0)
  total_D = records["total_by_depth_BD"].sum(axis=0)
  summary["node_accuracy_by_node_depth"] = {
      str(d): float(correct_D[d] / total_D[d]) for d in range(total_D.shape[0]) if total_D[d] > 0}
  if "solved_BT" in records:
    solved_BT = records["solved_BT"]
    summary["solved_after_iters"] = [float(x) for x in solved_BT.mean(axis=0)]
    summary["depth_cdf"] = depth_cdf(graph_depth_B, solved_BT.shape[1])
  if "iters_B" in records:
    summary["iterations"] = iterations_summary(records["iters_B"], graph_depth_B)
  if correction is not None:
    num_wrong, num_corrected = correction
    summary["correction"] = {"num_wrong": int(num_wrong), "num_corrected": int(num_corrected),
                             "rate": float(num_corrected / num_wrong) if num_wrong else None}
  return summary


def iterations_summary(iters_B: np.ndarray, graph_depth_B: np.ndarray) -> dict:
  """How many iterations examples used, also relative to the depth + 1 a graph needs."""
  iters_B = np.asarray(iters_B)
  excess_B = iters_B - (np.asarray(graph_depth_B) + 1)
  values, counts = np.unique(iters_B, return_counts=True)
  return {
      "mean": float(iters_B.mean()),
      "min": int(iters_B.min()),
      "max": int(iters_B.max()),
      "mean_minus_needed": float(excess_B.mean()),
      "fraction_fewer_than_needed": float(np.mean(excess_B < 0)),
      "histogram": {str(int(v)): int(c) for v, c in zip(values, counts)},
  }
