"""The persistent compilation cache: where it writes, and who wins."""
import os
import subprocess
import sys

from recur_latent.training import compile_cache

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A fresh process: JAX sets its cache up once per process, at the first compile.
_COMPILE = """
import sys, jax
from recur_latent.training import compile_cache
print("in use:", compile_cache.enable(sys.argv[1]))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # Cache even this tiny jit.
print(jax.jit(lambda x: x * 2 + 1)(3.0))
"""


def _run(directory, env_dir=None):
  env = {k: v for k, v in os.environ.items() if k != compile_cache.ENV_VAR}
  if env_dir:
    env[compile_cache.ENV_VAR] = env_dir
  result = subprocess.run([sys.executable, "-c", _COMPILE, directory], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=True)
  return result.stdout


def test_compiles_are_written_to_the_given_directory(tmp_path):
  cache = str(tmp_path / "cache")
  out = _run(cache)
  assert f"in use: {cache}" in out and "7.0" in out
  assert os.listdir(cache), "no compiled executable was written"


def test_the_environment_variable_wins_and_empty_turns_it_off(tmp_path):
  env_cache, flag_cache = str(tmp_path / "env"), str(tmp_path / "flag")
  out = _run(flag_cache, env_dir=env_cache)
  assert f"in use: {env_cache}" in out
  assert not os.path.exists(flag_cache) and os.listdir(env_cache)
  assert "in use: None" in _run("")
