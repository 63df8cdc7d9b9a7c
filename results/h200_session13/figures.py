"""Tables and figures of results/h200_session13 from its raw files.

  python results/h200_session13/figures.py

Writes cot_by_kind.png (method 3's training accuracy on each kind of trace
target against steps), quickstart_seeds.png (steps to 32 of 32 at 2x for
each seed: session 10's shipped quickstart and this session's two levers)
and tables.md.
"""
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.dirname(RESULTS))

from recur_latent.evaluation import artifacts  # pylint: disable=wrong-import-position
from recur_latent.evaluation import plots  # pylint: disable=wrong-import-position
from recur_latent.training import metrics_writer  # pylint: disable=wrong-import-position

SEEDS = range(6)
CAP = 2500  # The plan's step cap for the quickstart runs.
_STOP = re.compile(r"stopped at step (\d+): target")
_DECAY = re.compile(r"decay starts at step (\d+)")
_PRINTED = re.compile(r"N=\d+ \(1x\): ([0-9.]+), N=\d+ \(2x\): ([0-9.]+), N=\d+ \(4x\): ([0-9.]+)")
_RATE = re.compile(r"\| ([0-9.]+) steps/s")
COT_KINDS = ("name_accuracy", "value_accuracy_leaf", "value_accuracy_copy",
             "value_accuracy_2ops", "value_accuracy_3ops", "trace_accuracy")


def _read(path):
  with open(path) as f:
    return f.read()


def quickstart_runs():
  """{lever: [(seed, decay start, stop step or None, printed 1x/2x/4x, steps/s), ...]}."""
  logs = {"shipped (session 10, 2 cores)": lambda s: os.path.join(
              RESULTS, "h200_session10", "quickstart_host_cpu", f"s{s}", "train.log"),
          "c1": lambda s: os.path.join(HERE, "logs", f"qs_c1_s{s}.log"),
          "c1_aux2": lambda s: os.path.join(HERE, "logs", f"qs_c1_aux2_s{s}.log")}
  runs = {}
  for lever, path_of in logs.items():
    rows = []
    for seed in SEEDS:
      text = _read(path_of(seed))
      stop, decay, printed = _STOP.search(text), _DECAY.search(text), _PRINTED.search(text)
      rates = [float(r) for r in _RATE.findall(text)]
      rows.append((seed, int(decay.group(1)) if decay else None,
                   int(stop.group(1)) if stop else None,
                   printed.groups() if printed else ("-", "-", "-"),
                   rates[-1] if rates else None))
    runs[lever] = rows
  return runs


def quickstart_figure(runs, path):
  fig, ax = plt.subplots(figsize=(6.5, 3.6))
  for index, (lever, rows) in enumerate(runs.items()):
    xs = [seed + (index - 1) * 0.22 for seed, *_ in rows]
    ys = [stop if stop is not None else CAP for _, _, stop, _, _ in rows]
    ax.bar(xs, ys, width=0.22, label=lever, color=f"C{index}")
    for x, (_, _, stop, _, _) in zip(xs, rows):
      if stop is None:
        ax.text(x, CAP, "not by\n2,500", ha="center", va="bottom", fontsize=6)
  ax.set_xlabel("seed")
  ax.set_ylabel("steps to 32 of 32 at 2x")
  ax.set_ylim(0, 4700)
  ax.legend(fontsize=8)
  ax.set_title("Quickstart on the H200 host's CPU: steps to the target", fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def main():
  lines = ["# Session 13 tables (written by figures.py)", ""]
  cot = metrics_writer.read_metrics_file(os.path.join(HERE, "cot", "metrics.jsonl"))
  cot_steps = [r for r in cot if "value_accuracy_3ops" in r]
  plots.training_curves({"cot": cot_steps}, COT_KINDS, os.path.join(HERE, "cot_by_kind.png"),
                        title="Method 3 (chain-of-thought): training accuracy by kind of target")
  lines += ["## Method 3: training accuracy by kind of target", "",
            "| step | tokens | " + " | ".join(k.replace("_accuracy", "") for k in COT_KINDS) + " |",
            "|---" * (len(COT_KINDS) + 2) + "|"]
  for r in cot_steps:
    if r["step"] % 600 == 0 or r is cot_steps[-1]:
      lines.append(f"| {r['step']} | {r['token_accuracy']:.3f} | "
                   + " | ".join(f"{r[k]:.3f}" for k in COT_KINDS) + " |")
  for name in ("cot", "feedforward"):
    solved = artifacts.halting_results(os.path.join(HERE, name, "eval", "eval.json"),
                                       "greedy" if name == "cot" else "single_pass")
    lines += ["", f"## {name}: % fully solved (512 graphs per N)", "",
              "| N | " + " | ".join(str(n) for n in sorted(solved, key=int)) + " |",
              "|---" * (len(solved) + 1) + "|",
              "| ours | " + " | ".join(f"{solved[n]['fully_solved']:.3f}" for n in sorted(solved, key=int)) + " |"]
  runs = quickstart_runs()
  quickstart_figure(runs, os.path.join(HERE, "quickstart_seeds.png"))
  lines += ["", "## Quickstart seeds: steps to 32 of 32 at 2x (cap 2,500)", "",
            "| lever | seed | decay starts | stopped at | printed 1x / 2x / 4x | last steps/s |",
            "|---|---|---|---|---|---|"]
  for lever, rows in runs.items():
    for seed, decay, stop, printed, rate in rows:
      lines.append(f"| {lever} | {seed} | {decay if decay else '-'} | "
                   f"{stop if stop else 'not by 2,500'} | {' / '.join(printed)} | "
                   f"{rate if rate else '-'} |")
  with open(os.path.join(HERE, "tables.md"), "w") as f:
    f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
  main()
