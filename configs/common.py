"""Fields shared by every method's config; each method file adjusts them.

Config files are loaded by path (`--config=configs/discrete_ec.py:variant`),
and `get_config(arg)` takes the string after the colon. Variants are
comma-separated `key=value` pairs parsed by `parse_arg` (e.g. `size=small`).
"""
import ml_collections


def parse_arg(arg):
  """Parses 'a=1,b=x' into {'a': '1', 'b': 'x'} (a bare word maps to '')."""
  out = {}
  for item in filter(None, (arg or "").split(",")):
    key, _, value = item.partition("=")
    out[key.strip()] = value.strip()
  return out


def parse_steps_option(arg, default=3000):
  """The step cap of a steps-to-target sweep from its ':steps=N' argument (the only option)."""
  options = parse_arg(arg)
  steps = int(options.pop("steps", default))
  if options:
    raise ValueError(f"unknown sweep options {sorted(options)}; expected steps=N")
  return steps


def steps_to_target_overrides(arg, *, eval_every, checkpoint_every):
  """The shared overrides of a steps-to-target sweep: its ':steps=N' cap, no
  wall-clock budget, validation every `eval_every` steps and a stop at 95%
  (the step of `time_to_target_s` is the figure)."""
  return {"train.num_steps": parse_steps_option(arg), "train.max_train_seconds": 0,
          "train.eval_every": eval_every, "train.checkpoint_every": checkpoint_every,
          "train.stop_at_target": True, "train.target_accuracy": 0.95}


# configs/quickstart.py fields that session 7 changed (batch 32, layers 2 and 3
# tied, oracle-halting validation), as every earlier quickstart sweep ran them:
# those sweeps apply these so that they still reproduce.
QUICKSTART_BEFORE_SESSION7 = {"train.batch_size": 64, "model.tied_layers": (),
                              "train.val_halting": ""}

# ... and those sessions 8 and 9 changed (batches padded for their longest
# sequence, the decay started by training accuracy, validation only once it
# has), as rounds 1-4 ran them; the sweeps set their own eval_every and target.
QUICKSTART_BEFORE_SESSION8 = {"data.pad_batches": "bucket", "data.bucket": 32,
                              "train.decay_trigger_metric": "validation",
                              "train.decay_trigger": 0.3, "train.decay_steps": 500,
                              "train.val_after_decay": False}


def base_config():
  c = ml_collections.ConfigDict()
  c.method = "discrete_ec"  # Which of the SPEC's six methods (models.factory.METHODS).
  c.seed = 0  # Seeds parameters, data stream, dropout and corruption.

  c.data = d = ml_collections.ConfigDict()
  d.modulus = 23  # Values live in Z_modulus.
  d.num_names = 128  # Variable-name pool x_0..x_{V-1}; must be >= every N evaluated.
  d.ops = ("add",)  # Operations drawn uniformly per operator: subset of add, sub, mul.
  d.num_leaves = 6  # Source nodes per graph (depth 0).
  d.max_fan_in = 3  # Parents per computed node drawn from 1..max_fan_in.
  d.train_min_nodes = 32  # Training graph sizes are drawn from [min, max] per chunk.
  d.train_max_nodes = 32  # The paper trains at N = 32 only.
  d.train_max_depth = 6  # Depth cap of training graphs (the paper's is 6).
  d.size_chunks = 1  # A batch holds this many equal chunks, each with its own N.
  d.fixed_dataset_size = 0  # >0: cycle over this many fixed graphs (paper: 50,000); 0: fresh graphs every step.
  d.bucket = 32  # Sequence lengths are padded up to a multiple of this.
  d.pad_batches = "max"  # max: every batch padded for the largest training graph (one compile) | bucket: for the bound of its largest size (one compile per length) | longest: for its own longest sequence, rounded up to data.bucket (one process only).
  d.prefetch = 4  # Batches generated ahead on a background thread.

  c.model = m = ml_collections.ConfigDict()
  m.d_model = 256  # Residual stream width.
  m.num_heads = 16  # Attention heads per layer.
  m.num_layers = 2  # Layers of the (weight-tied) block.
  m.mlp_ratio = 4  # MLP hidden width = mlp_ratio * d_model (ReLU).
  m.dropout = 0.1  # Dropout on attention probabilities and sublayer outputs.
  m.position = "rope"  # relative (DeBERTa) | rope | absolute | none.
  m.rel_window = 64  # Relative distances are clipped to this window.
  m.relative_scores = "dense"  # dense | banded (far q.k plus a near band of W diagonals, models/banded.py) | fused (the relative terms as the bias of jax.nn.dot_product_attention: cuDNN on a GPU) | flash (the relative terms formed inside a Pallas flash-attention kernel, models/flash_relative.py); the same function. With rope or none, fused and flash both run the plain causal attention as one jax.nn.dot_product_attention call (cuDNN).
  m.max_len = 4096  # Longest sequence for absolute positions.
  m.dtype = "bfloat16"  # Compute dtype; parameters stay float32.
  m.operand_heads_layer = -1  # >= 0: the auxiliary heads (operand names, use-site values) read the residual after this layer.
  m.pair_heads_layer = -1  # >= 0: the pair-value head (first two operands combined, at the second) reads the residual after this layer.
  m.prefix_heads_layer = -1  # >= 0: the prefix-value head (left-hand side evaluated up to each operand) reads the residual after this layer.
  m.tied_layers = ()  # Layer indices (>= 2 of them) that share one set of weights, e.g. (1, 2); () unties all.
  m.value_init = "normal"  # normal | fourier: value embeddings and value readout start as waves over Z_p.
  m.cot_vocab_size = 0  # Set from the data vocabulary for the chain-of-thought LM (0: derive).

  c.train = t = ml_collections.ConfigDict()
  t.batch_size = 256  # Global batch of graphs; divisible by the number of devices.
  t.num_steps = 20_000  # Optimizer steps.
  t.learning_rate = 1e-3  # Peak learning rate.
  t.warmup_steps = 500  # Linear warmup steps.
  t.schedule = "cosine"  # cosine | constant | triggered (after warmup; training/optimizer.py).
  t.end_lr_fraction = 0.05  # Cosine decays to this fraction of the peak.
  t.decay_trigger = 0.5  # triggered: the decay starts once the metric below reaches this.
  t.decay_trigger_metric = "validation"  # triggered: validation (mean OOD validation) | a training metric of each log step: due_value_accuracy, value_accuracy, state_accuracy.
  t.decay_steps = 2000  # triggered: length of the cosine decay that then follows.
  t.weight_decay = 0.01  # AdamW decoupled weight decay.
  t.b1 = 0.9  # Adam beta1.
  t.b2 = 0.98  # Adam beta2.
  t.grad_clip = 1.0  # Global-norm gradient clipping (0 disables).
  t.ema_decay = 0.0  # > 0: keep an exponential moving average of the weights (e.g. 0.99) and validate, keep the best of and evaluate it; 0: off.
  t.loss = "weighted"  # faithful (paper: mean over all factors/positions) | weighted.
  t.value_weight = 4.0  # weighted: weight of the value loss at defining positions vs copy factors.
  t.due_weight = 4.0  # weighted: extra weight of values computed at this iteration.
  t.operand_loss_weight = 0.0  # Weight of the operand-name loss (needs model.operand_heads_layer >= 0).
  t.operand_value_loss_weight = 0.0  # Weight of the operand-value loss (with the name loss on).
  t.use_value_loss_weight = 0.0  # Weight of the use-site value loss: each operand token's current value (needs model.operand_heads_layer >= 0).
  t.pair_value_loss_weight = 0.0  # Weight of the pair-value loss at second operands (needs model.pair_heads_layer >= 0).
  t.prefix_value_loss_weight = 0.0  # Weight of the prefix-value loss at every operand (needs model.prefix_heads_layer >= 0).
  t.iterations = "sample"  # Teacher forcing: 'sample' one iteration per graph | 'all' iterations.
  t.train_iters = 7  # Iterations unrolled (rollout modes) / folded ('all'); paper: max_depth + 1.
  t.rollout = False  # Discrete: train on own rollouts with straight-through instead of teacher forcing.
  t.skip_padding = False  # Attention at positions past each graph's last token is not computed (zeros there; the flash kernels skip its tiles). Needs loss='weighted', which never reads them, and a one-pass or teacher-forced objective.
  t.remat_iterations = False  # Rollout losses: recompute each iteration in the backward pass (memory of one, not train_iters).
  t.corrupt_batch_prob = 0.0  # Error correction: fraction of batches whose inputs are corrupted.
  t.corrupt_token_prob = 0.5  # Error correction: probability each candidate value is replaced.
  t.corrupt_candidates = "due"  # due (depth == t) | previous (depth == t-1) | computed (depth < t).
  t.corrupt_values = "uniform"  # uniform (the paper) | model: the model's own likely wrong value (one extra forward in corrupted batches).
  t.log_every = 100  # Steps between metric lines.
  t.eval_every = 1000  # Steps between out-of-distribution validations (0: never).
  t.val_after_decay = False  # Periodic validation only once the triggered decay has begun (needs a training-metric trigger).
  t.checkpoint_every = 1000  # Steps between checkpoints (0: only at the end).
  t.keep_checkpoints = 2  # Most recent checkpoints kept (the best one is kept apart).
  t.val_sizes = (64, 128)  # Graph sizes of the OOD validation set (fixed graphs).
  t.val_num_graphs = 256  # Graphs per validation size.
  t.val_halting = ""  # Halting rule of the validation ('' = the first of eval.halting); 'oracle' spares an untrained model max_iters iterations.
  t.target_accuracy = 0.995  # Time-to-accuracy: when every val size reaches this, log the wall-clock.
  t.stop_at_target = False  # Stop training once target_accuracy is reached.
  t.target_repeats = 1  # With stop_at_target: validations in a row at target_accuracy before stopping.
  t.max_train_seconds = 0  # Wall-clock budget: stop (validate, save) once exceeded; 0 = none.
  t.distributed = False  # Call jax.distributed.initialize() (multi-host).

  c.eval = e = ml_collections.ConfigDict()
  e.sizes = (8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128)  # Graph sizes evaluated.
  e.num_graphs = 2048  # Fixed graphs per size.
  e.halting = ("oracle", "fixed_point")  # Halting rules evaluated.
  e.oracle_slack = 1  # Oracle halting runs graph depth + 1 + slack iterations.
  e.max_iters = 64  # Bound on iterations for every halting rule.
  e.batch_size = 512  # Graphs per evaluation batch.
  e.suffix_chunks = 1  # > 1: a discrete rollout recomputes each iteration only from the chunk (of L / chunks tokens) that changed; one compile per chunk.
  return c


def apply_variant(c, variant):
  """Applies the variant keys every config accepts.

  size=small: a model and run that fit a laptop CPU in minutes.
  size=tiny: the smallest config that exercises every code path (tests).
  recipe=paper: the paper's training recipe (batch 32, constant lr 1e-3,
    fp32, faithful loss, all iterations folded, 50k fixed graphs, 156k steps).
  recipe=fast: the recipe that trains the full method to 99.5% at N = 128
    in 155 s on one H200 (results/h200_session11/): use-site value
    supervision after layer 1, lr 2e-3 after 300 warmup steps, a 1,500-step
    cosine decay started when the training state accuracy first reaches
    0.95 (validation at N = 128 from then on, on 2,048 graphs since session
    19, 512 before; until session 10 validation reaching 0.6 started it:
    213 s dense in session 3, 389 s fused in session 10), N = 8..32 mixed in
    4 chunks, no dropout, stop after two validations in a row at 99.5%;
    fused relative attention from session 9, the Pallas kernels ('flash')
    since session 15 (134.8 s, results/h200_session15/), which skip the
    padding's attention since session 19.
  """
  variant = dict(variant)
  size = variant.pop("size", "")
  recipe = variant.pop("recipe", "")
  if variant:
    raise ValueError(f"unknown config variant keys {sorted(variant)}; "
                     "expected size=small|tiny, recipe=paper|fast")
  if size == "small":
    c.model.d_model, c.model.num_heads = 128, 4
    c.model.num_layers = min(c.model.num_layers, 4)
    c.model.dtype = "float32"  # CPUs have no fast bf16 matmul.
    c.data.num_names = 64
    c.train.batch_size = 64
    c.train.num_steps = 2000
    c.train.eval_every = 500
    c.train.checkpoint_every = 500
    c.train.val_num_graphs = 128
    c.eval.sizes = (8, 16, 32, 64)
    c.eval.num_graphs = 256
  elif size == "tiny":
    c.model.d_model, c.model.num_heads, c.model.num_layers = 32, 2, 2
    c.model.dtype = "float32"
    c.data.num_names = 48
    c.data.train_min_nodes = min(c.data.train_min_nodes, 10)
    c.data.train_max_nodes = 10
    c.data.train_max_depth = 3
    c.data.bucket = 16
    c.train.batch_size = 16
    c.train.num_steps = 4
    c.train.warmup_steps = 2
    c.train.train_iters = 4
    c.train.log_every = 2
    c.train.eval_every = 0
    c.train.checkpoint_every = 2
    c.train.val_sizes = (12,)
    c.train.val_num_graphs = 16
    c.eval.sizes = (8, 12)
    c.eval.num_graphs = 16
    c.eval.batch_size = 16
    c.eval.max_iters = 12
  elif size:
    raise ValueError(f"unknown size variant {size!r}; expected small or tiny")
  if recipe == "paper":
    c.train.batch_size = 32
    c.train.learning_rate = 1e-3
    c.train.schedule = "constant"
    c.train.warmup_steps = 0
    c.train.b2 = 0.999
    c.train.grad_clip = 0.0
    c.train.loss = "faithful"
    c.train.iterations = "all"
    c.train.num_steps = 156_250  # 100 epochs over 50k graphs at batch 32.
    c.data.fixed_dataset_size = 50_000
    c.model.dtype = "float32"
  elif recipe == "fast":
    c.model.operand_heads_layer = 0
    c.train.use_value_loss_weight = 1.0
    c.train.learning_rate = 2e-3
    c.train.warmup_steps = 300
    c.train.schedule = "triggered"
    # The decay starts once every token of the in-distribution one-step state is right for 95% of
    # a batch, and validation runs only after it: 155-157 s to 99.5% at N = 128 from scratch,
    # against 389 s when validation at N = 128 reaching 0.6 started it (results/h200_session11/).
    c.train.decay_trigger_metric = "state_accuracy"
    c.train.decay_trigger = 0.95
    c.train.val_after_decay = True
    c.train.decay_steps = 1500
    c.train.end_lr_fraction = 0.02
    c.train.num_steps = 30_000  # A bound: the run stops at its target.
    c.train.eval_every = 500
    c.train.val_sizes = (min(128, c.data.num_names),)  # 4x the training size where names allow.
    # As many validation graphs as the test has (other graphs: validation_graphs' own seeds), and
    # two validations in a row at the target before stopping. On 512 graphs a run stopped at one
    # validation of .996 tested .991 on the 2,048 test graphs (results/h200_session18/), and one
    # stopped at .996 then .998 tested .994 (results/h200_session19/).
    c.train.val_num_graphs = 2048
    c.train.stop_at_target = True
    c.train.target_repeats = 2
    c.model.dropout = 0.0
    # The Pallas kernels of models/flash_relative.py on a GPU (plain JAX elsewhere): on the H200 the
    # train step 33.6 -> 27.4 ms and the rollout of 2,048 graphs at N = 128 3.77 -> 2.54 s against
    # 'fused' (cuDNN with a bias; 45.1 -> 34.1 ms against 'dense'), all solved (results/h200_session15/).
    c.model.relative_scores = "flash"
    # The rows of N = 8..32 fill 41% of the padded 256 positions on average: the kernels skip the
    # attention only padding needs (H200 train step 18.39 -> 16.28 ms, results/h200_session19/).
    c.train.skip_padding = True
    c.data.train_min_nodes = min(c.data.train_min_nodes, 8)
    c.data.size_chunks = 4
    c.eval.batch_size = min(c.eval.batch_size, 64)  # Validation rollouts at N = 128 stay small.
  elif recipe:
    raise ValueError(f"unknown recipe variant {recipe!r}; expected paper or fast")
  return c
