"""The fast recipe's train-step FLOPs three ways, for section 4 of the README.

  python results/h200_session12/flop_counts.py

- XLA's count on the H200, from bench_b128.json (the GPU run of the plan);
- XLA's count on this CPU for the same model at batch 8, scaled to the
  benchmark's batch of 256 (the CPU compiler counts every dot);
- the model's count (throughput.model_flops_per_step) at batch 256, and
  its dense layers alone (the matmuls cuBLAS runs).
Then the MFU that each gives at the H200 run's measured step time. Writes
flop_counts.json.
"""
import json
import os
import sys

import jax
from flax import nnx

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from configs import discrete_ec  # pylint: disable=wrong-import-position
from recur_latent.models import factory  # pylint: disable=wrong-import-position
from recur_latent.training import data_stream  # pylint: disable=wrong-import-position
from recur_latent.training import throughput  # pylint: disable=wrong-import-position
from recur_latent.training import train_step as train_step_lib  # pylint: disable=wrong-import-position

PEAK_FLOPS = 790e12  # The H200's measured dense bf16 rate (experiments.benchmark's default).
CPU_BATCH = 8


def main():
  with open(os.path.join(HERE, "bench_b128.json")) as f:
    gpu = json.load(f)["train_step"]
  config = discrete_ec.get_config("recipe=fast")
  config.data.num_names = 512  # As in the GPU benchmark.
  gpu_batch = config.train.batch_size
  config.train.batch_size = CPU_BATCH
  mesh = train_step_lib.make_mesh(1)
  graphdef, tx, state = train_step_lib.init_state(factory.build_model(config, nnx.Rngs(0)), config.train)
  batch_np = data_stream.BatchSource(config).batch(0)
  length = throughput.padded_length(batch_np)
  step = train_step_lib.jit_train_step(graphdef, tx, config, mesh, state)
  compiled = step.lower(state, train_step_lib.shard_batch(batch_np, mesh), jax.random.key(0)).compile()
  cpu_flops = throughput.compiled_flops(compiled) * gpu_batch / CPU_BATCH
  model_flops = throughput.model_flops_per_step(config, gpu_batch, length)
  m = config.model  # The dense layers alone: the model count without the attention scores.
  dense_flops = 3 * 2 * (4 + 2 * m.mlp_ratio) * m.d_model ** 2 * gpu_batch * length * m.num_layers
  counts = {"gpu_xla": gpu["step_flops_xla"], "cpu_xla_scaled": cpu_flops, "model": model_flops,
            "model_dense_layers_only": float(dense_flops)}
  out = {"padded_length": length, "batch_size": gpu_batch, "step_s_h200": gpu["step_s"],
         "step_flops": counts,
         "mfu_at_h200_step": {k: v / gpu["step_s"] / PEAK_FLOPS for k, v in counts.items()},
         "model_over_cpu_xla": model_flops / cpu_flops}
  with open(os.path.join(HERE, "flop_counts.json"), "w") as f:
    json.dump(out, f, indent=1)
  print(json.dumps(out, indent=1))


if __name__ == "__main__":
  main()
