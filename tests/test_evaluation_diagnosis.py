"""The one-step diagnosis splits every defining token into exactly one group."""
import numpy as np
from flax import nnx

from configs import discrete_ec
from recur_latent.data import graphs as graphs_lib
from recur_latent.evaluation import diagnosis
from recur_latent.models import factory


def test_groups_partition_the_defining_tokens_and_leaves_are_due_first():
  config = discrete_ec.get_config("size=tiny")
  model = factory.build_model(config, nnx.Rngs(0))
  graphs = graphs_lib.sample_graphs(3, 24, 10, num_names=config.data.num_names, max_depth=3)
  report = diagnosis.one_step_accuracy(model, graphs)
  assert sorted(report) == list(range(int(graphs.graph_depth_G.max()) + 1))
  for t, row in report.items():
    total = sum(count for _, count in row.values())
    assert total == graphs.num_graphs * graphs.num_nodes, (t, row)
    for accuracy, count in row.values():
      assert count == 0 or 0.0 <= accuracy <= 1.0
  # Iteration 0 computes exactly the 6 leaves of every graph, nothing else.
  assert report[0]["k0"][1] == 6 * graphs.num_graphs
  assert all(report[0][k][1] == 0 for k in ("k1", "k2", "k3", "kept"))
  assert report[1]["k0"][1] == 0
  assert "| t | leaf (k=0)" in diagnosis.format_report(report)
