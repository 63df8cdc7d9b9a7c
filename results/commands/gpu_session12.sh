#!/usr/bin/env bash
# The lease of session 12 on one H200 (started in the background; later
# calls read runs/s12/plan.log):
#   on the host CPU from the start (JAX_PLATFORMS=cpu, 2 cores each, cores
#   4-15): the quickstart with a moving average of its weights
#   (train.ema_decay), validated at 2x from the start instead of only once
#   the decay has begun, seeds 0-5 at each of QS_EMAS in turn, no wall-clock
#   budget, at most QS_STEPS steps: steps to 32 of 32 against session 10's
#   six shipped seeds (1,100-1,900 steps, and 4,400 for seed 0);
#   phase 1, alone on the GPU (host cores 0-3):
#     the fused train step with a profile (where its 34 ms go), then the
#     rollout of 2,048 graphs at N = 128 (shipped model, fused, fixed point,
#     8 suffix chunks) in batches of 128 and of 64 (session 11: 3.89 s at
#     256, 4.12 s at 512: smaller batches end closer to their own deepest
#     graph and share a later first changed chunk);
#     the full method from scratch, recipe=fast, seed 1 (session 11's 155 s
#     was seed 0), until 99.5% at N = 128 (512 graphs), at most FULL_BUDGET s;
#     then its test on 2,048 graphs at N = 8..128 beside phase 2;
#   phase 2, until the deadline: methods 4, 2 and 3 with session 10's
#     commands plus a weight average (train.ema_decay = 0.998), side by side
#     as in session 10, then their tests;
#   phase 3: everything small packed into runs/s12_results.tgz.
# Run as: COMMIT=<sha> TOTAL=1500 setsid nohup bash results/commands/gpu_session12.sh \
#   > runs/s12_plan.out 2>&1 < /dev/null &   (carry .whl with ml-collections and tensorboardX)
# SMOKE=1 runs the same plan with tiny configs (two quickstart seeds) on a 2-core CPU.
source results/commands/snapshot.sh
run_from_snapshot s12 results/commands/gpu_session12.sh
source results/commands/gpu_common.sh
T0=$(date +%s)
R=${R:-runs/s12}
mkdir -p "$R"
if [ "${SMOKE:-0}" = 1 ]; then
  TOTAL=${TOTAL:-900}; VC=":size=tiny"; FAST="configs/discrete_ec.py:recipe=fast,size=tiny"
  NAMES=48; FULL_BUDGET=20; VAL_FULL="(12,)"; FULL_SIZES=8,12; NFULL=16
  SIZES=8,12; SIZES_COT=8,12; NTEST=16; VAL="(12,)"; BENCH_N=12; BENCH_GRAPHS=16; BENCH_CKPT=""; STEPS=3
  QS="configs/quickstart.py:size=tiny"; QS_STEPS=6; QS_EXTRA="--config.train.eval_every=3 --config.model.num_layers=4"
  QS_SEEDS="0 1"; QS_CORES=(1 1); QS_EMAS="0.9"; GPU_CORES=0
else
  TOTAL=${TOTAL:-1500}; FAST="configs/discrete_ec.py:recipe=fast"; VC=""
  NAMES=512; FULL_BUDGET=${FULL_BUDGET:-400}; VAL_FULL="(128,)"; FULL_SIZES=8,16,32,48,64,96,128; NFULL=2048
  SIZES=8,16,32,64,128; SIZES_COT=8,16,32,64; NTEST=512; VAL="(32,)"; BENCH_N=128; BENCH_GRAPHS=2048; BENCH_CKPT=default; STEPS=20
  QS="configs/quickstart.py"; QS_STEPS=2500; QS_EXTRA=""
  QS_SEEDS="0 1 2 3 4 5"; QS_CORES=(4,5 6,7 8,9 10,11 12,13 14,15); QS_EMAS="0.99 0.995"
  GPU_CORES=0-3
fi
DEADLINE=$((T0 + TOTAL))
source results/commands/gpu_plan.sh
log "commit ${COMMIT:-unknown} (set by the caller: the device copy has no .git)"

# --- On the host CPU, from the start: one slot of 2 cores per seed.
for seed in $QS_SEEDS; do
  (
    for ema in $QS_EMAS; do
      name="qs_ema${ema#0.}_s$seed"
      log "$name: on cores ${QS_CORES[$seed]}"
      JAX_PLATFORMS=cpu taskset -c "${QS_CORES[$seed]}" python3 -m experiments.train --config="$QS" \
        --workdir="$R/$name" --config.train.max_train_seconds=0 --config.train.num_steps=$QS_STEPS \
        --config.train.ema_decay=$ema --config.train.val_after_decay=False \
        --config.seed=$seed $QS_EXTRA > "$R/$name.log" 2>&1
      log "$name: done (exit $?)"
    done
  ) &
done

# --- Phase 1a: the train step's profile, and the rollout in smaller batches.
ckpt=${BENCH_CKPT:+--checkpoint=$BENCH_CKPT}
log "phase 1: train step (profiled) and rollout in batches of 128"
taskset -c $GPU_CORES python3 -m experiments.benchmark --config="$FAST" --config.data.num_names=$NAMES \
  --steps=$STEPS --profile_dir=/tmp/s12_profile --eval_sizes=$BENCH_N --eval_graphs=$BENCH_GRAPHS \
  --eval_batch=128 --halting=fixed_point --relative_scores=fused --suffix_chunks=8 $ckpt \
  --output="$R/bench_b128.json" > "$R/bench_b128.log" 2>&1
log "benchmark b128 done (exit $?): $(grep -o '"solve_s": [0-9.]*' "$R/bench_b128.log" | tr '\n' ' ')"
log "phase 1: rollout in batches of 64"
taskset -c $GPU_CORES python3 -m experiments.benchmark --config="$FAST" --config.data.num_names=$NAMES \
  --skip_train_step --eval_sizes=$BENCH_N --eval_graphs=$BENCH_GRAPHS --eval_batch=64 \
  --halting=fixed_point --relative_scores=fused --suffix_chunks=8 $ckpt \
  --output="$R/rollout_b64.json" > "$R/rollout_b64.log" 2>&1
log "rollout b64 done (exit $?): $(grep -o '"solve_s": [0-9.]*' "$R/rollout_b64.log" | tr '\n' ' ')"

# --- Phase 1b: the full method alone, seed 1, timed from process start to 99.5% at N = 128.
log "phase 1: full_s1 (budget ${FULL_BUDGET}s)"
taskset -c $GPU_CORES python3 -m experiments.train --config="$FAST" --workdir="$R/full_s1" --nofinal_eval \
  --config.data.num_names=$NAMES --config.train.max_train_seconds=$FULL_BUDGET \
  --config.train.val_sizes="$VAL_FULL" --config.train.target_accuracy=0.995 \
  --config.train.log_every=50 --config.train.checkpoint_every=1000 --config.eval.batch_size=256 \
  --config.seed=1 > "$R/full_s1.log" 2>&1
log "full_s1 done (exit $?): $(grep -o 'time_to_target_s.: [0-9.]*' "$R/full_s1.log" | tail -1)"
(
  python3 -m experiments.evaluate --workdir="$R/full_s1" --output="$R/full_s1/eval" --sizes=$FULL_SIZES \
    --num_graphs=$NFULL --batch_size=256 --halting=fixed_point --suffix_chunks=8 > "$R/full_s1_eval.log" 2>&1
  log "full_s1: evaluated (exit $?)"
) &

# --- Phase 2: session 10's baselines with a weight average, side by side until the deadline.
log "phase 2: $(left)s left"
baseline="--config.train.schedule=constant --config.train.learning_rate=1e-3 \
  --config.train.warmup_steps=300 --config.train.num_steps=1000000 --config.model.dropout=0.0 \
  --config.train.ema_decay=0.998"
aids="--config.model.operand_heads_layer=0 --config.train.use_value_loss_weight=1.0 \
  --config.model.relative_scores=fused"
(
  MAIN_SIZES=$SIZES NMAIN=$NTEST
  train_eval continuous 150 "configs/continuous.py$VC" $baseline $aids --config.train.batch_size=128 \
    --config.train.eval_every=1000 --config.train.val_sizes="$VAL" \
    --config.train.val_num_graphs=256 --config.eval.batch_size=128
) &
(
  MAIN_SIZES=$SIZES NMAIN=$NTEST
  train_eval e2e_recurrent 100 "configs/e2e_recurrent.py$VC" $baseline \
    --config.model.operand_heads_layer=0 --config.train.use_value_loss_weight=1.0 \
    --config.train.eval_every=1000 --config.train.val_sizes="$VAL" --config.train.val_num_graphs=256
) &
(
  MAIN_SIZES=$SIZES_COT NMAIN=$NTEST  # Greedy decoding of N = 128 traces would not fit the reserve.
  train_eval cot 240 "configs/cot.py$VC" $baseline --config.train.batch_size=64 \
    --config.train.eval_every=0
) &

# Stop whatever is still running shortly before the deadline; results so far are kept.
stop_at_deadline 30 10 "experiments[.](train|evaluate)"

# --- Phase 3: pack.
pack_results s12
log "ALL DONE"
