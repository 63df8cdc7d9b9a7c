"""The train step: every method's loss, golden values, sharding equality."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import common
from configs import cot as cot_config
from configs import continuous as continuous_config
from configs import discrete_ec as discrete_ec_config
from configs import e2e_recurrent as e2e_config
from configs import feedforward as feedforward_config
from recur_latent.data import vocab as vocab_lib
from recur_latent.models import factory
from recur_latent.training import data_stream
from recur_latent.training import objectives
from recur_latent.training import throughput
from recur_latent.training import train_step as train_step_lib

CONFIGS = {
    "feedforward": feedforward_config,
    "e2e_recurrent": e2e_config,
    "cot": cot_config,
    "continuous": continuous_config,
    "discrete_ec": discrete_ec_config,
}


def _tiny(module, **overrides):
  config = module.get_config("size=tiny")
  for dotted, value in overrides.items():
    node = config
    *parents, leaf = dotted.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return config


def _one_step(config, mesh, step=0):
  model = factory.build_model(config, nnx.Rngs(config.seed))
  graphdef, tx, state = train_step_lib.init_state(model, config.train)
  state = jax.device_put(state, train_step_lib.state_sharding(state, mesh))
  batch = train_step_lib.shard_batch(data_stream.BatchSource(config).batch(step), mesh)
  step_fn = train_step_lib.jit_train_step(graphdef, tx, config, mesh, state)
  return step_fn(state, batch, jax.random.key(config.seed))


@pytest.mark.parametrize("method", sorted(CONFIGS))
def test_every_method_takes_a_finite_step_that_changes_parameters(method):
  config = _tiny(CONFIGS[method])
  mesh = train_step_lib.make_mesh(1)
  model = factory.build_model(config, nnx.Rngs(config.seed))
  before = jax.tree.leaves(nnx.state(model, nnx.Param))
  state, metrics = _one_step(config, mesh)
  assert bool(metrics["finite"]), metrics
  assert np.isfinite(float(metrics["loss"])) and float(metrics["loss"]) > 0
  after = jax.tree.leaves(state.params)
  changed = sum(not np.allclose(a, b) for a, b in zip(before, after))
  assert changed > len(after) // 2, f"only {changed}/{len(after)} parameter arrays moved"


def test_discrete_rollout_training_with_straight_through_takes_a_step():
  config = _tiny(discrete_ec_config, **{"train.rollout": True})
  state, metrics = _one_step(config, train_step_lib.make_mesh(1))
  assert bool(metrics["finite"]) and float(metrics["grad_norm"]) > 0


def test_corruption_from_the_models_own_errors_takes_a_step_and_is_always_wrong():
  config = _tiny(discrete_ec_config, **{"train.corrupt_values": "model",
                                        "train.corrupt_batch_prob": 1.0,
                                        "train.corrupt_token_prob": 1.0,
                                        "train.corrupt_candidates": "computed"})
  model = factory.build_model(config, nnx.Rngs(config.seed))
  batch = {k: jnp.asarray(v) for k, v in data_stream.BatchSource(config).batch(0).items()}
  ex = objectives.teacher_forced_examples(batch, jax.random.key(1), config, model)
  mask = np.asarray(ex["corrupted_BL"])
  assert mask.sum() > 10
  value = vocab_lib.VALUE
  wrong = np.asarray(ex["inputs_BLF"][..., value] != ex["targets_BLF"][..., value])
  assert wrong[mask].all()
  state, metrics = _one_step(config, train_step_lib.make_mesh(1))
  assert bool(metrics["finite"]) and float(metrics["grad_norm"]) > 0


# Recorded from the tiny discrete_ec config on CPU (float32). If a change to
# the model, data or loss is intended, rerun this test, check that the new
# numbers are plausible, and update them here with the reason in the commit.
GOLDEN_LOSS = 16.984920501708984
GOLDEN_GRAD_NORM = 9.84672737121582
GOLDEN_PARAM_NORM = 56.27635955810547


def test_golden_one_step():
  config = _tiny(discrete_ec_config)
  _, metrics = _one_step(config, train_step_lib.make_mesh(1))
  got = (float(metrics["loss"]), float(metrics["grad_norm"]), float(metrics["param_norm"]))
  assert GOLDEN_LOSS is not None, f"record the golden values: {got!r}"
  np.testing.assert_allclose(got, (GOLDEN_LOSS, GOLDEN_GRAD_NORM, GOLDEN_PARAM_NORM),
                             rtol=2e-4, err_msg=(
                                 "one-step loss/norms changed; if intended, update the "
                                 "GOLDEN_* constants in this file"))


@pytest.mark.parametrize("method", ["discrete_ec", "continuous", "discrete_ec_flash"])
def test_eight_devices_match_one_device(method, monkeypatch):
  if jax.device_count() < 8:
    pytest.skip("needs XLA_FLAGS=--xla_force_host_platform_device_count=8")
  overrides = {"model.dropout": 0.0}
  shard_maps = []
  if method.endswith("_flash"):
    # The Pallas kernels through the interpreter, split over the batch by shard_map.
    from recur_latent.models import flash_relative
    monkeypatch.setattr(flash_relative, "default_implementation", lambda: "interpret")
    real_shard_map = jax.shard_map
    monkeypatch.setattr(jax, "shard_map", lambda *a, **k: shard_maps.append(k["mesh"]) or
                        real_shard_map(*a, **k))
    overrides["model.relative_scores"] = "flash"
  config = _tiny(CONFIGS[method.removesuffix("_flash")], **overrides)
  state1, metrics1 = _one_step(config, train_step_lib.make_mesh(1))
  assert not shard_maps  # One device: the kernels run unsplit.
  state8, metrics8 = _one_step(config, train_step_lib.make_mesh(8))
  np.testing.assert_allclose(float(metrics1["loss"]), float(metrics8["loss"]), rtol=1e-5)
  np.testing.assert_allclose(float(metrics1["grad_norm"]), float(metrics8["grad_norm"]), rtol=1e-5)
  if method.endswith("_flash"):
    assert shard_maps and all(m.shape["data"] == 8 for m in shard_maps)
    # The band table's far-bucket difference (kr_r - kr_W) leaves gradients
    # that are 0 in exact arithmetic at ~1e-8, which Adam's first step (g over
    # |g| + 1e-8) turns into updates of any size in [0, lr]: the parameters
    # are compared through the gradients instead (the next test).
    return
  for a, b in zip(jax.tree.leaves(state1.params), jax.tree.leaves(state8.params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
  # The 8-device state really is spread over 8 devices.
  leaf = jax.tree.leaves(state8.params)[0]
  assert len(leaf.sharding.device_set) == 8


def _loss_and_grads(config, mesh):
  """(loss, gradients) of the objective at the initial parameters on batch 0, traced as
  train_step traces (under the mesh)."""
  model = factory.build_model(config, nnx.Rngs(config.seed))
  graphdef, _, state = train_step_lib.init_state(model, config.train)
  params = jax.device_put(state.params, train_step_lib.state_sharding(state.params, mesh))
  batch = train_step_lib.shard_batch(data_stream.BatchSource(config).batch(0), mesh)

  def grad_fn(params, batch):
    with jax.sharding.use_abstract_mesh(mesh.abstract_mesh):
      loss = lambda p: objectives.loss_fn(nnx.merge(graphdef, p), batch, jax.random.key(0), config)[0]
      return jax.value_and_grad(loss)(params)
  return jax.jit(grad_fn)(params, batch)


def _assert_same_grads(grads, want):
  for (path, g), g_want in zip(jax.tree_util.tree_leaves_with_path(grads), jax.tree.leaves(want)):
    scale = float(jnp.abs(g_want).max()) or 1.0  # An all-zero gradient must stay zero.
    np.testing.assert_allclose(np.asarray(g) / scale, np.asarray(g_want) / scale, atol=1e-5,
                               err_msg=jax.tree_util.keystr(path))


@pytest.mark.parametrize("skip_padding", [False, True])
def test_flash_gradients_over_eight_devices_match_one_device(skip_padding, monkeypatch):
  if jax.device_count() < 8:
    pytest.skip("needs XLA_FLAGS=--xla_force_host_platform_device_count=8")
  from recur_latent.models import flash_relative
  monkeypatch.setattr(flash_relative, "default_implementation", lambda: "interpret")
  config = _tiny(discrete_ec_config, **{"model.dropout": 0.0, "model.relative_scores": "flash",
                                        "train.skip_padding": skip_padding})
  _, grads1 = _loss_and_grads(config, train_step_lib.make_mesh(1))
  _, grads8 = _loss_and_grads(config, train_step_lib.make_mesh(8))
  _assert_same_grads(grads8, grads1)


@pytest.mark.parametrize("scores,implementation", [("flash", "interpret"), ("dense", None)])
def test_skipping_padding_leaves_the_loss_and_gradients_unchanged(scores, implementation,
                                                                  monkeypatch):
  """The weighted loss reads no padded position, and no real position attends to one, so
  zeroing padded positions' attention (and skipping its tiles) changes nothing it trains."""
  from recur_latent.models import flash_relative
  if implementation:
    monkeypatch.setattr(flash_relative, "default_implementation", lambda: implementation)
  overrides = {"model.dropout": 0.0, "model.relative_scores": scores,
               "model.operand_heads_layer": 0, "train.use_value_loss_weight": 1.0,
               "train.iterations": "all", "train.train_iters": 2}
  mesh = train_step_lib.make_mesh(1)
  batch = data_stream.BatchSource(_tiny(discrete_ec_config, **overrides)).batch(0)
  assert (batch["length_B"] < batch["inputs_BLF"].shape[1]).all()  # Padding to skip.
  loss, grads = _loss_and_grads(_tiny(discrete_ec_config, **overrides), mesh)
  loss_skip, grads_skip = _loss_and_grads(
      _tiny(discrete_ec_config, **overrides, **{"train.skip_padding": True}), mesh)
  np.testing.assert_allclose(float(loss_skip), float(loss), rtol=1e-6)
  _assert_same_grads(grads_skip, grads)


def test_batches_are_a_pure_function_of_config_and_step():
  config = _tiny(discrete_ec_config)
  a = data_stream.BatchSource(config).batch(3)
  b = data_stream.BatchSource(config).batch(3)
  c = data_stream.BatchSource(config).batch(4)
  for key in a:
    np.testing.assert_array_equal(a[key], b[key])
  assert not np.array_equal(a["inputs_BLF"], c["inputs_BLF"])


def test_two_hosts_each_build_half_of_the_global_batch():
  config = _tiny(discrete_ec_config)
  host0 = data_stream.BatchSource(config, process_index=0, process_count=2).batch(0)
  host1 = data_stream.BatchSource(config, process_index=1, process_count=2).batch(0)
  assert host0["inputs_BLF"].shape[0] == config.train.batch_size // 2
  assert not np.array_equal(host0["inputs_BLF"], host1["inputs_BLF"])


def test_fixed_dataset_mode_cycles_a_fixed_pool():
  config = _tiny(discrete_ec_config, **{"data.fixed_dataset_size": 32})
  source = data_stream.BatchSource(config)
  pool = {tuple(row.ravel()) for row in source._fixed["inputs_BLF"]}
  for step in range(4):
    for row in source.batch(step)["inputs_BLF"]:
      assert tuple(row.ravel()) in pool
  # An epoch (2 steps of 16) visits every graph once.
  seen = np.concatenate([source.batch(s)["inputs_BLF"] for s in (0, 1)])
  assert len({tuple(r.ravel()) for r in seen}) == 32


def _assert_one_step_trains(config, heads, accuracies):
  """One step of `config` is finite, reports `accuracies` in [0, 1] and moves every `heads` weight."""
  model = factory.build_model(config, nnx.Rngs(config.seed))
  before = nnx.state(model, nnx.Param)
  state, metrics = _one_step(config, train_step_lib.make_mesh(1))
  assert bool(metrics["finite"])
  for name in accuracies:
    assert 0.0 <= float(metrics[name]) <= 1.0, name
  for name in heads:
    old = jax.tree.leaves(before[name])
    new = jax.tree.leaves(state.params[name])
    assert all(not np.allclose(a, b) for a, b in zip(old, new)), name


def test_operand_supervision_trains_the_operand_heads():
  config = _tiny(discrete_ec_config, **{"model.operand_heads_layer": 0, "model.pair_heads_layer": 1,
                                        "model.prefix_heads_layer": 1,
                                        "train.operand_loss_weight": 1.0,
                                        "train.operand_value_loss_weight": 1.0,
                                        "train.use_value_loss_weight": 1.0,
                                        "train.pair_value_loss_weight": 1.0,
                                        "train.prefix_value_loss_weight": 1.0})
  _assert_one_step_trains(
      config, ("operand_heads", "operand_value_heads", "use_value_head", "pair_value_head",
               "prefix_value_head"),
      ("operand_name_accuracy", "use_value_accuracy", "pair_value_accuracy", "prefix_value_accuracy"))


# feedforward shares e2e_recurrent's loss (one supervised final state); discrete_ec is above.
@pytest.mark.parametrize("method", ["e2e_recurrent", "continuous"])
def test_training_aids_train_their_heads_in_every_method_that_has_them(method):
  config = _tiny(CONFIGS[method], **{"model.operand_heads_layer": 0, "model.pair_heads_layer": 1,
                                     "model.prefix_heads_layer": 1,
                                     "train.use_value_loss_weight": 1.0,
                                     "train.pair_value_loss_weight": 1.0,
                                     "train.prefix_value_loss_weight": 1.0})
  _assert_one_step_trains(config, ("use_value_head", "pair_value_head", "prefix_value_head"),
                          ("use_value_accuracy", "pair_value_accuracy", "prefix_value_accuracy"))


def test_bucketed_padding_pads_each_batch_for_its_own_largest_graph():
  config = _tiny(discrete_ec_config, **{"data.pad_batches": "bucket", "data.train_min_nodes": 7,
                                        "data.train_max_nodes": 16, "data.size_chunks": 2,
                                        "data.bucket": 8})
  source = data_stream.BatchSource(config)
  lengths = set()
  for step in range(12):
    batch = source.batch(step)
    sizes = [source._size_for(step, chunk) for chunk in range(2)]
    width = batch["inputs_BLF"].shape[1]
    assert width == data_stream.train_length(config.data, config.method, max(sizes))
    assert width >= batch["length_B"].max() and width <= source.pad_to
    lengths.add(width)
  assert len(lengths) > 1  # Shorter batches really are shorter.
  # Two hosts draw the same sizes, so their halves of the global batch agree in shape.
  halves = [data_stream.BatchSource(config, process_index=i, process_count=2).batch(5) for i in (0, 1)]
  assert halves[0]["inputs_BLF"].shape == halves[1]["inputs_BLF"].shape


def test_longest_padding_pads_each_batch_for_its_own_longest_sequence():
  overrides = {"data.train_min_nodes": 7, "data.train_max_nodes": 16, "data.size_chunks": 2,
               "data.bucket": 8}
  config = _tiny(discrete_ec_config, **overrides, **{"data.pad_batches": "longest"})
  bucketed = data_stream.BatchSource(_tiny(discrete_ec_config, **overrides,
                                           **{"data.pad_batches": "bucket"}))
  source = data_stream.BatchSource(config)
  shorter = 0
  for step in range(12):
    batch, same = source.batch(step), bucketed.batch(step)
    width, longest = batch["inputs_BLF"].shape[1], int(batch["length_B"].max())
    assert longest <= width < longest + 8 and width % 8 == 0  # The longest, rounded up to the bucket.
    np.testing.assert_array_equal(batch["length_B"], same["length_B"])  # The same graphs ...
    np.testing.assert_array_equal(batch["inputs_BLF"], same["inputs_BLF"][:, :width])  # ... less padding.
    shorter += width < same["inputs_BLF"].shape[1]
  assert shorter > 0  # The size's bound pads some batches past their longest sequence.
  with pytest.raises(ValueError, match="single process"):
    data_stream.BatchSource(config, process_index=0, process_count=2)


def test_rematerialized_iterations_give_the_same_loss_and_gradients():
  config = _tiny(continuous_config, **{"model.dropout": 0.0})
  mesh = train_step_lib.make_mesh(1)
  results = {}
  for remat in (False, True):
    config.train.remat_iterations = remat
    model = factory.build_model(config, nnx.Rngs(config.seed))
    graphdef, tx, state = train_step_lib.init_state(model, config.train)
    state = jax.device_put(state, train_step_lib.state_sharding(state, mesh))
    batch = train_step_lib.shard_batch(data_stream.BatchSource(config).batch(0), mesh)
    key = jax.random.key(config.seed)
    compiled = train_step_lib.jit_train_step(graphdef, tx, config, mesh, state).lower(
        state, batch, key).compile()
    results[remat] = (throughput.compiled_peak_bytes(compiled), *compiled(state, batch, key))
  (peak_plain, state_plain, metrics_plain), (peak_remat, state_remat, metrics_remat) = (
      results[False], results[True])
  np.testing.assert_allclose(float(metrics_plain["loss"]), float(metrics_remat["loss"]), rtol=1e-6)
  np.testing.assert_allclose(float(metrics_plain["grad_norm"]), float(metrics_remat["grad_norm"]),
                             rtol=1e-5)
  # Recomputed activations may be fused in another order: float32 rounding, as across devices.
  for a, b in zip(jax.tree.leaves(state_plain.params), jax.tree.leaves(state_remat.params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
  assert peak_remat < peak_plain  # The point of it: the compiled step needs less memory.


def test_the_weight_average_follows_the_parameters_at_its_rate():
  # ema_decay 0.05 sits under the warm-up cap (0.1 at step 0): a_1 = 0.05 p_0 + 0.95 p_1.
  config = _tiny(discrete_ec_config, **{"train.ema_decay": 0.05})
  model = factory.build_model(config, nnx.Rngs(config.seed))
  p0 = jax.tree.map(np.asarray, nnx.state(model, nnx.Param))
  state, _ = _one_step(config, train_step_lib.make_mesh(1))
  p1 = jax.tree.map(np.asarray, state.params)
  expected = jax.tree.map(lambda a, b: 0.05 * a + 0.95 * b, p0, p1)
  jax.tree.map(lambda got, want: np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7),
               jax.tree.map(np.asarray, state.ema_params), expected)
  assert not all(np.allclose(a, b) for a, b in zip(jax.tree.leaves(state.ema_params),
                                                      jax.tree.leaves(state.params)))
  # Validation and evaluation read the average, not the raw weights.
  assert train_step_lib.eval_params(state) is state.ema_params


def test_the_weight_average_starts_fast_then_settles_at_its_decay():
  rates = np.asarray(train_step_lib.ema_rate(np.array([0, 10, 90, 100_000]), 0.99))
  np.testing.assert_allclose(rates, [0.1, 11 / 20, 91 / 100, 0.99], rtol=1e-6)


def test_runs_without_an_average_keep_no_second_copy():
  config = _tiny(discrete_ec_config)
  model = factory.build_model(config, nnx.Rngs(config.seed))
  _, _, state = train_step_lib.init_state(model, config.train)
  assert state.ema_params is None
  assert train_step_lib.eval_params(state) is state.params
