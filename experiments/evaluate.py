r"""Evaluates a trained run on the fixed OOD sets: eval.json, eval.md and PNG plots.

  python -m experiments.evaluate --workdir=RUN [--sizes=8,16,32,64,128]
      [--num_graphs=2048] [--halting=oracle,fixed_point] [--output=DIR]
  python -m experiments.evaluate --checkpoint=RUN_OR_COPY_OR_EXPORT --output=DIR

Defaults come from the run's config (`eval` block). Outputs go to the workdir
(or --output).
"""
from absl import app
from absl import flags
from absl import logging

from recur_latent import api
from recur_latent.evaluation import artifacts
from recur_latent.evaluation import ood
from recur_latent.evaluation import tables
from recur_latent.models import attention
from recur_latent.models import factory

_WORKDIR = flags.DEFINE_string("workdir", None, "Training run to evaluate; outputs go here too.")
_CHECKPOINT = flags.DEFINE_string("checkpoint", None, "Run directory or exported model to load instead of --workdir.")
_WHICH = flags.DEFINE_enum("which", "best", ["best", "latest"], "Which checkpoint of the run.")
_OUTPUT = flags.DEFINE_string("output", None, "Output directory (default: the workdir / checkpoint).")
_SIZES = flags.DEFINE_list("sizes", None, "Graph sizes N (default: config.eval.sizes).")
_NUM_GRAPHS = flags.DEFINE_integer("num_graphs", None, "Graphs per size (default: config.eval.num_graphs).")
_HALTING = flags.DEFINE_list("halting", None, "Halting rules: oracle, fixed_point, all_filled.")
_MAX_ITERS = flags.DEFINE_integer("max_iters", None, "Bound on iterations (default: config.eval.max_iters).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", None, "Most graphs per batch (default: config.eval.batch_size).")
_CORRECTION_PROB = flags.DEFINE_float("correction_prob", None,
                                      "Fraction of values corrupted in the correction measurement (0: skip).")
_SUFFIX_CHUNKS = flags.DEFINE_integer(
    "suffix_chunks", None, "Discrete rollouts recompute from the chunk that changed; 1 = the "
    "whole sequence (default: config.eval.suffix_chunks).")
_PAPER = flags.DEFINE_bool("paper", True, "Draw and tabulate the paper's numbers for reference.")
_RELATIVE_SCORES = flags.DEFINE_enum(
    "relative_scores", None, list(attention.RELATIVE_SCORES),
    "Run the loaded parameters through this relative-score path (the same function; "
    "'flash' is the fastest rollout on a GPU) instead of the one in the run's config.")


def main(argv):
  del argv
  logging.set_verbosity(logging.INFO)
  source = _CHECKPOINT.value or _WORKDIR.value
  if not source:
    raise app.UsageError("give --workdir or --checkpoint")
  bundle = api.load(source, which=_WHICH.value)
  if bundle.metadata and not _OUTPUT.value:
    raise app.UsageError("give --output for an exported model (its directory is not a workdir)")
  output = _OUTPUT.value or source
  model, config = bundle.model, bundle.config
  if _RELATIVE_SCORES.value:
    model, config = factory.rebuild_model(model, config, relative_scores=_RELATIVE_SCORES.value)
  settings = ood.EvalSettings.from_config(
      config, sizes=tuple(int(n) for n in _SIZES.value) if _SIZES.value else None,
      num_graphs=_NUM_GRAPHS.value, halting=tuple(_HALTING.value) if _HALTING.value else None,
      max_iters=_MAX_ITERS.value, batch_size=_BATCH_SIZE.value, correction_prob=_CORRECTION_PROB.value,
      suffix_chunks=_SUFFIX_CHUNKS.value)
  evaluation = ood.evaluate_model(model, config, settings)
  evaluation.update(checkpoint=source, which=_WHICH.value,
                    relative_scores=config.model.get("relative_scores", "dense"))
  paths = artifacts.write_evaluation(evaluation, output, paper=_PAPER.value,
                                     train_size=config.data.train_max_nodes)
  print(tables.size_table(evaluation["results"],
                          paper_methods=artifacts.paper_methods_for([config.method]) if _PAPER.value else ()))
  logging.info("wrote %s, %s and %d plots", paths["json"], paths["markdown"], len(paths["plots"]))


if __name__ == "__main__":
  app.run(main)
