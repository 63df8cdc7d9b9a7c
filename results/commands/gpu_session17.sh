#!/usr/bin/env bash
# Session 17, call 2 (one device call, results under $OUT): the tree with the
# factor embeddings' matmul backward (models/factor_embedding.py) and the band
# table batched over (batch, head) in bf16 (flash_relative.band_table):
#   1. the fast recipe's train step, timed and profiled with every kernel, and
#      its optimized HLO;
#   2. the rollout of the shipped model, 2,048 graphs at N = 128 (fixed point,
#      8 suffix chunks, batches of 64) on 'flash';
#   3. the full method from scratch with the fast recipe (flash), seed 1, to
#      99.5% on 512 validation graphs at N = 128, then the 2,048 test graphs.
source results/commands/gpu_common.sh
R=${R:-$OUT/s17}
mkdir -p "$R"
FAST="configs/discrete_ec.py:recipe=fast --config.data.num_names=512"
python3 -m experiments.benchmark --config=$FAST --steps=30 --skip_rollout --profile_dir=/tmp/prof \
  --profile_top=400 --hlo="$R/train_step.hlo" --output="$R/train_step.json" > "$R/train_step.log" 2>&1
grep -v "^[IW]1" "$R/train_step.log" | head -32
gzip -f "$R/train_step.hlo"
python3 -m experiments.benchmark --config=$FAST --skip_train_step --eval_sizes=128 --eval_graphs=2048 \
  --eval_batch=64 --halting=fixed_point --suffix_chunks=8 --checkpoint=default --relative_scores=flash \
  --output="$R/rollout.json" > "$R/rollout.log" 2>&1
tail -2 "$R/rollout.log"
full() {  # SEED BUDGET_S
  local W=/tmp/full_s$1
  python3 -m experiments.train --config=configs/discrete_ec.py:recipe=fast --workdir=$W --nofinal_eval \
    --config.data.num_names=512 --config.train.max_train_seconds=$2 \
    --config.train.log_every=50 --config.train.checkpoint_every=1000 --config.eval.batch_size=256 \
    --config.seed=$1 > "$R/full_s$1.log" 2>&1
  python3 -m experiments.evaluate --workdir=$W --output=$W/eval --sizes=128 --num_graphs=2048 \
    --batch_size=64 --halting=fixed_point --suffix_chunks=8 > "$R/full_s$1_eval.log" 2>&1
  mkdir -p "$R/full_s$1"; cp -r $W/eval $W/metrics* $W/*.json "$R/full_s$1/" 2>/dev/null
  grep -h "time_to_target\|stopped\|val" "$R/full_s$1.log" | tail -4; tail -3 "$R/full_s$1_eval.log"
}
full 1 280
ls -la "$R"

# Call 2b, the same lease right after (seeds 0 and 2 of the same run; the
# persistent compile cache of seed 1's run was warm):
#   source results/commands/gpu_common.sh; R=$OUT/s17b; mkdir -p $R
#   for s in 0 2; do W=/tmp/full_s$s
#     python3 -m experiments.train --config=configs/discrete_ec.py:recipe=fast --workdir=$W --nofinal_eval \
#       --config.data.num_names=512 --config.train.max_train_seconds=230 --config.train.log_every=50 \
#       --config.train.checkpoint_every=1000 --config.eval.batch_size=256 --config.seed=$s > $R/full_s$s.log 2>&1
#     python3 -m experiments.evaluate --workdir=$W --output=$W/eval --sizes=128 --num_graphs=2048 \
#       --batch_size=64 --halting=fixed_point --suffix_chunks=8 > $R/full_s${s}_eval.log 2>&1
#   done
