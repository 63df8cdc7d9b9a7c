"""Tables and figures of results/h200_session12 from its raw files.

  python results/h200_session12/figures.py

Writes continuous_ema.png (method 4's test set with and without a weight
average, beside the paper), baselines_vs_step.png (validation at N = 32 of
methods 4, 2 and 3 with the average, beside session 10's runs without it),
quickstart_ema.png (validation at 2x of the quickstart with an average on
the GPU host's CPU) and tables.md.
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

S10 = os.path.join(RESULTS, "h200_session10")
QS12 = os.path.join(HERE, "quickstart_host_cpu")
_PRINTED = re.compile(r"N=\d+ \(1x\): ([0-9.]+), N=\d+ \(2x\): ([0-9.]+), N=\d+ \(4x\): ([0-9.]+)")
_DECAY = re.compile(r"decay starts at step (\d+)")
_STOP = re.compile(r"stopped at step (\d+): target")
_LAST_STEP = re.compile(r"'final_step': (\d+)")


def records(*path):
  return metrics_writer.read_metrics_file(os.path.join(*path))


def _quickstart_facts(log_path):
  """(decay start, stop step or None, last step, printed 1x/2x/4x) of one quickstart log."""
  with open(log_path) as f:
    text = f.read()
  decay, stop, printed = _DECAY.search(text), _STOP.search(text), _PRINTED.search(text)
  last = _LAST_STEP.search(text)
  if last is None or "SIGTERM" in text:  # Stopped by the plan's deadline.
    last_step = re.findall(r"step (\d+)/", text)
    last = f"{last_step[-1] if last_step else '?'} (the deadline)"
  else:
    last = last.group(1)
  return (int(decay.group(1)) if decay else None, int(stop.group(1)) if stop else None,
          last, printed.groups() if printed else ("-", "-", "-"))


def _kernel_kind(name):
  """The README's grouping of the profile's kernels (section 4)."""
  if "cudnn" in name or "sdpa" in name or "fmha" in name:
    return "cuDNN flash attention, forward, backward and dbias"
  if "nvjet" in name or "gemm" in name:
    return "cuBLAS matmuls"
  for part, kind in (("concatenate", "concatenations of the relative tables' gradients"),
                     ("scatter", "scatters"), ("reduce", "reductions (the dbias diagonals)")):
    if part in name:
      return kind
  return "other fusions"


def profile_table():
  """ms a step by kind, over the kernel table that experiments.benchmark printed."""
  by_kind, total = {}, 0.0
  with open(os.path.join(HERE, "logs", "bench_b128.log")) as f:
    for line in f:
      if line.startswith("| `"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        by_kind[_kernel_kind(cells[0])] = by_kind.get(_kernel_kind(cells[0]), 0.0) + float(cells[1])
        total += float(cells[1])
  rows = [f"| {kind} | {ms:.1f} |" for kind, ms in sorted(by_kind.items(), key=lambda kv: -kv[1])]
  return ["| kind | ms per step |", "|---|---|", *rows, f"| the listed kernels | {total:.1f} |"]


def main():
  ema = {"4., average 0.998 (session 12)": artifacts.halting_results(
             os.path.join(HERE, "continuous", "eval"), "oracle"),
         "4., no average (session 10)": artifacts.halting_results(
             os.path.join(S10, "continuous", "eval"), "oracle")}
  png1 = plots.accuracy_vs_size(ema, os.path.join(HERE, "continuous_ema.png"),
                                paper_methods=("continuous",), train_size=32,
                                title="Method 4 (continuous), oracle depth, 512 test graphs a size")
  runs = {}
  for name in ("continuous", "e2e_recurrent", "cot"):
    runs[f"{name}, average"] = records(HERE, name, "metrics.jsonl")
    runs[f"{name}, session 10"] = records(S10, name, "metrics.jsonl")
  png2 = plots.training_curves(runs, ["val_solved_mean", "value_accuracy", "token_accuracy"],
                               os.path.join(HERE, "baselines_vs_step.png"),
                               title="Methods 4, 2, 3 with a weight average against session 10 (N = 32)")
  qs = {f"seed {s}": records(QS12, f"qs_ema99_s{s}", "metrics.jsonl") for s in range(6)}
  png3 = plots.training_curves(qs, ["val_solved_mean", "learning_rate"],
                               os.path.join(HERE, "quickstart_ema.png"),
                               title="Quickstart with a 0.99 weight average, host CPU: validation at 2x")

  tests = {name: artifacts.halting_results(os.path.join(HERE, run, "eval"), halting)
           for name, run, halting in (("6. full, seed 1 (2,048 graphs)", "full_s1", "fixed_point"),
                                      ("4. continuous, oracle", "continuous", "oracle"),
                                      ("4. continuous, fixed point", "continuous", "fixed_point"),
                                      ("2. e2e recurrent", "e2e_recurrent", "single_pass"),
                                      ("3. chain-of-thought", "cot", "greedy"))}
  lines = ["# Session 12 tables", "",
           "## Test sets (% fully solved; 2,048 graphs a size for the full method, 512 for the others)", "",
           tables.size_table(tests), "",
           "## The quickstart with a weight average on the GPU host's CPU (2 cores a run, no budget, at most 2,500 steps)", "",
           "| seed | session 10, shipped: stopped at | average 0.99: decay starts | stopped at | printed 1x / 2x / 4x | average 0.995: stopped at | printed 1x / 2x / 4x |",
           "|---|---|---|---|---|---|---|"]
  shipped = {}
  for seed in range(6):
    with open(os.path.join(S10, "quickstart_host_cpu", f"s{seed}", "train.log")) as f:
      m = re.search(r"stopped at step (\d+)", f.read())
    shipped[seed] = m.group(1) if m else "-"
  for seed in range(6):
    d99, s99, l99, p99 = _quickstart_facts(os.path.join(QS12, f"qs_ema99_s{seed}", "train.log"))
    _, s995, l995, p995 = _quickstart_facts(os.path.join(QS12, f"qs_ema995_s{seed}", "train.log"))
    fmt = lambda stop, last: str(stop) if stop else f"not by {last}"
    lines.append(f"| {seed} | {shipped[seed]} | {d99} | {fmt(s99, l99)} | {' / '.join(p99)} | "
                 f"{fmt(s995, l995)} | {' / '.join(p995)} |")
  lines += ["", "## The fused train step's largest kernels by kind (logs/bench_b128.log)", "",
            *profile_table()]
  with open(os.path.join(HERE, "tables.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))
  print("wrote", png1, png2, png3)


if __name__ == "__main__":
  main()
