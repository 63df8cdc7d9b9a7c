"""Session 10: the quickstart's train step at length 96: seconds of tracing
(lower) and of XLA's compile, then ms a step (15 steps after 3 warm-up).

  [XLA_FLAGS=...] python results/cpu_quickstart_session10/compile_split.py
"""
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
b = next(b for b in map(source.batch, range(50)) if next(iter(b.values())).shape[1] == 96)
batch = ts.shard_batch(b, mesh)
key = jax.random.key(0)
fn = ts.jit_train_step(graphdef, tx, config, mesh, state)
t = time.time()
lowered = fn.lower(state, batch, key)
t1 = time.time()
compiled = lowered.compile()
t2 = time.time()
print(f"lower {t1-t:.1f}s compile {t2-t1:.1f}s")
s = state
for _ in range(3):
  s, m = compiled(s, batch, key)
jax.block_until_ready(m)
t = time.time()
for _ in range(15):
  s, m = compiled(s, batch, key)
jax.block_until_ready(m)
print(f"step {(time.time()-t)/15*1e3:.0f} ms at L=96")
