#!/usr/bin/env bash
# The lease of session 15 on one H200 (started in the background; later
# calls read runs/s15/plan.log):
#   phase A, the GPU alone: relative attention as one Pallas kernel
#   (relative_scores='flash', models/flash_relative.py) against 'fused'
#   (cuDNN with a [B, H, L, L] bias) and 'dense':
#     1. experiments.benchmark_attention at the train step's shape (B 256,
#        L 256, 16 heads of 24) and at a rollout suffix (B 64, keys 832,
#        queries from 416), several tiles: times and errors against float32;
#     2. experiments.benchmark, the fast recipe with 'flash': the train step
#        (profiled) and the rollout of the shipped model, 2,048 graphs at
#        N = 128 in batches of 64 (session 12, 'fused': 34.1 ms, 3.83 s);
#        then the same rollout with 'fused', the same hour;
#   phase B: method 3 (chain-of-thought, session 13's command) on the GPU
#   until the reserve, then tested at N = 8..64 (512 graphs) and 128 (256);
#   beside it on the host CPU (cores 4-15), quickstart levers over seeds 0-5:
#     floor0.1  end_lr_fraction 0.1 (shipped 0.02: slow seeds crept at 2%);
#     pair3     pair_value_loss_weight 3 (shipped 1: the pair head's plateau
#               sets the steps);
#   then everything small packed into runs/s15_results.tgz.
# Run as: COMMIT=<sha> TOTAL=1500 setsid nohup bash results/commands/gpu_session15.sh \
#   > runs/s15_plan.out 2>&1 < /dev/null &   (carry .whl with ml-collections and tensorboardX)
# SMOKE=1 runs the same plan with tiny configs on a 2-core CPU.
source results/commands/snapshot.sh
run_from_snapshot s15 results/commands/gpu_session15.sh
source results/commands/gpu_common.sh
T0=$(date +%s)
R=${R:-runs/s15}
mkdir -p "$R"
if [ "${SMOKE:-0}" = 1 ]; then
  TOTAL=${TOTAL:-400}; VC=":size=tiny"
  SIZES_COT=8,12; NTEST=16; BIG_COT=12; NBIG=8
  ATT_TRAIN="--batch=2 --queries=40 --heads=2 --window=8 --repeats=2"
  ATT_ROLL="--batch=2 --queries=24 --offset=24 --heads=2 --window=8 --repeats=2"
  TILES="16x16,32x16"; BENCH="configs/discrete_ec.py:size=tiny --config.model.dropout=0.0 --steps=2 --eval_graphs=8 --eval_batch=4 --eval_sizes=12"
  QS="configs/quickstart.py:size=tiny"; QS_STEPS=6; QS_EXTRA="--config.train.eval_every=3 --config.model.num_layers=4"
  QS_SEEDS="0"; QS_CORES=(1 1 1 1 1 1 1 1 1 1 1 1); GPU_CORES=0; COT_RESERVE=120
else
  TOTAL=${TOTAL:-1500}; VC=""
  SIZES_COT=8,16,32,64; NTEST=512; BIG_COT=128; NBIG=256
  ATT_TRAIN="--batch=256 --queries=256 --repeats=20"
  ATT_ROLL="--batch=64 --queries=416 --offset=416 --repeats=20 --backward=False"
  TILES="64x64,128x64,64x32,128x128x8,64x64x4x3,128x64x8"
  BENCH="configs/discrete_ec.py:recipe=fast --config.data.num_names=512 --steps=20 --eval_sizes=128 --eval_graphs=2048 --eval_batch=64"
  QS="configs/quickstart.py"; QS_STEPS=2400; QS_EXTRA=""
  QS_SEEDS="0 1 2 3 4 5"; QS_CORES=(4 5 6 7 8 9 10 11 12 13 14 15); GPU_CORES=0-3
  COT_RESERVE=260
fi
DEADLINE=$((T0 + TOTAL))
source results/commands/gpu_plan.sh
log "commit ${COMMIT:-unknown} (set by the caller: the device copy has no .git)"

# --- Phase A: the GPU alone.
for shape in train roll; do
  [ $shape = train ] && flags=$ATT_TRAIN || flags=$ATT_ROLL
  python3 -m experiments.benchmark_attention $flags --flash_tiles=$TILES \
    --output="$R/attention_$shape.json" > "$R/attention_$shape.log" 2>&1
  log "attention $shape: exit $?"; tail -12 "$R/attention_$shape.log"
done
python3 -m experiments.benchmark --config=$BENCH --config.model.relative_scores=flash \
  --halting=fixed_point --relative_scores=flash --suffix_chunks=8 --checkpoint=default \
  --profile_dir="$R/profile_flash" --output="$R/bench_flash.json" > "$R/bench_flash.log" 2>&1
log "benchmark flash: exit $?"; grep -v "^ " "$R/bench_flash.log" | tail -30
python3 -m experiments.benchmark --config=$BENCH --skip_train_step \
  --halting=fixed_point --relative_scores=fused --suffix_chunks=8 --checkpoint=default \
  --output="$R/bench_fused_rollout.json" > "$R/bench_fused_rollout.log" 2>&1
log "benchmark fused rollout: exit $?"; tail -8 "$R/bench_fused_rollout.log"
rm -rf "$R"/profile_flash/plugins  # The trace is large; the kernel table is in the JSON.

# --- Phase B: method 3 on the GPU, quickstart levers on the host CPU.
declare -A LEVER=(
  [floor0.1]="--config.train.end_lr_fraction=0.1"
  [pair3]="--config.train.pair_value_loss_weight=3.0"
)
qs_levers floor0.1 pair3
cot_job &

stop_at_deadline 20 8 "experiments[.](train|evaluate)"
pack_results s15
log "ALL DONE"
