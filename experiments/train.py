r"""Trains one method: `python -m experiments.train --config=configs/NAME.py --workdir=DIR`.

Override any field with `--config.train.num_steps=100`. Rerunning with the same
workdir resumes from its latest checkpoint. Ends by printing % fully solved at
the training size and at 2x and 4x it.
"""
from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from recur_latent.training import checkpoints
from recur_latent.training import compile_cache
from recur_latent.training import gpu_gemms
from recur_latent.training import loop

_CONFIG = config_flags.DEFINE_config_file("config", None, "Training config file.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and metrics.")
_FINAL_EVAL = flags.DEFINE_bool("final_eval", True,
                                "Evaluate at 1x, 2x and 4x the training size at the end.")
_COMPILE_CACHE = flags.DEFINE_string(
    "compilation_cache_dir", compile_cache.DEFAULT_DIR,
    "Persistent cache of compiled steps, so that re-runs skip the compiles ('' turns it off).")
_CUBLAS = flags.DEFINE_bool(
    "cublas_gemms", True, "On a GPU, every matrix product through cuBLAS, none as an XLA Triton "
    "fusion (training/gpu_gemms.py: 6% off the H200 train step).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  checkpoints.quiet_checkpoint_logs()
  logging.info("XLA_FLAGS: %s", gpu_gemms.prefer_cublas(_CUBLAS.value))  # Before any computation.
  logging.info("compilation cache: %s", compile_cache.enable(_COMPILE_CACHE.value))
  config = _CONFIG.value
  summary = loop.train(config, _WORKDIR.value)
  logging.info("training summary: %s", summary)
  if _FINAL_EVAL.value:
    from recur_latent.evaluation import ood
    ood.print_generalization_summary(_WORKDIR.value)


if __name__ == "__main__":
  app.run(main)
