#!/usr/bin/env bash
# The GPU session's device calls, one call per stage, from the repository root
# (docs/validation/gpu/README.md has the exact device-tool calls):
#
#   bash validation/gpu/run_all.sh calibrate [STAGE_BUDGET_S]   # build, GPU tests, full + quick calibration,
#                                                               # fidelity vs PyTorch, auto_calibrate start-up
#   bash validation/gpu/run_all.sh recalibrate OPS [BUDGET_S]     # only some op kinds: build, their tests,
#                                                               # calibrate --ops, fidelity (merge_ops.py)
#   bash validation/gpu/run_all.sh truth PART [BUDGET_S]        # ground truth, part 1 or 2 (truth_parts.py), holdout or blind
#   bash validation/gpu/run_all.sh fidelity [PROFILE] [BUDGET_S]   # torch_ops.py and graph_nodes.py (no build)
#   bash validation/gpu/run_all.sh collectives [BUDGET_S]       # 2+ GPUs: NCCL collectives vs torch.distributed
#
# Every stage writes at most 8 files under $OUT (more is tarred), keeps going
# past a failing step (each step has its own time cap, all inside the stage's
# budget), and prints a short summary last (also $OUT/summary*.txt).
# calibrate needs .deps/ (validation/gpu/make_deps.sh, carried by the device
# tool) where the image lacks Catch2, CLI11 or Eigen/nlohmann CMake configs.
#
# Environment: OUT (default /tmp/hwcal-gpu-out), BUILD_DIR (default build-gpu),
# HWCAL_RUN_PYTHON (default python3), FIDELITY_ARGS (extra torch_ops.py
# arguments, e.g. "--device cpu --dry-run" to try the stage on a CPU machine),
# TRUTH_ARGS (extra measure_gpu.py arguments, e.g. "--device cpu --dry-run
# --small"), BUILD_CAP_S (the build's time cap, default 330); calibrate only: FULL_CAP_S (the full
# calibration's cap, default 300), and TESTS=0, QUICK=0, FIDELITY=0, STARTUP=0 to skip those steps (a lease
# that may end early: the full profile first, the rest in a second call).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
stage=${1:-}
[[ $# -gt 0 ]] && shift
OUT=${OUT:-/tmp/hwcal-gpu-out}
BUILD=${BUILD_DIR:-build-gpu}
PY=${HWCAL_RUN_PYTHON:-python3}
FIDELITY_ARGS=${FIDELITY_ARGS:-}
TRUTH_ARGS=${TRUTH_ARGS:-}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT"
t0=$(date +%s)
now_ms() { date +%s%3N; }
since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%d' $(( ms / 1000 )) $(( ms % 1000 / 100 )); }  # seconds since a now_ms
stamp() { echo "== [$(( $(date +%s) - t0 ))s] $*"; }
left() { echo $(( deadline - $(date +%s) )); }
# cap SECONDS: the smaller of SECONDS and what the stage has left, at least 1
cap() { local l; l=$(left); (( l < $1 )) && echo $(( l > 1 ? l : 1 )) || echo "$1"; }
summary=()
note() { summary+=("$*"); }
shrink() {  # files come back only up to 16 MiB each
  local f=$1
  if [[ -f $f ]] && (( $(stat -c %s "$f") > 15000000 )); then gzip -f "$f" && echo "$f.gz"; else echo "$f"; fi
}
smi() {  # clocks, driver, throttling: one CSV line per GPU
  nvidia-smi --query-gpu=index,name,driver_version,pstate,clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,power.draw,temperature.gpu,clocks_throttle_reasons.active,memory.used \
    --format=csv 2>&1 || echo "nvidia-smi failed"
}
smi_line() {  # the first GPU's line of smi's CSV, or what nvidia-smi said
  if grep -q '^index' "$1"; then grep -m1 -A1 '^index' "$1" | tail -1; else echo "nvidia-smi: $(head -1 "$1" | cut -c1-150)"; fi
}
py_info() {
  "$PY" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "gpus", torch.cuda.device_count())' 2>&1 | tail -1
}
graph_nodes() {  # PyTorch's graph start (for torch_profile.py --graph-nodes): JSON to $1, the table on stdout, $2 s at most
  timeout -k 5 "$2" "$PY" validation/gpu/graph_nodes.py --json "$1"
}
print_summary() {
  local file=$1
  {
    echo "== summary: $stage stage, $(( $(date +%s) - t0 )) s"
    printf '%s\n' "${summary[@]}"
    echo "files: $(cd "$OUT" && find . -maxdepth 1 -type f -printf '%f ' | sort)"
  } | tee "$file"
}

# build LOGDIR TARGET...: configure (Ninja where the image has it) and build only TARGETs, Release, sm_90,
# .deps/* first in CMAKE_PREFIX_PATH; notes the outcome; ok_build=1 when both succeeded
build() {
  local logs=$1; shift
  local targets=("$@")
  local deps="" d
  for d in .deps/*/; do [[ -d $d ]] && deps+="${deps:+;}$PWD/${d%/}"; done
  [[ -n $deps ]] || note "no .deps/: the image's own Catch2/CLI11/Eigen/nlohmann are used"
  stamp "configure (prefixes: ${deps:-none})"
  local t
  ok_build=1
  t=$(now_ms)
  # Ninja builds the listed targets in parallel (a Makefile build makes them one after another,
  # and three of them each compile all of hwcal's kernels with nvcc)
  local gen=()
  [[ -f $BUILD/CMakeCache.txt ]] || ! command -v ninja >/dev/null || gen=(-G Ninja)
  timeout "$(cap 120)" cmake -S . -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DHWCAL_ENABLE_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DHWCAL_BUILD_EXAMPLES=OFF -DHWCAL_BUILD_TESTS="${build_tests:-ON}" \
    -DHWCAL_WITH_TORCH=OFF -DHWCAL_WITH_ONEDNN=OFF \
    -DCMAKE_PREFIX_PATH="$deps" -DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=ON > "$logs/configure.log" 2>&1 \
    || { ok_build=0; tail -25 "$logs/configure.log"; }
  grep -E '^(Catch2|CLI11|Eigen3|nlohmann_json|CUDNN[A-Za-z_]*|HWCAL_NCCL[A-Z_]*)(_DIR|_INCLUDE_DIR|_LIBRARY)?:' "$BUILD/CMakeCache.txt" >> "$logs/configure.log" 2>/dev/null
  if (( ok_build )); then
    stamp "build ${targets[*]}"
    local keep=(-k)
    grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja' "$BUILD/CMakeCache.txt" 2>/dev/null && keep=(-k 0)
    timeout "$(cap "${BUILD_CAP_S:-330}")" cmake --build "$BUILD" -j16 --target "${targets[@]}" -- "${keep[@]}" > "$logs/build.log" 2>&1 \
      || { ok_build=0; grep -E "error|Error" "$logs/build.log" | head -30; }
  fi
  note "configure + build: $( (( ok_build )) && echo ok || echo FAILED) in $(since "$t") s (logs.tar.gz: configure.log, build.log)"
}

# ------------------------------------------------------------------ calibrate

calibrate() {
  local budget=${1:-540}
  deadline=$(( t0 + budget ))
  local logs=$OUT/logs
  mkdir -p "$logs"
  smi > "$logs/nvidia-smi-before.csv" 2>&1
  {
    echo "== $(date -Is) run_all.sh calibrate, stage budget ${budget}s, OUT=$OUT, build $BUILD"
    git log -1 --format='commit %H %s' 2>/dev/null || true
    cat "$logs/nvidia-smi-before.csv"
    nvidia-smi -q -d CLOCK,PERFORMANCE 2>&1
    py_info
  } > "$logs/nvidia-smi-before.txt" 2>&1
  note "machine: $(smi_line "$logs/nvidia-smi-before.csv")"
  note "python: $(py_info)"

  local targets=(hwcal_cli hwcal_backend_cuda hwcal_bench_auto_calibrate_start cuda_test_host) f n
  for f in tests/cuda/test_*.cpp; do
    n=$(basename "$f" .cpp)
    [[ $n == test_host ]] || targets+=("cuda_$n")
  done
  build "$logs" "${targets[@]}"
  local hw=$BUILD/tools/hwcal/hwcal
  [[ -x $hw ]] || note "hwcal CLI not built"

  # GPU tests
  if (( ! ${TESTS:-1} )); then
    note "cuda tests: skipped (TESTS=0)"
  elif ls "$BUILD"/tests/cuda/cuda_test_* >/dev/null 2>&1; then
    stamp "ctest -R '^cuda\\.'"
    (cd "$BUILD" && timeout "$(cap 240)" ctest -R '^cuda\.' --output-on-failure --timeout 200) > "$OUT/cuda_tests.log" 2>&1
    note "cuda tests: $(grep -E 'tests passed|tests failed' "$OUT/cuda_tests.log" | tail -1) (cuda_tests.log)"
    grep -E '^\s*[0-9]+/[0-9]+ Test' "$OUT/cuda_tests.log" | tail -12
  else
    note "cuda tests: not built"
  fi

  # full calibration, then quick (each timed by the wall clock)
  local profile="" rc
  if [[ -x $hw ]]; then
    local c
    local quick=${QUICK:-1} fidelity=${FIDELITY:-1} startup=${STARTUP:-1}
    # leaves time for the quick calibration, the fidelity bench and the start-up bench (those asked for)
    c=$(( $(left) - 10 - quick * 90 - fidelity * 60 - startup * 20 ))
    (( c > ${FULL_CAP_S:-300} )) && c=${FULL_CAP_S:-300}
    if (( c > 60 )); then
      stamp "hwcal calibrate --backend cuda (full; cap ${c}s)"
      t=$(now_ms)
      # --budget makes the calibrator stop itself (coarse coverage of every op first); the timeout is
      # only a backstop: killed, it writes nothing (an H200 full calibration wants ~400 s)
      timeout --signal=INT -k 15 "$c" "$hw" calibrate --backend cuda --budget $(( c - 25 )) -o "$OUT/h200.json" > "$logs/calibrate_full.log" 2>&1
      rc=$?
      note "calibrate full: exit $rc, wall $(since "$t") s$( [[ $rc == 124 ]] && echo " (TIMED OUT at ${c}s)")$("$PY" -c 'import json,sys; p=json.load(open(sys.argv[1])); print(", calibration_s %.1f, %d curves, %d samples" % (p["calibration_s"], len(p["operations"]), sum(len(o["samples"]) for o in p["operations"])))' "$OUT/h200.json" 2>/dev/null)"
      tail -25 "$logs/calibrate_full.log"
      [[ -f $OUT/h200.json ]] && profile=$OUT/h200.json
    else
      note "calibrate full: skipped (${c}s left)"
    fi
    if (( quick )); then
      stamp "hwcal calibrate --backend cuda --quick"
      t=$(now_ms)
      timeout --signal=INT -k 10 "$(cap 90)" "$hw" calibrate --backend cuda --quick -o "$OUT/h200_quick.json" > "$logs/calibrate_quick.log" 2>&1
      rc=$?
      note "calibrate quick: exit $rc, wall $(since "$t") s$("$PY" -c 'import json,sys; p=json.load(open(sys.argv[1])); print(", calibration_s %.1f, %d curves" % (p["calibration_s"], len(p["operations"])))' "$OUT/h200_quick.json" 2>/dev/null)"
      tail -8 "$logs/calibrate_quick.log"
      [[ -z $profile && -f $OUT/h200_quick.json ]] && profile=$OUT/h200_quick.json
    else
      note "calibrate quick: skipped (QUICK=0)"
    fi
  fi
  if [[ -z $profile ]]; then
    profile=profiles/gpu/nvidia-h200-cuda.json
    note "fidelity: no profile made in this run; using the committed $profile"
  fi

  # fidelity vs PyTorch, leaving ~70 s for the start-up bench and the summary
  local fb=$(( $(left) - 70 ))
  (( fb > 240 )) && fb=240
  if (( ! ${FIDELITY:-1} )); then
    note "fidelity: skipped (FIDELITY=0)"
  elif (( fb >= 30 )); then
    stamp "torch_ops.py fidelity on $profile (budget ${fb}s)"
    # shellcheck disable=SC2086
    timeout --signal=INT -k 20 $(( fb + 60 )) "$PY" validation/gpu/torch_ops.py fidelity --profile "$profile" \
      --out "$OUT/fidelity.json" --md "$OUT/fidelity.md" --budget-s "$fb" $FIDELITY_ARGS > "$logs/fidelity.log" 2>&1
    note "fidelity: exit $? on $profile"
    summary+=("$(tail -40 "$logs/fidelity.log" | sed -n '/^fidelity vs PyTorch/,$p')")
    # PyTorch's graph start for torch_profile.py --graph-nodes (in logs.tar.gz: $OUT holds 8 files already)
    graph_nodes "$logs/graph_nodes.json" "$(cap 60)" > "$logs/graph_nodes.txt" 2>&1
    note "graph_nodes: exit $? ($(grep -m1 "graph replayed alone" "$logs/graph_nodes.txt"))"
  else
    note "fidelity: skipped (${fb}s left for it)"
  fi

  # auto_calibrate() at start-up: first (calibrates) and cached
  local bench=$BUILD/bench/auto_calibrate_start
  if (( ! ${STARTUP:-1} )); then
    note "auto_calibrate_start: skipped (STARTUP=0)"
  elif [[ -x $bench ]]; then
    stamp "auto_calibrate_start"
    timeout --signal=INT -k 10 "$(cap 90)" "$bench" --json "$OUT/auto_calibrate_start.json" > "$logs/auto_calibrate_start.log" 2>&1
    note "auto_calibrate_start: exit $?"
    summary+=("$(grep -E 'first start|cached start|devices|cuda' "$logs/auto_calibrate_start.log" | head -8)")
  else
    note "auto_calibrate_start: not built"
  fi

  smi > "$logs/nvidia-smi-after.csv" 2>&1
  note "nvidia-smi after: $(smi_line "$logs/nvidia-smi-after.csv")"
  for f in "$OUT/h200.json" "$OUT/h200_quick.json" "$OUT/fidelity.json"; do shrink "$f" >/dev/null; done
  tar -C "$OUT" -czf "$OUT/logs.tar.gz" logs && rm -rf "$logs"
  print_summary "$OUT/summary.txt"
}

# ------------------------------------------------------------------ recalibrate

# recalibrate OPS [BUDGET]: after a change to some op kinds' kernels, only those: build, their GPU
# tests (cuda.ops, cuda.attention), `hwcal calibrate --ops OPS` (every precision the full
# calibration measures), and the fidelity bench on them. validation/gpu/merge_ops.py puts the
# curves into a full profile of the same machine.
recalibrate() {
  local ops=${1:?usage: run_all.sh recalibrate OPS [BUDGET]} budget=${2:-420}
  deadline=$(( t0 + budget ))
  local logs=$OUT/logs
  mkdir -p "$logs"
  smi > "$logs/nvidia-smi-before.csv" 2>&1
  note "machine: $(smi_line "$logs/nvidia-smi-before.csv")"
  note "python: $(py_info)"
  # RECAL_TESTS=0 / RECAL_FIDELITY=0: only build and calibrate (a short lease);
  # RECAL_FIDELITY_S: the seconds kept for the fidelity run (PyTorch at the
  # calibration's shapes: about 0.05 s a sample, 4 precisions a shape);
  # RECAL_SHAPES: only the sweep points whose shape label matches this
  # regular expression (hwcal calibrate --shapes; merge_ops.py --keep-unmeasured)
  local tests=${RECAL_TESTS:-1} fidelity=${RECAL_FIDELITY:-1} keep=${RECAL_FIDELITY_S:-80}
  local shapes=()
  [[ -n ${RECAL_SHAPES:-} ]] && shapes=(--shapes "$RECAL_SHAPES")
  # without the tests, Catch2 is not needed (.deps/catch2 can stay behind when the tree is near the device tool's 64 MiB)
  if (( tests )); then build "$logs" hwcal_cli hwcal_backend_cuda cuda_test_ops cuda_test_attention; else build_tests=OFF build "$logs" hwcal_cli hwcal_backend_cuda; fi
  local hw=$BUILD/tools/hwcal/hwcal t rc
  if (( tests )) && ls "$BUILD"/tests/cuda/cuda_test_* >/dev/null 2>&1; then
    stamp "ctest cuda.ops cuda.attention"
    (cd "$BUILD" && timeout "$(cap 120)" ctest -R '^cuda\.(ops|attention)$' --output-on-failure --timeout 110) > "$OUT/cuda_tests.log" 2>&1
    note "cuda tests: $(grep -E 'tests passed|tests failed' "$OUT/cuda_tests.log" | tail -1) (cuda_tests.log)"
  fi
  if [[ -x $hw ]]; then
    local c=$(( $(left) - (fidelity ? keep : 5) ))
    stamp "hwcal calibrate --backend cuda --ops $ops ${shapes[*]} (budget $(( c - 20 ))s)"
    t=$(now_ms)
    timeout --signal=INT -k 15 "$c" "$hw" calibrate --backend cuda --ops "$ops" --precisions fp32,tf32,bf16,fp16 \
      "${shapes[@]}" --budget $(( c - 20 )) -o "$OUT/h200_ops.json" > "$logs/calibrate_ops.log" 2>&1
    rc=$?
    note "calibrate --ops $ops: exit $rc, wall $(since "$t") s"
    tail -12 "$logs/calibrate_ops.log"
  fi
  local fb=$(( $(left) - 15 ))
  if (( fidelity )) && [[ -f $OUT/h200_ops.json ]] && (( fb >= 20 )); then
    stamp "torch_ops.py fidelity --ops ${ops//,/ } (budget ${fb}s)"
    # shellcheck disable=SC2086
    timeout --signal=INT -k 10 $(( fb + 30 )) "$PY" validation/gpu/torch_ops.py fidelity --profile "$OUT/h200_ops.json" \
      --out "$OUT/fidelity_ops.json" --md "$OUT/fidelity_ops.md" --budget-s "$fb" --ops ${ops//,/ } > "$logs/fidelity.log" 2>&1
    note "fidelity: exit $?"
    summary+=("$(tail -20 "$logs/fidelity.log" | sed -n '/^fidelity vs PyTorch/,$p')")
  fi
  smi > "$logs/nvidia-smi-after.csv" 2>&1
  note "nvidia-smi after: $(smi_line "$logs/nvidia-smi-after.csv")"
  tar -C "$OUT" -czf "$OUT/logs.tar.gz" logs && rm -rf "$logs"
  print_summary "$OUT/summary_recalibrate.txt"
}

# ------------------------------------------------------------------ truth

truth() {
  local part=${1:-}
  local budget=${2:-330}
  [[ $part == 1 || $part == 2 || $part == holdout || $part == blind ]] ||
    { echo "usage: run_all.sh truth 1|2|holdout|blind [budget seconds]"; exit 2; }
  deadline=$(( t0 + budget + 150 ))
  local log=$OUT/truth_part$part.log measured=$OUT/gpu_measured_part$part.json wdir=$OUT/workloads_part$part
  {
    echo "== $(date -Is) run_all.sh truth $part, budget ${budget}s, OUT=$OUT"
    git log -1 --format='commit %H %s' 2>/dev/null || true
    smi
    nvidia-smi > "$OUT/nvidia-smi_part$part.txt" 2>&1
    py_info
    local configs
    if [[ $part == holdout || $part == blind ]]; then
      configs=$("$PY" validation/gpu/truth_parts.py "--$part") || { echo "truth_parts.py failed"; configs=""; }
    else
      configs=$("$PY" validation/gpu/truth_parts.py "$part") || { echo "truth_parts.py failed"; configs=""; }
    fi
    echo "== part $part: $(wc -w <<< "$configs") configs"
    if [[ -n $configs ]]; then
      # measure_gpu.py stops starting configs at the budget; timeout is the backstop (SIGINT: it writes and exits)
      # shellcheck disable=SC2086
      timeout --signal=INT --kill-after=30 $(( budget + 90 )) \
        "$PY" validation/gpu/measure_gpu.py --budget-s "$budget" --out "$measured" --workloads-dir "$wdir" \
          $TRUTH_ARGS --configs $configs
      echo "== measure_gpu.py exit $? after $(( $(date +%s) - t0 )) s"
    fi
    if [[ -d $wdir ]]; then
      tar -C "$OUT" -czf "$wdir.tar.gz" "$(basename "$wdir")" && rm -rf "$wdir"
    fi
    echo "== nvidia-smi at the end"
    smi
  } 2>&1 | tee "$log"
  measured=$(shrink "$measured")
  note "part $part (1 or 2 of the development set, or the held-out or blind models), budget ${budget}s"
  if [[ -f $measured ]]; then
    summary+=("$("$PY" validation/gpu/measure_gpu.py --summary-of "$measured" 2>&1)")
  else
    note "no gpu_measured_part$part.json was written"
  fi
  print_summary "$OUT/summary_part$part.txt"
}

# ------------------------------------------------------------------ fidelity only

fidelity_only() {
  local profile=${1:-profiles/gpu/nvidia-h200-cuda.json} budget=${2:-420}
  deadline=$(( t0 + budget + 120 ))
  {
    smi
    py_info
    # shellcheck disable=SC2086
    timeout --signal=INT -k 20 $(( budget + 60 )) "$PY" validation/gpu/torch_ops.py fidelity --profile "$profile" \
      --out "$OUT/fidelity.json" --md "$OUT/fidelity.md" --budget-s "$budget" $FIDELITY_ARGS
    echo "== torch_ops.py exit $?"
    # PyTorch's graph start, for torch_profile.py --graph-nodes
    graph_nodes "$OUT/graph_nodes.json" 60
    echo "== graph_nodes.py exit $?"
  } > "$OUT/fidelity.log" 2>&1
  shrink "$OUT/fidelity.json" >/dev/null
  summary+=("$(tail -40 "$OUT/fidelity.log")")
  print_summary "$OUT/summary_fidelity.txt"
}

# ------------------------------------------------------------------ collectives

# Issue 15 on a machine with 2+ GPUs, what matters first first: build the CLI and the CUDA plugin;
# `hwcal calibrate --collectives --quick` (2, 4, 8, ... GPUs; nccl_quick.json); torch.distributed's NCCL
# collectives on 2 GPUs and on all of them (collectives_torch.py measure), each compared with hwcal predict;
# then, in the time left, the full calibration (nccl.json, compared again) and the NCCL GPU test.
# Everything goes into $OUT/collectives.tar.gz plus $OUT/summary_collectives.txt.
collectives() {
  local budget=${1:-560}
  deadline=$(( t0 + budget ))
  local dir=$OUT/collectives logs=$OUT/collectives/logs
  mkdir -p "$logs"
  # NVLink multicast stays off on the lent machines (KINDS.md), here and in every rank
  export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
  smi > "$logs/nvidia-smi-before.csv" 2>&1
  {
    echo "== $(date -Is) run_all.sh collectives, stage budget ${budget}s, OUT=$OUT, build $BUILD"
    git log -1 --format='commit %H %s' 2>/dev/null || true
    nvidia-smi topo -m 2>&1
    nvidia-smi nvlink --status 2>&1 | head -60
    py_info
    "$PY" -c 'import torch; print("torch nccl", torch.cuda.nccl.version())' 2>&1 | tail -1
    ls -l /usr/local/cuda/lib64/libnccl* 2>&1
  } > "$logs/topology.txt" 2>&1
  local gpus
  gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
  note "machine: ${gpus} GPUs; $(smi_line "$logs/nvidia-smi-before.csv")"
  note "python: $(py_info)"

  build "$logs" hwcal_cli hwcal_backend_cuda
  grep -q 'HWCAL_NCCL_LIBRARY:FILEPATH=/' "$BUILD/CMakeCache.txt" || note "NCCL NOT FOUND by the configure: no collectives"
  local hw=$BUILD/tools/hwcal/hwcal t rc n
  # calibrate MODE FILE CAP: the collectives section (--ops memory: peaks and the bandwidth sweep, no op curves)
  calibrate_collectives() {
    [[ -x $hw ]] || { note "calibrate --collectives $1: no hwcal CLI (build failed)"; return 1; }
    stamp "hwcal calibrate --backend cuda --ops memory --collectives $1 (cap $3 s)"
    t=$(now_ms)
    timeout --signal=INT -k 15 "$3" "$hw" calibrate --backend cuda --ops memory --collectives $1 -o "$2" \
      > "$logs/calibrate_$(basename "$2" .json).log" 2>&1
    rc=$?
    note "calibrate --collectives $1: exit $rc, wall $(since "$t") s$("$PY" -c 'import json,sys; p=json.load(open(sys.argv[1])); c=p.get("collectives") or {}; print(", %d curves, nccl %s, calibration_s %.1f" % (len(c.get("curves", [])), c.get("version"), p["calibration_s"]))' "$2" 2>/dev/null)"
    [[ $rc == 0 && -f $2 ]] && "$hw" show --summary "$2" > "$dir/$(basename "$2" .json)_show.txt" 2>&1
    [[ $rc == 0 && -f $2 ]]
  }
  # compare_with PROFILE TAG: every torch measurement against PROFILE
  compare_with() {
    for n in 2 "$gpus"; do
      [[ -f $dir/torch_$n.json ]] || continue
      "$PY" validation/gpu/collectives_torch.py compare --measured "$dir/torch_$n.json" --profile "$1" \
        --hwcal "$hw" --md "$dir/report_${2}_$n.md" --json "$dir/report_${2}_$n.json" > "$logs/compare_${2}_$n.log" 2>&1
      note "compare $2 profile, $n GPUs: exit $? ($(grep -m1 'Graph rows within' "$dir/report_${2}_$n.md" 2>/dev/null))"
    done
  }

  local quick=$dir/nccl_quick.json full=$dir/nccl.json
  calibrate_collectives --quick "$quick" "$(cap 170)"
  for n in 2 "$gpus"; do
    [[ $n == 2 && $gpus == 2 && -f $dir/torch_2.json ]] && continue
    (( $(left) > 60 )) || { note "torch $n GPUs: skipped (time)"; continue; }
    stamp "collectives_torch.py measure --gpus $n"
    timeout --signal=INT -k 10 "$(cap 120)" "$PY" validation/gpu/collectives_torch.py measure --gpus "$n" \
      --out "$dir/torch_$n.json" > "$logs/torch_$n.log" 2>&1
    note "torch measure $n GPUs: exit $?"
  done
  [[ -f $quick && -x $hw ]] && compare_with "$quick" quick
  # the full calibration in what is left (the profile to commit), compared again
  if (( $(left) > 150 )); then
    calibrate_collectives "" "$full" $(( $(left) - 40 )) && compare_with "$full" full
  else
    note "calibrate --collectives (full): skipped ($(left) s left)"
  fi
  if (( $(left) > 120 )); then
    mkdir -p "$logs/tests"
    build "$logs/tests" cuda_test_host cuda_test_nccl
    stamp "ctest -R '^cuda\.(host|nccl)$'"
    (cd "$BUILD" && timeout "$(cap 90)" ctest -R '^cuda\.(host|nccl)$' --output-on-failure --timeout 80) > "$dir/cuda_tests.log" 2>&1
    note "cuda tests: $(grep -E 'tests passed|tests failed' "$dir/cuda_tests.log" | tail -1)"
  else
    note "cuda_test_nccl: not built ($(left) s left)"
  fi
  smi > "$logs/nvidia-smi-after.csv" 2>&1
  note "nvidia-smi after: $(smi_line "$logs/nvidia-smi-after.csv")"
  print_summary "$OUT/summary_collectives.txt"
  cp "$OUT/summary_collectives.txt" "$dir/"
  tar -C "$OUT" -czf "$OUT/collectives.tar.gz" collectives && rm -rf "$dir"
}

case $stage in
  calibrate) calibrate "$@" ;;
  recalibrate) recalibrate "$@" ;;
  truth) truth "$@" ;;
  fidelity) fidelity_only "$@" ;;
  collectives) collectives "$@" ;;
  *) sed -n '2,20p' "$0"; exit 2 ;;
esac
