"""Mechanistic interpretability of a trained factored model (SPEC section 4).

  python -m experiments.interpret --checkpoint=WORKDIR_OR_EXPORT_OR_NAME --output=DIR

Loads the model, builds probe equations on solved training-distribution
problems, and writes figures, report.md and results.npz to DIR. The logic
lives in recur_latent/interp/.
"""
from absl import app
from absl import flags
from absl import logging

from recur_latent import api
from recur_latent.data import graphs as graphs_lib
from recur_latent.data import text as text_lib
from recur_latent.data import tokenize as tokenize_lib
from recur_latent.interp import analysis
from recur_latent.interp import capture
from recur_latent.interp import probes
from recur_latent.interp import report
from recur_latent.models import factory

_CHECKPOINT = flags.DEFINE_string("checkpoint", None,
                                  "Training workdir, exported model directory or shipped model name.",
                                  required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Directory for figures and report.md.", required=True)
_PROBLEMS = flags.DEFINE_string("problems", None,
                                "Optional JSON Lines problem file for the base problems "
                                "(default: sampled like the training data).")
_NUM_BASES = flags.DEFINE_integer("num_bases", 8, "Base problems the slot grids are built on.")
_NUM_NODES = flags.DEFINE_integer("num_nodes", 32, "N of sampled base problems.")
_MAX_DEPTH = flags.DEFINE_integer("max_depth", 6, "Depth cap of sampled base problems.")
_NUM_SETTINGS = flags.DEFINE_integer("num_settings", 8, "Fixed settings per slot grid and base.")
_THRESHOLD = flags.DEFINE_float("threshold", 0.5, "Relative variance to join an operand group.")
_VALUE_GRID = flags.DEFINE_bool("value_grid", True, "Run the p^3 value grid and its DFT.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 512, "Probes per forward pass.")
_FLOAT32 = flags.DEFINE_bool("float32", True, "Compute in float32 whatever the trained dtype.")
_SEED = flags.DEFINE_integer("seed", 0, "Seeds base problems and slot grids.")


def main(argv):
  del argv
  bundle = api.load(_CHECKPOINT.value)
  model, config = bundle.model, bundle.config
  if _FLOAT32.value:
    model = capture.float32_copy(model, config)
  vocab = factory.vocab_from_config(config)
  if _PROBLEMS.value:
    problems_list = text_lib.read_jsonl(_PROBLEMS.value, num_names=vocab.num_names)
    batch = tokenize_lib.tokenize_problems(problems_list[:_NUM_BASES.value], vocab)
    bases = [batch["targets_BLF"][g, :n] for g, n in enumerate(batch["length_B"])]
  else:
    graphs = graphs_lib.sample_graphs(
        (_SEED.value, 1), _NUM_BASES.value, _NUM_NODES.value, max_depth=_MAX_DEPTH.value,
        ops=("add",), modulus=vocab.modulus, num_names=vocab.num_names)
    bases = probes.solved_bases(graphs)
  logging.info("Analysing %d base problems of lengths %s", len(bases), [len(b) for b in bases])
  results = analysis.analyze(model, bases, vocab, num_settings=_NUM_SETTINGS.value,
                             threshold=_THRESHOLD.value, value_grid=_VALUE_GRID.value,
                             batch_size=_BATCH_SIZE.value, seed=_SEED.value)
  notes = (f"Checkpoint `{_CHECKPOINT.value}` (method {config.method}, "
           f"{config.model.num_layers} layers, d={config.model.d_model}, "
           f"{config.model.num_heads} heads, position {config.model.position}, p={vocab.modulus}); "
           f"{len(bases)} base problems.")
  paths = report.write_report(results, _OUTPUT.value, notes=notes)
  logging.info("Wrote %s", paths)


if __name__ == "__main__":
  app.run(main)
