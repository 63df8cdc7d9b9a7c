"""The profiler breakdown of the train step (experiments.benchmark --profile_dir)."""
import gzip
import json

import jax
import pytest
from flax import nnx

from configs import discrete_ec as discrete_ec_config
from recur_latent.models import factory
from recur_latent.training import data_stream
from recur_latent.training import profiling
from recur_latent.training import throughput
from recur_latent.training import train_step as train_step_lib


def _write_trace(path, events):
  with gzip.open(path, "wt") as f:
    json.dump({"traceEvents": events}, f)
  return str(path)


def test_kernel_table_sums_gpu_kernels_per_name_and_per_call(tmp_path):
  meta = [{"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "/device:GPU:0"}},
          {"ph": "M", "name": "process_name", "pid": 2, "args": {"name": "/host:CPU"}}]
  events = meta + [
      {"ph": "X", "pid": 1, "tid": 7, "name": "fusion_softmax", "ts": 0.0, "dur": 300.0},
      {"ph": "X", "pid": 1, "tid": 7, "name": "fusion_softmax", "ts": 400.0, "dur": 300.0},
      {"ph": "X", "pid": 1, "tid": 8, "name": "gemm", "ts": 0.0, "dur": 200.0},
      # CUDA-graph nodes overlap on one stream: each kernel counts in full.
      {"ph": "X", "pid": 1, "tid": 7, "name": "gemm", "ts": 650.0, "dur": 80.0},
      {"ph": "X", "pid": 2, "tid": 9, "name": "python work", "ts": 0.0, "dur": 5000.0}]  # Host: ignored.
  table = profiling.kernel_table(_write_trace(tmp_path / "perfetto_trace.json.gz", events), calls=2)
  assert table["timeline"] == "device"
  assert table["total_ms_per_call"] == 0.44  # (300 + 300 + 200 + 80) us over 2 calls.
  assert [r["name"] for r in table["rows"]] == ["fusion_softmax", "gemm"]
  assert table["rows"][0]["ms_per_call"] == 0.3 and table["rows"][0]["count_per_call"] == 1.0
  assert abs(table["rows"][1]["share"] - 280 / 880) < 1e-9
  assert "| `gemm` | 0.140 | 1.0 | 31.8% |" in profiling.format_table(table)
  # Busy is the union [0, 300] + [400, 730] us; the span is 730 us; one idle gap of 100 us.
  assert table["busy_ms_per_call"] == 0.315 and table["span_ms_per_call"] == 0.365
  assert table["gaps"] == [{"ms": 0.1, "after": "fusion_softmax", "before": "fusion_softmax"}]
  assert "idle 0.100 ms after `fusion_softmax`, before `fusion_softmax`" in profiling.format_table(table)


def test_kernel_table_counts_self_time_on_cpu_runtime_threads(tmp_path):
  meta = [{"ph": "M", "name": "process_name", "pid": 2, "args": {"name": "/host:CPU"}},
          {"ph": "M", "name": "thread_name", "pid": 2, "tid": 3, "args": {"name": "tf_XLAEigen/1"}}]
  events = meta + [
      {"ph": "X", "pid": 2, "tid": 3, "name": "while", "ts": 0.0, "dur": 500.0},
      {"ph": "X", "pid": 2, "tid": 3, "name": "dot", "ts": 100.0, "dur": 300.0}]  # Nested in the loop.
  table = profiling.kernel_table(_write_trace(tmp_path / "perfetto_trace.json.gz", events))
  assert table["timeline"] == "cpu runtime threads"
  assert {r["name"]: r["ms_per_call"] for r in table["rows"]} == {"dot": 0.3, "while": 0.2}
  assert table["total_ms_per_call"] == 0.5


def test_benchmark_profiles_the_real_train_step_on_the_cpu(tmp_path):
  config = discrete_ec_config.get_config("size=tiny")
  hlo = tmp_path / "step.hlo"
  out = throughput.benchmark_train_step(config, steps=2, profile_dir=str(tmp_path), profile_steps=2,
                                        profile_top=7, hlo_path=str(hlo), peak_flops=1e12)
  profile = out["profile"]
  assert profile["timeline"] == "cpu runtime threads"
  assert 0 < len(profile["rows"]) <= 7 and profile["total_ms_per_call"] > 0
  # The optimized HLO of the very step that was timed: its entry takes the state, batch and key.
  assert hlo.read_text().startswith("HloModule") and "ENTRY" in hlo.read_text()
  assert out["pipelined_step_s"] > 0
  assert out["graphs_per_s_pipelined"] == pytest.approx(config.train.batch_size / out["pipelined_step_s"])
  assert out["mfu_model_pipelined"] == pytest.approx(
      out["step_flops_model"] / out["pipelined_step_s"] / 1e12)
  # The kernels of one step cannot take longer than the traced steps' wall-clock allows.
  assert profile["total_ms_per_call"] < 50 * out["step_s"] * 1e3
  assert 0 < profile["busy_ms_per_call"] <= profile["span_ms_per_call"]


@pytest.mark.parametrize("overrides", [{}, {"iterations": "all", "train_iters": 2}])
def test_model_flops_match_the_cpu_compilers_count_of_the_step(overrides):
  # The CPU compiler counts every dot (the GPU's leaves out cuBLAS / cuDNN calls).
  # With d = 256 the transformer's matmuls dominate, so the two counts agree
  # up to the heads and elementwise work the model count leaves out.
  config = discrete_ec_config.get_config("size=tiny")
  config.model.d_model, config.model.num_heads, config.model.dropout = 256, 4, 0.0
  for k, v in overrides.items():
    config.train[k] = v
  mesh = train_step_lib.make_mesh(1)
  model = factory.build_model(config, nnx.Rngs(0))
  graphdef, tx, state = train_step_lib.init_state(model, config.train)
  batch_np = data_stream.BatchSource(config).batch(0)
  step = train_step_lib.jit_train_step(graphdef, tx, config, mesh, state)
  compiled = step.lower(state, train_step_lib.shard_batch(batch_np, mesh), jax.random.key(0)).compile()
  xla = throughput.compiled_flops(compiled)
  model_count = throughput.model_flops_per_step(
      config, config.train.batch_size, throughput.padded_length(batch_np))
  assert 0.75 * xla <= model_count <= 1.05 * xla, (model_count, xla)


def test_block_applications_count_every_iteration_that_is_trained():
  config = discrete_ec_config.get_config("size=tiny")
  assert throughput.block_applications(config) == 1
  config.train.iterations, config.train.train_iters = "all", 5
  assert throughput.block_applications(config) == 5
  config.train.iterations, config.train.rollout = "sample", True
  assert throughput.block_applications(config) == 5
