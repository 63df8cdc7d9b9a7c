"""Losses, corruption and the operand targets on hand-made states."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from recur_latent.data import cot
from recur_latent.data import text
from recur_latent.data import tokenize
from recur_latent.data import vocab as vocab_lib
from recur_latent.models import recurrence
from recur_latent.training import corruption
from recur_latent.training import losses

VOCAB = vocab_lib.Vocab(modulus=23, num_names=16)
PROBLEM = "20 = x_7 ; 2 = x_4 ; x_7 + x_4 = x_3 ; x_3 = x_9 ; x_3 + x_7 + x_4 = x_1"


def _batch(pad_to=32):
  problem = text.parse(PROBLEM, num_names=VOCAB.num_names)
  return {k: jnp.asarray(v) for k, v in
          tokenize.tokenize_problems([problem], VOCAB, pad_to=pad_to).items()}


def _one_hot_logits(tokens_BLF, confidence=20.0):
  return tuple(confidence * jax.nn.one_hot(tokens_BLF[..., f], size)
               for f, size in enumerate(VOCAB.factor_sizes))


def test_operand_targets_name_each_slot_from_the_right():
  batch = _batch()
  targets_BLS, defining_BL = recurrence.operand_names(batch["inputs_BLF"], VOCAB.var_na)
  rows = np.where(np.asarray(defining_BL[0]))[0]
  na = VOCAB.var_na
  expected = [[na, na, na],  # 20 = x_7
              [na, na, na],  # 2 = x_4
              [4, 7, na],    # x_7 + x_4 = x_3
              [3, na, na],   # x_3 = x_9
              [4, 7, 3]]     # x_3 + x_7 + x_4 = x_1
  np.testing.assert_array_equal(np.asarray(targets_BLS[0, rows]), expected)
  assert int(defining_BL.sum()) == 5


def test_use_value_targets_give_each_use_its_current_value():
  batch = _batch()
  # After iteration 0 only the leaves (x_7 = 20, x_4 = 2) have values.
  state_BLF, _ = recurrence.teacher_forced_pair(
      batch["inputs_BLF"], batch["targets_BLF"], batch["node_depth_BL"], jnp.array([1]))
  targets_BL, use_BL = losses.use_value_targets(state_BLF, VOCAB)
  rows = np.where(np.asarray(use_BL[0]))[0]
  names = np.asarray(state_BLF[0, rows, vocab_lib.VARIABLE]).tolist()
  assert names == [7, 4, 3, 3, 7, 4]  # Uses, in order; right-hand sides excluded.
  empty = VOCAB.value_empty
  assert np.asarray(targets_BL[0, rows]).tolist() == [20, 2, empty, empty, 20, 2]
  # Once x_3 is computed (= 22), its uses see the value.
  state_BLF, _ = recurrence.teacher_forced_pair(
      batch["inputs_BLF"], batch["targets_BLF"], batch["node_depth_BL"], jnp.array([2]))
  targets_BL, _ = losses.use_value_targets(state_BLF, VOCAB)
  assert np.asarray(targets_BL[0, rows]).tolist() == [20, 2, 22, 22, 20, 2]


def test_weighted_loss_ignores_padding_and_faithful_does_not():
  short, long = _batch(pad_to=32), _batch(pad_to=64)
  t_B = jnp.array([1])
  # A uniform prediction: padding rows cost the same as real ones.
  for batch in (short, long):
    batch["logits"] = tuple(jnp.zeros(batch["targets_BLF"].shape[:2] + (size,))
                            for size in VOCAB.factor_sizes)
  weighted = [losses.state_loss(b["logits"], b["targets_BLF"], b["node_depth_BL"], t_B,
                                mode="weighted")[0] for b in (short, long)]
  np.testing.assert_allclose(weighted[0], weighted[1], rtol=1e-6)
  # Predicting padding perfectly lowers the faithful loss as padding grows.
  for batch in (short, long):
    pad_BL = batch["targets_BLF"][..., vocab_lib.SYNTAX] == vocab_lib.PAD
    perfect = _one_hot_logits(batch["targets_BLF"])
    batch["logits"] = tuple(jnp.where(pad_BL[..., None], p, l)
                            for p, l in zip(perfect, batch["logits"]))
  faithful = [losses.state_loss(b["logits"], b["targets_BLF"], b["node_depth_BL"], t_B,
                                mode="faithful")[0] for b in (short, long)]
  assert float(faithful[1]) < 0.75 * float(faithful[0])


def test_a_perfect_prediction_has_near_zero_loss_and_full_accuracy():
  batch = _batch()
  t_B = jnp.array([1])
  state_in, state_out = recurrence.teacher_forced_pair(
      batch["inputs_BLF"], batch["targets_BLF"], batch["node_depth_BL"], t_B)
  del state_in
  loss, metrics = losses.state_loss(_one_hot_logits(state_out), state_out,
                                    batch["node_depth_BL"], t_B, mode="weighted")
  assert float(loss) < 1e-3
  assert float(metrics["state_accuracy"]) == 1.0
  assert float(metrics["due_value_accuracy"]) == 1.0


@pytest.mark.parametrize("candidates,depths", [
    ("due", [2]), ("previous", [1]), ("computed", [0, 1])])
def test_corruption_touches_only_its_candidates_and_keeps_labels(candidates, depths):
  batch = _batch()
  t_B = jnp.array([2])
  state_in, _ = recurrence.teacher_forced_pair(
      batch["inputs_BLF"], batch["targets_BLF"], batch["node_depth_BL"], t_B)
  corrupted, mask_BL = corruption.corrupt_values(
      jax.random.key(0), state_in, batch["node_depth_BL"], t_B, batch_prob=1.0,
      token_prob=1.0, candidates=candidates, value_vocab_size=VOCAB.modulus + 2)
  depth_BL = np.asarray(batch["node_depth_BL"])
  expected_mask = np.isin(depth_BL, depths) & (depth_BL >= 0)
  np.testing.assert_array_equal(np.asarray(mask_BL), expected_mask)
  # Only the value factor of masked positions may differ.
  changed = np.asarray(corrupted != state_in)
  assert not changed[..., :3].any()
  assert not changed[..., 3][~expected_mask].any()


def test_corruption_off_for_a_batch_when_the_batch_draw_fails():
  batch = _batch()
  t_B = jnp.array([2])
  state, mask = corruption.corrupt_values(
      jax.random.key(0), batch["inputs_BLF"], batch["node_depth_BL"], t_B, batch_prob=0.0,
      token_prob=1.0, candidates="computed", value_vocab_size=25)
  assert not bool(mask.any())
  np.testing.assert_array_equal(np.asarray(state), np.asarray(batch["inputs_BLF"]))


def test_likely_errors_follow_the_logits_but_never_give_the_true_value():
  logits_BLV = jnp.zeros((1, 4, 25)).at[..., 5].set(20.0).at[..., 7].set(10.0)
  true_BL = jnp.array([[5, 3, 5, 7]])
  draws = np.stack([np.asarray(corruption.likely_errors(jax.random.key(s), logits_BLV, true_BL))
                    for s in range(50)])[:, 0]  # [draw, position]
  assert not (draws == np.asarray(true_BL)[0]).any()
  # Where 5 is the truth the next most likely value wins; elsewhere 5 itself.
  assert (draws[:, 0] == 7).mean() > 0.95 and (draws[:, 2] == 7).mean() > 0.95
  assert (draws[:, 1] == 5).mean() > 0.95 and (draws[:, 3] == 5).mean() > 0.95


@pytest.mark.parametrize("batch_prob", [1e-9, 1.0])  # A batch draw that fails, one that holds.
def test_model_replacements_are_used_only_in_a_corrupted_batch(batch_prob):
  batch = _batch()
  t_B = jnp.array([2])
  state_in, _ = recurrence.teacher_forced_pair(
      batch["inputs_BLF"], batch["targets_BLF"], batch["node_depth_BL"], t_B)
  calls = []

  def replacements_fn(key):
    calls.append(key)  # Traced as a branch of lax.cond whether or not it is taken.
    return jnp.full(batch["node_depth_BL"].shape, 11, jnp.int32)

  corrupted, mask_BL = corruption.corrupt_values(
      jax.random.key(0), state_in, batch["node_depth_BL"], t_B, batch_prob=batch_prob,
      token_prob=1.0, candidates="computed", value_vocab_size=25,
      replacements_fn=replacements_fn)
  mask = np.asarray(mask_BL)
  assert mask.any() == (batch_prob == 1.0)
  values = np.asarray(corrupted[..., vocab_lib.VALUE])
  np.testing.assert_array_equal(values[mask], 11)
  np.testing.assert_array_equal(values[~mask], np.asarray(state_in[..., vocab_lib.VALUE])[~mask])
  assert calls, "the replacement function was never traced"


def test_operand_values_are_read_at_definitions_and_empty_until_computed():
  batch = _batch()
  names_BLS, defining_BL = recurrence.operand_names(batch["inputs_BLF"], VOCAB.var_na)
  rows = np.where(np.asarray(defining_BL[0]))[0]
  # After iteration 0 only the leaves x_7 = 20 and x_4 = 2 have values.
  after_leaves, _ = recurrence.teacher_forced_pair(
      batch["inputs_BLF"], batch["targets_BLF"], batch["node_depth_BL"], jnp.array([1]))
  values_BLS = losses.operand_value_targets(after_leaves, names_BLS, defining_BL, VOCAB)
  na, empty = VOCAB.value_na, VOCAB.value_empty
  expected = [[na, na, na],      # 20 = x_7
              [na, na, na],      # 2 = x_4
              [2, 20, na],       # x_7 + x_4 = x_3: both leaves known
              [empty, na, na],   # x_3 = x_9: x_3 not computed yet
              [2, 20, empty]]    # x_3 + x_7 + x_4 = x_1
  np.testing.assert_array_equal(np.asarray(values_BLS[0, rows]), expected)


def test_pair_value_targets_combine_the_first_two_operands_at_the_second():
  problem = text.parse("20 = x_7 ; 2 = x_4 ; x_7 * x_4 = x_3 ; x_3 - x_7 + x_4 = x_1 ; x_3 = x_9",
                       num_names=VOCAB.num_names)
  batch = {k: jnp.asarray(v) for k, v in tokenize.tokenize_problems([problem], VOCAB, pad_to=32).items()}
  empty = VOCAB.value_empty
  for t, expected in ((1, [20 * 2 % 23, empty]),              # x_3 not computed yet
                      (2, [20 * 2 % 23, (17 - 20) % 23])):    # x_3 = 40 mod 23 = 17
    state_BLF, _ = recurrence.teacher_forced_pair(
        batch["inputs_BLF"], batch["targets_BLF"], batch["node_depth_BL"], jnp.array([t]))
    targets_BL, second_BL = losses.pair_value_targets(state_BLF, VOCAB)
    rows = np.where(np.asarray(second_BL[0]))[0]
    # The second operands: x_4 in `x_7 * x_4`, x_7 in `x_3 - x_7 + x_4`; not the third operand x_4.
    assert np.asarray(state_BLF[0, rows, vocab_lib.VARIABLE]).tolist() == [4, 7]
    assert np.asarray(targets_BL[0, rows]).tolist() == expected


def test_pair_value_loss_is_low_for_right_logits_and_high_for_wrong_ones():
  batch = _batch()
  state_BLF, _ = recurrence.teacher_forced_pair(
      batch["inputs_BLF"], batch["targets_BLF"], batch["node_depth_BL"], jnp.array([3]))
  targets_BL, mask_BL = losses.pair_value_targets(state_BLF, VOCAB)
  right = 20.0 * jax.nn.one_hot(targets_BL, VOCAB.modulus + 2)
  wrong = 20.0 * jax.nn.one_hot((targets_BL + 1) % (VOCAB.modulus + 2), VOCAB.modulus + 2)
  loss_right, acc_right = losses.pair_value_loss(right, state_BLF, VOCAB)
  loss_wrong, acc_wrong = losses.pair_value_loss(wrong, state_BLF, VOCAB)
  assert int(mask_BL.sum()) == 2  # `x_7 + x_4` and `x_3 + x_7 + x_4`.
  assert float(loss_right) < 1e-3 < 10.0 < float(loss_wrong)
  assert float(acc_right) == 1.0 and float(acc_wrong) == 0.0


def test_prefix_value_targets_evaluate_each_left_hand_side_left_to_right():
  problem = text.parse("20 = x_7 ; 2 = x_4 ; 5 = x_8 ; x_7 * x_4 - x_8 = x_3 ; x_3 + x_7 = x_1",
                       num_names=VOCAB.num_names)
  batch = {k: jnp.asarray(v) for k, v in tokenize.tokenize_problems([problem], VOCAB, pad_to=40).items()}
  empty = VOCAB.value_empty
  state_BLF, _ = recurrence.teacher_forced_pair(
      batch["inputs_BLF"], batch["targets_BLF"], batch["node_depth_BL"], jnp.array([1]))
  targets_BL, uses_BL = losses.prefix_value_targets(state_BLF, VOCAB)
  rows = np.where(np.asarray(uses_BL[0]))[0]
  assert np.asarray(state_BLF[0, rows, vocab_lib.VARIABLE]).tolist() == [7, 4, 8, 3, 7]
  # 20, 20 * 2 = 17, 17 - 5 = 12; then x_3 is still EMPTY, so its chain is too.
  assert np.asarray(targets_BL[0, rows]).tolist() == [20, 17, 12, empty, empty]
  state_BLF, _ = recurrence.teacher_forced_pair(
      batch["inputs_BLF"], batch["targets_BLF"], batch["node_depth_BL"], jnp.array([2]))
  targets_BL, _ = losses.prefix_value_targets(state_BLF, VOCAB)
  assert np.asarray(targets_BL[0, rows]).tolist() == [20, 17, 12, 12, (12 + 20) % 23]
  pair_BL, second_BL = losses.pair_value_targets(state_BLF, VOCAB)
  assert np.where(np.asarray(second_BL[0]))[0].tolist() == [rows[1], rows[4]]
  assert np.asarray(pair_BL[0, [rows[1], rows[4]]]).tolist() == [17, 9]


def test_chain_of_thought_accuracy_is_split_by_kind_of_target():
  # Trace: x_7 = 20 ; x_4 = 2 ; x_3 = x_7 + x_4 = 22 ; x_9 = x_3 = 22 ; x_1 = x_3 + x_7 + x_4 = 21 ;
  flat = vocab_lib.FlatVocab(23, 16)
  ids = cot.cot_ids(text.parse(PROBLEM, num_names=16), flat)
  prompt_length = ids.index(flat.TRACE) + 1
  tokens_BL = jnp.asarray([ids])
  loss_mask_BL = jnp.asarray([[prompt_length - 1 <= i <= len(ids) - 2 for i in range(len(ids))]])
  logits_BLV = 20.0 * jax.nn.one_hot(tokens_BL[:, 1:], flat.size)  # Each target predicted right ...
  logits_BLV = jnp.pad(logits_BLV, ((0, 0), (0, 1), (0, 0)))
  row = tokens_BL[0].tolist()
  value_positions = [i for i in range(len(row) - 1) if row[i] == flat.EQUALS and
                     flat.VALUE_BASE <= row[i + 1] < flat.name_base and i >= prompt_length]
  assert len(value_positions) == 5  # leaf, leaf, 2 operands, copy, 3 operands.
  wrong_value = value_positions[4]  # ... except the value of the three-operand step ...
  wrong_name = value_positions[2] + 3  # ... and the name defined by the step after the 2-operand one.
  assert row[wrong_name] >= flat.name_base
  for i in (wrong_value, wrong_name - 1):
    logits_BLV = logits_BLV.at[0, i].set(20.0 * jax.nn.one_hot((row[i + 1] + 1) % flat.size, flat.size))
  _, metrics = losses.next_token_loss(logits_BLV, tokens_BL, loss_mask_BL, flat)
  assert metrics["value_accuracy_leaf"] == 1.0
  assert metrics["value_accuracy_copy"] == 1.0
  assert metrics["value_accuracy_2ops"] == 1.0
  assert metrics["value_accuracy_3ops"] == 0.0
  assert metrics["value_token_accuracy"] == pytest.approx(4 / 5)
  num_names = sum(1 for i in range(prompt_length, len(row)) if row[i] >= flat.name_base)
  assert metrics["name_accuracy"] == pytest.approx((num_names - 1) / num_names)
  assert metrics["trace_accuracy"] == 0.0
  assert "value_accuracy_leaf" not in losses.next_token_loss(logits_BLV, tokens_BL, loss_mask_BL)[1]
