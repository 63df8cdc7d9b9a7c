"""The figure and table of results/cpu_quickstart_session14 from its raw files.

  python results/cpu_quickstart_session14/figures.py

Writes d96_seeds.png (validation at 2x, 32 graphs, against steps for every
run here) and prints, for each run, the decay start, the first validation
of 30 of 32 or more, the step of 32 of 32 and the printed test at 1x / 2x / 4x.
"""
import json
import os
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = {  # directory: label
    "readme_cmd_d96_before_change": "d = 96, seed 0, the README command (2 cores)",
    "d96_seed1": "d = 96, seed 1 (1 core, no budget)",
    "d96_seed2": "d = 96, seed 2 (1 core, no budget)",
    "d96_seed3": "d = 96, seed 3 (1 core, no budget)",
    "d96_seed4": "d = 96, seed 4 (1 core, no budget)",
    "readme_cmd_shipped": "d = 128 (shipped), seed 0, the README command (2 cores)",
}
_DECAY = re.compile(r"decay starts at step (\d+)")
_PRINTED = re.compile(r"N=\d+ \(1x\): ([0-9.]+), N=\d+ \(2x\): ([0-9.]+), N=\d+ \(4x\): ([0-9.]+)")


def main():
  fig, ax = plt.subplots(figsize=(7, 4))
  print("| run | decay from step | first validation of 30 of 32 or more | 32 of 32 | printed 1x / 2x / 4x |")
  print("|---|---|---|---|---|")
  for name, label in RUNS.items():
    path = os.path.join(HERE, name)
    if not os.path.isdir(path):
      continue
    val = []
    with open(os.path.join(path, "metrics.jsonl")) as f:
      for line in f:
        record = json.loads(line)
        if "val_solved_n32" in record:
          val.append((record["step"], record["val_solved_n32"]))
    with open(os.path.join(path, "train.log")) as f:
      log = f.read()
    decay, printed = _DECAY.search(log), _PRINTED.search(log)
    near = next((s for s, v in val if v >= 30 / 32), None)
    full = next((s for s, v in val if v >= 1.0), None)
    last = val[-1][0] if val else 0
    print(f"| {label} | {decay.group(1) if decay else '-'} | {near or f'not by {last}'} | "
          f"{full or f'not by {last}'} | {' / '.join(printed.groups()) if printed else '-'} |")
    if val:
      ax.plot(*zip(*val), marker=".", label=label)
  ax.set_xlabel("step")
  ax.set_ylabel("solved at N = 32 (32 graphs)")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(os.path.join(HERE, "d96_seeds.png"), dpi=110)


if __name__ == "__main__":
  main()
