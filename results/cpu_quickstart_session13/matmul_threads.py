"""Session 13: how much a second thread adds to a large float32 matmul on this CPU.

  OMP_NUM_THREADS=T OPENBLAS_NUM_THREADS=T python results/cpu_quickstart_session13/matmul_threads.py

Prints GFLOP/s of a 2048 x 2048 matmul in numpy (mean of 10 after one warm-up).
"""
import os
import time

import numpy as np

a = np.random.rand(2048, 2048).astype(np.float32)
b = a.copy()
a @ b
start = time.time()
for _ in range(10):
  a @ b
seconds = (time.time() - start) / 10
print(os.environ.get("OMP_NUM_THREADS", "default"), "threads:", round(2 * 2048**3 / seconds / 1e9, 1), "GFLOP/s")
