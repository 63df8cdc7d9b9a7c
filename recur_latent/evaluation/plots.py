"""Figures of evaluation results (matplotlib, Agg backend: writes PNG files, needs no display).

Every function takes results in the shape `evaluate_sizes` produces:
`{label: {str(N): summary}}` with a summary from `metrics.summarize`, or the
`{str(N): summary}` of one label, and writes one PNG to `path`.
"""
import os
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
from matplotlib import ticker  # pylint: disable=g-import-not-at-top

from recur_latent.evaluation import paper_results

SizeResults = Mapping[str, Mapping]  # str(N) -> summary


def _sorted_sizes(by_size: SizeResults) -> list[int]:
  return sorted(int(n) for n in by_size)


def _save(fig, path: str) -> str:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=120, bbox_inches="tight")
  plt.close(fig)
  return path


def accuracy_vs_size(results: Mapping[str, SizeResults], path: str, *,
                     paper_methods: Sequence[str] = (), train_size: int | None = None,
                     title: str = "Out-of-distribution generalization",
                     paper_matches_curves: bool = False) -> str:
  """% fully solved against N: one solid line per label, the paper's numbers dashed.

  paper_matches_curves: paper_methods[i] is what the i-th curve reproduces, and
  its dashed line takes that curve's colour.
  """
  fig, ax = plt.subplots(figsize=(7, 4.5))
  all_sizes = set()
  colors = []
  for label, by_size in results.items():
    sizes = _sorted_sizes(by_size)
    all_sizes.update(sizes)
    line, = ax.plot(sizes, [by_size[str(n)]["fully_solved"] for n in sizes], marker="o", label=label)
    colors.append(line.get_color())
  for i, method in enumerate(paper_methods):
    paper = paper_results.PAPER_FULLY_SOLVED[method]
    sizes = sorted(paper)
    all_sizes.update(sizes)
    color = colors[i] if paper_matches_curves and i < len(colors) else None
    ax.plot(sizes, [paper[n] for n in sizes], linestyle="--", alpha=0.6, color=color,
            label=f"paper: {paper_results.METHOD_TITLES[method]}")
  if train_size is not None:
    ax.axvline(train_size, color="gray", linestyle=":", label=f"train N={train_size}")
  ax.set_xscale("log", base=2)
  if all_sizes:
    ticks = sorted(all_sizes)
    ax.set_xticks(ticks, [str(n) for n in ticks])
  ax.set_ylim(-0.03, 1.03)
  ax.set_xlabel("number of variables N")
  ax.set_ylabel("fraction fully solved")
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7, loc="lower left")
  return _save(fig, path)


def accuracy_vs_iterations(by_size: SizeResults, path: str, *, title: str = "Solved after t iterations") -> str:
  """Per N, fraction solved after each iteration; dotted: fraction of graphs with depth <= t - 1."""
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for n in _sorted_sizes(by_size):
    summary = by_size[str(n)]
    if "solved_after_iters" not in summary:
      continue
    curve = summary["solved_after_iters"]
    iterations = list(range(1, len(curve) + 1))
    (line,) = ax.plot(iterations, curve, marker=".", label=f"N={n}")
    ax.plot(iterations, summary["depth_cdf"], linestyle=":", color=line.get_color(), alpha=0.7)
  ax.set_ylim(-0.03, 1.03)
  ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
  ax.set_xlabel("iterations")
  ax.set_ylabel("fraction fully solved")
  ax.set_title(title + " (dotted: fraction with depth < t)")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7, ncol=2)
  return _save(fig, path)


def accuracy_by_depth(by_size: SizeResults, path: str, *, title: str = "Fully solved by graph depth") -> str:
  """Per N, fraction fully solved against the graph's depth (marker size ~ number of graphs)."""
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for n in _sorted_sizes(by_size):
    by_depth = by_size[str(n)]["by_graph_depth"]
    depths = sorted(int(d) for d in by_depth)
    rates = [by_depth[str(d)]["fully_solved"] for d in depths]
    counts = [by_depth[str(d)]["count"] for d in depths]
    (line,) = ax.plot(depths, rates, label=f"N={n}")
    ax.scatter(depths, rates, s=[6 + 60 * c / max(counts) for c in counts], color=line.get_color())
  ax.set_ylim(-0.03, 1.03)
  ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
  ax.set_xlabel("graph depth")
  ax.set_ylabel("fraction fully solved")
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7, ncol=2)
  return _save(fig, path)


def write_all(results: Mapping[str, SizeResults], output_dir: str, *, prefix: str = "",
              paper_methods: Sequence[str] = (), train_size: int | None = None) -> list[str]:
  """Writes the size plot for all labels plus per-label iteration and depth plots; returns the paths."""
  paths = [accuracy_vs_size(results, os.path.join(output_dir, f"{prefix}accuracy_vs_size.png"),
                            paper_methods=paper_methods, train_size=train_size)]
  for label, by_size in results.items():
    safe = label.replace("/", "_").replace(" ", "_")
    if any("solved_after_iters" in s for s in by_size.values()):
      paths.append(accuracy_vs_iterations(
          by_size, os.path.join(output_dir, f"{prefix}iterations_{safe}.png"),
          title=f"{label}: solved after t iterations"))
    paths.append(accuracy_by_depth(by_size, os.path.join(output_dir, f"{prefix}depth_{safe}.png"),
                                   title=f"{label}: fully solved by graph depth"))
  return paths


def training_curves(runs: Mapping[str, Sequence[Mapping]], metrics: Sequence[str], path: str, *,
                    x: str = "step", title: str = "Training curves") -> str:
  """One panel per metric, one line per run, from metrics.jsonl records."""
  fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.4), squeeze=False)
  legend_runs = None  # The runs named by the last legend drawn.
  for ax, metric in zip(axes[0], metrics):
    drawn = []
    for index, (name, records) in enumerate(runs.items()):
      points = [(r[x], r[metric]) for r in records if metric in r and x in r]
      if points:
        xs, ys = zip(*points)
        # Past the 10 colours of the cycle, a dashed line tells reused colours apart.
        ax.plot(xs, ys, label=name, linewidth=1.2, linestyle="-" if index < 10 else "--",
                color=f"C{index % 10}")
        drawn.append(name)
    ax.set_xlabel(x)
    ax.set_title(metric, fontsize=10)
    ax.grid(alpha=0.3)
    # A panel whose runs differ from the last legend's (a metric only some runs log) gets its own.
    if drawn and drawn != legend_runs:
      ax.legend(fontsize=8)
      legend_runs = drawn
  fig.suptitle(title, fontsize=11)
  return _save(fig, path)
