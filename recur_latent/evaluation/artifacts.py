"""Files of an evaluation: eval.json, eval.md and the PNG plots, in one directory."""
import json
import os
from typing import Sequence

from recur_latent.evaluation import paper_results
from recur_latent.evaluation import plots
from recur_latent.evaluation import tables

JSON_NAME = "eval.json"
MARKDOWN_NAME = "eval.md"


def paper_methods_for(methods: Sequence[str]) -> tuple[str, ...]:
  """The methods among `methods` that have published numbers (for dashed reference lines)."""
  return tuple(m for m in dict.fromkeys(methods) if m in paper_results.PAPER_FULLY_SOLVED)


def write_evaluation(evaluation: dict, output_dir: str, *, paper: bool = True,
                     train_size: int | None = None) -> dict[str, object]:
  """Writes eval.json, eval.md and the plots of one evaluation; returns their paths."""
  os.makedirs(output_dir, exist_ok=True)
  paper_methods = paper_methods_for([evaluation["method"]]) if paper else ()
  json_path = os.path.join(output_dir, JSON_NAME)
  with open(json_path + ".tmp", "w") as f:
    json.dump(evaluation, f, indent=1)
  os.replace(json_path + ".tmp", json_path)  # A finished eval.json is never half written.
  md_path = os.path.join(output_dir, MARKDOWN_NAME)
  with open(md_path, "w") as f:
    f.write(tables.report(evaluation, paper_methods=paper_methods))
  pngs = plots.write_all(evaluation["results"], output_dir, paper_methods=paper_methods,
                         train_size=train_size)
  return {"json": json_path, "markdown": md_path, "plots": pngs}


def read_evaluation(path: str) -> dict:
  """Reads an eval.json (given the file or the directory holding it)."""
  if os.path.isdir(path):
    path = os.path.join(path, JSON_NAME)
  with open(path) as f:
    return json.load(f)


def halting_results(path: str, halting: str = "fixed_point") -> dict:
  """One halting rule's results per size (each with its num_graphs), from an eval.json."""
  evaluation = read_evaluation(path)
  if halting not in evaluation["results"]:
    raise KeyError(f"{path} has no results for halting {halting!r}; it has {sorted(evaluation['results'])}")
  return evaluation["results"][halting]
