#!/usr/bin/env bash
# End-to-end checks of the hwcal CLI. Usage: test_cli.sh HWCAL DATA_DIR WORK_DIR
set -u
hwcal=$1 data=$2 work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
export XDG_CACHE_HOME=$work/cache
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

# expect CODE PATTERN -- command...: exit code and a pattern in stdout+stderr
expect() {
  local code=$1 pattern=$2; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [[ $rc -ne $code ]]; then fail "$* exited $rc, expected $code"$'\n'"$out"; return; fi
  if [[ -n $pattern ]] && ! grep -qE -- "$pattern" <<<"$out"; then fail "$*: output lacks /$pattern/"$'\n'"$out"; return; fi
  pass "$* -> $rc"
}

expect 0 "calibrate" -- "$hwcal" --help
for c in calibrate show predict compare; do expect 0 "Usage" -- "$hwcal" $c --help; done
expect 2 "" -- "$hwcal" calibrate --no-such-flag
expect 2 "unknown backend 'nope'" -- "$hwcal" calibrate --backend nope -o x.json
expect 2 "unknown op or group 'convolution'" -- "$hwcal" calibrate --ops convolution -o x.json

# A small real profile (one op, no memory sweep): fast.
expect 0 "wrote p.json" -- "$hwcal" calibrate --quick --ops relu,add --threads 1 -o p.json
expect 0 "relu" -- "$hwcal" show p.json
expect 0 "GB/s" -- "$hwcal" show --summary p.json

# Broken profiles: exit 2, the file and the field named.
head -c 300 p.json > truncated.json
expect 2 "truncated.json: not valid JSON" -- "$hwcal" show truncated.json
echo "hello" > text.json
expect 2 "text.json: not valid JSON" -- "$hwcal" show text.json
sed 's/"schema_version": 1/"schema_version": 7/' p.json > version.json
expect 2 "version.json: field '/schema_version': unsupported schema version 7" -- "$hwcal" show version.json
sed 's/"threads": 1,/"threads": "one",/' p.json > typed.json
expect 2 "typed.json: field '/threads': expected an integer" -- "$hwcal" show typed.json
expect 2 "missing.json: cannot open" -- "$hwcal" show missing.json

# Killing a calibration mid-run leaves the previous profile intact.
cp p.json before.json
"$hwcal" calibrate --ops all --threads 1 -o p.json >/dev/null 2>&1 &
pid=$!
sleep 2
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if cmp -s p.json before.json; then pass "kill -9 during calibrate left p.json intact"; else fail "p.json changed after kill -9"; fi
expect 0 "relu" -- "$hwcal" show p.json

# predict
expect 0 "total" -- "$hwcal" predict --profile p.json --workload "$data/small_workload.json"
expect 0 '"total_s"' -- "$hwcal" predict --profile p.json --workload "$data/small_workload.json" --json
expect 0 '"model": "roofline"' -- "$hwcal" predict --profile p.json --workload "$data/small_workload.json" --json --model roofline
expect 2 "bad_workload.json: field '/subgraphs/1/s': subgraph 'layer2.conv': expected an integer, got a string" -- \
  "$hwcal" predict --profile p.json --workload "$data/bad_workload.json"
expect 2 "give exactly one of" -- "$hwcal" predict --workload "$data/small_workload.json"

# --auto: calibrates once, then answers from the cache.
expect 0 "calibrated and cached" -- "$hwcal" predict --auto --budget 3 --threads 1 --workload "$data/small_workload.json"
expect 0 "using cached profile" -- "$hwcal" predict --auto --budget 3 --threads 1 --workload "$data/small_workload.json"

# compare
expect 0 "relu" -- "$hwcal" compare p.json before.json

echo "$failures failure(s)"
[[ $failures -eq 0 ]]
