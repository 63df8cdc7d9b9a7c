"""Figures (PNG) and report.md of an `InterpResults`, beside the paper's findings.

`write_report(results, output_dir, ...)` writes:
  relvar_layer{l}.png     head x slot relative variance (groups marked)
  attention_mass.png      rhs attention on operand tokens / their definitions
  attention_example.png   one probe's rhs attention over positions, per layer
  amplification.png       OV amplification, head x factor, per layer
  dft_layer{l}.png        DFT energy shares and spectra of the MLP (value grid)
  report.md               the tables, and the paper's findings beside ours
  results.npz             the arrays behind them (for notebooks)
"""
from collections.abc import Mapping
import dataclasses
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from recur_latent.data import vocab as vocab_lib  # pylint: disable=g-import-not-at-top
from recur_latent.interp import analysis  # pylint: disable=g-import-not-at-top
from recur_latent.interp import fourier  # pylint: disable=g-import-not-at-top
from recur_latent.interp import heads as heads_lib  # pylint: disable=g-import-not-at-top

SLOT_NAMES = ("v0", "v1", "v2")

PAPER_FINDINGS = (
    ("Layer-1 heads", "form groups by operand slot, each copying the identity of one operand "
     "variable (1st, 2nd, 3rd) to the rhs position"),
    ("Layer-2 heads", "retrieve each operand's value from where it was defined (induction-head "
     "style), again grouped by slot"),
    ("Layer-2 MLP", "computes the modular sum in the frequency domain: the 3-D DFT of its output "
     "over all p^3 operand values is dominated by the diagonal frequencies (k, k, k)"),
)


def _save(fig, path: str) -> str:
  fig.savefig(path, dpi=120, bbox_inches="tight")
  plt.close(fig)
  return path


def plot_relative_variance(results: analysis.InterpResults, output_dir: str) -> list[str]:
  """One heat map per layer: heads (rows) x varied slot (columns)."""
  paths = []
  for layer, relvar_HS in enumerate(results.relvar_LHS):
    num_heads = relvar_HS.shape[0]
    fig, ax = plt.subplots(figsize=(3.2, 0.28 * num_heads + 1.2))
    image = ax.imshow(relvar_HS, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(SLOT_NAMES)), SLOT_NAMES)
    labels = [f"h{h} [{_group_name(g)}]" for h, g in enumerate(results.groups_LH[layer])]
    ax.set_yticks(range(num_heads), labels, fontsize=7)
    ax.set_xlabel("varied operand slot")
    ax.set_title(f"Layer {layer + 1}: relative variance")
    fig.colorbar(image, ax=ax, fraction=0.08)
    paths.append(_save(fig, os.path.join(output_dir, f"relvar_layer{layer + 1}.png")))
  return paths


def plot_attention_mass(results: analysis.InterpResults, output_dir: str) -> str:
  """Rows: attention on operand tokens / on their definitions; columns: layers."""
  num_layers = results.relvar_LHS.shape[0]
  fig, axes = plt.subplots(2, num_layers, figsize=(2.8 * num_layers + 0.5, 6), squeeze=False)
  rows = (("operand tokens", results.attn_to_operands_LHS),
          ("operand definitions", results.attn_to_definitions_LHS))
  for r, (name, mass_LHS) in enumerate(rows):
    for layer in range(num_layers):
      ax = axes[r, layer]
      image = ax.imshow(mass_LHS[layer], vmin=0, vmax=1, cmap="magma", aspect="auto")
      ax.set_xticks(range(len(SLOT_NAMES)), SLOT_NAMES)
      ax.set_yticks(range(mass_LHS.shape[1]))
      ax.tick_params(axis="y", labelsize=7)
      if layer == 0:
        ax.set_ylabel("head")
      ax.set_title(f"L{layer + 1}: rhs -> {name}", fontsize=9)
  fig.colorbar(image, ax=axes, fraction=0.04, label="attention probability")
  return _save(fig, os.path.join(output_dir, "attention_mass.png"))


def plot_example_attention(results: analysis.InterpResults, output_dir: str,
                           window: int = 64) -> str:
  """The rhs query's attention over the last `window` positions, head x position."""
  attn_LHK = results.example_attention_LHK
  rhs = results.example_positions["rhs"][0]
  start = max(0, rhs + 1 - window)
  num_layers = attn_LHK.shape[0]
  fig, axes = plt.subplots(num_layers, 1, figsize=(9, 2.2 * num_layers + 0.5), squeeze=False)
  for layer in range(num_layers):
    ax = axes[layer, 0]
    ax.imshow(attn_LHK[layer, :, start:rhs + 1], cmap="Blues", aspect="auto", vmin=0,
              extent=(start - 0.5, rhs + 0.5, attn_LHK.shape[1] - 0.5, -0.5))
    for pos, color, style, label in _marked_positions(results.example_positions):
      if pos >= start:
        ax.axvline(pos, color=color, ls=style, lw=0.9, alpha=0.8, label=label)
    ax.set_ylabel(f"L{layer + 1} head")
    if layer == 0:
      handles, labels = ax.get_legend_handles_labels()
      unique = dict(zip(labels, handles))
      ax.legend(unique.values(), unique.keys(), fontsize=7, loc="upper left")
  axes[-1, 0].set_xlabel("key position")
  fig.suptitle("Attention of the probe rhs (one example)")
  return _save(fig, os.path.join(output_dir, "attention_example.png"))


def _marked_positions(positions: Mapping[str, list[int]]):
  for slot, pos in enumerate(positions["operands"]):
    yield pos, f"C{slot}", "-", f"operand {SLOT_NAMES[slot]}"
  for slot, pos in enumerate(positions["definitions"]):
    yield pos, f"C{slot}", "--", f"definition of {SLOT_NAMES[slot]}"


def plot_amplification(results: analysis.InterpResults, output_dir: str) -> str:
  amp_LHF = results.amplification_LHF
  num_layers = amp_LHF.shape[0]
  figsize = (3.0 * num_layers + 0.5, 0.25 * amp_LHF.shape[1] + 1.5)
  fig, axes = plt.subplots(1, num_layers, figsize=figsize, squeeze=False)
  for layer in range(num_layers):
    ax = axes[0, layer]
    image = ax.imshow(amp_LHF[layer], cmap="viridis", aspect="auto")
    ax.set_xticks(range(vocab_lib.NUM_FACTORS), vocab_lib.FACTOR_NAMES, rotation=45)
    ax.set_yticks(range(amp_LHF.shape[1]))
    ax.tick_params(axis="y", labelsize=7)
    ax.set_ylabel("head")
    ax.set_title(f"Layer {layer + 1}: OV amplification", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.08)
  return _save(fig, os.path.join(output_dir, "amplification.png"))


def plot_dft(results: analysis.InterpResults, output_dir: str) -> list[str]:
  """Per layer: non-constant energy shares per key, and diagonal vs axis spectra."""
  paths = []
  layers = sorted({layer for layer, _ in results.dft_shares})
  for layer in layers:
    fig, (ax_shares, ax_spec) = plt.subplots(1, 2, figsize=(11, 3.8))
    classes = (fourier.DIAGONAL, fourier.AXIS, fourier.OTHER)
    keys = [k for k in analysis.DFT_KEYS + (analysis.MLP_LOGITS_KEY,)
            if (layer, k) in results.dft_shares]
    width = 0.8 / len(keys)
    for i, key in enumerate(keys):
      shares = results.dft_shares[(layer, key)].nonconstant_aggregate
      ax_shares.bar(np.arange(len(classes)) + i * width, [shares[c] for c in classes], width,
                    label=key)
    ax_shares.set_xticks(np.arange(len(classes)) + 0.4 - width / 2, classes)
    ax_shares.set_ylim(0, 1)
    ax_shares.set_ylabel("share of non-constant energy")
    ax_shares.legend(fontsize=8)
    ax_shares.set_title(f"Layer {layer + 1} MLP: DFT energy over (a, b, c)")
    for key, style in (("mlp_out", "-"), ("mlp_post", "--"), (analysis.MLP_LOGITS_KEY, ":")):
      if (layer, key) not in results.diagonal_spectra:
        continue
      diag_K = results.diagonal_spectra[(layer, key)]
      axis_K = results.axis_spectra[(layer, key)].sum(axis=0)
      k = np.arange(1, len(diag_K))
      total = diag_K[1:].sum() + axis_K[1:].sum() or 1.0
      ax_spec.plot(k, diag_K[1:] / total, style, color="C0", marker="o", ms=3,
                   label=f"{key} (k,k,k)")
      ax_spec.plot(k, axis_K[1:] / total, style, color="C3", marker="x", ms=3,
                   label=f"{key} axes (k,0,0)+(0,k,0)+(0,0,k)")
    ax_spec.set_xlabel("frequency k")
    ax_spec.set_ylabel("energy (normalized)")
    ax_spec.legend(fontsize=7)
    ax_spec.set_title("Diagonal vs single-operand frequencies")
    paths.append(_save(fig, os.path.join(output_dir, f"dft_layer{layer + 1}.png")))
  return paths


def _group_name(label: int) -> str:
  return "none" if label == heads_lib.NO_GROUP else SLOT_NAMES[label]


def _table(header: list[str], rows: list[list]) -> list[str]:
  def cell(x):
    if isinstance(x, (float, np.floating)):
      return "-" if np.isnan(x) else f"{x:.3f}"
    return str(x)
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
  return lines


def _mean_on_own_slot(values_LHS: np.ndarray, layer: int, heads_idx, slots) -> float:
  """Mean of values_LHS[layer, h, slot of h] over the given heads (nan if none)."""
  heads_idx = np.asarray(heads_idx, dtype=int)
  if heads_idx.size == 0:
    return float("nan")
  return float(values_LHS[layer, heads_idx, np.broadcast_to(slots, heads_idx.shape)].mean())


def _group_lines(results: analysis.InterpResults) -> list[str]:
  lines = []
  for layer, labels_H in enumerate(results.groups_LH):
    groups = heads_lib.groups_by_slot(labels_H, len(SLOT_NAMES))
    rows = []
    for slot, members in groups.items():
      names = ", ".join(f"h{h}" for h in members) or "-"
      if slot == heads_lib.NO_GROUP:
        rows.append(["none", names, "", "", ""])
        continue
      rows.append([SLOT_NAMES[slot], names] + [
          _mean_on_own_slot(values, layer, members, slot)
          for values in (results.relvar_LHS, results.attn_to_operands_LHS,
                         results.attn_to_definitions_LHS)])
    lines += [f"**Layer {layer + 1}**", ""]
    lines += _table(["slot", "heads", "mean relvar", "attn -> operand token",
                     "attn -> its definition"], rows)
    lines.append("")
  return lines


def _comparison_lines(results: analysis.InterpResults) -> list[str]:
  """The paper's three findings and the matching numbers measured here."""
  measured = []
  for layer in range(min(2, results.groups_LH.shape[0])):
    labels_H = results.groups_LH[layer]
    groups = heads_lib.groups_by_slot(labels_H, len(SLOT_NAMES))
    sizes = ", ".join(f"{SLOT_NAMES[s]}: {len(groups[s])}" for s in range(len(SLOT_NAMES)))
    heads_idx = np.flatnonzero(labels_H != heads_lib.NO_GROUP)
    slots = labels_H[heads_idx]
    to_op = _mean_on_own_slot(results.attn_to_operands_LHS, layer, heads_idx, slots)
    to_def = _mean_on_own_slot(results.attn_to_definitions_LHS, layer, heads_idx, slots)
    text = f"heads per slot group ({sizes}; {len(groups[heads_lib.NO_GROUP])} ungrouped)"
    if heads_idx.size:
      text += (f"; grouped heads put {to_op:.2f} of their attention on their operand's token "
               f"and {to_def:.2f} on its definition")
    measured.append(text)
  last = results.groups_LH.shape[0] - 1
  if (last, "mlp_out") in results.dft_shares:
    shares = results.dft_shares[(last, "mlp_out")].nonconstant_aggregate
    text = (f"layer-{last + 1} MLP output, non-constant energy: diagonal "
            f"{shares[fourier.DIAGONAL]:.3f}, axis {shares[fourier.AXIS]:.3f}, "
            f"other {shares[fourier.OTHER]:.3f}")
    if (last, analysis.MLP_LOGITS_KEY) in results.dft_shares:
      logit_shares = results.dft_shares[(last, analysis.MLP_LOGITS_KEY)].nonconstant_aggregate
      text += (f"; as the value readout sees it (direct logits): diagonal "
               f"{logit_shares[fourier.DIAGONAL]:.3f}, axis {logit_shares[fourier.AXIS]:.3f}, "
               f"other {logit_shares[fourier.OTHER]:.3f}")
    measured.append(text)
  else:
    measured.append("value grid not run")
  rows = [[name, paper, here] for (name, paper), here in zip(PAPER_FINDINGS, measured)]
  return _table(["component", "paper", "here"], rows)


def write_markdown(results: analysis.InterpResults, output_dir: str, *, title: str,
                   figures: list[str], notes: str = "") -> str:
  lines = [f"# {title}", ""]
  if notes:
    lines += [notes, ""]
  lines += ["## Paper vs here", ""] + _comparison_lines(results) + [""]
  lines += ["## Probe accuracy", "",
            f"- slot grids (natural operand values): {results.slot_probe_accuracy:.4f} "
            f"over {results.slot_probe_count} probes"]
  if results.value_grid_accuracy is not None:
    lines.append(f"- value grid (all p^3 operand values, operands {results.value_grid_operands}): "
                 f"{results.value_grid_accuracy:.4f}")
  lines += ["", "## Head groups (relative variance > "
            f"{results.group_threshold:g} on one varied slot)", ""] + _group_lines(results)
  lines += ["## OV amplification (||E_f' W_OV|| / ||E_f'||, attention-LN scale applied)", ""]
  for layer, amp_HF in enumerate(results.amplification_LHF):
    rows = [[f"h{h} [{_group_name(results.groups_LH[layer, h])}]", *amp_HF[h]]
            for h in range(amp_HF.shape[0])]
    lines += [f"**Layer {layer + 1}**", ""] + _table(["head", *vocab_lib.FACTOR_NAMES], rows) + [""]
  lines += ["## Residual stream change at the rhs (||sublayer out|| / ||residual in||)", ""]
  rows = [[f"layer {l + 1}", a["median"], a["mean"], m["median"], m["mean"]]
          for l, (a, m) in enumerate(zip(results.attn_change, results.mlp_change))]
  lines += _table(["layer", "attention median", "attention mean", "MLP median", "MLP mean"], rows)
  lines.append("")
  if results.dft_shares:
    lines += ["## DFT energy shares over (a, b, c) in Z_p^3", "",
              "Shares of total energy; 'diag/non-const' is the diagonal share of the energy "
              "outside frequency (0,0,0).", ""]
    rows = []
    for (layer, key), shares in sorted(results.dft_shares.items()):
      agg = shares.aggregate
      rows.append([f"layer {layer + 1}", key, agg[fourier.CONSTANT], agg[fourier.DIAGONAL],
                   agg[fourier.AXIS], agg[fourier.OTHER],
                   shares.nonconstant_aggregate[fourier.DIAGONAL]])
    header = ["layer", "tensor", "constant", "diagonal", "axis", "other", "diag/non-const"]
    lines += _table(header, rows)
    lines.append("")
    for (layer, key), top in sorted(results.top_frequencies.items()):
      if key in ("mlp_out", analysis.MLP_LOGITS_KEY):
        freq = ", ".join(f"{k} {share:.3f}" for k, share in top)
        lines.append(f"- top frequencies of layer-{layer + 1} {key} (mean removed): {freq}")
    lines.append("")
  lines += ["## Figures", ""]
  lines += [f"![{os.path.basename(f)}]({os.path.basename(f)})" for f in figures]
  path = os.path.join(output_dir, "report.md")
  with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")
  return path


def save_arrays(results: analysis.InterpResults, output_dir: str) -> str:
  """The per-head arrays and the DFT shares/spectra, keyed by name, as one .npz."""
  arrays = {f.name: getattr(results, f.name) for f in dataclasses.fields(results)
            if isinstance(getattr(results, f.name), np.ndarray)}
  for (layer, key), shares in results.dft_shares.items():
    for name, share in shares.per_feature.items():
      arrays[f"dft_share_{name}_layer{layer + 1}_{key}"] = share
  for (layer, key), spectrum in results.diagonal_spectra.items():
    arrays[f"diagonal_spectrum_layer{layer + 1}_{key}"] = spectrum
  for (layer, key), spectrum in results.axis_spectra.items():
    arrays[f"axis_spectrum_layer{layer + 1}_{key}"] = spectrum
  path = os.path.join(output_dir, "results.npz")
  np.savez_compressed(path, **arrays)
  return path


def write_report(results: analysis.InterpResults, output_dir: str, *,
                 title: str = "Interpretability report", notes: str = "") -> list[str]:
  """Writes every figure and report.md into `output_dir`; returns the paths."""
  os.makedirs(output_dir, exist_ok=True)
  figures = plot_relative_variance(results, output_dir)
  figures += [plot_attention_mass(results, output_dir),
              plot_example_attention(results, output_dir),
              plot_amplification(results, output_dir)]
  if results.dft_shares:
    figures += plot_dft(results, output_dir)
  markdown = write_markdown(results, output_dir, title=title, figures=figures, notes=notes)
  return figures + [markdown, save_arrays(results, output_dir)]
