#!/usr/bin/env bash
# What ran on the H200 in session 15, call by call (each through the device
# tool, carrying .whl/; `source results/commands/gpu_common.sh` installs the
# wheels and sets JAX up). Results: results/h200_session15/.
#
# Lease 1, the tree at b08e3b6 (flash v1: two band tables, c2p and p2c):
#  call 1: the plan, in the background; the machine was released 31+ s after
#    this call (no call followed in time), so only phase A's attention
#    timings and the flash train step's benchmark came back (the partial tgz).
#      COMMIT=b08e3b6 TOTAL=1300 setsid nohup bash results/commands/gpu_session15.sh \
#        > runs/s15_plan.out 2>&1 < /dev/null &
#  call 2 (a fresh machine: nothing running; wasted).
#  call 3: the rollout of the shipped model, flash / fused / flash:
B="configs/discrete_ec.py:recipe=fast --config.data.num_names=512 --skip_train_step --eval_sizes=128 --eval_graphs=2048 --eval_batch=64 --halting=fixed_point --suffix_chunks=8 --checkpoint=default"
call3() { for s in flash fused flash; do python3 -m experiments.benchmark --config=$B --relative_scores=$s --output=$OUT/roll_$s.json; done; }
#  call 4: the flash rollout in batches of 128 and 32:
call4() { for b in 128 32; do python3 -m experiments.benchmark --config="${B/--eval_batch=64/}" --relative_scores=flash --eval_batch=$b --output=$OUT/roll_flash_b$b.json; done; }
#  calls 5 and 6: the full method with flash from scratch to 99.5% at N = 128 (seed 1, then 0),
#  then 2,048 test graphs at N = 128:
full() {  # SEED BUDGET_S
  local W=/tmp/full_flash_s$1
  python3 -m experiments.train --config=configs/discrete_ec.py:recipe=fast --workdir=$W --nofinal_eval \
    --config.model.relative_scores=flash --config.data.num_names=512 --config.train.max_train_seconds=$2 \
    --config.train.val_sizes="(128,)" --config.train.target_accuracy=0.995 --config.train.log_every=50 \
    --config.train.checkpoint_every=1000 --config.eval.batch_size=256 --config.seed=$1
  python3 -m experiments.evaluate --workdir=$W --output=$W/eval --sizes=128 --num_graphs=2048 \
    --batch_size=64 --halting=fixed_point --suffix_chunks=8
}
#      full 1 300; full 0 260
#  call 7: the train step, fused then flash, without the persistent compile cache:
call7() {
  export JAX_COMPILATION_CACHE_DIR=/tmp/nocache_$$
  for s in fused flash; do python3 -m experiments.benchmark --config=configs/discrete_ec.py:recipe=fast \
    --config.data.num_names=512 --steps=20 --skip_rollout --config.model.relative_scores=$s \
    --output=$OUT/train_$s.json; done
}
# Lease 2, the tree at 25467c6 (flash v2: one band table per query):
call8() {
  python3 -m experiments.benchmark_attention --batch=256 --queries=256 --repeats=20 --paths=fused,flash \
    --flash_tiles=64x64,64x32 --output=$OUT/attention_train_v2.json
  python3 -m experiments.benchmark --config=configs/discrete_ec.py:recipe=fast --config.data.num_names=512 \
    --steps=20 --skip_rollout --config.model.relative_scores=flash --profile_dir=/tmp/prof \
    --output=$OUT/train_flash_v2.json
  python3 -m experiments.benchmark --config="$B" --relative_scores=flash --output=$OUT/roll_flash_v2.json
}
