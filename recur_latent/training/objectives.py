"""The training objective of each method, as `loss_fn(model, batch, key, config)`.

  feedforward     one pass; the final state is supervised.
  e2e_recurrent   T applications of the block on continuous states (inside the
                  model's call); the final state is supervised.
  continuous      the block recurs on continuous states; every iteration's
                  readout is supervised; backpropagation through iterations.
  discrete(_ec)   teacher forcing: iteration t's input is the true state after
                  t - 1 (optionally corrupted), so every iteration of every
                  graph is an independent example: no loop, no backprop through
                  iterations. With `train.rollout`, the model instead runs on
                  its own decoded states with a straight-through estimator.
  cot             next-token prediction on the trace.
"""
import jax
import jax.numpy as jnp

from recur_latent.data import vocab as vocab_lib
from recur_latent.models import factory
from recur_latent.models import recurrence
from recur_latent.training import corruption
from recur_latent.training import losses

_FINAL = 1 << 20  # An iteration index past every depth: "supervise the final state".


def _dropout_key(model_cfg, key):
  return key if model_cfg.dropout > 0 else None


def _state_loss(logits, targets_BLF, node_depth_BL, t_B, train_cfg):
  return losses.state_loss(logits, targets_BLF, node_depth_BL, t_B, mode=train_cfg.loss,
                           value_weight=train_cfg.value_weight,
                           due_weight=train_cfg.due_weight)


def teacher_forced_examples(batch, key, config, model=None):
  """One-step examples: a dict of (possibly corrupted) inputs, the clean inputs,
  targets, node depths, the iteration t_B of each and the corrupted mask.

  'sample' draws one iteration per graph uniformly from 0..graph depth;
  'all' folds iterations 0..train_iters-1 of every graph into the batch.
  With `train.corrupt_values=model`, `model` predicts the clean step and the
  corrupted values are drawn from its wrong answers (no gradient flows there).
  """
  train_cfg = config.train
  inputs_BLF, targets_BLF = batch["inputs_BLF"], batch["targets_BLF"]
  node_depth_BL, graph_depth_B = batch["node_depth_BL"], batch["graph_depth_B"]
  length_B = batch.get("length_B")  # Read only with train.skip_padding.
  t_key, corrupt_key = jax.random.split(key)
  if train_cfg.iterations == "sample":
    t_B = jax.random.randint(t_key, graph_depth_B.shape, 0, graph_depth_B + 1)
  else:
    num_iters = train_cfg.train_iters
    tile = lambda x: jnp.repeat(x, num_iters, axis=0)
    inputs_BLF, targets_BLF, node_depth_BL = map(tile, (inputs_BLF, targets_BLF, node_depth_BL))
    length_B = None if length_B is None else tile(length_B)
    t_B = jnp.tile(jnp.arange(num_iters, dtype=jnp.int32), graph_depth_B.shape[0])
  state_in_BLF, state_out_BLF = recurrence.teacher_forced_pair(
      inputs_BLF, targets_BLF, node_depth_BL, t_B)
  replacements_fn = None
  if train_cfg.corrupt_values == "model":
    if model is None:
      raise ValueError("train.corrupt_values=model needs the model")

    def replacements_fn(value_key):
      value_logits_BLV = jax.lax.stop_gradient(model(state_in_BLF)[vocab_lib.VALUE])
      return corruption.likely_errors(value_key, value_logits_BLV,
                                      state_out_BLF[..., vocab_lib.VALUE])
  corrupted_in_BLF, corrupted_BL = corruption.corrupt_values(
      corrupt_key, state_in_BLF, node_depth_BL, t_B,
      batch_prob=train_cfg.corrupt_batch_prob, token_prob=train_cfg.corrupt_token_prob,
      candidates=train_cfg.corrupt_candidates,
      value_vocab_size=config.data.modulus + 2, replacements_fn=replacements_fn)
  return dict(inputs_BLF=corrupted_in_BLF, clean_inputs_BLF=state_in_BLF,
              targets_BLF=state_out_BLF, node_depth_BL=node_depth_BL, t_B=t_B,
              corrupted_BL=corrupted_BL, length_B=length_B)


def uses_aux_heads(train_cfg) -> bool:
  """Whether any auxiliary (training-aid) loss is on."""
  return (train_cfg.operand_loss_weight > 0 or train_cfg.use_value_loss_weight > 0
          or train_cfg.pair_value_loss_weight > 0 or train_cfg.prefix_value_loss_weight > 0)


def aux_loss(aux_logits, state_BLF, vocab, train_cfg):
  """Weighted sum of the auxiliary losses against `state_BLF`, and their metrics
  ((0, {}) when `aux_logits` is None: no aid is on).

  `state_BLF` must be the clean state the model reads: a corrupted input must
  not teach the model that an operand has the corrupted value.
  """
  loss, metrics = 0.0, {}
  if aux_logits is None:
    return loss, metrics
  if train_cfg.operand_loss_weight > 0:
    name_loss, value_loss, metrics = losses.operand_loss(
        aux_logits["operand_names"], aux_logits["operand_values"], state_BLF, vocab)
    loss = (train_cfg.operand_loss_weight * name_loss
            + train_cfg.operand_value_loss_weight * value_loss)
  if train_cfg.use_value_loss_weight > 0:
    use_loss, metrics["use_value_accuracy"] = losses.use_value_loss(
        aux_logits["use_values"], state_BLF, vocab)
    loss = loss + train_cfg.use_value_loss_weight * use_loss
  if train_cfg.pair_value_loss_weight > 0:
    pair_loss, metrics["pair_value_accuracy"] = losses.pair_value_loss(
        aux_logits["pair_values"], state_BLF, vocab)
    loss = loss + train_cfg.pair_value_loss_weight * pair_loss
  if train_cfg.prefix_value_loss_weight > 0:
    prefix_loss, metrics["prefix_value_accuracy"] = losses.prefix_value_loss(
        aux_logits["prefix_values"], state_BLF, vocab)
    loss = loss + train_cfg.prefix_value_loss_weight * prefix_loss
  return loss, metrics


def _forward(model, tokens_BLF, drop_key, train_cfg, length_B):
  """(logits, aux logits or None): one pass, with the training aids' heads when in use.

  With train.skip_padding the model is told each row's length, and skips
  the attention of the positions past it (the weighted loss never reads them).
  """
  kwargs = dict(dropout_key=drop_key)
  if train_cfg.get("skip_padding", False):
    kwargs["lengths_B"] = length_B
  if uses_aux_heads(train_cfg):
    return model.forward_with_aux(tokens_BLF, **kwargs)
  return model(tokens_BLF, **kwargs), None


def discrete_teacher_forced_loss(model, batch, key, config):
  data_key, dropout_key = jax.random.split(key)
  ex = teacher_forced_examples(batch, data_key, config, model)
  train_cfg = config.train
  logits, aux_logits = _forward(model, ex["inputs_BLF"], _dropout_key(config.model, dropout_key),
                                train_cfg, ex["length_B"])
  loss, metrics = _state_loss(logits, ex["targets_BLF"], ex["node_depth_BL"], ex["t_B"],
                              train_cfg)
  extra_loss, extra_metrics = aux_loss(aux_logits, ex["clean_inputs_BLF"], model.vocab, train_cfg)
  loss = loss + extra_loss
  metrics.update(extra_metrics)
  predicted = jnp.argmax(logits[vocab_lib.VALUE], -1)
  corrupted = ex["corrupted_BL"]
  fixed = (predicted == ex["targets_BLF"][..., vocab_lib.VALUE]) & corrupted
  metrics["corrected_fraction"] = fixed.sum() / jnp.maximum(corrupted.sum(), 1)
  return loss, metrics


def latent_rollout_loss(model, batch, key, config, *, anchoring):
  """Runs train_iters iterations (a differentiable scan) and supervises each.

  anchoring 'continuous' feeds the hidden state back; 'discrete' re-embeds
  the decoded state with the straight-through estimator.
  """
  inputs_BLF, targets_BLF = batch["inputs_BLF"], batch["targets_BLF"]
  node_depth_BL = batch["node_depth_BL"]
  num_iters = config.train.train_iters
  batch_size = inputs_BLF.shape[0]
  with_aux = uses_aux_heads(config.train)
  rollout = recurrence.rollout_scan(
      model, inputs_BLF, halting="oracle", max_iters=num_iters,
      oracle_iters_B=jnp.full((batch_size,), num_iters, jnp.int32), anchoring=anchoring,
      dropout_key=_dropout_key(config.model, key), straight_through=anchoring == "discrete",
      return_trajectory=True, with_aux=with_aux, remat=config.train.remat_iterations)

  def iteration_loss(logits, aux_logits, t):
    t_B = jnp.full((batch_size,), t, jnp.int32)
    state_in_BLF, target_BLF = recurrence.teacher_forced_pair(
        inputs_BLF, targets_BLF, node_depth_BL, t_B)
    loss, metrics = _state_loss(logits, target_BLF, node_depth_BL, t_B, config.train)
    # The aids ask for what the true state before iteration t holds.
    extra_loss, extra_metrics = aux_loss(aux_logits, state_in_BLF, model.vocab, config.train)
    return loss + extra_loss, dict(metrics, **extra_metrics)

  loss_T, metrics_T = jax.vmap(iteration_loss)(rollout["logits"], rollout.get("aux"),
                                               jnp.arange(num_iters))
  metrics = jax.tree.map(lambda m: m[-1], metrics_T)  # The last iteration's accuracy.
  return loss_T.sum(), metrics


def feedforward_loss(model, batch, key, config):
  """One pass from the input state; the final state is supervised.

  The training aids, when on, read the input state: the only values a use
  site can look up there are the leaves'.
  """
  logits, aux_logits = _forward(model, batch["inputs_BLF"], _dropout_key(config.model, key),
                                config.train, batch.get("length_B"))
  t_B = jnp.full(batch["graph_depth_B"].shape, _FINAL, jnp.int32)
  loss, metrics = _state_loss(logits, batch["targets_BLF"], batch["node_depth_BL"], t_B,
                              config.train)
  extra_loss, extra_metrics = aux_loss(aux_logits, batch["inputs_BLF"], model.vocab, config.train)
  return loss + extra_loss, dict(metrics, **extra_metrics)


def cot_loss(model, batch, key, config):
  logits_BLV = model(batch["tokens_BL"], dropout_key=_dropout_key(config.model, key))
  return losses.next_token_loss(logits_BLV, batch["tokens_BL"], batch["loss_mask_BL"],
                                factory.flat_vocab_from_config(config))


def loss_fn(model, batch, key, config):
  """Dispatches on config.method; returns (scalar loss, metrics)."""
  method = config.method
  if method == "feedforward":
    return feedforward_loss(model, batch, key, config)
  if method == "e2e_recurrent":
    # The model runs its T steps itself; its training aids read the first.
    return feedforward_loss(model, batch, key, config)
  if method == "continuous":
    return latent_rollout_loss(model, batch, key, config, anchoring="continuous")
  if method in ("discrete", "discrete_ec"):
    if config.train.rollout:
      return latent_rollout_loss(model, batch, key, config, anchoring="discrete")
    return discrete_teacher_forced_loss(model, batch, key, config)
  if method == "cot":
    return cot_loss(model, batch, key, config)
  raise ValueError(f"unknown method {method!r}")
