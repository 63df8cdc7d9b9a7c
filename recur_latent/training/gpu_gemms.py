"""Which library runs the GPU's matrix products: cuBLAS, for all of them, by default in the scripts.

XLA's GPU compiler writes some products as its own Triton GEMM fusions (a
product with the elementwise work around it in one kernel). For the fast
recipe's train step on the H200, turning those off (every product a cuBLAS
call, which then also takes the MLP's bias add as its epilogue) took the
pipelined step from 20.43 to 19.15 ms in one lease; Triton for every product
gave 20.42 (results/h200_session17/gemm_choice/). XLA reads its flags once,
when the backend starts, so `prefer_cublas` must run before the first
computation. An XLA_FLAGS that already sets the option wins. CPUs parse the
option and ignore it.
"""
import os

OPTION = "--xla_gpu_enable_triton_gemm"


def prefer_cublas(enabled: bool = True) -> str:
  """Adds `OPTION=false` to XLA_FLAGS unless disabled or already set; returns XLA_FLAGS."""
  flags = os.environ.get("XLA_FLAGS", "")
  if enabled and OPTION not in flags:
    flags = f"{flags} {OPTION}=false".strip()
    os.environ["XLA_FLAGS"] = flags
  return flags
