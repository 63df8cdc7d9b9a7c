"""Factored tokens of problems (the layout of design_notes.md, exactly).

Equations in order, joined by SEPARATOR, then PAD to a bucketed length:
  leaf      `20 = x_7`          [VALUE(20), EQUALS, VAR(7)]
  copy      `x_5 = x_9`         [VAR(5), EQUALS, VAR(9)]
  computed  `x_1 * x_2 = x_4`   [VAR(1), OP(MUL), VAR(2), EQUALS, VAR(4)]
Variable tokens carry value EMPTY in the input; the target has the true value
at each defining (right-hand side) variable token.

`tokenize_graphs` builds a batch with numpy index arithmetic (no loop over
graphs); `tokenize_problems` is the slow reference with identical output.
"""
import numpy as np

from recur_latent.data import graphs as graphs_lib
from recur_latent.data import problems as problems_lib
from recur_latent.data import vocab as vocab_lib
from recur_latent.data.vocab import SYNTAX, VARIABLE, OPERATION, VALUE

BATCH_KEYS = ("inputs_BLF", "targets_BLF", "node_depth_BL", "graph_depth_B",
              "num_nodes_B", "length_B")

# Rows get this many spare columns: writes meant for slots an equation lacks
# may land up to a few positions past the last token (see write_equations).
SLACK = 8


def padded_length(max_length: int, *, pad_to=None, bucket: int = 32) -> int:
  """`pad_to` (checked to fit), else max_length rounded up to the bucket."""
  if pad_to is not None:
    if pad_to < max_length:
      raise ValueError(f"pad_to={pad_to} is shorter than the longest problem "
                       f"({max_length} tokens)")
    return pad_to
  return max(-(-max_length // bucket) * bucket, bucket)


def equation_fields(graphs: graphs_lib.GraphBatch) -> dict[str, np.ndarray]:
  """Per-equation arrays [G, E] (E = N, in equation order) for tokenizers."""
  # Gathers use flat indices and np.take: much faster than take_along_axis.
  G, N = graphs.num_graphs, graphs.num_nodes
  row_base_G1 = (np.arange(G) * N)[:, None]
  node_GE = graphs.order_GN + row_base_G1

  def per_equation(array_GN):
    return np.take(array_GN.reshape(G * N, *array_GN.shape[2:]), node_GE, axis=0)

  parents_GEK = per_equation(graphs.parents_GNK)
  return dict(
      k_GE=per_equation(graphs.num_parents_GN),
      # Absent operands (-1) read the name of node 0; that write is overwritten.
      operand_names_GEK=np.take(graphs.names_GN.reshape(-1),
                                np.maximum(parents_GEK, 0) + row_base_G1[..., None]),
      ops_GEK=per_equation(graphs.ops_GNK),
      values_GE=per_equation(graphs.values_GN),
      depths_GE=per_equation(graphs.depths_GN),
      rhs_names_GE=per_equation(graphs.names_GN))


def equation_layout(k_GE):
  """(start_GE, lhs_len_GE, length_G) of equations with k_GE operands."""
  lhs_len_GE = np.where(k_GE == 0, 1, 2 * k_GE - 1)
  step_GE = lhs_len_GE + 3  # LHS, '=', RHS, separator.
  start_GE = np.cumsum(step_GE, axis=1) - step_GE
  length_G = start_GE[:, -1] + step_GE[:, -1] - 1  # No trailing separator.
  return start_GE, lhs_len_GE, length_G


def write_equations(out_GW, fields, flat: vocab_lib.FlatVocab, *, offset_G=0):
  """Writes the equations as flat ids (';' between them) into rows of out_GW.

  Equation tokens start at column offset_G. Tokens an equation may lack (op1,
  second operand, op2, third operand) are written for every equation, highest
  slot first, and then the tokens every equation has: a write meant for a
  missing slot lands on a later token of the same or the next equation, which
  is written after it, or at most SLACK - 1 columns past the end, which the
  caller clears (`clear_after`). This avoids masks and gathers on the hot path.
  Returns the column of each equation's right-hand side.
  """
  if not out_GW.flags.c_contiguous:
    raise ValueError("write_equations writes through a flat view: pass a contiguous array")
  k_GE = fields["k_GE"]
  G, W = out_GW.shape
  start_GE, lhs_len_GE, _ = equation_layout(k_GE)
  column_GE = start_GE + np.reshape(offset_G, (-1, 1))
  base_GE = column_GE + (np.arange(G) * W)[:, None]
  out = out_GW.reshape(-1)
  names_GEK = fields["operand_names_GEK"] + flat.name_base
  ops_GEK = fields["ops_GEK"] + flat.OP_BASE
  out[base_GE + 4] = names_GEK[..., 2]
  out[base_GE + 3] = ops_GEK[..., 1]
  out[base_GE + 2] = names_GEK[..., 1]
  out[base_GE + 1] = ops_GEK[..., 0]
  out[base_GE] = np.where(k_GE == 0, fields["values_GE"] + flat.VALUE_BASE,
                          names_GEK[..., 0])
  rhs_GE = base_GE + lhs_len_GE + 1
  out[rhs_GE - 1] = flat.EQUALS
  out[rhs_GE] = fields["rhs_names_GE"] + flat.name_base
  out[rhs_GE[:, :-1] + 1] = flat.SEPARATOR
  return column_GE + lhs_len_GE + 1


def clear_after(out_GW, end_G):
  """Sets the SLACK columns from end_G on (stray writes) back to PAD (0)."""
  G, W = out_GW.shape
  row_base_G = np.arange(G) * W
  for d in range(SLACK):
    out_GW.reshape(-1)[np.minimum(end_G + d, W - 1) + row_base_G] = 0


def tokenize_graphs(graphs: graphs_lib.GraphBatch, *, pad_to=None,
                    bucket: int = 32) -> dict[str, np.ndarray]:
  """The batch dict (BATCH_KEYS) of a GraphBatch, vectorized."""
  flat = vocab_lib.FlatVocab(graphs.modulus, graphs.num_names)
  fields = equation_fields(graphs)
  length_G = equation_layout(fields["k_GE"])[2]
  L = padded_length(int(length_G.max(initial=0)), pad_to=pad_to, bucket=bucket)
  G = len(length_G)
  codes_GW = np.zeros((G, L + SLACK), dtype=np.int32)  # FlatVocab.PAD is 0.
  rhs_position_GE = write_equations(codes_GW, fields, flat)
  clear_after(codes_GW, length_G)
  codes_BL = codes_GW[:, :L]
  inputs_BLF = np.take(flat.factored_table(), codes_BL, axis=0)

  # The target differs only at right-hand sides: fill in the values there.
  rhs_flat_GE = rhs_position_GE + (np.arange(G) * L)[:, None]
  targets_BLF = inputs_BLF.copy()
  targets_BLF.reshape(-1, 4)[rhs_flat_GE.ravel(), VALUE] = fields["values_GE"].ravel()
  node_depth_BL = np.full((G, L), -1, dtype=np.int32)
  node_depth_BL.reshape(-1)[rhs_flat_GE.ravel()] = fields["depths_GE"].ravel()
  return dict(
      inputs_BLF=inputs_BLF, targets_BLF=targets_BLF, node_depth_BL=node_depth_BL,
      graph_depth_B=graphs.graph_depth_G.astype(np.int32),
      num_nodes_B=np.full(G, graphs.num_nodes, dtype=np.int32),
      length_B=length_G.astype(np.int32))


def _problem_rows(problem, vocab):
  """Input rows, target values and node depths of one problem (slow path)."""
  values, depths = problems_lib.solve(problem)
  na = (vocab.var_na, vocab_lib.OP_NA, vocab.value_na)
  rows, target_values, node_depths = [], [], []

  def add(row, target_value=None, depth=-1):
    rows.append(row)
    target_values.append(row[VALUE] if target_value is None else target_value)
    node_depths.append(depth)

  def add_var(name, **kwargs):
    add((vocab_lib.VAR_TOKEN, problems_lib.name_index(name), vocab_lib.OP_NA,
         vocab.value_empty), **kwargs)

  for index, eq in enumerate(problem.equations):
    if index:
      add((vocab_lib.SEPARATOR,) + na)
    if eq.is_leaf:
      add((vocab_lib.VALUE_TOKEN, vocab.var_na, vocab_lib.OP_NA, eq.leaf_value))
    else:
      add_var(eq.operands[0])
      for op, operand in zip(eq.ops, eq.operands[1:]):
        add((vocab_lib.OP_TOKEN, vocab.var_na, op, vocab.value_na))
        add_var(operand)
    add((vocab_lib.EQUALS,) + na)
    add_var(eq.rhs, target_value=values[eq.rhs], depth=depths[eq.rhs])
  return rows, target_values, node_depths, max(depths.values())


def tokenize_problems(problems, vocab: vocab_lib.Vocab, *, pad_to=None,
                      bucket: int = 32) -> dict[str, np.ndarray]:
  """The batch dict of a list of Problems (slow reference path)."""
  encoded = [_problem_rows(problem, vocab) for problem in problems]
  L = padded_length(max((len(e[0]) for e in encoded), default=0),
                    pad_to=pad_to, bucket=bucket)
  B = len(problems)
  inputs_BLF = np.empty((B, L, 4), dtype=np.int32)
  inputs_BLF[:] = (vocab_lib.PAD, vocab.var_na, vocab_lib.OP_NA, vocab.value_na)
  node_depth_BL = np.full((B, L), -1, dtype=np.int32)
  targets_BLF = inputs_BLF.copy()
  for b, (rows, target_values, node_depths, _) in enumerate(encoded):
    n = len(rows)
    inputs_BLF[b, :n] = rows
    targets_BLF[b, :n] = rows
    targets_BLF[b, :n, VALUE] = target_values
    node_depth_BL[b, :n] = node_depths
  return dict(
      inputs_BLF=inputs_BLF, targets_BLF=targets_BLF, node_depth_BL=node_depth_BL,
      graph_depth_B=np.array([e[3] for e in encoded], dtype=np.int32).reshape(B),
      num_nodes_B=np.array([len(p.equations) for p in problems], dtype=np.int32).reshape(B),
      length_B=np.array([len(e[0]) for e in encoded], dtype=np.int32).reshape(B))


def detokenize(tokens_LF: np.ndarray, vocab: vocab_lib.Vocab) -> problems_lib.Problem:
  """The Problem (equations only) written in one token sequence [L, 4].

  Reads the syntax, variable and operation factors (values only at VALUE
  tokens), so it works on inputs, targets and decoded model states alike.
  """
  equations, current = [], []
  for row in list(np.asarray(tokens_LF)) + [None]:
    if row is None or row[SYNTAX] in (vocab_lib.SEPARATOR, vocab_lib.PAD):
      if current:
        equations.append(_equation_from_rows(current, vocab))
      current = []
      if row is None or row[SYNTAX] == vocab_lib.PAD:
        break
    else:
      current.append(row)
  return problems_lib.Problem(equations=tuple(equations), modulus=vocab.modulus)


def _equation_from_rows(rows, vocab):
  syntax = [int(r[SYNTAX]) for r in rows]
  if len(rows) < 3 or syntax[-2:] != [vocab_lib.EQUALS, vocab_lib.VAR_TOKEN]:
    raise ValueError(f"malformed equation tokens: {np.asarray(rows).tolist()}")
  rhs = problems_lib.var_name(int(rows[-1][VARIABLE]))
  lhs = rows[:-2]
  if syntax[0] == vocab_lib.VALUE_TOKEN and len(lhs) == 1:
    return problems_lib.Equation(rhs=rhs, leaf_value=int(lhs[0][VALUE]))
  expected = [vocab_lib.VAR_TOKEN, vocab_lib.OP_TOKEN] * len(lhs)
  if syntax[:-2] != expected[:len(lhs)] or len(lhs) % 2 == 0:
    raise ValueError(f"malformed left-hand side tokens: {np.asarray(lhs).tolist()}")
  return problems_lib.Equation(
      rhs=rhs, operands=tuple(problems_lib.var_name(int(r[VARIABLE])) for r in lhs[::2]),
      ops=tuple(int(r[OPERATION]) for r in lhs[1::2]))


def read_values(tokens_LF: np.ndarray, vocab: vocab_lib.Vocab) -> dict[str, int]:
  """Values at the right-hand-side variable tokens (e.g. a model's prediction).

  A right-hand side is a VAR token right after EQUALS; entries whose value is
  EMPTY or N/A are left out (so a missing key means "not computed").
  """
  tokens_LF = np.asarray(tokens_LF)
  syntax_L = tokens_LF[:, SYNTAX]
  rhs_L = (syntax_L == vocab_lib.VAR_TOKEN) & np.concatenate(
      [[False], syntax_L[:-1] == vocab_lib.EQUALS])
  values = {}
  for row in tokens_LF[rhs_L]:
    if row[VALUE] < vocab.modulus:
      values.setdefault(problems_lib.var_name(int(row[VARIABLE])), int(row[VALUE]))
  return values


def state_after_iteration(inputs_BLF, targets_BLF, node_depth_BL, t):
  """The supervision target after iteration t (scalar or [B]).

  Values are filled at right-hand sides of depth <= t; everything else is the
  input. t = 0 fills the leaves; t >= graph depth gives the final target.
  """
  t_B1 = np.reshape(np.asarray(t), (-1, 1))
  filled_BL = (node_depth_BL >= 0) & (node_depth_BL <= t_B1)
  return np.where(filled_BL[..., None], targets_BLF, inputs_BLF)


def concat_batches(batches, pad_to=None, vocab: vocab_lib.Vocab | None = None):
  """Concatenates batch dicts along B after padding them to a common L.

  The padding row is read from the batches' own EQUALS tokens (every problem
  has one at position 1) unless `vocab` is given.
  """
  if not batches:
    raise ValueError("concat_batches needs at least one batch")
  L = padded_length(max(b["inputs_BLF"].shape[1] for b in batches), pad_to=pad_to,
                    bucket=1)
  if vocab is not None:
    pad_row = np.array([vocab_lib.PAD, vocab.var_na, vocab_lib.OP_NA, vocab.value_na])
  else:
    nonempty = [b["inputs_BLF"] for b in batches if len(b["inputs_BLF"])]
    if nonempty and nonempty[0][0, 1, SYNTAX] != vocab_lib.EQUALS:
      raise ValueError("cannot infer the padding row; pass vocab")
    pad_row = nonempty[0][0, 1].copy() if nonempty else np.zeros(4, np.int32)
    pad_row[SYNTAX] = vocab_lib.PAD
  out = {}
  for key in BATCH_KEYS:
    parts = []
    for batch in batches:
      array = batch[key]
      if key.endswith("_BLF") or key.endswith("_BL"):
        extra = L - array.shape[1]
        fill = pad_row if key.endswith("_BLF") else -1
        pad = np.empty((array.shape[0], extra) + array.shape[2:], dtype=array.dtype)
        pad[:] = fill
        array = np.concatenate([array, pad], axis=1)
      parts.append(array)
    out[key] = np.concatenate(parts, axis=0)
  return out
