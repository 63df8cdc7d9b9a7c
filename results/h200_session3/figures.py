"""Tables and the six-method figure of results/h200_session3 from its raw files.

  python results/h200_session3/figures.py

Reads each method's eval.json and, where an evaluation process was stopped
before it wrote one (the full method at N = 8..64, the feedforward model), the
per-size lines its log printed. Writes methods_vs_size.png and methods.md here.
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from recur_latent.evaluation import plots  # pylint: disable=wrong-import-position
from recur_latent.evaluation import tables  # pylint: disable=wrong-import-position

# "N=64 [5/7 sizes] 2048 graphs x 3 passes in 82.7s (...) | oracle: 1.000, fixed_point: 1.000, ..."
_SIZE_LINE = re.compile(r"N=(\d+) \[\d+/\d+ sizes\] (\d+) graphs .*?\| (.*?) \| elapsed")
_LABEL = re.compile(r"(oracle|fixed_point|single_pass|greedy): ([0-9.]+)")


def from_log(name, label):
  """{str(N): {"fully_solved", "num_graphs"}} of one label, from an evaluation log."""
  out = {}
  with open(os.path.join(HERE, "logs", name)) as f:
    for line in f:
      match = _SIZE_LINE.search(line)
      if match:
        scores = dict(_LABEL.findall(match.group(3)))
        if label in scores:
          out[match.group(1)] = {"fully_solved": float(scores[label]),
                                 "num_graphs": int(match.group(2))}
  return out


def from_eval(path, label):
  with open(os.path.join(HERE, path, "eval.json")) as f:
    evaluation = json.load(f)
  return {n: dict(s, num_graphs=evaluation["num_graphs"])
          for n, s in evaluation["results"][label].items()}


def main():
  full = from_log("full_eval.log", "fixed_point")
  for part in ("full/eval_96_128", "full/eval_256", "full/eval_512"):
    full.update(from_eval(part, "fixed_point"))
  curves = {
      "6. discrete + error correction": full,
      "5. discrete": from_eval("discrete/eval", "fixed_point"),
      "3. chain-of-thought": {**from_eval("cot/eval", "greedy"), **from_eval("cot/eval_big", "greedy")},
      "2. end-to-end recurrent": from_eval("e2e_recurrent/eval", "single_pass"),
      "1. end-to-end feedforward": from_log("feedforward_3_eval.log", "single_pass"),
  }
  paper = ("discrete_ec", "discrete", "cot", "e2e_recurrent", "feedforward")
  png = plots.accuracy_vs_size(curves, os.path.join(HERE, "methods_vs_size.png"),
                               paper_methods=paper, train_size=32,
                               title="The methods on one H200 (session 3) and in the paper",
                               paper_matches_curves=True)
  text = ["# Fraction fully solved per N (fixed-point halting for the recurrent methods)", "",
          tables.size_table(curves, paper_methods=paper), "",
          "## Graphs per size", "", tables.size_table(curves, key="num_graphs"), ""]
  with open(os.path.join(HERE, "methods.md"), "w") as f:
    f.write("\n".join(text))
  print("\n".join(text))
  print("wrote", png)


if __name__ == "__main__":
  main()
