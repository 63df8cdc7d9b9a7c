"""Levers for the CPU quickstart's learning speed: steps until 95% at 2x.

Each run is configs/quickstart.py as it was when the sweep ran (2 layers,
4 sizes per batch padded to the largest training graph, no pair head; the
`base` run), with one lever changed, no wall-clock budget, validation every
250 steps at N = 32 (2x its training size) and a stop at 95%. The step of
`time_to_target_s` in its metrics is the figure. Steps are the same on any
device, so the sweep runs on a GPU in minutes; the CPU time of the winner
is then steps x its CPU seconds per step.
  python -m experiments.sweep --sweep=configs/sweeps/quickstart_levers.py [--only=base,pair3]
`:steps=N` changes the step cap (default 3000).
"""
from configs import common


def get_sweep(arg=""):
  shared = {**common.QUICKSTART_BEFORE_SESSION7, **common.QUICKSTART_BEFORE_SESSION8,
            **common.steps_to_target_overrides(arg, eval_every=250, checkpoint_every=250),
            # The quickstart of the sweep's time; the current one descends from its `pair3` run.
            "model.num_layers": 2, "model.pair_heads_layer": -1, "train.pair_value_loss_weight": 0.0,
            "data.size_chunks": 4, "data.pad_batches": "max",
            "model.num_heads": 4, "model.prefix_heads_layer": -1, "train.prefix_value_loss_weight": 0.0,
            "train.schedule": "cosine", "train.end_lr_fraction": 0.05}
  pair = {"model.pair_heads_layer": 1, "train.pair_value_loss_weight": 1.0}
  levers = {
      "base": {},
      "layers3": {"model.num_layers": 3},
      "pair3": {"model.num_layers": 3, **pair},  # Layer 2 combines two operands, layer 3 the rest.
      "pair2": dict(pair),  # The same head on the last layer of the 2-layer model.
      "fourier": {"model.value_init": "fourier"},
      "lr4e-3": {"train.learning_rate": 4e-3},
  }
  return [(name, "configs/quickstart.py", dict(shared, **overrides))
          for name, overrides in levers.items()]
