"""Solving problem files (JSON Lines, SPEC section 1) with a trained factored model.

Each line is parsed on its own: a malformed line becomes an error record
naming the line (and, from the parser, the equation, column and fault) while
every other line is still solved. Problems are sorted by length and batched,
so a short problem is not padded to the longest one in the file. By default
the rollout halts at a fixed point (no oracle: the model decides when it is
done); 'oracle' halting reads the depth from the exact solver.
"""
import dataclasses
import json

import numpy as np

from recur_latent.data import problems as problems_lib
from recur_latent.data import text as text_lib
from recur_latent.data import tokenize as tokenize_lib
from recur_latent.data import vocab as vocab_lib
from recur_latent.evaluation import runners


@dataclasses.dataclass
class ProblemLine:
  """One line of a problem file: a parsed problem or the reason it could not be read."""

  line: int  # 1-based line number in the file.
  text: str | None = None  # The problem text, when the line had one.
  problem: problems_lib.Problem | None = None
  reference: dict[str, int] | None = None  # The line's "values", if given.
  error: str | None = None


def _value_map(given, line: int) -> dict[str, int]:
  if not isinstance(given, dict) or any(not isinstance(v, int) or isinstance(v, bool)
                                        for v in given.values()):
    raise ValueError(f"line {line}: 'values' must map variable names to integers")
  return dict(given)


def parse_line(raw: str, line: int, *, modulus: int, num_names: int) -> ProblemLine:
  """Parses one JSON Lines record; never raises (errors go to `.error`)."""
  out = ProblemLine(line=line)
  try:
    record = json.loads(raw)
  except json.JSONDecodeError as e:
    out.error = f"line {line}: not valid JSON ({e})"
    return out
  if not isinstance(record, dict) or not isinstance(record.get("problem"), str):
    out.error = f"line {line}: expected an object with a 'problem' string"
    return out
  out.text = record["problem"]
  record_modulus = record.get("modulus", modulus)
  if record_modulus != modulus:
    out.error = f"line {line}: modulus {record_modulus!r} differs from the model's modulus {modulus}"
    return out
  try:
    out.problem = text_lib.parse(out.text, modulus=modulus, num_names=num_names)
    if record.get("values") is not None:
      out.reference = _value_map(record["values"], line)
  except text_lib.ProblemParseError as e:
    out.error = str(e.at_line(line))
    out.problem = None
  except ValueError as e:
    out.error = str(e)
    out.problem = None
  return out


def read_problem_lines(path: str, *, modulus: int, num_names: int) -> list[ProblemLine]:
  """Every non-blank line of a problem file, parsed or with its error."""
  with open(path) as f:
    return [parse_line(raw, number, modulus=modulus, num_names=num_names)
            for number, raw in enumerate(f, start=1) if raw.strip()]


def _solve_batch(runner, problems, vocab, *, halting, max_iters, oracle_slack, bucket):
  batch = tokenize_lib.tokenize_problems(problems, vocab, bucket=bucket)
  if not runner.is_recurrent:
    tokens_BLF = np.asarray(runner.single_pass(batch["inputs_BLF"]))
    return tokens_BLF, np.ones(len(problems), np.int64)
  # Only oracle halting looks at the solution (the depth); the others never do.
  oracle_iters_B = batch["graph_depth_B"] + 1 + oracle_slack if halting == "oracle" else None
  # The rollout's per-iteration solved flags need targets; the inputs stand in (flags unused).
  out = runner.rollout(batch["inputs_BLF"], batch["inputs_BLF"], oracle_iters_B, halting=halting,
                       max_iters=max_iters)
  return np.asarray(out["tokens_BLF"]), np.asarray(out["iters_B"])


def solve_lines(model, config, lines: list[ProblemLine], *, halting: str = "fixed_point",
                max_iters: int | None = None, batch_size: int = 64) -> list[dict]:
  """Solves every parsed line; returns one output record per line, in file order.

  A record has `line`, `problem`, and either `values` ({name: value or None when
  the model left it EMPTY}), `iterations` (and `solved`/`correct` when the line
  gave reference values), or `error`.
  """
  if config.method == "cot":
    raise ValueError("solving files needs a factored-token model, not chain-of-thought")
  runner = runners.FactoredRunner(model, config.method,
                                  suffix_chunks=config.eval.get("suffix_chunks", 1))
  vocab = vocab_lib.Vocab(modulus=config.data.modulus, num_names=config.data.num_names)
  max_iters = max_iters or config.eval.max_iters
  good = [entry for entry in lines if entry.problem is not None]
  # Similar lengths share a batch: sort by number of equations (about 6 tokens each).
  good.sort(key=lambda entry: len(entry.problem.equations))
  records = {}
  for start in range(0, len(good), batch_size):
    chunk = good[start:start + batch_size]
    tokens_BLF, iters_B = _solve_batch(runner, [e.problem for e in chunk], vocab, halting=halting,
                                       max_iters=max_iters, oracle_slack=config.eval.oracle_slack,
                                       bucket=config.data.bucket)
    for entry, tokens_LF, iters in zip(chunk, tokens_BLF, iters_B):
      predicted = tokenize_lib.read_values(tokens_LF, vocab)
      values = {name: predicted.get(name) for name in entry.problem.names}
      record = {"line": entry.line, "problem": entry.text, "values": values, "iterations": int(iters)}
      if entry.reference is not None:
        record["solved"] = all(values.get(name) == value for name, value in entry.reference.items())
      records[entry.line] = record
  out = []
  for entry in lines:
    if entry.error is not None:
      out.append({"line": entry.line, "problem": entry.text, "error": entry.error})
    else:
      out.append(records[entry.line])
  return out


def write_records(path: str, records: list[dict]) -> None:
  with open(path, "w") as f:
    for record in records:
      f.write(json.dumps(record) + "\n")


def fraction_solved(records: list[dict]) -> tuple[int, int]:
  """(solved, scored): how many lines with reference values were fully solved."""
  scored = [r for r in records if "solved" in r]
  return sum(r["solved"] for r in scored), len(scored)
