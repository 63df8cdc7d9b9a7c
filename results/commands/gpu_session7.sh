#!/usr/bin/env bash
# Session 7 on one H200, in one lease (started in the background; later calls
# read runs/s7/plan.log):
#   phase 1, alone on the GPU, three benchmarks:
#     dense    the train step of the full method, and the shipped model's
#              while_loop rollout of 2,048 graphs at N = 128 (fixed point);
#     banded   the same with model.relative_scores=banded (the rollout through
#              the same parameters, --relative_scores=banded);
#     rollout  the train step with train.rollout=True (7 unrolled iterations),
#              not rematerialized; its peak memory decides whether the
#              rollout training below rematerializes;
#   phase 2, side by side until a shared deadline:
#     rollout  the full method of session 6's n512 run with train.rollout=True,
#              validated every 100 steps, to set beside n512's teacher-forced
#              curve (same config and seed otherwise);
#     interp   session 6's 2-layer model with only the operand-name head, the
#              same seed, with the decay started at 0.1 at N = 64; tested,
#              interpreted, and exported (bf16) for the CPU;
#     qs_a, qs_b  configs/sweeps/quickstart_r4.py, four runs each;
#   phase 3: everything small packed into runs/s7_results.tgz.
# SMOKE=1 runs the same plan with tiny configs on a CPU in a few minutes.
# Later calls re-send the working tree, so the plan runs from a snapshot of it.
source results/commands/snapshot.sh
run_from_snapshot s7 results/commands/gpu_session7.sh
source results/commands/gpu_common.sh
T0=$(date +%s)
R=${R:-runs/s7}
mkdir -p "$R"
if [ "${SMOKE:-0}" = 1 ]; then
  TOTAL=${TOTAL:-360}; V=",size=tiny"; VC=":size=tiny"; NAMES=48; VAL="(12,)"; VAL_INTERP="(12,)"
  BENCH="--steps=2 --eval_sizes=12 --eval_graphs=8 --eval_batch=8"; CKPT=""
  MAIN_SIZES=8,12; NMAIN=16; INTERP_SIZES=8,12
  INTERP_FLAGS="--num_bases=1 --num_settings=2 --novalue_grid"; QS_SWEEP="configs/sweeps/quickstart_r4.py:steps=4"
  QS_A=qs; QS_B=b32
else
  TOTAL=${TOTAL:-1480}; V=""; VC=""; NAMES=512; VAL="(128,)"; VAL_INTERP="(64,)"
  BENCH="--steps=20 --eval_sizes=128 --eval_graphs=2048 --eval_batch=256"; CKPT="--checkpoint=default"
  MAIN_SIZES=32,128; NMAIN=512; INTERP_SIZES=8,16,32,64,96
  INTERP_FLAGS=""; QS_SWEEP="configs/sweeps/quickstart_r4.py"
  QS_A=qs,b32,b32_lr3,b32_mlp2; QS_B=b32_n12,b32_tied,b32_dec3,b16
fi
DEADLINE=$((T0 + TOTAL))
source results/commands/gpu_plan.sh
FAST="configs/discrete_ec.py:recipe=fast$V"
full="--config.data.num_names=$NAMES --config.train.val_sizes=$VAL"

# --- Phase 1: three benchmarks alone.
log "commit ${COMMIT:-unknown} (set by the caller: the device copy has no .git)"
bench() {  # bench NAME [flags...]
  local name=$1; shift
  python3 -m experiments.benchmark --config="$FAST" --config.data.num_names=$NAMES $BENCH \
    --halting=fixed_point --output="$R/bench_$name.json" "$@" > "$R/bench_$name.log" 2>&1
  log "bench $name (exit $?): $(grep -oE '"(step_s|graphs_per_s|mfu_xla|peak_bytes|solve_s|solved)": [0-9.e+-]+' "$R/bench_$name.log" | tr '\n' ' ')"
}
bench dense $CKPT
bench banded $CKPT --config.model.relative_scores=banded ${CKPT:+--relative_scores=banded}
bench rollout --skip_rollout --config.train.rollout=True --config.train.remat_iterations=False
# Rematerialize the rollout training unless its step fits in 60 GB beside the other jobs.
REMAT=$(python3 -c "
import json, sys
try: peak = json.load(open('$R/bench_rollout.json'))['train_step']['peak_bytes']
except Exception: peak = None
print('False' if peak is not None and peak < 60e9 else 'True')")
log "rollout training: remat_iterations=$REMAT"

# --- Phase 2: side by side until the deadline.
log "phase 2: $(left)s left"
train_eval rollout 200 "$FAST" $full --config.train.rollout=True \
  --config.train.remat_iterations=$REMAT --config.train.eval_every=100 &
(
  interp_job --config.model.operand_heads_layer=0 --config.train.operand_loss_weight=1.0 \
    --config.train.decay_trigger=0.1 --config.train.decay_steps=2000
  python3 -m experiments.export --workdir="$R/interp" --output="$R/interp_export" \
    --commit="${COMMIT:-unknown}" > "$R/interp_export.log" 2>&1
  log "interp: exported (exit $?)"
) &
for part in a b; do
  (
    only=QS_${part^^}; only=${!only}
    log "qs_$part: sweep $QS_SWEEP ($only)"
    python3 -m experiments.sweep --sweep="$QS_SWEEP" --workdir_root="$R/qs_$part" --only=$only \
      > "$R/qs_$part.log" 2>&1
    log "qs_$part: done (exit $?)"
  ) &
done

# Stop whatever is still running shortly before the deadline; results so far are kept.
stop_at_deadline 30 10 "experiments[.](train|evaluate|interpret|sweep|export)"

# --- Phase 3: pack (the exported interp model travels apart: it is .npz).
tar czf "$R/../s7_results.tgz" --exclude='checkpoints' --exclude='best' --exclude='tensorboard' \
  --exclude='*.json.gz' --exclude='*.npz' -C "$(dirname "$R")" "$(basename "$R")"
[ -d "$R/interp_export" ] && tar czf "$R/../s7_interp_export.tgz" -C "$R" interp_export
log "packed: $(ls -la "$R"/../s7_*.tgz | awk '{print $5, $9}')"
log "ALL DONE"
