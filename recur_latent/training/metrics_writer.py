"""Where training metrics go: JSON lines, TensorBoard events and the console.

One JSON object per logged step in `<workdir>/metrics.jsonl` (greppable, no
dependencies to read it) and the same scalars as TensorBoard events in
`<workdir>/tensorboard`.
"""
import json
import os
import time

import numpy as np


def _to_python(value):
  if isinstance(value, (np.ndarray, np.generic)):
    return value.item() if np.ndim(value) == 0 else np.asarray(value).tolist()
  if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
    return value.item()
  return value


class MetricsWriter:
  """Appends metrics; reopening a workdir continues the same files."""

  def __init__(self, workdir, *, tensorboard=True):
    os.makedirs(workdir, exist_ok=True)
    self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")
    self._tb = None
    if tensorboard:
      from tensorboardX import SummaryWriter  # Heavy import, only when wanted.
      self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

  def write(self, step, metrics):
    record = {"step": int(step)}
    record.update({k: _to_python(v) for k, v in metrics.items()})
    self._jsonl.write(json.dumps(record) + "\n")
    self._jsonl.flush()
    if self._tb is not None:
      for key, value in record.items():
        if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
          self._tb.add_scalar(key, value, int(step))

  def close(self):
    self._jsonl.close()
    if self._tb is not None:
      self._tb.close()


def read_metrics(workdir):
  """All metric records of a run, in order."""
  return read_metrics_file(os.path.join(workdir, "metrics.jsonl"))


def read_metrics_file(path):
  """All records of a metrics.jsonl file, in order."""
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def first_step_reaching(records, metric, threshold):
  """The first logged step whose `metric` is >= threshold (e.g. steps to 95% validation), or None."""
  return next((r["step"] for r in records if r.get(metric, float("-inf")) >= threshold), None)


class Progress:
  """Console progress: step, steps/s, graphs/s and ETA."""

  def __init__(self, start_step, num_steps, batch_size):
    self.num_steps = num_steps
    self.batch_size = batch_size
    self._t0 = time.time()
    self._last_time, self._last_step = self._t0, start_step

  def line(self, step, metrics):
    now = time.time()
    rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
    self._last_time, self._last_step = now, step
    eta = (self.num_steps - step) / max(rate, 1e-9)
    shown = " ".join(f"{k}={v:.4g}" for k, v in metrics.items()
                     if isinstance(v, float))
    return (f"step {step}/{self.num_steps} | {rate:.2f} steps/s "
            f"{rate * self.batch_size:.0f} graphs/s | ETA {_hms(eta)} | {shown}")

  @property
  def elapsed(self):
    return time.time() - self._t0


def _hms(seconds):
  seconds = int(seconds)
  return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
