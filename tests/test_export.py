"""Exported models: round trips (exact in float32, close in bfloat16), file layout, size of the full model."""
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import cot as cot_config
from configs import discrete_ec as discrete_ec_config
from recur_latent import export
from recur_latent.data import text as text_lib
from recur_latent.data import tokenize as tokenize_lib
from recur_latent.models import factory
from recur_latent.training import checkpoints
from recur_latent.training import train_step

PROBLEMS = ("20 = x_7 ; 2 = x_42 ; x_7 + x_42 = x_23 ; x_23 + x_7 + x_42 = x_1",
            "3 = x_1 ; x_1 + x_1 = x_2 ; x_2 = x_5 ; 9 = x_0 ; x_0 + x_5 = x_3")


@pytest.fixture(scope="module")
def tiny():
  config = discrete_ec_config.get_config("size=tiny")
  return factory.build_model(config, nnx.Rngs(3)), config


def _logits(model, config):
  vocab = factory.vocab_from_config(config)
  problems = [text_lib.parse(t, num_names=vocab.num_names) for t in PROBLEMS]
  inputs_BLF = tokenize_lib.tokenize_problems(problems, vocab, bucket=16)["inputs_BLF"]
  graphdef, state = nnx.split(model)
  return jax.jit(lambda s, x: nnx.merge(graphdef, s)(x))(state, inputs_BLF)


def test_float32_export_round_trip_gives_identical_logits(tiny, tmp_path):
  model, config = tiny
  export.export_model(model, config, str(tmp_path), dtype="float32")
  loaded, loaded_config = export.load_exported(str(tmp_path))
  assert loaded_config.to_dict() == config.to_dict()
  for expected, got in zip(_logits(model, config), _logits(loaded, loaded_config)):
    np.testing.assert_array_equal(got, expected)


def test_bfloat16_export_stores_rounded_params_and_gives_close_logits(tiny, tmp_path):
  model, config = tiny
  export.export_model(model, config, str(tmp_path))
  loaded, _ = export.load_exported(str(tmp_path))
  original, restored = export.flat_params(model), export.flat_params(loaded)
  for key, value in original.items():
    assert restored[key].dtype == jnp.float32
    np.testing.assert_array_equal(restored[key], jnp.asarray(value, jnp.bfloat16).astype(jnp.float32),
                                  err_msg=key)
  assert any(not np.array_equal(original[k], restored[k]) for k in original)  # Really rounded.
  for expected, got in zip(_logits(model, config), _logits(loaded, config)):
    np.testing.assert_allclose(got, expected, atol=0.05, rtol=0.05)
  # bfloat16 parameters on request (e.g. to halve memory).
  half, _ = export.load_exported(str(tmp_path), dtype=jnp.bfloat16)
  assert all(v.dtype == jnp.bfloat16 for v in export.flat_params(half).values())


def test_exported_files_layout_and_metadata(tiny, tmp_path):
  model, config = tiny
  metadata = export.export_model(model, config, str(tmp_path), source_workdir="/runs/ec",
                                 source_commit="abc123", extra={"note": "tiny"})
  assert sorted(os.listdir(tmp_path)) == ["config.json", "metadata.json", "params.npz"]
  with np.load(tmp_path / "params.npz") as params:
    stored = dict(params)
  assert set(stored) == set(export.flat_params(model))
  assert "transformer/layers/1/attn/w_q" in stored and "heads/3/kernel" in stored
  assert all(a.dtype == np.uint16 for a in stored.values())  # bfloat16 bits.
  # The documented decoding of the bits, without jax.
  kernel = export.flat_params(model)["heads/3/kernel"]
  decoded = (stored["heads/3/kernel"].astype(np.uint32) << 16).view(np.float32)
  np.testing.assert_allclose(decoded, kernel, rtol=2 ** -8)
  on_disk = json.loads((tmp_path / "metadata.json").read_text())
  assert on_disk["method"] == "discrete_ec" and on_disk["param_dtype"] == "bfloat16"
  assert on_disk["training"]["max_nodes"] == config.data.train_max_nodes
  assert on_disk["training"]["max_depth"] == config.data.train_max_depth
  assert on_disk["source_workdir"] == "/runs/ec" and on_disk["source_commit"] == "abc123"
  assert on_disk["note"] == "tiny"
  assert metadata["num_params"] == sum(int(np.prod(v.shape)) for v in stored.values())
  assert metadata["bytes"] == sum(os.path.getsize(tmp_path / f) for f in os.listdir(tmp_path))
  assert checkpoints.load_config(str(tmp_path)).to_dict() == config.to_dict()


def test_other_methods_round_trip(tmp_path):
  config = cot_config.get_config("size=tiny")
  model = factory.build_model(config, nnx.Rngs(0))
  export.export_model(model, config, str(tmp_path), dtype="float32")
  loaded, _ = export.load_exported(str(tmp_path))
  assert type(loaded) is type(model)
  original, restored = export.flat_params(model), export.flat_params(loaded)
  assert set(original) == set(restored)
  for key in original:
    np.testing.assert_array_equal(restored[key], original[key], err_msg=key)


def test_load_rejects_parameters_that_do_not_match_the_config(tiny, tmp_path):
  model, config = tiny
  export.export_model(model, config, str(tmp_path))
  path = str(tmp_path / "params.npz")
  with np.load(path) as params:
    stored = dict(params)
  del stored["heads/0/bias"]
  stored["heads/0/kernel"] = stored["heads/0/kernel"][:, :2]
  np.savez(path, **stored)
  with pytest.raises(ValueError, match=r"missing \['heads/0/bias'\]"):
    export.load_exported(str(tmp_path))
  stored["heads/0/bias"] = np.zeros(6, np.uint16)
  np.savez(path, **stored)
  with pytest.raises(ValueError, match="heads/0/kernel has shape"):
    export.load_exported(str(tmp_path))
  with pytest.raises(FileNotFoundError, match="not an exported model"):
    export.load_exported(str(tmp_path / "nowhere"))


def test_paper_full_model_fits_the_shipped_budget(tmp_path):
  config = discrete_ec_config.get_config("")  # 4 layers, d = 384, 16 heads: the paper's model.
  assert (config.model.num_layers, config.model.d_model) == (4, 384)
  shapes = export.abstract_params(config)  # nnx.eval_shape: nothing is initialized.
  num_params = sum(int(np.prod(s.shape)) for s in shapes.values())
  assert 8.3e6 < num_params < 8.6e6
  assert export.raw_param_bytes(config, "float32") == 4 * num_params
  raw_bf16 = export.raw_param_bytes(config, "bfloat16")
  assert raw_bf16 == 2 * num_params
  # Raw bfloat16 is ~16.9 MB, just over budget; compression of the predictable
  # exponent bits brings it under. Stand-in weights, heavier-tailed than trained
  # ones usually are (a pessimistic case for compression), at the real shapes:
  rng = np.random.default_rng(0)
  stand_in = {k: (0.05 * rng.standard_t(3, s.shape)).astype(np.float32) for k, s in shapes.items()}
  size = export.write_params(str(tmp_path / "params.npz"), stand_in, "bfloat16")
  assert size <= export.SHIPPED_MAX_BYTES - 64 * 1024  # Room for config.json and metadata.json.
  assert size < 0.9 * raw_bf16


def _run(module, *flags):
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  return subprocess.run([sys.executable, "-m", module, *flags], cwd=repo, capture_output=True, text=True,
                        timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu"})


def test_export_script_output_solves_through_the_solve_script(tiny, tmp_path):
  model, config = tiny
  workdir, exported = str(tmp_path / "run"), str(tmp_path / "exported")
  _, _, state = train_step.init_state(model, config.train)
  checkpointer = checkpoints.Checkpointer(workdir)
  checkpointer.save(0, state)
  checkpointer.close()
  checkpoints.save_config(config, workdir)
  result = _run("experiments.export", f"--workdir={workdir}", f"--output={exported}", "--commit=abc")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "exported discrete_ec" in result.stdout
  assert export.read_metadata(exported)["source_commit"] == "abc"
  problems = tmp_path / "problems.jsonl"
  problems.write_text(json.dumps({"problem": PROBLEMS[0]}) + "\n")
  output = tmp_path / "solved.jsonl"
  result = _run("experiments.solve", f"--checkpoint={exported}", f"--input={problems}", f"--output={output}")
  assert result.returncode == 0, result.stderr[-3000:]
  record = json.loads(output.read_text())
  assert list(record["values"]) == ["x_7", "x_42", "x_23", "x_1"] and record["iterations"] >= 1
