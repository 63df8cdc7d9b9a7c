"""Tables and figures of results/h200_session4 from its raw files.

  python results/h200_session4/figures.py

Writes validation_vs_step.png (the full-method variants against session 3's
213 s run, same seed and data), quickstart_steps.png (validation at 2x of
each quickstart lever) and tables.md.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from recur_latent.evaluation import artifacts  # pylint: disable=wrong-import-position
from recur_latent.evaluation import plots  # pylint: disable=wrong-import-position
from recur_latent.evaluation import tables  # pylint: disable=wrong-import-position

SESSION3_FULL = os.path.join(HERE, "..", "h200_session3", "full", "metrics.jsonl")
QUICK_LEVERS = ("cosine1000", "trig", "trig_prefix", "trig_l4_prefix", "trig_lr3e-3", "trig_b32",
                "trig_b128", "trig_warm50", "trig_noec", "trig_names", "trig_b2_95")


def records(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


def steps_to(recs, key, target):
  return next((r["step"] for r in recs if r.get(key, -1) >= target), None)


def fixed_point(path):
  return artifacts.halting_results(os.path.join(HERE, path))


def main():
  control = records(SESSION3_FULL)
  runs = {name: records(os.path.join(HERE, name, "metrics.jsonl"))
          for name in ("errors", "rollout", "mixed", "n512", "continuous")}
  png1 = plots.training_curves(
      {"session 3 (uniform corruption; alone, 213 s)": control,
       "errors (own likely errors)": runs["errors"], "rollout (straight-through)": runs["rollout"],
       "mixed (+, -, *; pair head)": runs["mixed"]},
      ["val_solved_n128", "value_accuracy"], os.path.join(HERE, "validation_vs_step.png"),
      title="Full method: validation at N = 128 (512 graphs) and training value accuracy")
  quick = {name: records(os.path.join(HERE, "quickstart_steps", name, "metrics.jsonl"))
           for name in QUICK_LEVERS}
  png2 = plots.training_curves(quick, ["val_solved_n32"], os.path.join(HERE, "quickstart_steps.png"),
                               title="Quickstart levers: validation at 2x (N = 32, 64 graphs)")

  lines = ["# Session 4 tables", "", "## Quickstart levers: steps until 95% at N = 32", "",
           "| run | steps to 50% | steps to 95% | last step | last validation |", "|---|---|---|---|---|"]
  for name, recs in quick.items():
    vals = [r for r in recs if "val_solved_n32" in r]
    lines.append(f"| {name} | {steps_to(recs, 'val_solved_n32', 0.5) or '-'} | "
                 f"{steps_to(recs, 'val_solved_n32', 0.95) or '-'} | {vals[-1]['step']} | "
                 f"{vals[-1]['val_solved_n32']:.3f} |")
  lines += ["", "## Full-method variants: validation at N = 128 against step", "",
            "| step | session 3 control | errors | rollout | mixed |", "|---|---|---|---|---|"]
  by_step = {name: {r["step"]: r["val_solved_n128"] for r in recs if "val_solved_n128" in r}
             for name, recs in [("control", control), *[(n, runs[n]) for n in ("errors", "rollout", "mixed")]]}
  for step in sorted(set().union(*[set(v) for v in by_step.values()])):
    cells = [f"{by_step[n][step]:.3f}" if step in by_step[n] else "" for n in by_step]
    lines.append(f"| {step} | " + " | ".join(cells) + " |")
  curves = {"errors": fixed_point("errors/eval"), "mixed": fixed_point("mixed/eval"),
            "rollout": fixed_point("rollout/eval"), "continuous": fixed_point("continuous/eval"),
            "n512": {**fixed_point("n512/eval_128"), **fixed_point("n512/eval_256"),
                     **fixed_point("n512/eval_512")}}
  lines += ["", "## Test sets, fixed-point halting (% fully solved)", "",
            tables.size_table(curves), "", "### Graphs per size", "",
            tables.size_table(curves, key="num_graphs"), ""]
  with open(os.path.join(HERE, "tables.md"), "w") as f:
    f.write("\n".join(lines))
  print("\n".join(lines))
  print("wrote", png1, png2)


if __name__ == "__main__":
  main()
