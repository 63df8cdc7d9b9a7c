"""Markdown tables of evaluation results (same input shapes as plots.py)."""
from typing import Mapping, Sequence

from recur_latent.evaluation import paper_results

SizeResults = Mapping[str, Mapping]  # str(N) -> summary


def _fmt(x, digits: int = 3) -> str:
  if x is None:
    return "-"
  return str(x) if isinstance(x, int) else f"{x:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
  lines += ["| " + " | ".join(row) + " |" for row in rows]
  return "\n".join(lines)


def _all_sizes(results: Mapping[str, SizeResults]) -> list[int]:
  return sorted({int(n) for by_size in results.values() for n in by_size})


def size_table(results: Mapping[str, SizeResults], *, key: str = "fully_solved",
               paper_methods: Sequence[str] = ()) -> str:
  """Rows: labels (then the paper's rows); columns: N; cells: `key` of each summary."""
  sizes = _all_sizes(results)
  rows = [[label] + [_fmt(by_size[str(n)][key]) if str(n) in by_size else "" for n in sizes]
          for label, by_size in results.items()]
  for method in paper_methods:
    paper = paper_results.PAPER_FULLY_SOLVED[method]
    rows.append([f"paper: {paper_results.METHOD_TITLES[method]}"] + [_fmt(paper.get(n)) for n in sizes])
  return _table(["method"] + [f"N={n}" for n in sizes], rows)


def depth_table(by_size: SizeResults) -> str:
  """Rows: N; columns: graph depth; cells: fraction fully solved (count)."""
  depths = sorted({int(d) for s in by_size.values() for d in s["by_graph_depth"]})
  rows = []
  for n in sorted(int(n) for n in by_size):
    by_depth = by_size[str(n)]["by_graph_depth"]
    rows.append([str(n)] + [f"{by_depth[str(d)]['fully_solved']:.3f} ({by_depth[str(d)]['count']})"
                            if str(d) in by_depth else "" for d in depths])
  return _table(["N \\ depth"] + [str(d) for d in depths], rows)


def iteration_table(by_size: SizeResults) -> str:
  """Rows: N; columns: iterations t; cells: solved after t iterations / fraction with depth < t."""
  with_curves = {int(n): s for n, s in by_size.items() if "solved_after_iters" in s}
  if not with_curves:
    return ""
  num_iters = max(len(s["solved_after_iters"]) for s in with_curves.values())
  rows = []
  for n in sorted(with_curves):
    curve, cdf = with_curves[n]["solved_after_iters"], with_curves[n]["depth_cdf"]
    rows.append([str(n)] + [f"{curve[t]:.3f} / {cdf[t]:.3f}" if t < len(curve) else ""
                            for t in range(num_iters)])
  return _table(["N \\ iterations"] + [str(t + 1) for t in range(num_iters)], rows)


def iterations_used_table(by_size: SizeResults) -> str:
  """Rows: N; iterations used (mean, min, max) against the depth + 1 each graph needs."""
  rows = []
  for n in sorted(int(n) for n in by_size):
    it = by_size[str(n)].get("iterations")
    if it is None:
      continue
    rows.append([str(n), _fmt(it["mean"], 2), str(it["min"]), str(it["max"]),
                 _fmt(it["mean_minus_needed"], 2), _fmt(it["fraction_fewer_than_needed"])])
  if not rows:
    return ""
  return _table(["N", "mean iters", "min", "max", "mean - (depth+1)", "frac. < depth+1"], rows)


def correction_table(correction_by_size: Mapping[str, Mapping]) -> str:
  """Rows: N; one-step correction of corrupted values (wrong in the input, right after one step)."""
  rows = [[n, str(c["num_wrong"]), str(c["num_corrected"]), _fmt(c["rate"])]
          for n, c in sorted(correction_by_size.items(), key=lambda item: int(item[0]))]
  if not rows:
    return ""
  return _table(["N", "wrong in input", "corrected", "rate"], rows)


def report(evaluation: Mapping, *, paper_methods: Sequence[str] = ()) -> str:
  """The whole Markdown report of one evaluation dict (as written to eval.json)."""
  results = evaluation["results"]
  parts = [f"# Evaluation: {evaluation.get('method', '?')}", ""]
  for field in ("checkpoint", "step", "num_graphs"):
    if evaluation.get(field) is not None:
      parts.append(f"- {field}: {evaluation[field]}")
  parts += ["", "## Fraction fully solved", "", size_table(results, paper_methods=paper_methods), "",
            "## Per-node accuracy", "", size_table(results, key="node_accuracy"), ""]
  for label, by_size in results.items():
    parts += [f"## {label}", "", "### Fully solved by graph depth", "", depth_table(by_size), ""]
    sections = (("Solved after t iterations / fraction with depth < t", iteration_table(by_size)),
                ("Iterations used", iterations_used_table(by_size)))
    for heading, table in sections:
      if table:
        parts += [f"### {heading}", "", table, ""]
  if evaluation.get("correction"):
    parts += ["## One-step error correction", "",
              "Teacher-forced states with a fraction of computed values replaced by wrong ones; "
              "rate: the fraction of those right after one iteration.", "",
              correction_table(evaluation["correction"]), ""]
  return "\n".join(parts)
