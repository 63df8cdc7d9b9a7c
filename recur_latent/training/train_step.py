"""The one jitted, sharded training step.

The model is split once into a static graph definition and a parameter
pytree; the step merges them inside jit (Flax's functional training loop), so
the step is a pure function of (state, batch, key) that runs unchanged on one
device, many devices and many hosts: the batch is sharded along the mesh's
'data' axis and the state is replicated.
"""
import functools

import flax.struct
import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from recur_latent.training import objectives
from recur_latent.training import optimizer as optimizer_lib


@flax.struct.dataclass
class TrainState:
  step: jax.Array  # int32 scalar: optimizer steps taken.
  params: nnx.State  # Model parameters (float32).
  opt_state: optax.OptState
  # int32 scalar: the step where the 'triggered' learning-rate decay began
  # (optimizer.NOT_TRIGGERED until validation reaches train.decay_trigger).
  decay_start: jax.Array
  # An exponential moving average of `params` (train.ema_decay > 0), the
  # weights that validation, the best checkpoint's evaluation and export use;
  # None when the average is off, so older checkpoints keep their structure.
  ema_params: nnx.State | None = None


def make_mesh(num_devices=None):
  """A 1-D data-parallel mesh over all (or the first num_devices) devices."""
  devices = jax.devices()[:num_devices] if num_devices else jax.devices()
  return jax.sharding.Mesh(devices, ("data",))


def init_state(model, train_cfg):
  """Splits an NNX model into its static graph and a fresh TrainState."""
  graphdef, params = nnx.split(model, nnx.Param)
  tx = optimizer_lib.make_optimizer(train_cfg)
  ema_params = (jax.tree.map(jnp.copy, params) if train_cfg.get("ema_decay", 0.0) > 0 else None)
  state = TrainState(step=jnp.zeros((), jnp.int32), params=params,
                     opt_state=tx.init(params),
                     decay_start=jnp.full((), optimizer_lib.NOT_TRIGGERED, jnp.int32),
                     ema_params=ema_params)
  return graphdef, tx, state


def eval_params(state):
  """The weights to evaluate: the moving average when the run keeps one."""
  return state.params if state.ema_params is None else state.ema_params


def ema_rate(step, ema_decay):
  """The average's decay for the update after `step` updates.

  Capped by (1 + step) / (10 + step) so that the first few hundred steps do not
  leave the average sitting near the random initialization.
  """
  step = jnp.asarray(step, jnp.float32)
  return jnp.minimum(ema_decay, (1.0 + step) / (10.0 + step))


def global_norm(tree):
  return jnp.sqrt(sum(jnp.sum(jnp.square(x.astype(jnp.float32)))
                      for x in jax.tree.leaves(tree)))


def train_step(state, batch, key, *, graphdef, tx, config, mesh=None):
  """One optimizer step. A non-finite loss leaves the parameters unchanged.

  With a `mesh` of several devices, the step is traced with it as the
  abstract mesh, so that code XLA cannot partition by itself (the Pallas
  attention) can split its work over the 'data' axis
  (models/flash_relative.py). One device traces as before.
  """
  if mesh is not None and mesh.size > 1:
    with jax.sharding.use_abstract_mesh(mesh.abstract_mesh):
      return train_step(state, batch, key, graphdef=graphdef, tx=tx, config=config)
  step_key = jax.random.fold_in(key, state.step)

  def loss_fn(params):
    model = nnx.merge(graphdef, params)
    return objectives.loss_fn(model, batch, step_key, config)

  (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  direction, opt_state = tx.update(grads, state.opt_state, state.params)
  learning_rate = optimizer_lib.learning_rate_schedule(config.train)(state.step, state.decay_start)
  updates = jax.tree.map(lambda d: -learning_rate * d, direction)
  params = optax.apply_updates(state.params, updates)
  grad_norm = global_norm(grads)
  param_norm = global_norm(params)
  finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm) & jnp.isfinite(param_norm)
  ema_params = state.ema_params
  if ema_params is not None:
    rate = ema_rate(state.step, config.train.ema_decay)
    ema_params = jax.tree.map(lambda avg, new: rate * avg + (1.0 - rate) * new, ema_params, params)
  # Keep the last good state so that a NaN never reaches a checkpoint.
  params, opt_state, ema_params = jax.tree.map(
      lambda new, old: jnp.where(finite, new, old),
      (params, opt_state, ema_params), (state.params, state.opt_state, state.ema_params))
  metrics = dict(metrics, loss=loss, grad_norm=grad_norm, param_norm=param_norm,
                 finite=finite, learning_rate=learning_rate)
  new_state = TrainState(step=state.step + 1, params=params, opt_state=opt_state,
                         decay_start=state.decay_start, ema_params=ema_params)
  return new_state, metrics


def state_sharding(state, mesh):
  """Parameters and optimizer state are replicated on every device."""
  return jax.tree.map(lambda _: NamedSharding(mesh, P()), state)


def batch_sharding(mesh):
  return NamedSharding(mesh, P("data"))


def jit_train_step(graphdef, tx, config, mesh, state):
  """The train step jitted with shardings and a donated state."""
  replicated = NamedSharding(mesh, P())
  state_sh = state_sharding(state, mesh)
  step = functools.partial(train_step, graphdef=graphdef, tx=tx, config=config, mesh=mesh)
  return jax.jit(
      step,
      in_shardings=(state_sh, batch_sharding(mesh), replicated),
      out_shardings=(state_sh, replicated),
      donate_argnums=(0,))


def shard_batch(batch_np, mesh):
  """Assembles the global batch from this host's slice (works on one host too)."""
  sharding = batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, v)
          for k, v in batch_np.items()}
