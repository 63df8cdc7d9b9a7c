"""Tables and figures of results/h200_session9 from its raw files.

  python results/h200_session9/figures.py

Writes baselines_vs_step.png (validation of methods 4 and 1 while they
trained side by side), quickstart_seeds.png (validation at 2x of the
quickstart on the GPU host's CPU, four seeds and two decay lengths) and
tables.md.
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from recur_latent.evaluation import artifacts  # pylint: disable=wrong-import-position
from recur_latent.evaluation import plots  # pylint: disable=wrong-import-position
from recur_latent.evaluation import tables  # pylint: disable=wrong-import-position
from recur_latent.training import metrics_writer  # pylint: disable=wrong-import-position

QS = os.path.join(HERE, "quickstart_host_cpu")
# Run name -> (seed, decay steps); every other field is the shipped quickstart's.
QS_RUNS = {"s0": (0, 300), "s1": (1, 300), "s2": (2, 300), "s3": (3, 300),
           "dec500": (0, 500), "dec500_s1": (1, 500)}
_PRINTED = re.compile(r"N=\d+ \(1x\): ([0-9.]+), N=\d+ \(2x\): ([0-9.]+), N=\d+ \(4x\): ([0-9.]+)")
_DECAY = re.compile(r"decay starts at step (\d+)")


def records(*path):
  return metrics_writer.read_metrics_file(os.path.join(*path))


def _log_facts(name):
  """(decay start step, printed 1x/2x/4x, training seconds) from a quickstart's log."""
  with open(os.path.join(QS, name, "train.log")) as f:
    text = f.read()
  decay = _DECAY.search(text)
  printed = _PRINTED.search(text)
  seconds = re.search(r"'wall_clock_s': ([0-9.]+)", text)
  return (int(decay.group(1)) if decay else None, printed.groups() if printed else ("", "", ""),
          float(seconds.group(1)) if seconds else None)


def main():
  baselines = {"4. continuous (batch 128)": records(HERE, "continuous", "metrics.jsonl"),
               "1. feedforward (batch 256)": records(HERE, "feedforward", "metrics.jsonl")}
  png1 = plots.training_curves(baselines, ["val_solved_mean", "value_accuracy"],
                               os.path.join(HERE, "baselines_vs_step.png"),
                               title="Methods 4 (validation N = 32) and 1 (N = 16), side by side")
  qs = {f"seed {seed}, decay {decay}": records(QS, name, "metrics.jsonl")
        for name, (seed, decay) in QS_RUNS.items()}
  png2 = plots.training_curves(qs, ["val_solved_mean", "learning_rate"],
                               os.path.join(HERE, "quickstart_seeds.png"),
                               title="Quickstart on 2 host CPU cores: validation at 2x (32 graphs)")

  lines = ["# Session 9 tables", "", "## Benchmarks, alone on the GPU (the full method's fast recipe)", "",
           "| benchmark | train step | peak memory | rollout of 2,048 graphs at N = 128 (fixed point) |",
           "|---|---|---|---|"]
  for name in ("dense", "fused", "fused_b1024"):
    with open(os.path.join(HERE, f"bench_{name}.json")) as f:
      bench = json.load(f)
    step = bench.get("train_step")
    roll = bench["rollout"][0]
    step_cell = (f"{step['step_s'] * 1e3:.1f} ms, {step['graphs_per_s']:.0f} graphs/s, "
                 f"MFU {step['mfu_xla']:.2%}, compile {step['compile_s']:.0f} s") if step else "(rollout only)"
    memory = f"{step['peak_bytes'] / 1e9:.1f} GB" if step else ""
    lines.append(f"| {name} | {step_cell} | {memory} | {roll['solve_s']:.2f} s in batches of "
                 f"{roll['batch_size']}, solved {roll['solved']:.3f} |")
  curves = {name: artifacts.halting_results(os.path.join(HERE, run, "eval"), halting)
            for name, run, halting in (("4. continuous, oracle", "continuous", "oracle"),
                                       ("4. continuous, fixed point", "continuous", "fixed_point"),
                                       ("1. feedforward", "feedforward", "single_pass"))}
  lines += ["", "## Methods 4 and 1: test sets (% fully solved, 512 graphs per size)", "",
            tables.size_table(curves), "",
            "## Quickstart on the GPU host's CPU (2 cores a run, jax 0.11.2)", "",
            "| seed | decay steps | decay starts | steps to 95% at 2x | training s | printed 1x / 2x / 4x (64 graphs) |",
            "|---|---|---|---|---|---|"]
  for name, (seed, decay) in QS_RUNS.items():
    start, printed, seconds = _log_facts(name)
    to95 = metrics_writer.first_step_reaching(records(QS, name, "metrics.jsonl"), "val_solved_mean", .95)
    lines.append(f"| {seed} | {decay} | {start} | {to95} | {seconds:.0f} | {' / '.join(printed)} |")
  with open(os.path.join(HERE, "tables.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))
  print("wrote", png1, png2)


if __name__ == "__main__":
  main()
