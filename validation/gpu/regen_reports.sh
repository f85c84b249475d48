#!/usr/bin/env bash
# Regenerates every committed GPU report from the committed truths and the
# shipped profiles (a CPU machine is enough: hwcal predict, no GPU), after a
# profile or the mapper changed:
#   H100, development set:   docs/validation/gpu/h100/report_<profile>.md (+ results .json.gz)
#   H100 and H200, held-out: docs/validation/gpu/holdout/report_<profile>.md
#   H100, blind:             docs/validation/gpu/blind/report_<profile>.md (models_gpu.BLIND)
#   H200, development set:   docs/validation/gpu/gpu_report.md, h200/report_nvidia-h200-cuda-torch.md
# Every truth's units are re-mapped by today's tracer first (remap_leaves.py).
# usage: validation/gpu/regen_reports.sh [HWCAL]   (default build/tools/hwcal/hwcal)
set -euo pipefail
cd "$(dirname "$0")/../.."
HW=${1:-build/tools/hwcal/hwcal}
PY=/usr/bin/python3
G=docs/validation/gpu D=docs/validation/gpu/data
V=$D/h100-2026-12-07h C=$D/h100-2026-12-06c E=$D/h100-2026-12-06e H=$D/h200-2026-12-06 T=$D/h200-2026-12-05 B=$D/h100-2026-12-07f
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
report() { "$PY" validation/gpu/report_gpu.py --hwcal "$HW" "$@" 2>&1 | tail -1 | sed 's/; wrote.*//'; }
# every truth's units re-mapped by today's tracer (remap_leaves.py: leaves, heads, concats' inputs)
remap() { "$PY" validation/gpu/remap_leaves.py --measured "$1" --workloads "$2" --out "$tmp/$3" > /dev/null; }
remap $V/gpu_measured.json.gz $V/workloads.tar.gz h100
remap $C/gpu_measured_partholdout.json.gz $E/workloads_partholdout.tar.gz h100_holdout
remap $H/gpu_measured_holdout.json.gz $H/workloads_holdout.tar.gz h200_holdout
remap $T/gpu_measured.json.gz $T/workloads.tar.gz h200
remap $B/gpu_measured_partblind.json.gz $B/workloads_partblind.tar.gz h100_blind
for p in nvidia-h100-cuda nvidia-h100-cuda-torch; do
  echo "$p, development:"
  report --profile profiles/gpu/$p.json --measured $tmp/h100/gpu_measured.json.gz --workloads $tmp/h100/workloads.tar.gz \
    --out-md $G/h100/report_$p.md --out-json $G/h100/results_$p.json.gz
  echo "$p, held-out:"
  report --profile profiles/gpu/$p.json --measured $tmp/h100_holdout/gpu_measured.json.gz \
    --workloads $tmp/h100_holdout/workloads.tar.gz --out-md $G/holdout/report_$p.md --out-json "$tmp/holdout_$p.json.gz"
  echo "$p, blind:"
  report --profile profiles/gpu/$p.json --measured $tmp/h100_blind/gpu_measured.json.gz \
    --workloads $tmp/h100_blind/workloads.tar.gz --out-md $G/blind/report_$p.md --out-json "$tmp/blind_$p.json.gz"
done
for p in nvidia-h200-cuda nvidia-h200-cuda-torch; do
  echo "$p, held-out:"
  report --profile profiles/gpu/$p.json --measured $tmp/h200_holdout/gpu_measured.json.gz \
    --workloads $tmp/h200_holdout/workloads.tar.gz --out-md $G/holdout/report_$p.md --out-json "$tmp/holdout_$p.json.gz"
done
echo "nvidia-h200-cuda, development:"
report --profile profiles/gpu/nvidia-h200-cuda.json --measured "$tmp/h200/gpu_measured.json.gz" \
  --workloads "$tmp/h200/workloads.tar.gz"
echo "nvidia-h200-cuda-torch, development:"
report --profile profiles/gpu/nvidia-h200-cuda-torch.json --measured "$tmp/h200/gpu_measured.json.gz" \
  --workloads "$tmp/h200/workloads.tar.gz" --out-md $G/h200/report_nvidia-h200-cuda-torch.md \
  --out-json $G/h200/results_nvidia-h200-cuda-torch.json.gz
