"""A small notebook API: load a trained model, solve problems typed as text, evaluate it.

  from recur_latent import api
  bundle = api.load()                      # the model shipped as recur_latent/assets/default
  api.solve(bundle, "20 = x_7 ; 2 = x_42 ; x_7 + x_42 = x_23")
  # {'values': {'x_7': 20, 'x_42': 2, 'x_23': 22}, 'iterations': 3, 'solved': True}
  api.evaluate(bundle, sizes=(32, 64, 128), num_graphs=256)   # {N: % fully solved}

`load` takes a training workdir, an exported directory (recur_latent.export)
or the name of a model shipped under recur_latent/assets/. Solving runs the
model's own halting rule (no oracle) by default; `solved` compares the
model's values with the exact solution.
"""
import dataclasses
import importlib.resources
import os
from typing import Sequence

import jax.numpy as jnp
import ml_collections
from flax import nnx

from recur_latent import export
from recur_latent.data import problems as problems_lib
from recur_latent.data import text as text_lib
from recur_latent.evaluation import ood
from recur_latent.evaluation import solver
from recur_latent.models import recurrence

HALTING = recurrence.HALTING
DEFAULT_SIZES = (8, 16, 32, 64, 128)


@dataclasses.dataclass(frozen=True)
class Bundle:
  """A model with the config it was built from."""

  model: nnx.Module
  config: ml_collections.ConfigDict
  source: str | None = None  # Where it was loaded from.
  metadata: dict = dataclasses.field(default_factory=dict)  # Export metadata (empty for workdirs).

  @property
  def method(self) -> str:
    return self.config.method


def assets_dir() -> str:
  """The directory of the models shipped with the package."""
  return str(importlib.resources.files("recur_latent").joinpath("assets"))


def shipped_models() -> list[str]:
  """Names of the exported models under recur_latent/assets/."""
  root = assets_dir()
  if not os.path.isdir(root):
    return []
  return sorted(name for name in os.listdir(root) if export.is_exported(os.path.join(root, name)))


def _is_workdir(path: str) -> bool:
  return (os.path.isfile(os.path.join(path, export.CONFIG_FILE))
          and any(os.path.isdir(os.path.join(path, d)) for d in ("checkpoints", "best")))


def load(path_or_name: str = "default", *, which: str = "best", dtype=jnp.float32) -> Bundle:
  """Loads a model from an exported directory, a training workdir or a shipped name.

  Args:
    path_or_name: a directory (exported model or training workdir), or the name
      of a model under recur_latent/assets/ (see `shipped_models()`).
    which: for workdirs, 'best' (falls back to the latest) or 'latest'.
    dtype: parameter dtype of an exported model (workdirs restore float32).
  """
  if os.path.isdir(path_or_name):
    path = path_or_name
  else:
    path = os.path.join(assets_dir(), path_or_name)
    if not os.path.isdir(path):
      shipped = shipped_models()
      raise FileNotFoundError(
          f"no model at {path_or_name!r}: it is neither a directory nor a shipped model name. "
          f"Shipped models (recur_latent/assets/): {', '.join(shipped) if shipped else 'none'}. "
          "Export one with `python -m experiments.export --workdir=RUN "
          "--output=recur_latent/assets/NAME`.")
  if export.is_exported(path):
    model, config = export.load_exported(path, dtype=dtype)
    return Bundle(model, config, source=path, metadata=export.read_metadata(path))
  if _is_workdir(path):
    from recur_latent.training import checkpoints  # Orbax is only needed for workdirs.
    model, config = checkpoints.load_model(path, which=which)
    return Bundle(model, config, source=path)
  raise FileNotFoundError(f"{path} holds neither an exported model ({export.CONFIG_FILE}, "
                          f"{export.PARAMS_FILE}, {export.METADATA_FILE}) nor a training workdir "
                          f"({export.CONFIG_FILE} and checkpoints/)")


def _as_bundle(model_or_bundle) -> Bundle:
  if isinstance(model_or_bundle, Bundle):
    return model_or_bundle
  if isinstance(model_or_bundle, str):
    return load(model_or_bundle)
  if isinstance(model_or_bundle, tuple) and len(model_or_bundle) == 2:
    return Bundle(*model_or_bundle)
  raise TypeError("expected a Bundle, a (model, config) pair or a path/name for api.load, got "
                  f"{type(model_or_bundle).__name__}")


def _as_problem(text_or_problem, config) -> problems_lib.Problem:
  """Parses text (ProblemParseError on bad text); checks a Problem against the model's vocabulary."""
  modulus, num_names = config.data.modulus, config.data.num_names
  if isinstance(text_or_problem, str):
    return text_lib.parse(text_or_problem, modulus=modulus, num_names=num_names)
  if isinstance(text_or_problem, problems_lib.Problem):
    if text_or_problem.modulus != modulus:
      raise ValueError(f"the problem is mod {text_or_problem.modulus}, the model mod {modulus}")
    # Its text goes through the parser's checks (names in the vocabulary, order of definitions).
    return text_lib.parse(text_lib.render(text_or_problem), modulus=modulus, num_names=num_names)
  raise TypeError(f"expected problem text or a Problem, got {type(text_or_problem).__name__}")


def solve_many(model_or_bundle, texts_or_problems: Sequence, *, halting: str = "fixed_point",
               max_iters: int | None = None, batch_size: int = 64) -> list[dict]:
  """Solves a list of problems in batches (problems of similar length batched together).

  Returns one dict per problem, in order: `values` ({name: value, or None where
  the model left it EMPTY}), `iterations` (iterations run) and `solved` (every
  value equals the exact solution). A bad text raises ProblemParseError naming
  the problem's 1-based position as its "line".
  """
  bundle = _as_bundle(model_or_bundle)
  if halting not in HALTING:
    raise ValueError(f"unknown halting {halting!r}; expected one of {HALTING}")
  items, lines = list(texts_or_problems), []
  for position, item in enumerate(items, start=1):
    try:
      problem = _as_problem(item, bundle.config)
    except text_lib.ProblemParseError as e:
      raise (e.at_line(position) if len(items) > 1 else e) from None
    exact, _ = problems_lib.solve(problem)
    lines.append(solver.ProblemLine(line=position, text=text_lib.render(problem), problem=problem,
                                    reference=exact))
  records = solver.solve_lines(bundle.model, bundle.config, lines, halting=halting,
                               max_iters=max_iters, batch_size=batch_size)
  return [{"values": r["values"], "iterations": r["iterations"], "solved": r["solved"]}
          for r in records]


def solve(model_or_bundle, text_or_problem, *, halting: str = "fixed_point",
          max_iters: int | None = None) -> dict:
  """Solves one problem (text or Problem): {'values', 'iterations', 'solved'} as in solve_many.

  halting: 'fixed_point' (stop when the decoded state stops changing; default),
    'all_filled' (stop when every variable has a value) or 'oracle' (the
    exact depth + 1 + config.eval.oracle_slack iterations).
  max_iters: bound on iterations (default config.eval.max_iters).
  """
  return solve_many(model_or_bundle, [text_or_problem], halting=halting, max_iters=max_iters)[0]


def evaluate(model_or_bundle, sizes: Sequence[int] = DEFAULT_SIZES, *, num_graphs: int = 512,
             halting: str = "fixed_point", max_iters: int | None = None,
             verbose: bool = False) -> dict[int, float]:
  """% of graphs fully solved per size N, on the fixed evaluation sets (recur_latent.evaluation).

  Recurrent methods run with `halting`; feedforward, end-to-end recurrent and
  chain-of-thought models with their single pass / greedy decoding.
  """
  bundle = _as_bundle(model_or_bundle)
  settings = ood.EvalSettings.from_config(bundle.config, sizes=tuple(sizes), num_graphs=num_graphs,
                                          halting=(halting,), max_iters=max_iters,
                                          correction_prob=0.0)
  evaluation = ood.evaluate_model(bundle.model, bundle.config, settings,
                                  log=print if verbose else lambda _: None)
  return {n: 100.0 * fraction for n, fraction in ood.fully_solved_by_size(evaluation).items()}
