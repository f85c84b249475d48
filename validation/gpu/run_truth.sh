#!/usr/bin/env bash
# The GPU ground-truth run, for the device tool (one call, about 8 minutes), from
# the repository root:
#   bash validation/gpu/run_truth.sh [budget seconds, default 420]
# Writes under $OUT (5 files): gpu_measured.json (measure_gpu.py's results,
# rewritten after every config; gzipped when over 15 MB), workloads.tar.gz (the
# hwcal workloads, one per config), truth.log (everything printed),
# nvidia-smi.txt and summary.txt.
# measure_gpu.py stops starting configs at the budget; `timeout` is only the
# backstop (SIGINT: the script writes what it measured and exits).
set -uo pipefail
budget=${1:-420}
OUT=${OUT:-/tmp/hwcal-truth}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
log=$OUT/truth.log
t0=$(date +%s)
{
  echo "== $(date -Is) run_truth.sh budget ${budget}s, OUT=$OUT"
  nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed"
  python3 -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count())'
  timeout --signal=INT --kill-after=30 $((${budget%.*} + 90)) \
    python3 validation/gpu/measure_gpu.py --budget-s "$budget" --out "$OUT/gpu_measured.json" \
      --workloads-dir "$OUT/workloads"
  echo "== measure_gpu.py exit $? after $(( $(date +%s) - t0 )) s"
  if [[ -d $OUT/workloads ]]; then
    tar -C "$OUT" -czf "$OUT/workloads.tar.gz" workloads && rm -rf "$OUT/workloads"
  fi
} 2>&1 | tee "$log"
measured=$OUT/gpu_measured.json
if [[ -f $measured ]] && (( $(stat -c %s "$measured") > 15000000 )); then
  gzip -f "$measured" && measured=$measured.gz  # files come back only up to 16 MiB
fi
if [[ -f $measured ]]; then
  python3 validation/gpu/measure_gpu.py --summary-of "$measured" | tee "$OUT/summary.txt"
else
  echo "no gpu_measured.json was written" | tee "$OUT/summary.txt"
fi
echo "== done in $(( $(date +%s) - t0 )) s; files: $(ls "$OUT" | tr '\n' ' ')"
