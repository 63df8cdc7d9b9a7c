#!/usr/bin/env bash
# The lease of session 11 on one H200 (started in the background; later
# calls read runs/s11/plan.log):
#   on the host CPU from the start (JAX_PLATFORMS=cpu, 2 cores each, cores
#   4-15): the quickstart at d_model = 64 and then 96 (session 11 on this
#   project's CPU: 0.26 and 0.34 s a step against 0.48 s at 128; seed 0,
#   the slow seed at 128, reached 31 of 32 at 2x by step 1,600 at 64), seeds
#   0-5, no wall-clock budget, at most QS_STEPS steps: steps to 32 of 32;
#   phase 1, alone on the GPU (host cores 0-3):
#     the rollout of 2,048 graphs at N = 128 (shipped model, fused scores,
#     fixed point) recomputing only the suffix that changed, in 1, 4, 8 and
#     16 chunks, batches of 256, then 1 and 8 chunks in batches of 512;
#     the full method from scratch with its decay started by
#     state_accuracy >= 0.95 (session 10: .96 at step 3,500 while validation
#     at N = 128 only reached its 0.6 trigger at 6,500), until 99.5% at
#     N = 128 (512 graphs), at most FULL_BUDGET s; then its test on 2,048
#     graphs at N = 8..128 beside phase 2;
#   phase 2, until the deadline: method 4 (continuous) alone, with a decay
#     triggered by validation at N = 32 (session 10: the best state came at
#     step 3,000 and drifted after it at the constant rate), then its test;
#   phase 3: everything small packed into runs/s11_results.tgz.
# Run as: COMMIT=<sha> TOTAL=1450 setsid nohup bash results/commands/gpu_session11.sh \
#   > runs/s11_plan.out 2>&1 < /dev/null &   (carry .whl with ml-collections and tensorboardX)
# SMOKE=1 runs the same plan with tiny configs (two quickstart seeds) on a 2-core CPU.
source results/commands/snapshot.sh
run_from_snapshot s11 results/commands/gpu_session11.sh
source results/commands/gpu_common.sh
T0=$(date +%s)
R=${R:-runs/s11}
mkdir -p "$R"
if [ "${SMOKE:-0}" = 1 ]; then
  TOTAL=${TOTAL:-900}; VC=":size=tiny"; FAST="configs/discrete_ec.py:recipe=fast,size=tiny"
  NAMES=48; FULL_BUDGET=20; VAL_FULL="(12,)"; FULL_SIZES=8,12; NFULL=16
  SIZES=8,12; NTEST=16; VAL="(12,)"; BENCH_N=12; BENCH_GRAPHS=16; BENCH_CKPT=""
  QS="configs/quickstart.py:size=tiny"; QS_STEPS=6; QS_EXTRA="--config.train.eval_every=3 --config.model.num_layers=4"
  QS_SEEDS="0 1"; QS_CORES=(1 1); QS_WIDTHS="32 48"; GPU_CORES=0
else
  TOTAL=${TOTAL:-1450}; FAST="configs/discrete_ec.py:recipe=fast"; VC=""
  NAMES=512; FULL_BUDGET=${FULL_BUDGET:-400}; VAL_FULL="(128,)"; FULL_SIZES=8,16,32,48,64,96,128; NFULL=2048
  SIZES=8,16,32,64,128; NTEST=512; VAL="(32,)"; BENCH_N=128; BENCH_GRAPHS=2048; BENCH_CKPT=default
  QS="configs/quickstart.py"; QS_STEPS=2500; QS_EXTRA=""
  QS_SEEDS="0 1 2 3 4 5"; QS_CORES=(4,5 6,7 8,9 10,11 12,13 14,15); QS_WIDTHS="64 96"
  GPU_CORES=0-3
fi
DEADLINE=$((T0 + TOTAL))
source results/commands/gpu_plan.sh
log "commit ${COMMIT:-unknown} (set by the caller: the device copy has no .git)"

# --- On the host CPU, from the start: one slot of 2 cores per seed, each
# running the quickstart at each width in turn.
for seed in $QS_SEEDS; do
  (
    for width in $QS_WIDTHS; do
      name="qs_d${width}_s$seed"
      log "$name: on cores ${QS_CORES[$seed]}"
      JAX_PLATFORMS=cpu taskset -c "${QS_CORES[$seed]}" python3 -m experiments.train --config="$QS" \
        --workdir="$R/$name" --config.train.max_train_seconds=0 --config.train.num_steps=$QS_STEPS \
        --config.model.d_model=$width --config.seed=$seed $QS_EXTRA > "$R/$name.log" 2>&1
      log "$name: done (exit $?)"
    done
  ) &
done

# --- Phase 1a: the rollout against the chunks of its suffix recomputation.
ckpt=${BENCH_CKPT:+--checkpoint=$BENCH_CKPT}
for spec in "256 1,4,8,16" "512 1,8"; do
  set -- $spec
  log "phase 1: rollout benchmark, batches of $1, chunks $2"
  taskset -c $GPU_CORES python3 -m experiments.benchmark --config="$FAST" --config.data.num_names=$NAMES \
    --skip_train_step --eval_sizes=$BENCH_N --eval_graphs=$BENCH_GRAPHS --eval_batch=$1 \
    --halting=fixed_point --relative_scores=fused --suffix_chunks=$2 $ckpt \
    --output="$R/rollout_b$1.json" > "$R/rollout_b$1.log" 2>&1
  log "rollout benchmark b$1 done (exit $?): $(grep -o '"suffix_chunks": [0-9]*, "solve_s": [0-9.]*' "$R/rollout_b$1.log" | tr '\n' ' ')"
done

# --- Phase 1b: the full method alone, timed from process start to 99.5% at N = 128.
log "phase 1: full_state (budget ${FULL_BUDGET}s)"
taskset -c $GPU_CORES python3 -m experiments.train --config="$FAST" --workdir="$R/full_state" --nofinal_eval \
  --config.data.num_names=$NAMES --config.train.max_train_seconds=$FULL_BUDGET \
  --config.train.val_sizes="$VAL_FULL" --config.train.target_accuracy=0.995 \
  --config.train.log_every=50 --config.train.checkpoint_every=1000 --config.eval.batch_size=256 \
  --config.seed=0 --config.train.decay_trigger_metric=state_accuracy \
  --config.train.decay_trigger=0.95 --config.train.val_after_decay=True > "$R/full_state.log" 2>&1
log "full_state done (exit $?): $(grep -o 'time_to_target_s.: [0-9.]*' "$R/full_state.log" | tail -1)"
(
  python3 -m experiments.evaluate --workdir="$R/full_state" --output="$R/full_state/eval" --sizes=$FULL_SIZES \
    --num_graphs=$NFULL --batch_size=256 --halting=fixed_point --suffix_chunks=8 > "$R/full_state_eval.log" 2>&1
  log "full_state: evaluated (exit $?)"
) &

# --- Phase 2: method 4 with a triggered decay until the deadline.
log "phase 2: $(left)s left"
(
  MAIN_SIZES=$SIZES NMAIN=$NTEST
  train_eval continuous 150 "configs/continuous.py$VC" --config.train.schedule=triggered \
    --config.train.decay_trigger=0.85 --config.train.decay_steps=2000 --config.train.end_lr_fraction=0.05 \
    --config.train.learning_rate=1e-3 --config.train.warmup_steps=300 --config.train.num_steps=1000000 \
    --config.model.dropout=0.0 --config.model.operand_heads_layer=0 --config.train.use_value_loss_weight=1.0 \
    --config.model.relative_scores=fused --config.train.batch_size=128 \
    --config.train.eval_every=500 --config.train.val_sizes="$VAL" \
    --config.train.val_num_graphs=256 --config.eval.batch_size=128
) &

# Stop whatever is still running shortly before the deadline; results so far are kept.
stop_at_deadline 30 10 "experiments[.](train|evaluate)"

# --- Phase 3: pack.
pack_results s11
log "ALL DONE"
