"""Pre-LayerNorm causal Transformer and the factored-token model built on it.

Precision: parameters are float32; matmuls run in the compute dtype
(`model_cfg.dtype`); LayerNorms, softmax and the residual stream stay float32
(sublayer outputs are added to a float32 residual), and logits are float32.
That keeps the recurrent state, which is fed back many times, free of bf16
rounding accumulation while the expensive products run in bf16.

Dropout (rate `model_cfg.dropout`) is applied to attention probabilities and
to each sublayer's output before it joins the residual, only when a
`dropout_key` is passed (None = deterministic).

Intermediates for interpretability: `Transformer.run(..., collect=True)`,
`FactoredTransformer.body_with_intermediates` and
`FactoredTransformer.forward_with_intermediates` return one dict per layer:
  resid_pre_BLD    residual stream entering the layer
  attn_probs_BHLL  attention probabilities (float32)
  head_out_BLHD    each head's output through its slice of the output projection
  attn_out_BLD     attention sublayer output (sum of heads + bias)
  resid_mid_BLD    residual after the attention sublayer
  mlp_pre_BLM      MLP pre-activation, M = mlp_ratio * d_model
  mlp_post_BLM     MLP post-activation (ReLU)
  mlp_out_BLD      MLP sublayer output
  resid_post_BLD   residual leaving the layer
The fast path (`collect=False`) computes none of the extras.
"""
import jax
import jax.numpy as jnp
from flax import nnx

from recur_latent.data import vocab as vocab_lib
from recur_latent.models import factor_embedding
from recur_latent.models import attention as attention_lib
from recur_latent.models import positions as positions_lib

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


def compute_dtype(name) -> jnp.dtype:
  """Maps a config dtype string ('float32' | 'bfloat16' | 'float16') to a jnp dtype."""
  if not isinstance(name, str):
    return jnp.dtype(name)
  if name not in _DTYPES:
    raise ValueError(f"unknown dtype {name!r}; expected one of {sorted(_DTYPES)}")
  return _DTYPES[name]


def transformer_kwargs(model_cfg) -> dict:
  """The Transformer constructor arguments read from a `cfg.model` ConfigDict."""
  return dict(
      d_model=model_cfg.d_model,
      num_heads=model_cfg.num_heads,
      num_layers=model_cfg.num_layers,
      mlp_ratio=getattr(model_cfg, "mlp_ratio", 4),
      dropout_rate=getattr(model_cfg, "dropout", 0.0),
      position=getattr(model_cfg, "position", "none"),
      rel_window=getattr(model_cfg, "rel_window", 64),
      relative_scores=getattr(model_cfg, "relative_scores", "dense"),
      max_len=getattr(model_cfg, "max_len", 4096),
      dtype=compute_dtype(getattr(model_cfg, "dtype", "float32")),
      tied_layers=tuple(getattr(model_cfg, "tied_layers", ())),
  )


def tied_layers_valid(tied_layers, num_layers: int) -> bool:
  """No tied layers, or >= 2 distinct indices of existing layers."""
  tied = tuple(tied_layers)
  return not tied or (len(tied) >= 2 and len(set(tied)) == len(tied)
                      and all(0 <= i < num_layers for i in tied))


def check_tied_layers(tied_layers, num_layers: int) -> None:
  if not tied_layers_valid(tied_layers, num_layers):
    raise ValueError(f"model.tied_layers must be >= 2 distinct layer indices in "
                     f"[0, {num_layers}), got {tuple(tied_layers)}")


def _split_key(key, num):
  return (None,) * num if key is None else tuple(jax.random.split(key, num))


class Block(nnx.Module):
  """x + Attn(LN(x)), then x + MLP(LN(x)) with a ReLU MLP."""

  def __init__(self, d_model: int, num_heads: int, *, mlp_ratio: int, dropout_rate: float,
               position: str, rel_window: int, relative_scores: str = "dense", dtype,
               rngs: nnx.Rngs):
    self.dropout_rate = dropout_rate
    self.attn_norm = nnx.LayerNorm(d_model, rngs=rngs)
    self.attn = attention_lib.CausalSelfAttention(
        d_model, num_heads, position=position, rel_window=rel_window,
        relative_scores=relative_scores, dropout_rate=dropout_rate, dtype=dtype, rngs=rngs)
    self.mlp_norm = nnx.LayerNorm(d_model, rngs=rngs)
    self.mlp_in = nnx.Linear(d_model, mlp_ratio * d_model, dtype=dtype, rngs=rngs)
    self.mlp_out = nnx.Linear(mlp_ratio * d_model, d_model, dtype=dtype, rngs=rngs)

  def __call__(self, x_BLD, *, positions_BL, rel_RD=None, cache=None, suffix_start=None,
               dropout_key=None, lengths_B=None, collect=False):
    """Returns (x_BLD, new_cache, aux); aux is {} unless `collect`."""
    attn_key, attn_out_key, mlp_out_key = _split_key(dropout_key, 3)
    resid_pre_BLD = x_BLD
    attn_BLD, cache, attn_aux = self.attn(
        self.attn_norm(x_BLD), positions_BQ=positions_BL, rel_RD=rel_RD, cache=cache,
        suffix_start=suffix_start, dropout_key=attn_key, lengths_B=lengths_B, collect=collect)
    x_BLD = x_BLD + attention_lib.dropout(attn_BLD, self.dropout_rate, attn_out_key)
    resid_mid_BLD = x_BLD
    mlp_pre_BLM = self.mlp_in(self.mlp_norm(x_BLD))
    mlp_post_BLM = jax.nn.relu(mlp_pre_BLM)
    mlp_BLD = self.mlp_out(mlp_post_BLM)
    x_BLD = x_BLD + attention_lib.dropout(mlp_BLD, self.dropout_rate, mlp_out_key)
    aux = {}
    if collect:
      aux = dict(resid_pre_BLD=resid_pre_BLD, attn_probs_BHLL=attn_aux["attn_probs_BHQS"],
                 head_out_BLHD=attn_aux["head_out_BQHD"], attn_out_BLD=attn_BLD,
                 resid_mid_BLD=resid_mid_BLD, mlp_pre_BLM=mlp_pre_BLM, mlp_post_BLM=mlp_post_BLM,
                 mlp_out_BLD=mlp_BLD, resid_post_BLD=x_BLD)
    return x_BLD, cache, aux


class Transformer(nnx.Module):
  """Position encoding, `num_layers` Blocks and a final LayerNorm: x_BLD -> h_BLD."""

  def __init__(self, *, d_model: int, num_heads: int, num_layers: int, mlp_ratio: int = 4,
               dropout_rate: float = 0.0, position: str = "none", rel_window: int = 64,
               relative_scores: str = "dense", max_len: int = 4096, dtype=jnp.float32,
               tied_layers: tuple[int, ...] = (), rngs: nnx.Rngs):
    self.position = positions_lib.check_position(position)
    self.max_len = max_len
    check_tied_layers(tied_layers, num_layers)
    block = lambda: Block(d_model, num_heads, mlp_ratio=mlp_ratio, dropout_rate=dropout_rate,
                          position=position, rel_window=rel_window,
                          relative_scores=relative_scores, dtype=dtype, rngs=rngs)
    # Tied layers hold the same module: one set of weights, gradients summed over uses.
    shared = block() if tied_layers else None
    self.layers = nnx.List([shared if i in tied_layers else block() for i in range(num_layers)])
    self.final_norm = nnx.LayerNorm(d_model, rngs=rngs)
    # Shared by every layer: computed once per call and passed down, not a submodule of each.
    self.rel_table = (positions_lib.RelativeTable(rel_window, d_model, rngs=rngs)
                      if position == "relative" else None)
    self.pos_embedding = nnx.Embed(max_len, d_model, rngs=rngs) if position == "absolute" else None

  def init_cache(self, batch_size: int, max_len: int) -> list[dict[str, jax.Array]]:
    """Per-layer empty KV caches for incremental decoding of up to `max_len` positions."""
    if self.position == "absolute" and max_len > self.max_len:
      raise ValueError(f"cache length {max_len} exceeds the absolute-position max_len {self.max_len}")
    return [layer.attn.init_cache(batch_size, max_len) for layer in self.layers]

  def run(self, x_BLD, *, positions_BL=None, dropout_key=None, caches=None, suffix_start=None,
          lengths_B=None, collect=False, tap_after=None):
    """The full interface: returns (h_BLD, new_caches or None, per-layer aux list).

    Args:
      x_BLD: input vectors (embeddings or a fed-back state).
      positions_BL: int positions [B, L] or [1, L]; default arange(L), which is
        passed down as None so relative attention can use its aligned path.
      dropout_key: None = no dropout.
      caches: per-layer KV caches (see `init_cache`) to write into and attend over.
      suffix_start: with caches, a static int: x_BLD holds positions
        [suffix_start, cache length), the caches hold the keys and values of
        the positions before it (`CausalSelfAttention`); positions_BL stays None.
      lengths_B: optional int [B], each row's real positions: attention
        outputs past them are zeros, and the 'flash' kernels skip the work
        only padding needs. What the rows' real positions get is unchanged
        (causal attention never reads ahead), so it is for callers that
        never read padded positions, such as a loss that ignores them.
      collect: gather the intermediates listed in the module docstring.
      tap_after: layer indices whose output residual is returned in that
        layer's intermediates dict as `resid_post_BLD` even without `collect`.
    """
    taps = frozenset(tap_after or ())
    length = x_BLD.shape[1]
    if self.pos_embedding is not None:
      if positions_BL is None and length > self.max_len:
        raise ValueError(f"sequence length {length} exceeds the absolute-position max_len {self.max_len}")
      first = suffix_start or 0
      default_1L = jnp.arange(first, first + length, dtype=jnp.int32)[None, :]
      x_BLD = x_BLD + self.pos_embedding(default_1L if positions_BL is None else positions_BL)
    rel_RD = self.rel_table() if self.rel_table is not None else None
    layer_keys = _split_key(dropout_key, len(self.layers))
    new_caches = [] if caches is not None else None
    intermediates = []
    for i, layer in enumerate(self.layers):
      x_BLD, cache, aux = layer(
          x_BLD, positions_BL=positions_BL, rel_RD=rel_RD,
          cache=None if caches is None else caches[i], suffix_start=suffix_start,
          dropout_key=layer_keys[i], lengths_B=lengths_B, collect=collect)
      if caches is not None:
        new_caches.append(cache)
      if i in taps:
        aux = dict(aux, resid_post_BLD=x_BLD)
      intermediates.append(aux)
    return self.final_norm(x_BLD), new_caches, intermediates

  def __call__(self, x_BLD, *, positions_BL=None, dropout_key=None, lengths_B=None):
    return self.run(x_BLD, positions_BL=positions_BL, dropout_key=dropout_key,
                    lengths_B=lengths_B)[0]


class FactoredTransformer(nnx.Module):
  """Factored-token model: sum of 4 factor embeddings -> Transformer -> 4 linear heads.

  Shared by the feedforward, continuous, discrete and discrete_ec methods (the
  recurrent methods apply `body` repeatedly; see recurrence.py).
  """

  def __init__(self, model_cfg, vocab: vocab_lib.Vocab, *, rngs: nnx.Rngs):
    kwargs = transformer_kwargs(model_cfg)
    self.vocab = vocab
    self.d_model = kwargs["d_model"]
    self.dtype = kwargs["dtype"]
    self.embeddings = nnx.List([nnx.Embed(size, self.d_model, rngs=rngs) for size in vocab.factor_sizes])
    self.transformer = Transformer(**kwargs, rngs=rngs)
    self.heads = nnx.List([nnx.Linear(self.d_model, size, dtype=self.dtype, rngs=rngs)
                           for size in vocab.factor_sizes])
    # Optional training aids (inference never reads them), each a linear head
    # on the residual stream after one layer (-1: none):
    # after `operand_heads_layer`, each operand's name (slots 1..3) at a
    # defining token, those operands' values off the final hidden state, and,
    # at every use of a variable, that variable's current value (reference
    # resolution at the use site) ...
    num_layers = kwargs["num_layers"]
    self.operand_layer = int(getattr(model_cfg, "operand_heads_layer", -1))
    self.pair_layer = int(getattr(model_cfg, "pair_heads_layer", -1))
    self.prefix_layer = int(getattr(model_cfg, "prefix_heads_layer", -1))
    for name, layer in (("operand_heads_layer", self.operand_layer),
                        ("pair_heads_layer", self.pair_layer),
                        ("prefix_heads_layer", self.prefix_layer)):
      if layer >= num_layers:
        raise ValueError(f"{name}={layer} is not a layer of a {num_layers}-layer model")
    values = vocab.modulus + 2
    linear = lambda size: nnx.Linear(self.d_model, size, dtype=self.dtype, rngs=rngs)
    has_operand = self.operand_layer >= 0
    self.operand_heads = nnx.List([linear(vocab.num_names + 1) for _ in range(
        vocab_lib.MAX_OPERANDS)]) if has_operand else nnx.data(None)
    self.operand_value_heads = nnx.List([linear(values) for _ in range(
        vocab_lib.MAX_OPERANDS)]) if has_operand else nnx.data(None)
    self.use_value_head = linear(values) if has_operand else nnx.data(None)
    # ... after `pair_heads_layer`, at the second operand of an equation, the
    # value of its first two operands combined (losses.pair_value_targets) ...
    self.pair_value_head = linear(values) if self.pair_layer >= 0 else nnx.data(None)
    # ... and after `prefix_heads_layer`, at every operand, the left-hand side
    # evaluated up to it (losses.prefix_value_targets).
    self.prefix_value_head = linear(values) if self.prefix_layer >= 0 else nnx.data(None)
    if getattr(model_cfg, "value_init", "normal") == "fourier":
      self._fourier_value_init(rngs)

  def _fourier_value_init(self, rngs):
    """Value embeddings and value readout as waves over Z_p (an inductive bias).

    Row v < p of the value embedding becomes sum_k cos(2 pi k v / p) u_k +
    sin(2 pi k v / p) w_k over the frequencies k = 1..p // 2, with random
    orthonormal u_k, w_k, rescaled to the random rows' mean norm; the value
    head's columns get the same waves. Modular sums are computed in this
    basis by trained models (the paper's DFT finding), so they start there.
    NA and EMPTY keep their random rows.
    """
    p = self.vocab.modulus
    num_freq = p // 2
    if 2 * num_freq > self.d_model:
      raise ValueError(f"fourier value init needs d_model >= {2 * num_freq}, got {self.d_model}")
    angles_VK = 2 * jnp.pi * jnp.outer(jnp.arange(p), jnp.arange(1, num_freq + 1)) / p
    waves_V2K = jnp.concatenate([jnp.cos(angles_VK), jnp.sin(angles_VK)], axis=1)
    basis_D2K, _ = jnp.linalg.qr(jax.random.normal(rngs.params(), (self.d_model, 2 * num_freq)))
    rows_VD = waves_V2K @ basis_D2K.T
    table = self.embeddings[vocab_lib.VALUE].embedding
    scale = jnp.linalg.norm(table[...][:p], axis=-1).mean() / jnp.linalg.norm(rows_VD, axis=-1).mean()
    table[...] = table[...].at[:p].set(rows_VD * scale)
    kernel = self.heads[vocab_lib.VALUE].kernel
    col_scale = jnp.linalg.norm(kernel[...][:, :p], axis=0).mean() / jnp.linalg.norm(rows_VD, axis=-1).mean()
    kernel[...] = kernel[...].at[:, :p].set(rows_VD.T * col_scale)

  def embed(self, tokens_BLF: jax.Array) -> jax.Array:
    """Sum of the four factor embeddings: x_BLD (float32)."""
    return factor_embedding.embedding_sum(tuple(t.embedding[...] for t in self.embeddings), tokens_BLF)

  def embed_soft(self, probs) -> jax.Array:
    """Probability-weighted embeddings: sum_f probs_f @ E_f, probs a tuple of 4 [B, L, V_f]."""
    return sum(jnp.einsum("blv,vd->bld", p_BLV.astype(jnp.float32), table.embedding[...])
               for p_BLV, table in zip(probs, self.embeddings))

  def body(self, x_BLD: jax.Array, *, dropout_key: jax.Array | None = None,
           lengths_B: jax.Array | None = None) -> jax.Array:
    """Layers + final LayerNorm: h_BLD (float32); lengths_B as in `Transformer.run`."""
    return self.transformer(x_BLD, dropout_key=dropout_key, lengths_B=lengths_B)

  def body_with_intermediates(self, x_BLD: jax.Array) -> tuple[jax.Array, list[dict]]:
    """`body` without dropout, plus the per-layer intermediates (module docstring)."""
    h_BLD, _, intermediates = self.transformer.run(x_BLD, collect=True)
    return h_BLD, intermediates

  def readout(self, h_BLD: jax.Array) -> tuple[jax.Array, ...]:
    """One linear head per factor: a tuple of 4 float32 logits [B, L, V_f]."""
    return tuple(head(h_BLD).astype(jnp.float32) for head in self.heads)

  def __call__(self, tokens_BLF: jax.Array, dropout_key: jax.Array | None = None,
               lengths_B: jax.Array | None = None):
    """One pass: tokens -> tuple of 4 logits."""
    return self.readout(self.body(self.embed(tokens_BLF), dropout_key=dropout_key,
                                  lengths_B=lengths_B))

  def forward_with_intermediates(self, tokens_BLF: jax.Array):
    """(logits, per-layer intermediates) of one deterministic pass."""
    h_BLD, intermediates = self.body_with_intermediates(self.embed(tokens_BLF))
    return self.readout(h_BLD), intermediates

  def body_with_aux(self, x_BLD: jax.Array, *, dropout_key: jax.Array | None = None,
                    lengths_B: jax.Array | None = None):
    """`body` plus the logits of the training aids this model has: (h_BLD, aux).

      operand_names   3 arrays [B, L, names + 1], one per operand slot: slot s
                      is the (s+1)-th operand counted from the right of the
                      equation a defining token closes; read after layer
                      `operand_heads_layer`.
      operand_values  3 arrays [B, L, values + 2]: those operands' values, read
                      off the final hidden state.
      use_values      [B, L, values + 2]: at each use of a variable, its current
                      value; read after layer `operand_heads_layer`.
      pair_values     [B, L, values + 2]: at each second operand, the first two
                      operands combined; read after layer `pair_heads_layer`.
      prefix_values   [B, L, values + 2]: at each operand, the left-hand side up
                      to it; read after layer `prefix_heads_layer`.
    """
    taps = [layer for layer in (self.operand_layer, self.pair_layer, self.prefix_layer)
            if layer >= 0]
    if not taps:
      raise ValueError("this model has no auxiliary heads (model.operand_heads_layer, "
                       "pair_heads_layer and prefix_heads_layer are all -1)")
    h_BLD, _, layers = self.transformer.run(x_BLD, dropout_key=dropout_key, lengths_B=lengths_B,
                                            tap_after=taps)
    f32 = jnp.float32
    aux = {}
    if self.operand_layer >= 0:
      tap_BLD = layers[self.operand_layer]["resid_post_BLD"]
      aux["operand_names"] = tuple(head(tap_BLD).astype(f32) for head in self.operand_heads)
      aux["operand_values"] = tuple(head(h_BLD).astype(f32) for head in self.operand_value_heads)
      aux["use_values"] = self.use_value_head(tap_BLD).astype(f32)
    if self.pair_layer >= 0:
      aux["pair_values"] = self.pair_value_head(layers[self.pair_layer]["resid_post_BLD"]).astype(f32)
    if self.prefix_layer >= 0:
      aux["prefix_values"] = self.prefix_value_head(
          layers[self.prefix_layer]["resid_post_BLD"]).astype(f32)
    return h_BLD, aux

  def forward_with_aux(self, tokens_BLF: jax.Array, dropout_key: jax.Array | None = None,
                       lengths_B: jax.Array | None = None):
    """(logits, aux) of one pass; aux as in `body_with_aux`."""
    h_BLD, aux = self.body_with_aux(self.embed(tokens_BLF), dropout_key=dropout_key,
                                    lengths_B=lengths_B)
    return self.readout(h_BLD), aux
