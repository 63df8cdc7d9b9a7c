# Sourced by the GPU plan scripts after gpu_common.sh: the deadline, the log
# and the jobs that train until it. Needs T0, R and DEADLINE set.

left() { echo $((DEADLINE - $(date +%s))); }
log() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$R/plan.log"; }
budget() {  # Training seconds for a job whose evaluation needs $1 s (SMOKE: a fixed 20 s).
  [ "${SMOKE:-0}" = 1 ] && { echo 20; return; }
  local b=$(( $(left) - $1 )); [ "$b" -lt 30 ] && b=30; echo $b
}

# train_eval NAME RESERVE_S CONFIG [train overrides...]: trains for what is
# left minus RESERVE_S, then evaluates at $MAIN_SIZES on $NMAIN graphs.
train_eval() {
  local name=$1 reserve=$2 config=$3; shift 3
  local b; b=$(budget "$reserve")
  log "$name: training for ${b}s"
  python3 -m experiments.train --config="$config" --workdir="$R/$name" --nofinal_eval \
    --config.train.max_train_seconds=$b --config.train.log_every=100 \
    --config.train.checkpoint_every=1000 "$@" > "$R/$name.log" 2>&1
  log "$name: trained (exit $?)"
  [ "$(left)" -gt 40 ] || { log "$name: no time left to evaluate"; return; }
  python3 -m experiments.evaluate --workdir="$R/$name" --output="$R/$name/eval" \
    --sizes=$MAIN_SIZES --num_graphs=$NMAIN --batch_size=128 > "$R/${name}_eval.log" 2>&1
  log "$name: evaluated (exit $?)"
}

# stop_at_deadline MARGIN_S GRACE_S PATTERN: waits for the background jobs
# until MARGIN_S before the deadline, then stops what still runs. Trainings
# save a checkpoint on SIGTERM; whatever runs GRACE_S later is killed.
stop_at_deadline() {
  local margin=$1 grace=$2 pattern=$3
  while [ -n "$(jobs -rp)" ] && [ "$(left)" -gt "$margin" ]; do sleep 5; done
  if [ -n "$(jobs -rp)" ]; then
    log "deadline: stopping $(jobs -rp | wc -l) jobs"
    kill -TERM $(jobs -rp) 2>/dev/null  # The job shells first: none starts its next step.
    pkill -TERM -f "$pattern"; sleep "$grace"
    pkill -KILL -f "$pattern"
  fi
  wait
}
