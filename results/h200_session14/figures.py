"""Tables and figures of results/h200_session14 from its raw files.

  python results/h200_session14/figures.py

Writes quickstart_levers.png (validation at 2x, 32 graphs, against steps for
each lever and seed on the GPU host's CPU, beside session 13's shipped
quickstart on seeds 0-2) and tables.md (decay start, steps to 32 of 32 and
the last validation of each run).
"""
import json
import os
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.dirname(HERE)
SEEDS = (0, 1, 2)
LEVERS = {  # name: (label, the session's results directory, run-name prefix)
    "c1": ("shipped (session 13)", os.path.join(RESULTS, "h200_session13"), "qs_c1_s"),
    "d96": ("d_model 96", HERE, "qs_d96_s"),
    "d64": ("d_model 64", HERE, "qs_d64_s"),
    "wd0.1": ("weight decay 0.1", HERE, "qs_wd0.1_s"),
    "wd1": ("weight decay 1.0", HERE, "qs_wd1_s"),
}


_DECAY = re.compile(r"decay starts at step (\d+)")


def read_run(path, log_path):
  """(validation [(step, solved)], decay start or None, last training step) of one run."""
  val, last = [], 0
  with open(os.path.join(path, "metrics.jsonl")) as f:
    for line in f:
      record = json.loads(line)
      if "val_solved_n32" in record:
        val.append((record["step"], record["val_solved_n32"]))
      if "loss" in record:
        last = max(last, record["step"])
  with open(log_path) as f:
    decay = _DECAY.search(f.read())
  last = max([last] + [step for step, _ in val])  # A run stopped at the deadline validates last.
  return val, int(decay.group(1)) if decay else None, last


def main():
  rows = ["| lever | seed | decay from step | steps to 32 of 32 | last validation (step: solved) |",
          "|---|---|---|---|---|"]
  fig, axes = plt.subplots(1, len(LEVERS), figsize=(4 * len(LEVERS), 3.2), sharey=True)
  for ax, (name, (label, root, prefix)) in zip(axes, LEVERS.items()):
    for seed in SEEDS:
      val, decay, last = read_run(os.path.join(root, "quickstart_host_cpu", f"{prefix}{seed}"),
                                  os.path.join(root, "logs", f"{prefix}{seed}.log"))
      hit = next((s for s, v in val if v >= 1.0), None)
      end = f"{val[-1][0]}: {val[-1][1]:.3f}" if val else "-"
      rows.append(f"| {name} | {seed} | {decay or '-'} | {hit or f'not by {last}'} | {end} |")
      if val:
        ax.plot(*zip(*val), marker=".", label=f"seed {seed}")
    ax.set_title(label)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
  axes[0].set_ylabel("solved at N = 32 (32 graphs)")
  axes[0].legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(os.path.join(HERE, "quickstart_levers.png"), dpi=110)
  with open(os.path.join(HERE, "tables.md"), "w") as f:
    f.write("\n".join(rows) + "\n")
  print("\n".join(rows))


if __name__ == "__main__":
  main()
