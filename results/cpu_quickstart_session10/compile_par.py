"""Session 10: does compiling two train-step shapes in two threads save wall-clock?

  python results/cpu_quickstart_session10/compile_par.py seq   # one after the other
  python results/cpu_quickstart_session10/compile_par.py par   # two threads

Compiles the quickstart's train step for its 2nd and 3rd padded lengths (64, 80)
with fresh jits, and prints each compile's seconds and the wall-clock of both.
"""
import concurrent.futures as cf
import os
import sys
import time
import jax
from flax import nnx
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from configs import quickstart
from recur_latent.models import factory
from recur_latent.training import data_stream, train_step as ts

config = quickstart.get_config()
mesh = ts.make_mesh()
model = factory.build_model(config, nnx.Rngs(0))
graphdef, tx, state = ts.init_state(model, config.train)
source = data_stream.BatchSource(config)
by_len = {}
for step in range(200):
  b = source.batch(step)
  by_len.setdefault(next(iter(b.values())).shape[1], b)
print("lengths", sorted(by_len))
key = jax.random.key(0)

def compile_one(length):
  fn = ts.jit_train_step(graphdef, tx, config, mesh, state)
  t = time.time()
  fn.lower(state, ts.shard_batch(by_len[length], mesh), key).compile()
  return time.time() - t

lens = sorted(by_len)
mode = sys.argv[1]
a, b = lens[1], lens[2]
t0 = time.time()
if mode == "seq":
  times = [compile_one(a), compile_one(b)]
else:
  with cf.ThreadPoolExecutor(2) as pool:
    times = list(pool.map(compile_one, [a, b]))
print(mode, "each", [round(x, 1) for x in times], "wall", round(time.time() - t0, 1))
