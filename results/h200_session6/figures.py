"""Tables and figures of results/h200_session6 from its raw files.

  python results/h200_session6/figures.py

Writes validation_vs_step.png (N = 512 and mixed operations against session
5's runs), quickstart_l4.png (validation at 2x of the round-3 quickstart
levers against round 2's `trig`), interp_vs_step.png (the 2-layer model with
the operand-name head against session 5's run with no head) and tables.md.
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
QS_RUNS = ("l4p3", "l4p3_tied", "l4p3_h2", "l4p3_trig3", "l4p3_b128", "l4p3_p11")


def records(*path):
  return metrics_writer.read_metrics_file(os.path.join(*path))


def main():
  full = {
      "session 5 n512 (3 jobs; stopped mid-decay)": records(RESULTS, "h200_session5", "n512", "metrics.jsonl"),
      "n512 (2 big jobs, then alone from step 4,833)": records(HERE, "n512", "metrics.jsonl"),
      "session 5 mixed (trigger .6, never reached)": records(RESULTS, "h200_session5", "mixed", "metrics.jsonl"),
      "mixed (trigger .3)": records(HERE, "mixed", "metrics.jsonl"),
  }
  # The resumed n512 run restarts its clock, so plot against step.
  png1 = plots.training_curves(full, ["val_solved_n128", "learning_rate"],
                               os.path.join(HERE, "validation_vs_step.png"),
                               title="Full method: validation at N = 128 (512 graphs) and learning rate")
  qs = {name: records(HERE, "qs", name, "metrics.jsonl") for name in QS_RUNS}
  qs_plot = {"round 2 `trig` (3 layers)": records(RESULTS, "h200_session4", "quickstart_steps", "trig",
                                                  "metrics.jsonl"), **qs}
  png2 = plots.training_curves(qs_plot, ["val_solved_n32"], os.path.join(HERE, "quickstart_l4.png"),
                               title="Quickstart levers, round 3: validation at 2x (N = 32, 32 graphs)")
  interp = {"session 5: no auxiliary head": records(RESULTS, "h200_session5", "interp", "metrics.jsonl"),
            "operand-name head after layer 1": records(HERE, "interp", "metrics.jsonl")}
  png3 = plots.training_curves(interp, ["due_value_accuracy", "value_accuracy", "loss"],
                               os.path.join(HERE, "interp_vs_step.png"),
                               title="configs/interp.py (2 layers, d = 256): with and without the operand-name head")

  lines = ["# Session 6 tables", "", "## Quickstart levers, round 3: steps to 50% and 95% at 2x", "",
           "| run | steps to 50% | steps to 95% | test N = 16 / 32 / 64 (64 graphs) |", "|---|---|---|---|"]
  for name in QS_RUNS:
    test = artifacts.halting_results(os.path.join(HERE, "qs", name), "fixed_point")
    cells = " / ".join(f"{test[n]['fully_solved']:.3f}" for n in ("16", "32", "64"))
    lines.append(f"| {name} | {metrics_writer.first_step_reaching(qs[name], 'val_solved_n32', .5)} | "
                 f"{metrics_writer.first_step_reaching(qs[name], 'val_solved_n32', .95)} | {cells} |")
  merged = lambda prefix: {k: v for n in (128, 256, 512) for k, v in artifacts.halting_results(
      os.path.join(HERE, "n512", f"{prefix}_{n}")).items()}
  curves = {
      "n512, step 4,833 (best checkpoint before the resume)": merged("eval"),
      "n512, step 7,373 (latest, after the resume)": merged("final_eval"),
      "mixed (+, -, *)": artifacts.halting_results(os.path.join(HERE, "mixed", "eval")),
      "mixed, oracle halting": artifacts.halting_results(os.path.join(HERE, "mixed", "eval"), "oracle"),
      "interp (operand-name head)": artifacts.halting_results(os.path.join(HERE, "interp", "eval")),
  }
  lines += ["", "## Test sets, fixed-point halting unless named (% fully solved)", "",
            tables.size_table(curves), "", "### Graphs per size", "",
            tables.size_table(curves, key="num_graphs"), "",
            "## Validation at N = 128 (512 graphs) against step", "",
            "| step | " + " | ".join(full) + " |", "|---|" + "---|" * len(full)]
  by_step = {name: {r["step"]: r["val_solved_n128"] for r in recs if "val_solved_n128" in r}
             for name, recs in full.items()}
  for step in sorted(set().union(*[set(v) for v in by_step.values()])):
    cells = [f"{by_step[n][step]:.3f}" if step in by_step[n] else "" for n in by_step]
    lines.append(f"| {step} | " + " | ".join(cells) + " |")
  lines += ["", "## The interp run with the operand-name head: every 1,000 steps", "",
            "| step | due value accuracy | value accuracy | operand-name accuracy | validation N = 64 |",
            "|---|---|---|---|---|"]
  val64 = {r["step"]: r["val_solved_n64"] for r in interp["operand-name head after layer 1"]
           if "val_solved_n64" in r}
  for r in interp["operand-name head after layer 1"]:
    if "due_value_accuracy" in r and r["step"] % 1000 == 0:
      lines.append(f"| {r['step']} | {r['due_value_accuracy']:.3f} | {r['value_accuracy']:.3f} | "
                   f"{r['operand_name_accuracy']:.3f} | {val64.get(r['step'], '')} |")
  with open(os.path.join(HERE, "tables.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))
  print("wrote", png1, png2, png3)


if __name__ == "__main__":
  main()
