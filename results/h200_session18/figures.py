"""Tables and figures of results/h200_session18 from its raw files.

  python results/h200_session18/figures.py

Writes tables.md, step_time.png (the train step's pipelined milliseconds of
every tree and setting timed this session, by lease) and time_to_accuracy.png
(validation at N = 128 against seconds since process start for this
session's runs from scratch, beside session 17's run of the shipped code).
Run it from the repository root.
"""
import collections
import importlib.util
import json
import os
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.dirname(HERE)
FLOPS = 3.0924e12  # The model's count for this step (step_flops_model).
PEAK = 790e12
PAPER_GRAPHS_PER_S = 32 / 0.15  # The paper's code: 0.15 s a step of 32 graphs.

# (file, label, lease, tree): every timed train step, in the order run.
STEPS = [
    ("s18a/step_new.log", "one-pass backward, heads padded to 32 in the projections, ex2", 1, "a1de77e"),
    ("s18a/step_split.log", "two-kernel backward, heads padded, ex2", 1, "a1de77e + sed"),
    ("s18a/step_nopad.log", "one-pass backward, kernel-side pads, ex2", 1, "a1de77e + sed"),
    ("s18b/step_base1.log", "session 17's step (640b714)", 2, "640b714 files"),
    ("s18b/step_ex2.log", "+ ex2 scores", 2, "e6b58f2 kernels, 640b714 attention"),
    ("s18b/step_tree1.log", "+ one q/k/v product (e6b58f2)", 2, "e6b58f2"),
    ("s18b/step_base2.log", "session 17's step again", 2, "640b714 files"),
    ("s18b/step_tree2.log", "e6b58f2 again", 2, "e6b58f2"),
    ("s18c/step_t32x32x2.log", "e6b58f2, tiles 32x32, 2 warps", 2, "e6b58f2 + sed"),
    ("s18c/step_t64x64x4x1.log", "e6b58f2, tiles 64x64, 4 warps, 1 stage", 2, "e6b58f2 + sed"),
    ("s18c/step_t64x64.log", "e6b58f2, tiles 64x64, 4 warps (its default)", 2, "e6b58f2"),
    ("s18e/bench.log", "e6b58f2, tiles 32x32x2, profiled", 2, "e6b58f2 + sed"),
    ("s18f/step_t32x32x2x3.log", "tiles 32x32, 2 warps, 3 stages", 2, "e6b58f2 + sed"),
    ("s18f/step_t32x32x2x1.log", "tiles 32x32, 2 warps, 1 stage", 2, "e6b58f2 + sed"),
    ("s18f/step_t32x32x1x2.log", "tiles 32x32, 1 warp", 2, "e6b58f2 + sed"),
    ("s18f/step_t32x64x2x2.log", "tiles 32x64, 2 warps", 2, "e6b58f2 + sed"),
    ("s18f/step_t32x32x2x2.log", "tiles 32x32, 2 warps, again", 2, "e6b58f2 + sed"),
    ("s18g/step_joint1.log", "32x32x2 tiles, biases on the joint q/k/v product", 3, "e6b58f2 files"),
    ("s18g/step_slices.log", "+ each bias on its slice", 3, "3862864 attention"),
    ("s18g/step_tree1.log", "+ relu read off its output (3862864), profiled", 3, "3862864"),
    ("s18g/step_lt.log", "3862864 with cuBLAS-Lt on", 3, "3862864"),
    ("s18g/step_joint2.log", "biases on the joint product, again", 3, "e6b58f2 files"),
    ("s18g/step_tree2.log", "3862864 again: the shipped step", 3, "3862864"),
    ("s18h/bench.log", "3862864 in the lease of its run from scratch", 3, "3862864"),
]
# (folder, label): runs from scratch to 99.5% on 512 validation graphs, then 2,048 test graphs.
RUNS = [("s18d", "seed 1 (e6b58f2, 32x32x2 tiles)", "full_s1"),
        ("s18h", "seed 1 (3862864, shipped)", "full_s1"),
        ("s18i", "seed 0 (3862864, shipped)", "full_s0")]


def step_figures(path):
  with open(os.path.join(HERE, path)) as f:
    text = f.read()
  out = {key: float(re.search(rf'"{key}": ([0-9.e+-]+)', text).group(1))
         for key in ("step_s", "pipelined_step_s", "peak_bytes")}
  kernels = re.search(r"Kernels on the device: ([0-9.]+) ms", text)
  out["kernels_ms"] = float(kernels.group(1)) if kernels else None
  return out


def profile_rows(path):
  with open(os.path.join(HERE, path)) as f:
    return json.load(f)["train_step"]["profile"]["rows"]


def validation(folder):
  points = []
  with open(os.path.join(HERE, folder, "metrics.jsonl")) as f:
    for line in f:
      record = json.loads(line)
      if "val_solved_n128" in record:
        points.append((record["step"], record["elapsed_s"], record["val_solved_n128"]))
  return points


def test_solved(folder, name):
  with open(os.path.join(HERE, folder, f"{name}_eval.log")) as f:
    return float(re.search(r"\| fixed_point \| ([0-9.]+) \|", f.read()).group(1))


def compile_s(folder, name):
  with open(os.path.join(HERE, folder, f"{name}.log")) as f:
    return float(re.search(r"'compile_s': ([0-9.]+)", f.read()).group(1))


def _session17_figures():
  """Session 17's figures.py as a module: its kernel grouping and HLO reader serve here too."""
  spec = importlib.util.spec_from_file_location(
      "session17_figures", os.path.join(RESULTS, "h200_session17", "figures.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def kernel_groups(session17, json_path, hlo_path):
  """Kernel ms per step by group, with session 17's grouping (its figures.py's group_of)."""
  bodies = session17.fusion_bodies(os.path.join(HERE, hlo_path))  # An absolute path is kept.
  ms = collections.Counter()
  for row in profile_rows(json_path):
    ms[session17.group_of(row["name"], bodies)] += row["ms_per_call"]
  return ms


def attention_rows(path):
  with open(os.path.join(HERE, path)) as f:
    return json.load(f)["rows"]


def main():
  lines = ["## Train step (fast recipe, flash, 512 names, batch 256 at length 256, 30 steps)", "",
           "| lease | tree | setting | waited-on ms | pipelined ms | kernels ms | graphs/s | x paper | MFU |",
           "|---|---|---|---|---|---|---|---|---|"]
  steps = []
  for path, label, lease, tree in STEPS:
    s = step_figures(path)
    steps.append((label, lease, s))
    rate = 256 / s["pipelined_step_s"]
    kernels = f"{s['kernels_ms']:.2f}" if s["kernels_ms"] else "-"
    lines.append(f"| {lease} | {tree} | {label} | {1e3 * s['step_s']:.2f} | "
                 f"{1e3 * s['pipelined_step_s']:.2f} | {kernels} | {rate:,.0f} | "
                 f"{rate / PAPER_GRAPHS_PER_S:.1f} | {FLOPS / s['pipelined_step_s'] / PEAK:.1%} |")

  lines += ["", "## Flash kernels per step (ms, from the profiles)", "",
            "| profile | forward | dq | dk/dv | one-pass backward |", "|---|---|---|---|---|"]
  for path, label in (("s18a/step_new.json", "a1de77e, 64x64x4, one-pass backward"),
                      ("s18e/bench.json", "e6b58f2, 32x32x2, two kernels"),
                      ("s18g/step_tree1.json", "3862864, 32x32x2, two kernels")):
    ms = {r["name"]: r["ms_per_call"] for r in profile_rows(path)}
    cell = lambda n: f"{ms[n]:.2f}" if n in ms else "-"
    lines.append(f"| {label} | {cell('forward_kernel')} | {cell('dq_kernel')} | {cell('dkv_kernel')} | "
                 f"{cell('fused_backward_kernel')} |")

  session17 = _session17_figures()
  groups = session17.GROUPS
  before = kernel_groups(session17, "s18b/step_tree1.json", "s18b/step_tree1.hlo.gz")
  after = kernel_groups(session17, "s18g/step_tree1.json", "s18g/step_tree1.hlo.gz")
  lines += ["", "## Kernel time per step by group (ms; the 120-150 longest kernels of each profile)", "",
            "| group | e6b58f2 (64x64 tiles, lease 2) | 3862864 (shipped, lease 3) |", "|---|---|---|"]
  for g in groups:
    lines.append(f"| {g} | {before[g]:.2f} | {after[g]:.2f} |")
  lines.append(f"| all listed | {sum(before.values()):.2f} | {sum(after.values()):.2f} |")

  lines += ["", "## One layer's attention core alone (experiments.benchmark_attention, B 256, L 256, "
            "16 heads, W 64, bf16)", "", "| file | tiles | backward | head dim | fwd ms | fwd+bwd ms |",
            "|---|---|---|---|---|---|"]
  for path, dim in (("s18a/attn_d24.json", 24), ("s18a/attn_d32.json", 32), ("s18b/attn.json", 24)):
    for row in attention_rows(path):
      tiles, _, split = row["path"].split()[-1].partition(":")
      # a1de77e's default backward was the one-pass kernel; e6b58f2 has only the two kernels.
      backward = "two kernels" if split or path.startswith("s18b") else "one pass"
      lines.append(f"| {path} | {tiles} | {backward} | {dim} | {row['fwd_ms']:.3f} | "
                   f"{row['fwd_bwd_ms']:.3f} |")

  lines += ["", "## From scratch to 99.5% on 512 validation graphs at N = 128, then 2,048 test graphs", "",
            "| run | seconds to target | steps | compile s | test solved at N = 128 |", "|---|---|---|---|---|"]
  fig, ax = plt.subplots(figsize=(7, 4))
  for folder, label, name in RUNS:
    points = validation(folder)
    step, seconds, _ = next(p for p in points if p[2] >= 0.995)
    lines.append(f"| {label} | {seconds:.1f} | {step:,} | {compile_s(folder, name):.1f} | "
                 f"{test_solved(folder, name):.3f} |")
    ax.plot([p[1] for p in points], [p[2] for p in points], marker="o", label=label)
  earlier = validation(os.path.join(RESULTS, "h200_session17", "dband_exact", "s1"))
  ax.plot([p[1] for p in earlier], [p[2] for p in earlier], marker="s", ls=":", color="gray",
          label="session 17, shipped code, seed 1")
  ax.axhline(0.995, color="k", lw=0.8, ls="--")
  ax.set_xlabel("seconds since process start (compile included)")
  ax.set_ylabel("solved at N = 128 (512 validation graphs)")
  ax.set_title("Full method from scratch on one H200")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(os.path.join(HERE, "time_to_accuracy.png"), dpi=130)

  fig, ax = plt.subplots(figsize=(10, 7))
  colors = {1: "#c44e52", 2: "#4c72b0", 3: "#55a868"}
  for i, (label, lease, s) in enumerate(steps):
    ax.barh(i, 1e3 * s["pipelined_step_s"], color=colors[lease])
    ax.text(1e3 * s["pipelined_step_s"] + 0.05, i, f"{1e3 * s['pipelined_step_s']:.2f}", va="center",
            fontsize=7)
  ax.set_yticks(range(len(steps)), [f"lease {lease}: {label}" for label, lease, _ in steps], fontsize=7)
  ax.invert_yaxis()
  target_ms = FLOPS / 0.30 / PEAK * 1e3
  ax.axvline(target_ms, color="k", ls="--", lw=1)
  ax.text(target_ms, len(steps) - 0.5, " 30% MFU", fontsize=8)
  ax.set_xlim(0, 22)
  ax.set_xlabel("train step, pipelined (ms, H200)")
  fig.tight_layout()
  fig.savefig(os.path.join(HERE, "step_time.png"), dpi=130)

  with open(os.path.join(HERE, "tables.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
