r"""One table and plot over finished evaluations (e.g. the six methods trained apart).

  python -m experiments.compare --evals=feedforward=RUN_A/eval,discrete_ec=RUN_B/eval --output=DIR

Each `name=path` names a directory holding an eval.json (or the file). DIR gets
sweep.json, sweep.md (fraction fully solved and per-node accuracy per N, with the
paper's numbers for the methods it reports) and accuracy_vs_size.png, as a sweep does.
"""
from absl import app
from absl import flags

from experiments import sweep
from recur_latent.evaluation import artifacts

_EVALS = flags.DEFINE_list("evals", None, "name=path of each evaluation, in table order.", required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Output directory.", required=True)


def main(argv):
  del argv
  evaluations = {}
  for item in _EVALS.value:
    name, sep, path = item.partition("=")
    if not sep or not name or not path:
      raise app.UsageError(f"--evals entries are name=path, got {item!r}")
    evaluations[name] = artifacts.read_evaluation(path)
  sweep.combine(evaluations, _OUTPUT.value)
  with open(f"{_OUTPUT.value}/sweep.md") as f:
    print(f.read())


if __name__ == "__main__":
  app.run(main)
