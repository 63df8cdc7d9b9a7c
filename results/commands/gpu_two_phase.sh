#!/usr/bin/env bash
# The two H200 runs of results/h200_use_value/, as they were run (one call
# each, the first in the background): run 1 trains the full method with
# use-site value supervision at a constant lr 2e-3 for BUDGET seconds and is
# evaluated and exported (gpu_final.sh); run 2 resumes run 1's best checkpoint
# with a cosine decay for 150 s, then is evaluated and exported.
source results/commands/gpu_common.sh
BUDGET=${BUDGET:-470} bash results/commands/gpu_final.sh
best=$(ls runs/final/best | grep -E '^[0-9]+$' | sort -n | tail -1)
mkdir -p runs/cont/checkpoints && cp -r runs/final/best/$best runs/cont/checkpoints/
python3 -m experiments.train --config=configs/discrete_ec.py --workdir=runs/cont --nofinal_eval \
  --config.model.dropout=0.0 --config.data.train_min_nodes=8 --config.data.size_chunks=4 \
  --config.train.max_train_seconds=150 --config.train.eval_every=500 --config.train.log_every=100 \
  --config.train.checkpoint_every=500 --config.train.val_num_graphs=256 --config.eval.batch_size=64 \
  --config.model.operand_heads_layer=0 --config.train.use_value_loss_weight=1.0 \
  --config.train.learning_rate=2e-3 --config.train.schedule=cosine --config.train.num_steps=4800 \
  --config.train.end_lr_fraction=0.02 > runs/cont.log 2>&1
grep "validation:\|summary" runs/cont.log | cut -c1-250
python3 -m experiments.evaluate --workdir=runs/cont --sizes=8,16,32,64,128 --num_graphs=512 \
  --halting=oracle > runs/cont_eval.log 2>&1
python3 -m experiments.export --workdir=runs/cont --output=runs/cont_export > runs/cont_export.log 2>&1
