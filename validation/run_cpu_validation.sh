#!/usr/bin/env bash
# CPU validation of hwcal against real PyTorch models, end to end:
#   for each thread count: hwcal calibrate -> stage 1 (measure) ; then stage 2 (report).
#
# usage: validation/run_cpu_validation.sh [BACKEND] [HWCAL]
#   BACKEND  calibration backend: torch (default), eigen, openblas, onednn
#   HWCAL    the hwcal CLI (default build/tools/hwcal/hwcal)
# environment (optional):
#   THREADS="1 2"        thread counts
#   CONFIGS="..."        configs or model names for stage 1 (default: all)
#   CALIBRATE_ARGS=""    extra arguments for hwcal calibrate (e.g. --quick)
#   PASSES=2             measurement passes per thread count
#   SKIP_CALIBRATE=1     reuse validation/results/profile_<backend>_t<N>.json
#   SKIP_MEASURE=1       reuse validation/results/measured_t<N>.json.gz
#   RESULTS_DIR, REPORT_DIR  where results and the report go (default validation/results and
#                        docs/validation): a second machine's run beside the first's
#
# Outputs: validation/workloads/*.json, validation/results/{profile_<backend>_t<N>,run_info}.json, measured_t<N>.json.gz,
#          docs/validation/cpu_report.md, cpu_results.json.gz, cpu_pred_vs_meas_t<N>.png
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BACKEND=${1:-torch}
HWCAL=${2:-build/tools/hwcal/hwcal}
THREADS=${THREADS:-1 2}
PASSES=${PASSES:-2}
PY=/usr/bin/python3
RESULTS=${RESULTS_DIR:-validation/results}
OUT=${REPORT_DIR:-docs/validation}
mkdir -p "$RESULTS" "$OUT"

if [[ ! -x "$HWCAL" ]]; then
  echo "error: hwcal CLI not found at $HWCAL (build it, or pass its path as the second argument)" >&2
  exit 2
fi
if ! "$PY" -c 'import torch, torchvision' 2>/dev/null; then
  echo "error: $PY lacks torch/torchvision (apt-get install python3-torch python3-torchvision)" >&2
  exit 2
fi

DRIVER_CMD="THREADS=\"$THREADS\" PASSES=$PASSES${RESULTS_DIR:+ RESULTS_DIR=$RESULTS_DIR}${REPORT_DIR:+ REPORT_DIR=$REPORT_DIR}${CONFIGS:+ CONFIGS=\"$CONFIGS\"}${CALIBRATE_ARGS:+ CALIBRATE_ARGS=\"$CALIBRATE_ARGS\"} validation/run_cpu_validation.sh $BACKEND $HWCAL"
RUN_INFO=$RESULTS/run_info.json
"$PY" - "$RUN_INFO" "$DRIVER_CMD" "$BACKEND" <<'PYEOF'
import json, os, sys
path, cmd, backend = sys.argv[1:4]
info = {}
if os.path.exists(path):
    with open(path) as f:
        info = json.load(f)
info.update({"driver_command": cmd, "backend": backend})
info.setdefault("calibrate", {})
with open(path, "w") as f:
    json.dump(info, f, indent=1)
PYEOF

# the same glibc malloc thresholds as measure.py's default (--malloc warm): no page faults from
# re-mmapped buffers, so timings do not depend on what ran before in a process
export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296

REPORT_ARGS=()
for t in $THREADS; do
  # the same thread environment for calibration and measurement; 1 thread pinned to CPU 0
  export OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t MKL_NUM_THREADS=$t
  PIN=()
  [[ $t == 1 ]] && PIN=(taskset -c 0)
  PROFILE=$RESULTS/profile_${BACKEND}_t$t.json
  if [[ -z ${SKIP_CALIBRATE:-} || ! -f $PROFILE ]]; then
    # shellcheck disable=SC2086,SC2206
    CAL=("${PIN[@]}" "$HWCAL" calibrate --backend "$BACKEND" --threads "$t" ${CALIBRATE_ARGS:-} -o "$PROFILE")
    echo ">> ${CAL[*]}" >&2
    start=$(date +%s.%N)
    "${CAL[@]}"
    end=$(date +%s.%N)
    "$PY" - "$RUN_INFO" "$t" "GLIBC_TUNABLES=$GLIBC_TUNABLES OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t MKL_NUM_THREADS=$t ${CAL[*]}" "$start" "$end" <<'PYEOF'
import datetime, json, sys
path, t, cmd, start, end = sys.argv[1:6]
with open(path) as f:
    info = json.load(f)
info["calibrate"][t] = {"command": cmd, "seconds": round(float(end) - float(start), 1),
                        "finished": datetime.datetime.fromtimestamp(float(end)).astimezone().isoformat(timespec="seconds")}
with open(path, "w") as f:
    json.dump(info, f, indent=1)
PYEOF
  fi
  MEASURED=$RESULTS/measured_t$t.json.gz
  if [[ -z ${SKIP_MEASURE:-} || ! -f $MEASURED ]]; then
    # shellcheck disable=SC2086,SC2206
    MEAS=("$PY" validation/measure.py measure --threads "$t" --passes "$PASSES" --out "$MEASURED" ${CONFIGS:+--configs $CONFIGS})
    echo ">> ${MEAS[*]}" >&2
    "${MEAS[@]}"
  fi
  REPORT_ARGS+=(--run "$t" "$PROFILE" "$MEASURED")
done
unset OMP_NUM_THREADS OPENBLAS_NUM_THREADS MKL_NUM_THREADS GLIBC_TUNABLES

echo ">> $PY validation/report.py --hwcal $HWCAL ${REPORT_ARGS[*]} --run-info $RUN_INFO --out-dir $OUT" >&2
"$PY" validation/report.py --hwcal "$HWCAL" "${REPORT_ARGS[@]}" --run-info "$RUN_INFO" --out-dir "$OUT"
