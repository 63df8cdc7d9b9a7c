#!/usr/bin/env bash
# The second lease of session 14 on one H200 (the first, running
# gpu_session14.sh, was taken back by the device pool after ~8 minutes and
# returned nothing). Quickstart levers only, in the time left:
#   on the host CPU (JAX_PLATFORMS=cpu, one core each, cores 4-15), seeds 0-2 of
#     d96 / d64     d_model 96 or 64 (shipped: 128): 0.155 and 0.093 s a
#                   step on this project's 2-core CPU against 0.189 at 128
#                   (experiments.benchmark, measured back to back);
#     wd1 / wd0.1   AdamW weight decay 1.0 or 0.1 (shipped: 0.01): the
#                   quickstart's steps are set by a plateau of the pair head
#                   (the sum mod p of two operands), which weight decay
#                   shortens in the grokking literature;
#   on the GPU (four queues side by side, host cores 0-3), more seeds of
#   d96, d64 and wd1, and of the shipped quickstart (`c1`) for a GPU baseline.
# Run as: COMMIT=<sha> TOTAL=660 setsid nohup bash results/commands/gpu_session14b.sh \
#   > runs/s14b_plan.out 2>&1 < /dev/null &   (carry .whl with ml-collections and tensorboardX)
# SMOKE=1 runs the same plan with tiny configs on a 2-core CPU.
source results/commands/snapshot.sh
run_from_snapshot s14b results/commands/gpu_session14b.sh
source results/commands/gpu_common.sh
T0=$(date +%s)
R=${R:-runs/s14b}
mkdir -p "$R"
if [ "${SMOKE:-0}" = 1 ]; then
  TOTAL=${TOTAL:-200}; QS="configs/quickstart.py:size=tiny"; QS_STEPS=6
  QS_EXTRA="--config.train.eval_every=3 --config.model.num_layers=4"
  CPU_SEEDS="0"; GPU_SEEDS="3"; QS_CORES=(1 1 1 1 1 1 1 1 1 1 1 1); GPU_CORES=(0 0 0 0); PLATFORM=cpu
else
  TOTAL=${TOTAL:-660}; QS="configs/quickstart.py"; QS_STEPS=1800; QS_EXTRA=""
  CPU_SEEDS="0 1 2"; GPU_SEEDS="3 4 5 6 7 8 9 10"; QS_CORES=(4 5 6 7 8 9 10 11 12 13 14 15)
  GPU_CORES=(0 1 2 3); PLATFORM=""
fi
DEADLINE=$((T0 + TOTAL))
source results/commands/gpu_plan.sh
log "commit ${COMMIT:-unknown} (set by the caller: the device copy has no .git)"

# qs_run NAME CORE PLATFORM OVERRIDES...: one quickstart pinned to CORE
# (PLATFORM cpu, or empty for the GPU), until the deadline or QS_STEPS steps.
qs_run() {
  local name=$1 core=$2 platform=$3; shift 3
  local b=$(( $(left) - 20 ))
  [ "$b" -gt 90 ] || { log "$name: no time left"; return 1; }
  log "$name: on core $core ${platform:-gpu} for at most ${b}s"
  JAX_PLATFORMS=$platform taskset -c "$core" python3 -m experiments.train --config="$QS" \
    --workdir="$R/$name" --config.train.max_train_seconds=$b --config.train.num_steps=$QS_STEPS \
    "$@" $QS_EXTRA > "$R/$name.log" 2>&1
  log "$name: done (exit $?): $(grep -o 'stopped at step [0-9]*\|time_to_target_s.: [0-9.]*\|final_step.: [0-9]*' "$R/$name.log" | tr '\n' ' ')"
}

declare -A LEVER=(
  [c1]=""
  [d96]="--config.model.d_model=96"
  [d64]="--config.model.d_model=64"
  [wd1]="--config.train.weight_decay=1.0"
  [wd0.1]="--config.train.weight_decay=0.1"
)
export XLA_PYTHON_CLIENT_MEM_FRACTION=0.15
slot=0
for lever in d96 d64 wd1 wd0.1; do
  for seed in $CPU_SEEDS; do
    qs_run "qs_${lever}_s$seed" "${QS_CORES[$slot]}" cpu ${LEVER[$lever]} --config.seed=$seed &
    slot=$((slot + 1))
  done
done
queue=0
for lever in d96 d64 wd1 c1; do
  (
    for seed in $GPU_SEEDS; do
      qs_run "gpu_${lever}_s$seed" "${GPU_CORES[$queue]}" "$PLATFORM" ${LEVER[$lever]} --config.seed=$seed || break
    done
  ) &
  queue=$((queue + 1))
done

stop_at_deadline 15 6 "experiments[.](train|evaluate)"
pack_results s14b
log "ALL DONE"
