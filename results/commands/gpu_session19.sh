#!/usr/bin/env bash
# Session 19, call 1 (results under $OUT/s19a), one lease: the fast recipe's
# train step (30 steps) with train.skip_padding off and on, alternating, the
# second "on" profiled (its 150 longest kernels and the optimized HLO).
# Everything lands in /tmp/s19a and comes back as $OUT/s19a.tgz.
source results/commands/gpu_common.sh
R=/tmp/s19a
mkdir -p "$R"
FAST="configs/discrete_ec.py:recipe=fast --config.data.num_names=512"
bench() {  # NAME SKIP [extra flags]
  local name=$1 skip=$2; shift 2
  python3 -m experiments.benchmark --config=$FAST --config.train.skip_padding=$skip --steps=30 \
    --skip_rollout --output="$R/step_$name.json" "$@" > "$R/step_$name.log" 2>&1
  echo "$name: exit $? $(grep -o '"pipelined_step_s": [0-9.]*\|"step_s": [0-9.]*\|"mfu_model_pipelined": [0-9.]*\|"step_flops_model": [0-9.e+]*\|Kernels on the device: [0-9.]* ms' "$R/step_$name.log" | tr '\n' ' ')"
}
bench off1 False
bench on1 True
bench off2 False
bench on2 True --profile_dir=/tmp/prof_on --profile_top=150 --hlo=$R/step_on2.hlo
gzip -f $R/step_on2.hlo
tar czf $OUT/s19a.tgz -C $R .
