"""Tests of probe-equation construction on a hand-tokenized solved problem."""
import numpy as np
import pytest

from recur_latent.data import vocab as vocab_lib
from recur_latent.interp import probes

VOCAB = vocab_lib.Vocab(modulus=5, num_names=16)
S, V, O, X = vocab_lib.SYNTAX, vocab_lib.VARIABLE, vocab_lib.OPERATION, vocab_lib.VALUE


def _row(syntax, var=None, op=None, value=None):
  return [syntax, VOCAB.var_na if var is None else var, vocab_lib.OP_NA if op is None else op,
          VOCAB.value_na if value is None else value]


def _solved_state(pad_to=40):
  """`3 = x_2 ; 4 = x_9 ; x_2 + x_9 = x_4 ; x_4 = x_1` solved (mod 5), padded."""
  empty = VOCAB.value_empty
  rows = [
      _row(vocab_lib.VALUE_TOKEN, value=3), _row(vocab_lib.EQUALS),
      _row(vocab_lib.VAR_TOKEN, 2, value=3),
      _row(vocab_lib.SEPARATOR),
      _row(vocab_lib.VALUE_TOKEN, value=4), _row(vocab_lib.EQUALS),
      _row(vocab_lib.VAR_TOKEN, 9, value=4),
      _row(vocab_lib.SEPARATOR),
      _row(vocab_lib.VAR_TOKEN, 2, value=empty), _row(vocab_lib.OP_TOKEN, op=vocab_lib.ADD),
      _row(vocab_lib.VAR_TOKEN, 9, value=empty), _row(vocab_lib.EQUALS),
      _row(vocab_lib.VAR_TOKEN, 4, value=2),
      _row(vocab_lib.SEPARATOR),
      _row(vocab_lib.VAR_TOKEN, 4, value=empty), _row(vocab_lib.EQUALS),
      _row(vocab_lib.VAR_TOKEN, 1, value=2),
  ]
  rows += [_row(vocab_lib.PAD)] * (pad_to - len(rows))
  return np.asarray(rows, np.int32)


def test_definitions_leaves_and_fresh_name():
  state = _solved_state()
  assert probes.base_length(state) == 17
  assert probes.definitions(state, VOCAB) == {2: (2, 3), 9: (6, 4), 4: (12, 2), 1: (16, 2)}
  assert probes.leaf_names(state, VOCAB) == [2, 9]
  assert probes.unused_name(state, VOCAB) == 0
  assert probes.distinct_value_variables(state, VOCAB) == [4, 2, 9]  # Values 2, 3, 4.


def test_unsolved_state_is_rejected():
  state = _solved_state()
  state[12, X] = VOCAB.value_empty
  with pytest.raises(ValueError, match="solved"):
    probes.definitions(state, VOCAB)


def test_appended_probe_layout_and_answers():
  state = _solved_state()
  batch = probes.append_probes(state, VOCAB, [[2, 9, 4], [1, 1, 9]], rhs_name=7, bucket=16)
  tokens = batch.tokens_BLF
  assert tokens.shape == (2, 32, 4)
  np.testing.assert_array_equal(tokens[:, :17], np.broadcast_to(state[:17], (2, 17, 4)))
  probe = tokens[0, 17:25]
  assert probe[:, S].tolist() == [vocab_lib.SEPARATOR, vocab_lib.VAR_TOKEN, vocab_lib.OP_TOKEN,
                                  vocab_lib.VAR_TOKEN, vocab_lib.OP_TOKEN, vocab_lib.VAR_TOKEN,
                                  vocab_lib.EQUALS, vocab_lib.VAR_TOKEN]
  assert probe[[1, 3, 5, 7], V].tolist() == [2, 9, 4, 7]
  assert probe[[1, 3, 5, 7], X].tolist() == [VOCAB.value_empty] * 4
  assert probe[[2, 4], O].tolist() == [vocab_lib.ADD, vocab_lib.ADD]
  assert (tokens[:, 25:, S] == vocab_lib.PAD).all()
  assert batch.rhs_position_B.tolist() == [24, 24]
  assert batch.operand_position_BS.tolist() == [[18, 20, 22]] * 2
  assert batch.definition_position_BS.tolist() == [[2, 6, 12], [16, 16, 6]]
  assert batch.operand_value_BS.tolist() == [[3, 4, 2], [2, 2, 4]]
  assert batch.answer_B.tolist() == [(3 + 4 + 2) % 5, (2 + 2 + 4) % 5]


def test_probe_with_other_operations_answers_left_to_right():
  batch = probes.append_probes(_solved_state(), VOCAB, [[2, 9, 4]],
                               ops=(vocab_lib.MUL, vocab_lib.SUB))
  assert batch.answer_B.tolist() == [(3 * 4 - 2) % 5]


def test_probe_rejects_undefined_operand_and_used_rhs():
  with pytest.raises(ValueError, match="not defined"):
    probes.append_probes(_solved_state(), VOCAB, [[2, 9, 3]])
  with pytest.raises(ValueError, match="already used"):
    probes.append_probes(_solved_state(), VOCAB, [[2, 9, 4]], rhs_name=4)


def test_slot_grid_varies_only_its_slot():
  grid = probes.slot_grid(_solved_state(), VOCAB, 1, [[2, 4], [1, 9]], [4, 2, 9])
  operands_GVS = grid.tokens_BLF[:, [18, 20, 22], V].reshape(2, 3, 3)
  assert operands_GVS[0].tolist() == [[2, 4, 4], [2, 2, 4], [2, 9, 4]]
  assert operands_GVS[1].tolist() == [[1, 4, 9], [1, 2, 9], [1, 9, 9]]
  grids = probes.random_slot_grids(_solved_state(), VOCAB, num_settings=4, seed=3)
  for slot, g in enumerate(grids):
    operands_GVS = g.tokens_BLF[:, [18, 20, 22], V].reshape(4, 3, 3)
    fixed = [s for s in range(3) if s != slot]
    assert (operands_GVS[:, :, fixed] == operands_GVS[:, :1, fixed]).all()
    assert sorted(set(g.operand_value_BS[:3, slot].tolist())) == [2, 3, 4]


def test_value_grid_covers_every_operand_value_triple():
  state = _solved_state()
  batches = list(probes.value_grid_batches(state, VOCAB, [9, 2, 4], batch_size=48))
  assert [b.batch_size for b in batches] == [48, 48, 29]
  values_NS = np.concatenate([b.operand_value_BS for b in batches])
  tokens_NLF = np.concatenate([b.tokens_BLF for b in batches])
  a, b, c = np.meshgrid(*[np.arange(5)] * 3, indexing="ij")
  np.testing.assert_array_equal(values_NS, np.stack([a, b, c], -1).reshape(-1, 3))
  answers = np.concatenate([b.answer_B for b in batches]).reshape(5, 5, 5)
  np.testing.assert_array_equal(answers, (a + b + c) % 5)
  # Leaf x_9 (value token at 4, definition at 6); computed x_4 only at its definition 12.
  np.testing.assert_array_equal(tokens_NLF[:, 4, X], values_NS[:, 0])
  np.testing.assert_array_equal(tokens_NLF[:, 6, X], values_NS[:, 0])
  np.testing.assert_array_equal(tokens_NLF[:, 0, X], values_NS[:, 1])
  np.testing.assert_array_equal(tokens_NLF[:, 12, X], values_NS[:, 2])
  np.testing.assert_array_equal(tokens_NLF[:, 16, X], 2)  # Untouched.
  with pytest.raises(ValueError, match="distinct"):
    next(probes.value_grid_batches(state, VOCAB, [9, 9, 4]))
