"""Table and figure of results/cpu_quickstart_session16 from its run folders.

  python results/cpu_quickstart_session16/figures.py

Each folder holds one run's config.json, metrics.jsonl and train.log.
Writes validation.png (validation at 2x against steps, one panel per seed)
and tables.md (per run: decay start, stop, wall-clock, printed 1x / 2x / 4x).
"""
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from recur_latent.training import metrics_writer  # pylint: disable=wrong-import-position

ARMS = {"shipped": "shipped until session 16 (pair weight 1, 32 validation graphs)",
        "pair3": "pair weight 3, 32 validation graphs",
        "pair3v64": "pair weight 3, 64 validation graphs",
        "pair3v128": "pair weight 3, 128 validation graphs (shipped from session 16)"}
_PRINTED = re.compile(r"N=\d+ \(1x\): ([0-9.]+), N=\d+ \(2x\): ([0-9.]+), N=\d+ \(4x\): ([0-9.]+)")
_DECAY = re.compile(r"decay starts at step (\d+)")
_STOP = re.compile(r"stopped at step (\d+): (.*)")


def runs():
  """[(arm, seed, folder)] of the run folders here, in arm order."""
  found = []
  for name in sorted(os.listdir(HERE)):
    arm, _, seed = name.rpartition("_s")
    if arm in ARMS and os.path.isdir(os.path.join(HERE, name)):
      found.append((arm, int(seed), os.path.join(HERE, name)))
  return sorted(found, key=lambda r: (list(ARMS).index(r[0]), r[1]))


def row(arm, seed, folder):
  with open(os.path.join(folder, "train.log")) as f:
    log = f.read()
  records = metrics_writer.read_metrics_file(os.path.join(folder, "metrics.jsonl"))
  with open(os.path.join(folder, "wall_s")) as f:
    wall_s = int(f.read())
  decay, stop, printed = _DECAY.search(log), _STOP.search(log), _PRINTED.search(log)
  return {"arm": arm, "seed": seed, "decay": decay.group(1) if decay else "-",
          "stop": f"{stop.group(1)} ({stop.group(2)})" if stop else "-",
          "wall": f"{wall_s // 60} min {wall_s % 60} s",
          "printed": " / ".join(printed.groups()) if printed else "-",
          "validation": [(r["step"], r["val_solved_n32"]) for r in records if "val_solved_n32" in r]}


def main():
  rows = [row(*r) for r in runs()]
  lines = ["# The README's command on this project's CPU, session 16 (written by figures.py)", "",
           "| arm | seed | decay from step | stopped at | wall-clock | printed 1x / 2x / 4x |",
           "|---|---|---|---|---|---|"]
  lines += [f"| {r['arm']} | {r['seed']} | {r['decay']} | {r['stop']} | {r['wall']} | {r['printed']} |"
            for r in rows]
  lines += ["", "Arms: " + "; ".join(f"`{k}`: {v}" for k, v in ARMS.items()) + "."]
  with open(os.path.join(HERE, "tables.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  seeds = sorted({r["seed"] for r in rows})
  fig, axes = plt.subplots(1, len(seeds), figsize=(2.8 * len(seeds), 3.0), sharey=True, squeeze=False)
  for ax, seed in zip(axes[0], seeds):
    for r in rows:
      if r["seed"] == seed and r["validation"]:
        steps, solved = zip(*r["validation"])
        ax.plot(steps, solved, marker=".", label=r["arm"], color=f"C{list(ARMS).index(r['arm'])}")
    ax.set_title(f"seed {seed}", fontsize=10)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
  axes[0][0].set_ylabel("validation at 2x solved")
  handles = {}  # One legend entry per arm, from whichever panel drew it.
  for ax in axes[0]:
    lines_drawn, labels = ax.get_legend_handles_labels()
    handles.update(zip(labels, lines_drawn))
  fig.legend(handles.values(), handles.keys(), fontsize=8, loc="lower center", ncol=len(handles))
  fig.suptitle("The quickstart on this project's 2-core CPU: validation at 2x", fontsize=11)
  fig.tight_layout(rect=(0, 0.1, 1, 1))
  fig.savefig(os.path.join(HERE, "validation.png"), dpi=120)
  plt.close(fig)


if __name__ == "__main__":
  main()
