"""Baselines: end-to-end recurrent Transformer and the chain-of-thought causal LM.

The end-to-end feedforward baseline is a FactoredTransformer used for one pass
(see factory.py); it needs no class of its own.
"""
import functools

import jax
import jax.numpy as jnp
from jax import lax
from flax import nnx

from recur_latent.data import vocab as vocab_lib
from recur_latent.models import transformer as transformer_lib


class RecurrentTransformer(transformer_lib.FactoredTransformer):
  """End-to-end recurrent: the weight-tied body applied `num_iters` times on continuous states.

  x_0 = embed(tokens), x_{t+1} = body(x_t); only readout(x_T) is returned (and
  supervised). Same parameters as a FactoredTransformer of `num_layers` layers.
  """

  def __init__(self, model_cfg, vocab: vocab_lib.Vocab, *, num_iters: int, rngs: nnx.Rngs):
    if num_iters < 1:
      raise ValueError(f"num_iters must be >= 1, got {num_iters}")
    super().__init__(model_cfg, vocab, rngs=rngs)
    self.num_iters = num_iters

  def __call__(self, tokens_BLF: jax.Array, dropout_key: jax.Array | None = None):
    return self.forward_with_aux(tokens_BLF, dropout_key, with_aux=False)[0]

  def forward_with_aux(self, tokens_BLF: jax.Array, dropout_key: jax.Array | None = None,
                       with_aux: bool = True):
    """(logits of the final state, aux): the training aids read the first application,
    the only one whose input is a token state (the input state)."""
    x_BLD = self.embed(tokens_BLF)
    aux = None
    for t in range(self.num_iters):
      key = None if dropout_key is None else jax.random.fold_in(dropout_key, t)
      if with_aux and t == 0:
        x_BLD, aux = self.body_with_aux(x_BLD, dropout_key=key)
      else:
        x_BLD = self.body(x_BLD, dropout_key=key)
    return self.readout(x_BLD), aux


class CausalLM(nnx.Module):
  """A plain causal language model over a flat vocabulary (chain-of-thought baseline)."""

  def __init__(self, model_cfg, vocab_size: int, *, rngs: nnx.Rngs):
    if vocab_size < 2:
      raise ValueError(f"vocab_size must be >= 2, got {vocab_size}")
    kwargs = transformer_lib.transformer_kwargs(model_cfg)
    self.vocab_size = vocab_size
    self.dtype = kwargs["dtype"]
    self.embedding = nnx.Embed(vocab_size, kwargs["d_model"], rngs=rngs)
    self.transformer = transformer_lib.Transformer(**kwargs, rngs=rngs)
    self.head = nnx.Linear(kwargs["d_model"], vocab_size, dtype=self.dtype, rngs=rngs)

  def __call__(self, tokens_BL: jax.Array, dropout_key: jax.Array | None = None) -> jax.Array:
    """Next-token logits [B, L, V] (float32) at every position."""
    h_BLD = self.transformer(self.embedding(tokens_BL), dropout_key=dropout_key)
    return self.head(h_BLD).astype(jnp.float32)

  def init_cache(self, batch_size: int, max_len: int) -> list[dict[str, jax.Array]]:
    return self.transformer.init_cache(batch_size, max_len)

  def prefill(self, tokens_BL: jax.Array, caches):
    """Runs positions 0..L-1 and writes them into `caches`: (logits_BLV, caches)."""
    positions_1L = jnp.arange(tokens_BL.shape[1], dtype=jnp.int32)[None, :]
    h_BLD, caches, _ = self.transformer.run(self.embedding(tokens_BL), positions_BL=positions_1L,
                                            caches=caches)
    return self.head(h_BLD).astype(jnp.float32), caches

  def decode_step(self, token_B: jax.Array, position_B: jax.Array, caches):
    """Feeds one token per example at its own position: (logits_BV, caches)."""
    h_B1D, caches, _ = self.transformer.run(self.embedding(token_B[:, None]),
                                            positions_BL=position_B[:, None].astype(jnp.int32),
                                            caches=caches)
    return self.head(h_B1D[:, 0]).astype(jnp.float32), caches


def greedy_decode(model: CausalLM, prompt_BL: jax.Array, prompt_length_B: jax.Array,
                  max_new_tokens: int, eos_id: int, pad_id: int = 0) -> dict[str, jax.Array]:
  """Greedy decoding with a KV cache, jitted; each example stops at its first EOS.

  Args:
    model: the CausalLM.
    prompt_BL: right-padded prompts; example b's prompt is prompt_BL[b, :prompt_length_B[b]].
    prompt_length_B: prompt lengths (>= 1).
    max_new_tokens: most tokens generated per example (static).
    eos_id: the end-of-sequence id (static); generated and then the example stops.
    pad_id: written after an example's EOS.

  Returns:
    dict(tokens_BT [B, max_new_tokens] generated tokens (EOS included, pad_id after),
    length_B (tokens generated, EOS included), finished_B (an EOS was generated)).
  """
  graphdef, state = nnx.split(model)
  return _greedy_decode(graphdef, state, jnp.asarray(prompt_BL, jnp.int32),
                        jnp.asarray(prompt_length_B, jnp.int32), max_new_tokens=max_new_tokens,
                        eos_id=eos_id, pad_id=pad_id)


@functools.partial(jax.jit, static_argnames=("graphdef", "max_new_tokens", "eos_id", "pad_id"))
def _greedy_decode(graphdef, state, prompt_BL, prompt_length_B, *, max_new_tokens, eos_id, pad_id):
  model = nnx.merge(graphdef, state)
  batch, prompt_len = prompt_BL.shape
  caches = model.init_cache(batch, prompt_len + max_new_tokens)
  logits_BLV, caches = model.prefill(prompt_BL, caches)
  last_B = jnp.clip(prompt_length_B - 1, 0, prompt_len - 1)
  first_logits_BV = jnp.take_along_axis(logits_BLV, last_B[:, None, None], axis=1)[:, 0]

  def cond(loop):
    step, _, _, done_B, _, _ = loop
    return (step < max_new_tokens) & ~jnp.all(done_B)

  def body(loop):
    step, logits_BV, caches, done_B, tokens_BT, length_B = loop
    token_B = jnp.where(done_B, pad_id, jnp.argmax(logits_BV, axis=-1).astype(jnp.int32))
    tokens_BT = lax.dynamic_update_slice(tokens_BT, token_B[:, None], (0, step))
    length_B = length_B + (~done_B).astype(jnp.int32)
    done_B = done_B | (token_B == eos_id)
    # The new token sits right after everything generated so far.
    logits_BV, caches = model.decode_step(token_B, prompt_length_B + step, caches)
    return step + 1, logits_BV, caches, done_B, tokens_BT, length_B

  loop = (jnp.int32(0), first_logits_BV, caches, jnp.zeros((batch,), bool),
          jnp.full((batch, max_new_tokens), pad_id, jnp.int32), jnp.zeros((batch,), jnp.int32))
  _, _, _, done_B, tokens_BT, length_B = lax.while_loop(cond, body, loop)
  return dict(tokens_BT=tokens_BT, length_B=length_B, finished_B=done_B)
