"""Tables and figures of results/h200_session11 from its raw files.

  python results/h200_session11/figures.py

Writes full_vs_wallclock.png (validation at N = 128 of the full method
against seconds since process start: this session's decay on the training
state accuracy beside sessions 10 and 3), rollout_chunks.png (the rollout of
2,048 graphs at N = 128 against the chunks of its suffix recomputation),
quickstart_d64.png (validation at 2x of the quickstart at d_model = 64 on the
GPU host's CPU, from the training logs) and tables.md.
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

from recur_latent.evaluation import plots  # pylint: disable=wrong-import-position
from recur_latent.training import metrics_writer  # pylint: disable=wrong-import-position

_VALIDATION = re.compile(r"step (\d+) validation: \{'val_solved_n32': ([0-9.]+)")
_DECAY = re.compile(r"decay starts at step (\d+)")
_RATE = re.compile(r"\| ([0-9.]+) steps/s")
_TEST = re.compile(r"N=(\d+) \[\d+/\d+ sizes\] (\d+) graphs x 1 passes in ([0-9.]+)s .*fixed_point: ([0-9.]+)")


def records(*path):
  return metrics_writer.read_metrics_file(os.path.join(*path))


def _log(name):
  with open(os.path.join(HERE, "logs", name)) as f:
    return f.read()


def _quickstart(seed):
  """(validation steps, their 2x accuracies, decay start, last steps/s) of one seed's log."""
  text = _log(f"qs_d64_s{seed}.log")
  pairs = [(int(s), float(a)) for s, a in _VALIDATION.findall(text)]
  decay = _DECAY.search(text)
  rates = _RATE.findall(text)
  return ([s for s, _ in pairs], [a for _, a in pairs], int(decay.group(1)) if decay else None,
          float(rates[-1]) if rates else None)


def main():
  full = {"session 11: decay on state accuracy (this run)": records(HERE, "full_state", "metrics.jsonl"),
          "session 10: decay on validation, fused": records(RESULTS, "h200_session10", "full", "metrics.jsonl"),
          "session 3: decay on validation, dense": records(RESULTS, "h200_session3", "full", "metrics.jsonl")}
  png1 = plots.training_curves(full, ["val_solved_mean", "learning_rate"],
                               os.path.join(HERE, "full_vs_wallclock.png"), x="elapsed_s",
                               title="Full method, one H200 alone: validation at N = 128 (512 graphs)")

  with open(os.path.join(HERE, "rollout_chunks.json")) as f:
    rollout = json.load(f)["rows"]
  fig, (ax_time, ax_work) = plt.subplots(1, 2, figsize=(10, 4))
  for batch, marker in ((256, "o"), (512, "s")):
    rows = [r for r in rollout if r["batch"] == batch]
    chunks = [r["suffix_chunks"] for r in rows]
    ax_time.plot(chunks, [r["solve_s"] for r in rows], marker=marker, label=f"batches of {batch}")
    ax_work.plot(chunks, [r["recomputed_fraction"] for r in rows], marker=marker, label=f"batches of {batch}")
  ax_time.axhline(3.0, color="k", ls="--", lw=1, label="goal: 3 s")
  ax_time.set(xscale="log", xlabel="suffix chunks", ylabel="seconds (after compile)", ylim=(0, 5.5),
              title="2,048 graphs at N = 128, fixed point")
  ax_work.set(xscale="log", xlabel="suffix chunks", ylabel="positions recomputed / L", ylim=(0, 1.05),
              title="Work per iteration")
  for ax in (ax_time, ax_work):
    ax.set_xticks([1, 4, 8, 16], ["1", "4", "8", "16"])
    ax.legend()
  fig.tight_layout()
  png2 = os.path.join(HERE, "rollout_chunks.png")
  fig.savefig(png2, dpi=120)
  plt.close(fig)

  seeds = [s for s in range(6) if os.path.exists(os.path.join(HERE, "logs", f"qs_d64_s{s}.log"))]
  fig, ax = plt.subplots(figsize=(7, 4))
  facts = {}
  for seed in seeds:
    steps, accuracy, decay, rate = facts[seed] = _quickstart(seed)
    ax.plot(steps, accuracy, marker=".", label=f"seed {seed} (decay from {decay})")
  ax.axhline(0.95, color="k", ls="--", lw=1)
  ax.set(xlabel="step", ylabel="solved at N = 32 (32 graphs)", ylim=(-0.02, 1.02),
         title="Quickstart at d_model = 64, 2 host CPU cores each")
  ax.legend(fontsize=8)
  fig.tight_layout()
  png3 = os.path.join(HERE, "quickstart_d64.png")
  fig.savefig(png3, dpi=120)
  plt.close(fig)

  test = _TEST.findall(_log("full_state_eval.log"))
  lines = ["# Session 11 tables", "",
           "## The full method, decay on state accuracy: test set (fixed point, 2,048 graphs per size)", "",
           "| N | " + " | ".join(n for n, *_ in test) + " |",
           "|---|" + "---|" * len(test),
           "| solved | " + " | ".join(a for *_, a in test) + " |",
           "| seconds | " + " | ".join(s for _, _, s, _ in test) + " |", "",
           "## Rollout of 2,048 graphs at N = 128 against suffix chunks (shipped model, fused, fixed point)", "",
           "| batch | chunks | solve s | first call s | recomputed | solved |", "|---|---|---|---|---|---|"]
  lines += [f"| {r['batch']} | {r['suffix_chunks']} | {r['solve_s']:.2f} | {r['first_call_s']:.1f} | "
            f"{r['recomputed_fraction']:.3f} | {r['solved']:.3f} |" for r in rollout]
  lines += ["", "## Quickstart at d_model = 64 on the GPU host's CPU (cut by the lease's end)", "",
            "| seed | decay starts | last validation step | best 2x | last 2x | steps/s |", "|---|---|---|---|---|---|"]
  for seed, (steps, accuracy, decay, rate) in facts.items():
    lines.append(f"| {seed} | {decay} | {steps[-1]} | {max(accuracy):.3f} | {accuracy[-1]:.3f} | {rate} |")
  with open(os.path.join(HERE, "tables.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))
  print("wrote", png1, png2, png3)


if __name__ == "__main__":
  main()
