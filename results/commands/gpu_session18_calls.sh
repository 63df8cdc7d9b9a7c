#!/usr/bin/env bash
# Session 18: the device calls run as one-line commands (the others are
# gpu_session18.sh, gpu_session18b.sh and gpu_session18g.sh). Each began with
# `source results/commands/gpu_common.sh`; results under $OUT/s18<letter>.
# FAST="configs/discrete_ec.py:recipe=fast --config.data.num_names=512"
# F=recur_latent/models/flash_relative.py
# TILES32: sed -i 's/block_q: int = 64, block_k: int = 64,/block_q: int = 32, block_k: int = 32,/;
#                 s/num_warps: int = 4, num_stages: int = 2/num_warps: int = 2, num_stages: int = 2/' $F
#
# c (tree e6b58f2, lease 2): the train step with the flash defaults edited by sed:
#   32x32 on 2 warps (TILES32), then 64x64 on 4 warps with num_stages 1, then e6b58f2 as is:
#   python3 -m experiments.benchmark --config=$FAST --steps=30 --skip_rollout --output=$R/step_$NAME.json
#
# d (e6b58f2 + TILES32, lease 2): the full method from scratch, seed 1, then its 2,048 test graphs:
#   python3 -m experiments.train --config=configs/discrete_ec.py:recipe=fast --workdir=/tmp/full_s1 \
#     --nofinal_eval --config.data.num_names=512 --config.train.max_train_seconds=200 \
#     --config.train.log_every=50 --config.train.checkpoint_every=1000 --config.eval.batch_size=256 --config.seed=1
#   python3 -m experiments.evaluate --workdir=/tmp/full_s1 --output=/tmp/full_s1/eval --sizes=128 \
#     --num_graphs=2048 --batch_size=64 --halting=fixed_point --suffix_chunks=8
#
# e (e6b58f2 + TILES32, lease 2): the train step profiled and the rollout of d's model:
#   python3 -m experiments.benchmark --config=$FAST --steps=30 --checkpoint=/tmp/full_s1 --halting=fixed_point \
#     --eval_batch=64 --suffix_chunks=8 --profile_dir=/tmp/prof --profile_top=150 --hlo=$R/step.hlo --output=$R/bench.json
#
# f (e6b58f2, lease 2): the train step at block_q x block_k x num_warps x num_stages = 32x32x2x3,
#   32x32x2x1, 32x32x1x2, 32x64x2x2 and 32x32x2x2, each by sed of the defaults, the command of c.
#
# h (tree 3862864, lease 3): as d (seed 1, workdir /tmp/full_s1h), then the benchmark of e
#   (without the profile) on its model.
#
# i (tree 3862864, lease 3): as d with --config.seed=0 (workdir /tmp/full_s0i).
