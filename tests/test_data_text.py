"""Tests of the problem text format, its parse errors and JSON Lines files."""
import json

import pytest

from recur_latent.data import graphs
from recur_latent.data import problems
from recur_latent.data import text

_EXAMPLE = "20 = x_7 ; 2 = x_42 ; x_7 + x_42 = x_23 ; x_23 * x_7 - x_42 = x_101 ; x_23 = x_5"


def test_parse_example_and_solve():
  problem = text.parse(_EXAMPLE)
  assert problem.names == ["x_7", "x_42", "x_23", "x_101", "x_5"]
  assert problem.equations[3] == problems.Equation(
      rhs="x_101", operands=("x_23", "x_7", "x_42"), ops=(2, 1))
  values, depths = problems.solve(problem)
  assert values == {"x_7": 20, "x_42": 2, "x_23": 22, "x_101": (22 * 20 - 2) % 23, "x_5": 22}
  assert depths == {"x_7": 0, "x_42": 0, "x_23": 1, "x_101": 2, "x_5": 2}
  assert text.render(problem) == _EXAMPLE


def test_extra_whitespace_is_accepted_and_output_is_canonical():
  messy = "  20=x_7;\t2   = x_42 ;x_7+x_42=x_23\n;x_23*x_7 -x_42 = x_101 ; x_23 = x_5  "
  assert text.render(text.parse(messy)) == _EXAMPLE


def test_round_trip_of_random_problems():
  batch = graphs.sample_graphs(0, 50, 20, ops=("add", "sub", "mul"), modulus=11,
                               num_names=32)
  for problem in problems.graphs_to_problems(batch):
    rendered = text.render(problem)
    assert text.parse(rendered, modulus=11, num_names=32) == problem.without_solution()
    assert problems.solve(text.parse(rendered, modulus=11, num_names=32)) == (
        problem.values, problem.depths)


def test_solver_accepts_any_equation_order_and_rejects_cycles():
  problem = text.parse(_EXAMPLE)
  shuffled = problems.Problem(equations=problem.equations[::-1], modulus=23)
  assert problems.solve(shuffled)[0] == problems.solve(problem)[0]
  cycle = problems.Problem(equations=(
      problems.Equation(rhs="x_1", operands=("x_2",)),
      problems.Equation(rhs="x_2", operands=("x_1",))))
  with pytest.raises(ValueError, match="cycle"):
    problems.solve(cycle)


# (case id, text, faulty equation index, text at the reported column, reason)
_FAULTS = [
    ("empty_problem", "  ", None, None, "empty problem"),
    ("empty_equation", "1 = x_1 ;  ; x_1 = x_2", 1, None, "empty equation"),
    ("trailing_separator", "1 = x_1 ;", 1, None, "empty equation"),
    ("missing_equals", "1 = x_1 ; x_1 + x_1 x_2", 1, None, "missing '='"),
    ("two_equals", "1 = x_1 = x_2", 0, "= x_2", "more than one '='"),
    ("unknown_operator", "1 = x_1 ; x_1 / x_1 = x_2", 1, "/", "unknown operator '/'"),
    ("malformed_name", "1 = y_1", 0, "y_1", "malformed variable name"),
    ("name_leading_zero", "1 = x_01", 0, "x_01", "malformed variable name"),
    ("name_outside_vocabulary", "1 = x_128", 0, "x_128", "outside the vocabulary"),
    ("value_too_large", "23 = x_1", 0, "23", "out of range"),
    ("value_negative", "-4 = x_1", 0, "-4", "out of range"),
    ("non_integer_value", "2.5 = x_1", 0, "2.5", "not a non-negative integer"),
    ("use_before_definition", "1 = x_1 ; x_1 + x_2 = x_3 ; 2 = x_2", 1, "x_2 =",
     "x_2 is used before its definition"),
    ("duplicate_definition", "1 = x_1 ; 2 = x_1", 1, "x_1", "x_1 is defined twice"),
    ("leaf_value_on_right", "1 = x_1 ; x_1 = 5", 1, "5", "must be a variable"),
    ("constant_in_computation", "1 = x_1 ; x_1 + 2 = x_2", 1, "2 =", "only appear alone"),
    ("too_many_operands", "1 = x_1 ; x_1 + x_1 - x_1 + x_1 = x_2", 1, "x_1 = x_2",
     "too many operands (4)"),
    ("two_operators_in_a_row", "1 = x_1 ; x_1 + * x_1 = x_2", 1, "*", "expected an operand"),
    ("trailing_operator", "1 = x_1 ; x_1 + = x_2", 1, "+", "ends with an operator"),
    ("two_operands_in_a_row", "1 = x_1 ; x_1 x_1 = x_2", 1, "x_1 =", "expected an operator"),
    ("missing_left_side", "= x_1", 0, "= x_1", "missing left-hand side"),
    ("missing_right_side", "1 = x_1 ; x_1 + x_1 =", 1, None, "missing right-hand side"),
    ("two_right_side_tokens", "1 = x_1 x_2", 0, "x_2", "single variable"),
]


@pytest.mark.parametrize("source, equation_index, at, reason", [f[1:] for f in _FAULTS],
                         ids=[f[0] for f in _FAULTS])
def test_parse_error(source, equation_index, at, reason):
  with pytest.raises(text.ProblemParseError) as caught:
    text.parse(source)
  error = caught.value
  assert isinstance(error, ValueError)
  assert reason in error.reason and reason in str(error)
  assert error.equation_index == equation_index
  if at is not None:
    assert error.column == source.rindex(at) + 1, str(error)
  if equation_index is not None:
    equation_text = source.split(";")[equation_index]
    assert f"equation {equation_index}" in str(error)
    assert equation_text in str(error)  # The message shows the equation...
    caret_line = str(error).splitlines()[-1]  # ...and points at the fault.
    assert len(caret_line) - 2 == error.column - sum(
        len(s) + 1 for s in source.split(";")[:equation_index])


def test_modulus_and_vocabulary_are_parameters():
  assert text.parse("30 = x_200", modulus=31, num_names=256).equations[0].leaf_value == 30
  with pytest.raises(text.ProblemParseError, match="out of range"):
    text.parse("5 = x_1", modulus=5)


def test_jsonl_round_trip(tmp_path):
  batch = graphs.sample_graphs(1, 20, 12, ops=("add", "mul"))
  originals = problems.graphs_to_problems(batch)
  path = tmp_path / "problems.jsonl"
  text.write_jsonl(path, originals)
  record = json.loads(path.read_text().splitlines()[0])
  assert set(record) == {"problem", "modulus", "values", "depths"}
  assert text.read_jsonl(path) == originals
  text.write_jsonl(path, originals, with_solution=False)
  assert set(json.loads(path.read_text().splitlines()[0])) == {"problem", "modulus"}
  assert text.read_jsonl(path) == [p.without_solution() for p in originals]


def _write_lines(tmp_path, lines):
  path = tmp_path / "bad.jsonl"
  path.write_text("\n".join(lines) + "\n")
  return path


def test_jsonl_errors_name_the_file_line(tmp_path):
  good = json.dumps({"problem": "1 = x_1", "modulus": 23})
  path = _write_lines(tmp_path, [good, "", good, json.dumps({"problem": "1 = x_1 ; x_9 = x_2"})])
  with pytest.raises(text.ProblemParseError) as caught:
    text.read_jsonl(path)
  assert caught.value.line == 4 and "line 4" in str(caught.value)
  assert "used before" in str(caught.value)
  with pytest.raises(ValueError, match="line 2: not valid JSON"):
    text.read_jsonl(_write_lines(tmp_path, [good, "{oops"]))
  wrong = json.dumps({"problem": "1 = x_1 ; x_1 + x_1 = x_2", "values": {"x_1": 1, "x_2": 3}})
  with pytest.raises(ValueError, match="line 1: 'values' disagree .* x_2"):
    text.read_jsonl(_write_lines(tmp_path, [wrong]))
