"""Tables and figures of results/h200_session5 from its raw files.

  python results/h200_session5/figures.py

Writes validation_vs_step.png (mixed operations and the N = 512 run against
the session-3 and session-4 runs they continue), interp_plateau.png (the
2-layer model trained with no auxiliary heads) and tables.md.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from recur_latent.evaluation import artifacts  # pylint: disable=wrong-import-position
from recur_latent.evaluation import plots  # pylint: disable=wrong-import-position
from recur_latent.evaluation import tables  # pylint: disable=wrong-import-position
from recur_latent.training import metrics_writer  # pylint: disable=wrong-import-position

RESULTS = os.path.dirname(HERE)


def records(*path):
  return metrics_writer.read_metrics_file(os.path.join(*path))


def fixed_point(path):
  return artifacts.halting_results(os.path.join(HERE, path))


def main():
  runs = {
      "session 3 full method (alone; stopped at 99.5%)": records(RESULTS, "h200_session3", "full", "metrics.jsonl"),
      "n512 (no stop; 4,000-step decay)": records(HERE, "n512", "metrics.jsonl"),
      "session 4 mixed (7 jobs shared)": records(RESULTS, "h200_session4", "mixed", "metrics.jsonl"),
      "mixed (+, -, *; pair head)": records(HERE, "mixed", "metrics.jsonl"),
  }
  png1 = plots.training_curves(runs, ["val_solved_n128", "learning_rate"],
                               os.path.join(HERE, "validation_vs_step.png"),
                               title="Full method: validation at N = 128 (512 graphs) and learning rate")
  interp = records(HERE, "interp", "metrics.jsonl")
  png2 = plots.training_curves({"interp, no auxiliary heads": interp},
                               ["due_value_accuracy", "value_accuracy", "loss"],
                               os.path.join(HERE, "interp_plateau.png"),
                               title="configs/interp.py with no auxiliary heads: 12,004 steps on the plateau")

  lines = ["# Session 5 tables", "", "## Validation at N = 128 (512 graphs) against step", "",
           "| step | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
  by_step = {name: {r["step"]: r["val_solved_n128"] for r in recs if "val_solved_n128" in r}
             for name, recs in runs.items()}
  for step in sorted(set().union(*[set(v) for v in by_step.values()])):
    cells = [f"{by_step[n][step]:.3f}" if step in by_step[n] else "" for n in by_step]
    lines.append(f"| {step} | " + " | ".join(cells) + " |")
  curves = {"n512": {**fixed_point("n512/eval_128"), **fixed_point("n512/eval_256"),
                     **fixed_point("n512/eval_512")},
            "interp": fixed_point("interp/eval")}
  lines += ["", "## Test sets, fixed-point halting (% fully solved)", "",
            tables.size_table(curves), "", "### Graphs per size", "",
            tables.size_table(curves, key="num_graphs"), "",
            "## The interp run (no auxiliary heads): training metrics every 1,000 steps", "",
            "| step | due value accuracy | value accuracy | loss |", "|---|---|---|---|"]
  for r in interp:
    if "due_value_accuracy" in r and r["step"] % 1000 == 0:
      lines.append(f"| {r['step']} | {r['due_value_accuracy']:.3f} | {r['value_accuracy']:.3f} | "
                   f"{r['loss']:.3f} |")
  with open(os.path.join(HERE, "tables.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))
  print("wrote", png1, png2)


if __name__ == "__main__":
  main()
