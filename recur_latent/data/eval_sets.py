"""Fixed evaluation sets: the same graphs for every method and every run.

The seed of a set depends only on a fixed base and N, so the graph structure
is shared across methods; a set with other ops or modulus keeps the same
parents, names and depths (the op and value draws only change meaning).
"""
from typing import Sequence

from recur_latent.data import graphs as graphs_lib

# Problem sizes of the out-of-distribution sweep (SPEC sections 1 and 5).
EVAL_SIZES = tuple(range(8, 129, 8)) + (192, 256, 384, 512)
EVAL_BASE_SEED = 20251016  # Never used for training data.
EVAL_NUM_GRAPHS = 2048


_CHUNK = 256  # Graphs per seed, so that smaller sets are prefixes of larger ones.


def eval_seed(num_nodes: int, chunk: int) -> tuple[int, int, int]:
  return (EVAL_BASE_SEED, num_nodes, chunk)


def eval_set(num_nodes: int, *, num_graphs: int = EVAL_NUM_GRAPHS,
             ops: Sequence[str] = ("add",), modulus: int = 23,
             num_names: int = 128) -> graphs_lib.GraphBatch:
  """The fixed test graphs of size `num_nodes` (no depth cap, 6 leaves).

  The set with num_graphs = k is the first k graphs of any larger one.
  `num_names` must cover num_nodes; use the trained model's vocabulary size
  (a model with V = 128 names cannot read the N = 256 or 512 sets).
  """
  chunks = [
      graphs_lib.sample_graphs(eval_seed(num_nodes, c), _CHUNK, num_nodes,
                               max_depth=None, ops=ops, modulus=modulus,
                               num_names=num_names)
      for c in range(-(-num_graphs // _CHUNK))]
  if not chunks:
    return graphs_lib.sample_graphs(eval_seed(num_nodes, 0), 0, num_nodes, ops=ops,
                                    modulus=modulus, num_names=num_names)
  return graphs_lib.concat_graphs(chunks).select(slice(0, num_graphs))
