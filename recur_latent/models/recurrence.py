"""Recurrence over a FactoredTransformer: steps, anchoring, halting, rollouts.

One iteration maps the current state to logits over the factored tokens:
  discrete anchoring:   x = embed(tokens); logits = readout(body(x));
                        next tokens = decode(logits) (argmax per factor).
  continuous anchoring: h = body(x); logits = readout(h); the next input is h
                        itself (the first x is embed(inputs)).
A depth-D graph is solved after D + 1 iterations (iteration 0 fills leaves).

Rollouts halt per example ('oracle': after `oracle_iters_B` iterations;
'fixed_point': when the decoded state equals the previous one; 'all_filled':
when every defining (RHS) variable token holds a value), always bounded by
`max_iters`. A halted example keeps its state: updates are masked.
`rollout_while` (inference; stops when the whole batch halted) and
`rollout_scan` (fixed length, differentiable, optional per-iteration outputs)
compute the same per-example results.

All functions are pure (the model is only read), so they can run inside a
`jax.jit` whose inputs are the model's split state.
"""
import jax
import jax.numpy as jnp
from jax import lax

from recur_latent.data import vocab as vocab_lib

HALTING = ("oracle", "fixed_point", "all_filled")
ANCHORING = ("discrete", "continuous")


def pad_row(vocab: vocab_lib.Vocab) -> jax.Array:
  """The token of a padding position: (PAD, var_na, OP_NA, value_na)."""
  return jnp.array([vocab_lib.PAD, vocab.var_na, vocab_lib.OP_NA, vocab.value_na], jnp.int32)


def rhs_mask(inputs_BLF: jax.Array) -> jax.Array:
  """True at defining variable tokens: the VAR token right after each EQUALS."""
  syntax_BL = inputs_BLF[..., vocab_lib.SYNTAX]
  after_equals_BL = jnp.pad(syntax_BL[:, :-1] == vocab_lib.EQUALS, ((0, 0), (1, 0)))
  return after_equals_BL & (syntax_BL == vocab_lib.VAR_TOKEN)


def shift_right(x_BL: jax.Array, by: int, fill) -> jax.Array:
  """x[:, i - by] at position i, `fill` before the start: what lies `by` tokens back."""
  return jnp.pad(x_BL, ((0, 0), (by, 0)), constant_values=fill)[:, :x_BL.shape[1]]


def operand_names(tokens_BLF, var_na):
  """(names [B, L, 3], defining mask): the operands of the equation each defining token closes.

  Slot s is the (s+1)-th operand from the right: the VAR token 2s + 2
  positions before the right-hand side, when the token between them is an
  operator (slot 0: when it is a VAR at all). var_na where there is none and
  at every position that is not a defining token.
  """
  syntax_BL = tokens_BLF[..., vocab_lib.SYNTAX]
  names_BL = tokens_BLF[..., vocab_lib.VARIABLE]
  defining_BL = rhs_mask(tokens_BLF)

  slots = []
  present_BL = defining_BL
  for s in range(vocab_lib.MAX_OPERANDS):
    operand_syntax_BL = shift_right(syntax_BL, 2 * s + 2, vocab_lib.PAD)
    if s == 0:
      present_BL = present_BL & (operand_syntax_BL == vocab_lib.VAR_TOKEN)
    else:
      present_BL = present_BL & (shift_right(syntax_BL, 2 * s + 1, vocab_lib.PAD) == vocab_lib.OP_TOKEN)
    slots.append(jnp.where(present_BL, shift_right(names_BL, 2 * s + 2, var_na), var_na))
  return jnp.stack(slots, axis=-1), defining_BL


def decode(logits, inputs_BLF: jax.Array | None = None) -> jax.Array:
  """Argmax per factor -> tokens_BLF; padding rows are forced to the PAD row.

  Padding rows are those whose syntax is PAD in `inputs_BLF` when given (the
  structure of a problem never changes), else those decoded as PAD.
  """
  tokens_BLF = jnp.stack([jnp.argmax(l, axis=-1) for l in logits], axis=-1).astype(jnp.int32)
  sizes = tuple(l.shape[-1] for l in logits)
  vocab = vocab_lib.Vocab(modulus=sizes[vocab_lib.VALUE] - 2, num_names=sizes[vocab_lib.VARIABLE] - 1)
  reference_BLF = tokens_BLF if inputs_BLF is None else inputs_BLF
  is_pad_BL1 = (reference_BLF[..., vocab_lib.SYNTAX] == vocab_lib.PAD)[..., None]
  return jnp.where(is_pad_BL1, pad_row(vocab), tokens_BLF)


def discrete_step(model, tokens_BLF: jax.Array, *, dropout_key: jax.Array | None = None):
  """One discrete iteration: logits of the next state given the current tokens."""
  return model(tokens_BLF, dropout_key=dropout_key)


def continuous_step(model, x_BLD: jax.Array, *, dropout_key: jax.Array | None = None):
  """One continuous iteration: (h_BLD, logits); h is the next iteration's input."""
  h_BLD = model.body(x_BLD, dropout_key=dropout_key)
  return h_BLD, model.readout(h_BLD)


def straight_through_embed(model, logits, inputs_BLF: jax.Array | None = None):
  """Re-embeds logits: forward = embedding of the argmax, backward = softmax-weighted embedding.

  Returns (x_BLD, tokens_BLF). x = soft + stop_gradient(hard - soft), so the
  value is the discrete embedding and the gradient flows through the softmax.
  """
  tokens_BLF = decode(logits, inputs_BLF)
  soft_BLD = model.embed_soft(tuple(jax.nn.softmax(l, axis=-1) for l in logits))
  hard_BLD = model.embed(tokens_BLF)
  return soft_BLD + lax.stop_gradient(hard_BLD - soft_BLD), tokens_BLF


def solved(tokens_BLF, targets_BLF, inputs_BLF) -> jax.Array:
  """[B] bool: every defining token's value equals the target's."""
  rhs_BL = rhs_mask(inputs_BLF)
  right_BL = tokens_BLF[..., vocab_lib.VALUE] == targets_BLF[..., vocab_lib.VALUE]
  return jnp.all(right_BL | ~rhs_BL, axis=-1)


def true_state(inputs_BLF, targets_BLF, node_depth_BL, num_iters_B) -> jax.Array:
  """The correct state after `num_iters_B` iterations: values of nodes of depth < num_iters filled."""
  filled_BL = (node_depth_BL >= 0) & (node_depth_BL < num_iters_B[:, None])
  values_BL = jnp.where(filled_BL, targets_BLF[..., vocab_lib.VALUE], inputs_BLF[..., vocab_lib.VALUE])
  return inputs_BLF.at[..., vocab_lib.VALUE].set(values_BL)


def teacher_forced_pair(inputs_BLF, targets_BLF, node_depth_BL, t_B):
  """(input, target) of iteration t per example: the true states after t and t + 1 iterations.

  Iteration t (0-based) reads the state in which depths < t are filled and must
  produce the state in which depths <= t are filled.
  """
  return (true_state(inputs_BLF, targets_BLF, node_depth_BL, t_B),
          true_state(inputs_BLF, targets_BLF, node_depth_BL, t_B + 1))


def _check(halting, anchoring, max_iters, oracle_iters_B):
  if halting not in HALTING:
    raise ValueError(f"unknown halting {halting!r}; expected one of {HALTING}")
  if anchoring not in ANCHORING:
    raise ValueError(f"unknown anchoring {anchoring!r}; expected one of {ANCHORING}")
  if max_iters < 1:
    raise ValueError(f"max_iters must be >= 1, got {max_iters}")
  if halting == "oracle" and oracle_iters_B is None:
    raise ValueError("oracle halting needs oracle_iters_B")


def _initial_carry(model, inputs_BLF, halting, oracle_iters_B):
  batch = inputs_BLF.shape[0]
  halted_B = jnp.zeros((batch,), bool)
  if halting == "oracle":
    halted_B = oracle_iters_B <= 0
  return dict(tokens_BLF=inputs_BLF, x_BLD=model.embed(inputs_BLF), halted_B=halted_B,
              iters_B=jnp.zeros((batch,), jnp.int32))


def _iterate(model, carry, inputs_BLF, rhs_BL, *, halting, anchoring, max_iters,
             oracle_iters_B, dropout_key, straight_through, with_aux=False):
  """One masked iteration of the whole batch: returns (new carry, logits, aux logits or None)."""
  if with_aux:
    h_BLD, aux = model.body_with_aux(carry["x_BLD"], dropout_key=dropout_key)
  else:
    h_BLD, aux = model.body(carry["x_BLD"], dropout_key=dropout_key), None
  logits = model.readout(h_BLD)
  if anchoring == "continuous":
    new_tokens_BLF = decode(logits, inputs_BLF)
    next_x_BLD = h_BLD
  elif straight_through:
    next_x_BLD, new_tokens_BLF = straight_through_embed(model, logits, inputs_BLF)
  else:
    new_tokens_BLF = decode(logits, inputs_BLF)
    next_x_BLD = model.embed(new_tokens_BLF)

  return _advance(carry, new_tokens_BLF, next_x_BLD, rhs_BL, model.vocab, halting=halting,
                  max_iters=max_iters, oracle_iters_B=oracle_iters_B), logits, aux


def _advance(carry, new_tokens_BLF, next_x_BLD, rhs_BL, vocab, *, halting, max_iters,
             oracle_iters_B):
  """The carry after one iteration: new states where active, halting flags, counts.

  next_x_BLD is None for a carry without input vectors (the suffix rollout).
  """
  active_B = ~carry["halted_B"]
  iters_B = carry["iters_B"] + active_B.astype(jnp.int32)
  if halting == "oracle":
    halt_B = iters_B >= oracle_iters_B
  elif halting == "fixed_point":
    halt_B = jnp.all(new_tokens_BLF == carry["tokens_BLF"], axis=(1, 2))
  else:
    empty_BL = new_tokens_BLF[..., vocab_lib.VALUE] == vocab.value_empty
    halt_B = ~jnp.any(rhs_BL & empty_BL, axis=-1)
  halt_B = halt_B | (iters_B >= max_iters)

  new_carry = dict(
      tokens_BLF=jnp.where(active_B[:, None, None], new_tokens_BLF, carry["tokens_BLF"]),
      halted_B=carry["halted_B"] | (active_B & halt_B),
      iters_B=iters_B)
  if next_x_BLD is not None:
    new_carry["x_BLD"] = jnp.where(active_B[:, None, None], next_x_BLD, carry["x_BLD"])
  return new_carry


def _result(carry, solved_BT, targets_BLF, inputs_BLF):
  out = dict(tokens_BLF=carry["tokens_BLF"], iters_B=carry["iters_B"])
  if targets_BLF is not None:
    out["solved_BT"] = solved_BT
    out["solved_B"] = solved(carry["tokens_BLF"], targets_BLF, inputs_BLF)
  return out


def suffix_starts(length: int, suffix_chunks: int) -> tuple[int, ...]:
  """The positions a suffix rollout may recompute from: multiples of ceil(length / chunks)."""
  if suffix_chunks < 1:
    raise ValueError(f"suffix_chunks must be >= 1, got {suffix_chunks}")
  chunk = -(-length // suffix_chunks)
  return tuple(range(0, length, chunk))


def _suffix_iteration(model, inputs_BLF, starts):
  """One discrete iteration from `starts[k]` on (lax.switch on k): (new tokens, caches).

  Positions before the start keep their tokens, and the caches their keys and
  values; only the suffix runs through the model.
  """
  def branch(start):
    def run(tokens_BLF, caches):
      x_BQD = model.embed(tokens_BLF[:, start:])
      h_BQD, caches, _ = model.transformer.run(x_BQD, caches=caches, suffix_start=start)
      suffix_BQF = decode(model.readout(h_BQD), inputs_BLF[:, start:])
      return jnp.concatenate([tokens_BLF[:, :start], suffix_BQF], axis=1), caches
    return run
  branches = [branch(start) for start in starts]
  return lambda k, tokens_BLF, caches: lax.switch(k, branches, tokens_BLF, caches)


def rollout_while(model, inputs_BLF, *, halting="oracle", max_iters, oracle_iters_B=None,
                  anchoring="discrete", targets_BLF=None, suffix_chunks=1):
  """Inference rollout with `lax.while_loop`; stops as soon as every example halted.

  Args:
    model: a FactoredTransformer (read only).
    inputs_BLF: the input states.
    halting: 'oracle' | 'fixed_point' | 'all_filled' (module docstring).
    max_iters: static bound on iterations per example (>= 1).
    oracle_iters_B: iterations per example for 'oracle' (e.g. graph_depth_B + 1 + slack).
    anchoring: 'discrete' | 'continuous'.
    targets_BLF: if given, per-iteration solved flags are recorded.
    suffix_chunks: > 1 (discrete anchoring only) recomputes each iteration
      only from the chunk (of L / suffix_chunks positions) holding the first
      token any example changed in the last iteration, over a KV cache of the
      rest. Attention is causal, so the positions before it would come out as
      they are; the results are the same, with less work once the early,
      shallow equations are solved (they come first). One compiled model
      call per chunk.

  Returns:
    dict with tokens_BLF (final decoded states), iters_B (iterations each example
    ran), recomputed_fraction (positions run through the model over L per
    iteration) and, with targets, solved_BT [B, max_iters] (column t: solved
    after t + 1 iterations; a halted example carries its final flag forward)
    and solved_B.
  """
  _check(halting, anchoring, max_iters, oracle_iters_B)
  batch, length = inputs_BLF.shape[:2]
  starts = suffix_starts(length, suffix_chunks)
  by_suffix = len(starts) > 1
  if by_suffix and anchoring != "discrete":
    raise ValueError("suffix_chunks > 1 needs discrete anchoring: a continuous state changes everywhere")
  rhs_BL = rhs_mask(inputs_BLF)
  carry = _initial_carry(model, inputs_BLF, halting, oracle_iters_B)
  if by_suffix:
    del carry["x_BLD"]  # Each iteration embeds its suffix from the tokens.
    carry["caches"] = model.transformer.init_cache(batch, length)
    carry["chunk"] = jnp.int32(0)  # The first iteration runs the whole sequence.
    carry["recomputed"] = jnp.int32(0)  # Positions run through the model, summed over iterations.
    suffix_iteration = _suffix_iteration(model, inputs_BLF, starts)
    starts_K = jnp.array(starts)
  init_solved_B = (solved(inputs_BLF, targets_BLF, inputs_BLF) if targets_BLF is not None
                   else jnp.zeros((batch,), bool))
  state = (jnp.int32(0), carry, jnp.zeros((batch, max_iters), bool), init_solved_B)

  def cond(state):
    step, carry, _, _ = state
    return (step < max_iters) & ~jnp.all(carry["halted_B"])

  def body(state):
    step, carry, solved_BT, _ = state
    if by_suffix:
      new_tokens_BLF, caches = suffix_iteration(carry["chunk"], carry["tokens_BLF"], carry["caches"])
      new_carry = _advance(carry, new_tokens_BLF, None, rhs_BL, model.vocab, halting=halting,
                           max_iters=max_iters, oracle_iters_B=oracle_iters_B)
      changed_L = jnp.any(new_carry["tokens_BLF"] != carry["tokens_BLF"], axis=(0, 2))
      # Nothing changed: the next iteration would change nothing either, so
      # the last chunk (the cheapest call) is as exact as any.
      first = jnp.where(jnp.any(changed_L), jnp.argmax(changed_L), length - 1)
      new_carry["caches"] = caches
      new_carry["recomputed"] = carry["recomputed"] + length - starts_K[carry["chunk"]]
      new_carry["chunk"] = (jnp.searchsorted(starts_K, first, side="right") - 1).astype(jnp.int32)
      carry = new_carry
    else:
      carry, _, _ = _iterate(model, carry, inputs_BLF, rhs_BL, halting=halting, anchoring=anchoring,
                             max_iters=max_iters, oracle_iters_B=oracle_iters_B, dropout_key=None,
                             straight_through=False)
    solved_B = (solved(carry["tokens_BLF"], targets_BLF, inputs_BLF) if targets_BLF is not None
                else jnp.zeros((batch,), bool))
    solved_BT = lax.dynamic_update_slice(solved_BT, solved_B[:, None], (0, step))
    return step + 1, carry, solved_BT, solved_B

  steps, carry, solved_BT, last_solved_B = lax.while_loop(cond, body, state)
  # Columns after the loop ended hold every example's final flag.
  later_1T = jnp.arange(max_iters)[None, :] >= steps
  solved_BT = jnp.where(later_1T, last_solved_B[:, None], solved_BT)
  out = _result(carry, solved_BT, targets_BLF, inputs_BLF)
  # The share of the whole sequence's work the iterations did (1 without the suffix path).
  out["recomputed_fraction"] = (carry["recomputed"] / jnp.maximum(steps * length, 1)
                                if by_suffix else jnp.float32(1.0))
  return out


def rollout_scan(model, inputs_BLF, *, halting="oracle", max_iters, oracle_iters_B=None,
                 anchoring="discrete", targets_BLF=None, dropout_key=None, straight_through=False,
                 return_trajectory=False, with_aux=False, remat=False):
  """The same rollout as `rollout_while` as a fixed-length masked `lax.scan` (differentiable).

  Extra args:
    dropout_key: dropout in every iteration (folded with the iteration index); None = off.
    straight_through: discrete anchoring re-embeds with `straight_through_embed`, so
      gradients flow through the iterations (forward values are unchanged).
    return_trajectory: also return `logits` (tuple of 4 [T, B, L, V_f], every
      iteration's logits, computed for halted examples too; mask by iters_B) and
      `states_TBLF` (the masked state after each iteration).
    with_aux: with return_trajectory, also return `aux`, every iteration's
      training-aid logits (FactoredTransformer.body_with_aux), leading axis T.
    remat: recompute each iteration's activations in the backward pass
      (`jax.checkpoint`) instead of storing all T of them: the memory of
      backpropagation through T iterations drops to about one iteration's.
  """
  _check(halting, anchoring, max_iters, oracle_iters_B)
  rhs_BL = rhs_mask(inputs_BLF)
  carry = _initial_carry(model, inputs_BLF, halting, oracle_iters_B)

  def step(carry, t):
    key = None if dropout_key is None else jax.random.fold_in(dropout_key, t)
    carry, logits, aux = _iterate(model, carry, inputs_BLF, rhs_BL, halting=halting,
                                  anchoring=anchoring, max_iters=max_iters,
                                  oracle_iters_B=oracle_iters_B, dropout_key=key,
                                  straight_through=straight_through, with_aux=with_aux)
    out = {}
    if targets_BLF is not None:
      out["solved_B"] = solved(carry["tokens_BLF"], targets_BLF, inputs_BLF)
    if return_trajectory:
      out["logits"] = logits
      out["states_BLF"] = carry["tokens_BLF"]
      if with_aux:
        out["aux"] = aux
    return carry, out

  carry, per_iter = lax.scan(jax.checkpoint(step) if remat else step, carry, jnp.arange(max_iters))
  result = _result(carry, per_iter["solved_B"].T if targets_BLF is not None else None,
                   targets_BLF, inputs_BLF)
  if return_trajectory:
    result["logits"] = per_iter["logits"]
    result["states_TBLF"] = per_iter["states_BLF"]
    if with_aux:
      result["aux"] = per_iter["aux"]
  return result
