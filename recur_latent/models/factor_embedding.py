"""The sum of the factor embeddings, with a backward made of matrix products.

The forward pass is a lookup per factor, as nnx.Embed does. Autodiff's
backward of a lookup is a scatter-add of every token's gradient row into
its table row. The tables are small (4 to 513 rows) and every one of the
B x L tokens hits one of them, so on a GPU the rows collide in atomics: the
four scatters took 2.0 of the H200 train step's 25.3 ms of kernels
(results/h200_session17/). Here each table's gradient is
one_hot(tokens)^T @ d_x instead, a product with a contraction over the
B x L tokens that the tensor cores run in bf16. To keep float32 accuracy,
d_x is split into a bf16 head and a bf16 remainder (d_x = hi + lo up to
about 2^-16 of its size), both multiplied in the one product; the one-hot
factor is exact in bf16 and the sums are accumulated in float32.
"""
import jax
import jax.numpy as jnp
import numpy as np


@jax.custom_vjp
def embedding_sum(tables, tokens_BLF):
  """sum_f tables[f][tokens_BLF[..., f]]: x_BLD in the tables' dtype.

  Args:
    tables: tuple of F arrays [V_f, D].
    tokens_BLF: int tokens, factor f in [0, V_f).
  """
  return sum(jnp.take(table_VD, tokens_BLF[..., f], axis=0) for f, table_VD in enumerate(tables))


def _forward(tables, tokens_BLF):
  return embedding_sum(tables, tokens_BLF), (tables, tokens_BLF)  # The tables are small.


def _backward(residuals, d_x_BLD):
  tables, tokens_BLF = residuals
  d_x_ND = d_x_BLD.reshape(-1, d_x_BLD.shape[-1]).astype(jnp.float32)
  hi_ND = d_x_ND.astype(jnp.bfloat16)
  lo_ND = (d_x_ND - hi_ND.astype(jnp.float32)).astype(jnp.bfloat16)
  both_N2D = jnp.concatenate([hi_ND, lo_ND], axis=-1)
  tokens_NF = tokens_BLF.reshape(-1, tokens_BLF.shape[-1])
  depth = d_x_ND.shape[-1]
  d_tables = []
  for f, table_VD in enumerate(tables):
    one_hot_NV = jax.nn.one_hot(tokens_NF[:, f], table_VD.shape[0], dtype=jnp.bfloat16)
    d_V2D = jnp.einsum("nv,nd->vd", one_hot_NV, both_N2D, preferred_element_type=jnp.float32)
    d_tables.append((d_V2D[:, :depth] + d_V2D[:, depth:]).astype(table_VD.dtype))
  # Integer tokens take a float0 cotangent.
  d_tokens = np.zeros(tokens_BLF.shape, jax.dtypes.float0)
  return tuple(d_tables), d_tokens


embedding_sum.defvjp(_forward, _backward)
