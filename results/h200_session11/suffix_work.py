"""How much of each iteration a suffix rollout must recompute, graph by graph.

  python results/h200_session11/suffix_work.py

Over 256 test graphs at N = 128 (512 names): iteration t recomputes from the
block of depth t - 1 (equations come grouped by depth), the first iteration
everything. Prints the mean share of the padded sequence recomputed per
iteration for a batch of one graph (the bound a larger batch cannot beat),
and the share of nodes at each depth. Writes suffix_work.json.
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from recur_latent.data import eval_sets  # pylint: disable=wrong-import-position
from recur_latent.data import tokenize as tokenize_lib  # pylint: disable=wrong-import-position


def main():
  graphs = eval_sets.eval_set(128, num_graphs=256, num_names=512, modulus=23)
  batch = tokenize_lib.tokenize_graphs(graphs)
  depth_BL, graph_depth_B = batch["node_depth_BL"], batch["graph_depth_B"]
  length = depth_BL.shape[1]
  positions_L = np.arange(length)
  shares = []
  for depth_L, deepest in zip(depth_BL, graph_depth_B):
    per_iteration = [1.0]
    for t in range(1, deepest + 2):  # The last one confirms the fixed point.
      block = positions_L[depth_L == t - 1]
      start = block.min() if len(block) else length - 1
      per_iteration.append((length - start) / length)
    shares.append(np.mean(per_iteration))
  counts = np.bincount(depth_BL[depth_BL >= 0].ravel())
  out = {"num_nodes": 128, "num_graphs": 256, "length": int(length),
         "recomputed_per_graph": float(np.mean(shares)),
         "node_share_by_depth": [round(float(c), 4) for c in counts / counts.sum()]}
  print(json.dumps(out))
  with open(os.path.join(HERE, "suffix_work.json"), "w") as f:
    json.dump(out, f, indent=1)


if __name__ == "__main__":
  main()
