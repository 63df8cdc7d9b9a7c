"""The profiler breakdown of the train step (experiments.benchmark --profile_dir)."""
import gzip
import json

import jax
import numpy as np
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
  # Most of the step's time is in kernels that the HLO names, with the JAX operations they came from.
  named = [r for r in profile["rows"] if r.get("sources")]
  assert named and all(isinstance(src, str) and not src.startswith("jit(train_step)")
                       for r in named for src in r["sources"])
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


def test_skipped_padding_takes_the_padded_queries_attention_out_of_the_count():
  config = discrete_ec_config.get_config("size=tiny")
  d, layers, length = config.model.d_model, config.model.num_layers, 64
  lengths_B = np.array([64, 32, 16, 0])
  padded = throughput.model_flops_per_step(config, 4, length, lengths_B)
  assert padded == throughput.model_flops_per_step(config, 4, length)  # Lengths need the switch.
  config.train.skip_padding = True
  skipped = throughput.model_flops_per_step(config, 4, length, lengths_B)
  # 3 x 4 d per (query, key) pair of every layer: rows of 64, 32, 16 and 0 against 4 of 64.
  assert padded - skipped == 3 * 4 * d * layers * (4 * 64 ** 2 - (64 ** 2 + 32 ** 2 + 16 ** 2))


def test_the_real_token_count_is_the_padded_count_of_full_rows_and_drops_padding():
  config = discrete_ec_config.get_config("size=tiny")
  d, r, layers = config.model.d_model, config.model.mlp_ratio, config.model.num_layers
  full = throughput.model_flops_real_tokens(config, np.full(4, 64))
  assert full == throughput.model_flops_per_step(config, 4, 64)
  lengths_B = np.array([64, 32, 16, 0])
  tokens, pairs = 64 + 32 + 16, 64 ** 2 + 32 ** 2 + 16 ** 2
  want = 3 * layers * (2 * (4 + 2 * r) * d * d * tokens + 4 * d * pairs)
  assert throughput.model_flops_real_tokens(config, lengths_B) == want
  # A sample of 4 rows stands for a batch of 8.
  assert throughput.model_flops_real_tokens(config, lengths_B, batch_size=8) == 2 * want


def test_block_applications_count_every_iteration_that_is_trained():
  config = discrete_ec_config.get_config("size=tiny")
  assert throughput.block_applications(config) == 1
  config.train.iterations, config.train.train_iters = "all", 5
  assert throughput.block_applications(config) == 5
  config.train.iterations, config.train.rollout = "sample", True
  assert throughput.block_applications(config) == 5


_HLO = """HloModule jit_step

%fused_add (param_0: f32[4], param_1: f32[4]) -> f32[4] {
  %param_0 = f32[4]{0} parameter(0)
  %param_1 = f32[4]{0} parameter(1)
  %mul.1 = f32[4]{0} multiply(%param_0, %param_1), metadata={op_name="jit(step)/jvp(layer)/mul"}
  ROOT %add.2 = f32[4]{0} add(%mul.1, %param_1), metadata={op_name="jit(step)/jvp(layer)/add"}
  %add.3 = f32[4]{0} add(%add.2, %param_1), metadata={op_name="jit(step)/jvp(layer)/add"}
}

ENTRY %main (a: f32[4], b: f32[4]) -> f32[4] {
  %a = f32[4]{0} parameter(0)
  %b = f32[4]{0} parameter(1)
  ROOT %loop_add_fusion.16 = f32[4]{0} fusion(%a, %b), kind=kLoop, calls=%fused_add
  %copy.7 = f32[4]{0} copy(%a), metadata={op_name="jit(step)/copy_p"}
}
"""


def test_kernels_are_named_by_the_operations_of_their_fused_computation(tmp_path):
  sources = profiling.fusion_sources(_HLO)
  # The fusion's own line has no metadata: its computation's op_names count, most frequent first.
  assert sources["loop_add_fusion.16"] == ["jvp(layer)/add", "jvp(layer)/mul"]
  assert sources["copy.7"] == ["copy_p"]
  meta = [{"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "/device:GPU:0"}}]
  events = meta + [{"ph": "X", "pid": 1, "tid": 1, "name": "loop_add_fusion_16", "ts": 0.0, "dur": 40.0},
                   {"ph": "X", "pid": 1, "tid": 1, "name": "my_kernel", "ts": 50.0, "dur": 10.0}]
  table = profiling.kernel_table(_write_trace(tmp_path / "perfetto_trace.json.gz", events), hlo_text=_HLO)
  by_name = {r["name"]: r["sources"] for r in table["rows"]}
  # A GPU kernel drops the dot of the instruction's number; a custom kernel has no fusion.
  assert by_name == {"loop_add_fusion_16": ["jvp(layer)/add", "jvp(layer)/mul"], "my_kernel": []}
  assert "`jvp(layer)/add`; `jvp(layer)/mul`" in profiling.format_table(table)
