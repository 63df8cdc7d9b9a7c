"""Runs a FactoredTransformer on probe batches and keeps what it computed at the rhs.

The model's `forward_with_intermediates` returns per-layer intermediates for
every position (see models/transformer.py); one probe only needs the query
position (the rhs token), so the jitted function gathers that row on device
and returns host arrays [B, num_layers, ...]. Full-sequence tensors would not
fit for the p^3 value grid (12,167 sequences).

Keys a caller may ask for (`keys`), each returned per layer at the rhs:
  head_out     [B, Ly, H, D]  each head's output through its slice of W_O
  attn_probs   [B, Ly, H, L]  the rhs query's attention over all positions
  attn_out     [B, Ly, D]     attention sublayer output
  mlp_pre      [B, Ly, M]     MLP pre-activation
  mlp_post     [B, Ly, M]     MLP activation (ReLU)
  mlp_out      [B, Ly, D]     MLP sublayer output
  resid_pre / resid_mid / resid_post  [B, Ly, D]  residual before the layer,
               between its sublayers, after it
Always returned: `predicted_value` [B] (argmax of the value factor at the rhs)
and `value_logits` [B, V_value].
"""
from collections.abc import Callable, Iterable, Sequence

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np

from recur_latent.data import vocab as vocab_lib
from recur_latent.interp import probes as probes_lib
from recur_latent.models import factory

# Short capture key -> the model's per-layer intermediate name.
INTERMEDIATES = {
    "head_out": "head_out_BLHD",
    "attn_probs": "attn_probs_BHLL",
    "attn_out": "attn_out_BLD",
    "mlp_pre": "mlp_pre_BLM",
    "mlp_post": "mlp_post_BLM",
    "mlp_out": "mlp_out_BLD",
    "resid_pre": "resid_pre_BLD",
    "resid_mid": "resid_mid_BLD",
    "resid_post": "resid_post_BLD",
}

CaptureFn = Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]


def float32_copy(model: nnx.Module, config) -> nnx.Module:
  """The same parameters in a model that also computes in float32.

  Trained models may compute in bfloat16; its rounding (~3 significant
  digits) would blur small head outputs and the p^3 DFT spectra.
  """
  return factory.rebuild_model(model, config, dtype="float32")[0]


def make_capture_fn(model: nnx.Module, keys: Sequence[str]) -> CaptureFn:
  """A jitted fn(tokens_BLF, rhs_position_B) -> {key: host array at the rhs}."""
  unknown = sorted(set(keys) - set(INTERMEDIATES))
  if unknown:
    raise ValueError(f"unknown capture keys {unknown}; expected some of {sorted(INTERMEDIATES)}")
  keys = tuple(keys)
  graphdef, state = nnx.split(model)

  @jax.jit
  def capture(state, tokens_BLF, rhs_B):
    model = nnx.merge(graphdef, state)
    logits, layers = model.forward_with_intermediates(tokens_BLF)
    rows_B = jnp.arange(tokens_BLF.shape[0])
    value_logits_BV = logits[vocab_lib.VALUE][rows_B, rhs_B]
    out = {"value_logits": value_logits_BV,
           "predicted_value": jnp.argmax(value_logits_BV, axis=-1).astype(jnp.int32)}
    for key in keys:
      per_layer = []
      for layer in layers:
        x = layer[INTERMEDIATES[key]]
        # attn_probs is [B, H, Lq, Lk]: pick the rhs query row of each example.
        per_layer.append(x[rows_B, :, rhs_B] if key == "attn_probs" else x[rows_B, rhs_B])
      out[key] = jnp.stack(per_layer, axis=1).astype(jnp.float32)
    return out

  def run(tokens_BLF, rhs_position_B):
    out = capture(state, jnp.asarray(tokens_BLF), jnp.asarray(rhs_position_B))
    return {k: np.asarray(v) for k, v in out.items()}

  return run


def run_probes(capture_fn: CaptureFn, batches: Iterable[probes_lib.ProbeBatch],
               batch_size: int) -> dict[str, np.ndarray]:
  """Captures every probe of `batches`, in order, in fixed-size device batches.

  Probes are regrouped into batches of exactly `batch_size` (the last one
  padded by repeating its first row, then trimmed), so the jitted function
  compiles once per sequence length. Also returns `answer`, `operand_value`,
  `definition_position`, `operand_position`, `rhs_position` and `correct`
  (prediction == answer) per probe.
  """
  results: dict[str, list[np.ndarray]] = {}
  for batch in batches:
    for start in range(0, batch.batch_size, batch_size):
      stop = min(start + batch_size, batch.batch_size)
      tokens_BLF = _pad_rows(batch.tokens_BLF[start:stop], batch_size)
      rhs_B = _pad_rows(batch.rhs_position_B[start:stop], batch_size)
      captured = capture_fn(tokens_BLF, rhs_B)
      captured = {k: v[:stop - start] for k, v in captured.items()}
      captured.update(
          answer=batch.answer_B[start:stop], operand_value=batch.operand_value_BS[start:stop],
          definition_position=batch.definition_position_BS[start:stop],
          operand_position=batch.operand_position_BS[start:stop],
          rhs_position=batch.rhs_position_B[start:stop])
      for k, v in captured.items():
        results.setdefault(k, []).append(v)
  if not results:
    raise ValueError("no probes to run")
  out = {k: _concat(k, v) for k, v in results.items()}
  out["correct"] = out["predicted_value"] == out["answer"]
  return out


def concat_results(results: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
  """Concatenates `run_probes` outputs along probes (attention zero-padded to one length)."""
  return {k: _concat(k, [r[k] for r in results]) for k in results[0]}


def _concat(key: str, arrays: Sequence[np.ndarray]) -> np.ndarray:
  """np.concatenate over axis 0; attention of shorter sequences is zero-padded at the end.

  Probes on different base problems have different lengths; a key position
  past a sequence's end gets no attention, so zero is its exact value.
  """
  if key == "attn_probs":  # [B, Ly, H, L]; no other key depends on the length.
    length = max(a.shape[-1] for a in arrays)
    arrays = [np.pad(a, [(0, 0)] * 3 + [(0, length - a.shape[-1])]) for a in arrays]
  return np.concatenate(arrays)


def _pad_rows(x_B_: np.ndarray, size: int) -> np.ndarray:
  if len(x_B_) == size:
    return x_B_
  return np.concatenate([x_B_, np.repeat(x_B_[:1], size - len(x_B_), axis=0)])
