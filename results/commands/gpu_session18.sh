#!/usr/bin/env bash
# Session 18, call 1 (results under $OUT/s18a):
#   attn_*.json  experiments.benchmark_attention at the training shape (B 256,
#                L 256, 16 heads of 24, W 64, bf16): flash tiles, warps, stages
#                and both backwards; then heads of 32 (what the model now feeds).
#   step_*.json  the fast recipe's train step (30 steps, pipelined and waited-on):
#                new        the tree (ex2 scores, fused backward, head dim padded
#                           in the projections), profiled, with its HLO;
#                split      the same with the two-kernel backward;
#                nopad      the same with the head-dim padding left to the kernel call.
source results/commands/gpu_common.sh
R=${R:-$OUT/s18a}
mkdir -p "$R"
TILES=64x64,64x64:split,64x64x8,64x64x4x1,64x64x4x3,32x32,64x32,32x64,128x64x8,64x128x8,128x128x8,32x32x2
python3 -m experiments.benchmark_attention --paths=flash --flash_tiles=$TILES --repeats=20 \
  --output=$R/attn_d24.json > $R/attn_d24.log 2>&1; tail -16 $R/attn_d24.log
python3 -m experiments.benchmark_attention --paths=flash --flash_tiles=64x64,64x64:split --head_dim=32 \
  --repeats=20 --output=$R/attn_d32.json > $R/attn_d32.log 2>&1; tail -4 $R/attn_d32.log
FAST="configs/discrete_ec.py:recipe=fast --config.data.num_names=512"
bench() {  # NAME [extra flags]
  local name=$1; shift
  python3 -m experiments.benchmark --config=$FAST --steps=30 --skip_rollout --output="$R/step_$name.json" \
    "$@" > "$R/step_$name.log" 2>&1
  echo "$name: exit $? $(grep -o '"pipelined_step_s": [0-9.]*\|"step_s": [0-9.]*\|"peak_bytes": [0-9.e+]*\|Kernels on the device: [0-9.]* ms' "$R/step_$name.log" | tr '\n' ' ')"
}
bench new --profile_dir=/tmp/prof_new --profile_top=120 --hlo=$R/step_new.hlo
gzip -f $R/step_new.hlo
cp recur_latent/models/flash_relative.py /tmp/fr.py
sed -i 's/backward: str = "fused"/backward: str = "split"/' recur_latent/models/flash_relative.py
bench split
cp /tmp/fr.py recur_latent/models/flash_relative.py
cp recur_latent/models/attention.py /tmp/attn.py
sed -i 's/if position == "relative" and relative_scores == "flash"/if False/' recur_latent/models/attention.py
bench nopad
cp /tmp/attn.py recur_latent/models/attention.py
cd $R && tar czf ../s18a.tgz . && cd - >/dev/null
