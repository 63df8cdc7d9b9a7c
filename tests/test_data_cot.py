"""Tests of chain-of-thought sequences for the causal-LM baseline."""
import numpy as np

from recur_latent.data import cot
from recur_latent.data import graphs
from recur_latent.data import problems
from recur_latent.data import text
from recur_latent.data.vocab import FlatVocab

_FLAT = FlatVocab(23, 128)


def test_written_problem_sequence():
  problem = text.parse("20 = x_7 ; x_7 + x_7 = x_1 ; x_1 = x_3 ; x_1 * x_7 - x_3 = x_9")
  ids = cot.cot_ids(problem, _FLAT)
  assert cot.ids_to_text(ids, _FLAT) == (
      "<bos> 20 = x_7 ; x_7 + x_7 = x_1 ; x_1 = x_3 ; x_1 * x_7 - x_3 = x_9 <trace> "
      "x_7 = 20 ; x_1 = x_7 + x_7 = 17 ; x_3 = x_1 = 17 ; "
      f"x_9 = x_1 * x_7 - x_3 = {(17 * 20 - 17) % 23} ; <eos>")
  assert cot.prompt_ids(problem, _FLAT) == ids[:ids.index(_FLAT.TRACE) + 1]


def test_vectorized_batch_equals_slow_reference_and_trace_values_are_exact():
  batch = graphs.sample_graphs(0, 40, 20, ops=("add", "sub", "mul"), max_depth=5)
  sequences = cot.cot_batch(batch)
  assert set(sequences) == set(cot.COT_KEYS)
  for g, problem in enumerate(problems.graphs_to_problems(batch)):
    ids = cot.cot_ids(problem, _FLAT)
    row = sequences["tokens_BL"][g]
    assert row[:len(ids)].tolist() == ids and not row[len(ids):].any()
    assert sequences["length_B"][g] == len(ids)
    assert cot.parse_trace(row, _FLAT) == problems.solve(problem)[0]
  assert sequences["tokens_BL"].shape[1] % 32 == 0
  tight = cot.cot_batch(batch, bucket=1)  # The longest row fills its row.
  assert tight["tokens_BL"].shape[1] == sequences["length_B"].max()
  np.testing.assert_array_equal(tight["tokens_BL"],
                                sequences["tokens_BL"][:, :tight["tokens_BL"].shape[1]])
  np.testing.assert_array_equal(sequences["graph_depth_B"], batch.graph_depth_G)


def test_loss_mask_covers_exactly_the_shifted_trace():
  sequences = cot.cot_batch(graphs.sample_graphs(1, 8, 12))
  tokens, targets, mask = (sequences[k] for k in ("tokens_BL", "targets_BL", "loss_mask_BL"))
  np.testing.assert_array_equal(targets[:, :-1], tokens[:, 1:])
  assert not targets[:, -1].any()
  for g in range(8):
    prompt, length = sequences["prompt_length_B"][g], sequences["length_B"][g]
    assert tokens[g, prompt - 1] == _FLAT.TRACE and tokens[g, length - 1] == _FLAT.EOS
    positions = np.flatnonzero(mask[g])
    np.testing.assert_array_equal(positions, np.arange(prompt - 1, length - 1))
    # The supervised targets are the trace and EOS, nothing of the prompt.
    np.testing.assert_array_equal(targets[g, positions], tokens[g, prompt:length])


def test_parse_trace_skips_malformed_steps_and_stops_at_eos():
  problem = text.parse("3 = x_1 ; x_1 + x_1 = x_2 ; x_2 = x_4")
  ids = cot.cot_ids(problem, _FLAT)
  assert cot.parse_trace(ids, _FLAT) == {"x_1": 3, "x_2": 6, "x_4": 6}
  trace = ids.index(_FLAT.TRACE)
  broken = list(ids)
  broken[trace + 1] = _FLAT.EQUALS  # First step no longer starts with a name.
  assert cot.parse_trace(broken, _FLAT) == {"x_2": 6, "x_4": 6}
  early_eos = ids[:trace + 5] + [_FLAT.EOS] + ids[trace + 5:]
  assert cot.parse_trace(early_eos, _FLAT) == {"x_1": 3}
  assert cot.parse_trace(ids[:trace], _FLAT) == {}


def test_concat_cot_batches():
  a = cot.cot_batch(graphs.sample_graphs(2, 3, 8))
  b = cot.cot_batch(graphs.sample_graphs(3, 2, 30))
  joined = cot.concat_cot_batches([a, b])
  assert joined["tokens_BL"].shape == (5, b["tokens_BL"].shape[1])
  np.testing.assert_array_equal(joined["tokens_BL"][:3, :a["tokens_BL"].shape[1]], a["tokens_BL"])
  assert not joined["tokens_BL"][:3, a["tokens_BL"].shape[1]:].any()
  np.testing.assert_array_equal(joined["length_B"], np.concatenate([a["length_B"], b["length_B"]]))
