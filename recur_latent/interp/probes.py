"""Probe equations (SPEC section 4): `<solved problem> ; v0 + v1 + v2 = rhs`.

The base is a solved problem in factored tokens: the TARGET state, where every
defining (right-hand-side) variable token carries its value. Appending the
probe equation with fresh name `rhs` asks the model, in one forward pass, for
rhs = v0 + v1 + v2 mod p: it has to find the three operands, then the values
at their definitions, then add them. Everything about the probe lives at
fixed offsets after the base's length:

  position  length   +1  +2  +3  +4  +5  +6  +7
  token     ;        v0  +   v1  +   v2  =   rhs

Two kinds of grids are built:
- slot grids: slot s varies over defined variables with distinct values while
  the other two slots take G fixed settings (heads.relative_variance);
- the value grid: three defined variables are fixed as operands and their
  definition values are overwritten with every (a, b, c) in Z_p^3 (fourier).
"""
from collections.abc import Iterator, Sequence
import dataclasses

import numpy as np

from recur_latent.data import graphs as graphs_lib
from recur_latent.data import tokenize as tokenize_lib
from recur_latent.data import vocab as vocab_lib

NUM_SLOTS = 3
PROBE_LENGTH = 8  # Tokens appended: separator, 3 operands, 2 operators, '=', rhs.
OPERAND_OFFSETS = (1, 3, 5)  # Operand token offsets from the base length.
RHS_OFFSET = 7


@dataclasses.dataclass(frozen=True)
class ProbeBatch:
  """A batch of probe sequences and where to read them."""

  tokens_BLF: np.ndarray  # int32 model inputs.
  rhs_position_B: np.ndarray  # Position of the rhs token (the query).
  operand_position_BS: np.ndarray  # Positions of v0, v1, v2 in the probe equation.
  definition_position_BS: np.ndarray  # Positions where v0, v1, v2 are defined (with their values).
  operand_value_BS: np.ndarray  # Values of v0, v1, v2.
  answer_B: np.ndarray  # The correct value of rhs.

  @property
  def batch_size(self) -> int:
    return self.tokens_BLF.shape[0]


def solved_bases(graphs: graphs_lib.GraphBatch) -> list[np.ndarray]:
  """The solved (target) state of each graph, trimmed to its length: [L_g, F] each."""
  batch = tokenize_lib.tokenize_graphs(graphs)
  return [batch["targets_BLF"][g, :batch["length_B"][g]] for g in range(graphs.num_graphs)]


def base_length(state_LF: np.ndarray) -> int:
  """Unpadded length: the number of non-PAD positions (padding is trailing)."""
  return int((np.asarray(state_LF)[:, vocab_lib.SYNTAX] != vocab_lib.PAD).sum())


def definitions(state_LF: np.ndarray, vocab: vocab_lib.Vocab) -> dict[int, tuple[int, int]]:
  """{variable name: (defining position, value)} of a solved state.

  A defining occurrence is a variable token right after '='. Raises if one
  carries no value (the state is not solved).
  """
  state_LF = np.asarray(state_LF)
  syntax_L = state_LF[:, vocab_lib.SYNTAX]
  is_definition_L = np.zeros_like(syntax_L, dtype=bool)
  is_definition_L[1:] = (syntax_L[1:] == vocab_lib.VAR_TOKEN) & (syntax_L[:-1] == vocab_lib.EQUALS)
  result = {}
  for position in np.flatnonzero(is_definition_L):
    name, value = (int(v) for v in state_LF[position, [vocab_lib.VARIABLE, vocab_lib.VALUE]])
    if value >= vocab.modulus:
      raise ValueError(f"variable x_{name} at position {position} has no value: pass a solved "
                       "(target) state")
    result[name] = (int(position), value)
  return result


def leaf_names(state_LF: np.ndarray, vocab: vocab_lib.Vocab) -> list[int]:
  """Defined variables whose equation is a leaf `value = x` (in order of definition)."""
  state_LF = np.asarray(state_LF)
  return [name for name, (position, _) in definitions(state_LF, vocab).items()
          if position >= 2 and state_LF[position - 2, vocab_lib.SYNTAX] == vocab_lib.VALUE_TOKEN]


def unused_name(state_LF: np.ndarray, vocab: vocab_lib.Vocab) -> int:
  """The smallest variable name that does not occur in the state."""
  used = set(np.asarray(state_LF)[:, vocab_lib.VARIABLE].tolist())
  for name in range(vocab.num_names):
    if name not in used:
      return name
  raise ValueError(f"all {vocab.num_names} names are used: no fresh name for the probe rhs")


def probe_tokens(vocab: vocab_lib.Vocab, operands_BS: np.ndarray, rhs_name: int,
                 ops: Sequence[int] = (vocab_lib.ADD, vocab_lib.ADD)) -> np.ndarray:
  """Tokens of ` ; v0 op v1 op v2 = rhs` for each row of operand names: [B, 8, F]."""
  operands_BS = np.asarray(operands_BS, dtype=np.int32)
  batch = operands_BS.shape[0]
  na_row = (vocab_lib.PAD, vocab.var_na, vocab_lib.OP_NA, vocab.value_na)
  tokens_BPF = np.tile(np.asarray(na_row, np.int32), (batch, PROBE_LENGTH, 1))
  tokens_BPF[:, 0, vocab_lib.SYNTAX] = vocab_lib.SEPARATOR
  for slot, offset in enumerate(OPERAND_OFFSETS):
    tokens_BPF[:, offset, vocab_lib.SYNTAX] = vocab_lib.VAR_TOKEN
    tokens_BPF[:, offset, vocab_lib.VARIABLE] = operands_BS[:, slot]
    tokens_BPF[:, offset, vocab_lib.VALUE] = vocab.value_empty  # Uses never carry values.
  for i, op in enumerate(ops):
    tokens_BPF[:, OPERAND_OFFSETS[i] + 1, vocab_lib.SYNTAX] = vocab_lib.OP_TOKEN
    tokens_BPF[:, OPERAND_OFFSETS[i] + 1, vocab_lib.OPERATION] = op
  tokens_BPF[:, RHS_OFFSET - 1, vocab_lib.SYNTAX] = vocab_lib.EQUALS
  tokens_BPF[:, RHS_OFFSET, vocab_lib.SYNTAX] = vocab_lib.VAR_TOKEN
  tokens_BPF[:, RHS_OFFSET, vocab_lib.VARIABLE] = rhs_name
  tokens_BPF[:, RHS_OFFSET, vocab_lib.VALUE] = vocab.value_empty  # Not yet computed.
  return tokens_BPF


def padded_length(length: int, bucket: int = 32) -> int:
  """Length of a probe sequence rounded up to a multiple of `bucket`."""
  return -(-(length + PROBE_LENGTH) // bucket) * bucket


def append_probes(state_LF: np.ndarray, vocab: vocab_lib.Vocab, operands_BS: np.ndarray, *,
                  rhs_name: int | None = None, ops: Sequence[int] = (vocab_lib.ADD, vocab_lib.ADD),
                  definition_values_BS: np.ndarray | None = None, bucket: int = 32) -> ProbeBatch:
  """Appends one probe equation per row of `operands_BS` to the same solved base.

  Args:
    state_LF: solved (target) state of one problem, possibly padded.
    vocab: the vocabulary of the model.
    operands_BS: [B, 3] names of v0, v1, v2 (defined variables of the base).
    rhs_name: fresh name of the probe's rhs (default: the smallest unused one).
    ops: the two operations of the probe; the answer follows them left to right.
    definition_values_BS: if given, the values written at the operands'
      definitions (leaf value tokens included) instead of the base's values:
      the value grid. Rows must not give one variable two different values.
    bucket: the sequence length is rounded up to a multiple of this.
  """
  state_LF = np.asarray(state_LF, dtype=np.int32)
  operands_BS = np.asarray(operands_BS, dtype=np.int32)
  length = base_length(state_LF)
  defined = definitions(state_LF, vocab)
  missing = sorted({int(n) for n in operands_BS.ravel()} - set(defined))
  if missing:
    raise ValueError(f"operands {missing} are not defined in the base problem")
  rhs_name = unused_name(state_LF, vocab) if rhs_name is None else rhs_name
  if rhs_name in defined or rhs_name in operands_BS:
    raise ValueError(f"rhs name {rhs_name} is already used")

  batch = operands_BS.shape[0]
  total = padded_length(length, bucket)
  na_row = np.asarray((vocab_lib.PAD, vocab.var_na, vocab_lib.OP_NA, vocab.value_na), np.int32)
  tokens_BLF = np.tile(na_row, (batch, total, 1))
  tokens_BLF[:, :length] = state_LF[None, :length]
  tokens_BLF[:, length:length + PROBE_LENGTH] = probe_tokens(vocab, operands_BS, rhs_name, ops)

  lookup_position = np.vectorize(lambda n: defined[int(n)][0], otypes=[np.int32])
  lookup_value = np.vectorize(lambda n: defined[int(n)][1], otypes=[np.int32])
  definition_position_BS = lookup_position(operands_BS)
  if definition_values_BS is None:
    values_BS = lookup_value(operands_BS)
  else:
    values_BS = np.asarray(definition_values_BS, dtype=np.int32) % vocab.modulus
    rows_B = np.arange(batch)[:, None]
    tokens_BLF[rows_B, definition_position_BS, vocab_lib.VALUE] = values_BS
    # A leaf `v = x` also shows its value on the value token two positions back.
    is_leaf_BS = (state_LF[definition_position_BS - 2, vocab_lib.SYNTAX] == vocab_lib.VALUE_TOKEN)
    leaf_rows, leaf_slots = np.nonzero(is_leaf_BS)
    tokens_BLF[leaf_rows, definition_position_BS[leaf_rows, leaf_slots] - 2,
               vocab_lib.VALUE] = values_BS[leaf_rows, leaf_slots]
    # The value actually present at each definition (the last write wins for repeated names).
    values_BS = tokens_BLF[rows_B, definition_position_BS, vocab_lib.VALUE]

  answer_B = values_BS[:, 0]
  for i, op in enumerate(ops):
    answer_B = vocab_lib.apply_op(op, answer_B, values_BS[:, i + 1], vocab.modulus)
  return ProbeBatch(
      tokens_BLF=tokens_BLF,
      rhs_position_B=np.full((batch,), length + RHS_OFFSET, np.int32),
      operand_position_BS=np.tile(np.asarray(OPERAND_OFFSETS, np.int32) + length, (batch, 1)),
      definition_position_BS=definition_position_BS,
      operand_value_BS=values_BS,
      answer_B=np.asarray(answer_B, np.int32),
  )


def distinct_value_variables(state_LF: np.ndarray, vocab: vocab_lib.Vocab) -> list[int]:
  """One defined variable per distinct value (the first defined), sorted by value."""
  by_value = {}
  for name, (_, value) in definitions(state_LF, vocab).items():
    by_value.setdefault(value, name)
  return [by_value[v] for v in sorted(by_value)]


def slot_grid(state_LF: np.ndarray, vocab: vocab_lib.Vocab, slot: int, fixed_GT: np.ndarray,
              varying_V: Sequence[int], **kwargs) -> ProbeBatch:
  """Probes where `slot` takes each name of `varying_V` under each fixed setting.

  Args:
    fixed_GT: [G, 2] names of the two other slots, in slot order.
    varying_V: names for the varied slot.
  Returns a batch of G * V probes ordered (setting, varied value): reshape
  per-probe results to [G, V, ...] for heads.relative_variance.
  """
  fixed_GT = np.asarray(fixed_GT, dtype=np.int32)
  varying_V = np.asarray(varying_V, dtype=np.int32)
  num_settings, num_values = fixed_GT.shape[0], varying_V.shape[0]
  operands_GVS = np.zeros((num_settings, num_values, NUM_SLOTS), np.int32)
  others = [s for s in range(NUM_SLOTS) if s != slot]
  operands_GVS[:, :, slot] = varying_V[None, :]
  for column, other in enumerate(others):
    operands_GVS[:, :, other] = fixed_GT[:, None, column]
  return append_probes(state_LF, vocab, operands_GVS.reshape(-1, NUM_SLOTS), **kwargs)


def random_slot_grids(state_LF: np.ndarray, vocab: vocab_lib.Vocab, *, num_settings: int,
                      num_values: int | None = None, seed: int | Sequence[int] = 0,
                      **kwargs) -> list[ProbeBatch]:
  """One slot grid per slot with random fixed settings on one base problem.

  The varied slot runs over `num_values` variables with distinct values
  (default: every distinct value in the base); the fixed settings are drawn
  uniformly from all defined variables. Each batch holds num_settings *
  num_values probes ordered (setting, value).
  """
  rng = np.random.default_rng(seed)
  varying = distinct_value_variables(state_LF, vocab)
  num_values = len(varying) if num_values is None else num_values
  if not 2 <= num_values <= len(varying):
    raise ValueError(f"num_values={num_values}: the base has {len(varying)} distinct values")
  defined = np.asarray(sorted(definitions(state_LF, vocab)), np.int32)
  grids = []
  for slot in range(NUM_SLOTS):
    chosen = rng.choice(len(varying), size=num_values, replace=False)
    varying_V = np.sort(np.asarray(varying)[chosen])
    fixed_GT = rng.choice(defined, size=(num_settings, NUM_SLOTS - 1))
    grids.append(slot_grid(state_LF, vocab, slot, fixed_GT, varying_V, **kwargs))
  return grids


def value_grid_batches(state_LF: np.ndarray, vocab: vocab_lib.Vocab, operands: Sequence[int], *,
                       batch_size: int = 1024, **kwargs) -> Iterator[ProbeBatch]:
  """The p^3 probes `v0 + v1 + v2 = rhs` with (v0, v1, v2) defined as every (a, b, c).

  `operands` are three distinct defined variables (leaves keep the base
  consistent upstream: see `leaf_names`). Probes come in row-major (a, b, c)
  order, in batches of at most `batch_size`: concatenate per-probe results and
  reshape to [p, p, p, ...].
  """
  operands = tuple(int(n) for n in operands)
  if len(operands) != NUM_SLOTS or len(set(operands)) != NUM_SLOTS:
    raise ValueError(f"need {NUM_SLOTS} distinct operands, got {operands}")
  p = vocab.modulus
  values_NS = np.stack(np.unravel_index(np.arange(p ** NUM_SLOTS), (p,) * NUM_SLOTS), axis=-1)
  for start in range(0, len(values_NS), batch_size):
    values_BS = values_NS[start:start + batch_size]
    operands_BS = np.tile(np.asarray(operands, np.int32), (len(values_BS), 1))
    yield append_probes(state_LF, vocab, operands_BS, definition_values_BS=values_BS, **kwargs)
