"""Test-wide setup: faster CPU compiles.

The suite compiles dozens of small programs on a 2-core machine; LLVM's
backend optimizations cost more time than they save at these sizes (a tiny
train step compiles ~2x faster at level 0 and runs at the same speed).
Must run before JAX is imported.

Many tests also compile the same programs again (every `loop.train` of the
tiny config builds a fresh jitted step): a persistent compilation cache in a
temporary directory, shared by the suite's processes, compiles each once.
"""
import os
import tempfile

_FAST_COMPILE = "--xla_backend_optimization_level=0"
if _FAST_COMPILE not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FAST_COMPILE).strip()

# Through the environment, so that the training subprocesses of the
# preemption test share the cache too.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), "recur_latent_test_xla_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.05")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
