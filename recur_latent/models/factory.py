"""Builds the model of a method from a config (`cfg.method`, `cfg.model`, `cfg.data`)."""
from flax import nnx

from recur_latent.data import vocab as vocab_lib
from recur_latent.models import baselines
from recur_latent.models import transformer as transformer_lib

METHODS = ("feedforward", "e2e_recurrent", "cot", "continuous", "discrete", "discrete_ec")


def vocab_from_config(cfg) -> vocab_lib.Vocab:
  return vocab_lib.Vocab(modulus=cfg.data.modulus, num_names=cfg.data.num_names)


def flat_vocab_from_config(cfg) -> vocab_lib.FlatVocab:
  """The data's flat vocabulary (the chain-of-thought sequences' ids)."""
  return vocab_lib.FlatVocab(cfg.data.modulus, cfg.data.num_names)


def cot_vocab_size(cfg) -> int:
  """Flat vocabulary size of the chain-of-thought LM.

  `cfg.model.cot_vocab_size` when positive, else the size of the data's flat
  vocabulary (vocab.FlatVocab, used by recur_latent.data.cot).
  """
  size = getattr(cfg.model, "cot_vocab_size", 0)
  if size > 0:
    return int(size)
  return flat_vocab_from_config(cfg).size


def recurrent_iters(cfg) -> int:
  """T of the end-to-end recurrent model: cfg.model.num_iters if set, else cfg.train.train_iters."""
  iters = getattr(cfg.model, "num_iters", 0)
  return int(iters) if iters else int(cfg.train.train_iters)


def build_model(cfg, rngs: nnx.Rngs) -> nnx.Module:
  """The model of `cfg.method`.

  feedforward, continuous, discrete, discrete_ec -> FactoredTransformer
  e2e_recurrent -> RecurrentTransformer (T = `recurrent_iters(cfg)`)
  cot -> CausalLM over `cot_vocab_size(cfg)` tokens
  """
  method = cfg.method
  if method in ("feedforward", "continuous", "discrete", "discrete_ec"):
    return transformer_lib.FactoredTransformer(cfg.model, vocab_from_config(cfg), rngs=rngs)
  if method == "e2e_recurrent":
    return baselines.RecurrentTransformer(cfg.model, vocab_from_config(cfg),
                                          num_iters=recurrent_iters(cfg), rngs=rngs)
  if method == "cot":
    return baselines.CausalLM(cfg.model, cot_vocab_size(cfg), rngs=rngs)
  raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


def rebuild_model(model: nnx.Module, cfg, **model_fields):
  """(model, cfg) with `cfg.model` fields replaced and `model`'s parameters.

  For fields that change how the model computes but not its parameters
  (`dtype`, `relative_scores`); `cfg` itself is left as it was.
  """
  cfg = cfg.copy_and_resolve_references()
  for name, value in model_fields.items():
    cfg.model[name] = value
  rebuilt = build_model(cfg, nnx.Rngs(0))
  nnx.update(rebuilt, nnx.state(model, nnx.Param))
  return rebuilt, cfg
