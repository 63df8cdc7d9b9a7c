"""Evaluation metrics on hand-made predictions."""
import json

import numpy as np
import pytest

from recur_latent.data import vocab as vocab_lib
from recur_latent.evaluation import metrics

VOCAB = vocab_lib.Vocab(modulus=23, num_names=16)
NA, EMPTY = VOCAB.value_na, VOCAB.value_empty


def _var(name, value):
  return (vocab_lib.VAR_TOKEN, name, vocab_lib.OP_NA, value)


def _sym(syntax, op=vocab_lib.OP_NA):
  return (syntax, VOCAB.var_na, op, NA)


def _problem(values, length=16):
  """`a = x_0 ; x_0 = x_1 ; x_0 + x_1 = x_2` with x_0 = values[0], defining values as given.

  Returns tokens [L, 4] and node depths [L] (0, 1, 2 at the three defining tokens).
  """
  v0, v1, v2 = values
  rows = [(vocab_lib.VALUE_TOKEN, VOCAB.var_na, vocab_lib.OP_NA, 3), _sym(vocab_lib.EQUALS), _var(0, v0),
          _sym(vocab_lib.SEPARATOR), _var(0, EMPTY), _sym(vocab_lib.EQUALS), _var(1, v1),
          _sym(vocab_lib.SEPARATOR), _var(0, EMPTY), _sym(vocab_lib.OP_TOKEN, vocab_lib.ADD), _var(1, EMPTY),
          _sym(vocab_lib.EQUALS), _var(2, v2)]
  rows += [_sym(vocab_lib.PAD)] * (length - len(rows))
  depth = np.full(length, -1, np.int32)
  depth[[2, 6, 12]] = [0, 1, 2]
  return np.array(rows, np.int32), depth


def _batch(num):
  targets, depth = _problem((3, 3, 6))
  return {"targets_BLF": np.stack([targets] * num), "node_depth_BL": np.stack([depth] * num),
          "graph_depth_B": np.full(num, 2), "num_nodes_B": np.full(num, 3)}


def test_one_wrong_value_is_not_solved():
  batch = _batch(3)
  right, _ = _problem((3, 3, 6))
  one_wrong, _ = _problem((3, 4, 6))
  empty_last, _ = _problem((3, 3, EMPTY))
  pred = np.stack([right, one_wrong, empty_last])
  np.testing.assert_array_equal(metrics.fully_solved(pred, batch["targets_BLF"], batch["node_depth_BL"]),
                                [True, False, False])
  records = metrics.batch_records(pred, batch)
  np.testing.assert_array_equal(records["nodes_correct_B"], [3, 2, 2])
  summary = metrics.summarize(records)
  assert summary["fully_solved"] == pytest.approx(1 / 3)
  assert summary["node_accuracy"] == pytest.approx(7 / 9)
  # Depth 1 wrong once, depth 2 wrong once out of three graphs each.
  assert summary["node_accuracy_by_node_depth"] == pytest.approx({"0": 1.0, "1": 2 / 3, "2": 2 / 3})


def test_wrong_value_outside_defining_tokens_is_ignored():
  batch = _batch(1)
  pred = batch["targets_BLF"].copy()
  pred[0, 4, vocab_lib.VALUE] = 7  # A use (left-hand side) is not scored.
  assert metrics.fully_solved(pred, batch["targets_BLF"], batch["node_depth_BL"]).all()


def test_per_depth_and_per_iteration_on_known_example():
  # Four graphs of depths 0, 1, 1, 2: solved flags after each of 3 iterations,
  # graph 2 (depth 1) halted after 2 iterations, graph 3 never solved.
  solved_BT = np.array([[1, 1, 1], [0, 1, 1], [0, 1, 0], [0, 0, 0]], bool)
  iters_B = np.array([3, 3, 2, 3])
  held = metrics.forward_fill_iterations(solved_BT, iters_B, 4)
  np.testing.assert_array_equal(held, [[1, 1, 1, 1], [0, 1, 1, 1], [0, 1, 1, 1], [0, 0, 0, 0]])
  records = {
      "solved_B": np.array([True, True, True, False]),
      "nodes_correct_B": np.array([1, 2, 2, 2]), "nodes_total_B": np.array([1, 2, 2, 3]),
      "graph_depth_B": np.array([0, 1, 1, 2]), "num_nodes_B": np.array([1, 2, 2, 3]),
      "correct_by_depth_BD": np.array([[1, 0, 0], [1, 1, 0], [1, 1, 0], [1, 1, 0]]),
      "total_by_depth_BD": np.array([[1, 0, 0], [1, 1, 0], [1, 1, 0], [1, 1, 1]]),
      "iters_B": iters_B, "solved_BT": held,
  }
  summary = metrics.summarize(records)
  assert summary["by_graph_depth"] == {"0": {"count": 1, "fully_solved": 1.0},
                                       "1": {"count": 2, "fully_solved": 1.0},
                                       "2": {"count": 1, "fully_solved": 0.0}}
  assert summary["solved_after_iters"] == pytest.approx([0.25, 0.75, 0.75, 0.75])
  assert summary["depth_cdf"] == pytest.approx([0.25, 0.75, 1.0, 1.0])
  assert summary["node_accuracy_by_node_depth"] == pytest.approx({"0": 1.0, "1": 1.0, "2": 0.0})
  assert summary["iterations"]["mean"] == pytest.approx(11 / 4)
  # Needed: 1, 2, 2, 3 iterations.
  assert summary["iterations"]["mean_minus_needed"] == pytest.approx((2 + 1 + 0 + 0) / 4)
  assert summary["iterations"]["histogram"] == {"2": 1, "3": 3}
  json.dumps(summary)  # JSON-serializable.


def test_concat_records_pads_depths_and_holds_iterations():
  batch_a = _batch(2)
  shallow, shallow_depth = _problem((3, 3, 6))
  shallow_depth[12] = -1  # Pretend the last node is absent: max node depth 1.
  batch_b = {"targets_BLF": shallow[None], "node_depth_BL": shallow_depth[None],
             "graph_depth_B": np.array([1]), "num_nodes_B": np.array([2])}
  rec_a = metrics.batch_records(batch_a["targets_BLF"], batch_a, iters_B=np.array([3, 3]),
                                solved_BT=np.array([[0, 0, 1], [0, 0, 1]], bool))
  rec_b = metrics.batch_records(shallow[None], batch_b, iters_B=np.array([2]),
                                solved_BT=np.array([[0, 1]], bool))
  merged = metrics.concat_records([rec_a, rec_b])
  assert merged["total_by_depth_BD"].shape == (3, 3)
  np.testing.assert_array_equal(merged["solved_BT"][:, -1], [True, True, True])
  np.testing.assert_array_equal(merged["solved_BT"][2], [False, True, True])
  with pytest.raises(ValueError, match="some batches only"):
    metrics.concat_records([rec_a, metrics.batch_records(shallow[None], batch_b)])


def test_correction_rate_on_constructed_case():
  targets, depth = _problem((3, 3, 6))
  # Input of the iteration: x_0 right, x_1 corrupted to 9, x_2 corrupted to 5 ... in two examples,
  # plus one EMPTY entry that must not count as wrong.
  inp_a, _ = _problem((3, 9, 5))
  inp_b, _ = _problem((3, 3, EMPTY))
  out_a, _ = _problem((3, 3, 5))  # Fixed x_1, kept the wrong x_2.
  out_b, _ = _problem((3, 3, 6))
  num_wrong, num_corrected = metrics.correction_counts(
      np.stack([inp_a, inp_b]), np.stack([out_a, out_b]), np.stack([targets] * 2), np.stack([depth] * 2), VOCAB)
  assert (num_wrong, num_corrected) == (2, 1)
  records = metrics.batch_records(np.stack([out_a, out_b]), _batch(2))
  summary = metrics.summarize(records, correction=(num_wrong, num_corrected))
  assert summary["correction"] == {"num_wrong": 2, "num_corrected": 1, "rate": 0.5}


def test_shape_mismatch_is_rejected():
  batch = _batch(2)
  with pytest.raises(ValueError, match="shape"):
    metrics.batch_records(batch["targets_BLF"][:1], batch)
