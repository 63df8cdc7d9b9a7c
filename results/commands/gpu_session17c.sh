#!/usr/bin/env bash
# Session 17, call 3 (measured slower, reverted in the next commit; the
# kernel change is kept as results/h200_session17/dq_both_halves/dq_both_halves.patch):
# the dq kernel writing both band halves' gradients
# (c2p by query, p2c by key) into zeroed aliased outputs, so XLA no longer
# slices a wide table nor skews the gradient back:
#   1. the fast recipe's train step, timed and profiled with every kernel;
#   2. the same step with XLA's cublasLt GEMMs (--xla_gpu_enable_cublaslt), to
#      see whether the MLP's bias add (0.48 ms a step) fuses into the GEMM;
#   3. the full method from scratch (fast recipe, seed 1) to 99.5% on 512
#      validation graphs at N = 128, then the 2,048 test graphs.
source results/commands/gpu_common.sh
R=${R:-$OUT/s17c}
mkdir -p "$R"
FAST="configs/discrete_ec.py:recipe=fast --config.data.num_names=512"
python3 -m experiments.benchmark --config=$FAST --steps=30 --skip_rollout --profile_dir=/tmp/prof \
  --profile_top=400 --output="$R/train_step.json" > "$R/train_step.log" 2>&1
grep -v "^[IW]1" "$R/train_step.log" | head -30
XLA_FLAGS=--xla_gpu_enable_cublaslt=true python3 -m experiments.benchmark --config=$FAST --steps=30 \
  --skip_rollout --profile_dir=/tmp/prof_lt --profile_top=400 --output="$R/train_step_cublaslt.json" \
  > "$R/train_step_cublaslt.log" 2>&1
grep -v "^[IW]1" "$R/train_step_cublaslt.log" | head -24
W=/tmp/full_s1c
python3 -m experiments.train --config=configs/discrete_ec.py:recipe=fast --workdir=$W --nofinal_eval \
  --config.data.num_names=512 --config.train.max_train_seconds=260 --config.train.log_every=50 \
  --config.train.checkpoint_every=1000 --config.eval.batch_size=256 --config.seed=1 > "$R/full_s1.log" 2>&1
python3 -m experiments.evaluate --workdir=$W --output=$W/eval --sizes=128 --num_graphs=2048 \
  --batch_size=64 --halting=fixed_point --suffix_chunks=8 > "$R/full_s1_eval.log" 2>&1
grep -h "training summary" "$R/full_s1.log" | cut -c1-400; grep "fixed_point |" "$R/full_s1_eval.log"
tar czf "$R/full_s1.tgz" --exclude=checkpoints --exclude=best --exclude=tensorboard -C /tmp full_s1c
ls -la "$R"
