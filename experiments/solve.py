r"""Solves a problem file with a trained model (no oracle by default).

  python -m experiments.solve --checkpoint=RUN_OR_EXPORT --input=problems.jsonl --output=solved.jsonl
      [--halting=fixed_point|all_filled|oracle] [--max_iters=64]

Input: JSON Lines, one `{"problem": "20 = x_7 ; x_7 + x_7 = x_3", "values": {...}}`
per line (`values` optional). Output: one record per input line, with the
model's `values` (null where it left a variable EMPTY) and `iterations`, or an
`error` naming what is wrong with the line; every well-formed line is solved.
Where lines carry `values`, prints the fraction fully solved.
"""
import sys

from absl import app
from absl import flags
from absl import logging

from recur_latent import api
from recur_latent.evaluation import solver

_CHECKPOINT = flags.DEFINE_string("checkpoint", None,
                                  "Training run directory, exported model directory or shipped model name.")
_WHICH = flags.DEFINE_enum("which", "best", ["best", "latest"], "Which checkpoint of the run.")
_INPUT = flags.DEFINE_string("input", None, "Problem file (JSON Lines).")
_OUTPUT = flags.DEFINE_string("output", None, "Where to write one result per line (JSON Lines).")
_HALTING = flags.DEFINE_enum("halting", "fixed_point", ["fixed_point", "all_filled", "oracle"],
                             "When a problem's rollout stops; 'oracle' reads the depth from the exact solver.")
_MAX_ITERS = flags.DEFINE_integer("max_iters", None, "Most iterations per problem (default: config.eval.max_iters).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Problems per batch.")
flags.mark_flags_as_required(["checkpoint", "input", "output"])


def main(argv):
  del argv
  bundle = api.load(_CHECKPOINT.value, which=_WHICH.value)
  model, config = bundle.model, bundle.config
  lines = solver.read_problem_lines(_INPUT.value, modulus=config.data.modulus,
                                    num_names=config.data.num_names)
  for entry in lines:
    if entry.error is not None:
      print(f"error: {entry.error}", file=sys.stderr)
  records = solver.solve_lines(model, config, lines, halting=_HALTING.value, max_iters=_MAX_ITERS.value,
                               batch_size=_BATCH_SIZE.value)
  solver.write_records(_OUTPUT.value, records)
  num_errors = sum("error" in r for r in records)
  print(f"solved {len(records) - num_errors} problems ({num_errors} malformed lines) -> {_OUTPUT.value}")
  solved, scored = solver.fraction_solved(records)
  if scored:
    print(f"fully solved: {solved}/{scored} = {100.0 * solved / scored:.1f}% (lines with values)")
  logging.info("halting=%s, mean iterations %.2f", _HALTING.value,
               sum(r.get("iterations", 0) for r in records) / max(len(records) - num_errors, 1))


if __name__ == "__main__":
  app.run(main)
