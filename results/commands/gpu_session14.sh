#!/usr/bin/env bash
# The lease of session 14 on one H200 (started in the background; later
# calls read runs/s14/plan.log):
#   on the host CPU (JAX_PLATFORMS=cpu, one core each, cores 4-15), the
#   quickstart with one lever each, in two rounds:
#     round 1, seeds 0-2 of each lever:
#       wd0.1 / wd0.3 / wd1   AdamW weight decay 0.1 / 0.3 / 1.0 (shipped: 0.01);
#                             the quickstart's steps are set by a plateau of
#                             the pair head (the sum mod p of two operands),
#                             a modular-addition plateau that weight decay
#                             shortens in the grokking literature;
#       fourier               value embeddings and readout that start as waves
#                             over Z_p (one seed of an older model, session 3,
#                             did not learn by 3,000 steps);
#     round 2, one line per core of "NAME OVERRIDES..." from $R/round2.txt,
#     written by a later device call from round 1's results (none: no round 2);
#   on the GPU (host cores 0-3): method 3 (chain-of-thought) with session
#   13's command, trained until the reserve before the deadline (session 13
#   stopped at 7,315 steps, its 3-operand sums still at chance), then tested
#   at N = 8..64 on 512 graphs and at N = 128 on 256 graphs;
#   then everything small packed into runs/s14_results.tgz.
# Run as: COMMIT=<sha> TOTAL=1480 setsid nohup bash results/commands/gpu_session14.sh \
#   > runs/s14_plan.out 2>&1 < /dev/null &   (carry .whl with ml-collections and tensorboardX)
# SMOKE=1 runs the same plan with tiny configs on a 2-core CPU.
source results/commands/snapshot.sh
run_from_snapshot s14 results/commands/gpu_session14.sh
source results/commands/gpu_common.sh
T0=$(date +%s)
R=${R:-runs/s14}
mkdir -p "$R"
if [ "${SMOKE:-0}" = 1 ]; then
  TOTAL=${TOTAL:-400}; VC=":size=tiny"
  SIZES_COT=8,12; NTEST=16; BIG_COT=12; NBIG=8
  QS="configs/quickstart.py:size=tiny"; QS_STEPS=6; QS_EXTRA="--config.train.eval_every=3 --config.model.num_layers=4"
  QS_SEEDS="0"; QS_CORES=(1 1 1 1 1 1 1 1 1 1 1 1); GPU_CORES=0; ROUND2_WAIT=20; COT_RESERVE=120
else
  TOTAL=${TOTAL:-1480}; VC=""
  SIZES_COT=8,16,32,64; NTEST=512; BIG_COT=128; NBIG=256
  QS="configs/quickstart.py"; QS_STEPS=1800; QS_EXTRA=""
  QS_SEEDS="0 1 2"; QS_CORES=(4 5 6 7 8 9 10 11 12 13 14 15); GPU_CORES=0-3
  ROUND2_WAIT=240; COT_RESERVE=260
fi
DEADLINE=$((T0 + TOTAL))
source results/commands/gpu_plan.sh
log "commit ${COMMIT:-unknown} (set by the caller: the device copy has no .git)"

# qs_run NAME CORE OVERRIDES...: one quickstart on one core, no wall-clock
# budget beyond the deadline, at most QS_STEPS steps.
qs_run() {
  local name=$1 core=$2; shift 2
  local b=$(( $(left) - 25 ))
  [ "$b" -gt 120 ] || { log "$name: no time left"; return; }
  log "$name: on core $core for at most ${b}s"
  JAX_PLATFORMS=cpu taskset -c "$core" python3 -m experiments.train --config="$QS" \
    --workdir="$R/$name" --config.train.max_train_seconds=$b --config.train.num_steps=$QS_STEPS \
    "$@" $QS_EXTRA > "$R/$name.log" 2>&1
  log "$name: done (exit $?): $(grep -o 'stopped at step [0-9]*\|time_to_target_s.: [0-9.]*\|final_step.: [0-9]*' "$R/$name.log" | tr '\n' ' ')"
}

# --- On the host CPU: round 1, then a core's line of round2.txt.
declare -A LEVER=(
  [wd0.1]="--config.train.weight_decay=0.1"
  [wd0.3]="--config.train.weight_decay=0.3"
  [wd1]="--config.train.weight_decay=1.0"
  [fourier]="--config.model.value_init=fourier"
)
slot=0
for lever in wd0.1 wd0.3 wd1 fourier; do
  for seed in $QS_SEEDS; do
    core=${QS_CORES[$slot]}; line=$((slot + 1)); slot=$((slot + 1))
    (
      qs_run "qs_${lever}_s$seed" "$core" ${LEVER[$lever]} --config.seed=$seed
      waited=0
      while [ ! -f "$R/round2.txt" ] && [ "$waited" -lt "$ROUND2_WAIT" ]; do sleep 5; waited=$((waited + 5)); done
      spec=$(sed -n "${line}p" "$R/round2.txt" 2>/dev/null)
      if [ -n "$spec" ]; then set -- $spec; name=$1; shift; qs_run "$name" "$core" "$@"; fi
    ) &
  done
done

# --- On the GPU: method 3 until the reserve, then its tests.
baseline="--config.train.schedule=constant --config.train.learning_rate=1e-3 \
  --config.train.warmup_steps=300 --config.train.num_steps=1000000 --config.model.dropout=0.0"
(
  taskset -cp $GPU_CORES $BASHPID > /dev/null  # The GPU job's host threads stay off the quickstarts' cores.
  MAIN_SIZES=$SIZES_COT NMAIN=$NTEST
  train_eval cot $COT_RESERVE "configs/cot.py$VC" $baseline --config.train.batch_size=64 \
    --config.train.eval_every=0 --config.train.ema_decay=0.998
  python3 -m experiments.evaluate --workdir="$R/cot" --output="$R/cot/eval_$BIG_COT" \
    --sizes=$BIG_COT --num_graphs=$NBIG --batch_size=128 > "$R/cot_eval_$BIG_COT.log" 2>&1
  log "cot: evaluated (exit $?) at $BIG_COT"
) &

# Stop whatever is still running shortly before the deadline; results so far are kept.
stop_at_deadline 20 8 "experiments[.](train|evaluate)"

# --- Pack.
pack_results s14
log "ALL DONE"
