r"""Writes random problems with their solutions as JSON Lines.

  python -m experiments.generate --num_nodes=32 --num_graphs=1000 --seed=0 \
      --ops=add,sub,mul --max_depth=6 --output=/tmp/train.jsonl
"""
from absl import app
from absl import flags

from recur_latent.data import graphs
from recur_latent.data import problems
from recur_latent.data import text

_NUM_NODES = flags.DEFINE_integer("num_nodes", 32, "Nodes per graph (N).")
_NUM_GRAPHS = flags.DEFINE_integer("num_graphs", 1000, "Number of problems.")
_SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
_OPS = flags.DEFINE_list("ops", ["add"], "Operations among add, sub, mul.")
_MAX_DEPTH = flags.DEFINE_integer("max_depth", None, "Depth cap (unset: none).")
_MODULUS = flags.DEFINE_integer("modulus", 23, "Values live in Z_modulus.")
_NUM_NAMES = flags.DEFINE_integer("num_names", 128, "Names x_0..x_{num_names-1}.")
_OUTPUT = flags.DEFINE_string("output", None, "Output .jsonl path.", required=True)


def main(argv):
  del argv
  batch = graphs.sample_graphs(
      _SEED.value, _NUM_GRAPHS.value, _NUM_NODES.value, max_depth=_MAX_DEPTH.value,
      ops=_OPS.value, modulus=_MODULUS.value, num_names=_NUM_NAMES.value)
  text.write_jsonl(_OUTPUT.value, problems.graphs_to_problems(batch))
  print(f"wrote {batch.num_graphs} problems (N={batch.num_nodes}, mean depth "
        f"{batch.graph_depth_G.mean():.2f}) to {_OUTPUT.value}")


if __name__ == "__main__":
  app.run(main)
