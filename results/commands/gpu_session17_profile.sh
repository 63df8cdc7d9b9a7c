# Session 17, call 1: the fast recipe's train step (flash) timed waited-on and
# pipelined, profiled with every kernel listed, and its optimized HLO kept so
# that each fusion in the profile can be traced to the code that made it.
source results/commands/gpu_common.sh
R=${R:-$OUT/profile}
mkdir -p "$R"
python3 -m experiments.benchmark --config=configs/discrete_ec.py:recipe=fast \
  --config.data.num_names=512 --steps=30 --skip_rollout --profile_dir=/tmp/prof \
  --profile_top=400 --hlo="$R/train_step.hlo" --output="$R/train_step.json" > "$R/train_step.log" 2>&1
tail -5 "$R/train_step.log"
gzip -f "$R/train_step.hlo"
cp "$(ls -t /tmp/prof/plugins/profile/*/perfetto_trace.json.gz | head -1)" "$R/" 2>/dev/null
ls -la "$R"
