#!/usr/bin/env bash
# Session 3 on one H200, in one lease (started in the background; later calls
# read runs/s3/plan.log and runs/s3/status.txt):
#   phase 1, alone on the GPU: the full method from scratch until 99.5% on
#     512 validation graphs at N = 128 (time to accuracy, one process), with
#     512 variable names so the same model is tested at N = 256 and 512;
#   phase 2, side by side: that model's evaluation (2,048 graphs at
#     N = 8..128, then N = 256 and 512), the five other methods, the 2-layer
#     interpretability model, mixed operations (if time is left) and the
#     quickstart lever sweep, each trained until a shared deadline minus its
#     evaluation's reserve, then evaluated;
#   phase 3: everything small packed into runs/s3_results.tgz, the exported
#     models into runs/s3_full_export.tar and runs/s3_interp_export.tar.
# SMOKE=1 runs the same plan with tiny configs on a CPU in a few minutes.
source results/commands/gpu_common.sh
T0=$(date +%s)
R=${R:-runs/s3}
mkdir -p "$R"
if [ "${SMOKE:-0}" = 1 ]; then
  TOTAL=${TOTAL:-420}; V=":size=tiny"; FULL_BUDGET=60; NAMES=48; VAL="(12,)"; INTERP_BUDGET=20
  MAIN_SIZES=8,12; BENCH_SIZE=12; BIG=16; BIG2=24; NMAIN=16; NBIG=8; NBIG2=4; NBASE=16; COT_BIG=12
  QUICK="configs/sweeps/quickstart_levers.py:steps=4"; MIXED_MIN_LEFT=0
else
  TOTAL=${TOTAL:-1320}; V=""; FULL_BUDGET=${FULL_BUDGET:-540}; NAMES=512; VAL="(128,)"; INTERP_BUDGET=300
  MAIN_SIZES=8,16,32,48,64,96,128; BIG=256; BIG2=512; NMAIN=2048; NBIG=512; NBIG2=128; NBASE=1024
  COT_BIG=96,128; QUICK="configs/sweeps/quickstart_levers.py"; MIXED_MIN_LEFT=840
fi
DEADLINE=$((T0 + TOTAL))
left() { echo $((DEADLINE - $(date +%s))); }
log() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$R/plan.log"; }
budget() {  # Training seconds for a job whose evaluation needs $1 s (SMOKE: a fixed 20 s).
  [ "${SMOKE:-0}" = 1 ] && { echo 20; return; }
  local b=$(( $(left) - $1 )); [ "$b" -lt 30 ] && b=30; echo $b
}

# --- Phase 1: the full method alone, timed from process start to 99.5% at N = 128.
log "phase 1: full method (budget ${FULL_BUDGET}s)"
python3 -m experiments.train --config=configs/discrete_ec.py:recipe=fast${V:+,${V#:}} \
  --workdir="$R/full" --nofinal_eval --config.data.num_names=$NAMES \
  --config.train.schedule=triggered --config.train.decay_trigger=0.6 \
  --config.train.decay_steps=1500 --config.train.end_lr_fraction=0.02 \
  --config.train.warmup_steps=300 --config.train.num_steps=30000 \
  --config.train.max_train_seconds=$FULL_BUDGET --config.train.eval_every=500 \
  --config.train.val_sizes="$VAL" --config.train.val_num_graphs=512 \
  --config.train.stop_at_target=True --config.train.target_accuracy=0.995 \
  --config.train.log_every=50 --config.train.checkpoint_every=1000 \
  --config.eval.batch_size=256 > "$R/full.log" 2>&1
log "phase 1 done (exit $?): $(grep -o 'time_to_target_s.: [0-9.]*' "$R/full.log" | tail -1)"

# --- Phase 2: side by side until the deadline.
# train_eval NAME RESERVE_S CONFIG EVAL_FLAGS [train overrides...]: trains for
# what is left minus RESERVE_S, evaluates at the paper's sizes, then exports.
train_eval() {
  local name=$1 reserve=$2 config=$3 eval_flags=$4; shift 4
  local b; b=$(budget "$reserve")
  log "$name: training for ${b}s"
  python3 -m experiments.train --config="$config" --workdir="$R/$name" --nofinal_eval \
    --config.train.max_train_seconds=$b --config.train.log_every=100 \
    --config.train.checkpoint_every=1000 "$@" > "$R/$name.log" 2>&1
  log "$name: trained (exit $?)"
  [ "$(left)" -gt 40 ] || { log "$name: no time left to evaluate"; return; }
  python3 -m experiments.evaluate --workdir="$R/$name" --output="$R/$name/eval" $eval_flags \
    > "$R/${name}_eval.log" 2>&1
  log "$name: evaluated (exit $?)"
}
base_eval="--sizes=$MAIN_SIZES --num_graphs=$NBASE --batch_size=128"
baseline="--config.train.schedule=constant --config.train.learning_rate=1e-3 \
  --config.train.warmup_steps=300 --config.train.num_steps=100000 --config.train.eval_every=0 \
  --config.model.dropout=0.0"
aids="--config.model.operand_heads_layer=0 --config.train.use_value_loss_weight=1.0"
recurrent="--config.train.schedule=triggered --config.train.decay_trigger=0.6 \
  --config.train.decay_steps=1500 --config.train.end_lr_fraction=0.02 --config.train.warmup_steps=300 \
  --config.train.num_steps=30000 --config.train.eval_every=500 --config.train.val_sizes=$VAL \
  --config.train.val_num_graphs=256 --config.eval.batch_size=64"

log "phase 2: $(left)s left"
(
  log "full: evaluating"
  python3 -m experiments.evaluate --workdir="$R/full" --output="$R/full/eval" --sizes=$MAIN_SIZES \
    --num_graphs=$NMAIN --batch_size=128 > "$R/full_eval.log" 2>&1
  log "full: evaluated (exit $?) 8..128; exporting"
  python3 -m experiments.export --workdir="$R/full" --output="$R/full_export" > "$R/full_export.log" 2>&1
  python3 -m experiments.evaluate --workdir="$R/full" --output="$R/full/eval_$BIG" --sizes=$BIG \
    --num_graphs=$NBIG --batch_size=64 > "$R/full_eval_$BIG.log" 2>&1
  log "full: evaluated (exit $?) at $BIG"
  python3 -m experiments.evaluate --workdir="$R/full" --output="$R/full/eval_$BIG2" --sizes=$BIG2 \
    --num_graphs=$NBIG2 --batch_size=8 --correction_prob=0 > "$R/full_eval_$BIG2.log" 2>&1
  log "full: evaluated (exit $?) at $BIG2"
) &
train_eval interp 60 "configs/interp.py:recipe=fast${V:+,${V#:}}" "--sizes=$MAIN_SIZES --num_graphs=$NBASE --batch_size=128" \
  $recurrent --config.train.max_train_seconds=$INTERP_BUDGET &
train_eval discrete 200 "configs/discrete.py:recipe=fast${V:+,${V#:}}" "$base_eval" $recurrent &
train_eval continuous 200 "configs/continuous.py$V" "$base_eval" $baseline $aids &
train_eval feedforward 120 "configs/feedforward.py$V" "$base_eval" $baseline $aids &
train_eval e2e_recurrent 120 "configs/e2e_recurrent.py$V" "$base_eval" $baseline $aids &
(
  train_eval cot 330 "configs/cot.py$V" "--sizes=${MAIN_SIZES%,96,128} --num_graphs=512 --batch_size=128" \
    $baseline --config.train.batch_size=64
  python3 -m experiments.evaluate --workdir="$R/cot" --output="$R/cot/eval_big" --sizes=$COT_BIG \
    --num_graphs=128 --batch_size=64 > "$R/cot_eval_big.log" 2>&1
  log "cot: evaluated (exit $?) at $COT_BIG"
) &
if [ "$(left)" -ge $MIXED_MIN_LEFT ]; then
  train_eval mixed 200 "configs/discrete_ec.py:recipe=fast${V:+,${V#:}}" \
    "--sizes=$MAIN_SIZES --num_graphs=$NBASE --batch_size=128" $recurrent \
    --config.data.ops="('add','sub','mul')" &
else
  log "mixed: skipped, $(left)s left"
fi
(
  python3 -m experiments.sweep --sweep="$QUICK" --workdir_root="$R/quick" --only=base,pair3,fourier \
    > "$R/quick_a.log" 2>&1
  log "quick a: done (exit $?)"
) &
(
  python3 -m experiments.sweep --sweep="$QUICK" --workdir_root="$R/quick_b" --only=layers3,lr4e-3,pair2 \
    > "$R/quick_b.log" 2>&1
  log "quick b: done (exit $?)"
) &

# Stop whatever is still running shortly before the deadline; results so far are kept.
while [ -n "$(jobs -rp)" ] && [ "$(left)" -gt 45 ]; do sleep 5; done
if [ -n "$(jobs -rp)" ]; then
  log "deadline: stopping $(jobs -rp | wc -l) jobs"
  kill -TERM $(jobs -rp) 2>/dev/null  # The job shells first: none starts its next step.
  # Trainings save a checkpoint on SIGTERM; whatever still runs after that is killed.
  pkill -TERM -f "experiments\.(train|evaluate|sweep|export)"; sleep 15
  pkill -KILL -f "experiments\.(train|evaluate|sweep|export)"
fi
wait

# --- Phase 3: alone again: train-step and rollout timings of the trained model, then pack.
python3 -m experiments.benchmark --config=configs/discrete_ec.py:recipe=fast${V:+,${V#:}} \
  --config.data.num_names=$NAMES --checkpoint="$R/full" --steps=20 --eval_sizes=${BENCH_SIZE:-128} \
  --halting=oracle,fixed_point --output="$R/benchmark_full.json" > "$R/benchmark_full.log" 2>&1
log "benchmark done (exit $?)"
python3 -m experiments.export --workdir="$R/interp" --output="$R/interp_export" --dtype=float32 \
  > "$R/interp_export.log" 2>&1
[ -d "$R/full_export" ] || python3 -m experiments.export --workdir="$R/full" --output="$R/full_export" \
  > "$R/full_export.log" 2>&1
tar cf "$R/../s3_full_export.tar" -C "$R" full_export 2>/dev/null
tar cf "$R/../s3_interp_export.tar" -C "$R" interp_export 2>/dev/null
tar czf "$R/../s3_results.tgz" --exclude='checkpoints' --exclude='best' --exclude='tensorboard' \
  --exclude='*_export' -C "$(dirname "$R")" "$(basename "$R")"
log "packed: $(ls -la "$R"/../s3_*.t* | awk '{print $5, $9}' | tr '\n' ' ')"
log "ALL DONE"
