"""Test-wide setup: faster CPU compiles.

The suite compiles dozens of small programs on a 2-core machine; LLVM's
backend optimizations cost more time than they save at these sizes (a tiny
train step compiles ~2x faster at level 0 and runs at the same speed).
Must run before JAX is imported.
"""
import os

_FAST_COMPILE = "--xla_backend_optimization_level=0"
if _FAST_COMPILE not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FAST_COMPILE).strip()
