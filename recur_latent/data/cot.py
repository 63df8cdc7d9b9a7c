"""Chain-of-thought sequences for the causal-LM baseline (SPEC method 3).

Flat ids (vocab.FlatVocab). One sequence is
  BOS, the problem's equations (as in the text format, ';' between them),
  TRACE, the trace, EOS, PAD...
The trace visits the equations in input order, one step each, every step
ending with ';':
  leaf      `x_7 = 20 ;`
  copy      `x_5 = x_9 = 17 ;`
  computed  `x_4 = x_1 * x_2 - x_3 = 17 ;`

Loss convention (next-token prediction): `targets_BL[b, i] = tokens_BL[b, i+1]`
(PAD after the end) and `loss_mask_BL[b, i] = 1` exactly where that target is
a trace token or the final EOS, i.e. for i in [prompt_length - 1,
length - 2]. Train with CE(model(tokens_BL)[b, i], targets_BL[b, i]) weighted
by loss_mask_BL. At test time feed tokens[:prompt_length] (ending in TRACE)
and decode greedily until EOS.
"""
import numpy as np

from recur_latent.data import graphs as graphs_lib
from recur_latent.data import problems as problems_lib
from recur_latent.data import tokenize as tokenize_lib
from recur_latent.data.vocab import FlatVocab

COT_KEYS = ("tokens_BL", "targets_BL", "loss_mask_BL", "prompt_length_B",
            "length_B", "graph_depth_B", "num_nodes_B")

def cot_batch(graphs: graphs_lib.GraphBatch, *, pad_to=None,
              bucket: int = 32) -> dict[str, np.ndarray]:
  """Chain-of-thought sequences of a GraphBatch (COT_KEYS), vectorized."""
  flat = FlatVocab(graphs.modulus, graphs.num_names)
  fields = tokenize_lib.equation_fields(graphs)
  k_GE = fields["k_GE"]
  G, E = k_GE.shape
  prompt_length_G = tokenize_lib.equation_layout(k_GE)[2] + 2  # BOS ... TRACE.
  step_GE = np.where(k_GE == 0, 4, 2 * k_GE + 4)
  trace_start_GE = np.cumsum(step_GE, axis=1) - step_GE
  length_G = prompt_length_G + step_GE.sum(axis=1) + 1  # Trace and EOS.
  L = tokenize_lib.padded_length(int(length_G.max(initial=0)), pad_to=pad_to,
                                 bucket=bucket)

  tokens_GW = np.zeros((G, L + tokenize_lib.SLACK), dtype=np.int32)  # PAD is 0.
  tokenize_lib.write_equations(tokens_GW, fields, flat, offset_G=1)
  rows_G = np.arange(G)
  tokens_GW[:, 0] = flat.BOS
  tokens_GW[rows_G, prompt_length_G - 1] = flat.TRACE
  _write_trace(tokens_GW, fields, flat, trace_start_GE + prompt_length_G[:, None], step_GE)
  tokens_GW[rows_G, length_G - 1] = flat.EOS
  tokenize_lib.clear_after(tokens_GW, length_G)
  tokens_BL = np.ascontiguousarray(tokens_GW[:, :L])

  targets_BL = np.zeros_like(tokens_BL)
  targets_BL[:, :-1] = tokens_BL[:, 1:]
  i_L = np.arange(L)
  loss_mask_BL = ((i_L >= (prompt_length_G - 1)[:, None])
                  & (i_L <= (length_G - 2)[:, None])).astype(np.int32)
  return dict(
      tokens_BL=tokens_BL, targets_BL=targets_BL, loss_mask_BL=loss_mask_BL,
      prompt_length_B=prompt_length_G.astype(np.int32),
      length_B=length_G.astype(np.int32),
      graph_depth_B=graphs.graph_depth_G.astype(np.int32),
      num_nodes_B=np.full(G, E, dtype=np.int32))


def _write_trace(tokens_GW, fields, flat, column_GE, step_GE):
  """Writes every trace step `rhs = lhs = value ;` at its column.

  As in tokenize.write_equations: the tokens a step may lack are written
  unconditionally, highest slot first, then the ones every step has, so that
  a stray write is overwritten by a later one (or cleared by the caller).
  """
  G, W = tokens_GW.shape
  base_GE = column_GE + (np.arange(G) * W)[:, None]
  out = tokens_GW.reshape(-1)
  names_GEK = fields["operand_names_GEK"] + flat.name_base
  ops_GEK = fields["ops_GEK"] + flat.OP_BASE
  out[base_GE + 6] = names_GEK[..., 2]
  out[base_GE + 5] = ops_GEK[..., 1]
  out[base_GE + 4] = names_GEK[..., 1]
  out[base_GE + 3] = ops_GEK[..., 0]
  out[base_GE + 2] = names_GEK[..., 0]
  out[base_GE] = fields["rhs_names_GE"] + flat.name_base
  out[base_GE + 1] = flat.EQUALS
  end_GE = base_GE + step_GE
  out[end_GE - 3] = flat.EQUALS  # The leaf's '=' (slot 1) again: harmless.
  out[end_GE - 2] = fields["values_GE"] + flat.VALUE_BASE
  out[end_GE - 1] = flat.SEPARATOR


def concat_cot_batches(batches, pad_to=None) -> dict[str, np.ndarray]:
  """Concatenates cot batches (e.g. of different N) after padding with PAD=0."""
  L = tokenize_lib.padded_length(max(b["tokens_BL"].shape[1] for b in batches),
                                 pad_to=pad_to, bucket=1)
  out = {}
  for key in COT_KEYS:
    if key.endswith("_BL"):
      out[key] = np.concatenate(
          [np.pad(b[key], ((0, 0), (0, L - b[key].shape[1]))) for b in batches])
    else:
      out[key] = np.concatenate([b[key] for b in batches])
  return out


def _lhs_ids(eq, flat):
  if eq.is_leaf:
    return [flat.VALUE_BASE + eq.leaf_value]
  ids = [flat.name_base + problems_lib.name_index(eq.operands[0])]
  for op, operand in zip(eq.ops, eq.operands[1:]):
    ids += [flat.OP_BASE + op, flat.name_base + problems_lib.name_index(operand)]
  return ids


def prompt_ids(problem: problems_lib.Problem, flat: FlatVocab) -> list[int]:
  """BOS, the equations, TRACE: what a CoT model is given to solve a problem."""
  ids = [flat.BOS]
  for index, eq in enumerate(problem.equations):
    if index:
      ids.append(flat.SEPARATOR)
    ids += _lhs_ids(eq, flat) + [flat.EQUALS, flat.name_base + problems_lib.name_index(eq.rhs)]
  return ids + [flat.TRACE]


def cot_ids(problem: problems_lib.Problem, flat: FlatVocab) -> list[int]:
  """The full sequence of one problem, prompt + trace + EOS (slow reference)."""
  values, _ = problems_lib.solve(problem)
  ids = prompt_ids(problem, flat)
  for eq in problem.equations:
    ids += [flat.name_base + problems_lib.name_index(eq.rhs), flat.EQUALS]
    if not eq.is_leaf:
      ids += _lhs_ids(eq, flat) + [flat.EQUALS]
    ids += [flat.VALUE_BASE + values[eq.rhs], flat.SEPARATOR]
  return ids + [flat.EOS]


def parse_trace(tokens_L, flat: FlatVocab) -> dict[str, int]:
  """Values a (predicted) sequence's trace assigns: {name: value}.

  Reads the steps after the first TRACE until EOS/PAD/end. A step counts if
  it starts `name =` and ends `= value ;` (its middle is not checked); a name
  given twice keeps its first value. Malformed steps are skipped, so a missing
  name means the model did not produce its value.
  """
  tokens = [int(t) for t in np.asarray(tokens_L).reshape(-1)]
  if flat.TRACE not in tokens:
    return {}
  values, step = {}, []
  for token in tokens[tokens.index(flat.TRACE) + 1:]:
    if token in (flat.EOS, flat.PAD):
      break
    if token != flat.SEPARATOR:
      step.append(token)
      continue
    if (len(step) >= 3 and flat.name_base <= step[0] < flat.size
        and step[1] == flat.EQUALS and step[-2] == flat.EQUALS
        and flat.VALUE_BASE <= step[-1] < flat.name_base):
      values.setdefault(problems_lib.var_name(step[0] - flat.name_base),
                        step[-1] - flat.VALUE_BASE)
    step = []
  return values


def ids_to_text(tokens_L, flat: FlatVocab) -> str:
  """Space-joined token strings (PAD dropped), for reading sequences."""
  strings = flat.token_strings()
  return " ".join(strings[int(t)] for t in np.asarray(tokens_L).reshape(-1)
                  if t != flat.PAD)
