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

import jax  # noqa: E402  (after XLA_FLAGS)

_CACHE_DIR = os.environ.get("RECUR_LATENT_TEST_CACHE",
                            os.path.join(tempfile.gettempdir(), "recur_latent_test_xla_cache"))
jax.config.update("jax_compilation_cache_dir", _CACHE_DIR)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
