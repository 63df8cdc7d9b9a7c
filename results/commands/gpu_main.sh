#!/usr/bin/env bash
# One H200 call: benchmark, then the full method and the interpretability model
# trained side by side under a wall-clock budget, evaluated and analysed.
source results/commands/gpu_common.sh
BUDGET=${BUDGET:-330}
mkdir -p runs
python3 -m experiments.benchmark --config=configs/discrete_ec.py${VARIANT:-} --steps=20 --eval_sizes=128 \
  --output=$OUT/benchmark_discrete_ec.json 2>&1 | grep -v "^[WI]1" | tail -25
speed="--config.model.dropout=0.0 --config.train.schedule=constant --config.data.train_min_nodes=8 \
  --config.data.size_chunks=4 --config.train.max_train_seconds=$BUDGET --config.train.eval_every=250 \
  --config.train.log_every=100 --config.train.checkpoint_every=1000 --config.train.val_num_graphs=512"
python3 -m experiments.train --config=configs/discrete_ec.py${VARIANT:-} --workdir=runs/discrete_ec $speed \
  --nofinal_eval > runs/discrete_ec.log 2>&1 &
python3 -m experiments.train --config=configs/interp.py${VARIANT:-} --workdir=runs/interp $speed \
  --nofinal_eval > runs/interp.log 2>&1 &
wait
grep -h "validation:" runs/discrete_ec.log | tail -3 | cut -c1-300
python3 -m experiments.evaluate --workdir=runs/discrete_ec --sizes=8,16,32,48,64,96,128 \
  --num_graphs=1024 --halting=oracle,fixed_point > runs/discrete_ec_eval.log 2>&1 &
python3 -m experiments.interpret --checkpoint=runs/interp --output=runs/interp/report \
  > runs/interp_report.log 2>&1 &
wait
tail -n 5 runs/discrete_ec_eval.log runs/interp_report.log
cat runs/discrete_ec/eval.md 2>/dev/null | head -30
python3 -m experiments.export --workdir=runs/discrete_ec --output=$OUT/model_discrete_ec 2>&1 | tail -2
tar czf $OUT/main_runs.tgz --exclude='*/checkpoints' --exclude='*/best' --exclude='*/tensorboard' runs
