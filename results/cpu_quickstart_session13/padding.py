"""Session 13: the quickstart stream's padding with 2 sizes a batch (as before) and 1 (as now).

  python results/cpu_quickstart_session13/padding.py

Prints, over the first 400 batches of the training stream: the mean padded
length, the mean real length and the padding share, for data.size_chunks = 2
and 1 (the rest of configs/quickstart.py as shipped). A CPU step's dense work
scales with the padded tokens; the step time itself was not timed.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from configs import quickstart  # pylint: disable=wrong-import-position
from recur_latent.training import data_stream  # pylint: disable=wrong-import-position

for chunks in (2, 1):
  config = quickstart.get_config()
  config.data.size_chunks = chunks
  source = data_stream.BatchSource(config)
  padded, real = [], []
  for step in range(400):
    batch = source.batch(step)
    padded.append(batch["inputs_BLF"].shape[1])
    real.append(batch["length_B"].mean())
  print(f"size_chunks={chunks}: mean padded length {np.mean(padded):.1f}, "
        f"mean real length {np.mean(real):.1f}, padding {1 - np.mean(real) / np.mean(padded):.1%}")
