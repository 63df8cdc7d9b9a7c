"""Measures the train step and the evaluation rollout: rates, FLOPs, MFU, memory.

Two FLOP counts per step:
- XLA's cost analysis of the compiled step. On a GPU it leaves out the
  cuBLAS and cuDNN custom calls: session 12 measured 0.80e12 on the H200
  for the step that the CPU compiler counts at 3.35e12.
- The model's own count, the convention of MFU: 6 x (weights of the
  matmuls) per token plus the attention scores, over the padded batch, for
  every block application in the step (`model_flops_per_step`).
XLA's MFU is also given per real token (scaled by the real/padded token
ratio), and the model's count also on the real positions alone
(`model_flops_real_tokens`: no padding computed at all), so padding does not
flatter them.
"""
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from recur_latent.data import eval_sets
from recur_latent.data import tokenize as tokenize_lib
from recur_latent.models import factory
from recur_latent.models import recurrence
from recur_latent.training import data_stream
from recur_latent.training import profiling
from recur_latent.training import train_step as train_step_lib


def compiled_flops(compiled):
  """FLOPs of one call of a compiled function, from XLA's cost analysis (nan if unknown)."""
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0] if analysis else {}
  return float((analysis or {}).get("flops", float("nan")))


def compiled_peak_bytes(compiled):
  """Peak device memory of a compiled function: arguments + outputs + temporaries - aliased."""
  try:
    memory = compiled.memory_analysis()
  except Exception:  # Not every backend reports it.
    return float("nan")
  if memory is None:
    return float("nan")
  return float(memory.temp_size_in_bytes + memory.argument_size_in_bytes
               + memory.output_size_in_bytes - memory.alias_size_in_bytes)


def folded_iterations(config):
  """Sequences per graph in a teacher-forced batch: 'all' folds every iteration in."""
  if config.method in ("discrete", "discrete_ec") and config.train.iterations == "all":
    return int(config.train.train_iters)
  return 1


def block_applications(config):
  """Transformer passes over the batch per train step (each with its backward)."""
  t = config.train
  if config.method in ("continuous", "e2e_recurrent") or t.get("rollout", False):
    return int(t.train_iters)  # Every iteration runs (and is backpropagated through).
  return folded_iterations(config)


def _step_flops(config, tokens, key_pairs):
  """3 x (the matmuls of `tokens` positions + the attention of `key_pairs` (query, key)
  pairs) over every layer and block application: the forward and its backward."""
  m = config.model
  d, r = int(m.d_model), int(m.mlp_ratio)
  per_layer = 2 * (4 + 2 * r) * d * d * tokens + 4 * d * key_pairs
  return float(3 * per_layer * int(m.num_layers) * block_applications(config))


def _row_sums(lengths_B, batch_size):
  """(sum of l, sum of l^2) over the rows, scaled to `batch_size` rows (the lengths may be
  a sample of them)."""
  lengths_B = np.asarray(lengths_B, np.float64)
  scale = batch_size / lengths_B.shape[0]
  return float(lengths_B.sum()) * scale, float((lengths_B ** 2).sum()) * scale


def model_flops_per_step(config, batch_size, length, lengths_B=None):
  """Matmul and attention FLOPs of one train step (forward and backward), padding included.

  Per layer and token: 2 x (4 d^2 attention projections + 2 r d^2 MLP)
  forward, and 4 L d for the scores and the weighted sum; the backward
  doubles the forward, so the total is 3x. Heads, embeddings, norms, the
  relative-position tables and the extra forward of model-drawn corruption
  (train.corrupt_values=model) are left out: 8% of the CPU compiler's count
  for the fast recipe's step.
  With train.skip_padding and the rows' lengths given, the attention term
  is each row's own, 4 l^2 d for a row of l real positions: its padded
  queries' attention is not computed, so it is not counted as done.
  """
  tokens = batch_size * length
  key_pairs = tokens * length
  if lengths_B is not None and config.train.get("skip_padding", False):
    key_pairs = _row_sums(lengths_B, batch_size)[1]
  return _step_flops(config, tokens, key_pairs)


def model_flops_real_tokens(config, lengths_B, batch_size=None):
  """`model_flops_per_step` counted on the rows' real positions only (no padding at all).

  The work a step would need if it computed nothing for padding: the
  matmuls over sum(l) tokens and each row's own attention, 4 l^2 d. Scaled
  to `batch_size` rows when the lengths are a sample of them.
  """
  return _step_flops(config, *_row_sums(lengths_B, batch_size or len(lengths_B)))


def padded_length(batch_np):
  """Sequence length a (numpy) batch is padded to."""
  return max(int(v.shape[1]) for v in batch_np.values() if np.ndim(v) >= 2)


def _time_calls(fn, args_list, repeats):
  jax.block_until_ready(fn(*args_list[0]))  # Warm-up outside the timing.
  times = []
  for i in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args_list[i % len(args_list)]))
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def _time_pipelined(fn, args_list, repeats):
  """Seconds per call of `repeats` calls dispatched back to back, one wait at the end.

  This is how the training loop runs (it never waits on a step), so the
  host's dispatch of one step overlaps the device's work on the one before;
  `_time_calls` waits on every call and so also counts the dispatch.
  """
  jax.block_until_ready(fn(*args_list[0]))
  start = time.perf_counter()
  out = None
  for i in range(repeats):
    out = fn(*args_list[i % len(args_list)])
  jax.block_until_ready(out)
  return (time.perf_counter() - start) / repeats


def benchmark_train_step(config, *, steps=20, peak_flops=None, profile_dir=None, profile_steps=5,
                         profile_top=25, hlo_path=None):
  """Median step time and derived rates of the real jitted train step.

  `step_s` is the median of steps waited on one by one (latency);
  `pipelined_step_s` the mean over steps dispatched back to back, as the
  training loop runs them (throughput); the rates and MFUs use `step_s`, and
  the `*_pipelined` ones `pipelined_step_s`.
  With `profile_dir`, `profile_steps` more steps run under the profiler
  after the timing; the result then has 'profile' (profiling.kernel_table,
  its `profile_top` longest kernels). `hlo_path` receives the compiled
  step's optimized HLO (to look up what a profiled fusion computes).
  """
  mesh = train_step_lib.make_mesh()
  model = factory.build_model(config, nnx.Rngs(config.seed))
  graphdef, tx, state = train_step_lib.init_state(model, config.train)
  state = jax.device_put(state, train_step_lib.state_sharding(state, mesh))
  source = data_stream.BatchSource(config)
  batches_np = [source.batch(s) for s in range(4)]
  batches = [train_step_lib.shard_batch(b, mesh) for b in batches_np]
  key = jax.random.key(0)
  step_fn = train_step_lib.jit_train_step(graphdef, tx, config, mesh, state)
  compiled_by_length, compile_s = {}, 0.0  # data.pad_batches='bucket' gives several lengths.
  for b_np, b in zip(batches_np, batches):
    length = padded_length(b_np)
    if length not in compiled_by_length:
      start = time.perf_counter()
      compiled_by_length[length] = step_fn.lower(state, b, key).compile()
      compile_s += time.perf_counter() - start

  holder = {"state": state}

  def run(batch_np, batch):
    holder["state"], metrics = compiled_by_length[padded_length(batch_np)](holder["state"], batch, key)
    return metrics["loss"]

  calls = list(zip(batches_np, batches))
  step_s = _time_calls(run, calls, steps)
  pipelined_s = _time_pipelined(run, calls, steps)
  # The first batch's program: the one the profiler traces first (and the only one without bucketing).
  hlo_text = compiled_by_length[padded_length(batches_np[0])].as_text() if hlo_path or profile_dir else None
  if hlo_path:
    with open(hlo_path, "w") as f:
      f.write(hlo_text)
  real = float(np.mean([b["length_B"].sum() for b in batches_np]))
  padded = float(np.mean([b["length_B"].shape[0] * padded_length(b) for b in batches_np]))
  folded = folded_iterations(config)  # Folded iterations are extra sequences.
  examples = config.train.batch_size * folded
  real *= folded
  padded *= folded
  flops = float(np.mean([compiled_flops(compiled_by_length[padded_length(b)]) for b in batches_np]))
  model_flops = float(np.mean([model_flops_per_step(config, config.train.batch_size, padded_length(b),
                                                    b["length_B"]) for b in batches_np]))
  real_flops = float(np.mean([model_flops_real_tokens(config, b["length_B"], config.train.batch_size)
                              for b in batches_np]))
  out = {
      "compile_s": compile_s,
      "step_s": step_s,
      "pipelined_step_s": pipelined_s,
      "graphs_per_s": config.train.batch_size / step_s,
      "graphs_per_s_pipelined": config.train.batch_size / pipelined_s,
      "sequences_per_s": examples / step_s,
      "real_tokens_per_s": real / step_s,
      "padded_tokens_per_s": padded / step_s,
      "padding_share": 1.0 - real / padded,
      "step_flops_xla": flops,
      "achieved_tflops": flops / step_s / 1e12,
      "step_flops_model": model_flops,
      "achieved_model_tflops": model_flops / step_s / 1e12,
      "step_flops_model_real_tokens": real_flops,
      "peak_bytes": max(compiled_peak_bytes(c) for c in compiled_by_length.values()),
  }
  if peak_flops:
    out["mfu_xla"] = flops / step_s / peak_flops
    out["mfu_real_tokens"] = out["mfu_xla"] * (1.0 - out["padding_share"])
    out["mfu_model"] = model_flops / step_s / peak_flops
    out["mfu_model_real_tokens"] = real_flops / step_s / peak_flops
    out["mfu_model_pipelined"] = model_flops / pipelined_s / peak_flops
    out["mfu_model_real_tokens_pipelined"] = real_flops / pipelined_s / peak_flops
  if profile_dir:
    trace = profiling.trace_calls(run, calls, profile_steps, profile_dir)
    out["profile"] = dict(profiling.kernel_table(trace, calls=profile_steps, top=profile_top,
                                                 hlo_text=hlo_text), trace=trace)
  return out


def benchmark_rollout(model, *, num_nodes, num_graphs, halting="oracle", max_iters=64,
                      oracle_slack=1, num_names, modulus=23, batch_size=256, repeats=3,
                      suffix_chunks=1):
  """Time to solve num_graphs fixed graphs of size num_nodes with lax.while_loop.

  The graphs go through sorted by depth, in batches of batch_size (the attention scores of all
  2,048 graphs at N = 128 at once would need ~85 GB); every batch is
  dispatched before any result is read back. suffix_chunks > 1 recomputes
  only what changed (`recurrence.rollout_while`).
  """
  graphs = eval_sets.eval_set(num_nodes, num_graphs=num_graphs, num_names=num_names,
                              modulus=modulus)
  batch = tokenize_lib.tokenize_graphs(graphs)
  graphdef, params = nnx.split(model)

  @jax.jit
  def solve(params, inputs_BLF, targets_BLF, depth_B):
    m = nnx.merge(graphdef, params)
    out = recurrence.rollout_while(
        m, inputs_BLF, halting=halting, max_iters=max_iters,
        oracle_iters_B=depth_B + 1 + oracle_slack, targets_BLF=targets_BLF,
        suffix_chunks=suffix_chunks)
    return out["solved_B"], out["iters_B"], out["recomputed_fraction"]

  from recur_latent.evaluation import ood  # Lazy, as in the training loop.
  order = ood.depth_order(batch["graph_depth_B"])  # Batches of equal depth, as evaluation runs them.
  chunks = []
  for start in range(0, num_graphs, batch_size):
    rows = order[start:min(start + batch_size, num_graphs)]
    chunk = [batch[k][rows] for k in ("inputs_BLF", "targets_BLF", "graph_depth_B")]
    if chunk[0].shape[0] < batch_size:  # Pad the last chunk: one compiled shape.
      pad = batch_size - chunk[0].shape[0]
      chunk = [np.concatenate([c, c[:1].repeat(pad, 0)]) for c in chunk]
    chunks.append([jnp.asarray(c) for c in chunk])

  def solve_all():
    outs = [solve(params, *c) for c in chunks]
    return jax.block_until_ready(outs)

  start = time.perf_counter()
  outs = solve_all()
  first_s = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    solve_all()
    times.append(time.perf_counter() - start)
  seconds = float(np.median(times))
  # Padded duplicates in the last chunk are cut off.
  solved_B = np.concatenate([np.asarray(o[0]) for o in outs])[:num_graphs]
  iters_B = np.concatenate([np.asarray(o[1]) for o in outs])[:num_graphs]
  return {"num_nodes": num_nodes, "num_graphs": num_graphs, "halting": halting,
          "batch_size": batch_size, "suffix_chunks": suffix_chunks, "solve_s": seconds, "first_call_s": first_s,
          "graphs_per_s": num_graphs / seconds, "solved": float(solved_B.mean()),
          "max_iters_used": int(iters_B.max()),
          "recomputed_fraction": float(np.mean([np.asarray(o[2]) for o in outs])),
          "length": int(batch["inputs_BLF"].shape[1])}
