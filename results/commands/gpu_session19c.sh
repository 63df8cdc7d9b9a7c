#!/usr/bin/env bash
# Session 19, call 3 (lease 2): the fast recipe's train step (30 steps, skip_padding on) as the
# tree compiles it, then under XLA flags that let XLA's Triton GEMMs take the dense layers (where
# an elementwise producer or consumer, the ReLU and its backward's select, could fuse into the
# GEMM), then the tree again. Everything in /tmp/s19c, returned as $OUT/s19c.tgz.
# As run it tested nothing: experiments.benchmark also adds --xla_gpu_enable_triton_gemm=false
# (training/gpu_gemms.py) when XLA_FLAGS does not set that option, so Triton GEMMs stayed off;
# a real test needs --nocublas_gemms too.
source results/commands/gpu_common.sh
R=/tmp/s19c
mkdir -p "$R"
FAST="configs/discrete_ec.py:recipe=fast --config.data.num_names=512"
bench() {  # NAME XLA_FLAGS
  local name=$1
  XLA_FLAGS="$2" python3 -m experiments.benchmark --config=$FAST --steps=30 --skip_rollout \
    --output="$R/step_$name.json" > "$R/step_$name.log" 2>&1
  echo "$name: exit $? $(grep -o '"pipelined_step_s": [0-9.]*\|"step_s": [0-9.]*\|"mfu_model_pipelined": [0-9.]*' "$R/step_$name.log" | tr '\n' ' ')"
}
bench tree1 ""
bench nofallback "--xla_gpu_cublas_fallback=false"
bench gemmany "--xla_gpu_triton_gemm_any=true"
bench tree2 ""
tar czf $OUT/s19c.tgz -C $R .
