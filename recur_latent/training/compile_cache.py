"""JAX's persistent compilation cache, so that a re-run skips XLA's compiles.

The quickstart compiles its train step once per padded length (5 lengths,
~10-20 s each on a 2-core CPU, more than a tenth of its budget); with the
cache a second run loads them instead (results/cpu_quickstart_session14/).
"""
import os

import jax

ENV_VAR = "JAX_COMPILATION_CACHE_DIR"
DEFAULT_DIR = os.path.join(os.path.expanduser("~"), ".cache", "recur_latent", "jax")


def enable(directory: str) -> str | None:
  """Caches compiled executables under `directory`; returns the directory in use.

  An empty `directory` leaves JAX's own setting alone, and so does a
  JAX_COMPILATION_CACHE_DIR in the environment (it wins over any default).
  Call it before the first compile: JAX sets its cache up only once.
  """
  if directory and not os.environ.get(ENV_VAR):
    os.makedirs(directory, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", directory)
  return jax.config.jax_compilation_cache_dir or None
