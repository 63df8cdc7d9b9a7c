"""build_model for every method, the end-to-end recurrent baseline, and greedy CoT decoding."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from recur_latent.data import vocab as V
from recur_latent.models import baselines
from recur_latent.models import factory
from recur_latent.models import transformer
from tests import model_testing


def _config(method, **model_overrides):
  cfg = ml_collections.ConfigDict()
  cfg.method = method
  cfg.data = ml_collections.ConfigDict(dict(modulus=7, num_names=16))
  cfg.model = model_testing.model_config(**model_overrides)
  cfg.train = ml_collections.ConfigDict(dict(train_iters=3))
  return cfg


@pytest.mark.parametrize("method", factory.METHODS)
def test_every_method_builds_and_runs_a_forward_pass(method):
  cfg = _config(method, position="rope" if method == "e2e_recurrent" else "relative")
  model = factory.build_model(cfg, nnx.Rngs(0))
  vocab = factory.vocab_from_config(cfg)
  if method == "cot":
    flat = V.FlatVocab(7, 16)
    assert model.vocab_size == flat.size  # Derived from the data vocabulary (cot_vocab_size = 0).
    tokens = jnp.arange(10)[None] % flat.size
    logits = model_testing.jit_apply(model, lambda m, t: m(t), tokens)
    assert logits.shape == (1, 10, flat.size) and np.isfinite(np.asarray(logits)).all()
    return
  batch = model_testing.problem_batch(vocab, [4, 6], seed=0)
  logits = model_testing.jit_apply(model, lambda m, t: m(t), jnp.asarray(batch["inputs_BLF"]))
  length = batch["inputs_BLF"].shape[1]
  assert [l.shape for l in logits] == [(2, length, n) for n in vocab.factor_sizes]
  assert all(np.isfinite(np.asarray(l)).all() for l in logits)


def test_unknown_method_is_rejected():
  with pytest.raises(ValueError, match="unknown method"):
    factory.build_model(_config("telepathy"), nnx.Rngs(0))


def test_cot_vocab_size_from_config_wins():
  cfg = _config("cot", cot_vocab_size=33)
  assert factory.build_model(cfg, nnx.Rngs(0)).vocab_size == 33


def test_e2e_recurrent_applies_the_tied_body_num_iters_times():
  cfg = _config("e2e_recurrent")
  recurrent = factory.build_model(cfg, nnx.Rngs(1))
  assert recurrent.num_iters == 3  # From cfg.train.train_iters.
  single = transformer.FactoredTransformer(cfg.model, factory.vocab_from_config(cfg), rngs=nnx.Rngs(1))
  tokens = jnp.asarray(model_testing.problem_batch(factory.vocab_from_config(cfg), [5])["inputs_BLF"])

  def manual(m, t):
    x = m.embed(t)
    for _ in range(3):
      x = m.body(x)
    return m.readout(x), m(t)

  expected, one_pass = model_testing.jit_apply(single, manual, tokens)  # Same parameters (same seed).
  got = model_testing.jit_apply(recurrent, lambda m, t: m(t), tokens)
  for g, e, o in zip(got, expected, one_pass):
    np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)
    assert not np.allclose(g, o)


@pytest.mark.parametrize("position", ("none", "relative"))
def test_greedy_decode_matches_full_recomputation_and_stops_at_eos(position):
  vocab_size, max_new = 12, 6
  model = baselines.CausalLM(model_testing.model_config(position=position), vocab_size, rngs=nnx.Rngs(2))
  prompt_length = np.array([3, 5])
  prompt = np.array(jax.random.randint(jax.random.key(3), (2, 5), 0, vocab_size))
  prompt[0, 3:] = 0  # Right padding.
  total = 5 + max_new
  forward = jax.jit(lambda s, t: nnx.merge(nnx.graphdef(model), s)(t))
  state = nnx.state(model)

  def naive_greedy(b):
    seq = np.zeros(total, np.int32)
    seq[:prompt_length[b]] = prompt[b, :prompt_length[b]]
    for s in range(max_new):
      logits = forward(state, jnp.asarray(seq)[None])[0, prompt_length[b] + s - 1]
      seq[prompt_length[b] + s] = int(jnp.argmax(logits))
    return seq[prompt_length[b]: prompt_length[b] + max_new]

  naive = [naive_greedy(b) for b in range(2)]
  never = vocab_size  # An EOS id that is never generated.
  out = baselines.greedy_decode(model, prompt, prompt_length, max_new, eos_id=never)
  np.testing.assert_array_equal(out["tokens_BT"], np.stack(naive))
  np.testing.assert_array_equal(out["length_B"], [max_new, max_new])
  assert not np.asarray(out["finished_B"]).any()

  eos = int(naive[0][2])  # Example 0 emits this token at step 2 (or earlier).
  pad = vocab_size + 1
  out = baselines.greedy_decode(model, prompt, prompt_length, max_new, eos_id=eos, pad_id=pad)
  for b in range(2):
    hits = np.flatnonzero(naive[b] == eos)
    length = hits[0] + 1 if hits.size else max_new
    expected = np.concatenate([naive[b][:length], np.full(max_new - length, pad)])
    np.testing.assert_array_equal(out["tokens_BT"][b], expected)
    assert int(out["length_B"][b]) == length
    assert bool(out["finished_B"][b]) == bool(hits.size)


def test_fourier_value_init_makes_value_embeddings_waves_over_z_p():
  from configs import discrete_ec
  config = discrete_ec.get_config("size=tiny")
  config.model.value_init = "fourier"
  model = factory.build_model(config, nnx.Rngs(0))
  p = config.data.modulus
  table_VD = np.asarray(model.embeddings[V.VALUE].embedding[...])[:p]
  # Rows are circulant: the similarity of values a and b depends only on (a - b) mod p.
  gram_VV = table_VD @ table_VD.T
  for shift in (1, 5):
    diagonal = [gram_VV[a, (a + shift) % p] for a in range(p)]
    np.testing.assert_allclose(diagonal, diagonal[0], rtol=1e-4, atol=1e-4)
  # With every frequency 1..p//2, each row is orthogonal to all but its own wave mean.
  assert gram_VV[0, 0] > 2 * abs(gram_VV[0, 1])
  head_DV = np.asarray(model.heads[V.VALUE].kernel[...])[:, :p]
  np.testing.assert_allclose(head_DV.T @ head_DV / np.abs(head_DV.T @ head_DV).max(),
                             gram_VV / np.abs(gram_VV).max(), atol=1e-4)


def test_tied_layers_share_one_block_whose_gradient_sums_both_uses():
  kwargs = dict(d_model=16, num_heads=2, num_layers=3, position="relative", rel_window=4)
  tied = transformer.Transformer(**kwargs, tied_layers=(1, 2), rngs=nnx.Rngs(0))
  untied = transformer.Transformer(**kwargs, rngs=nnx.Rngs(1))
  assert tied.layers[1] is tied.layers[2] and untied.layers[1] is not untied.layers[2]
  params = lambda m: sum(x.size for x in jax.tree.leaves(nnx.state(m, nnx.Param)))
  block = sum(x.size for x in jax.tree.leaves(nnx.state(untied.layers[0], nnx.Param)))
  assert params(tied) == params(untied) - block
  # The untied model with the tied one's weights in both places computes the same function.
  nnx.update(untied, nnx.state(tied))
  for i in (1, 2):
    nnx.update(untied.layers[i], nnx.state(tied.layers[1]))
  x_BLD = jax.random.normal(jax.random.key(2), (2, 7, 16))
  loss = lambda m: (m(x_BLD) ** 2).sum()
  np.testing.assert_allclose(tied(x_BLD), untied(x_BLD), rtol=1e-5, atol=1e-5)
  g_tied, g_untied = nnx.grad(loss)(tied), nnx.grad(loss)(untied)
  summed = jax.tree.map(lambda a, b: a + b, nnx.state(g_untied.layers[1]), nnx.state(g_untied.layers[2]))
  for got, want in zip(jax.tree.leaves(nnx.state(g_tied.layers[1])), jax.tree.leaves(summed)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
  with pytest.raises(ValueError, match="tied_layers"):
    transformer.Transformer(**kwargs, tied_layers=(2, 3), rngs=nnx.Rngs(0))


def test_rebuild_model_keeps_the_parameters_and_leaves_the_config_alone():
  cfg = _config("discrete", position="relative", rel_window=2)
  model = factory.build_model(cfg, nnx.Rngs(0))
  rebuilt, rebuilt_cfg = factory.rebuild_model(model, cfg, relative_scores="banded")
  assert rebuilt_cfg.model.relative_scores == "banded"
  assert cfg.model.get("relative_scores", "dense") == "dense"
  assert all(layer.attn.relative_scores == "banded" for layer in rebuilt.transformer.layers)
  vocab = factory.vocab_from_config(cfg)
  tokens = jnp.asarray(model_testing.problem_batch(vocab, [6, 6], seed=1)["inputs_BLF"])
  assert tokens.shape[1] > 4  # Past two blocks of W = 2: the banded path runs.
  before = model_testing.jit_apply(model, lambda m, t: m(t), tokens)
  after = model_testing.jit_apply(rebuilt, lambda m, t: m(t), tokens)
  for x, y in zip(before, after):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=1e-4)
