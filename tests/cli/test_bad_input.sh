#!/usr/bin/env bash
# Issue 8's bad inputs at the CLI: every one answered with exit 2 and a message
# naming the file and the field (or the option), at once; nothing accepted
# gives a negative, non-finite or inverted prediction.
# Usage: test_bad_input.sh HWCAL DATA_DIR WORK_DIR (DATA_DIR: tests/data; the
# fuzz corpus is tests/fuzz/corpus).
set -u
hwcal=$1 data=$2 work=$3
corpus=$(cd "$data/../fuzz/corpus" && pwd)
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
export XDG_CACHE_HOME=$work/cache
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# expect CODE PATTERN -- command...: exit code and a pattern in stdout+stderr;
# 20 s at most (a FIFO or /dev/zero must not block or exhaust memory)
expect() {
  local code=$1 pattern=$2; shift 3
  local out rc
  out=$(timeout 20 "$@" 2>&1); rc=$?
  if [[ $rc -ne $code ]]; then fail "$* exited $rc, expected $code"$'\n'"$out"; return; fi
  if [[ -n $pattern ]] && ! grep -qE -- "$pattern" <<<"$out"; then fail "$*: output lacks /$pattern/"$'\n'"$out"; return; fi
  pass "$* -> $rc"
}
profile=$data/profile_small.json
gpu=$data/profile_gpu_small.json
workload=$data/small_workload.json
wl() { echo "{\"hwcal_workload\": 1, \"subgraphs\": [$2]}" > "$1"; }

# edit IN OUT STATEMENT: OUT is IN with a Python statement applied to its JSON `j`; the
# string "BIG" becomes the number 1e309 (which JSON can spell and no double can hold)
edit() { python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); exec(sys.argv[3]); open(sys.argv[2], "w").write(json.dumps(j).replace("\"BIG\"", "1e309"))' "$@"; }

# Numbers beyond double range: exit 2, the field named (workload and profile).
wl elements.json '{"name": "big", "op": "relu", "elements": 1e309}'
expect 2 "elements.json: field '/subgraphs/0/elements': not a finite number" -- "$hwcal" predict --profile "$profile" --workload elements.json
edit "$profile" gflops.json 'j["peaks"][1]["gflops"] = "BIG"'
expect 2 "gflops.json: field '/peaks/1/gflops': not a finite number" -- "$hwcal" show gflops.json
expect 2 "gflops.json: field '/peaks/1/gflops': not a finite number" -- "$hwcal" predict --profile gflops.json --workload "$workload"

# int64 overflow in shapes: a field over its limit, and fields each within it whose product is not.
wl bn.json '{"name": "bn", "op": "batchnorm", "n": 4611686018427387904, "c": 2, "h": 1, "w": 1}'
expect 2 "bn.json: field '/subgraphs/0/n': subgraph 'bn'" -- "$hwcal" predict --profile "$profile" --workload bn.json
wl product.json '{"name": "mm", "op": "matmul", "batch": 1048576, "m": 1048576, "n": 1048576, "k": 1048576}'
expect 2 "product.json: field '/subgraphs/0': subgraph 'mm': .*more than 2\\^50 elements" -- "$hwcal" predict --profile "$profile" --workload product.json
wl inputs.json '{"name": "r", "op": "relu", "elements": 16, "inputs": 4294967297}'
expect 2 "inputs.json: field '/subgraphs/0/inputs'" -- "$hwcal" predict --profile "$profile" --workload inputs.json
edit "$profile" version.json 'j["schema_version"] = 2**32 + 2'
expect 2 "version.json: field '/schema_version'" -- "$hwcal" show version.json

# Profiles: bandwidth 0, overhead 1e308, p10 above p90.
edit "$gpu" gbps.json 'j["memory"]["levels"][0]["gbps"] = 0'
expect 2 "gbps.json: field '/memory/levels/0/gbps'" -- "$hwcal" show gbps.json
edit "$gpu" overhead.json 'j["overhead"]["per_call_s"] = 1e308'
expect 2 "overhead.json: field '/overhead/per_call_s'" -- "$hwcal" show overhead.json
edit "$profile" p10.json 't = j["operations"][0]["samples"][0]["time"]; t["p10_s"] = 2 * t["p90_s"]'
expect 2 "p10.json: field '/operations/0/samples/0/time/p10_s'" -- "$hwcal" show p10.json

# Only regular files are read: no blocking on a FIFO, no reading /dev/zero to the end.
mkfifo fifo.json
expect 2 "fifo.json: not a regular file" -- "$hwcal" show fifo.json
expect 2 "/dev/zero: not a regular file" -- "$hwcal" show /dev/zero
expect 2 "/dev/zero: not a regular file" -- "$hwcal" predict --profile "$profile" --workload /dev/zero

# --budget: a number of seconds within (0, a week]; refused before any calibration.
for b in 1e300 nan inf -1 0 x; do
  expect 2 "--budget" -- "$hwcal" predict --auto --budget "$b" --workload "$workload"
  expect 2 "--budget" -- "$hwcal" calibrate --quick --budget "$b" -o b.json
done
# The output directory is checked before calibrating (this run would take minutes).
expect 2 "--output.*no-such-dir/p.json: cannot write there" -- "$hwcal" calibrate -o no-such-dir/p.json
[[ -z $(ls no-such-dir 2>/dev/null) ]] && pass "nothing left behind" || fail "files left in no-such-dir"

# --auto: a cache file that is not a profile of this machine is never used.
expect 0 "calibrated and cached" -- "$hwcal" predict --auto --budget 1 --threads 1 --workload "$workload"
cached=$(ls "$XDG_CACHE_HOME"/hwcal/*.json 2>/dev/null | head -1)
if [[ -f $cached ]]; then
  cp "$gpu" "$cached"  # another machine's (an H200's) profile at this machine's cache path
  expect 0 "describes another machine.*recalibrating" -- "$hwcal" predict --auto --budget 1 --threads 1 --workload "$workload"
  sed '0,/"gflops": [0-9.e+-]*/s//"gflops": 1e309/' "$cached" > broken && mv broken "$cached"
  expect 0 "cached profile unusable, recalibrating: .*field '/peaks/[0-9]+/gflops': not a finite number" -- \
    "$hwcal" predict --auto --budget 1 --threads 1 --workload "$workload"
  expect 0 "using cached profile" -- "$hwcal" predict --auto --budget 1 --threads 1 --workload "$workload"
else
  fail "predict --auto left no profile in $XDG_CACHE_HOME/hwcal"
fi

# Every document of the fuzz corpus, as a profile and as a workload: rejected
# with exit 2 naming the file (and a field where there is one), or accepted
# with finite, non-negative predictions inside their intervals.
check_json='
import json, math, sys
j = json.load(open(sys.argv[1]))
def ok(x): return isinstance(x, (int, float)) and math.isfinite(x) and x >= 0
lo, hi = j["interval_s"]
assert ok(j["total_s"]) and ok(lo) and ok(hi) and lo <= j["total_s"] <= hi, ("total", j["total_s"], lo, hi)
for s in j["subgraphs"]:
    lo, hi = s["interval_s"]
    assert all(ok(v) for v in (s["latency_s"], lo, hi)) and lo <= s["latency_s"] * (1 + 1e-12) and s["latency_s"] <= hi * (1 + 1e-12), s
'
for f in "$corpus"/*.json; do
  name=$(basename "$f")
  for run in "predict --profile $profile --workload $f" "predict --profile $gpu --workload $f" \
             "predict --profile $gpu --workload $f --mode eager" "predict --profile $f --workload $workload"; do
    # shellcheck disable=SC2086
    out=$(timeout 20 "$hwcal" $run --json 2>err.txt); rc=$?
    if [[ $rc -eq 2 ]]; then
      if grep -qE -- "$name(: field '[^']+')?: " err.txt; then pass "$name: $run -> 2: $(head -c 200 err.txt)"; else fail "$run: exit 2 without the file named: $(cat err.txt)"; fi
    elif [[ $rc -eq 0 ]]; then
      echo "$out" > pred.json
      if python3 -c "$check_json" pred.json 2>err.txt; then pass "$name: $run -> 0, finite and inside its interval"; else fail "$run: $(cat err.txt)"; fi
    else
      fail "$run exited $rc: $(cat err.txt)"
    fi
  done
done

echo "$failures failure(s)"
[[ $failures -eq 0 ]]
