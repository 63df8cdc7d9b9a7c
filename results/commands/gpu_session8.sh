#!/usr/bin/env bash
# Session 8 on one H200, in one lease (started in the background; later calls
# read runs/s8/plan.log):
#   phase 1, alone on the GPU (host cores 0-3), three benchmarks:
#     dense      the full method's train step and the shipped model's rollout
#                of 2,048 graphs at N = 128 (fixed point), batches of 256;
#     fused      the same with model.relative_scores=fused (the relative terms
#                as the bias of cuDNN's flash attention);
#     fused_b1024  the fused rollout in batches of 1,024 (dense ran out of
#                memory at 512);
#   phase 2, side by side until a shared deadline:
#     continuous   method 4 (configs/continuous.py), validated every 500 steps
#                  at N = 32, then tested at N = 8..128;
#     feedforward  method 1, validated every 1,000 steps at N = 16, then tested
#                  at N = 8..64;
#     both use fused scores if phase 1 found them faster and as accurate;
#   on the host CPU from the start (JAX_PLATFORMS=cpu, 2 cores each, cores
#   4-15): the quickstart as shipped, with no budget, for seeds 0-3, and its
#   500-step decay for seeds 0-1, each to its stop at 95% at 2x;
#   phase 3: everything small packed into runs/s8_results.tgz.
# SMOKE=1 runs the same plan with tiny configs on a CPU in a few minutes.
source results/commands/snapshot.sh
run_from_snapshot s8 results/commands/gpu_session8.sh
source results/commands/gpu_common.sh
T0=$(date +%s)
R=${R:-runs/s8}
mkdir -p "$R"
if [ "${SMOKE:-0}" = 1 ]; then
  TOTAL=${TOTAL:-300}; V=",size=tiny"; VC=":size=tiny"; NAMES=48
  BENCH="--steps=2 --eval_sizes=12 --eval_graphs=8 --eval_batch=8"; BIG_BATCH=16; CKPT=""
  SIZES_REC=8,12; SIZES_FF=8,12; NTEST=16; VAL_REC="(12,)"; VAL_FF="(12,)"
  QS="configs/quickstart.py:size=tiny"; QS_STEPS=6; QS_EXTRA="--config.train.eval_every=3 --config.model.num_layers=4"; QS_CORES=(0 0 0 0 0 0)
  GPU_CORES=0
else
  TOTAL=${TOTAL:-1500}; V=""; VC=""; NAMES=512
  BENCH="--steps=20 --eval_sizes=128 --eval_graphs=2048 --eval_batch=256"; BIG_BATCH=1024
  CKPT="--checkpoint=default"
  SIZES_REC=8,16,32,64,128; SIZES_FF=8,16,32,64; NTEST=512; VAL_REC="(32,)"; VAL_FF="(16,)"
  QS="configs/quickstart.py"; QS_STEPS=5000; QS_EXTRA=""; QS_CORES=(4,5 6,7 8,9 10,11 12,13 14,15)
  GPU_CORES=0-3
fi
DEADLINE=$((T0 + TOTAL))
source results/commands/gpu_plan.sh
FAST="configs/discrete_ec.py:recipe=fast$V"
log "commit ${COMMIT:-unknown} (set by the caller: the device copy has no .git)"

# --- On the host CPU, from the start: the quickstart's steps to 95% at 2x.
qs_job() {  # qs_job INDEX NAME [overrides...]
  local cores=${QS_CORES[$1]} name=$2; shift 2
  log "qs_$name: on cores $cores"
  JAX_PLATFORMS=cpu taskset -c "$cores" python3 -m experiments.train --config="$QS" \
    --workdir="$R/qs_$name" --config.train.max_train_seconds=0 \
    --config.train.num_steps=$QS_STEPS $QS_EXTRA "$@" > "$R/qs_$name.log" 2>&1
  log "qs_$name: done (exit $?)"
}
qs_job 0 s0 &
qs_job 1 s1 --config.seed=1 &
qs_job 2 s2 --config.seed=2 &
qs_job 3 dec500 --config.train.decay_steps=500 &
qs_job 4 dec500_s1 --config.train.decay_steps=500 --config.seed=1 &
qs_job 5 s3 --config.seed=3 &

# --- Phase 1: three benchmarks alone on the GPU.
bench() {  # bench NAME [flags...]
  local name=$1; shift
  taskset -c $GPU_CORES python3 -m experiments.benchmark --config="$FAST" \
    --config.data.num_names=$NAMES $BENCH --halting=fixed_point --output="$R/bench_$name.json" \
    "$@" > "$R/bench_$name.log" 2>&1
  log "bench $name (exit $?): $(grep -oE '"(step_s|graphs_per_s|mfu_xla|peak_bytes|solve_s|solved)": [0-9.e+-]+' "$R/bench_$name.log" | tr '\n' ' ')"
}
bench dense $CKPT
bench fused $CKPT --config.model.relative_scores=fused ${CKPT:+--relative_scores=fused}
bench fused_b1024 $CKPT --skip_train_step --eval_batch=$BIG_BATCH \
  --config.model.relative_scores=fused ${CKPT:+--relative_scores=fused}
# Fused scores for the trainings only if they were faster and solved as many.
SCORES=$(python3 -c "
import json
try:
  d, f = (json.load(open('$R/bench_%s.json' % n)) for n in ('dense', 'fused'))
  faster = f['train_step']['step_s'] < 0.95 * d['train_step']['step_s']
  same = all(a['solved'] >= b['solved'] - 1e-3 for a, b in zip(f['rollout'], d['rollout']))
  print('fused' if faster and same else 'dense')
except Exception as e:
  print('dense')")
log "trainings use relative_scores=$SCORES"

# --- Phase 2: methods 4 and 1 side by side until the deadline.
log "phase 2: $(left)s left"
baseline="--config.train.schedule=constant --config.train.learning_rate=1e-3 \
  --config.train.warmup_steps=300 --config.train.num_steps=1000000 --config.model.dropout=0.0 \
  --config.model.operand_heads_layer=0 --config.train.use_value_loss_weight=1.0 \
  --config.model.relative_scores=$SCORES"
(
  MAIN_SIZES=$SIZES_REC NMAIN=$NTEST
  train_eval continuous 150 "configs/continuous.py$VC" $baseline --config.train.batch_size=128 \
    --config.train.eval_every=500 --config.train.val_sizes="$VAL_REC" \
    --config.train.val_num_graphs=256 --config.eval.batch_size=128
) &
(
  MAIN_SIZES=$SIZES_FF NMAIN=$NTEST
  train_eval feedforward 100 "configs/feedforward.py$VC" $baseline \
    --config.train.eval_every=1000 --config.train.val_sizes="$VAL_FF" --config.train.val_num_graphs=256
) &

# Stop whatever is still running shortly before the deadline; results so far are kept.
stop_at_deadline 30 10 "experiments[.](train|evaluate)"

# --- Phase 3: pack.
pack_results s8
log "ALL DONE"
