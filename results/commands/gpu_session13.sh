#!/usr/bin/env bash
# The lease of session 13 on one H200 (started in the background; later
# calls read runs/s13/plan.log):
#   on the host CPU from the start (JAX_PLATFORMS=cpu, one core each, cores
#   4-15): the quickstart with each batch of one graph size
#   (data.size_chunks = 1: 20% padding against 29%, a 9% cheaper CPU step),
#   alone (`c1`) and with its three auxiliary value heads weighted 2 instead
#   of 1 (`c1_aux2`), seeds 0-5 each, no wall-clock budget, at most QS_STEPS
#   steps: steps to 32 of 32 at 2x against session 10's six shipped seeds
#   (1,100-1,900 steps, and 4,400 for seed 0);
#   on the GPU (host cores 0-3), side by side until the deadline, then tested:
#     cot          method 3 with session 12's command; its training metrics
#                  now split the token accuracy by kind of target (names;
#                  values of leaves, copies, 2- and 3-operand steps), to say
#                  where its 7% of wrong tokens are;
#     feedforward  method 1 with session 9's command, tested at N = 8..128
#                  (session 9 did not run N = 128);
#   then everything small packed into runs/s13_results.tgz.
# Run as: COMMIT=<sha> TOTAL=1450 setsid nohup bash results/commands/gpu_session13.sh \
#   > runs/s13_plan.out 2>&1 < /dev/null &   (carry .whl with ml-collections and tensorboardX)
# SMOKE=1 runs the same plan with tiny configs (two quickstart seeds) on a 2-core CPU.
source results/commands/snapshot.sh
run_from_snapshot s13 results/commands/gpu_session13.sh
source results/commands/gpu_common.sh
T0=$(date +%s)
R=${R:-runs/s13}
mkdir -p "$R"
if [ "${SMOKE:-0}" = 1 ]; then
  TOTAL=${TOTAL:-600}; VC=":size=tiny"
  SIZES=8,12; SIZES_COT=8,12; NTEST=16; VAL="(12,)"
  QS="configs/quickstart.py:size=tiny"; QS_STEPS=6; QS_EXTRA="--config.train.eval_every=3 --config.model.num_layers=4"
  QS_SEEDS="0"; QS_CORES=(1 1 1 1 1 1); GPU_CORES=0
else
  TOTAL=${TOTAL:-1450}; VC=""
  SIZES=8,16,32,64,128; SIZES_COT=8,16,32,64; NTEST=512; VAL="(16,)"
  QS="configs/quickstart.py"; QS_STEPS=2500; QS_EXTRA=""
  QS_SEEDS="0 1 2 3 4 5"; QS_CORES=(4 5 6 7 8 9 10 11 12 13 14 15)
  GPU_CORES=0-3
fi
DEADLINE=$((T0 + TOTAL))
source results/commands/gpu_plan.sh
log "commit ${COMMIT:-unknown} (set by the caller: the device copy has no .git)"

# --- On the host CPU, from the start: one core per run.
aux2="--config.train.use_value_loss_weight=2.0 --config.train.pair_value_loss_weight=2.0 \
  --config.train.prefix_value_loss_weight=2.0"
slot=0
for lever in c1 c1_aux2; do
  extra=""; [ "$lever" = c1_aux2 ] && extra=$aux2
  for seed in $QS_SEEDS; do
    name="qs_${lever}_s$seed"; core=${QS_CORES[$slot]}; slot=$((slot + 1))
    (
      log "$name: on core $core"
      JAX_PLATFORMS=cpu taskset -c "$core" python3 -m experiments.train --config="$QS" \
        --workdir="$R/$name" --config.train.max_train_seconds=0 --config.train.num_steps=$QS_STEPS \
        --config.data.size_chunks=1 $extra --config.seed=$seed $QS_EXTRA > "$R/$name.log" 2>&1
      log "$name: done (exit $?): $(grep -o 'stopped at step [0-9]*\|time_to_target_s.: [0-9.]*' "$R/$name.log" | tail -1)"
    ) &
  done
done

# --- On the GPU: methods 3 and 1 side by side until the deadline, then their tests.
baseline="--config.train.schedule=constant --config.train.learning_rate=1e-3 \
  --config.train.warmup_steps=300 --config.train.num_steps=1000000 --config.model.dropout=0.0"
(
  taskset -cp $GPU_CORES $BASHPID > /dev/null  # The GPU jobs' host threads stay off the quickstarts' cores.
  MAIN_SIZES=$SIZES_COT NMAIN=$NTEST  # Greedy decoding of N = 128 traces would not fit the reserve.
  train_eval cot 240 "configs/cot.py$VC" $baseline --config.train.batch_size=64 \
    --config.train.eval_every=0 --config.train.ema_decay=0.998
) &
(
  taskset -cp $GPU_CORES $BASHPID > /dev/null
  MAIN_SIZES=$SIZES NMAIN=$NTEST
  train_eval feedforward 120 "configs/feedforward.py$VC" $baseline \
    --config.model.operand_heads_layer=0 --config.train.use_value_loss_weight=1.0 \
    --config.model.relative_scores=fused --config.train.eval_every=1000 \
    --config.train.val_sizes="$VAL" --config.train.val_num_graphs=256
) &

# Stop whatever is still running shortly before the deadline; results so far are kept.
stop_at_deadline 30 10 "experiments[.](train|evaluate)"

# --- Pack.
pack_results s13
log "ALL DONE"
