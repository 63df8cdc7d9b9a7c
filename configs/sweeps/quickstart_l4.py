"""Round 3 of the quickstart levers: the 4-layer model that copies the second addition.

Session 5's CPU probe (results/cpu_quickstart_session5/) added a fourth layer
and a prefix head after layer 3 to configs/quickstart.py: 3-operand nodes
were learned ~900 steps sooner than with 3 layers, but the run's 25 CPU
minutes ended at .375 at 2x. Every run here is that model (`l4p3`) with one
lever changed, no wall-clock budget, validation every 100 steps at N = 32
(2x the training size) and a stop at 95%; the step of `time_to_target_s` is
the figure, and CPU seconds per step (experiments.benchmark on the laptop)
turn it into CPU minutes.

  `l4p3`        4 layers; pair head after layer 2, prefix head after layer 3.
  `l4p3_tied`   layers 2 and 3 share weights (both add one operand's value).
  `l4p3_h2`     2 heads of 64 (0.7x the CPU step of 4 heads, session 3).
  `l4p3_trig3`  the decay starts at 0.3 at 2x instead of 0.5.
  `l4p3_b128`   128 graphs per step (round 2: 1,800 steps against 2,400).
  `l4p3_p11`    modulus 11 (session 5, 3 layers: 1.6x fewer steps).

  python -m experiments.sweep --sweep=configs/sweeps/quickstart_l4.py [--only=l4p3,l4p3_tied]
`:steps=N` changes the step cap (default 3000).
"""
from configs import common


def get_sweep(arg=""):
  shared = {**common.QUICKSTART_BEFORE_SESSION7, **common.QUICKSTART_BEFORE_SESSION8,
            **common.steps_to_target_overrides(arg, eval_every=100, checkpoint_every=500),
            "model.num_layers": 4, "model.prefix_heads_layer": 2,
            "train.prefix_value_loss_weight": 1.0,
            # The quickstart as the sweep found it (it has since taken `l4p3_h2` and `l4p3_trig3`).
            "model.num_heads": 4, "train.decay_trigger": 0.5}
  levers = {
      "l4p3": {},
      "l4p3_tied": {"model.tied_layers": (1, 2)},
      "l4p3_h2": {"model.num_heads": 2},
      "l4p3_trig3": {"train.decay_trigger": 0.3},
      "l4p3_b128": {"train.batch_size": 128},
      "l4p3_p11": {"data.modulus": 11},
  }
  return [(name, "configs/quickstart.py", dict(shared, **overrides))
          for name, overrides in levers.items()]
