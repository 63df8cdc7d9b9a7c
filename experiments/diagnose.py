r"""One-step accuracy of a trained recurrent model by iteration and fan-in.

  python -m experiments.diagnose --workdir=RUN [--num_nodes=16] [--num_graphs=512]

Prints a Markdown table: which kinds of node (leaf, copy, 2- or 3-operand sum)
the model computes right when teacher-forced at each iteration.
"""
from absl import app
from absl import flags

from recur_latent import api
from recur_latent.data import graphs as graphs_lib
from recur_latent.evaluation import diagnosis

_WORKDIR = flags.DEFINE_string("workdir", None, "Training run, exported model or shipped model name to diagnose.")
_WHICH = flags.DEFINE_enum("which", "latest", ["best", "latest"], "Which checkpoint.")
_NUM_NODES = flags.DEFINE_integer("num_nodes", 16, "Graph size N.")
_NUM_GRAPHS = flags.DEFINE_integer("num_graphs", 512, "Graphs to score.")
_MAX_DEPTH = flags.DEFINE_integer("max_depth", 6, "Depth cap of the graphs (0: none).")
_SEED = flags.DEFINE_integer("seed", 5, "Seed of the graphs.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv
  bundle = api.load(_WORKDIR.value, which=_WHICH.value)
  model, config = bundle.model, bundle.config
  graphs = graphs_lib.sample_graphs(
      (_SEED.value, _NUM_NODES.value), _NUM_GRAPHS.value, _NUM_NODES.value,
      num_leaves=config.data.num_leaves, max_depth=_MAX_DEPTH.value or None,
      ops=tuple(config.data.ops), modulus=config.data.modulus,
      num_names=config.data.num_names, max_fan_in=config.data.max_fan_in)
  print(diagnosis.format_report(diagnosis.one_step_accuracy(model, graphs)))


if __name__ == "__main__":
  app.run(main)
