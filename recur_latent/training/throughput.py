"""Measures the train step and the evaluation rollout: rates, FLOPs, MFU, memory.

FLOPs come from XLA's cost analysis of the compiled step (what the device
really executes, padding included); "model FLOPs" per real token are that
figure scaled by the real/padded token ratio, so MFU is not flattered by
padding.
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
from recur_latent.training import train_step as train_step_lib


def _flops(compiled):
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0] if analysis else {}
  return float((analysis or {}).get("flops", float("nan")))


def _peak_bytes(compiled):
  try:
    memory = compiled.memory_analysis()
  except Exception:  # Not every backend reports it.
    return float("nan")
  if memory is None:
    return float("nan")
  return float(memory.temp_size_in_bytes + memory.argument_size_in_bytes
               + memory.output_size_in_bytes - memory.alias_size_in_bytes)


def _time_calls(fn, args_list, repeats):
  jax.block_until_ready(fn(*args_list[0]))  # Warm-up outside the timing.
  times = []
  for i in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args_list[i % len(args_list)]))
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def benchmark_train_step(config, *, steps=20, peak_flops=None):
  """Median step time and derived rates of the real jitted train step."""
  mesh = train_step_lib.make_mesh()
  model = factory.build_model(config, nnx.Rngs(config.seed))
  graphdef, tx, state = train_step_lib.init_state(model, config.train)
  state = jax.device_put(state, train_step_lib.state_sharding(state, mesh))
  source = data_stream.BatchSource(config)
  batches_np = [source.batch(s) for s in range(4)]
  batches = [train_step_lib.shard_batch(b, mesh) for b in batches_np]
  key = jax.random.key(0)
  step_fn = train_step_lib.jit_train_step(graphdef, tx, config, mesh, state)
  start = time.perf_counter()
  compiled = step_fn.lower(state, batches[0], key).compile()
  compile_s = time.perf_counter() - start

  holder = {"state": state}

  def run(batch):
    holder["state"], metrics = compiled(holder["state"], batch, key)
    return metrics["loss"]

  step_s = _time_calls(run, [(b,) for b in batches], steps)
  if config.method == "cot":
    real = float(np.mean([b["length_B"].sum() for b in batches_np]))
    padded = float(np.prod(batches_np[0]["tokens_BL"].shape))
  else:
    real = float(np.mean([b["length_B"].sum() for b in batches_np]))
    padded = float(np.prod(batches_np[0]["inputs_BLF"].shape[:2]))
  examples = config.train.batch_size
  if config.method in ("discrete", "discrete_ec") and config.train.iterations == "all":
    examples *= config.train.train_iters  # Folded iterations are extra sequences.
    real *= config.train.train_iters
    padded *= config.train.train_iters
  flops = _flops(compiled)
  out = {
      "compile_s": compile_s,
      "step_s": step_s,
      "graphs_per_s": config.train.batch_size / step_s,
      "sequences_per_s": examples / step_s,
      "real_tokens_per_s": real / step_s,
      "padded_tokens_per_s": padded / step_s,
      "padding_share": 1.0 - real / padded,
      "step_flops_xla": flops,
      "achieved_tflops": flops / step_s / 1e12,
      "peak_bytes": _peak_bytes(compiled),
  }
  if peak_flops:
    out["mfu_xla"] = flops / step_s / peak_flops
    out["mfu_real_tokens"] = out["mfu_xla"] * (1.0 - out["padding_share"])
  return out


def benchmark_rollout(model, *, num_nodes, num_graphs, halting="oracle", max_iters=64,
                      oracle_slack=1, num_names, modulus=23, repeats=3):
  """Time to solve num_graphs fixed graphs of size num_nodes with lax.while_loop."""
  graphs = eval_sets.eval_set(num_nodes, num_graphs=num_graphs, num_names=num_names,
                              modulus=modulus)
  batch = tokenize_lib.tokenize_graphs(graphs)
  graphdef, params = nnx.split(model)

  @jax.jit
  def solve(params, inputs_BLF, targets_BLF, depth_B):
    m = nnx.merge(graphdef, params)
    out = recurrence.rollout_while(
        m, inputs_BLF, halting=halting, max_iters=max_iters,
        oracle_iters_B=depth_B + 1 + oracle_slack, targets_BLF=targets_BLF)
    return out["solved_B"].mean(), out["iters_B"].max()

  args = (params, jnp.asarray(batch["inputs_BLF"]), jnp.asarray(batch["targets_BLF"]),
          jnp.asarray(batch["graph_depth_B"]))
  start = time.perf_counter()
  solved, iters = jax.block_until_ready(solve(*args))
  first_s = time.perf_counter() - start
  seconds = _time_calls(solve, [args], repeats)
  return {"num_nodes": num_nodes, "num_graphs": num_graphs, "halting": halting,
          "solve_s": seconds, "first_call_s": first_s, "graphs_per_s": num_graphs / seconds,
          "solved": float(solved), "max_iters_used": int(iters),
          "length": int(batch["inputs_BLF"].shape[1])}

