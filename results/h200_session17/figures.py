"""Tables and figures of results/h200_session17 from its raw files.

  python results/h200_session17/figures.py

Writes kernel_time.png (the train step's kernel time per step by what the
kernels compute, before and after this session's two changes), time_to_accuracy.png
(validation at N = 128 against seconds since process start for this
session's runs from scratch, beside session 15's flash v1 run of seed 1) and
tables.md. Each profiled kernel is put in a group by its name and, for XLA's
fusions, by the shapes and source operations that its HLO computation holds
(profile/ and after/ keep the compiled step's HLO for that). It also counts
how much of the first profile the benchmark's own source column
(profiling.fusion_sources) names. Run it from the repository root.
"""
import collections
import gzip
import json
import os
import re

import matplotlib

from recur_latent.training import profiling

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.dirname(HERE)
# (folder, label, the tree's compiled HLO; None where it was not kept, and XLA's fusion names,
# numbered per compile, cannot be read with another tree's).
TREES = [("profile", "before (5a36a51)", "profile/train_step.hlo.gz"),
         ("after", "embeddings + band table (9121de0, shipped)", "after/train_step.hlo.gz"),
         ("dq_both_halves", "+ p2c gradient by key (f2f69aa, reverted)", None)]
GROUPS = ["Pallas attention kernels", "cuBLAS matmuls", "XLA matmul fusions (dense layers)",
          "relative band table (XLA)", "embedding scatters", "q/k/v head-dim pads and slices",
          "reductions (norms, biases, losses)", "other fusions"]
COLORS = ["#4c72b0", "#55a868", "#8fbc8f", "#c44e52", "#dd8452", "#937860", "#8172b3", "#bbbbbb"]


# (figures file, row label, lease): the train step of each tree measured this session.
STEPS = [("profile/train_step.json", "before (5a36a51)", "1"),
         ("after/train_step.json", "factor embeddings + band table (9121de0)", "2"),
         ("dq_both_halves/train_step.json", "+ p2c gradient stored by key (f2f69aa, reverted)", "3"),
         ("gemm_choice/base.json", "9121de0's kernels again (c5c7a55)", "4"),
         ("gemm_choice/base2.json", "the same, last in the lease", "4"),
         ("dband_exact/exact.json", "+ band gradient at the band's width", "4"),
         ("gemm_choice/nocublas.json", "c5c7a55, every product through cuBLAS", "4"),
         ("gemm_choice/tritonall.log", "c5c7a55, every product through Triton", "4"),
         ("dband_exact/exact_nocublas.json", "both: the shipped step", "4")]


def train_step(path):
  """The benchmark's train-step figures, from its JSON or (when only that came back) its log."""
  if path.endswith(".json"):
    return load(path)["train_step"]
  with open(os.path.join(HERE, path)) as f:
    text = f.read()
  out = {key: float(re.search(rf'"{key}": ([0-9.e+-]+)', text).group(1))
         for key in ("step_s", "pipelined_step_s", "graphs_per_s_pipelined", "mfu_model_pipelined",
                     "peak_bytes")}
  kernels = re.search(r"Kernels on the device: ([0-9.]+) ms", text)
  if kernels:
    out["profile"] = {"total_ms_per_call": float(kernels.group(1))}
  return out


def load(*parts):
  with open(os.path.join(HERE, *parts)) as f:
    return json.load(f)


def fusion_bodies(hlo_path):
  """{instruction name: text of the instruction and of the computation it calls}."""
  with gzip.open(os.path.join(HERE, hlo_path), "rt") as f:
    bodies = profiling.instruction_bodies(f.read())
  return {name: line + "\n".join(called or []) for name, (line, called) in bodies.items()}


def group_of(name, bodies):
  body = bodies.get(re.sub(r"_(\d+)$", r".\1", name), bodies.get(name, ""))
  if name.endswith("_kernel"):
    return GROUPS[0]
  if name.startswith(("nvjet", "cutlass", "sm90")):
    return GROUPS[1]
  if "scatter" in name:
    return GROUPS[4]
  # The band's products, skews and their transposes: [.., 64]-wide tables and their source ops.
  if re.search(r"bqhk,rhk|bshk,rhk|bhqk,bhwk|bhsk,bhwk|jit\(_pad\)|,64\]|,64,|\[16,64", body):
    return GROUPS[5] if re.search(r",32\]\{", body) and "bhwk" not in body else GROUPS[3]
  if re.search(r",32\]\{", body) or name.startswith("wrapped_slice"):
    return GROUPS[5]
  if name.startswith("gemm_fusion"):
    return GROUPS[2]
  if "reduce" in name:
    return GROUPS[6]
  return GROUPS[7]


def kernel_groups(folder, hlo):
  rows = load(folder, "train_step.json")["train_step"]["profile"]["rows"]
  bodies = fusion_bodies(hlo)
  ms = collections.Counter()
  for row in rows:
    ms[group_of(row["name"], bodies)] += row["ms_per_call"]
  return ms


def validation(path):
  points = []
  with open(path) as f:
    for line in f:
      record = json.loads(line)
      if "val_solved_n128" in record:
        points.append((record["elapsed_s"], record["val_solved_n128"]))
  return points


def main():
  groups = {label: kernel_groups(folder, hlo) for folder, label, hlo in TREES if hlo}
  lines = ["## Train step (fast recipe, flash, batch 256 padded to 256, 30 steps)", "",
           "| tree | lease | waited-on ms | pipelined ms | kernels ms | graphs/s (pipelined) | "
           "MFU (model count, pipelined) | peak GB |", "|---|---|---|---|---|---|---|---|"]
  for path, label, lease in STEPS:
    s = train_step(path)
    kernels = s["profile"]["total_ms_per_call"] if "profile" in s else None
    lines.append(f"| {label} | {lease} | {1e3 * s['step_s']:.2f} | {1e3 * s['pipelined_step_s']:.2f} | "
                 + (f"{kernels:.2f}" if kernels else "not profiled")
                 + f" | {s['graphs_per_s_pipelined']:,.0f} | {s['mfu_model_pipelined']:.1%} | "
                 f"{s['peak_bytes'] / 1e9:.2f} |")
  # What the benchmark's own profile table names (profiling.fusion_sources), on the first profile.
  with gzip.open(os.path.join(HERE, "profile/train_step.hlo.gz"), "rt") as f:
    sources = profiling.fusion_sources(f.read())
  rows = load("profile", "train_step.json")["train_step"]["profile"]["rows"]
  named = [r for r in rows if profiling.sources_of(r["name"], sources)]
  lines += ["", f"At 5a36a51, `profiling.fusion_sources` names the sources of {len(named)} of the "
            f"{len(rows)} profiled kernels, {sum(r['ms_per_call'] for r in named):.1f} of "
            f"{sum(r['ms_per_call'] for r in rows):.1f} ms a step."]
  lines += ["", "## Kernel time per step by group (ms)", "",
            "| group | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
  for g in GROUPS:
    lines.append(f"| {g} | " + " | ".join(f"{groups[t][g]:.2f}" for t in groups) + " |")

  fig, ax = plt.subplots(figsize=(10, 4.2))
  for i, label in enumerate(groups):
    left = 0.0
    for g, color in zip(GROUPS, COLORS):
      ax.barh(i, groups[label][g], left=left, color=color, label=g if i == 0 else None)
      left += groups[label][g]
  ax.set_yticks(range(len(groups)), list(groups))
  ax.invert_yaxis()
  ax.axvline(3.09e12 / 0.30 / 790e12 * 1e3, color="k", ls="--", lw=1)
  ax.text(3.09e12 / 0.30 / 790e12 * 1e3, -0.6, " 30% MFU", va="bottom", fontsize=8)
  ax.set_xlabel("GPU kernel time per train step (ms, H200)")
  ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.3, -0.2))
  fig.tight_layout()
  fig.savefig(os.path.join(HERE, "kernel_time.png"), dpi=130)

  runs = [("full/s0", "seed 0 (9121de0)"), ("full/s1", "seed 1 (9121de0)"), ("full/s2", "seed 2 (9121de0)"),
          ("dq_both_halves/s1", "seed 1 (f2f69aa, reverted kernel)"),
          ("dband_exact/s1", "seed 1 (the shipped code)")]
  fig, ax = plt.subplots(figsize=(7, 4))
  lines += ["", "## From scratch to 99.5% on 512 validation graphs at N = 128, then 2,048 test graphs", "",
            "| run | seconds to target | steps | compile s | test solved at N = 128 |", "|---|---|---|---|---|"]
  for folder, label in runs:
    points = validation(os.path.join(HERE, folder, "metrics.jsonl"))
    ax.plot(*zip(*points), marker="o", label=label)
    first = json.loads(open(os.path.join(HERE, folder, "metrics.jsonl")).readline())
    test = load(folder, "eval", "eval.json")
    solved = test["results"]["fixed_point"]["128"]["fully_solved"]
    target = next(p for p in points if p[1] >= 0.995)
    steps_at = [json.loads(l)["step"] for l in open(os.path.join(HERE, folder, "metrics.jsonl"))
                if "val_solved_n128" in l][-1]
    lines.append(f"| {label} | {target[0]:.1f} | {steps_at:,} | {first['compile_s']:.1f} | {solved:.3f} |")
  earlier = os.path.join(RESULTS, "h200_session15", "full_flash_s1", "metrics.jsonl")
  ax.plot(*zip(*validation(earlier)), marker="s", ls=":", color="gray", label="session 15, flash v1, seed 1")
  ax.axhline(0.995, color="k", lw=0.8, ls="--")
  ax.set_xlabel("seconds since process start (compile included)")
  ax.set_ylabel("solved at N = 128 (512 validation graphs)")
  ax.set_title("Full method from scratch on one H200")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(os.path.join(HERE, "time_to_accuracy.png"), dpi=130)
  with open(os.path.join(HERE, "tables.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
