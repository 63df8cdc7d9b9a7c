"""Session 10: where the quickstart's compile and step time go on a CPU.

  [XLA_FLAGS=...] python results/cpu_quickstart_session10/compile_timing.py split
      the train step at padded length 96: seconds of tracing (lower) and of
      XLA's compile, then ms a step (15 steps after 3 warm-up);
  python results/cpu_quickstart_session10/compile_timing.py seq | par
      fresh jits of the train step for the 2nd and 3rd padded lengths (64
      and 80) compiled one after the other (seq) or in two threads (par):
      each compile's seconds and the wall-clock of both.
"""
import concurrent.futures
import os
import sys
import time

import jax
from flax import nnx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from configs import quickstart  # pylint: disable=wrong-import-position
from recur_latent.models import factory  # pylint: disable=wrong-import-position
from recur_latent.training import data_stream  # pylint: disable=wrong-import-position
from recur_latent.training import throughput  # pylint: disable=wrong-import-position
from recur_latent.training import train_step as train_step_lib  # pylint: disable=wrong-import-position


def main(mode):
  config = quickstart.get_config()
  mesh = train_step_lib.make_mesh()
  graphdef, tx, state = train_step_lib.init_state(factory.build_model(config, nnx.Rngs(0)), config.train)
  source = data_stream.BatchSource(config)
  batch_by_length = {}  # The first batch of each padded length in the stream's first 200 steps.
  for step in range(200):
    batch_np = source.batch(step)
    batch_by_length.setdefault(throughput.padded_length(batch_np), batch_np)
  print("lengths", sorted(batch_by_length))
  key = jax.random.key(0)

  def lowered_for(length):
    step_fn = train_step_lib.jit_train_step(graphdef, tx, config, mesh, state)  # A fresh jit: no cache.
    return step_fn.lower(state, train_step_lib.shard_batch(batch_by_length[length], mesh), key)

  if mode == "split":
    start = time.time()
    lowered = lowered_for(96)
    traced = time.time()
    compiled = lowered.compile()
    print(f"lower {traced - start:.1f}s compile {time.time() - traced:.1f}s")
    batch = train_step_lib.shard_batch(batch_by_length[96], mesh)
    new_state = state
    for _ in range(3):
      new_state, metrics = compiled(new_state, batch, key)
    jax.block_until_ready(metrics)
    start = time.time()
    for _ in range(15):
      new_state, metrics = compiled(new_state, batch, key)
    jax.block_until_ready(metrics)
    print(f"step {(time.time() - start) / 15 * 1e3:.0f} ms at L=96")
    return

  def compile_s(length):
    start = time.time()
    lowered_for(length).compile()
    return time.time() - start

  lengths = sorted(batch_by_length)[1:3]
  start = time.time()
  if mode == "seq":
    times = [compile_s(n) for n in lengths]
  else:
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
      times = list(pool.map(compile_s, lengths))
  print(mode, "each", [round(t, 1) for t in times], "wall", round(time.time() - start, 1))


if __name__ == "__main__":
  main(sys.argv[1])
