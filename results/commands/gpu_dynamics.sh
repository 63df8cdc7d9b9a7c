#!/usr/bin/env bash
# Learning-dynamics comparison of the full method at the paper's model size:
# four recipes trained concurrently on one H200 for the same wall-clock budget.
source results/commands/gpu_common.sh
python3 -m experiments.benchmark --config=configs/discrete_ec.py --steps=20 --eval_sizes=128 --output=$OUT/benchmark_discrete_ec_init.json 2>&1 | grep -v "^W\|^I" | tail -30
BUDGET=${BUDGET:-360}
mkdir -p runs
common="--config=configs/discrete_ec.py --nofinal_eval --config.train.max_train_seconds=$BUDGET \
  --config.train.eval_every=250 --config.train.checkpoint_every=100000 --config.train.log_every=50"
python3 -m experiments.train $common --workdir=runs/n32 > runs/n32.log 2>&1 &
python3 -m experiments.train $common --workdir=runs/mixed --config.data.train_min_nodes=8 \
  --config.data.size_chunks=4 > runs/mixed.log 2>&1 &
python3 -m experiments.train $common --workdir=runs/mixed_lr3 --config.data.train_min_nodes=8 \
  --config.data.size_chunks=4 --config.train.learning_rate=3e-3 > runs/mixed_lr3.log 2>&1 &
python3 -m experiments.train $common --workdir=runs/mixed_faithful --config.data.train_min_nodes=8 \
  --config.data.size_chunks=4 --config.train.loss=faithful > runs/mixed_faithful.log 2>&1 &
wait
for r in n32 mixed mixed_lr3 mixed_faithful; do
  echo "== $r"; grep -h "val_solved_mean\|steps/s" runs/$r.log | tail -4 | cut -c1-400
done
tar czf $OUT/dynamics.tgz runs/*/metrics.jsonl runs/*.log runs/*/config.json
