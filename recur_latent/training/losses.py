"""Supervision of factored states.

`faithful` reproduces the paper's code: cross-entropy averaged over all four
factors and all positions, padding included. `weighted` ignores padding and
spends the gradient where the information is: the value at defining
positions, with values due at this iteration weighted up. Copying the other
factors is learned quickly either way, but in the faithful mode the few due
values are a ~1% share of the loss, which is one reason for the long plateau.
"""
import jax.numpy as jnp
from jax import lax
import optax

from recur_latent.data import vocab as vocab_lib
from recur_latent.models import recurrence


def factor_cross_entropy(logits, targets_BLF):
  """Per-factor cross-entropy [B, L, F] in float32."""
  return jnp.stack([
      optax.softmax_cross_entropy_with_integer_labels(
          logit.astype(jnp.float32), targets_BLF[..., f])
      for f, logit in enumerate(logits)
  ], axis=-1)


def state_loss(logits, targets_BLF, node_depth_BL, t_B, *, mode, value_weight=4.0,
               due_weight=4.0):
  """Loss of predicted logits against the target state of iteration t_B.

  Args:
    logits: tuple of F arrays [B, L, V_f].
    targets_BLF: the target state.
    node_depth_BL: node depth at defining positions, -1 elsewhere.
    t_B: the iteration each example is at (for final-state supervision pass
      a large number so that every value counts as due).
    mode: 'faithful' or 'weighted'.
  Returns:
    (scalar loss, dict of scalar metrics).
  """
  ce_BLF = factor_cross_entropy(logits, targets_BLF)
  predictions_BLF = jnp.stack([jnp.argmax(l, -1) for l in logits], -1)
  correct_BLF = predictions_BLF == targets_BLF
  nonpad_BL = targets_BLF[..., vocab_lib.SYNTAX] != vocab_lib.PAD
  defining_BL = node_depth_BL >= 0
  due_BL = defining_BL & (node_depth_BL == t_B[:, None])
  if mode == "faithful":
    loss = ce_BLF.mean()
  elif mode == "weighted":
    copy_BL = nonpad_BL & ~defining_BL
    copy_ce_BL = ce_BLF[..., :3].sum(-1) + jnp.where(copy_BL, ce_BLF[..., 3], 0.0)
    copy_loss = (copy_ce_BL * nonpad_BL).sum() / (4.0 * jnp.maximum(nonpad_BL.sum(), 1))
    weight_BL = defining_BL * (1.0 + (due_weight - 1.0) * due_BL)
    value_loss = (weight_BL * ce_BLF[..., 3]).sum() / jnp.maximum(weight_BL.sum(), 1.0)
    loss = copy_loss + value_weight * value_loss
  else:
    raise ValueError(f"unknown loss mode {mode!r}")
  state_correct_B = jnp.all(correct_BLF | ~nonpad_BL[..., None], axis=(1, 2))
  value_correct_BL = correct_BLF[..., vocab_lib.VALUE]
  metrics = {
      "state_accuracy": state_correct_B.mean(),
      "due_value_accuracy": (value_correct_BL & due_BL).sum() / jnp.maximum(due_BL.sum(), 1),
      "value_accuracy": (value_correct_BL & defining_BL).sum() / jnp.maximum(defining_BL.sum(), 1),
  }
  return loss, metrics


def next_token_loss(logits_BLV, tokens_BL, loss_mask_BL, flat_vocab=None):
  """Chain-of-thought: next-token cross-entropy on the trace tokens only.

  logits at position i predict token i + 1; loss_mask_BL marks the positions
  whose next token is part of the trace. With `flat_vocab` (vocab.FlatVocab)
  the metrics also split the accuracy by kind of target (trace_kind_metrics).
  """
  ce_BL = optax.softmax_cross_entropy_with_integer_labels(
      logits_BLV[:, :-1].astype(jnp.float32), tokens_BL[:, 1:])
  mask_BL = loss_mask_BL[:, :-1].astype(jnp.float32)
  loss = (ce_BL * mask_BL).sum() / jnp.maximum(mask_BL.sum(), 1.0)
  correct_BL = jnp.argmax(logits_BLV[:, :-1], -1) == tokens_BL[:, 1:]
  all_right_B = jnp.all(correct_BL | (mask_BL == 0), axis=1)
  metrics = {
      "token_accuracy": (correct_BL * mask_BL).sum() / jnp.maximum(mask_BL.sum(), 1.0),
      "trace_accuracy": all_right_B.mean(),
  }
  if flat_vocab is not None:
    metrics.update(trace_kind_metrics(correct_BL, mask_BL > 0, tokens_BL, flat_vocab))
  return loss, metrics


# Value targets of a trace step by its operand count: `x = 20` (a leaf's
# literal), `x = y = 17` (one operand: a copy), then two and three operands.
_VALUE_KINDS = ("leaf", "copy", "2ops", "3ops")


def trace_kind_metrics(correct_BL, mask_BL, tokens_BL, flat_vocab):
  """Where a chain of thought goes wrong: accuracy on name targets and on value targets by kind.

  correct_BL / mask_BL are over the L - 1 predicting positions (position i
  predicts token i + 1). A value target's kind is the number of operands of
  its trace step, read from the names written since the step began (after
  the last ';' or TRACE): the defined name plus its operands. Steps with more
  than three operands count as `3ops`.
  """
  next_BL = tokens_BL[:, 1:]
  is_name_BL = tokens_BL >= flat_vocab.name_base
  starts_step_BL = (tokens_BL == flat_vocab.SEPARATOR) | (tokens_BL == flat_vocab.TRACE)
  names_so_far_BL = jnp.cumsum(is_name_BL, axis=1)
  names_before_step_BL = lax.cummax(jnp.where(starts_step_BL, names_so_far_BL, 0), axis=1)
  operands_BL = (names_so_far_BL - names_before_step_BL)[:, :-1] - 1
  value_BL = mask_BL & (next_BL >= flat_vocab.VALUE_BASE) & (next_BL < flat_vocab.name_base)
  name_BL = mask_BL & (next_BL >= flat_vocab.name_base)

  def accuracy(where_BL):
    return (correct_BL & where_BL).sum() / jnp.maximum(where_BL.sum(), 1)

  metrics = {"name_accuracy": accuracy(name_BL), "value_token_accuracy": accuracy(value_BL)}
  for k, kind in enumerate(_VALUE_KINDS):
    of_kind_BL = (operands_BL >= k) if k == len(_VALUE_KINDS) - 1 else (operands_BL == k)
    metrics[f"value_accuracy_{kind}"] = accuracy(value_BL & of_kind_BL)
  return metrics


def _value_table(tokens_BLF, defining_BL, vocab):
  """[B, names + 1]: each variable's value at its defining token (EMPTY if none
  there yet); the spare column var_na holds value_na."""
  names_BL = tokens_BLF[..., vocab_lib.VARIABLE]
  values_BL = tokens_BLF[..., vocab_lib.VALUE]
  batch = tokens_BLF.shape[0]
  # Non-defining tokens write into the spare slot `var_na`, which is reset below.
  slot_BL = jnp.where(defining_BL, names_BL, vocab.var_na)
  table_BV = jnp.full((batch, vocab.num_names + 1), vocab.value_empty, jnp.int32)
  table_BV = table_BV.at[jnp.arange(batch)[:, None], slot_BL].set(values_BL)
  return table_BV.at[:, vocab.var_na].set(vocab.value_na)


def operand_value_targets(tokens_BLF, operand_names_BLS, defining_BL, vocab):
  """The value each operand currently has in `tokens_BLF` (EMPTY if not yet computed).

  A name's value is read at its defining token (defining_BL, as returned by
  recurrence.operand_names); slots without an operand get value_na.
  """
  table_BV = _value_table(tokens_BLF, defining_BL, vocab)
  batch = tokens_BLF.shape[0]
  return jnp.take_along_axis(
      table_BV, operand_names_BLS.reshape(batch, -1), axis=1).reshape(operand_names_BLS.shape)


def use_value_targets(tokens_BLF, vocab):
  """(targets [B, L], mask [B, L]): at every use of a variable (a VAR token that
  is not a right-hand side), the value that variable currently has where it is
  defined (EMPTY if not yet computed). The mask marks those use tokens.
  """
  defining_BL = recurrence.rhs_mask(tokens_BLF)
  use_BL = (tokens_BLF[..., vocab_lib.SYNTAX] == vocab_lib.VAR_TOKEN) & ~defining_BL
  table_BV = _value_table(tokens_BLF, defining_BL, vocab)
  names_BL = jnp.where(use_BL, tokens_BLF[..., vocab_lib.VARIABLE], vocab.var_na)
  return jnp.take_along_axis(table_BV, names_BL, axis=1), use_BL


def _apply_op(op_BL, a_BL, b_BL, modulus):
  """a op b mod p elementwise, for op ids ADD, SUB, MUL."""
  return jnp.where(op_BL == vocab_lib.ADD, a_BL + b_BL,
                   jnp.where(op_BL == vocab_lib.SUB, a_BL - b_BL, a_BL * b_BL)) % modulus


def prefix_value_targets(tokens_BLF, vocab):
  """(targets [B, L], mask [B, L]): at every operand of an equation, the value of
  the left-hand side so far, evaluated left to right: `a`, then `a op b`, then
  `(a op b) op c`; EMPTY while an operand so far is not computed yet. The mask
  marks the operand tokens (uses of a variable).

  With these partial results every step of an equation is one operation on two
  values, and a right-hand side only has to copy the result at its last operand.
  """
  syntax_BL = tokens_BLF[..., vocab_lib.SYNTAX]
  use_values_BL, use_BL = use_value_targets(tokens_BLF, vocab)
  chained_BL = use_BL & (recurrence.shift_right(syntax_BL, 1, vocab_lib.PAD) == vocab_lib.OP_TOKEN)
  op_BL = recurrence.shift_right(tokens_BLF[..., vocab_lib.OPERATION], 1, vocab_lib.OP_NA)
  prefix_BL = use_values_BL
  for _ in range(vocab_lib.MAX_OPERANDS - 1):  # Each pass extends every chain by one operand.
    before_BL = recurrence.shift_right(prefix_BL, 2, vocab.value_empty)
    known_BL = (before_BL != vocab.value_empty) & (use_values_BL != vocab.value_empty)
    combined_BL = jnp.where(known_BL, _apply_op(op_BL, before_BL, use_values_BL, vocab.modulus),
                            vocab.value_empty)
    prefix_BL = jnp.where(chained_BL, combined_BL, use_values_BL)
  return prefix_BL, use_BL


def pair_value_targets(tokens_BLF, vocab):
  """(targets [B, L], mask [B, L]): at the second operand of every equation, the
  value of its first two operands combined (`a op b` of `a op b [op c] = d`),
  EMPTY while either is not computed yet. The mask marks those tokens.

  Evaluating left to right, that partial result is all a 3-operand equation's
  right-hand side needs besides its last operand: with it, every step of the
  computation is an operation on two values.
  """
  syntax_BL = tokens_BLF[..., vocab_lib.SYNTAX]
  prefix_BL, use_BL = prefix_value_targets(tokens_BLF, vocab)
  second_BL = (use_BL & (recurrence.shift_right(syntax_BL, 1, vocab_lib.PAD) == vocab_lib.OP_TOKEN)
               & (recurrence.shift_right(syntax_BL, 3, vocab_lib.PAD) != vocab_lib.OP_TOKEN))
  return jnp.where(second_BL, prefix_BL, vocab.value_empty), second_BL


def masked_value_loss(logits_BLV, targets_BL, mask_BL, vocab):
  """Cross-entropy of an auxiliary value head averaged over `mask_BL`.

  Returns (loss, accuracy over masked tokens whose target is a value, not EMPTY).
  """
  weight_BL = mask_BL.astype(jnp.float32)
  ce_BL = optax.softmax_cross_entropy_with_integer_labels(logits_BLV, targets_BL)
  loss = (ce_BL * weight_BL).sum() / jnp.maximum(weight_BL.sum(), 1.0)
  known_BL = mask_BL & (targets_BL != vocab.value_empty)
  right_BL = (jnp.argmax(logits_BLV, -1) == targets_BL) & known_BL
  return loss, right_BL.sum() / jnp.maximum(known_BL.sum(), 1)


def use_value_loss(use_value_logits_BLV, tokens_BLF, vocab):
  """Cross-entropy of the use-site value head, averaged over use tokens.

  Returns (loss, accuracy over use tokens whose variable already has a value).
  """
  return masked_value_loss(use_value_logits_BLV, *use_value_targets(tokens_BLF, vocab), vocab)


def pair_value_loss(pair_value_logits_BLV, tokens_BLF, vocab):
  """Cross-entropy of the pair-value head at second operands (see pair_value_targets)."""
  return masked_value_loss(pair_value_logits_BLV, *pair_value_targets(tokens_BLF, vocab), vocab)


def prefix_value_loss(prefix_value_logits_BLV, tokens_BLF, vocab):
  """Cross-entropy of the prefix-value head at every operand (see prefix_value_targets)."""
  return masked_value_loss(prefix_value_logits_BLV, *prefix_value_targets(tokens_BLF, vocab), vocab)


def _slot_loss(logits_per_slot, targets_BLS, weight_BL):
  ce = sum((optax.softmax_cross_entropy_with_integer_labels(l.astype(jnp.float32), targets_BLS[..., s])
            * weight_BL).sum() for s, l in enumerate(logits_per_slot))
  right = sum(((jnp.argmax(l, -1) == targets_BLS[..., s]) * weight_BL).sum()
              for s, l in enumerate(logits_per_slot))
  count = jnp.maximum(weight_BL.sum(), 1.0) * len(logits_per_slot)
  return ce / count, right / count


def operand_loss(name_logits, value_logits, tokens_BLF, vocab):
  """Operand supervision at defining tokens: which variables, and their values.

  Returns (name loss, value loss, {operand_name_accuracy, operand_value_accuracy}).
  """
  names_BLS, defining_BL = recurrence.operand_names(tokens_BLF, vocab.var_na)
  values_BLS = operand_value_targets(tokens_BLF, names_BLS, defining_BL, vocab)
  weight_BL = defining_BL.astype(jnp.float32)
  name_loss, name_acc = _slot_loss(name_logits, names_BLS, weight_BL)
  value_loss, value_acc = _slot_loss(value_logits, values_BLS, weight_BL)
  return name_loss, value_loss, {"operand_name_accuracy": name_acc,
                                 "operand_value_accuracy": value_acc}
