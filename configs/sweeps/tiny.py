"""A two-run sweep of tiny models for tests: seconds per run on a CPU."""


def get_sweep(arg=""):
  del arg  # The tiny sweep has no variants.
  shared = {"train.num_steps": 2, "eval.sizes": (8,), "eval.num_graphs": 8, "eval.halting": ("oracle",)}
  return [
      ("discrete", "configs/discrete.py:size=tiny", dict(shared)),
      ("feedforward", "configs/feedforward.py:size=tiny", dict(shared)),
  ]
