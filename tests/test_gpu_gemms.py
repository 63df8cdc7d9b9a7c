"""The scripts' GEMM choice: XLA_FLAGS gets the option once, a user's own setting wins, XLA accepts it."""
import os
import subprocess
import sys

from recur_latent.training import gpu_gemms


def test_option_is_added_once_and_a_users_setting_wins(monkeypatch):
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
  flags = gpu_gemms.prefer_cublas()
  assert flags == "--xla_force_host_platform_device_count=8 --xla_gpu_enable_triton_gemm=false"
  assert os.environ["XLA_FLAGS"] == flags
  assert gpu_gemms.prefer_cublas() == flags  # Not added twice.
  monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_enable_triton_gemm=true")
  assert gpu_gemms.prefer_cublas() == "--xla_gpu_enable_triton_gemm=true"
  monkeypatch.delenv("XLA_FLAGS")
  assert gpu_gemms.prefer_cublas(enabled=False) == "" and "XLA_FLAGS" not in os.environ


def test_xla_starts_with_the_option():
  # An XLA_FLAGS entry the backend does not know aborts the process, so this is the check that matters.
  env = {**os.environ, "XLA_FLAGS": f"{gpu_gemms.OPTION}=false", "JAX_PLATFORMS": "cpu"}
  result = subprocess.run([sys.executable, "-c", "import jax.numpy as jnp; print(float(jnp.ones(3).sum()))"],
                          env=env, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0 and result.stdout.strip() == "3.0", result.stderr[-2000:]
