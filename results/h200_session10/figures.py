"""Tables and figures of results/h200_session10 from its raw files.

  python results/h200_session10/figures.py

Writes full_vs_wallclock.png (validation at N = 128 of the full method
against seconds since process start, this session's fused-score run beside
session 3's dense one), baselines_vs_step.png (validation at N = 32 of
methods 4, 2 and 3 while they trained side by side), quickstart_seeds.png
(validation at 2x of the shipped quickstart on the GPU host's CPU, six
seeds) and tables.md.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.dirname(RESULTS))

from recur_latent.evaluation import artifacts  # pylint: disable=wrong-import-position
from recur_latent.evaluation import plots  # pylint: disable=wrong-import-position
from recur_latent.evaluation import tables  # pylint: disable=wrong-import-position
from recur_latent.training import metrics_writer  # pylint: disable=wrong-import-position

QS = os.path.join(HERE, "quickstart_host_cpu")
_PRINTED = re.compile(r"N=\d+ \(1x\): ([0-9.]+), N=\d+ \(2x\): ([0-9.]+), N=\d+ \(4x\): ([0-9.]+)")
_DECAY = re.compile(r"decay starts at step (\d+)")
_STOP = re.compile(r"stopped at step (\d+): (.*)")


def records(*path):
  return metrics_writer.read_metrics_file(os.path.join(*path))


def _quickstart_facts(seed):
  """(decay start, stop step, training s, compile s, printed 1x/2x/4x) of one seed's log."""
  with open(os.path.join(QS, f"s{seed}", "train.log")) as f:
    text = f.read()
  decay, stop, printed = _DECAY.search(text), _STOP.search(text), _PRINTED.search(text)
  wall = re.search(r"'wall_clock_s': ([0-9.]+)", text)
  compile_s = re.search(r"'compile_s': ([0-9.]+), 'final_step'", text)
  return (int(decay.group(1)) if decay else None, int(stop.group(1)) if stop else None,
          float(wall.group(1)), float(compile_s.group(1)),
          printed.groups() if printed else ("", "", ""))


def main():
  full = {"session 10: fused scores (this run)": records(HERE, "full", "metrics.jsonl"),
          "session 3: dense scores": records(RESULTS, "h200_session3", "full", "metrics.jsonl")}
  png1 = plots.training_curves(full, ["val_solved_mean", "learning_rate"],
                               os.path.join(HERE, "full_vs_wallclock.png"), x="elapsed_s",
                               title="Full method, one H200 alone: validation at N = 128 (512 graphs)")
  baselines = {"4. continuous (batch 128)": records(HERE, "continuous", "metrics.jsonl"),
               "2. e2e recurrent (batch 256)": records(HERE, "e2e_recurrent", "metrics.jsonl"),
               "3. chain-of-thought (batch 64)": records(HERE, "cot", "metrics.jsonl")}
  png2 = plots.training_curves(baselines, ["val_solved_mean", "value_accuracy", "token_accuracy"],
                               os.path.join(HERE, "baselines_vs_step.png"),
                               title="Methods 4, 2 and 3 side by side (validation at N = 32)")
  seeds = range(6)
  qs = {f"seed {s}": records(QS, f"s{s}", "metrics.jsonl") for s in seeds}
  png3 = plots.training_curves(qs, ["val_solved_mean", "learning_rate"],
                               os.path.join(HERE, "quickstart_seeds.png"), x="elapsed_s",
                               title="Shipped quickstart, 2 host CPU cores each: validation at 2x (32 graphs)")

  curves = {"6. full (2,048 graphs)": artifacts.halting_results(os.path.join(HERE, "full", "eval"))}
  others = {name: artifacts.halting_results(os.path.join(HERE, run, "eval"), halting)
            for name, run, halting in (("4. continuous, oracle", "continuous", "oracle"),
                                       ("4. continuous, fixed point", "continuous", "fixed_point"),
                                       ("2. e2e recurrent", "e2e_recurrent", "single_pass"),
                                       ("3. chain-of-thought", "cot", "greedy"))}
  lines = ["# Session 10 tables", "",
           "## The full method alone: test set (% fully solved, 2,048 graphs per size, fixed-point halting)", "",
           tables.size_table(curves), "",
           "## Methods 4, 2 and 3: test sets (% fully solved, 512 graphs per size)", "",
           tables.size_table(others), "",
           "## The shipped quickstart on the GPU host's CPU (2 cores a run, jax 0.11.2, no budget)", "",
           "| seed | decay starts | stopped at step | training s | compile s | printed 1x / 2x / 4x (64 graphs) |",
           "|---|---|---|---|---|---|"]
  for seed in seeds:
    decay, stop, wall, compile_s, printed = _quickstart_facts(seed)
    lines.append(f"| {seed} | {decay} | {stop} | {wall:.0f} | {compile_s:.0f} | {' / '.join(printed)} |")
  with open(os.path.join(HERE, "tables.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))
  print("wrote", png1, png2, png3)


if __name__ == "__main__":
  main()
