#!/usr/bin/env bash
# Session 17, call 4, one lease (results under $OUT/s17d), the fast recipe's
# train step through experiments.benchmark (30 steps):
#   base      the tree as committed (c5c7a55: 9121de0's kernels);
#   exact     the dq kernel storing the band's gradient at exactly the band's
#             width (masked stores into a zeroed aliased output) instead of a
#             table twice as wide with spare columns (dband_exact.patch; the
#             variant file travels untracked and is swapped in for this run);
#   nocublas  base with --xla_gpu_enable_triton_gemm=false (XLA's own GEMM
#             fusions off: cuBLAS for every product);
#   tritonall base with --xla_gpu_triton_gemm_any=true (Triton for every product).
source results/commands/gpu_common.sh
R=${R:-$OUT/s17d}
mkdir -p "$R"
FAST="configs/discrete_ec.py:recipe=fast --config.data.num_names=512"
bench() {  # NAME [extra flags]
  local name=$1; shift
  python3 -m experiments.benchmark --config=$FAST --steps=30 --skip_rollout --profile_dir=/tmp/prof_$name \
    --profile_top=400 --output="$R/$name.json" "$@" > "$R/$name.log" 2>&1
  echo "$name: exit $? $(grep -o '"pipelined_step_s": [0-9.]*\|"step_s": [0-9.]*\|Kernels on the device: [0-9.]* ms' "$R/$name.log" | tr '\n' ' ')"
}
bench base
cp recur_latent/models/flash_relative.py /tmp/flash_base.py
cp results/h200_session17/dband_exact/flash_relative_variant.py recur_latent/models/flash_relative.py
bench exact
cp /tmp/flash_base.py recur_latent/models/flash_relative.py
XLA_FLAGS=--xla_gpu_enable_triton_gemm=false bench nocublas
XLA_FLAGS=--xla_gpu_triton_gemm_any=true bench tritonall
bench base2

# Call 5, the same lease right after: both changes together (the variant file
# swapped in, every product through cuBLAS), timed, then the full method from
# scratch (seed 1) and its 2,048 test graphs at N = 128 (results in dband_exact/):
#   source results/commands/gpu_common.sh; R=$OUT/s17e; mkdir -p $R
#   cp results/h200_session17/dband_exact/flash_relative_variant.py recur_latent/models/flash_relative.py
#   export XLA_FLAGS=--xla_gpu_enable_triton_gemm=false
#   python3 -m experiments.benchmark --config=$FAST --steps=30 --skip_rollout --output=$R/exact_nocublas.json
#   W=/tmp/full_s1e; python3 -m experiments.train --config=configs/discrete_ec.py:recipe=fast --workdir=$W \
#     --nofinal_eval --config.data.num_names=512 --config.train.max_train_seconds=150 --config.train.log_every=50 \
#     --config.train.checkpoint_every=1000 --config.eval.batch_size=256 --config.seed=1
#   python3 -m experiments.evaluate --workdir=$W --output=$W/eval --sizes=128 --num_graphs=2048 \
#     --batch_size=64 --halting=fixed_point --suffix_chunks=8
# The variant file is what a181662 committed as recur_latent/models/flash_relative.py
# (its diff against c5c7a55: dband_exact/dband_exact.patch).
