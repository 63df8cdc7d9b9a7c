"""The training loop: resume, NaN stop, SIGTERM, hard kill, config errors."""
import os
import re
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import discrete_ec as discrete_ec_config
from recur_latent.models import factory
from recur_latent.training import checkpoints
from recur_latent.training import config_checks
from recur_latent.training import loop
from recur_latent.training import metrics_writer
from recur_latent.training import optimizer as optimizer_lib
from recur_latent.training import train_step as train_step_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tiny(num_steps=4, **train):
  config = discrete_ec_config.get_config("size=tiny")
  config.train.num_steps = num_steps
  config.train.log_every = 1
  config.train.checkpoint_every = 2
  for k, v in train.items():
    config.train[k] = v
  return config


def _losses(workdir):
  return {r["step"]: r["loss"] for r in metrics_writer.read_metrics(workdir) if "loss" in r}


def test_resume_reproduces_the_uninterrupted_loss_curve(tmp_path):
  full = str(tmp_path / "full")
  loop.train(_tiny(num_steps=6), full, log_to_console=False)
  split = str(tmp_path / "split")
  loop.train(_tiny(num_steps=3, checkpoint_every=3), split, log_to_console=False)
  summary = loop.train(_tiny(num_steps=6, checkpoint_every=3), split, log_to_console=False)
  assert summary["start_step"] == 3
  full_losses, split_losses = _losses(full), _losses(split)
  assert sorted(full_losses) == sorted(split_losses) == [1, 2, 3, 4, 5, 6]
  for step in full_losses:
    np.testing.assert_allclose(split_losses[step], full_losses[step], rtol=1e-6)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
  workdir = str(tmp_path / "nan")
  real_schedule = optimizer_lib.learning_rate_schedule

  def exploding_schedule(train_cfg):
    base = real_schedule(train_cfg)
    # From the 4th update on the step is infinite: the update turns non-finite.
    return lambda count, decay_start=-1: jnp.where(count < 3, base(count, decay_start), jnp.inf)

  monkeypatch.setattr(optimizer_lib, "learning_rate_schedule", exploding_schedule)
  with pytest.raises(loop.NonFiniteLossError, match=r"at step 4"):
    loop.train(_tiny(num_steps=10, checkpoint_every=1, grad_clip=0.0), workdir,
               log_to_console=False)
  monkeypatch.undo()
  ckpt = checkpoints.Checkpointer(workdir)
  assert ckpt.latest_step() == 3
  ckpt.close()
  model, _ = checkpoints.load_model(workdir, which="latest")
  from flax import nnx
  import jax
  leaves = jax.tree.leaves(nnx.state(model, nnx.Param))
  assert all(np.isfinite(np.asarray(x)).all() for x in leaves)


@pytest.mark.parametrize("field,value,needle", [
    ("data.modulus", 1, "config.data.modulus"),
    ("data.num_names", 4, "config.data.num_names"),
    ("train.batch_size", 12, "config.train.batch_size"),
    ("model.num_heads", 3, "config.model.num_heads"),
    ("model.position", "sinusoid", "config.model.position"),
    ("train.corrupt_candidates", "all", "config.train.corrupt_candidates"),
    ("eval.halting", ("never",), "config.eval.halting"),
    ("train.val_halting", "never", "config.train.val_halting"),
    ("data.ops", ("add", "div"), "config.data.ops"),
    ("train.use_value_loss_weight", 1.0, "config.model.operand_heads_layer"),
    ("model.tied_layers", (0, 5), "config.model.tied_layers"),
    ("model.tied_layers", (1,), "config.model.tied_layers"),
    ("train.ema_decay", 1.0, "config.train.ema_decay"),
    ("train.target_repeats", 0, "config.train.target_repeats"),
])
def test_invalid_config_fails_naming_the_field(field, value, needle):
  config = _tiny()
  section, name = field.split(".")
  config[section][name] = value
  with pytest.raises(config_checks.ConfigError, match=needle.replace(".", r"\.")):
    config_checks.check_config(config, num_devices=8)


@pytest.mark.parametrize("name", sorted(
    f[:-3] for f in os.listdir(os.path.join(REPO, "configs"))
    if f.endswith(".py") and f not in ("__init__.py", "common.py")))
def test_every_config_file_passes_the_checks(name):
  # A field the loop reads but a config file sets badly fails here, before any run.
  import importlib
  config = importlib.import_module(f"configs.{name}").get_config("")
  config_checks.check_config(config, num_devices=1)


@pytest.mark.parametrize("overrides,needle", [
    ({"train.loss": "faithful"}, "needs train.loss='weighted'"),
    ({"method": "continuous"}, "not 'continuous'"),
    ({"train.rollout": True}, "with train.rollout"),
])
def test_skipping_padding_is_refused_where_padded_positions_are_read(overrides, needle):
  config = _tiny()
  config.train.skip_padding = True
  config_checks.check_config(config, num_devices=1)  # The tiny discrete_ec config can.
  config.update_from_flattened_dict(overrides)
  with pytest.raises(config_checks.ConfigError, match=r"config\.train\.skip_padding: .*" + re.escape(needle)):
    config_checks.check_config(config, num_devices=1)


def test_fast_recipe_turns_on_use_site_supervision_and_passes_the_checks():
  from configs import discrete_ec
  config = discrete_ec.get_config("recipe=fast")
  assert config.model.operand_heads_layer == 0 and config.train.use_value_loss_weight == 1.0
  assert config.train.learning_rate == 2e-3 and config.data.train_min_nodes == 8
  assert config.model.relative_scores == "flash" and config.model.dropout == 0.0
  assert config.train.skip_padding
  # It stops after two validations in a row at 99.5% on as many graphs as the test.
  assert (config.train.target_repeats, config.train.val_num_graphs) == (2, 2048)
  # Session 11: the decay starts on the training state accuracy; validation only after it.
  assert (config.train.decay_trigger_metric, config.train.decay_trigger) == ("state_accuracy", 0.95)
  assert config.train.val_after_decay
  config_checks.check_config(config, num_devices=1)
  with pytest.raises(ValueError, match="recipe"):
    discrete_ec.get_config("recipe=faster")


def test_unknown_method_fails_before_anything_is_built(tmp_path):
  config = _tiny()
  config.method = "transformer++"
  with pytest.raises(config_checks.ConfigError, match="config.method"):
    loop.train(config, str(tmp_path / "bad"), log_to_console=False)
  assert not os.path.exists(tmp_path / "bad" / "checkpoints")


def _start_training(workdir, num_steps):
  args = [sys.executable, "-m", "experiments.train",
          "--config=configs/discrete_ec.py:size=tiny", f"--workdir={workdir}",
          f"--config.train.num_steps={num_steps}", "--config.train.checkpoint_every=5",
          "--config.train.log_every=1", "--nofinal_eval",
          # The restart then loads its compile from this run's own cache, not ~/.cache.
          f"--compilation_cache_dir={os.path.dirname(workdir)}/jax_cache"]
  # One device: this test is about signals and restarts, and a sharded
  # checkpoint save of 8 emulated devices costs seconds in each fresh process.
  env = dict(os.environ, XLA_FLAGS=re.sub(r"--xla_force_host_platform_device_count=\d+", "",
                                           os.environ.get("XLA_FLAGS", "")))
  return subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env)


def _wait_for_metrics(workdir, process, min_steps, timeout=240):
  deadline = time.time() + timeout
  while time.time() < deadline:
    if process.poll() is not None:
      raise AssertionError(f"training exited early:\n{process.stdout.read()}")
    path = os.path.join(workdir, "metrics.jsonl")
    if os.path.exists(path) and len(_losses(workdir)) >= min_steps:
      return
    time.sleep(0.2)
  process.kill()
  raise AssertionError("training made no progress")


def test_sigterm_saves_and_exits_cleanly_then_resumes(tmp_path):
  workdir = str(tmp_path / "preempted")
  process = _start_training(workdir, num_steps=100_000)
  _wait_for_metrics(workdir, process, min_steps=3)
  process.send_signal(signal.SIGTERM)
  output, _ = process.communicate(timeout=120)
  assert process.returncode == 0, output
  ckpt = checkpoints.Checkpointer(workdir)
  saved = ckpt.latest_step()
  ckpt.close()
  assert saved is not None and saved >= 3, output
  assert "SIGTERM" in output
  # A hard kill after that, then a restart: resumes from the latest checkpoint.
  process = _start_training(workdir, num_steps=100_000)
  _wait_for_metrics(workdir, process, min_steps=saved + 8)
  process.kill()
  process.communicate(timeout=60)
  ckpt = checkpoints.Checkpointer(workdir)
  latest = ckpt.latest_step()
  ckpt.close()
  assert latest is not None and latest > saved
  summary_steps = saved
  resumed = loop.train(_tiny(num_steps=latest + 1), workdir, log_to_console=False)
  assert resumed["start_step"] == latest > summary_steps


def test_triggered_schedule_holds_the_peak_until_the_trigger_then_decays():
  config = _tiny(schedule="triggered", learning_rate=1e-3, warmup_steps=10, decay_steps=100,
                 end_lr_fraction=0.1)
  lr = optimizer_lib.learning_rate_schedule(config.train)
  assert float(lr(0)) == pytest.approx(1e-4)  # Warmup starts at peak / warmup.
  assert float(lr(500)) == pytest.approx(1e-3)  # Not triggered: the peak, however late.
  assert float(lr(500, 400)) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi))))
  assert float(lr(450, 400)) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
  assert float(lr(399, 400)) == pytest.approx(1e-3)


def test_validation_reaching_the_trigger_starts_the_decay_in_the_run(tmp_path):
  calls = []

  def fake_validation(model, cfg):
    calls.append(len(calls))
    return {12: 0.9 if len(calls) >= 2 else 0.1}  # Reaches the trigger at the 2nd validation.

  config = _tiny(num_steps=8, schedule="triggered", eval_every=2, decay_trigger=0.5,
                 decay_steps=4, warmup_steps=0, end_lr_fraction=0.0, learning_rate=1e-3)
  workdir = str(tmp_path / "triggered")
  loop.train(config, workdir, validate_fn=fake_validation, log_to_console=False)
  lrs = {r["step"]: r["learning_rate"] for r in metrics_writer.read_metrics(workdir)
         if "learning_rate" in r}
  # Steps 1..4 at the peak; validation after step 4 triggers; step 5 is update 4 = decay start.
  assert [round(lrs[s] / 1e-3, 4) for s in range(1, 9)] == [1, 1, 1, 1, 1, 0.8536, 0.5, 0.1464]
  model, _ = checkpoints.load_model(workdir, which="latest")
  ckpt = checkpoints.Checkpointer(workdir)
  from recur_latent.models import factory
  from flax import nnx
  from recur_latent.training import train_step as train_step_lib
  _, _, like = train_step_lib.init_state(factory.build_model(config, nnx.Rngs(0)), config.train)
  assert int(ckpt.restore(like).decay_start) == 4  # Resuming keeps the decay where it was.
  ckpt.close()


def test_a_training_metric_can_start_the_decay_without_validation(tmp_path):
  config = _tiny(num_steps=6, schedule="triggered", eval_every=0, decay_trigger=1e-6,
                 decay_trigger_metric="value_accuracy", decay_steps=4, warmup_steps=0,
                 end_lr_fraction=0.0, learning_rate=1e-3)
  workdir = str(tmp_path / "by_metric")
  loop.train(config, workdir, log_to_console=False)
  records = [r for r in metrics_writer.read_metrics(workdir) if "learning_rate" in r]
  first = next(r["step"] for r in records if r["value_accuracy"] >= 1e-6)  # Reaches the trigger ...
  assert first <= 3
  # ... and is read while step first + 1 runs, so the decay starts at update `first`
  # (its rate, the peak, is logged at step first + 1) and lasts 4 updates.
  cosine = {0: 1.0, 1: 0.8536, 2: 0.5, 3: 0.1464}
  want = [1.0 if r["step"] <= first + 1 else cosine.get(r["step"] - first - 1, 0.0) for r in records]
  assert [round(r["learning_rate"] / 1e-3, 4) for r in records] == want
  assert want.count(1.0) < len(want)  # The decay shows within the run.
  # The same run with the trigger out of reach stays at the peak.
  config.train.decay_trigger = 1.0
  loop.train(config, str(tmp_path / "never"), log_to_console=False)
  assert all(r["learning_rate"] == pytest.approx(1e-3)
             for r in metrics_writer.read_metrics(str(tmp_path / "never")) if "learning_rate" in r)


def test_validation_can_wait_for_a_decay_started_by_a_training_metric(tmp_path):
  def fake_validation(model, cfg):  # The run's metrics record which steps validated.
    del model, cfg
    return {12: 0.0}

  # The trigger (value accuracy >= 0.999) is out of reach of 8 tiny steps: no decay, so the
  # only validation is the one at the end.
  config = _tiny(num_steps=8, schedule="triggered", eval_every=2, decay_trigger=0.999,
                 decay_trigger_metric="value_accuracy", val_after_decay=True, warmup_steps=0,
                 checkpoint_every=0)
  loop.train(config, str(tmp_path / "never"), validate_fn=fake_validation, log_to_console=False)
  never = [r["step"] for r in metrics_writer.read_metrics(str(tmp_path / "never"))
           if "val_solved_mean" in r]
  assert never == [8]
  # Reached at once: the decay starts at the first log step, and every 2 steps validate.
  config.train.decay_trigger = 1e-6
  workdir = str(tmp_path / "at_once")
  loop.train(config, workdir, validate_fn=fake_validation, log_to_console=False)
  records = metrics_writer.read_metrics(workdir)
  first = next(r["step"] for r in records if r.get("value_accuracy", 0.0) >= 1e-6)
  validated = [r["step"] for r in records if "val_solved_mean" in r]
  assert validated == [s for s in range(2, 9, 2) if s > first]
  # Validation cannot wait for a decay that only validation would start.
  config.train.decay_trigger_metric = "validation"
  config.train.val_after_decay = True
  with pytest.raises(config_checks.ConfigError, match="train.val_after_decay"):
    config_checks.check_config(config)


def test_decay_trigger_metric_is_checked():
  from recur_latent.training import config_checks
  config = _tiny(schedule="triggered", eval_every=0)
  with pytest.raises(config_checks.ConfigError, match="train.eval_every"):
    config_checks.check_config(config)  # Validation is the default trigger, and there is none.
  config.train.decay_trigger_metric = "loss"
  with pytest.raises(config_checks.ConfigError, match="train.decay_trigger_metric"):
    config_checks.check_config(config)
  config.train.decay_trigger_metric = "due_value_accuracy"
  config_checks.check_config(config)


def test_the_run_validates_again_at_its_end_unless_it_just_did(tmp_path):
  steps_validated = []

  def fake_validation(model, cfg):
    steps_validated.append(len(steps_validated))
    return {12: 0.0}

  # eval_every 8: a validation at 8; the end at 9 is 1 step after it (skipped) ...
  loop.train(_tiny(num_steps=9, eval_every=8, checkpoint_every=0), str(tmp_path / "a"),
             validate_fn=fake_validation, log_to_console=False)
  assert len(steps_validated) == 1
  # ... but the end at 12 is 4 steps (>= 8 // 4) after one, so it is validated too.
  steps_validated.clear()
  loop.train(_tiny(num_steps=12, eval_every=8, checkpoint_every=0), str(tmp_path / "b"),
             validate_fn=fake_validation, log_to_console=False)
  assert len(steps_validated) == 2


@pytest.mark.parametrize("repeats,stop_step", [(1, 4), (2, 10), (3, 12)])
def test_a_run_stops_after_target_repeats_validations_in_a_row_at_target(tmp_path, repeats,
                                                                          stop_step):
  scores = iter([0.1, 0.999, 0.9, 0.996, 1.0, 1.0, 0.999])  # Validations at steps 2, 4, ...

  def fake_validation(model, cfg):
    return {12: next(scores)}

  config = _tiny(num_steps=14, eval_every=2, checkpoint_every=0, stop_at_target=True,
                 target_accuracy=0.995, target_repeats=repeats)
  summary = loop.train(config, str(tmp_path / str(repeats)), validate_fn=fake_validation,
                       log_to_console=False)
  assert summary["final_step"] == stop_step
  first = [r["time_to_target_s"] for r in metrics_writer.read_metrics(str(tmp_path / str(repeats)))
           if "time_to_target_s" in r]
  assert len(first) == 1 and summary["time_to_target_s"] == first[0]  # The first hit, at step 4.


def test_the_loop_compiles_once_per_padded_length_and_trains_through_them(tmp_path):
  config = _tiny(num_steps=8, checkpoint_every=8)
  config.data.pad_batches = "bucket"
  # Graphs of 7..11 nodes fit 64 tokens, 12..16 need 128: two lengths, two compiles.
  config.data.train_min_nodes, config.data.train_max_nodes, config.data.bucket = 7, 16, 64
  workdir = str(tmp_path / "bucketed")
  summary = loop.train(config, workdir, log_to_console=False)
  lengths = [c["padded_length"] for c in summary["compiles"]]
  assert sorted(lengths) == [64, 128]
  assert sorted(_losses(workdir)) == list(range(1, 9))


def test_first_step_reaching_skips_records_without_the_metric():
  records = [{"step": 0, "loss": 3.0}, {"step": 100, "val_solved_n32": 0.5},
             {"step": 150, "loss": 1.0}, {"step": 200, "val_solved_n32": 0.96},
             {"step": 300, "val_solved_n32": 1.0}]
  assert metrics_writer.first_step_reaching(records, "val_solved_n32", 0.95) == 200
  assert metrics_writer.first_step_reaching(records, "val_solved_n32", 0.5) == 100
  assert metrics_writer.first_step_reaching(records, "val_solved_n32", 1.01) is None


def test_a_run_with_a_weight_average_resumes_exactly_and_loads_the_average(tmp_path):
  full = str(tmp_path / "full")
  loop.train(_tiny(num_steps=4, ema_decay=0.9), full, log_to_console=False)
  split = str(tmp_path / "split")
  loop.train(_tiny(num_steps=2, ema_decay=0.9), split, log_to_console=False)
  loop.train(_tiny(num_steps=4, ema_decay=0.9), split, log_to_console=False)
  np.testing.assert_allclose([_losses(split)[s] for s in (3, 4)],
                             [_losses(full)[s] for s in (3, 4)], rtol=1e-6)
  model, _ = checkpoints.load_model(full, which="latest")
  config = checkpoints.load_config(full)
  _, _, like = train_step_lib.init_state(factory.build_model(config, nnx.Rngs(0)), config.train)
  ckpt = checkpoints.Checkpointer(full)
  try:
    state = ckpt.restore(like)
  finally:
    ckpt.close()
  loaded = jax.tree.leaves(nnx.state(model, nnx.Param))
  for got, avg in zip(loaded, jax.tree.leaves(state.ema_params)):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(avg))
  assert not all(np.array_equal(np.asarray(a), np.asarray(r)) for a, r in
                 zip(jax.tree.leaves(state.ema_params), jax.tree.leaves(state.params)))
