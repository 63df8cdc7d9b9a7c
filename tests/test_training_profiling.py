"""The profiler breakdown of the train step (experiments.benchmark --profile_dir)."""
import gzip
import json

from configs import discrete_ec as discrete_ec_config
from recur_latent.training import profiling
from recur_latent.training import throughput


def test_kernel_table_sums_device_events_per_name_and_per_call(tmp_path):
  meta = [{"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "/device:GPU:0"}},
          {"ph": "M", "name": "process_name", "pid": 2, "args": {"name": "/host:CPU"}}]
  events = meta + [
      {"ph": "X", "pid": 1, "tid": 7, "name": "fusion_softmax", "ts": 0.0, "dur": 300.0},
      {"ph": "X", "pid": 1, "tid": 7, "name": "fusion_softmax", "ts": 400.0, "dur": 300.0},
      {"ph": "X", "pid": 1, "tid": 8, "name": "gemm", "ts": 0.0, "dur": 200.0},
      # A wrapper around the second softmax: only its own 50 us count.
      {"ph": "X", "pid": 1, "tid": 7, "name": "while", "ts": 380.0, "dur": 350.0},
      {"ph": "X", "pid": 2, "tid": 9, "name": "python work", "ts": 0.0, "dur": 5000.0}]  # Host: ignored.
  path = tmp_path / "perfetto_trace.json.gz"
  with gzip.open(path, "wt") as f:
    json.dump({"traceEvents": events}, f)
  table = profiling.kernel_table(str(path), calls=2)
  assert table["timeline"] == "device"
  assert table["total_ms_per_call"] == 0.425  # (300 + 300 + 200 + 50) us over 2 calls.
  assert [r["name"] for r in table["rows"]] == ["fusion_softmax", "gemm", "while"]
  assert table["rows"][0]["ms_per_call"] == 0.3 and table["rows"][0]["count_per_call"] == 1.0
  assert abs(table["rows"][0]["share"] - 600 / 850) < 1e-9
  assert "| `gemm` | 0.100 | 0.5 | 23.5% |" in profiling.format_table(table)
  # Busy is the union [0, 300] + [380, 730] us; the span is 730 us; one idle gap of 80 us.
  assert table["busy_ms_per_call"] == 0.325 and table["span_ms_per_call"] == 0.365
  assert table["gaps"] == [{"ms": 0.08, "after": "fusion_softmax", "before": "while"}]
  assert "idle 0.080 ms after `fusion_softmax`, before `while`" in profiling.format_table(table)


def test_benchmark_profiles_the_real_train_step_on_the_cpu(tmp_path):
  config = discrete_ec_config.get_config("size=tiny")
  out = throughput.benchmark_train_step(config, steps=2, profile_dir=str(tmp_path), profile_steps=2)
  profile = out["profile"]
  assert profile["timeline"] == "cpu runtime threads"
  assert profile["rows"] and profile["total_ms_per_call"] > 0
  # The kernels of one step cannot take longer than the traced steps' wall-clock allows.
  assert profile["total_ms_per_call"] < 50 * out["step_s"] * 1e3
  assert 0 < profile["busy_ms_per_call"] <= profile["span_ms_per_call"]
