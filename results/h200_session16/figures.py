"""Tables and figures of results/h200_session16 from its raw files.

  python results/h200_session16/figures.py

Writes cot_by_kind.png (method 3's training accuracy on the value kinds
against steps, session 13's 7,315-step run beside this session's 41,001),
quickstart_levers.png (validation at 2x against steps, one panel per seed,
one line per lever) and tables.md.
"""
import json
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

VALUE_KINDS = ("value_accuracy_copy", "value_accuracy_2ops", "value_accuracy_3ops",
               "trace_accuracy")
LEVERS = ("shipped", "floor0.1", "pair3")
SEEDS = range(4)
CAP = 2400  # The plan's step cap for the quickstart runs.
_PRINTED_2X = re.compile(r"N=\d+ \(2x\): ([0-9.]+)")


def _records(path, key):
  """The metrics.jsonl records of `path` that hold `key`."""
  return [r for r in metrics_writer.read_metrics_file(path) if key in r]


def cot_tables(lines):
  runs = {"session 13 (dense, 844 s shared)": _records(
              os.path.join(RESULTS, "h200_session13", "cot", "metrics.jsonl"), "value_accuracy_3ops"),
          "session 16 (fused, 1,140 s)": _records(
              os.path.join(HERE, "cot", "metrics.jsonl"), "value_accuracy_3ops")}
  plots.training_curves(runs, VALUE_KINDS, os.path.join(HERE, "cot_by_kind.png"),
                        title="Method 3 (chain-of-thought): training accuracy by kind of value")
  lines += ["## Method 3: training accuracy by kind of target (this session)", "",
            "| step | tokens | " + " | ".join(k.replace("_accuracy", "") for k in VALUE_KINDS) + " |",
            "|---" * (len(VALUE_KINDS) + 2) + "|"]
  steps = runs["session 16 (fused, 1,140 s)"]
  for r in steps:
    if r["step"] % 4000 == 0 or (r["step"] > 36000 and r["step"] % 1000 == 0) or r is steps[-1]:
      lines.append(f"| {r['step']} | {r['token_accuracy']:.3f} | "
                   + " | ".join(f"{r[k]:.3f}" for k in VALUE_KINDS) + " |")
  solved = {**artifacts.halting_results(os.path.join(HERE, "cot", "eval", "eval.json"), "greedy"),
            **artifacts.halting_results(os.path.join(HERE, "cot", "eval_128", "eval.json"), "greedy")}
  sizes = sorted(solved, key=int)
  lines += ["", "## Method 3: % fully solved (greedy decoding)", "",
            "| N | " + " | ".join(sizes) + " |", "|---" * (len(sizes) + 1) + "|",
            "| graphs | " + " | ".join(str(solved[n]["num_graphs"]) for n in sizes) + " |",
            "| ours | " + " | ".join(f"{solved[n]['fully_solved']:.3f}" for n in sizes) + " |"]


def bench_table(lines):
  lines += ["", "## Method 3's train step (batch 64, L = 544)", "",
            "| attention | step ms | sequences/s | model TFLOP/s | MFU (model count) | peak GB | compile s |",
            "|---|---|---|---|---|---|---|"]
  for scores in ("dense", "fused"):
    with open(os.path.join(HERE, f"bench_cot_{scores}.json")) as f:
      b = json.load(f)["train_step"]
    lines.append(f"| {scores} | {1e3 * b['step_s']:.1f} | {b['sequences_per_s']:.0f} | "
                 f"{b['achieved_model_tflops']:.0f} | {100 * b['mfu_model']:.1f}% | "
                 f"{b['peak_bytes'] / 1e9:.2f} | {b['compile_s']:.1f} |")


def quickstart_runs():
  """{lever: {seed: (validation records at 2x, stop step or None, printed 2x)}}."""
  runs = {}
  for lever in LEVERS:
    runs[lever] = {}
    for seed in SEEDS:
      name = f"qs_{lever}_s{seed}"
      val = _records(os.path.join(HERE, "quickstart_host_cpu", name, "metrics.jsonl"),
                     "val_solved_n32")
      hit = [r["step"] for r in val if r["val_solved_n32"] >= 1.0]
      with open(os.path.join(HERE, "logs", f"{name}.log")) as f:
        printed = _PRINTED_2X.search(f.read())
      runs[lever][seed] = (val, hit[0] if hit else None, printed.group(1) if printed else "-")
  return runs


def quickstart_figure(runs, path):
  fig, axes = plt.subplots(1, len(SEEDS), figsize=(3.2 * len(SEEDS), 3.0), sharey=True)
  for ax, seed in zip(axes, SEEDS):
    for index, lever in enumerate(LEVERS):
      val, _, _ = runs[lever][seed]
      ax.plot([r["step"] for r in val], [r["val_solved_n32"] for r in val], marker=".",
              label=lever, color=f"C{index}")
    ax.set_title(f"seed {seed}", fontsize=10)
    ax.set_xlabel("step")
    ax.set_xlim(0, CAP)
    ax.grid(alpha=0.3)
  axes[0].set_ylabel("32 validation graphs at 2x solved")
  axes[0].legend(fontsize=8)
  fig.suptitle("Quickstart on the H200 host's CPU, one core a run", fontsize=11)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def quickstart_table(lines, runs):
  lines += ["", f"## Quickstart: steps to 32 of 32 at 2x (cap {CAP:,})", "",
            "| lever | " + " | ".join(f"seed {s}" for s in SEEDS) + " | printed 2x (64 graphs) |",
            "|---" * (len(SEEDS) + 2) + "|"]
  for lever in LEVERS:
    cells = []
    for seed in SEEDS:
      val, hit, _ = runs[lever][seed]
      cells.append(f"{hit:,}" if hit else f"not by {CAP:,} ({val[-1]['val_solved_n32']:.2f})")
    printed = " / ".join(runs[lever][seed][2] for seed in SEEDS)
    lines.append(f"| {lever} | " + " | ".join(cells) + f" | {printed} |")


def main():
  lines = ["# Session 16 tables (written by figures.py)", ""]
  cot_tables(lines)
  bench_table(lines)
  runs = quickstart_runs()
  quickstart_figure(runs, os.path.join(HERE, "quickstart_levers.png"))
  quickstart_table(lines, runs)
  with open(os.path.join(HERE, "tables.md"), "w") as f:
    f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
  main()
