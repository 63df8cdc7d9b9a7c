"""OV circuits: how strongly each attention head passes on each factor's embedding.

A head moves information with W_OV[h] = W_V[h] W_O[h] (value projection of the
head's slice, then the head's rows of the output projection): a source token
with residual x contributes softmax-weight * (LN(x) W_OV[h]) to the query's
residual. The amplification of factor f by head h is

  amp[h, f] = || E_f' W_OV[h] ||_F / || E_f' ||_F

with E_f the factor's embedding table [V_f, D]. A head that copies the
variable identity (the paper's layer-1 heads) amplifies the VARIABLE factor;
one that retrieves values (layer 2) amplifies VALUE.

Choice of E_f' (what the head actually sees of E_f): the pre-LayerNorm of the
layer maps x to (x - mean(x)) / std(x) * gamma + beta. We apply the parts that
are linear and shared by all tokens: centering across D, then the per-dimension
scale gamma, i.e. E_f' = E_f C diag(gamma) and the same E_f' in the
denominator, so amp measures the head's own gain on what reaches it. The bias
beta is a constant (no factor information) and 1/std(x) is a per-token scalar
set by the whole residual, common to all factors, so both are left out: they
would rescale a row of the table, not change which factor a head prefers.
Optionally the table is centered across its rows (`center_rows`): the mean
embedding of a factor is the same for every token of that factor and carries
no information about which token it is.
"""
from collections.abc import Sequence

import numpy as np


def ov_matrices(w_v_HDK: np.ndarray, w_o_HKD: np.ndarray) -> np.ndarray:
  """W_OV[h] = W_V[h] @ W_O[h] for each head: [H, D, D].

  Args:
    w_v_HDK: value projection per head, [H, D_model, D_head].
    w_o_HKD: the head's rows of the output projection, [H, D_head, D_model].
  """
  w_v_HDK = np.asarray(w_v_HDK, dtype=np.float64)
  w_o_HKD = np.asarray(w_o_HKD, dtype=np.float64)
  if w_v_HDK.shape[0] != w_o_HKD.shape[0] or w_v_HDK.shape[2] != w_o_HKD.shape[1]:
    raise ValueError(f"mismatched head shapes {w_v_HDK.shape} and {w_o_HKD.shape}")
  return np.einsum("hdk,hke->hde", w_v_HDK, w_o_HKD)


def effective_embedding(embedding_VD: np.ndarray, ln_scale_D: np.ndarray | None = None, *,
                        center_rows: bool = False) -> np.ndarray:
  """E_f' = E_f C diag(gamma): what of a factor's table reaches a head (module doc)."""
  e_VD = np.asarray(embedding_VD, dtype=np.float64)
  if center_rows:
    e_VD = e_VD - e_VD.mean(axis=0, keepdims=True)
  # LayerNorm's centering removes each token's mean over the model dimension.
  e_VD = e_VD - e_VD.mean(axis=1, keepdims=True)
  if ln_scale_D is not None:
    e_VD = e_VD * np.asarray(ln_scale_D, dtype=np.float64)[None, :]
  return e_VD


def amplification(ov_HDD: np.ndarray, embeddings: Sequence[np.ndarray],
                  ln_scale_D: np.ndarray | None = None, *, center_rows: bool = False) -> np.ndarray:
  """Table [H, F] of ||E_f' W_OV[h]||_F / ||E_f'||_F over factors f."""
  ov_HDD = np.asarray(ov_HDD, dtype=np.float64)
  columns = []
  for embedding_VD in embeddings:
    e_VD = effective_embedding(embedding_VD, ln_scale_D, center_rows=center_rows)
    norm = np.linalg.norm(e_VD)
    moved_HVD = np.einsum("vd,hde->hve", e_VD, ov_HDD)
    moved_H = np.sqrt((moved_HVD ** 2).sum(axis=(1, 2)))
    columns.append(moved_H / norm if norm > 0 else np.zeros_like(moved_H))
  return np.stack(columns, axis=-1)
