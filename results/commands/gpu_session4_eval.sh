#!/usr/bin/env bash
# Session 4, after gpu_session4.sh: its deadline stopped the evaluations, so
# the trained workdirs were evaluated in two more calls of the same lease
# (as run; the environment of gpu_common.sh, wheels already installed).
export PYTHONPATH=/tmp/site:$PWD XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
R=runs/s4
ev() {  # ev WORKDIR OUTPUT SIZES NUM_GRAPHS BATCH [extra flags]
  n=$1; shift
  timeout 320 python3 -m experiments.evaluate --workdir=$R/$n --output=$R/$n/$1 --sizes=$2 \
    --num_graphs=$3 --batch_size=$4 ${5:-} > $R/${n}_$1.log 2>&1
  echo "$n $1 exit $?"
}
# Call 1 (186 s, five processes side by side):
ev errors eval 8,16,32,64,128 512 128 &
ev mixed eval 8,16,32,64,128 512 128 &
ev continuous eval 8,16,32,64,128 512 128 &
ev rollout eval 8,16,32,64,128 256 128 &
ev n512 eval_256 256 256 32 --correction_prob=0 &
wait
# Call 2 (49 s):
timeout 170 python3 -m experiments.evaluate --workdir=$R/n512 --output=$R/n512/eval_512 --sizes=512 \
  --num_graphs=64 --batch_size=16 --correction_prob=0 > $R/n512_eval_512.log 2>&1
