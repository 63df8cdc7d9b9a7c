#!/usr/bin/env bash
# Session 19, call 5 (lease 3): the shipped tree once more from scratch (seed 3, the recipe as
# shipped: skip_padding, validation on 2,048 graphs, two in a row), its 2,048 test graphs, then
# experiments.benchmark on its model: the train step (30 steps) and the rollout of the 2,048
# graphs at N = 128 (fixed point, batches of 64, 8 suffix chunks), as session 18's call e.
# Everything in /tmp/s19e, returned as $OUT/s19e.tgz.
export R=/tmp/s19e
bash results/commands/gpu_session19b.sh 3 || exit 1
source results/commands/gpu_common.sh > /dev/null
python3 -m experiments.benchmark --config=configs/discrete_ec.py:recipe=fast --config.data.num_names=512 \
  --steps=30 --checkpoint=/tmp/full_s3 --halting=fixed_point --eval_batch=64 --suffix_chunks=8 \
  --output=$R/bench.json > $R/bench.log 2>&1
echo "bench exit $?"; grep -i "graphs/s\|rollout\|solved" $R/bench.log | tail -8
tar czf $OUT/s19e.tgz -C $R .
