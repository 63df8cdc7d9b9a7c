"""The SPEC section 4 analyses of a FactoredTransformer, as numbers.

`analyze(model, base_states, ...)` runs the probe grids through the model and
returns an `InterpResults`: per-head relative variance and operand groups,
attention to operands and to their definitions, OV amplification per factor,
residual-stream changes per sublayer, the probe accuracy, and the 3-D DFT
energy shares of the MLP activations and outputs over all p^3 operand values.
report.py turns it into figures and markdown.
"""
from collections.abc import Sequence
import dataclasses

from flax import nnx
import numpy as np

from recur_latent.data import vocab as vocab_lib
from recur_latent.interp import capture as capture_lib
from recur_latent.interp import fourier
from recur_latent.interp import heads as heads_lib
from recur_latent.interp import ov as ov_lib
from recur_latent.interp import probes as probes_lib
from recur_latent.interp import residual

# Intermediates whose spectrum over the p^3 operand values is analysed.
DFT_KEYS = ("mlp_pre", "mlp_post", "mlp_out")
# ... and the MLP output as the value readout sees it: its direct value logits,
# centred over the p values (a shift common to all logits changes no prediction).
MLP_LOGITS_KEY = "mlp_out_logits"


@dataclasses.dataclass
class InterpResults:
  """Everything the report shows. Ly layers, H heads, S = 3 slots, F = 4 factors."""

  relvar_LHS: np.ndarray  # Relative variance of each head's output per varied slot (base mean).
  groups_LH: np.ndarray  # Slot each head is grouped with, or heads.NO_GROUP.
  group_threshold: float  # Relative variance above which a head joins a group.
  attn_to_operands_LHS: np.ndarray  # rhs attention on the probe's operand tokens.
  attn_to_definitions_LHS: np.ndarray  # rhs attention on the operands' defining tokens.
  amplification_LHF: np.ndarray  # OV amplification of each factor's embedding.
  attn_change: list[dict[str, float]]  # Per layer: ||attn_out|| / ||resid_pre|| at the rhs.
  mlp_change: list[dict[str, float]]  # Per layer: ||mlp_out|| / ||resid_mid|| at the rhs.
  slot_probe_accuracy: float  # Probe accuracy over the slot grids (natural values).
  slot_probe_count: int
  example_attention_LHK: np.ndarray  # One probe's rhs attention over positions.
  example_positions: dict[str, list[int]]  # Its operand / definition / rhs positions.
  value_grid_accuracy: float | None = None  # Probe accuracy over all p^3 operand values.
  value_grid_operands: tuple[int, int, int] | None = None
  accuracy_by_sum_P: np.ndarray | None = None  # Value-grid accuracy per true answer.
  # (layer, key) -> shares / spectra of the p^3 grid (DFT_KEYS).
  dft_shares: dict[tuple[int, str], fourier.EnergyShares] = dataclasses.field(default_factory=dict)
  diagonal_spectra: dict[tuple[int, str], np.ndarray] = dataclasses.field(default_factory=dict)
  axis_spectra: dict[tuple[int, str], np.ndarray] = dataclasses.field(default_factory=dict)
  top_frequencies: dict[tuple[int, str], list] = dataclasses.field(default_factory=dict)


def ov_amplification(model: nnx.Module, *, center_rows: bool = False) -> np.ndarray:
  """OV amplification [Ly, H, F] of every head on every factor embedding.

  Uses each layer's attention LayerNorm scale (see ov.py for the choice).
  """
  embeddings = [np.asarray(table.embedding[...]) for table in model.embeddings]
  tables = []
  for layer in model.transformer.layers:
    w_v_HDK = np.transpose(np.asarray(layer.attn.w_v[...]), (1, 0, 2))  # Stored [D, H, K].
    w_o_HKD = np.asarray(layer.attn.w_o[...])
    ln_scale_D = np.asarray(layer.attn_norm.scale[...])
    tables.append(ov_lib.amplification(ov_lib.ov_matrices(w_v_HDK, w_o_HKD), embeddings,
                                       ln_scale_D, center_rows=center_rows))
  return np.stack(tables)


def analyze_heads(capture_fn: capture_lib.CaptureFn, base_states: Sequence[np.ndarray],
                  vocab: vocab_lib.Vocab, *, num_settings: int = 8, num_values: int | None = None,
                  threshold: float = 0.5, batch_size: int = 256, seed: int = 0) -> dict:
  """Slot grids on every base problem -> relative variance, groups, attention, accuracy.

  Each base contributes `num_settings` fixed settings per slot; the varied slot
  takes `num_values` distinct values (default: the fewest distinct values of
  any base, so that every base gives the same grid width). Relative variance
  is computed on each base's grid and averaged over bases.
  """
  if num_values is None:
    num_values = min(len(probes_lib.distinct_value_variables(s, vocab)) for s in base_states)
  grids_by_slot = [[] for _ in range(probes_lib.NUM_SLOTS)]
  for i, state_LF in enumerate(base_states):
    grids = probes_lib.random_slot_grids(state_LF, vocab, num_settings=num_settings,
                                         num_values=num_values, seed=(seed, i))
    for slot, grid in enumerate(grids):
      grids_by_slot[slot].append(grid)
  captured_by_slot = [capture_lib.run_probes(capture_fn, grids, batch_size)
                      for grids in grids_by_slot]

  # Relative variance within each base's grid, then averaged over bases: the
  # differences between base problems are not an operand's doing.
  num_bases = len(base_states)
  relvar_LHS = np.mean([
      heads_lib.slot_relative_variance([
          c["head_out"].reshape(num_bases, num_settings, num_values, *c["head_out"].shape[1:])[i]
          for c in captured_by_slot])
      for i in range(num_bases)], axis=0)
  merged = capture_lib.concat_results(captured_by_slot)
  first = captured_by_slot[0]
  return dict(
      relvar_LHS=relvar_LHS,
      groups_LH=heads_lib.group_heads(relvar_LHS, threshold),
      group_threshold=threshold,
      attn_to_operands_LHS=heads_lib.attention_mass(merged["attn_probs"],
                                                    merged["operand_position"]),
      attn_to_definitions_LHS=heads_lib.attention_mass(merged["attn_probs"],
                                                       merged["definition_position"]),
      attn_change=_per_layer_change(merged["attn_out"], merged["resid_pre"]),
      mlp_change=_per_layer_change(merged["mlp_out"], merged["resid_mid"]),
      slot_probe_accuracy=float(merged["correct"].mean()),
      slot_probe_count=int(merged["correct"].size),
      example_attention_LHK=first["attn_probs"][0],
      example_positions=dict(operands=first["operand_position"][0].tolist(),
                             definitions=first["definition_position"][0].tolist(),
                             rhs=[int(first["rhs_position"][0])]),
  )


HEAD_KEYS = ("head_out", "attn_probs", "attn_out", "mlp_out", "resid_pre", "resid_mid")


def value_readout(model: nnx.Module) -> tuple[np.ndarray, np.ndarray]:
  """(final LayerNorm scale [D], value readout kernel [D, p]) of a FactoredTransformer."""
  return (np.asarray(model.transformer.final_norm.scale[...]),
          np.asarray(model.heads[vocab_lib.VALUE].kernel[...]))


def analyze_value_grid(capture_fn: capture_lib.CaptureFn, state_LF: np.ndarray,
                       vocab: vocab_lib.Vocab, *, operands: Sequence[int] | None = None,
                       readout: tuple[np.ndarray, np.ndarray] | None = None,
                       batch_size: int = 512, top: int = 8) -> dict:
  """The p^3 value grid on one base -> accuracy and DFT spectra of DFT_KEYS per layer.

  `operands` default to the first three leaves of the base (then other
  defined variables if it has fewer): overwriting a leaf's value keeps its own
  equation consistent. With `readout` (value_readout(model)) and `resid_post`
  captured, each layer's MLP output is also analysed as direct value logits
  (MLP_LOGITS_KEY).
  """
  if operands is None:
    leaves = probes_lib.leaf_names(state_LF, vocab)
    others = [n for n in probes_lib.definitions(state_LF, vocab) if n not in leaves]
    operands = (leaves + others)[:probes_lib.NUM_SLOTS]
  batches = probes_lib.value_grid_batches(state_LF, vocab, operands, batch_size=batch_size)
  captured = capture_lib.run_probes(capture_fn, batches, batch_size)
  p = vocab.modulus
  result = dict(value_grid_accuracy=float(captured["correct"].mean()),
                value_grid_operands=tuple(int(o) for o in operands),
                accuracy_by_sum_P=np.asarray([captured["correct"][captured["answer"] == v].mean()
                                              for v in range(p)]),
                dft_shares={}, diagonal_spectra={}, axis_spectra={}, top_frequencies={})
  num_layers = captured[DFT_KEYS[0]].shape[1]
  grids = {key: captured[key] for key in DFT_KEYS}
  if readout is not None:
    ln_scale_D, kernel_DV = readout
    final_BD = captured["resid_post"][:, -1]
    logits_BLyV = np.stack([residual.direct_logits(captured["mlp_out"][:, layer], final_BD,
                                                   ln_scale_D, kernel_DV)
                            for layer in range(num_layers)], axis=1)
    grids[MLP_LOGITS_KEY] = logits_BLyV - logits_BLyV.mean(-1, keepdims=True)
  for key, grid_BLyX in grids.items():
    for layer in range(num_layers):
      f_PPPX = grid_BLyX[:, layer].reshape(p, p, p, -1)
      result["dft_shares"][(layer, key)] = fourier.energy_shares(f_PPPX)
      result["diagonal_spectra"][(layer, key)] = fourier.diagonal_spectrum(f_PPPX)
      result["axis_spectra"][(layer, key)] = fourier.axis_spectrum(f_PPPX)
      # The mean of each feature (frequency 0) would top every list; rank the rest.
      centered_PPPX = f_PPPX - f_PPPX.mean(axis=(0, 1, 2), keepdims=True)
      result["top_frequencies"][(layer, key)] = fourier.top_frequencies(centered_PPPX, top)
  return result


def analyze(model: nnx.Module, base_states: Sequence[np.ndarray], vocab: vocab_lib.Vocab, *,
            num_settings: int = 8, threshold: float = 0.5, value_grid: bool = True,
            batch_size: int = 256, seed: int = 0) -> InterpResults:
  """All analyses on solved base states (targets_LF of problems), one model pass per probe.

  value_grid=False skips the p^3 grid (and the DFT), e.g. for quick checks.
  """
  head_fn = capture_lib.make_capture_fn(model, HEAD_KEYS)
  fields = analyze_heads(head_fn, base_states, vocab, num_settings=num_settings,
                         threshold=threshold, batch_size=batch_size, seed=seed)
  fields["amplification_LHF"] = ov_amplification(model)
  if value_grid:
    grid_fn = capture_lib.make_capture_fn(model, DFT_KEYS + ("resid_post",))
    fields.update(analyze_value_grid(grid_fn, base_states[0], vocab, readout=value_readout(model),
                                     batch_size=batch_size))
  return InterpResults(**fields)


def _per_layer_change(update_BLyD: np.ndarray, resid_BLyD: np.ndarray) -> list[dict[str, float]]:
  return [residual.summarize(residual.relative_change(update_BLyD[:, i], resid_BLyD[:, i]))
          for i in range(update_BLyD.shape[1])]
