r"""Writes the fixed evaluation sets (data/eval_sets.py) as JSON Lines.

  python -m experiments.make_eval_sets --output_dir=/tmp/eval_sets --sizes=8,16,32
One file per size: <output_dir>/eval_n<N>.jsonl. Sizes above --num_names are
skipped (no model with that vocabulary can read them).
"""
import os

from absl import app
from absl import flags

from recur_latent.data import eval_sets
from recur_latent.data import problems
from recur_latent.data import text

_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Directory to write.", required=True)
_SIZES = flags.DEFINE_list("sizes", [str(n) for n in eval_sets.EVAL_SIZES],
                           "Problem sizes N.")
_NUM_GRAPHS = flags.DEFINE_integer("num_graphs", eval_sets.EVAL_NUM_GRAPHS,
                                   "Graphs per size.")
_OPS = flags.DEFINE_list("ops", ["add"], "Operations among add, sub, mul.")
_MODULUS = flags.DEFINE_integer("modulus", 23, "Values live in Z_modulus.")
_NUM_NAMES = flags.DEFINE_integer("num_names", 128, "The model's name vocabulary V.")


def main(argv):
  del argv
  os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
  for num_nodes in (int(s) for s in _SIZES.value):
    if num_nodes > _NUM_NAMES.value:
      print(f"skip N={num_nodes}: more nodes than num_names={_NUM_NAMES.value}")
      continue
    batch = eval_sets.eval_set(num_nodes, num_graphs=_NUM_GRAPHS.value,
                               ops=_OPS.value, modulus=_MODULUS.value,
                               num_names=_NUM_NAMES.value)
    path = os.path.join(_OUTPUT_DIR.value, f"eval_n{num_nodes}.jsonl")
    text.write_jsonl(path, problems.graphs_to_problems(batch))
    print(f"N={num_nodes}: {batch.num_graphs} graphs, mean depth "
          f"{batch.graph_depth_G.mean():.2f} -> {path}")


if __name__ == "__main__":
  app.run(main)
