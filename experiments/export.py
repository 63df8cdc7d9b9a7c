r"""Exports a trained run as a small self-contained model (config.json, params.npz, metadata.json).

  python -m experiments.export --workdir=RUN --output=recur_latent/assets/default
      [--which=best|latest] [--dtype=bfloat16|float32] [--commit=SHA]

A model under recur_latent/assets/NAME ships with the package and loads with
`recur_latent.api.load("NAME")`; it must stay within export.SHIPPED_MAX_BYTES.
"""
import json
import os

from absl import app
from absl import flags

from recur_latent import api
from recur_latent import export
from recur_latent.training import checkpoints

_WORKDIR = flags.DEFINE_string("workdir", None, "Training run to export.")
_OUTPUT = flags.DEFINE_string("output", None, "Output directory, e.g. recur_latent/assets/NAME.")
_WHICH = flags.DEFINE_enum("which", "best", ["best", "latest"], "Which checkpoint of the run.")
_DTYPE = flags.DEFINE_enum("dtype", "bfloat16", list(export.STORAGE_DTYPES), "Stored parameter dtype.")
_COMMIT = flags.DEFINE_string("commit", None, "Code commit the run was trained with (recorded).")
flags.mark_flags_as_required(["workdir", "output"])


def _best_score(workdir):
  """The run's best validation score record (best/score.json), if any."""
  path = os.path.join(workdir, "best", "score.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def main(argv):
  del argv
  model, config = checkpoints.load_model(_WORKDIR.value, which=_WHICH.value)
  extra = {"checkpoint": _WHICH.value}
  if _WHICH.value == "best" and _best_score(_WORKDIR.value) is not None:
    extra["best_validation"] = _best_score(_WORKDIR.value)
  metadata = export.export_model(model, config, _OUTPUT.value, dtype=_DTYPE.value,
                                 source_workdir=_WORKDIR.value, source_commit=_COMMIT.value, extra=extra)
  print(f"exported {metadata['method']} ({metadata['num_params']:,} parameters, {metadata['param_dtype']}) "
        f"-> {_OUTPUT.value}: {metadata['bytes']:,} bytes")
  shipped = os.path.abspath(_OUTPUT.value).startswith(os.path.abspath(api.assets_dir()) + os.sep)
  if shipped and metadata["bytes"] > export.SHIPPED_MAX_BYTES:
    raise SystemExit(f"{metadata['bytes']:,} bytes exceeds the {export.SHIPPED_MAX_BYTES:,} bytes a "
                     "shipped model may take; use --dtype=bfloat16 or a smaller model")


if __name__ == "__main__":
  app.run(main)
