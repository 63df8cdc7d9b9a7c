"""Tables and figures of results/h200_session15 from its raw files.

  python results/h200_session15/figures.py

Writes flash_speed.png (the train step and the N = 128 rollout on each
relative-score path, and the attention core at the train step's shape) and
flash_time_to_accuracy.png (validation at N = 128 against seconds since
process start: the two 'flash' runs of this session beside session 12's
'fused' run of seed 1), and tables.md.
"""
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.dirname(HERE)


def load(*parts):
  with open(os.path.join(HERE, *parts)) as f:
    return json.load(f)


def validation(path):
  points = []
  with open(path) as f:
    for line in f:
      record = json.loads(line)
      if "val_solved_n128" in record:
        points.append((record["elapsed_s"], record["val_solved_n128"]))
  return points


def main():
  step_ms = {  # path: (ms per train step, where)
      "fused": (1e3 * load("train_step_fused.json")["train_step"]["step_s"], "lease 1"),
      "flash v1 (b08e3b6)": (1e3 * load("train_step_flash.json")["train_step"]["step_s"], "lease 1"),
      "flash v2 (25467c6)": (1e3 * load("v2", "train_flash_v2.json")["train_step"]["step_s"], "lease 2"),
  }
  rollout_s = {
      "fused": load("rollout_fused_b64.json")["rollout"][0]["solve_s"],
      "flash v1 (b08e3b6)": load("rollout_flash_b64.json")["rollout"][0]["solve_s"],
      "flash v2 (25467c6)": load("v2", "roll_flash_v2.json")["rollout"][0]["solve_s"],
  }
  v1_rows = {r["path"]: r for r in load("attention_train.json")["rows"]}
  v2_rows = {r["path"]: r for r in load("v2", "attention_train_v2.json")["rows"]}
  core = {"dense": v1_rows["dense"], "fused": v1_rows["fused"], "flash v1 64x64": v1_rows["flash 64x64"],
          "fused (lease 2)": v2_rows["fused"], "flash v2 64x64": v2_rows["flash 64x64"]}

  fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
  colors = ["tab:gray", "tab:blue", "tab:orange"]
  for ax, (title, values, unit) in zip(axes[:2], (
      ("train step, fast recipe (B 256, L 256)", {k: v for k, (v, _) in step_ms.items()}, "ms"),
      ("rollout: 2,048 graphs at N = 128, batches of 64", rollout_s, "s"))):
    bars = ax.bar(range(len(values)), list(values.values()), color=colors)
    ax.bar_label(bars, fmt="%.2f")
    ax.margins(y=0.12)
    ax.set_xticks(range(len(values)), list(values), fontsize=8)
    ax.set_ylabel(unit)
    ax.set_title(title, fontsize=9)
  axes[1].axhline(3.0, color="k", ls=":", lw=1)
  axes[1].text(2.4, 3.05, "goal 3 s", fontsize=8, ha="right")
  names = list(core)
  fwd = [core[n]["fwd_ms"] for n in names]
  both = [core[n]["fwd_bwd_ms"] for n in names]
  x = range(len(names))
  axes[2].bar([i - 0.2 for i in x], fwd, 0.4, label="forward")
  axes[2].bar([i + 0.2 for i in x], both, 0.4, label="forward + backward")
  axes[2].set_xticks(list(x), names, fontsize=7, rotation=20)
  axes[2].set_ylabel("ms per layer")
  axes[2].set_title("attention core, one layer (B 256, L 256, 16 x 24)", fontsize=9)
  axes[2].legend(fontsize=8)
  fig.suptitle("H200: relative attention as Pallas kernels ('flash') against cuDNN with a bias ('fused')",
               fontsize=10)
  fig.tight_layout()
  fig.savefig(os.path.join(HERE, "flash_speed.png"), dpi=120)

  fig, ax = plt.subplots(figsize=(6, 3.6))
  runs = {"flash v1, seed 1 (compile 20.3 s)": os.path.join(HERE, "full_flash_s1", "metrics.jsonl"),
          "flash v1, seed 0 (compile 3.4 s, cached)": os.path.join(HERE, "full_flash_s0", "metrics.jsonl"),
          "fused, seed 1 (session 12)": os.path.join(RESULTS, "h200_session12", "full_s1", "metrics.jsonl")}
  for label, path in runs.items():
    points = validation(path)
    ax.plot([t for t, _ in points], [v for _, v in points], marker="o", label=label)
  ax.axhline(0.995, color="k", ls=":", lw=1)
  ax.set_xlabel("seconds since process start")
  ax.set_ylabel("solved at N = 128 (512 validation graphs)")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(os.path.join(HERE, "flash_time_to_accuracy.png"), dpi=120)

  lines = ["## Train step and rollout (H200)", "",
           "| path | train step ms | rollout s (2,048 graphs, N = 128, batches of 64) |", "|---|---|---|"]
  for name in step_ms:
    lines.append(f"| {name} | {step_ms[name][0]:.2f} ({step_ms[name][1]}) | {rollout_s[name]:.3f} |")
  lines += ["", "## Attention core, one layer, B 256, L 256, 16 heads of 24, bf16", "",
            "| path | fwd ms | fwd+bwd ms | fwd error | worst gradient error |", "|---|---|---|---|---|"]
  for source, rows in (("lease 1, b08e3b6", v1_rows), ("lease 2, 25467c6", v2_rows)):
    for name, r in rows.items():
      worst = max(r["grad_errors"].values())
      lines.append(f"| {name} ({source}) | {r['fwd_ms']:.3f} | {r['fwd_bwd_ms']:.3f} | "
                   f"{r['fwd_error']:.2e} | {worst:.2e} |")
  lines += ["", "## Attention core at a rollout suffix (B 64, keys 832, queries 416..831), forward, lease 1", "",
            "| path | fwd ms | fwd error |", "|---|---|---|"]
  for r in load("attention_roll.json")["rows"]:
    lines.append(f"| {r['path']} | {r['fwd_ms']:.3f} | {r['fwd_error']:.2e} |")
  lines += ["", "## Time to 99.5% at N = 128 (flash v1), then 2,048 test graphs", "",
            "| run | seconds | steps | compile s | test at N = 128 |", "|---|---|---|---|---|"]
  for name in ("full_flash_s1", "full_flash_s0"):
    points = validation(os.path.join(HERE, name, "metrics.jsonl"))
    with open(os.path.join(HERE, name, "metrics.jsonl")) as f:
      steps = max(json.loads(line)["step"] for line in f)
    test = load(name, "eval.json")["results"]["fixed_point"]["128"]["fully_solved"]
    with open(os.path.join(HERE, "logs", f"{name}_train.log")) as f:
      summary = [line for line in f if "training summary" in line][-1]
    compile_s = float(summary.split("'compile_s': ")[-1].split(",")[0])
    lines.append(f"| {name} | {points[-1][0]:.1f} | {steps} | {compile_s:.1f} | {test:.3f} |")
  with open(os.path.join(HERE, "tables.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
