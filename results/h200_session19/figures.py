"""Tables and figures of results/h200_session19 from its raw files.

  python results/h200_session19/figures.py

Writes tables.md, step_time.png (the train step's pipelined milliseconds of
every setting timed this session, by lease, with each setting's 30% MFU
line) and time_to_accuracy.png (validation at N = 128 against seconds since
process start for this session's seven runs from scratch). Run it from the
repository root.
"""
import importlib.util
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=wrong-import-position

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.dirname(RESULTS))  # The repository's configs/ and recur_latent/.
PEAK = 790e12
PAPER_GRAPHS_PER_S = 32 / 0.15  # The paper's code: 0.15 s a step of 32 graphs.

# (file, label, lease): every timed train step, in the order run (trees in README.md).
STEPS = [
    ("s19a/step_off1.json", "skip_padding off (session 18's step)", 1),
    ("s19a/step_on1.json", "skip_padding on", 1),
    ("s19a/step_off2.json", "skip_padding off, again", 1),
    ("s19a/step_on2.json", "skip_padding on, again (profiled)", 1),
    ("s19c/step_tree1.json", "on", 2),
    # XLA_FLAGS without --xla_gpu_enable_triton_gemm: the benchmark's cuBLAS option still applied.
    ("s19c/step_nofallback.json", "on, + --xla_gpu_cublas_fallback=false (no effect)", 2),
    ("s19c/step_gemmany.json", "on, + --xla_gpu_triton_gemm_any=true (no effect)", 2),
    ("s19c/step_tree2.json", "on, again", 2),
    ("s19e/bench.json", "on, in the lease of run s19e", 3),
]
# (folder, run name, validation graphs, lease): runs from scratch, each then tested on the
# 2,048 test graphs at N = 128.
RUNS = [("s19b", "full_s0", 512, 1), ("s19b", "full_s1", 512, 1), ("s19b", "full_s2", 512, 1),
        ("s19d", "full_s0", 2048, 2), ("s19d", "full_s1", 2048, 2), ("s19d", "full_s2", 2048, 2),
        ("s19e", "full_s3", 2048, 3)]


def _load(path):
  with open(os.path.join(HERE, path)) as f:
    return json.load(f)["train_step"]


def _figures_module(session):
  """An earlier session's figures.py as a module: session 17's kernel grouping and session
  18's kernel_groups and test_solved serve here too (they keep absolute paths as given)."""
  spec = importlib.util.spec_from_file_location(
      f"session{session}_figures", os.path.join(RESULTS, f"h200_session{session}", "figures.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def real_token_flops():
  """The model's FLOPs of the benchmark's step on real positions only, from its 4 batches
  (batches are a pure function of the config and the step, so they are regenerated here)."""
  from configs import discrete_ec  # pylint: disable=import-outside-toplevel
  from recur_latent.training import data_stream, throughput  # pylint: disable=import-outside-toplevel
  config = discrete_ec.get_config("recipe=fast")
  config.data.num_names = 512
  source = data_stream.BatchSource(config)
  return sum(throughput.model_flops_real_tokens(config, source.batch(s)["length_B"], 256)
             for s in range(4)) / 4


def run_summary(session18, folder, name):
  """Validation points, the training summary's figures and the test result of one run."""
  points = []
  with open(os.path.join(HERE, folder, f"metrics_{name.split('_')[1]}.jsonl")) as f:
    for line in f:
      record = json.loads(line)
      if "val_solved_n128" in record:
        points.append((record["step"], record["elapsed_s"], record["val_solved_n128"]))
  with open(os.path.join(HERE, folder, f"{name}.log")) as f:
    log = f.read()
  summary = {key: float(re.search(rf"'{key}': ([0-9.]+)", log).group(1))
             for key in ("time_to_target_s", "compile_s", "final_step", "wall_clock_s")}
  summary["test"] = session18.test_solved(os.path.join(HERE, folder), name)
  return points, summary


def main():
  lines = ["## Train step (fast recipe, flash, 512 names, batch 256 at length 256, 30 steps)", "",
           "MFU: each row's own model count (with skip_padding the padded queries' attention is "
           "not counted) over 790 TFLOP/s, at the pipelined time.", "",
           "| lease | setting | waited-on ms | pipelined ms | model TFLOP | graphs/s | x paper | MFU |",
           "|---|---|---|---|---|---|---|---|"]
  steps = []
  for path, label, lease in STEPS:
    s = _load(path)
    steps.append((label, lease, s))
    rate = 256 / s["pipelined_step_s"]
    lines.append(f"| {lease} | {label} | {1e3 * s['step_s']:.2f} | {1e3 * s['pipelined_step_s']:.2f} | "
                 f"{s['step_flops_model'] / 1e12:.2f} | {rate:,.0f} | {rate / PAPER_GRAPHS_PER_S:.1f} | "
                 f"{s['step_flops_model'] / s['pipelined_step_s'] / PEAK:.1%} |")

  real = real_token_flops()
  lines += ["", f"Counted on the real positions alone (`throughput.model_flops_real_tokens` of the "
            f"benchmark's 4 batches, regenerated: {real / 1e12:.3f} TFLOP a step), the first "
            f"row's step is {real / steps[0][2]['pipelined_step_s'] / PEAK:.1%} of peak and the "
            f"second's {real / steps[1][2]['pipelined_step_s'] / PEAK:.1%}."]

  before_json = os.path.join(RESULTS, "h200_session18", "s18g", "step_tree1.json")
  after_json = os.path.join(HERE, "s19a", "step_on2.json")
  lines += ["", "## Flash kernels per step (ms, from the profiles)", "",
            "| profile | forward | dq | dk/dv |", "|---|---|---|---|"]
  for path, label in ((before_json, "session 18's shipped step (s18g, lease 3 of session 18)"),
                      (after_json, "skip_padding on (s19a/step_on2)")):
    with open(path) as f:
      ms = {r["name"]: r["ms_per_call"] for r in json.load(f)["train_step"]["profile"]["rows"]}
    lines.append(f"| {label} | {ms['forward_kernel']:.2f} | {ms['dq_kernel']:.2f} | "
                 f"{ms['dkv_kernel']:.2f} |")

  session17, session18 = _figures_module(17), _figures_module(18)
  before = session18.kernel_groups(
      session17, before_json, os.path.join(RESULTS, "h200_session18", "s18g", "step_tree1.hlo.gz"))
  after = session18.kernel_groups(session17, after_json,
                                  os.path.join(HERE, "s19a", "step_on2.hlo.gz"))
  lines += ["", "## Kernel time per step by group (ms; the 150 longest kernels of each profile)", "",
            "| group | session 18's shipped step | skip_padding on |", "|---|---|---|"]
  for g in session17.GROUPS:
    lines.append(f"| {g} | {before[g]:.2f} | {after[g]:.2f} |")
  lines.append(f"| all listed | {sum(before.values()):.2f} | {sum(after.values()):.2f} |")

  lines += ["", "## From scratch to two validations in a row at 99.5% (N = 128), then the 2,048 test "
            "graphs", "",
            "| lease | run | validation graphs | first at target (s) | stopped (s) | steps | compile s | "
            "test solved at N = 128 |", "|---|---|---|---|---|---|---|---|"]
  fig, ax = plt.subplots(figsize=(7.5, 4.2))
  for folder, name, graphs, lease in RUNS:
    points, s = run_summary(session18, folder, name)
    lines.append(f"| {lease} | {folder}/{name} | {graphs:,} | {s['time_to_target_s']:.1f} | "
                 f"{s['wall_clock_s']:.1f} | {int(s['final_step']):,} | {s['compile_s']:.1f} | "
                 f"{s['test']:.3f} |")
    ax.plot([p[1] for p in points], [p[2] for p in points], marker="o" if graphs == 2048 else "x",
            ls="-" if graphs == 2048 else ":",
            label=f"{folder}/{name.split('_')[1]}: {graphs} val. graphs, test {s['test']:.3f}")
  ax.axhline(0.995, color="k", lw=0.8, ls="--")
  ax.set_xlabel("seconds since process start (compile included)")
  ax.set_ylabel("solved at N = 128 (validation graphs)")
  ax.set_title("Full method from scratch on one H200 (skip_padding on)")
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(os.path.join(HERE, "time_to_accuracy.png"), dpi=130)

  fig, ax = plt.subplots(figsize=(9, 4.5))
  colors = {1: "#c44e52", 2: "#4c72b0", 3: "#55a868"}
  for i, (label, lease, s) in enumerate(steps):
    ms = 1e3 * s["pipelined_step_s"]
    ax.barh(i, ms, color=colors[lease])
    ax.text(ms + 0.05, i, f"{ms:.2f}", va="center", fontsize=7)
    target_ms = s["step_flops_model"] / 0.30 / PEAK * 1e3
    ax.plot([target_ms, target_ms], [i - 0.4, i + 0.4], color="k", lw=1.5)
  ax.set_yticks(range(len(steps)), [f"lease {lease}: {label}" for label, lease, _ in steps], fontsize=7)
  ax.invert_yaxis()
  ax.set_xlim(0, 20)
  ax.set_xlabel("train step, pipelined (ms, H200); black ticks: 30% MFU for that row's FLOP count")
  fig.tight_layout()
  fig.savefig(os.path.join(HERE, "step_time.png"), dpi=130)

  with open(os.path.join(HERE, "tables.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
