#!/usr/bin/env bash
# The next lease of one H200 (started in the background; later calls read
# runs/s10/plan.log):
#   phase 1, alone on the GPU (host cores 0-3): session 3's time-to-accuracy
#     run again, now that recipe=fast uses fused relative attention: the
#     full method from scratch until 99.5% on 512 validation graphs at
#     N = 128, at most FULL_BUDGET s; its test on 2,048 graphs at N = 8..128
#     then runs beside phase 2;
#   phase 2, side by side until a shared deadline, the three methods furthest
#     from the paper, each then tested on 512 graphs a size:
#     continuous     method 4 (session 9: still learning after 17 minutes);
#     e2e_recurrent  method 2 (session 3: 17 points under the paper at N = 32);
#     cot            method 3 at batch 64 (session 3: 4% of the paper's traces);
#   on the host CPU from the start (JAX_PLATFORMS=cpu, 2 cores each, cores
#   4-15): the quickstart as shipped, with no budget, seeds 0-5, each to its
#   stop at 95% at 2x (steps and printed accuracies over six seeds);
#   phase 3: everything small packed into runs/s10_results.tgz.
# Run as: COMMIT=<sha> TOTAL=1450 setsid nohup bash results/commands/gpu_session10.sh \
#   > runs/s10_plan.out 2>&1 < /dev/null &   (carry .whl with ml-collections and tensorboardX)
# SMOKE=1 runs the same plan with tiny configs (two quickstart seeds) on a 2-core CPU in about 6 minutes.
source results/commands/snapshot.sh
run_from_snapshot s10 results/commands/gpu_session10.sh
source results/commands/gpu_common.sh
T0=$(date +%s)
R=${R:-runs/s10}
mkdir -p "$R"
if [ "${SMOKE:-0}" = 1 ]; then
  TOTAL=${TOTAL:-900}; VC=":size=tiny"; FAST="configs/discrete_ec.py:recipe=fast,size=tiny"
  NAMES=48; FULL_BUDGET=20; VAL_FULL="(12,)"; FULL_SIZES=8,12; NFULL=16
  SIZES=8,12; SIZES_COT=8,12; NTEST=16; VAL="(12,)"
  QS="configs/quickstart.py:size=tiny"; QS_STEPS=6; QS_EXTRA="--config.train.eval_every=3 --config.model.num_layers=4"
  QS_SEEDS="0 1"; QS_CORES=(1 1); GPU_CORES=0
else
  TOTAL=${TOTAL:-1450}; FAST="configs/discrete_ec.py:recipe=fast"; VC=""
  NAMES=512; FULL_BUDGET=${FULL_BUDGET:-420}; VAL_FULL="(128,)"; FULL_SIZES=8,16,32,48,64,96,128; NFULL=2048
  SIZES=8,16,32,64,128; SIZES_COT=8,16,32,64; NTEST=512; VAL="(32,)"
  QS="configs/quickstart.py"; QS_STEPS=5000; QS_EXTRA=""
  QS_SEEDS="0 1 2 3 4 5"; QS_CORES=(4,5 6,7 8,9 10,11 12,13 14,15)
  GPU_CORES=0-3
fi
DEADLINE=$((T0 + TOTAL))
source results/commands/gpu_plan.sh
log "commit ${COMMIT:-unknown} (set by the caller: the device copy has no .git)"

# --- On the host CPU, from the start: the shipped quickstart over six seeds.
for seed in $QS_SEEDS; do
  (
    log "qs_s$seed: on cores ${QS_CORES[$seed]}"
    JAX_PLATFORMS=cpu taskset -c "${QS_CORES[$seed]}" python3 -m experiments.train --config="$QS" \
      --workdir="$R/qs_s$seed" --config.train.max_train_seconds=0 --config.train.num_steps=$QS_STEPS \
      --config.seed=$seed $QS_EXTRA > "$R/qs_s$seed.log" 2>&1
    log "qs_s$seed: done (exit $?)"
  ) &
done

# --- Phase 1: the full method alone, timed from process start to 99.5% at N = 128.
log "phase 1: full method, fused scores (budget ${FULL_BUDGET}s)"
taskset -c $GPU_CORES python3 -m experiments.train --config="$FAST" --workdir="$R/full" --nofinal_eval \
  --config.data.num_names=$NAMES --config.train.max_train_seconds=$FULL_BUDGET \
  --config.train.val_sizes="$VAL_FULL" --config.train.target_accuracy=0.995 \
  --config.train.log_every=50 --config.train.checkpoint_every=1000 \
  --config.eval.batch_size=256 > "$R/full.log" 2>&1
log "phase 1 done (exit $?): $(grep -o 'time_to_target_s.: [0-9.]*' "$R/full.log" | tail -1)"
(
  python3 -m experiments.evaluate --workdir="$R/full" --output="$R/full/eval" --sizes=$FULL_SIZES \
    --num_graphs=$NFULL --batch_size=256 --halting=fixed_point > "$R/full_eval.log" 2>&1
  log "full: evaluated (exit $?)"
) &

# --- Phase 2: methods 4, 2 and 3 side by side until the deadline.
log "phase 2: $(left)s left"
baseline="--config.train.schedule=constant --config.train.learning_rate=1e-3 \
  --config.train.warmup_steps=300 --config.train.num_steps=1000000 --config.model.dropout=0.0"
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
  # RoPE (the config's choice): fused applies to relative positions only.
  train_eval e2e_recurrent 100 "configs/e2e_recurrent.py$VC" $baseline \
    --config.model.operand_heads_layer=0 --config.train.use_value_loss_weight=1.0 \
    --config.train.eval_every=1000 --config.train.val_sizes="$VAL" --config.train.val_num_graphs=256
) &
(
  MAIN_SIZES=$SIZES_COT NMAIN=$NTEST
  train_eval cot 240 "configs/cot.py$VC" $baseline --config.train.batch_size=64 \
    --config.train.eval_every=0
) &

# Stop whatever is still running shortly before the deadline; results so far are kept.
stop_at_deadline 30 10 "experiments[.](train|evaluate)"

# --- Phase 3: pack.
pack_results s10
log "ALL DONE"
