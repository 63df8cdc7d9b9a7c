r"""Prints train-step and evaluation throughput: `python -m experiments.benchmark --config=...`.

Figures: compile time, median step time (each step waited on) and the pipelined
step time (steps dispatched back to back, as training runs them), graphs/s, real and padded tokens/s,
padding share, XLA FLOPs per step, achieved TFLOP/s and MFU (against
--peak_tflops, default the H200's measured dense bf16 rate), peak device
memory of the compiled step, and the time to solve the fixed evaluation set
with the adaptive while_loop rollout. `--profile_dir=DIR` also traces a few
train steps and prints the time per kernel (the table lands in the JSON too).
"""
import json

from absl import app
from absl import flags
from flax import nnx
from ml_collections import config_flags

from recur_latent import api
from recur_latent.models import attention
from recur_latent.models import factory
from recur_latent.training import gpu_gemms
from recur_latent.training import profiling
from recur_latent.training import throughput

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config to benchmark.")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed train steps.")
_PEAK = flags.DEFINE_float("peak_tflops", 790.0, "Dense bf16 peak for MFU (H200 measured).")
_EVAL_SIZES = flags.DEFINE_list("eval_sizes", ["128"], "Graph sizes for the rollout timing.")
_EVAL_GRAPHS = flags.DEFINE_integer("eval_graphs", 2048, "Graphs per rollout timing.")
_HALTING = flags.DEFINE_list("halting", ["oracle"], "Halting rules of the rollout timing.")
_EVAL_BATCH = flags.DEFINE_integer("eval_batch", 256, "Graphs per rollout batch.")
_SUFFIX_CHUNKS = flags.DEFINE_list(
    "suffix_chunks", ["1"], "Chunks of the rollout's suffix recomputation (1 = the whole "
    "sequence every iteration); one timing per value.")
_SKIP_TRAIN = flags.DEFINE_bool("skip_train_step", False, "Time the rollout only.")
_SKIP_ROLLOUT = flags.DEFINE_bool("skip_rollout", False, "Time the train step only.")
_PROFILE_DIR = flags.DEFINE_string("profile_dir", None,
                                   "Also trace some train steps here and print the time per kernel.")
_PROFILE_STEPS = flags.DEFINE_integer("profile_steps", 5, "Train steps in the profiler trace.")
_PROFILE_TOP = flags.DEFINE_integer("profile_top", 25, "Kernels listed in the profile table.")
_HLO = flags.DEFINE_string("hlo", None, "Also write the compiled train step's optimized HLO here.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "Trained model for the rollout timing: a training workdir, an exported "
    "directory or a shipped name such as 'default' (its own config then sets the model).")
_RELATIVE_SCORES = flags.DEFINE_enum(
    "relative_scores", None, list(attention.RELATIVE_SCORES),
    "With --checkpoint: time the loaded parameters through this relative-score path "
    "(the same function; models/banded.py) instead of the one they were trained with.")
_CUBLAS = flags.DEFINE_bool(
    "cublas_gemms", True, "On a GPU, every matrix product through cuBLAS, none as an XLA Triton "
    "fusion (training/gpu_gemms.py), as experiments.train runs them; it holds for the rollout "
    "timing too (results/h200_session17/ measured that rollout with XLA's default).")
_OUTPUT = flags.DEFINE_string("output", None, "Optional JSON file for the figures.")
flags.mark_flags_as_required(["config"])


def main(argv):
  del argv
  gpu_gemms.prefer_cublas(_CUBLAS.value)  # Before any computation.
  config = _CONFIG.value
  results = {}
  if not _SKIP_TRAIN.value:
    results["train_step"] = throughput.benchmark_train_step(
        config, steps=_STEPS.value, peak_flops=_PEAK.value * 1e12,
        profile_dir=_PROFILE_DIR.value, profile_steps=_PROFILE_STEPS.value,
        profile_top=_PROFILE_TOP.value, hlo_path=_HLO.value)
    profile = results["train_step"].get("profile")
    print(json.dumps({k: v for k, v in results["train_step"].items() if k != "profile"}, indent=2))
    if profile:
      print(profiling.format_table(profile))
    _write(results)  # The train-step figures survive a failure further on.
  if not _SKIP_ROLLOUT.value and config.method in ("continuous", "discrete", "discrete_ec"):
    if _CHECKPOINT.value:
      model, config = _load(_CHECKPOINT.value, _RELATIVE_SCORES.value)
    else:
      model = factory.build_model(config, nnx.Rngs(0))
    results["rollout"] = [
        throughput.benchmark_rollout(
            model, num_nodes=int(n), num_graphs=_EVAL_GRAPHS.value, halting=halting,
            max_iters=config.eval.max_iters, num_names=config.data.num_names,
            modulus=config.data.modulus, batch_size=min(_EVAL_GRAPHS.value, _EVAL_BATCH.value),
            suffix_chunks=int(chunks))
        for n in _EVAL_SIZES.value for halting in _HALTING.value
        for chunks in _SUFFIX_CHUNKS.value]
    for r in results["rollout"]:
      print(json.dumps(r))
  _write(results)


def _load(path, relative_scores):
  """(model, config) of a trained model, rebuilt on `relative_scores` when given."""
  bundle = api.load(path)
  model, config = bundle.model, bundle.config
  if relative_scores and relative_scores != config.model.get("relative_scores", "dense"):
    # Both paths hold the same parameters.
    model, config = factory.rebuild_model(model, config, relative_scores=relative_scores)
  print(f"rollout model: {path} (relative_scores={config.model.get('relative_scores', 'dense')})")
  return model, config


def _write(results):
  if _OUTPUT.value:
    with open(_OUTPUT.value, "w") as f:
      json.dump(results, f, indent=2)


if __name__ == "__main__":
  app.run(main)
