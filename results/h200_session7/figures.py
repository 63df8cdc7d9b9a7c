"""Tables and figures of results/h200_session7 from its raw files.

  python results/h200_session7/figures.py

Writes rollout_vs_teacher_forcing.png (rollout training against session 6's
teacher-forced n512 run, same config and seed otherwise), quickstart_r4.png
(validation at 2x of the round-4 quickstart levers), interp_vs_step.png (the
2-layer model with the operand-name head, this session against session 6)
and tables.md.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from recur_latent.evaluation import artifacts  # pylint: disable=wrong-import-position
from recur_latent.evaluation import plots  # pylint: disable=wrong-import-position
from recur_latent.evaluation import tables  # pylint: disable=wrong-import-position
from recur_latent.training import metrics_writer  # pylint: disable=wrong-import-position

RESULTS = os.path.dirname(HERE)
QS_RUNS = {"qs_a": ("qs", "b32", "b32_lr3", "b32_mlp2"),
           "qs_b": ("b32_n12", "b32_tied", "b32_dec3", "b16")}
# Seconds per train step on this project's 2-core CPU, session 7
# (experiments.benchmark --config=configs/quickstart.py --skip_rollout --steps=10 plus the
# run's levers; README.md, section 4, gives the commits). The CPU varies by up to 25%
# within an hour.
CPU_STEP_S = {"qs": 0.87, "b32": 0.39, "b32_mlp2": 0.32, "b32_n12": 0.25, "b16": 0.18}


def records(*path):
  return metrics_writer.read_metrics_file(os.path.join(*path))


def main():
  rollout = {
      "teacher forcing (session 6 n512)": records(RESULTS, "h200_session6", "n512", "metrics.jsonl"),
      "rollout, 7 iterations, straight-through": records(HERE, "rollout", "metrics.jsonl"),
  }
  # Up to step 1,100 the two configs differ only in train.rollout (and validation every 100
  # against 500 steps); the n512 run goes on, so cut it where the comparison ends.
  rollout_plot = {name: [r for r in recs if r["step"] <= 2500] for name, recs in rollout.items()}
  png1 = plots.training_curves(rollout_plot, ["val_solved_n128", "value_accuracy", "use_value_accuracy"],
                               os.path.join(HERE, "rollout_vs_teacher_forcing.png"),
                               title="Full method: rollout training against teacher forcing")
  qs = {name: records(HERE, part, name, "metrics.jsonl")
        for part, names in QS_RUNS.items() for name in names}
  png2 = plots.training_curves(qs, ["val_solved_mean"], os.path.join(HERE, "quickstart_r4.png"),
                               title="Quickstart levers, round 4: validation at 2x (32 graphs)")
  interp = {"session 6 (4 jobs, stopped at 14,001)": records(RESULTS, "h200_session6", "interp", "metrics.jsonl"),
            "session 7 (decay at 0.1)": records(HERE, "interp", "metrics.jsonl")}
  png3 = plots.training_curves(interp, ["due_value_accuracy", "val_solved_n64", "learning_rate"],
                               os.path.join(HERE, "interp_vs_step.png"),
                               title="configs/interp.py with the operand-name head")

  lines = ["# Session 7 tables", "", "## Benchmarks, alone on the GPU", "",
           "| benchmark | train step | peak memory | rollout of 2,048 graphs at N = 128 (fixed point) |",
           "|---|---|---|---|"]
  for name in ("dense", "banded", "rollout", "rollout_remat"):
    with open(os.path.join(HERE, f"bench_{name}.json")) as f:
      bench = json.load(f)
    step = bench["train_step"]
    roll = bench.get("rollout", [{}])[0]
    solve = f"{roll['solve_s']:.2f} s, solved {roll['solved']:.3f}" if roll else ""
    lines.append(f"| {name} | {step['step_s'] * 1e3:.1f} ms, {step['graphs_per_s']:.0f} graphs/s, "
                 f"MFU {step['mfu_xla']:.2%} | {step['peak_bytes'] / 1e9:.1f} GB | {solve} |")
  lines += ["", "## Quickstart levers, round 4: steps to 50% and 95% at 2x", "",
            "| run | steps to 50% | steps to 95% | CPU s/step | CPU minutes to 95% | test N = 16 / 32 / 64 (64 graphs) |",
            "|---|---|---|---|---|---|"]
  for part, names in QS_RUNS.items():
    for name in names:
      test = artifacts.halting_results(os.path.join(HERE, part, name), "fixed_point")
      cells = " / ".join(f"{test[n]['fully_solved']:.3f}" for n in ("16", "32", "64"))
      to95 = metrics_writer.first_step_reaching(qs[name], "val_solved_mean", .95)
      cpu_s = CPU_STEP_S.get(name, CPU_STEP_S["b32"] if name.startswith("b32") else None)
      minutes = f"{to95 * cpu_s / 60:.1f}" if to95 and cpu_s else ""
      lines.append(f"| {name} | {metrics_writer.first_step_reaching(qs[name], 'val_solved_mean', .5)} | {to95} | "
                   f"{cpu_s or ''} | {minutes} | {cells} |")
  curves = {
      "interp, session 7 (19,387 steps)": artifacts.halting_results(os.path.join(HERE, "interp", "eval")),
      "interp, session 6 (14,001 steps)": artifacts.halting_results(
          os.path.join(RESULTS, "h200_session6", "interp", "eval")),
      "rollout training (1,035 steps)": artifacts.halting_results(os.path.join(HERE, "rollout", "eval")),
  }
  lines += ["", "## Test sets, fixed-point halting (% fully solved)", "",
            tables.size_table(curves), "", "### Graphs per size", "",
            tables.size_table(curves, key="num_graphs"), "",
            "## Rollout against teacher forcing, by step", "",
            "| step | " + " | ".join(f"{n}: validation N = 128 | value accuracy" for n in rollout) + " |",
            "|---|" + "---|---|" * len(rollout)]
  by_step = {name: {} for name in rollout}
  for name, recs in rollout.items():
    for r in recs:
      if r["step"] <= 1100:
        by_step[name].setdefault(r["step"], {}).update(r)
  for step in sorted(set().union(*[set(v) for v in by_step.values()])):
    cells = []
    for name in rollout:
      r = by_step[name].get(step, {})
      cells += [f"{r['val_solved_n128']:.3f}" if "val_solved_n128" in r else "",
                f"{r['value_accuracy']:.3f}" if "value_accuracy" in r else ""]
    if any(cells):
      lines.append(f"| {step} | " + " | ".join(cells) + " |")
  with open(os.path.join(HERE, "tables.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))
  print("wrote", png1, png2, png3)


if __name__ == "__main__":
  main()
