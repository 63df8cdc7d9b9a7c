r"""Times one relative-attention layer's core on each path: `python -m experiments.benchmark_attention`.

For queries at positions offset + [0, Q) against S = offset + Q keys (offset 0:
a training step's full sequence; offset > 0: a rollout's suffix), each path
computes softmax((q k + relative terms) / sqrt(3 d)) v from the same q, k, v
and relative projections:

  dense   the [B, H, Q, S] scores in float32 by XLA (positions.relative_terms
          on the full sequence, gathers on a suffix);
  fused   the relative terms as the bias of jax.nn.dot_product_attention
          (cuDNN on a GPU);
  flash   models/flash_relative.py's Pallas kernels, one timing per
          --flash_tiles entry BQxBK[xWARPS[xSTAGES]].

It prints, per path, the median milliseconds of the forward and of forward
plus backward (all five inputs' gradients), the error of each against a
float32 reference by relative norm, and the attention FLOPs' rate (the q.k and
p.v products of the causal half, 4 B H Q S_avg d). Inputs are random normal,
three sets taken in turn, so a timing is not of one cached buffer.
"""
import json
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app
from absl import flags
from flax import nnx

from recur_latent.models import attention
from recur_latent.models import flash_relative

_BATCH = flags.DEFINE_integer("batch", 256, "Sequences per call.")
_QUERIES = flags.DEFINE_integer("queries", 256, "Query positions Q.")
_OFFSET = flags.DEFINE_integer("offset", 0, "Position of the first query; keys are [0, offset + Q).")
_HEADS = flags.DEFINE_integer("heads", 16, "Attention heads.")
_HEAD_DIM = flags.DEFINE_integer("head_dim", 24, "Dimension per head.")
_WINDOW = flags.DEFINE_integer("window", 64, "Relative window W.")
_DTYPE = flags.DEFINE_enum("dtype", "bfloat16", ["bfloat16", "float32"], "Compute dtype.")
_PATHS = flags.DEFINE_list("paths", ["dense", "fused", "flash"], "Paths to time.")
_TILES = flags.DEFINE_list("flash_tiles", ["32x32x2"],
                           "Flash tile settings BQxBK[xWARPS[xSTAGES]] (default WARPS 2, STAGES 2).")
_REPEATS = flags.DEFINE_integer("repeats", 20, "Timed calls per figure (median).")
_BACKWARD = flags.DEFINE_bool("backward", True, "Also time forward plus backward.")
_OUTPUT = flags.DEFINE_string("output", None, "Optional JSON file for the figures.")


def _inputs(seed, dtype):
  b, q, s, h, d, w = (_BATCH.value, _QUERIES.value, _OFFSET.value + _QUERIES.value, _HEADS.value,
                      _HEAD_DIM.value, _WINDOW.value)
  keys = jax.random.split(jax.random.key(seed), 6)
  normal = lambda key, shape, scale=1.0: (scale * jax.random.normal(key, shape)).astype(dtype)
  return (normal(keys[0], (b, q, h, d)), normal(keys[1], (b, s, h, d)), normal(keys[2], (b, s, h, d)),
          normal(keys[3], (w + 1, h, d), 0.5), normal(keys[4], (w + 1, h, d), 0.5)), \
      normal(keys[5], (b, q, h, d))


def _xla_path(kind, dtype):
  """The dense or fused path of models/attention.py on these inputs, computing in `dtype`."""
  offset = _OFFSET.value
  # Only the layer's attention methods are used; its parameters are not.
  layer = attention.CausalSelfAttention(_HEADS.value * _HEAD_DIM.value, _HEADS.value,
                                        position="relative", rel_window=_WINDOW.value,
                                        relative_scores=kind, dtype=dtype, rngs=nnx.Rngs(0))

  def run(q, k, v, kr, qr):
    if kind == "fused" and offset == 0:
      return layer._fused(q, k, v, kr, qr, None)
    positions = jnp.arange(offset, offset + q.shape[1])[None, :]
    key_pos = jnp.arange(k.shape[1])[None, :]
    if kind == "fused":
      return layer._fused_suffix(q, k, v, kr, qr, positions, key_pos)
    return layer._dense(q, k, v, kr, qr, positions, key_pos, offset == 0, None)[0]
  return run


def _flash_path(tile):
  parts = [int(x) for x in tile.split("x")]
  bq, bk, warps, stages = parts + [32, 32, 2, 2][len(parts):]
  return lambda *a: flash_relative.attention(
      *a, scale=(3.0 * _HEAD_DIM.value) ** -0.5, query_offset=_OFFSET.value,
      implementation=flash_relative.default_implementation(), block_q=bq, block_k=bk,
      num_warps=warps, num_stages=stages)


def _time(fn, input_sets):
  """(compile + first call s, median ms over the repeats, the first set's output)."""
  start = time.perf_counter()
  first = jax.block_until_ready(fn(*input_sets[0]))
  compile_s = time.perf_counter() - start
  times = []
  for i in range(_REPEATS.value):
    args = input_sets[i % len(input_sets)]
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append((time.perf_counter() - start) * 1e3)
  return compile_s, statistics.median(times), first


def _rel_error(x, ref):
  x, ref = (np.asarray(a, np.float64) for a in (x, ref))
  return float(np.linalg.norm(x - ref) / np.linalg.norm(ref))


def main(argv):
  del argv
  dtype = jnp.dtype(_DTYPE.value)
  sets = [_inputs(seed, dtype) for seed in range(3)]
  input_sets = [args for args, _ in sets]
  cotangents = [ct for _, ct in sets]
  # The reference: the dense path in float32 on the first set.
  ref_in = [x.astype(jnp.float32) for x in input_sets[0]]
  ref_fn = _xla_path("dense", jnp.float32)
  with jax.default_matmul_precision("highest"):
    ref_out, ref_vjp = jax.vjp(ref_fn, *ref_in)
    ref_grads = ref_vjp(cotangents[0].astype(jnp.float32))
  b, q, h, d = _BATCH.value, _QUERIES.value, _HEADS.value, _HEAD_DIM.value
  avg_keys = _OFFSET.value + (q + 1) / 2  # Causal: query i sees offset + i + 1 keys.
  flops = 4 * b * h * q * avg_keys * d
  paths = []
  for name in _PATHS.value:
    if name == "flash":
      paths += [(f"flash {tile}", _flash_path(tile)) for tile in _TILES.value]
    else:
      paths.append((name, _xla_path(name, dtype)))
  rows = []
  for name, fn in paths:
    row = {"path": name}
    fwd = jax.jit(fn)
    row["fwd_compile_s"], row["fwd_ms"], out = _time(fwd, input_sets)
    row["fwd_error"] = _rel_error(out, ref_out)
    row["fwd_tflops"] = flops / row["fwd_ms"] / 1e9
    if _BACKWARD.value:
      def fwd_bwd(*args, fn=fn):
        *inputs, ct = args
        out, vjp = jax.vjp(fn, *inputs)
        return out, vjp(ct)
      both = jax.jit(fwd_bwd)
      with_ct = [(*args, ct) for args, ct in zip(input_sets, cotangents)]
      row["fwd_bwd_compile_s"], row["fwd_bwd_ms"], (_, grads) = _time(both, with_ct)
      row["grad_errors"] = {n: _rel_error(g, r) for n, g, r in zip(("q", "k", "v", "kr", "qr"),
                                                                     grads, ref_grads)}
      row["fwd_bwd_tflops"] = 3.5 * flops / row["fwd_bwd_ms"] / 1e9  # Backward ~2.5x the forward.
    rows.append(row)
    print(json.dumps(row), flush=True)
  print(f"\nB={b} Q={q} offset={_OFFSET.value} H={h} d={d} W={_WINDOW.value} {dtype.name}, "
        f"median of {_REPEATS.value}, {jax.devices()[0].device_kind}; flash runs as "
        f"'{flash_relative.default_implementation()}' here (tiles apply to 'pallas' only)")
  print(f"{'path':<22}{'fwd ms':>9}{'fwd+bwd ms':>12}{'fwd err':>10}{'worst grad err':>16}")
  for row in rows:
    worst = max(row.get("grad_errors", {"-": float("nan")}).values())
    print(f"{row['path']:<22}{row['fwd_ms']:>9.3f}{row.get('fwd_bwd_ms', float('nan')):>12.3f}"
          f"{row['fwd_error']:>10.2e}{worst:>16.2e}")
  if _OUTPUT.value:
    with open(_OUTPUT.value, "w") as f:
      json.dump({"flags": {k: flags.FLAGS[k].value for k in (
          "batch", "queries", "offset", "heads", "head_dim", "window", "dtype", "repeats")},
                 "device": jax.devices()[0].device_kind,
                 "flash_implementation": flash_relative.default_implementation(), "rows": rows},
                f, indent=2)


if __name__ == "__main__":
  app.run(main)
