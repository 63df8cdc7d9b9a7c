"""Round 2 of the quickstart levers: steps until 95% at 2x, from today's quickstart.

Round 1 (configs/sweeps/quickstart_levers.py) found the pair head; the
quickstart built on it (configs/quickstart.py) needs about 2,250 steps on its
3,000-step cosine, about 21 minutes on 2 CPU cores, and its 10-minute CPU run
stops long before. Each run here is configs/quickstart.py with one lever
changed, no wall-clock budget, validation every 100 steps at N = 32 (2x the
training size) and a stop at 95%. `time_to_target_s` in its metrics gives the
step; CPU seconds per step (experiments.benchmark on the laptop) turn steps
into CPU minutes.

  `cosine1000`   the quickstart as shipped: cosine over 1,000 steps.
  `trig`         lr decay started by validation (0.5 at N = 32), 500 steps long.
  `trig_*`       `trig` with one more lever (names say which).

  python -m experiments.sweep --sweep=configs/sweeps/quickstart_steps.py [--only=trig,trig_b32]
`:steps=N` changes the step cap (default 3000).
"""
from configs import common


def get_sweep(arg=""):
  shared = {**common.QUICKSTART_BEFORE_SESSION7, **common.QUICKSTART_BEFORE_SESSION8,
            **common.steps_to_target_overrides(arg, eval_every=100, checkpoint_every=500),
            # The quickstart as the sweep ran it (3 layers, 4 heads, no prefix head).
            "model.num_layers": 3, "model.num_heads": 4, "model.prefix_heads_layer": -1,
            "train.prefix_value_loss_weight": 0.0, "train.schedule": "cosine",
            "train.decay_trigger": 0.5, "train.end_lr_fraction": 0.05,
            "train.val_num_graphs": 64, "eval.num_graphs": 128}
  trig = {"train.schedule": "triggered", "train.decay_trigger": 0.5, "train.decay_steps": 500,
          "train.end_lr_fraction": 0.02}
  prefix = {"model.pair_heads_layer": -1, "train.pair_value_loss_weight": 0.0,
            "model.prefix_heads_layer": 1, "train.prefix_value_loss_weight": 1.0}
  levers = {
      "cosine1000": {"train.num_steps": min(shared["train.num_steps"], 1000)},
      "trig": {},
      "trig_prefix": prefix,  # Every operand's running value, not only the second's.
      "trig_l4_prefix": {"model.num_layers": 4, **prefix},
      "trig_lr3e-3": {"train.learning_rate": 3e-3},
      "trig_b32": {"train.batch_size": 32},  # Half the CPU time per step.
      "trig_b128": {"train.batch_size": 128},
      "trig_warm50": {"train.warmup_steps": 50},
      "trig_noec": {"train.corrupt_batch_prob": 0.0},
      "trig_names": {"train.operand_loss_weight": 1.0},  # Also name each operand's source.
      "trig_b2_95": {"train.b2": 0.95},
  }
  return [(name, "configs/quickstart.py",
           dict(shared, **(trig if name.startswith("trig") else {}), **overrides))
          for name, overrides in levers.items()]
