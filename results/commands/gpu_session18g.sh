#!/usr/bin/env bash
# Session 18, call 7 (results under $OUT/s18g), one lease, the fast recipe's
# train step (30 steps) with 32 x 32 flash tiles on 2 warps throughout:
#   joint    e6b58f2's attention.py and transformer.py (the q/k/v biases added
#            to the joint product; jax.nn.relu), from .variants/ (untracked);
#   slices   the tree's attention.py (each bias added to its slice), e6b58f2's
#            transformer.py;
#   tree     the tree (also transformer.relu, its derivative read off y > 0);
#   lt       the tree with --xla_gpu_enable_cublaslt=true as well;
#   then joint and tree again; tree profiled with its HLO.
# .variants/ (ignored by .git/info/exclude) was made with
#   mkdir -p .variants; for f in attention flash_relative transformer; do
#     git show e6b58f2:recur_latent/models/$f.py > .variants/${f}_e6b58f2.py; done
source results/commands/gpu_common.sh
R=${R:-$OUT/s18g}
mkdir -p "$R"
FAST="configs/discrete_ec.py:recipe=fast --config.data.num_names=512"
M=recur_latent/models
cp $M/attention.py /tmp/at_tree.py; cp $M/transformer.py /tmp/tr_tree.py
use() {
  case $1 in
    joint) cp .variants/attention_e6b58f2.py $M/attention.py; cp .variants/transformer_e6b58f2.py $M/transformer.py;;
    slices) cp /tmp/at_tree.py $M/attention.py; cp .variants/transformer_e6b58f2.py $M/transformer.py;;
    tree) cp /tmp/at_tree.py $M/attention.py; cp /tmp/tr_tree.py $M/transformer.py;;
  esac
}
bench() {  # NAME TREE [extra flags]
  local name=$1; use $2; shift 2
  python3 -m experiments.benchmark --config=$FAST --steps=30 --skip_rollout --output="$R/step_$name.json" \
    "$@" > "$R/step_$name.log" 2>&1
  echo "$name: exit $? $(grep -o '"pipelined_step_s": [0-9.]*\|"step_s": [0-9.]*\|Kernels on the device: [0-9.]* ms' "$R/step_$name.log" | tr '\n' ' ')"
}
bench joint1 joint
bench slices slices
bench tree1 tree --profile_dir=/tmp/prof_tree --profile_top=150 --hlo=$R/step_tree1.hlo
XLA_FLAGS="--xla_gpu_enable_triton_gemm=false --xla_gpu_enable_cublaslt=true" bench lt tree
bench joint2 joint
bench tree2 tree
use tree
gzip -f $R/step_tree1.hlo
cd $R && tar czf ../s18g.tgz . && cd - >/dev/null
