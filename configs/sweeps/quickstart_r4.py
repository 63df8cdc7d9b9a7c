"""Round 4 of the quickstart levers: less work per CPU step at the same steps.

Round 3 (configs/sweeps/quickstart_l4.py, results/h200_session6/) gave the
quickstart its model: 4 layers, 2 heads, pair and prefix heads, the decay
started at 0.3 (`qs` below). It needs ~1,300-1,750 steps to 95% at 2x, and a
CPU step of it takes ~0.9-1.1 s, so the 10-minute goal needs about 3-4x less
CPU time per step at the same steps. Round 3 found that batch 128 did not
learn in fewer steps than batch 64, so a smaller batch may cost few steps.
On this project's 2-core CPU (experiments.benchmark, session 7) batch 32
takes 0.39 s a step against 0.87 s at batch 64.

Every run is `qs` with the levers named, no wall-clock budget, validation
every 100 steps at 2x the largest training size and a stop at 95%; the step
of `time_to_target_s` is the figure.

  `qs`          the quickstart as round 3 left it (batch 64).
  `b32`         32 graphs per step.
  `b32_lr3`     ... and a peak learning rate of 3e-3 instead of 2e-3.
  `b32_mlp2`    ... and an MLP of 2 x d_model instead of 4 x.
  `b32_n12`     ... and training graphs of N = 8..12 (validation at N = 24).
  `b32_tied`    ... and layers 2 and 3 sharing weights.
  `b32_dec3`    ... and a 300-step decay instead of 500.
  `b16`         16 graphs per step.

  python -m experiments.sweep --sweep=configs/sweeps/quickstart_r4.py [--only=qs,b32]
`:steps=N` changes the step cap (default 3000).
"""
from configs import common


def get_sweep(arg=""):
  shared = {**common.QUICKSTART_BEFORE_SESSION7, **common.QUICKSTART_BEFORE_SESSION8,
            **common.steps_to_target_overrides(arg, eval_every=100, checkpoint_every=500),
            # The quickstart as this round found it, pinned so the sweep still
            # reproduces after configs/quickstart.py takes a lever.
            "model.num_layers": 4, "model.num_heads": 2, "model.mlp_ratio": 4,
            "model.tied_layers": (), "model.prefix_heads_layer": 2,
            "train.prefix_value_loss_weight": 1.0, "train.decay_trigger": 0.3,
            "train.decay_steps": 500, "train.learning_rate": 2e-3, "train.batch_size": 64,
            "data.train_max_nodes": 16, "train.val_sizes": (32,)}
  b32 = {"train.batch_size": 32}
  levers = {
      "qs": {},
      "b32": b32,
      "b32_lr3": dict(b32, **{"train.learning_rate": 3e-3}),
      "b32_mlp2": dict(b32, **{"model.mlp_ratio": 2}),
      "b32_n12": dict(b32, **{"data.train_max_nodes": 12, "train.val_sizes": (24,)}),
      "b32_tied": dict(b32, **{"model.tied_layers": (1, 2)}),
      "b32_dec3": dict(b32, **{"train.decay_steps": 300}),
      "b16": {"train.batch_size": 16},
  }
  return [(name, "configs/quickstart.py", dict(shared, **overrides))
          for name, overrides in levers.items()]
