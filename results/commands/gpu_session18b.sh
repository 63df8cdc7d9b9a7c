#!/usr/bin/env bash
# Session 18, call 2 (results under $OUT/s18b), one lease:
#   attn.json   experiments.benchmark_attention at the training shape: the
#               two-kernel backward's tiles, warps and stages (ex2 scores);
#   step_*.json the fast recipe's train step (30 steps), alternating trees:
#               base   640b714's attention.py and flash_relative.py (the
#                      session-17 step), swapped in from .variants/ (untracked);
#               ex2    the tree's kernels (base-2 scores through ex2.approx)
#                      with 640b714's attention.py (three q/k/v products);
#               tree   the tree: ex2 kernels and one q/k/v product; profiled.
# .variants/ (ignored by .git/info/exclude) was made with
#   mkdir -p .variants; for f in attention flash_relative transformer; do
#     git show 640b714:recur_latent/models/$f.py > .variants/${f}_640b714.py; done
source results/commands/gpu_common.sh
R=${R:-$OUT/s18b}
mkdir -p "$R"
TILES=64x64,64x64x4x3,64x64x4x1,64x64x2,64x32,32x64,32x32x2,64x64x8x3
python3 -m experiments.benchmark_attention --paths=flash --flash_tiles=$TILES --repeats=20 \
  --output=$R/attn.json > $R/attn.log 2>&1; tail -10 $R/attn.log
FAST="configs/discrete_ec.py:recipe=fast --config.data.num_names=512"
M=recur_latent/models
cp $M/flash_relative.py /tmp/fr_tree.py; cp $M/attention.py /tmp/at_tree.py
use() {  # base | ex2 | tree
  case $1 in
    base) cp .variants/flash_relative_640b714.py $M/flash_relative.py; cp .variants/attention_640b714.py $M/attention.py;;
    ex2) cp /tmp/fr_tree.py $M/flash_relative.py; cp .variants/attention_640b714.py $M/attention.py;;
    tree) cp /tmp/fr_tree.py $M/flash_relative.py; cp /tmp/at_tree.py $M/attention.py;;
  esac
}
bench() {  # NAME TREE [extra flags]
  local name=$1; use $2; shift 2
  python3 -m experiments.benchmark --config=$FAST --steps=30 --skip_rollout --output="$R/step_$name.json" \
    "$@" > "$R/step_$name.log" 2>&1
  echo "$name: exit $? $(grep -o '"pipelined_step_s": [0-9.]*\|"step_s": [0-9.]*\|"peak_bytes": [0-9.e+]*\|Kernels on the device: [0-9.]* ms' "$R/step_$name.log" | tr '\n' ' ')"
}
bench base1 base
bench ex2 ex2
bench tree1 tree --profile_dir=/tmp/prof_tree --profile_top=120 --hlo=$R/step_tree1.hlo
bench base2 base
bench tree2 tree
use tree
gzip -f $R/step_tree1.hlo
cd $R && tar czf ../s18b.tgz . && cd - >/dev/null
