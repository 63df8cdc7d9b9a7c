#!/usr/bin/env bash
# Progress of gpu_session3.sh: its plan log, the last line of every run's log, GPU memory.
R=${R:-runs/s3}
echo "== plan"; tail -n ${PLAN_LINES:-25} "$R/plan.log" 2>/dev/null
echo "== runs"
for f in "$R"/*.log; do
  [ "$(basename "$f")" = plan.log ] && continue
  line=$(grep -E "step [0-9]+/|validation:|N=[0-9]+ \[|Error|error|Traceback|run [0-9]/" "$f" | tail -1 | cut -c1-230)
  echo "$(basename "$f" .log): ${line:-$(tail -c 200 "$f" | tr '\n' ' ')}"
done
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
