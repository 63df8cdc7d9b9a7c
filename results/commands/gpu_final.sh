#!/usr/bin/env bash
# One H200: the full method at the paper's size with use-site value supervision,
# trained alone for BUDGET seconds, then evaluated and exported. Runs in the
# background; later calls read runs/final.log and copy the results to $OUT.
source results/commands/gpu_common.sh
BUDGET=${BUDGET:-480}
mkdir -p runs
python3 -m experiments.train --config=configs/discrete_ec.py --workdir=runs/final --nofinal_eval \
  --config.model.dropout=0.0 --config.train.schedule=constant --config.data.train_min_nodes=8 \
  --config.data.size_chunks=4 --config.train.max_train_seconds=$BUDGET --config.train.eval_every=500 \
  --config.train.log_every=50 --config.train.checkpoint_every=500 --config.train.val_num_graphs=256 \
  --config.eval.batch_size=64 --config.model.operand_heads_layer=0 \
  --config.train.use_value_loss_weight=1.0 --config.train.learning_rate=2e-3 ${EXTRA:-} > runs/final.log 2>&1
python3 -m experiments.evaluate --workdir=runs/final --sizes=${SIZES:-8,16,32,64,128} --num_graphs=512 \
  --halting=oracle,fixed_point > runs/final_eval.log 2>&1
python3 -m experiments.export --workdir=runs/final --output=runs/final_export > runs/final_export.log 2>&1
tar czf runs/final.tgz --exclude='*/checkpoints' --exclude='*/best' --exclude='*/tensorboard' runs/final runs/*.log runs/benchmark_*.json
echo "final done"
