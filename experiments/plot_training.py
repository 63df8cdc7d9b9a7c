r"""Plots training curves of several runs side by side.

  python -m experiments.plot_training --runs=a=RUN_A,b=RUN_B \
      --metrics=due_value_accuracy,state_accuracy --output=curves.png

A run is a workdir or a metrics.jsonl file. `--offsets=b=467` shifts run b's
x values (e.g. a run resumed from another one, drawn on one wall-clock axis).
"""
import os

from absl import app
from absl import flags

from recur_latent.evaluation import plots
from recur_latent.training import metrics_writer

_RUNS = flags.DEFINE_list("runs", None, "name=path pairs (workdir or metrics.jsonl).")
_METRICS = flags.DEFINE_list("metrics", ["loss", "state_accuracy"], "Metrics to plot.")
_X = flags.DEFINE_string("x", "step", "x axis: step or elapsed_s.")
_OUTPUT = flags.DEFINE_string("output", None, "PNG file to write.")
_TITLE = flags.DEFINE_string("title", "Training curves", "Figure title.")
_OFFSETS = flags.DEFINE_list("offsets", [], "name=amount pairs added to that run's x values.")
flags.mark_flags_as_required(["runs", "output"])


def _records(path):
  if os.path.isdir(path):
    return metrics_writer.read_metrics(path)
  return metrics_writer.read_metrics_file(path)


def main(argv):
  del argv
  runs = {}
  for item in _RUNS.value:
    name, _, path = item.partition("=")
    runs[name] = _records(path)
  for item in _OFFSETS.value:
    name, _, amount = item.partition("=")
    if name not in runs:
      raise app.UsageError(f"--offsets names {name!r}, which is not one of --runs")
    runs[name] = [dict(r, **{_X.value: r[_X.value] + float(amount)}) if _X.value in r else r
                  for r in runs[name]]
  print(plots.training_curves(runs, _METRICS.value, _OUTPUT.value, x=_X.value,
                              title=_TITLE.value))


if __name__ == "__main__":
  app.run(main)
