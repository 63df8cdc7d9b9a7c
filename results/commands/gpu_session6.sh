#!/usr/bin/env bash
# Session 6 on one H200, in one lease (started in the background; later calls
# read runs/s6/plan.log):
#   phase 1, alone on the GPU: the train-step benchmark of the full method with
#     the relative tables' gradient sums behind an optimization barrier
#     (session 5's prediction: up to -16 ms, to about 45 ms), with a profile;
#   phase 2, side by side until a shared deadline, two paper-size trainings
#     (session 5: no more than two) and two small ones:
#     n512    the full method, validation at N = 128 starting a 3,000-step
#             decay run to its end (no stop at the target); tested at N = 128,
#             256 and 512;
#     mixed   the full method on +, -, * with the pair head, the decay started
#             at 0.3 at N = 128 (session 5: it never reached the 0.6 trigger);
#     interp  configs/interp.py (2 layers, d = 256, addition, no error
#             correction) with only the operand-name head after layer 1: the
#             paper's first finding supervised, the retrieval and the addition
#             left free; then experiments.interpret on it;
#     qs      configs/sweeps/quickstart_l4.py, one run after another: steps to
#             95% at 2x of the 4-layer quickstart model and its levers;
#   phase 3: everything small packed into runs/s6_results.tgz.
# SMOKE=1 runs the same plan with tiny configs on a CPU in a few minutes.
# Later calls re-send the working tree, so the plan runs from a snapshot of it:
# processes it starts late (evaluations) see the code it started with.
source results/commands/snapshot.sh
run_from_snapshot s6 results/commands/gpu_session6.sh
source results/commands/gpu_common.sh
T0=$(date +%s)
R=${R:-runs/s6}
mkdir -p "$R"
if [ "${SMOKE:-0}" = 1 ]; then
  TOTAL=${TOTAL:-300}; V=",size=tiny"; VC=":size=tiny"; NAMES=48; VAL="(12,)"; VAL_INTERP="(12,)"
  MIXED_SIZES=8,12; MID=12; BIG=16; BIG2=24; NMAIN=16; NBIG=8; NBIG2=4; INTERP_SIZES=8,12
  INTERP_FLAGS="--num_bases=1 --num_settings=2 --novalue_grid"; QS_SWEEP="configs/sweeps/quickstart_l4.py:steps=4"
  QS_ONLY=l4p3,l4p3_tied
else
  TOTAL=${TOTAL:-1380}; V=""; VC=""; NAMES=512; VAL="(128,)"; VAL_INTERP="(64,)"
  MIXED_SIZES=8,16,32,64,128; MID=128; BIG=256; BIG2=512; NMAIN=1024; NBIG=512; NBIG2=128
  INTERP_SIZES=8,16,32,64,96; INTERP_FLAGS=""; QS_SWEEP="configs/sweeps/quickstart_l4.py"
  QS_ONLY=l4p3,l4p3_tied,l4p3_trig3,l4p3_h2,l4p3_b128,l4p3_p11
fi
DEADLINE=$((T0 + TOTAL))
source results/commands/gpu_plan.sh
FAST="configs/discrete_ec.py:recipe=fast$V"

# --- Phase 1: the train step alone, timed and profiled.
log "commit ${COMMIT:-unknown} (set by the caller: the device copy has no .git)"
python3 -m experiments.benchmark --config="$FAST" --config.data.num_names=$NAMES --steps=20 \
  --skip_rollout --profile_dir=/tmp/s6_profile --output="$R/benchmark.json" > "$R/benchmark.log" 2>&1
log "benchmark (exit $?): $(grep -oE '"(step_s|graphs_per_s|mfu_xla)": [0-9.e-]+' "$R/benchmark.log" | tr '\n' ' ')"
cp "$(ls -t /tmp/s6_profile/plugins/profile/*/perfetto_trace.json.gz | head -1)" "$R/train_step_trace.json.gz"

# --- Phase 2: side by side until the deadline.
full="--config.data.num_names=$NAMES --config.train.val_sizes=$VAL"
log "phase 2: $(left)s left"
(
  MAIN_SIZES=$MIXED_SIZES
  train_eval mixed 240 "$FAST" $full --config.data.ops="('add','sub','mul')" \
    --config.model.pair_heads_layer=1 --config.train.pair_value_loss_weight=1.0 \
    --config.train.decay_trigger=0.3 --config.train.decay_steps=2000
) &
n512_job 3000 &
interp_job --config.model.operand_heads_layer=0 --config.train.operand_loss_weight=1.0 &
(
  log "qs: sweep $QS_SWEEP ($QS_ONLY)"
  python3 -m experiments.sweep --sweep="$QS_SWEEP" --workdir_root="$R/qs" --only=$QS_ONLY \
    > "$R/qs.log" 2>&1
  log "qs: done (exit $?)"
) &

# Stop whatever is still running shortly before the deadline; results so far are kept.
stop_at_deadline 30 10 "experiments[.](train|evaluate|interpret|sweep)"

# --- Phase 3: pack.
pack_results s6
log "ALL DONE"
