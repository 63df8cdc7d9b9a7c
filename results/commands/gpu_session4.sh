#!/usr/bin/env bash
# Session 4 on one H200, in one lease (started in the background; later calls
# read runs/s4/plan.log and runs/s4/status.txt):
#   phase 1, alone on the GPU: train-step benchmarks of the full method at
#     batch 256 and 1024 (MFU against batch size);
#   phase 2, side by side until a shared deadline, each job trained until the
#     deadline minus its evaluation's reserve, then evaluated:
#     mixed   the full method on +, -, * (pair head on), trained on N <= 32;
#     n512    the full method validated at N = 256 with a longer decay, then
#             tested at N = 128, 256 and 512;
#     errors  the full method with corruption drawn from its own likely errors
#             (train.corrupt_values=model), against session 3's 2,500 steps;
#     rollout the full method trained on its own rollouts (straight-through);
#     continuous  method 4 with rematerialized iterations;
#     quick_a/b   the quickstart lever sweep, round 2 (steps to 95% at 2x);
#   phase 3: everything small packed into runs/s4_results.tgz.
# SMOKE=1 runs the same plan with tiny configs on a CPU in a few minutes.
source results/commands/gpu_common.sh
T0=$(date +%s)
R=${R:-runs/s4}
mkdir -p "$R"
if [ "${SMOKE:-0}" = 1 ]; then
  TOTAL=${TOTAL:-400}; V=",size=tiny"; VC=":size=tiny"; NAMES=48; VAL="(12,)"; VAL_BIG="(16,)"
  MAIN_SIZES=8,12; MID=12; BIG=16; BIG2=24; NMAIN=16; NBIG=8; NBIG2=4; BENCH_BATCHES="16 32"
  QUICK="configs/sweeps/quickstart_steps.py:steps=4"
else
  TOTAL=${TOTAL:-1320}; V=""; VC=""; NAMES=512; VAL="(128,)"; VAL_BIG="(256,)"
  MAIN_SIZES=8,16,32,48,64,96,128; MID=128; BIG=256; BIG2=512; NMAIN=1024; NBIG=512; NBIG2=128
  BENCH_BATCHES="256 1024"; QUICK="configs/sweeps/quickstart_steps.py"
fi
DEADLINE=$((T0 + TOTAL))
source results/commands/gpu_plan.sh
FAST="configs/discrete_ec.py:recipe=fast$V"

# --- Phase 1: train-step benchmarks, alone.
for b in $BENCH_BATCHES; do
  python3 -m experiments.benchmark --config="$FAST" --config.data.num_names=$NAMES \
    --config.train.batch_size=$b --steps=20 --skip_rollout \
    --output="$R/benchmark_b$b.json" > "$R/benchmark_b$b.log" 2>&1
  log "benchmark batch $b (exit $?): $(grep -oE '"(graphs_per_s|mfu_xla)": [0-9.e-]+' "$R/benchmark_b$b.log" | tr '\n' ' ')"
done

# --- Phase 2: side by side until the deadline.
# As session 3's 213 s run (its control): 512 names, validation on 512 graphs at N = 128.
full="--config.data.num_names=$NAMES --config.train.val_sizes=$VAL"
log "phase 2: $(left)s left"
train_eval mixed 150 "$FAST" $full --config.data.ops="('add','sub','mul')" \
  --config.model.pair_heads_layer=1 --config.train.pair_value_loss_weight=1.0 &
train_eval errors 120 "$FAST" $full --config.train.corrupt_values=model &
train_eval rollout 120 "$FAST" $full --config.train.rollout=True \
  --config.train.remat_iterations=True &
train_eval continuous 150 "configs/continuous.py$VC" --config.train.batch_size=128 \
  --config.train.schedule=constant --config.train.learning_rate=1e-3 \
  --config.train.warmup_steps=300 --config.train.num_steps=100000 --config.train.eval_every=0 \
  --config.model.dropout=0.0 --config.model.operand_heads_layer=0 \
  --config.train.use_value_loss_weight=1.0 &
(
  # Validation at 8x the training size (64 graphs, small rollout batches) and
  # a 3,000-step decay: the session-3 model had .961 at N = 512.
  b=$(budget 380)
  log "n512: training for ${b}s"
  python3 -m experiments.train --config="$FAST" --workdir="$R/n512" --nofinal_eval \
    --config.data.num_names=$NAMES --config.train.val_sizes="$VAL_BIG" \
    --config.train.val_num_graphs=64 --config.eval.batch_size=16 \
    --config.train.decay_steps=3000 --config.train.max_train_seconds=$b \
    --config.train.log_every=100 --config.train.checkpoint_every=1000 > "$R/n512.log" 2>&1
  log "n512: trained (exit $?)"
  python3 -m experiments.evaluate --workdir="$R/n512" --output="$R/n512/eval_$MID" --sizes=$MID \
    --num_graphs=$NMAIN --batch_size=128 > "$R/n512_eval_$MID.log" 2>&1
  log "n512: evaluated (exit $?) at $MID"
  python3 -m experiments.evaluate --workdir="$R/n512" --output="$R/n512/eval_$BIG" --sizes=$BIG \
    --num_graphs=$NBIG --batch_size=32 --correction_prob=0 > "$R/n512_eval_$BIG.log" 2>&1
  log "n512: evaluated (exit $?) at $BIG"
  python3 -m experiments.evaluate --workdir="$R/n512" --output="$R/n512/eval_$BIG2" --sizes=$BIG2 \
    --num_graphs=$NBIG2 --batch_size=8 --correction_prob=0 > "$R/n512_eval_$BIG2.log" 2>&1
  log "n512: evaluated (exit $?) at $BIG2"
) &
(
  python3 -m experiments.sweep --sweep="$QUICK" --workdir_root="$R/quick" \
    --only=cosine1000,trig,trig_prefix,trig_l4_prefix,trig_lr3e-3,trig_b32 > "$R/quick_a.log" 2>&1
  log "quick a: done (exit $?)"
) &
(
  python3 -m experiments.sweep --sweep="$QUICK" --workdir_root="$R/quick" \
    --only=trig_b128,trig_warm50,trig_noec,trig_names,trig_b2_95 > "$R/quick_b.log" 2>&1
  log "quick b: done (exit $?)"
) &

# Stop whatever is still running shortly before the deadline; results so far are kept.
stop_at_deadline 45 15 "experiments[.](train|evaluate|sweep)"

# --- Phase 3: pack.
tar czf "$R/../s4_results.tgz" --exclude='checkpoints' --exclude='best' --exclude='tensorboard' \
  -C "$(dirname "$R")" "$(basename "$R")"
log "packed: $(ls -la "$R"/../s4_*.tgz | awk '{print $5, $9}')"
log "ALL DONE"
