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

# n512_job DECAY_STEPS: the full method ($FAST, with $full) whose validation
# starts a DECAY_STEPS decay run to its end (no stop at the target), trained
# until 330 s before the deadline, then tested at $MID, $BIG and $BIG2.
n512_job() {
  local b spec; b=$(budget 330)
  log "n512: training for ${b}s"
  python3 -m experiments.train --config="$FAST" --workdir="$R/n512" --nofinal_eval $full \
    --config.train.stop_at_target=False --config.train.decay_steps=$1 \
    --config.train.max_train_seconds=$b --config.train.log_every=100 \
    --config.train.checkpoint_every=1000 > "$R/n512.log" 2>&1
  log "n512: trained (exit $?)"
  for spec in "$MID $NMAIN 128" "$BIG $NBIG 32" "$BIG2 $NBIG2 8"; do
    set -- $spec
    python3 -m experiments.evaluate --workdir="$R/n512" --output="$R/n512/eval_$1" --sizes=$1 \
      --num_graphs=$2 --batch_size=$3 --halting=fixed_point > "$R/n512_eval_$1.log" 2>&1
    log "n512: evaluated (exit $?) at $1"
  done
}

# interp_job [train overrides...]: configs/interp.py with the triggered decay,
# trained until 220 s before the deadline, tested at $INTERP_SIZES, then
# analysed by experiments.interpret ($INTERP_FLAGS).
interp_job() {
  local b; b=$(budget 220)
  log "interp: training for ${b}s"
  python3 -m experiments.train --config="configs/interp.py$VC" --workdir="$R/interp" --nofinal_eval \
    --config.train.learning_rate=2e-3 --config.train.warmup_steps=300 \
    --config.train.schedule=triggered --config.train.decay_trigger=0.6 \
    --config.train.decay_steps=1500 --config.train.end_lr_fraction=0.02 \
    --config.train.val_sizes="$VAL_INTERP" --config.train.eval_every=500 \
    --config.train.max_train_seconds=$b --config.train.log_every=100 \
    --config.train.checkpoint_every=1000 "$@" > "$R/interp.log" 2>&1
  log "interp: trained (exit $?)"
  python3 -m experiments.evaluate --workdir="$R/interp" --output="$R/interp/eval" \
    --sizes=$INTERP_SIZES --num_graphs=512 --batch_size=128 --halting=fixed_point > "$R/interp_eval.log" 2>&1
  log "interp: evaluated (exit $?)"
  python3 -m experiments.interpret --checkpoint="$R/interp" --output="$R/interp/interpret" \
    $INTERP_FLAGS > "$R/interp_interpret.log" 2>&1
  log "interp: interpreted (exit $?)"
}

# pack_results NAME: everything small under $R (no checkpoints, TensorBoard
# events or arrays) into $R/../NAME_results.tgz, logged with its size.
pack_results() {
  local out="$R/../$1_results.tgz"
  tar czf "$out" --exclude='checkpoints' --exclude='best' --exclude='tensorboard' \
    --exclude='*.json.gz' --exclude='*.npz' -C "$(dirname "$R")" "$(basename "$R")"
  log "packed: $(ls -la "$out" | awk '{print $5, $9}')"
}

# qs_run NAME CORE OVERRIDES...: one quickstart (${QS:-configs/quickstart.py})
# on the host CPU, pinned to CORE, until the deadline (25 s kept) or
# QS_STEPS steps, whichever comes first; the target still stops it.
qs_run() {
  local name=$1 core=$2; shift 2
  local b=$(( $(left) - 25 ))
  [ "$b" -gt 120 ] || { log "$name: no time left"; return; }
  log "$name: on core $core for at most ${b}s"
  JAX_PLATFORMS=cpu taskset -c "$core" python3 -m experiments.train --config="${QS:-configs/quickstart.py}" \
    --workdir="$R/$name" --config.train.max_train_seconds=$b --config.train.num_steps=${QS_STEPS:-5000} \
    "$@" ${QS_EXTRA:-} > "$R/$name.log" 2>&1
  log "$name: done (exit $?): $(grep -o 'stopped at step [0-9]*\|time_to_target_s.: [0-9.]*\|final_step.: [0-9]*' "$R/$name.log" | tr '\n' ' ')"
}

# qs_levers LEVER...: one qs_run in the background per lever and seed of
# $QS_SEEDS, each on the next core of QS_CORES; the overrides of a lever are
# ${LEVER[name]} (an associative array the plan declares).
qs_levers() {
  local lever seed slot=0
  for lever in "$@"; do
    for seed in $QS_SEEDS; do
      qs_run "qs_${lever}_s$seed" "${QS_CORES[$slot]}" ${LEVER[$lever]} --config.seed=$seed &
      slot=$((slot + 1))
    done
  done
}

# cot_job [train overrides...]: method 3 with session 13's command (plus the
# overrides) on the GPU (the job's host threads on $GPU_CORES), trained until
# COT_RESERVE s before the deadline, then tested at $SIZES_COT ($NTEST
# graphs) and $BIG_COT ($NBIG graphs).
# Run it in the background (`cot_job &`): it sets variables for itself.
cot_job() {
  taskset -cp $GPU_CORES $BASHPID > /dev/null  # Off the quickstarts' cores.
  MAIN_SIZES=$SIZES_COT; NMAIN=$NTEST
  train_eval cot $COT_RESERVE "configs/cot.py$VC" --config.train.schedule=constant \
    --config.train.learning_rate=1e-3 --config.train.warmup_steps=300 \
    --config.train.num_steps=1000000 --config.model.dropout=0.0 --config.train.batch_size=64 \
    --config.train.eval_every=0 --config.train.ema_decay=0.998 "$@"
  python3 -m experiments.evaluate --workdir="$R/cot" --output="$R/cot/eval_$BIG_COT" \
    --sizes=$BIG_COT --num_graphs=$NBIG --batch_size=128 > "$R/cot_eval_$BIG_COT.log" 2>&1
  log "cot: evaluated (exit $?) at $BIG_COT"
}
