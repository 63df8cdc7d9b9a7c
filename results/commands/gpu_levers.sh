#!/usr/bin/env bash
# Learning-dynamics levers for the full method at the paper's model size, on
# one H200: a short benchmark alone on the GPU, then several trainings side by
# side for the same wall-clock budget. Started in the background
# (`setsid nohup bash results/commands/gpu_levers.sh > levers.log 2>&1 &`)
# and followed by later calls that read runs/*.log.
#
# Each lever is "NAME overrides..." in LEVERS (one per line).
source results/commands/gpu_common.sh
BUDGET=${BUDGET:-420}
mkdir -p runs
if [ "${BENCH:-1}" = 1 ]; then
  for pos in relative rope; do
    python3 -m experiments.benchmark --config=configs/discrete_ec.py --steps=20 --eval_sizes=128 \
      --config.model.position=$pos --output=runs/benchmark_$pos.json 2>&1 | grep -v "^[WI]1" | tail -22
  done
fi
common="--config=configs/discrete_ec.py --nofinal_eval --config.model.dropout=0.0 \
  --config.train.schedule=constant --config.data.train_min_nodes=8 --config.data.size_chunks=4 \
  --config.train.max_train_seconds=$BUDGET --config.train.eval_every=250 --config.train.log_every=50 \
  --config.train.checkpoint_every=250 --config.train.val_num_graphs=256"
LEVERS=${LEVERS:-"control
use_value --config.model.operand_heads_layer=0 --config.train.use_value_loss_weight=1.0
use_value_lr2 --config.model.operand_heads_layer=0 --config.train.use_value_loss_weight=1.0 --config.train.learning_rate=2e-3
use_value_n32 --config.model.operand_heads_layer=0 --config.train.use_value_loss_weight=1.0 --config.data.train_min_nodes=32 --config.data.size_chunks=1"}
while read -r name overrides; do
  [ -z "$name" ] && continue
  python3 -m experiments.train $common --workdir=runs/$name $overrides > runs/$name.log 2>&1 &
done <<< "$LEVERS"
wait
echo "levers done"
