#!/usr/bin/env bash
# Runs on the lent GPU machine (device tool), from the repository root:
#   bash validation/gpu/run_on_gpu.sh [quick|full] [budget seconds for full]
# Builds the CUDA configuration, runs the GPU tests, calibrates the GPU with
# the cuda backend, and measures PyTorch's ceilings in the same run. Results
# go to $OUT (profile, test log, ceilings, comparison).
set -uo pipefail
mode=${1:-quick}
budget=${2:-300}
OUT=${OUT:-/tmp/hwcal-gpu-out}
mkdir -p "$OUT"
t0=$(date +%s)
stamp() { echo "== [$(( $(date +%s) - t0 ))s] $*"; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,memory.total --format=csv | tee "$OUT/nvidia-smi.csv"

# Build dependencies the GPU image may lack (Catch2, CLI11; Eigen and
# nlohmann_json without CMake configs) travel in .deps/ (carried by the device
# tool), copied from the development machine's Debian packages; when present
# they are found before the image's own.
deps=""
for d in catch2 cli11 eigen nlohmann; do [[ -d .deps/$d ]] && deps+="${deps:+;}$PWD/.deps/$d"; done
prefix=(-DCMAKE_PREFIX_PATH="$deps" -DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=ON)
stamp "configure"
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DHWCAL_ENABLE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DHWCAL_BUILD_EXAMPLES=OFF "${prefix[@]}" > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
stamp "build"
cmake --build build-gpu -j16 --target hwcal_cli hwcal_backend_cuda cuda_test_host cuda_test_device cuda_test_ops \
  cuda_test_gemm cuda_test_fusion cuda_test_timing > "$OUT/build.log" 2>&1 || { grep -E "error" "$OUT/build.log" | head -40; exit 1; }
stamp "GPU tests"
(cd build-gpu && ctest -R '^cuda\.' --output-on-failure --timeout 400) > "$OUT/cuda_tests.log" 2>&1
tail -15 "$OUT/cuda_tests.log"
stamp "calibrate ($mode)"
flag="--budget $budget"; [[ $mode == quick ]] && flag=--quick
build-gpu/tools/hwcal/hwcal calibrate --backend cuda $flag -o "$OUT/gpu_profile.json" > "$OUT/calibrate.log" 2>&1
tail -60 "$OUT/calibrate.log"
stamp "PyTorch ceilings"
python3 validation/gpu/torch_ceilings.py "$OUT/torch_ceilings.json" > "$OUT/torch_ceilings.log" 2>&1 || tail -20 "$OUT/torch_ceilings.log"
[[ -f $OUT/gpu_profile.json ]] && python3 validation/gpu/compare_ceilings.py "$OUT/gpu_profile.json" "$OUT/torch_ceilings.json" "$OUT/fidelity.md"
stamp "done"
