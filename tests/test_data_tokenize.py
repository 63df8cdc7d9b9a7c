"""Tests of factored tokenization: exact layout, fast == slow, round trips."""
import numpy as np
import pytest

from recur_latent.data import graphs
from recur_latent.data import problems
from recur_latent.data import text
from recur_latent.data import tokenize
from recur_latent.data import vocab as V

_VOCAB = V.Vocab(23, 128)
_NA, _EMPTY, _VNA = 128, 24, 23  # var_na, value_empty, value_na.


def _batches_equal(a, b):
  assert set(a) == set(b) == set(tokenize.BATCH_KEYS)
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert a[key].dtype == np.int32, key


def test_exact_layout_of_a_written_problem():
  problem = text.parse("20 = x_7 ; x_7 * x_7 - x_7 = x_4 ; x_4 = x_5")
  batch = tokenize.tokenize_problems([problem], _VOCAB, bucket=8)
  sep, eq = (V.SEPARATOR, _NA, V.OP_NA, _VNA), (V.EQUALS, _NA, V.OP_NA, _VNA)

  def var(n, value=_EMPTY):
    return (V.VAR_TOKEN, n, V.OP_NA, value)

  def op(o):
    return (V.OP_TOKEN, _NA, o, _VNA)

  x4 = (20 * 20 - 20) % 23
  inputs = [(V.VALUE_TOKEN, _NA, V.OP_NA, 20), eq, var(7), sep,
            var(7), op(V.MUL), var(7), op(V.SUB), var(7), eq, var(4), sep,
            var(4), eq, var(5)]
  targets = list(inputs)
  targets[2], targets[10], targets[14] = var(7, 20), var(4, x4), var(5, x4)
  pad = [(V.PAD, _NA, V.OP_NA, _VNA)]
  np.testing.assert_array_equal(batch["inputs_BLF"][0], inputs + pad)
  np.testing.assert_array_equal(batch["targets_BLF"][0], targets + pad)
  depth = [-1] * 16
  depth[2], depth[10], depth[14] = 0, 1, 2
  np.testing.assert_array_equal(batch["node_depth_BL"][0], depth)
  assert batch["length_B"].tolist() == [15] and batch["graph_depth_B"].tolist() == [2]
  assert batch["num_nodes_B"].tolist() == [3]


@pytest.mark.parametrize("num_nodes, modulus, num_names, max_depth", [
    (32, 23, 128, 6), (10, 7, 16, None), (64, 23, 100, None)])
def test_vectorized_equals_slow_path(num_nodes, modulus, num_names, max_depth):
  batch = graphs.sample_graphs(3, 40, num_nodes, ops=("add", "sub", "mul"), modulus=modulus,
                               num_names=num_names, max_depth=max_depth)
  vocab = V.Vocab(modulus, num_names)
  fast = tokenize.tokenize_graphs(batch)
  slow = tokenize.tokenize_problems(problems.graphs_to_problems(batch), vocab)
  _batches_equal(fast, slow)
  assert fast["inputs_BLF"].shape[1] % 32 == 0
  assert fast["inputs_BLF"].shape[1] - 32 < fast["length_B"].max() <= fast["inputs_BLF"].shape[1]
  for pad_to in (1000, int(fast["length_B"].max())):  # Loose and tight.
    _batches_equal(tokenize.tokenize_graphs(batch, pad_to=pad_to),
                   tokenize.tokenize_problems(problems.graphs_to_problems(batch), vocab,
                                              pad_to=pad_to))


def test_pad_to_too_short_raises():
  batch = graphs.sample_graphs(0, 4, 32)
  with pytest.raises(ValueError, match="pad_to"):
    tokenize.tokenize_graphs(batch, pad_to=50)


def test_round_trip_text_problem_tokens_text():
  batch = graphs.sample_graphs(4, 30, 24, ops=("add", "sub", "mul"))
  tokens = tokenize.tokenize_graphs(batch)
  for g, problem in enumerate(problems.graphs_to_problems(batch)):
    source = text.render(problem)
    for key in ("inputs_BLF", "targets_BLF"):
      decoded = tokenize.detokenize(tokens[key][g], _VOCAB)
      assert decoded == problem.without_solution() and text.render(decoded) == source
    assert tokenize.read_values(tokens["targets_BLF"][g], _VOCAB) == problem.values
    assert tokenize.read_values(tokens["inputs_BLF"][g], _VOCAB) == {}


def test_state_after_iteration_fills_one_depth_per_iteration():
  batch = tokenize.tokenize_graphs(graphs.sample_graphs(5, 16, 20, max_depth=4))
  inputs, targets, depth = batch["inputs_BLF"], batch["targets_BLF"], batch["node_depth_BL"]
  np.testing.assert_array_equal(tokenize.state_after_iteration(inputs, targets, depth, -1), inputs)
  np.testing.assert_array_equal(
      tokenize.state_after_iteration(inputs, targets, depth, batch["graph_depth_B"]), targets)
  for t in range(5):
    state = tokenize.state_after_iteration(inputs, targets, depth, t)
    changed = (state != inputs).any(axis=-1)
    # Exactly the defining tokens of depth <= t carry values; only the value factor changes.
    np.testing.assert_array_equal(changed, (depth >= 0) & (depth <= t))
    np.testing.assert_array_equal(state[..., :3], inputs[..., :3])
    for g in range(2):
      values = tokenize.read_values(state[g], _VOCAB)
      assert len(values) == ((depth[g] >= 0) & (depth[g] <= t)).sum()
  per_example = tokenize.state_after_iteration(inputs, targets, depth, np.arange(16) % 3)
  for g in range(16):
    np.testing.assert_array_equal(
        per_example[g], tokenize.state_after_iteration(inputs, targets, depth, g % 3)[g])


def test_concat_batches_pads_to_a_common_length():
  small = graphs.sample_graphs(6, 3, 8)
  large = graphs.sample_graphs(7, 5, 40)
  joined = tokenize.concat_batches([tokenize.tokenize_graphs(small),
                                    tokenize.tokenize_graphs(large)])
  both = problems.graphs_to_problems(small) + problems.graphs_to_problems(large)
  expected = tokenize.tokenize_problems(both, _VOCAB, pad_to=joined["inputs_BLF"].shape[1])
  _batches_equal(joined, expected)
  with_vocab = tokenize.concat_batches([tokenize.tokenize_graphs(small)], pad_to=64,
                                       vocab=_VOCAB)
  _batches_equal(with_vocab, tokenize.tokenize_problems(both[:3], _VOCAB, pad_to=64))


def test_flat_vocab_table_matches_factored_tokens():
  flat = V.FlatVocab(23, 128)
  table = flat.factored_table()
  assert table.shape == (flat.size, 4) and flat.size == 9 + 23 + 128
  np.testing.assert_array_equal(table[flat.name_base + 5], (V.VAR_TOKEN, 5, V.OP_NA, _EMPTY))
  np.testing.assert_array_equal(table[flat.VALUE_BASE + 3], (V.VALUE_TOKEN, _NA, V.OP_NA, 3))
  np.testing.assert_array_equal(table[flat.OP_BASE + V.SUB], (V.OP_TOKEN, _NA, V.SUB, _VNA))
  assert flat.token_strings()[flat.name_base + 5] == "x_5"
