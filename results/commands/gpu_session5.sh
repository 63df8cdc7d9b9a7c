#!/usr/bin/env bash
# Session 5 on one H200, in one lease (started in the background; later calls
# read runs/s5/plan.log):
#   phase 1, alone on the GPU: the train-step benchmark of the full method with
#     the skewed relative-attention backward, with a profile (kernel table,
#     device occupancy, the Perfetto trace kept);
#   phase 2, three jobs side by side until a shared deadline (session 4 showed
#     that seven saturate the GPU), each trained until the deadline minus its
#     evaluation's reserve, then evaluated:
#     mixed   the full method on +, -, * (pair head on), trained on N <= 32;
#     n512    the full method with validation at N = 128 starting a 4,000-step
#             decay and no stop at the target; tested at N = 128, 256 and 512;
#     interp  configs/interp.py (2 layers, d = 256, addition, no error
#             correction) with no auxiliary heads, as the paper trained it,
#             then experiments.interpret on it;
#   phase 3: everything small packed into runs/s5_results.tgz.
# SMOKE=1 runs the same plan with tiny configs on a CPU in a few minutes.
source results/commands/gpu_common.sh
T0=$(date +%s)
R=${R:-runs/s5}
mkdir -p "$R"
if [ "${SMOKE:-0}" = 1 ]; then
  TOTAL=${TOTAL:-300}; V=",size=tiny"; VC=":size=tiny"; NAMES=48; VAL="(12,)"; VAL_INTERP="(12,)"
  MAIN_SIZES=8,12; MID=12; BIG=16; BIG2=24; NMAIN=16; NBIG=8; NBIG2=4; INTERP_SIZES=8,12; INTERP_FLAGS="--num_bases=1 --num_settings=2 --novalue_grid"
else
  TOTAL=${TOTAL:-1350}; V=""; VC=""; NAMES=512; VAL="(128,)"; VAL_INTERP="(64,)"
  MAIN_SIZES=8,16,32,48,64,96,128; MID=128; BIG=256; BIG2=512; NMAIN=1024; NBIG=512; NBIG2=128; INTERP_SIZES=8,16,32,64,96; INTERP_FLAGS=""
fi
DEADLINE=$((T0 + TOTAL))
source results/commands/gpu_plan.sh
FAST="configs/discrete_ec.py:recipe=fast$V"

# --- Phase 1: the train step alone, timed and profiled.
python3 -m experiments.benchmark --config="$FAST" --config.data.num_names=$NAMES --steps=20 \
  --skip_rollout --profile_dir=/tmp/s5_profile --output="$R/benchmark.json" > "$R/benchmark.log" 2>&1
log "benchmark (exit $?): $(grep -oE '"(step_s|graphs_per_s|mfu_xla)": [0-9.e-]+' "$R/benchmark.log" | tr '\n' ' ')"
cp "$(ls -t /tmp/s5_profile/plugins/profile/*/perfetto_trace.json.gz | head -1)" "$R/train_step_trace.json.gz"

# --- Phase 2: side by side until the deadline.
full="--config.data.num_names=$NAMES --config.train.val_sizes=$VAL"
log "phase 2: $(left)s left"
train_eval mixed 150 "$FAST" $full --config.data.ops="('add','sub','mul')" \
  --config.model.pair_heads_layer=1 --config.train.pair_value_loss_weight=1.0 &
n512_job 4000 &
# The paper's training of the analysed model: no use-site, operand or pair
# heads (results/interp/README.md: the use-site head changes the circuit).
interp_job &

# Stop whatever is still running shortly before the deadline; results so far are kept.
stop_at_deadline 30 10 "experiments[.](train|evaluate|interpret)"

# --- Phase 3: pack.
pack_results s5
log "ALL DONE"
