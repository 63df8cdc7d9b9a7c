"""Plots (PNG files) and Markdown tables of evaluation results."""
import os

import numpy as np

from recur_latent.evaluation import metrics
from recur_latent.evaluation import plots
from recur_latent.evaluation import tables

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _summary(rate_by_depth, num_graphs=40, seed=0):
  """A summary whose graphs of depth d are solved with probability rate_by_depth[d]."""
  rng = np.random.default_rng(seed)
  depth_B = rng.integers(0, len(rate_by_depth), num_graphs)
  solved_B = rng.random(num_graphs) < np.asarray(rate_by_depth)[depth_B]
  iters_B = depth_B + 2
  num_iters = int(iters_B.max())
  solved_BT = (np.arange(num_iters)[None] >= depth_B[:, None]) & solved_B[:, None]
  records = {
      "solved_B": solved_B, "nodes_correct_B": np.where(solved_B, 5, 4), "nodes_total_B": np.full(num_graphs, 5),
      "graph_depth_B": depth_B, "num_nodes_B": np.full(num_graphs, 5),
      "correct_by_depth_BD": np.ones((num_graphs, 2), int), "total_by_depth_BD": np.ones((num_graphs, 2), int),
      "iters_B": iters_B, "solved_BT": solved_BT,
  }
  return metrics.summarize(records)


def _results():
  return {
      "discrete_ec/oracle": {"8": _summary([1, 1, 1]), "16": _summary([1, 1, 0.9, 0.8])},
      "discrete_ec/fixed_point": {"8": _summary([1, 1, 0.5]), "16": _summary([1, 0.5, 0.5, 0.2], seed=1)},
  }


def test_plots_are_written_as_png(tmp_path):
  paths = plots.write_all(_results(), str(tmp_path), paper_methods=("discrete_ec", "cot"), train_size=8)
  assert len(paths) == 5  # One size plot, plus iterations and depth plots per label.
  for path in paths:
    assert os.path.getsize(path) > 1000
    with open(path, "rb") as f:
      assert f.read(8) == PNG_MAGIC
  assert os.path.exists(tmp_path / "iterations_discrete_ec_oracle.png")


def test_size_table_lists_labels_sizes_and_paper_rows():
  results = _results()
  table = tables.size_table(results, paper_methods=("discrete",))
  lines = table.splitlines()
  assert lines[0] == "| method | N=8 | N=16 |"
  assert lines[2].startswith("| discrete_ec/oracle | 1.000 |")
  assert lines[-1] == "| paper: Discrete latent supervision | 1.000 | 0.995 |"


def test_report_contains_every_section():
  evaluation = {"method": "discrete_ec", "checkpoint": "/x", "results": _results(),
                "correction": {"8": {"num_wrong": 10, "num_corrected": 9, "rate": 0.9, "corrupt_prob": 0.5}}}
  text = tables.report(evaluation)
  for heading in ("## Fraction fully solved", "## discrete_ec/oracle", "### Fully solved by graph depth",
                  "### Solved after t iterations", "### Iterations used", "## One-step error correction"):
    assert heading in text, heading
  assert "| 8 | 10 | 9 | 0.900 |" in text


def test_training_curves_name_runs_that_only_some_panels_show(tmp_path, monkeypatch):
  figures = []
  monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or path)
  runs = {"a": [{"step": s, "loss": 1.0 / s, "val": 0.1 * s} for s in (1, 2)],
          "b": [{"step": s, "loss": 2.0 / s} for s in (1, 2)],  # Logs no "val".
          "c": [{"step": s, "loss": 3.0 / s, "tokens": 0.5} for s in (1, 2)]}
  plots.training_curves(runs, ["loss", "val", "tokens"], str(tmp_path / "curves.png"))
  loss_ax, val_ax, tokens_ax = figures[0].axes
  legends = [[t.get_text() for t in ax.get_legend().get_texts()] if ax.get_legend() else None
             for ax in (loss_ax, val_ax, tokens_ax)]
  assert legends == [["a", "b", "c"], ["a"], ["c"]]
  # A run keeps its colour in every panel, whichever runs a panel lacks.
  colour = {line.get_label(): line.get_color() for line in loss_ax.get_lines()}
  assert tokens_ax.get_lines()[0].get_color() == colour["c"]
  assert val_ax.get_lines()[0].get_color() == colour["a"]
