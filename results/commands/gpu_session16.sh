#!/usr/bin/env bash
# The lease of session 16 on one H200 (started in the background; later
# calls read runs/s16/plan.log):
#   phase A, the GPU alone: method 3's train step (configs/cot.py: NoPE,
#   8 layers, d = 512; batch 64, dropout 0) through experiments.benchmark
#   with model.relative_scores 'dense' (the [B, H, L, L] float32 scores of
#   every earlier CoT run) and 'fused' (one cuDNN causal call, no bias; new
#   this session for RoPE and NoPE);
#   phase B: method 3 with session 13's command on 'fused' on the GPU until
#   the reserve, then tested at N = 8..64 (512 graphs) and 128 (256);
#   beside it on the host CPU (cores 4-15), the quickstart over seeds 0-3:
#     shipped   as the README runs it (the same hour's baseline);
#     floor0.1  end_lr_fraction 0.1 (shipped 0.02: slow seeds crept at 2%);
#     pair3     pair_value_loss_weight 3 (shipped 1: the pair head's plateau
#               sets the steps);
#   then everything small packed into runs/s16_results.tgz.
# Run as: COMMIT=<sha> TOTAL=1450 setsid nohup bash results/commands/gpu_session16.sh \
#   > runs/s16_plan.out 2>&1 < /dev/null &   (carry .whl with ml-collections and tensorboardX)
# SMOKE=1 runs the same plan with tiny configs on a 2-core CPU.
source results/commands/snapshot.sh
run_from_snapshot s16 results/commands/gpu_session16.sh
source results/commands/gpu_common.sh
T0=$(date +%s)
R=${R:-runs/s16}
mkdir -p "$R"
if [ "${SMOKE:-0}" = 1 ]; then
  TOTAL=${TOTAL:-400}; VC=":size=tiny"
  SIZES_COT=8,12; NTEST=16; BIG_COT=12; NBIG=8; COT_BENCH_STEPS=2
  QS="configs/quickstart.py:size=tiny"; QS_STEPS=6; QS_EXTRA="--config.train.eval_every=3 --config.model.num_layers=4"
  QS_SEEDS="0"; QS_CORES=(1 1 1 1 1 1 1 1 1 1 1 1); GPU_CORES=0; COT_RESERVE=120
else
  TOTAL=${TOTAL:-1450}; VC=""
  SIZES_COT=8,16,32,64; NTEST=512; BIG_COT=128; NBIG=256; COT_BENCH_STEPS=10
  QS="configs/quickstart.py"; QS_STEPS=2400; QS_EXTRA=""
  QS_SEEDS="0 1 2 3"; QS_CORES=(4 5 6 7 8 9 10 11 12 13 14 15); GPU_CORES=0-3
  COT_RESERVE=260
fi
DEADLINE=$((T0 + TOTAL))
source results/commands/gpu_plan.sh
log "commit ${COMMIT:-unknown} (set by the caller: the device copy has no .git)"

# --- Phase A: the GPU alone.
COT_SCORES=dense  # Method 3 trains on 'fused' only if its step ran here.
for scores in fused dense; do
  python3 -m experiments.benchmark --config="configs/cot.py$VC" --config.model.dropout=0.0 \
    --config.train.batch_size=64 --config.model.relative_scores=$scores --skip_rollout \
    --steps=$COT_BENCH_STEPS --output="$R/bench_cot_$scores.json" > "$R/bench_cot_$scores.log" 2>&1
  status=$?; log "benchmark cot $scores: exit $status"
  grep -v "^[IW]1" "$R/bench_cot_$scores.log" | tail -22
  [ $scores = fused ] && [ $status = 0 ] && COT_SCORES=fused
done

# --- Phase B: method 3 on the GPU, quickstart levers on the host CPU.
declare -A LEVER=(
  [shipped]=""
  [floor0.1]="--config.train.end_lr_fraction=0.1"
  [pair3]="--config.train.pair_value_loss_weight=3.0"
)
qs_levers shipped floor0.1 pair3
log "cot on $COT_SCORES"
cot_job --config.model.relative_scores=$COT_SCORES &

stop_at_deadline 20 8 "experiments[.](train|evaluate)"
pack_results s16
log "ALL DONE"
