#!/usr/bin/env bash
# Session 19, call 2: the full method from scratch with the fast recipe
# (train.skip_padding and train.target_repeats=2 on), seeds given as arguments
# (default 0 1 2), each then tested on the 2,048 graphs at N = 128 (fixed
# point, 8 suffix chunks). $R is tarred into $OUT/<its name>.tgz after each
# seed, so a call cut off by its time limit still returns the finished seeds.
source results/commands/gpu_common.sh
R=${R:-/tmp/s19b}  # Session 19 ran it again as R=/tmp/s19d (validation on 2,048 graphs).
mkdir -p "$R"
for seed in ${@:-0 1 2}; do
  W=/tmp/full_s$seed
  rm -rf $W  # From scratch: a workdir left by an earlier call of the lease would resume.
  python3 -m experiments.train --config=configs/discrete_ec.py:recipe=fast --workdir=$W \
    --nofinal_eval --config.data.num_names=512 --config.train.max_train_seconds=300 \
    --config.train.log_every=50 --config.train.checkpoint_every=1000 --config.eval.batch_size=256 \
    --config.seed=$seed > $R/full_s$seed.log 2>&1
  echo "seed $seed train exit $?" >> $R/progress.log
  cp $W/metrics.jsonl $R/metrics_s$seed.jsonl
  python3 -m experiments.evaluate --workdir=$W --output=$W/eval --sizes=128 --num_graphs=2048 \
    --batch_size=64 --halting=fixed_point --suffix_chunks=8 > $R/full_s${seed}_eval.log 2>&1
  echo "seed $seed eval exit $?" >> $R/progress.log
  tail -3 $R/full_s${seed}_eval.log
  tar czf $OUT/$(basename $R).tgz -C $R .
done
echo done >> $R/progress.log
