"""The problem text format and JSON Lines problem files (SPEC section 1).

Text: equations joined by ` ; `. Leaf `20 = x_7`; copy `x_5 = x_9`; computed
`x_1 * x_2 - x_3 = x_4` (operators + - *, evaluated left to right mod p).
`parse` accepts any whitespace (or none) around tokens; `render` writes the
canonical form, so `render(parse(text))` normalizes whitespace only.
"""
import json
import re

from recur_latent.data import problems as problems_lib
from recur_latent.data import vocab as vocab_lib

SEPARATOR = " ; "
_SYMBOL_TO_OP = {s: i for i, s in enumerate(vocab_lib.OP_SYMBOLS)}
# One lexeme: a word (names, malformed names), a number-like run, '=', or any
# other single non-space character (operators, unknown symbols).
_LEXEME_RE = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_]*)|([0-9][0-9A-Za-z_.]*)|(\S))")
MAX_OPERANDS = vocab_lib.MAX_OPERANDS


class ProblemParseError(ValueError):
  """Bad problem text: names the equation, the column and the fault.

  Attributes:
    equation_index: 0-based index of the faulty equation (None if the whole
      text is at fault).
    column: 1-based column of the fault in the full problem text.
    reason: what is wrong, in words.
    line: 1-based line of a JSON Lines file, when read from one (else None).
  """

  def __init__(self, reason, *, text="", equation_index=None, column=1,
               equation_start=0, equation_text="", line=None):
    self.reason, self.equation_index, self.column, self.line = (
        reason, equation_index, column, line)
    where = f"line {line}: " if line is not None else ""
    if equation_index is None:
      message = f"{where}{reason} (problem text: {text!r})"
    else:
      caret = " " * max(column - 1 - equation_start, 0) + "^"
      message = (f"{where}equation {equation_index} (column {column}): {reason}\n"
                 f"  {equation_text}\n  {caret}")
    super().__init__(message)
    self.text = text
    self.equation_start, self.equation_text = equation_start, equation_text

  def at_line(self, line: int) -> "ProblemParseError":
    """The same error, also naming a file line."""
    return ProblemParseError(
        self.reason, text=self.text, equation_index=self.equation_index,
        column=self.column, equation_start=self.equation_start,
        equation_text=self.equation_text, line=line)


def render_equation(eq: problems_lib.Equation) -> str:
  if eq.is_leaf:
    return f"{eq.leaf_value} = {eq.rhs}"
  parts = [eq.operands[0]]
  for op, operand in zip(eq.ops, eq.operands[1:]):
    parts += [vocab_lib.OP_SYMBOLS[op], operand]
  return " ".join(parts) + f" = {eq.rhs}"


def render(problem: problems_lib.Problem) -> str:
  """The canonical text of a problem."""
  return SEPARATOR.join(render_equation(eq) for eq in problem.equations)


def _lex(segment: str, offset: int):
  """Yields (kind, text, column) lexemes; kind in word/number/symbol."""
  for match in _LEXEME_RE.finditer(segment):
    for kind, group in zip(("word", "number", "symbol"), (1, 2, 3)):
      if match.group(group) is not None:
        yield kind, match.group(group), offset + match.start(group) + 1


class _EquationParser:
  """Parses one equation; `fail` raises ProblemParseError located in it."""

  def __init__(self, text, index, start, segment, modulus, num_names):
    self.text, self.index, self.start = text, index, start
    self.segment, self.modulus, self.num_names = segment, modulus, num_names

  def fail(self, reason, column):
    raise ProblemParseError(
        reason, text=self.text, equation_index=self.index, column=column,
        equation_start=self.start, equation_text=self.segment)

  def operand(self, lexeme, allow_value):
    kind, token, column = lexeme
    if kind == "word":
      match = problems_lib.NAME_RE.fullmatch(token)
      if match is None:
        self.fail(f"malformed variable name {token!r}; expected x_<int> "
                  "(no leading zeros)", column)
      if int(match.group(1)) >= self.num_names:
        self.fail(f"variable {token} is outside the vocabulary x_0..x_"
                  f"{self.num_names - 1}", column)
      return "name", token
    if kind == "number":
      if not token.isdigit():
        self.fail(f"value {token!r} is not a non-negative integer", column)
      if int(token) >= self.modulus:
        self.fail(f"value {token} is out of range [0, {self.modulus})", column)
      if not allow_value:
        self.fail(f"constant {token} can only appear alone, as a leaf "
                  f"'{token} = x_<int>'", column)
      return "value", int(token)
    if token in _SYMBOL_TO_OP:
      self.fail(f"expected an operand, found operator {token!r}", column)
    self.fail(f"unknown operator {token!r}; expected one of "
              f"{' '.join(vocab_lib.OP_SYMBOLS)}", column)

  def parse(self, defined):
    lexemes = list(_lex(self.segment, self.start))
    end_column = self.start + len(self.segment.rstrip()) + 1
    if not lexemes:
      self.fail("empty equation", self.start + 1)
    equals = [i for i, (_, token, _) in enumerate(lexemes) if token == "="]
    if not equals:
      self.fail("missing '='", end_column)
    if len(equals) > 1:
      self.fail("more than one '='", lexemes[equals[1]][2])
    lhs, rhs = lexemes[:equals[0]], lexemes[equals[0] + 1:]
    if not lhs:
      self.fail("missing left-hand side before '='", lexemes[equals[0]][2])
    if not rhs:
      self.fail("missing right-hand side after '='", end_column)
    if len(rhs) > 1:
      self.fail("the right-hand side must be a single variable", rhs[1][2])
    if rhs[0][0] == "number":
      self.fail("the right-hand side must be a variable; write a leaf as "
                "'<value> = x_<int>'", rhs[0][2])
    _, rhs_name = self.operand(rhs[0], allow_value=False)
    if rhs_name in defined:
      self.fail(f"{rhs_name} is defined twice (first in equation "
                f"{defined[rhs_name]})", rhs[0][2])

    # A negative constant lexes as '-' then a number.
    if len(lhs) == 2 and lhs[0][1] == "-" and lhs[1][0] == "number":
      self.fail(f"value -{lhs[1][1]} is out of range [0, {self.modulus})", lhs[0][2])
    if len(lhs) == 1 and lhs[0][0] == "number":
      _, value = self.operand(lhs[0], allow_value=True)
      return problems_lib.Equation(rhs=rhs_name, leaf_value=value)

    operands, ops = [], []
    for position, lexeme in enumerate(lhs):
      kind, token, column = lexeme
      if position % 2 == 0:
        _, name = self.operand(lexeme, allow_value=False)
        if name not in defined:
          self.fail(f"{name} is used before its definition", column)
        operands.append(name)
      elif token in _SYMBOL_TO_OP:
        ops.append(_SYMBOL_TO_OP[token])
      elif kind == "symbol":
        self.fail(f"unknown operator {token!r}; expected one of "
                  f"{' '.join(vocab_lib.OP_SYMBOLS)}", column)
      else:
        self.fail(f"expected an operator between operands, found {token!r}", column)
    if len(ops) == len(operands):
      self.fail("the left-hand side ends with an operator", lhs[-1][2])
    if len(operands) > MAX_OPERANDS:
      self.fail(f"too many operands ({len(operands)}); at most {MAX_OPERANDS}",
                lhs[2 * MAX_OPERANDS][2])
    return problems_lib.Equation(rhs=rhs_name, operands=tuple(operands), ops=tuple(ops))


def parse(text: str, modulus: int = 23, num_names: int = 128) -> problems_lib.Problem:
  """Parses problem text (no solution attached); raises ProblemParseError."""
  if not text.strip():
    raise ProblemParseError("empty problem", text=text)
  equations, defined, start = [], {}, 0
  for index, segment in enumerate(text.split(";")):
    parser = _EquationParser(text, index, start, segment, modulus, num_names)
    equation = parser.parse(defined)
    defined[equation.rhs] = index
    equations.append(equation)
    start += len(segment) + 1
  return problems_lib.Problem(equations=tuple(equations), modulus=modulus)


def _check_solution(problem, record, key, expected, line):
  given = record.get(key)
  if given is None:
    return None
  if not isinstance(given, dict) or any(
      not isinstance(v, int) or isinstance(v, bool) for v in given.values()):
    raise ValueError(f"line {line}: {key!r} must map variable names to integers")
  if given != expected:
    wrong = sorted(set(given) ^ set(expected)) or sorted(
        x for x in expected if given[x] != expected[x])
    raise ValueError(f"line {line}: {key!r} disagree with the exact solution "
                     f"at {', '.join(wrong[:5])}")
  return {x: given[x] for x in problem.names}


def read_jsonl(path, *, num_names: int = 128) -> list[problems_lib.Problem]:
  """Reads a problem file; `values`/`depths`, when present, must be exact.

  Blank lines are skipped. Errors name the file line (1-based).
  """
  problems = []
  with open(path) as f:
    for line_number, line in enumerate(f, start=1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
      except json.JSONDecodeError as e:
        raise ValueError(f"line {line_number}: not valid JSON ({e})") from None
      if not isinstance(record, dict) or not isinstance(record.get("problem"), str):
        raise ValueError(f"line {line_number}: expected an object with a "
                         "'problem' string")
      modulus = record.get("modulus", 23)
      if not isinstance(modulus, int) or modulus < 2:
        raise ValueError(f"line {line_number}: 'modulus' must be an integer >= 2")
      try:
        problem = parse(record["problem"], modulus=modulus, num_names=num_names)
      except ProblemParseError as e:
        raise e.at_line(line_number) from None
      values, depths = problems_lib.solve(problem)
      problems.append(problems_lib.Problem(
          equations=problem.equations, modulus=modulus,
          values=_check_solution(problem, record, "values", values, line_number),
          depths=_check_solution(problem, record, "depths", depths, line_number)))
  return problems


def write_jsonl(path, problems, with_solution: bool = True) -> None:
  """Writes one problem per line, with its exact solution if asked."""
  with open(path, "w") as f:
    for problem in problems:
      record = {"problem": render(problem), "modulus": problem.modulus}
      if with_solution:
        values, depths = problems_lib.solve(problem)
        record["values"], record["depths"] = values, depths
      f.write(json.dumps(record) + "\n")
