#!/usr/bin/env bash
# Compile cost of hwcal's headers: CPU seconds (user + sys) of g++ -O2 -c per
# translation unit, median of N runs each, and the ratio to a TU that includes
# only <nlohmann/json.hpp>. Run from anywhere; prints a table. Not a timed test.
#   bash bench/compile_cost/run.sh [runs, default 3] [compiler, default g++]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${1:-3}
cxx=${2:-g++}
flags=(-std=c++17 -O2 -I"$root/include" -I/usr/include/eigen3 -fopenmp)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cost() {  # median CPU seconds of compiling $1
  local t=()
  for ((i = 0; i < runs; ++i)); do
    /usr/bin/time -f "%U %S" -o "$tmp/t" "$cxx" "${flags[@]}" -c "$here/$1.cpp" -o "$tmp/o.o"
    t+=("$(awk '{print $1 + $2}' "$tmp/t")")
  done
  printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'
}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "compiler: $($cxx --version | head -1); flags: ${flags[*]}; median of $runs runs"
base=$(cost json_only)
printf '%-22s %8s %8s\n' "translation unit" "CPU s" "x json"
for tu in json_only predict_include predict_load calibration_include calibration_auto; do
  c=$(cost "$tu")
  printf '%-22s %8.2f %8.2f\n' "$tu" "$c" "$(awk -v a="$c" -v b="$base" 'BEGIN {print a / b}')"
done
