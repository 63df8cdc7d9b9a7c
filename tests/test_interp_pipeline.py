"""End-to-end smoke test of probes + capture + analysis + report on a tiny random model.

A random model gives arbitrary numbers, so these tests check shapes and
consistency (the capture agrees with the model's own forward pass and its
decomposition), not the paper's findings.
"""
import os

from absl import flags
from flax import nnx
import jax.numpy as jnp
import numpy as np
import pytest

from configs import interp as interp_config
from recur_latent.data import graphs as graphs_lib
from recur_latent.data import vocab as vocab_lib
from recur_latent.interp import analysis
from recur_latent.interp import capture
from recur_latent.interp import fourier
from recur_latent.interp import probes
from recur_latent.interp import report
from recur_latent.interp import residual
from recur_latent.models import factory


def _tiny_config():
  config = interp_config.get_config("size=tiny")
  config.data.modulus = 5  # p^3 = 125 probes in the value grid.
  config.data.num_names = 24
  config.model.dtype = "bfloat16"  # float32_copy must undo this.
  return config


@pytest.fixture(scope="module")
def setup():
  config = _tiny_config()
  model = factory.build_model(config, nnx.Rngs(0))
  vocab = factory.vocab_from_config(config)
  # Two sizes: probes of different lengths must be analysed together.
  bases = [probes.solved_bases(graphs_lib.sample_graphs(
      3, 1, n, max_depth=3, modulus=vocab.modulus, num_names=vocab.num_names))[0]
           for n in (10, 16)]
  assert probes.padded_length(len(bases[0])) != probes.padded_length(len(bases[1]))
  return config, model, vocab, bases


def test_capture_matches_the_models_forward_pass_and_decomposition(setup):
  config, model, vocab, bases = setup
  model = capture.float32_copy(model, config)
  assert model.transformer.layers[0].attn.dtype == jnp.float32
  batch = probes.random_slot_grids(bases[0], vocab, num_settings=2, num_values=3)[1]
  fn = capture.make_capture_fn(model, capture.INTERMEDIATES)
  out = capture.run_probes(fn, [batch], batch_size=4)  # 6 probes: a full and a padded batch.
  num_layers, num_heads, d = 2, config.model.num_heads, config.model.d_model
  assert out["head_out"].shape == (6, num_layers, num_heads, d)
  assert out["attn_probs"].shape == (6, num_layers, num_heads, batch.tokens_BLF.shape[1])
  assert out["mlp_post"].shape == (6, num_layers, 4 * d)
  logits = model(jnp.asarray(batch.tokens_BLF))
  rows = np.arange(6)
  expected = np.asarray(logits[vocab_lib.VALUE])[rows, batch.rhs_position_B]
  np.testing.assert_allclose(out["value_logits"], expected, rtol=1e-4, atol=1e-4)
  np.testing.assert_array_equal(out["predicted_value"], expected.argmax(-1))
  np.testing.assert_array_equal(out["correct"], out["predicted_value"] == batch.answer_B)
  # Causal: the rhs attends nowhere past itself; probabilities sum to one.
  np.testing.assert_allclose(out["attn_probs"].sum(-1), 1.0, rtol=1e-5)
  assert (out["attn_probs"][..., batch.rhs_position_B[0] + 1:] == 0).all()
  b_o = np.stack([np.asarray(layer.attn.b_o[...]) for layer in model.transformer.layers])
  np.testing.assert_allclose(out["head_out"].sum(2) + b_o, out["attn_out"], atol=1e-4)
  np.testing.assert_allclose(out["resid_pre"] + out["attn_out"], out["resid_mid"], atol=1e-4)
  np.testing.assert_allclose(out["resid_mid"] + out["mlp_out"], out["resid_post"], atol=1e-4)
  np.testing.assert_allclose(np.maximum(out["mlp_pre"], 0), out["mlp_post"], atol=1e-6)


def test_direct_logits_of_every_sublayer_add_up_to_the_value_logits(setup):
  config, model, vocab, bases = setup
  model = capture.float32_copy(model, config)
  keys = ("attn_out", "mlp_out", "resid_pre", "resid_post")
  grid = probes.random_slot_grids(bases[0], vocab, num_settings=1, num_values=3)[0]
  out = capture.run_probes(capture.make_capture_fn(model, keys), [grid], batch_size=8)
  ln_scale_D, kernel_DV = analysis.value_readout(model)
  final_BD = out["resid_post"][:, -1]
  parts = [out["resid_pre"][:, 0]] + [out[k][:, l] for l in range(out["mlp_out"].shape[1])
                                      for k in ("attn_out", "mlp_out")]
  total_BV = sum(residual.direct_logits(x, final_BD, ln_scale_D, kernel_DV) for x in parts)
  head = model.heads[vocab_lib.VALUE]
  bias_V = (np.asarray(model.transformer.final_norm.bias[...]) @ kernel_DV
            + np.asarray(head.bias[...]))
  np.testing.assert_allclose(total_BV + bias_V, out["value_logits"], rtol=1e-4, atol=1e-4)
  # A direction the readout cannot see contributes nothing.
  # (Orthogonal to the all-ones vector too, so the LayerNorm's centring keeps it.)
  seen_KD = np.vstack([(ln_scale_D[:, None] * kernel_DV).T, np.ones_like(ln_scale_D)])
  null_D = np.linalg.svd(seen_KD)[2][-1]
  assert np.abs(seen_KD @ null_D).max() < 1e-6
  unseen = residual.direct_logits(np.tile(null_D, (len(final_BD), 1)), final_BD, ln_scale_D,
                                  kernel_DV)
  np.testing.assert_allclose(unseen, 0.0, atol=1e-3)


def test_analysis_and_report_on_a_random_model(setup, tmp_path):
  config, model, vocab, bases = setup
  results = analysis.analyze(model, bases, vocab, num_settings=2, batch_size=64)
  fn = capture.make_capture_fn(model, ["attn_probs"])
  grids = [probes.random_slot_grids(b, vocab, num_settings=1, num_values=3)[0] for b in bases]
  attn = capture.run_probes(fn, grids, batch_size=3)["attn_probs"]
  assert attn.shape[-1] == max(g.tokens_BLF.shape[1] for g in grids)
  np.testing.assert_allclose(attn.sum(-1), 1.0, rtol=1e-5)  # Zero-padded, not renormalized.
  num_layers, num_heads = 2, config.model.num_heads
  assert results.relvar_LHS.shape == (num_layers, num_heads, 3)
  assert ((results.relvar_LHS >= 0) & (results.relvar_LHS <= 1)).all()
  assert results.groups_LH.shape == (num_layers, num_heads)
  assert results.amplification_LHF.shape == (num_layers, num_heads, 4)
  assert results.attn_to_operands_LHS.shape == (num_layers, num_heads, 3)
  assert 0 <= results.slot_probe_accuracy <= 1 and results.slot_probe_count > 0
  assert 0 <= results.value_grid_accuracy <= 1
  keys = analysis.DFT_KEYS + (analysis.MLP_LOGITS_KEY,)
  assert set(results.dft_shares) == {(l, k) for l in range(num_layers) for k in keys}
  for shares in results.dft_shares.values():
    assert sum(shares.aggregate.values()) == pytest.approx(1.0)
  assert results.dft_shares[(1, "mlp_post")].per_feature[fourier.DIAGONAL].shape == (
      4 * config.model.d_model,)
  paths = report.write_report(results, str(tmp_path))
  assert all(os.path.getsize(p) > 0 for p in paths)
  names = {os.path.basename(p) for p in paths}
  assert {"relvar_layer1.png", "relvar_layer2.png", "dft_layer2.png", "report.md",
          "results.npz"} <= names
  text = (tmp_path / "report.md").read_text()
  assert "Paper vs here" in text and "diag/non-const" in text


def test_interpret_script_runs_with_a_loaded_model(setup, tmp_path, monkeypatch):
  config, model, _, _ = setup
  from experiments import interpret  # pylint: disable=g-import-not-at-top
  from recur_latent import api  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(api, "load", lambda path: api.Bundle(model, config))
  argv = ["interpret", "--checkpoint=unused", f"--output={tmp_path}", "--num_bases=2",
          "--num_nodes=10", "--max_depth=3", "--num_settings=2", "--batch_size=64",
          "--value_grid=false"]
  flags.FLAGS(argv)
  try:
    interpret.main([])
  finally:
    flags.FLAGS.unparse_flags()
  assert (tmp_path / "report.md").exists() and (tmp_path / "relvar_layer2.png").exists()
  assert "value grid not run" in (tmp_path / "report.md").read_text()
