r"""Data pipeline throughput on ONE CPU core (graphs/s and tokens/s).

  python -m experiments.benchmark_data
Measures generation alone, generation + factored tokenization and generation
+ chain-of-thought sequences, at N=32 (max_depth=6, the training setting) and
N=128 (no cap, the largest in-paper test size).
"""
import os

# Single-threaded BLAS/OpenMP, set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
  os.environ[_var] = "1"

import time  # pylint: disable=g-import-not-at-top

from absl import app
from absl import flags

from recur_latent.data import cot
from recur_latent.data import graphs
from recur_latent.data import tokenize

_BATCH_SIZE = flags.DEFINE_integer("batch_size", 4096, "Graphs per call.")
_SECONDS = flags.DEFINE_float("seconds", 3.0, "Time per measurement.")


def _measure(num_nodes, max_depth, stage):
  """(graphs/s, tokens/s) of `stage` in a timed loop of fresh seeds.

  Time is this process's CPU time, so other load on the machine does not
  count (the work is single-threaded).
  """
  num_graphs = num_tokens = step = 0
  start = time.process_time()
  while time.process_time() - start < _SECONDS.value:
    batch = graphs.sample_graphs((step,), _BATCH_SIZE.value, num_nodes,
                                 max_depth=max_depth)
    if stage == "generate+tokenize":
      num_tokens += int(tokenize.tokenize_graphs(batch)["length_B"].sum())
    elif stage == "generate+cot":
      num_tokens += int(cot.cot_batch(batch)["length_B"].sum())
    num_graphs += batch.num_graphs
    step += 1
  elapsed = time.process_time() - start
  return num_graphs / elapsed, num_tokens / elapsed


def main(argv):
  del argv
  if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # One core.
  print(f"batch {_BATCH_SIZE.value} graphs; one CPU core")
  for num_nodes, max_depth in ((32, 6), (128, None)):
    for stage in ("generate", "generate+tokenize", "generate+cot"):
      graphs_per_s, tokens_per_s = _measure(num_nodes, max_depth, stage)
      tokens = f"{tokens_per_s:12,.0f} tokens/s" if tokens_per_s else ""
      print(f"N={num_nodes:4d} max_depth={str(max_depth):4s} {stage:18s} "
            f"{graphs_per_s:10,.0f} graphs/s {tokens}")


if __name__ == "__main__":
  app.run(main)
