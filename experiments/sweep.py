r"""Runs a sweep of trainings + evaluations, then one combined table and plot.

  python -m experiments.sweep --sweep=configs/sweeps/paper_methods.py[:ARG] [--workdir_root=DIR]

A sweep file defines `get_sweep(arg) -> [(name, config_path, overrides), ...]`:
`config_path` is a config file with an optional `:arg` (as for --config), and
`overrides` maps dotted fields to values (`{"train.num_steps": 5000}`). Each
run trains in DIR/name (resuming if interrupted), then is evaluated there
(eval.json, eval.md, plots). A run whose eval.json exists is skipped, so a
rerun only does what is missing. DIR gets sweep.json, sweep.md and
accuracy_vs_size.png over all runs.
"""
import importlib.util
import json
import os
from typing import Callable

from absl import app
from absl import flags
from absl import logging

from recur_latent.evaluation import artifacts
from recur_latent.evaluation import ood
from recur_latent.evaluation import plots
from recur_latent.evaluation import tables
from recur_latent.training import checkpoints
from recur_latent.training import compile_cache
from recur_latent.training import gpu_gemms
from recur_latent.training import loop

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_SWEEP = flags.DEFINE_string("sweep", None, "Sweep file, optionally with ':arg'.")
_WORKDIR_ROOT = flags.DEFINE_string("workdir_root", None, "Parent of the run directories "
                                    "(default: runs/<sweep file name>).")
_ONLY = flags.DEFINE_list("only", None, "Run only these run names.")
_COMPILE_CACHE = flags.DEFINE_string(
    "compilation_cache_dir", compile_cache.DEFAULT_DIR,
    "Persistent cache of compiled steps, shared by the runs ('' turns it off).")
_CUBLAS = flags.DEFINE_bool(
    "cublas_gemms", True, "On a GPU, every matrix product through cuBLAS, none as an XLA Triton "
    "fusion (training/gpu_gemms.py: 6% off the H200 train step).")


def _resolve(path: str) -> str:
  """A path as given, else relative to the repository root (so sweeps run from anywhere)."""
  if os.path.exists(path) or os.path.isabs(path):
    return path
  return os.path.join(REPO_ROOT, path)


def _load_module(path: str):
  path = _resolve(path)
  if not os.path.exists(path):
    raise FileNotFoundError(f"no such file: {path}")
  spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def load_config(config_path: str, overrides: dict | None = None):
  """`configs/x.py:arg` -> get_config(arg), with dotted-key overrides applied."""
  path, _, arg = config_path.partition(":")
  config = _load_module(path).get_config(arg)
  for key, value in (overrides or {}).items():
    *parents, field = key.split(".")
    node = config
    for part in parents:
      node = node[part]
    if field not in node:
      raise KeyError(f"override {key!r}: {config_path} has no field {field!r} there")
    node[field] = value
  return config


def load_sweep(sweep_arg: str) -> list[tuple[str, str, dict]]:
  path, _, arg = sweep_arg.partition(":")
  runs = list(_load_module(path).get_sweep(arg))
  names = [name for name, _, _ in runs]
  if len(set(names)) != len(names):
    raise ValueError(f"run names in {path} are not unique: {names}")
  return runs


def run_one(name: str, config, workdir: str, *, train_fn: Callable = loop.train,
            log: Callable = logging.info) -> dict:
  """Trains (or resumes) and evaluates one run, unless its eval.json exists; returns the evaluation."""
  eval_path = os.path.join(workdir, artifacts.JSON_NAME)
  if os.path.exists(eval_path):
    log(f"[{name}] finished earlier: {eval_path}")
    return artifacts.read_evaluation(eval_path)
  saved = os.path.join(workdir, checkpoints.CONFIG_FILE)
  if os.path.exists(saved):
    with open(saved) as f:
      if json.load(f) != json.loads(config.to_json_best_effort()):
        log(f"[{name}] WARNING: {saved} differs from the sweep's config; resuming anyway")
  log(f"[{name}] training {config.method} in {workdir}")
  summary = train_fn(config, workdir)
  log(f"[{name}] trained: {summary}")
  model, trained_config = checkpoints.load_model(workdir)
  evaluation = ood.evaluate_model(model, trained_config, log=log)
  evaluation.update(checkpoint=workdir, run=name, train_summary=summary)
  artifacts.write_evaluation(evaluation, workdir, train_size=trained_config.data.train_max_nodes)
  return evaluation


def combine(evaluations: dict[str, dict], output_dir: str) -> dict:
  """One table and plot over runs: curves labelled `run` (single curve) or `run/label`."""
  curves = {}
  for name, evaluation in evaluations.items():
    results = evaluation["results"]
    for label, by_size in results.items():
      curves[name if len(results) == 1 else f"{name}/{label}"] = by_size
  paper_methods = artifacts.paper_methods_for([e["method"] for e in evaluations.values()])
  os.makedirs(output_dir, exist_ok=True)
  with open(os.path.join(output_dir, "sweep.json"), "w") as f:
    json.dump({"runs": evaluations}, f, indent=1)
  corrections = {name: e["correction"] for name, e in evaluations.items() if e.get("correction")}
  text = ["# Sweep: fraction fully solved", "", tables.size_table(curves, paper_methods=paper_methods), "",
          "## Per-node accuracy", "", tables.size_table(curves, key="node_accuracy"), ""]
  for name, correction in corrections.items():
    text += [f"## One-step error correction: {name}", "", tables.correction_table(correction), ""]
  with open(os.path.join(output_dir, "sweep.md"), "w") as f:
    f.write("\n".join(text))
  plots.accuracy_vs_size(curves, os.path.join(output_dir, "accuracy_vs_size.png"),
                         paper_methods=paper_methods)
  return curves


def run_sweep(sweep_arg: str, workdir_root: str, *, only=None, train_fn: Callable = loop.train,
              log: Callable = logging.info) -> dict:
  """Runs every run of a sweep (skipping finished ones) and writes the combined outputs."""
  all_runs = load_sweep(sweep_arg)
  runs = all_runs
  if only:
    unknown = set(only) - {name for name, _, _ in runs}
    if unknown:
      raise ValueError(f"--only names {sorted(unknown)} are not in the sweep")
    runs = [run for run in runs if run[0] in only]
  evaluations = {}
  for index, (name, config_path, overrides) in enumerate(runs):
    log(f"run {index + 1}/{len(runs)}: {name} ({config_path}, {overrides})")
    config = load_config(config_path, overrides)
    evaluations[name] = run_one(name, config, os.path.join(workdir_root, name), train_fn=train_fn, log=log)
  # The combined outputs cover every finished run of the sweep, in the sweep's
  # order, so processes that split it with --only do not overwrite each other's rows.
  combined = {}
  for name, _, _ in all_runs:
    eval_path = os.path.join(workdir_root, name, artifacts.JSON_NAME)
    if name in evaluations:
      combined[name] = evaluations[name]
    elif os.path.exists(eval_path):
      combined[name] = artifacts.read_evaluation(eval_path)
  combine(combined, workdir_root)
  log(f"wrote {os.path.join(workdir_root, 'sweep.md')} ({len(combined)} of {len(all_runs)} runs)")
  return evaluations


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  if not _SWEEP.value:
    raise app.UsageError("--sweep is required")
  logging.info("XLA_FLAGS: %s", gpu_gemms.prefer_cublas(_CUBLAS.value))  # Before any computation.
  logging.info("compilation cache: %s", compile_cache.enable(_COMPILE_CACHE.value))
  sweep_name = os.path.splitext(os.path.basename(_SWEEP.value.partition(":")[0]))[0]
  root = _WORKDIR_ROOT.value or os.path.join("runs", sweep_name)
  run_sweep(_SWEEP.value, root, only=_ONLY.value)
  with open(os.path.join(root, "sweep.md")) as f:
    print(f.read())


if __name__ == "__main__":
  app.run(main)
