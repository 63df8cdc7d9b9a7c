"""Problems as equations over named variables, and their exact solver.

A `Problem` is the representation shared by the text format, the JSON Lines
files and the slow tokenizer; `solve` is the ground truth for every test and
every evaluation.
"""
import dataclasses
import re

from recur_latent.data import graphs as graphs_lib
from recur_latent.data import vocab as vocab_lib

NAME_RE = re.compile(r"x_(0|[1-9][0-9]*)")  # Canonical names: no leading zeros.


def var_name(index: int) -> str:
  return f"x_{index}"


def name_index(name: str) -> int:
  """The index of a canonical variable name ('x_7' -> 7)."""
  match = NAME_RE.fullmatch(name)
  if match is None:
    raise ValueError(f"malformed variable name {name!r}; expected x_<int>")
  return int(match.group(1))


@dataclasses.dataclass(frozen=True)
class Equation:
  """`leaf_value = rhs` (a leaf) or `operands[0] ops[0] operands[1] ... = rhs`."""

  rhs: str  # The variable this equation defines.
  operands: tuple[str, ...] = ()  # Left-hand side variables; empty for a leaf.
  ops: tuple[int, ...] = ()  # len(operands) - 1 operation ids (vocab.ADD/SUB/MUL).
  leaf_value: int | None = None  # The constant of a leaf equation.

  def __post_init__(self):
    if (self.leaf_value is None) == (not self.operands):
      raise ValueError(f"an equation has either a leaf value or operands: {self}")
    if len(self.ops) != max(len(self.operands) - 1, 0):
      raise ValueError(f"{len(self.operands)} operands need "
                       f"{max(len(self.operands) - 1, 0)} ops: {self}")

  @property
  def is_leaf(self) -> bool:
    return self.leaf_value is not None


@dataclasses.dataclass(frozen=True)
class Problem:
  """Equations in the order they are written, plus an optional solution."""

  equations: tuple[Equation, ...]
  modulus: int = 23
  values: dict[str, int] | None = None  # Variable name -> value.
  depths: dict[str, int] | None = None  # Variable name -> depth (leaves 0).

  @property
  def names(self) -> list[str]:
    """Defined variables in equation order."""
    return [eq.rhs for eq in self.equations]

  def with_solution(self) -> "Problem":
    values, depths = solve(self)
    return dataclasses.replace(self, values=values, depths=depths)

  def without_solution(self) -> "Problem":
    return dataclasses.replace(self, values=None, depths=None)


def solve(problem: Problem) -> tuple[dict[str, int], dict[str, int]]:
  """Exact values and depths of every variable, evaluated in topological order.

  The equations may come in any order; an undefined operand, a duplicate
  definition or a cycle raises ValueError.
  """
  definitions = {}
  for eq in problem.equations:
    if eq.rhs in definitions:
      raise ValueError(f"{eq.rhs} is defined twice")
    definitions[eq.rhs] = eq
  values, depths = {}, {}
  p = problem.modulus
  for root in definitions:
    # Iterative depth-first evaluation; `on_path` detects cycles.
    stack, on_path = [root], set()
    while stack:
      name = stack[-1]
      if name in values:
        stack.pop()
        continue
      eq = definitions[name]
      pending = [x for x in eq.operands if x not in values]
      if pending:
        on_path.add(name)
        for operand in pending:
          if operand not in definitions:
            raise ValueError(f"{operand} is used by {name} but never defined")
          if operand in on_path:
            raise ValueError(f"cycle through {operand} and {name}")
        stack.extend(pending)
        continue
      on_path.discard(name)
      stack.pop()
      if eq.is_leaf:
        values[name], depths[name] = eq.leaf_value % p, 0
        continue
      value = values[eq.operands[0]]
      for op, operand in zip(eq.ops, eq.operands[1:]):
        value = vocab_lib.apply_op(op, value, values[operand], p)
      values[name] = value
      depths[name] = 1 + max(depths[x] for x in eq.operands)
  order = [eq.rhs for eq in problem.equations]
  return {x: values[x] for x in order}, {x: depths[x] for x in order}


def graph_to_problem(graphs: graphs_lib.GraphBatch, index: int, *,
                     with_solution: bool = True) -> Problem:
  """Graph `index` of a batch, its equations in the batch's equation order."""
  names = graphs.names_GN[index]
  equations = []
  for node in graphs.order_GN[index]:
    rhs = var_name(int(names[node]))
    k = int(graphs.num_parents_GN[index, node])
    if k == 0:
      equations.append(Equation(rhs=rhs, leaf_value=int(graphs.values_GN[index, node])))
    else:
      parents = graphs.parents_GNK[index, node, :k]
      equations.append(Equation(
          rhs=rhs, operands=tuple(var_name(int(names[j])) for j in parents),
          ops=tuple(int(op) for op in graphs.ops_GNK[index, node, :k - 1])))
  problem = Problem(equations=tuple(equations), modulus=graphs.modulus)
  if not with_solution:
    return problem
  order = graphs.order_GN[index]
  return dataclasses.replace(
      problem,
      values={var_name(int(names[j])): int(graphs.values_GN[index, j]) for j in order},
      depths={var_name(int(names[j])): int(graphs.depths_GN[index, j]) for j in order})


def graphs_to_problems(graphs: graphs_lib.GraphBatch, *,
                       with_solution: bool = True) -> list[Problem]:
  return [graph_to_problem(graphs, g, with_solution=with_solution)
          for g in range(graphs.num_graphs)]
