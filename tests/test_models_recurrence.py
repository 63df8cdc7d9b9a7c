"""Recurrence: decoding, teacher forcing, halting rules, while == scan, straight-through."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from recur_latent.data import vocab as V
from recur_latent.models import recurrence
from recur_latent.models import transformer
from tests import model_testing

VOCAB = V.Vocab(modulus=7, num_names=16)
MAX_ITERS = 8


def _model(seed=0, **overrides):
  cfg = model_testing.model_config(**overrides)
  return transformer.FactoredTransformer(cfg, VOCAB, rngs=nnx.Rngs(seed))


def _batch():
  return {k: jnp.asarray(v) for k, v in
          model_testing.problem_batch(VOCAB, [5, 8, 3, 7], seed=1).items()}


def test_rhs_mask_marks_defining_tokens():
  batch = _batch()
  np.testing.assert_array_equal(recurrence.rhs_mask(batch["inputs_BLF"]), batch["node_depth_BL"] >= 0)


def test_decode_is_argmax_and_keeps_padding():
  batch = _batch()
  inputs = batch["inputs_BLF"]
  keys = jax.random.split(jax.random.key(0), 4)
  logits = tuple(jax.random.normal(k, inputs.shape[:2] + (n,)) for k, n in zip(keys, VOCAB.factor_sizes))
  tokens = recurrence.decode(logits, inputs)
  is_pad = np.asarray(inputs[..., V.SYNTAX] == V.PAD)
  assert is_pad.any() and (~is_pad).any()
  pad_row = [V.PAD, VOCAB.var_na, V.OP_NA, VOCAB.value_na]
  np.testing.assert_array_equal(np.asarray(tokens)[is_pad], np.broadcast_to(pad_row, (is_pad.sum(), 4)))
  for f in range(V.NUM_FACTORS):
    np.testing.assert_array_equal(np.asarray(tokens[..., f])[~is_pad], np.asarray(logits[f].argmax(-1))[~is_pad])


def test_teacher_forced_pair_fills_one_depth_per_iteration():
  batch = _batch()
  inputs, targets, depth = batch["inputs_BLF"], batch["targets_BLF"], batch["node_depth_BL"]
  zeros = jnp.zeros_like(batch["graph_depth_B"])
  state_in, state_out = recurrence.teacher_forced_pair(inputs, targets, depth, zeros)
  np.testing.assert_array_equal(state_in, inputs)
  leaves = np.asarray(depth == 0)
  np.testing.assert_array_equal(np.asarray(state_out)[leaves], np.asarray(targets)[leaves])
  np.testing.assert_array_equal(np.asarray(state_out)[~leaves], np.asarray(inputs)[~leaves])
  t = batch["graph_depth_B"]
  state_in, state_out = recurrence.teacher_forced_pair(inputs, targets, depth, t)
  np.testing.assert_array_equal(state_out, targets)  # Depth D is solved after D + 1 iterations.
  assert not np.array_equal(state_in, targets)


def _runner(halting, anchoring="discrete"):
  """Jitted (state, inputs, targets, oracle) -> (while, scan, unmasked reference states)."""
  graphdef, _ = nnx.split(_model())

  @jax.jit
  def run(state, inputs, targets, oracle):
    m = nnx.merge(graphdef, state)
    kwargs = dict(halting=halting, anchoring=anchoring, max_iters=MAX_ITERS, targets_BLF=targets,
                  oracle_iters_B=oracle if halting == "oracle" else None)
    never_halt = jnp.full((inputs.shape[0],), MAX_ITERS)
    reference = recurrence.rollout_scan(m, inputs, halting="oracle", oracle_iters_B=never_halt,
                                        max_iters=MAX_ITERS, anchoring=anchoring,
                                        return_trajectory=True)
    return (recurrence.rollout_while(m, inputs, **kwargs), recurrence.rollout_scan(m, inputs, **kwargs),
            reference["states_TBLF"])
  return run


def _rollouts_with_mixed_halting(halting, anchoring, batch):
  """Searches random models (EMPTY favoured a little) for one whose examples halt at different steps."""
  run = _runner(halting, anchoring)
  for seed in range(12):
    model = _model(seed)
    head = model.heads[V.VALUE]
    head.bias[...] = head.bias[...].at[VOCAB.value_empty].add(2.0)
    outs = run(nnx.state(model), batch["inputs_BLF"], batch["targets_BLF"], None)
    iters = np.asarray(outs[0]["iters_B"])
    if len(set(iters.tolist())) > 1 and iters.min() < MAX_ITERS:
      return outs
  raise AssertionError(f"no random model gave mixed {halting} halting; test needs new seeds")


def _expected_solved(states_TBLF, iters_B, batch):
  states = np.asarray(states_TBLF)
  out = np.zeros((len(iters_B), MAX_ITERS), bool)
  for b, iters in enumerate(np.asarray(iters_B)):
    rhs = np.asarray(batch["node_depth_BL"][b]) >= 0
    for t in range(MAX_ITERS):
      final = states[min(t, iters - 1), b]
      out[b, t] = np.all(final[rhs, V.VALUE] == np.asarray(batch["targets_BLF"])[b, rhs, V.VALUE])
  return out


def _assert_same(while_out, scan_out):
  for key in ("tokens_BLF", "iters_B", "solved_BT", "solved_B"):
    np.testing.assert_array_equal(while_out[key], scan_out[key], err_msg=key)


def _assert_halted_states(out, states, expected_iters, batch):
  np.testing.assert_array_equal(out["iters_B"], expected_iters)
  for b, iters in enumerate(expected_iters):  # A halted example keeps its state.
    np.testing.assert_array_equal(out["tokens_BLF"][b], states[iters - 1, b])
  np.testing.assert_array_equal(out["solved_BT"], _expected_solved(states, expected_iters, batch))


@pytest.mark.parametrize("anchoring", ("discrete", "continuous"))
def test_oracle_rollout_while_equals_scan_with_mixed_halting(anchoring):
  batch = _batch()
  oracle = jnp.array([1, 3, 9, 2])  # 9 > MAX_ITERS: bounded.
  while_out, scan_out, states = _runner("oracle", anchoring)(
      nnx.state(_model()), batch["inputs_BLF"], batch["targets_BLF"], oracle)
  _assert_same(while_out, scan_out)
  _assert_halted_states(while_out, states, [1, 3, MAX_ITERS, 2], batch)


def _first_true(flags_TB):
  flags = np.asarray(flags_TB)
  return np.where(flags.any(0), flags.argmax(0) + 1, MAX_ITERS)


@pytest.mark.parametrize("anchoring", ("discrete", "continuous"))
def test_fixed_point_rollout_halts_per_example_when_the_state_stops_changing(anchoring):
  batch = _batch()
  while_out, scan_out, states = _rollouts_with_mixed_halting("fixed_point", anchoring, batch)
  _assert_same(while_out, scan_out)
  previous = np.concatenate([np.asarray(batch["inputs_BLF"])[None], np.asarray(states)[:-1]])
  unchanged_TB = np.all(np.asarray(states) == previous, axis=(2, 3))
  _assert_halted_states(while_out, states, _first_true(unchanged_TB), batch)


def test_all_filled_rollout_halts_per_example_when_every_defining_token_has_a_value():
  batch = _batch()
  while_out, scan_out, states = _rollouts_with_mixed_halting("all_filled", "discrete", batch)
  _assert_same(while_out, scan_out)
  rhs = np.asarray(batch["node_depth_BL"] >= 0)
  empty = np.asarray(states)[..., V.VALUE] == VOCAB.value_empty
  filled_TB = ~np.any(empty & rhs[None], axis=-1)
  _assert_halted_states(while_out, states, _first_true(filled_TB), batch)


def test_solved_flags_count_a_correct_rollout():
  # A rollout that starts from the solved state is solved after every iteration iff it stays solved.
  batch = _batch()
  oracle = jnp.array([2, 2, 2, 2])
  while_out, _, states = _runner("oracle")(nnx.state(_model()), batch["targets_BLF"], batch["targets_BLF"],
                                          oracle)
  _assert_halted_states(while_out, states, [2, 2, 2, 2], batch)


def test_straight_through_forward_is_hard_and_gradient_is_the_soft_one():
  model = _model(seed=6, dropout=0.0)
  batch = _batch()
  inputs = batch["inputs_BLF"]
  key = jax.random.key(7)
  # Peaked (but not saturated) logits whose argmax is a valid decoding (PAD rows stay PAD), so the
  # soft and hard choices agree everywhere.
  choice = jnp.stack([jax.random.randint(jax.random.fold_in(key, f), inputs.shape[:2], 0, n)
                      for f, n in enumerate(VOCAB.factor_sizes)], -1)
  choice = jnp.where((inputs[..., V.SYNTAX] == V.PAD)[..., None], recurrence.pad_row(VOCAB), choice)
  logits = tuple(9.0 * jax.nn.one_hot(choice[..., f], n)
                 + 0.3 * jax.random.normal(jax.random.fold_in(key, 10 + f), inputs.shape[:2] + (n,))
                 for f, n in enumerate(VOCAB.factor_sizes))
  readout_w = jax.random.normal(key, (model.d_model,))

  def downstream(m, x_BLD):
    return jnp.sum(jnp.tanh(m.body(x_BLD)) @ readout_w)

  def st_loss(m, lg):
    return downstream(m, recurrence.straight_through_embed(m, lg, inputs)[0])

  def soft_loss(m, lg):
    return downstream(m, m.embed_soft(tuple(jax.nn.softmax(l, -1) for l in lg)))

  def run(m, lg):
    x_st, tokens = recurrence.straight_through_embed(m, lg, inputs)
    hard = m.embed(tokens)
    g_st = jax.grad(lambda l: st_loss(m, l))(lg)
    g_soft = jax.grad(lambda l: soft_loss(m, l))(lg)
    # Exactly the soft path's vector-Jacobian product, taken at the hard forward value.
    cotangent = jax.grad(lambda x: downstream(m, x))(hard)
    _, vjp = jax.vjp(lambda l: m.embed_soft(tuple(jax.nn.softmax(a, -1) for a in l)), lg)
    return x_st, hard, g_st, g_soft, vjp(cotangent)[0]

  x_st, hard, g_st, g_soft, g_exact = model_testing.jit_apply(model, run, logits)
  np.testing.assert_allclose(x_st, hard, atol=1e-5)
  for f in range(V.NUM_FACTORS):
    norm = float(jnp.linalg.norm(g_st[f]))
    assert norm > 1e-6  # Non-zero.
    np.testing.assert_allclose(g_st[f], g_exact[f], rtol=1e-4, atol=1e-4 * norm)
    # Where argmax and soft choice agree (peaked), ST matches the soft path's gradient.
    assert float(jnp.linalg.norm(g_st[f] - g_soft[f])) < 0.05 * norm


def test_straight_through_rollout_scan_same_forward_and_differentiable():
  model = _model(seed=8)
  batch = _batch()
  oracle = batch["graph_depth_B"] + 1

  def run(m, inputs, targets):
    def loss(mm, straight_through):
      out = recurrence.rollout_scan(mm, inputs, halting="oracle", oracle_iters_B=oracle, max_iters=4,
                                    straight_through=straight_through, return_trajectory=True)
      last = out["logits"][V.VALUE][-1]
      nll = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(last), targets[..., V.VALUE:], -1))
      return nll, out["tokens_BLF"]
    graphdef, params = nnx.split(m)  # Gradients as a State, in graph and tree mode alike.
    grad_fn = jax.grad(lambda p, st: loss(nnx.merge(graphdef, p), st), has_aux=True)
    plain_grads, plain = grad_fn(params, False)
    st_grads, st = grad_fn(params, True)
    return plain, st, plain_grads, st_grads

  plain, st, plain_grads, st_grads = model_testing.jit_apply(
      model, run, batch["inputs_BLF"], batch["targets_BLF"])
  np.testing.assert_array_equal(plain, st)  # Same forward values.
  # Straight-through adds gradient paths through the earlier iterations' readouts.
  plain_head = np.asarray(plain_grads["heads"][V.VALUE]["kernel"][...])
  st_head = np.asarray(st_grads["heads"][V.VALUE]["kernel"][...])
  assert np.isfinite(st_head).all()
  assert np.linalg.norm(st_head - plain_head) > 1e-3 * np.linalg.norm(plain_head)


def _suffix_rollouts(model, inputs, targets, chunks, halting="fixed_point", max_iters=MAX_ITERS,
                     oracle=None):
  """rollout_while outputs for each number of suffix chunks, one jit each."""
  graphdef, state = nnx.split(model)
  outs = []
  for n in chunks:
    run = jax.jit(lambda s, x, y, o, n=n: recurrence.rollout_while(
        nnx.merge(graphdef, s), x, halting=halting, max_iters=max_iters, targets_BLF=y,
        oracle_iters_B=o, suffix_chunks=n))
    outs.append(run(state, inputs, targets, oracle))
  return outs


@pytest.mark.parametrize("halting", ("fixed_point", "oracle"))
def test_suffix_rollout_equals_the_whole_rollout_on_random_models(halting):
  batch = _batch()
  oracle = jnp.array([1, 3, 9, 2]) if halting == "oracle" else None
  for seed in range(2):
    whole, *suffixes = _suffix_rollouts(_model(seed), batch["inputs_BLF"], batch["targets_BLF"],
                                        (1, 3), halting=halting, oracle=oracle)
    for out in suffixes:
      for key in ("tokens_BLF", "iters_B", "solved_BT", "solved_B"):
        np.testing.assert_array_equal(out[key], whole[key], err_msg=f"{key}, seed {seed}")
    assert float(whole["recomputed_fraction"]) == 1.0


def test_suffix_rollout_of_a_trained_model_is_the_same_with_less_work():
  """The shipped model solves depth by depth, so later iterations change only later tokens."""
  from recur_latent import api
  from recur_latent.data import eval_sets
  from recur_latent.data import tokenize as tokenize_lib
  shipped = api.load()
  graphs = eval_sets.eval_set(16, num_graphs=8, num_names=shipped.config.data.num_names,
                              modulus=shipped.config.data.modulus)
  batch = tokenize_lib.tokenize_graphs(graphs)
  whole, suffix = _suffix_rollouts(shipped.model, jnp.asarray(batch["inputs_BLF"]),
                                   jnp.asarray(batch["targets_BLF"]), (1, 4), max_iters=16)
  assert bool(np.all(whole["solved_B"]))
  for key in ("tokens_BLF", "iters_B", "solved_BT"):
    np.testing.assert_array_equal(suffix[key], whole[key], err_msg=key)
  assert float(suffix["recomputed_fraction"]) < 0.9


def test_suffix_rollout_refuses_continuous_anchoring():
  batch = _batch()
  with pytest.raises(ValueError, match="needs discrete anchoring"):
    recurrence.rollout_while(_model(), batch["inputs_BLF"], halting="fixed_point", max_iters=2,
                             anchoring="continuous", suffix_chunks=2)
