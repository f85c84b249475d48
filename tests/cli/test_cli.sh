#!/usr/bin/env bash
# End-to-end checks of the hwcal CLI. Usage: test_cli.sh HWCAL DATA_DIR WORK_DIR
# (DATA_DIR is the repository's tests/data; the repository root is two levels up.)
set -u
hwcal=$1 data=$2 work=$3
src=$(cd "$data/../.." && pwd)
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
for c in calibrate show predict compare ops roofline; do expect 0 "Usage" -- "$hwcal" $c --help; done
expect 2 "" -- "$hwcal" calibrate --no-such-flag
expect 2 "unknown backend 'nope'" -- "$hwcal" calibrate --backend nope -o x.json
expect 2 "unknown op or group 'convolution'" -- "$hwcal" calibrate --ops convolution -o x.json

# A small real profile (one op, no memory sweep): fast.
expect 0 "wrote p.json" -- "$hwcal" calibrate --quick --ops relu,add --threads 1 -o p.json
expect 0 "relu" -- "$hwcal" show p.json
expect 0 "GB/s" -- "$hwcal" show --summary p.json
expect 0 "Leave-one-out on the calibration samples" -- "$hwcal" show p.json --loo --op relu
# --shapes: a bad expression is refused before anything runs; one that matches
# nothing is an error, not an empty profile; a match keeps only those points.
expect 2 "--shapes: '\\(' is not a regular expression" -- "$hwcal" calibrate --quick --ops relu --shapes '(' -o s.json
expect 2 "no sweep point of the ops asked for has a shape matching 'nothing'" -- \
  "$hwcal" calibrate --quick --ops relu --threads 1 --shapes nothing -o s.json
[[ ! -e s.json ]] || fail "a refused --shapes calibration wrote s.json"
expect 0 "wrote s.json \\(1 curves" -- "$hwcal" calibrate --quick --ops relu --threads 1 --shapes '^1048576$' -o s.json
expect 0 "only the sweep points whose shape matches '\\^1048576\\$'" -- "$hwcal" show s.json
"$hwcal" show s.json --op relu | grep -qE '^ +1048576 ' || fail "s.json lacks the matching relu point"
! "$hwcal" show s.json --op relu | grep -qE '^ +16777216 ' || fail "s.json has a relu point --shapes excluded"

# Broken profiles: exit 2, the file and the field named.
head -c 300 p.json > truncated.json
expect 2 "truncated.json: not valid JSON" -- "$hwcal" show truncated.json
echo "hello" > text.json
expect 2 "text.json: not valid JSON" -- "$hwcal" show text.json
sed 's/"schema_version": 2/"schema_version": 7/' p.json > version.json
expect 2 "version.json: field '/schema_version': unsupported schema version 7" -- "$hwcal" show version.json
sed 's/"threads": 1,/"threads": "one",/' p.json > typed.json
expect 2 "typed.json: field '/threads': expected an integer" -- "$hwcal" show typed.json
expect 2 "missing.json: cannot open" -- "$hwcal" show missing.json
# schema_version 1 is still read (samples regrouped by variant)
sed 's/"schema_version": 2/"schema_version": 1/' p.json > v1.json
expect 0 "relu" -- "$hwcal" show v1.json
sed 's/"p90_s": [0-9.e-]*/"p90_s": 1e-12/' p.json > p90.json
expect 2 "p90.json: field '/[a-z0-9/_]*/p90_s': p90 is below the median" -- "$hwcal" show p90.json

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

# predict: the new op kinds on CPU test profiles (no curves for them: fallbacks, exit 0)
expect 0 "total" -- "$hwcal" predict --profile p.json --workload "$data/new_ops_workload.json"
expect 0 '"mode": "cpu"' -- "$hwcal" predict --profile "$data/profile_small.json" --workload "$data/new_ops_workload.json" --json
expect 0 '"mode": "cpu"' -- "$hwcal" predict --profile "$data/profile_small.json" --workload "$data/new_ops_workload.json" --json --mode eager

# predict --mode on the synthetic GPU profile: device (default) and eager; a bad mode exits 2
gpu=$data/profile_gpu_small.json
expect 0 "SYNTHETIC" -- "$hwcal" show --summary "$gpu"
expect 0 "device mode" -- "$hwcal" predict --profile "$gpu" --workload "$data/new_ops_workload.json"
expect 0 '"mode": "device"' -- "$hwcal" predict --profile "$gpu" --workload "$data/new_ops_workload.json" --json --mode device
expect 0 "eager mode" -- "$hwcal" predict --profile "$gpu" --workload "$data/new_ops_workload.json" --mode eager
expect 0 '"mode": "eager"' -- "$hwcal" predict --profile "$gpu" --workload "$data/new_ops_workload.json" --json --mode eager
expect 0 '"mode": "eager"' -- "$hwcal" predict --profile "$gpu" --workload "$data/small_workload.json" --json --mode eager
expect 2 "--mode: expected 'device' or 'eager', got 'bogus'" -- \
  "$hwcal" predict --profile "$gpu" --workload "$data/small_workload.json" --mode bogus
expect 2 "--mode" -- "$hwcal" predict --profile p.json --workload "$data/small_workload.json" --mode bogus
# predict --lookup: the tabulated interpolation runs end to end; a bad lookup exits 2
expect 0 '"total_s"' -- "$hwcal" predict --profile "$gpu" --workload "$data/new_ops_workload.json" --json --lookup table
expect 2 "--lookup: expected 'exact' or 'table', got 'bogus'" -- \
  "$hwcal" predict --profile p.json --workload "$data/small_workload.json" --lookup bogus
if command -v python3 >/dev/null; then
  # device mode: no host cost, total_s = the graph's start (the profile's graph_start_s, once) + the sum of
  # in_sequence_s; eager: no start, every subgraph has a host cost and
  # total_s is the queue (estimate.hpp sequence_total): the host issues one op after the other, the device
  # runs each once issued and the previous one done
  for mode in device eager; do
    "$hwcal" predict --profile "$gpu" --workload "$data/new_ops_workload.json" --json --mode $mode > pred_$mode.json 2>/dev/null
  done
  if python3 - pred_device.json pred_eager.json "$gpu" <<'PY'
import json, sys
d, e = (json.load(open(f)) for f in sys.argv[1:3])
tol = 1e-9
assert d["mode"] == "device" and e["mode"] == "eager"
assert all(s["host_s"] == 0 for s in d["subgraphs"]), "device mode has host costs"
start = json.load(open(sys.argv[3]))["overhead"]["graph_start_s"]
assert start > 0 and d["start_s"] == start and e["start_s"] == 0, "graph start"
assert abs(d["total_s"] - start - sum(s["in_sequence_s"] for s in d["subgraphs"])) <= tol * d["total_s"], "device total"
assert all(s["host_s"] > 0 for s in e["subgraphs"]), "eager mode lacks a host cost"
assert all(s["in_sequence_s"] >= s["host_s"] for s in e["subgraphs"]), "eager: in_sequence_s below host_s"
host = sum(s["host_s"] for s in e["subgraphs"])
seq = [s["in_sequence_s"] for s in e["subgraphs"]]
assert host * (1 - tol) <= e["total_s"] <= (host + sum(seq)) * (1 + tol) and e["total_s"] >= max(seq) * (1 - tol)
for j in (d, e):
    assert j["interval_s"][0] <= j["total_s"] <= j["interval_s"][1]
PY
  then pass "predict --json: mode, host_s and the queued total_s (device and eager)"; else fail "predict --json mode/host_s/total_s checks"; fi
fi

# Shape fields: null is the default, pooling stride included; fields above 2^40 are named
cat > null_stride.json <<'EOF2'
{"hwcal_workload": 1, "subgraphs": [{"name": "pool", "op": "maxpool", "n": 1, "c": 8, "h": 16, "w": 16, "r": 2, "stride": null, "padding": null}]}
EOF2
expect 0 "pool" -- "$hwcal" predict --profile p.json --workload null_stride.json
cat > huge.json <<'EOF2'
{"hwcal_workload": 1, "subgraphs": [{"name": "big", "op": "embedding", "tokens": 16, "vocab": 2199023255552, "dim": 64}]}
EOF2
expect 2 "huge.json: field '/subgraphs/0/vocab': subgraph 'big': is larger than 2\^40" -- "$hwcal" predict --profile p.json --workload huge.json
cat > relu2.json <<'EOF2'
{"hwcal_workload": 1, "subgraphs": [{"name": "r", "op": "relu", "elements": 64, "inputs": 2}]}
EOF2
expect 2 "relu2.json: field '/subgraphs/0/inputs': subgraph 'r': relu shape: relu takes 1 input" -- \
  "$hwcal" predict --profile p.json --workload relu2.json

# hwcal ops: the op table in each format; docs/ops.md is the markdown form, verbatim
expect 0 "rmsnorm.*rows" -- "$hwcal" ops
expect 0 "kv_heads = heads" -- "$hwcal" ops --format table
expect 0 '"workload_version"' -- "$hwcal" ops --format json
expect 0 "^\\| \`embedding\`" -- "$hwcal" ops --format markdown
expect 2 "--format" -- "$hwcal" ops --format yaml
if command -v python3 >/dev/null; then
  if "$hwcal" ops --format json | python3 -c 'import json, sys; v = json.load(sys.stdin); assert v["schema_version"] >= 2 and len(v["ops"]) >= 31 and all(o["fields"] for o in v["ops"])'; then
    pass "hwcal ops --format json parses (schema_version, ops, fields)"
  else fail "hwcal ops --format json is not the expected JSON"; fi
fi
if "$hwcal" ops --format markdown > ops.md 2>&1 && cmp -s ops.md "$src/docs/ops.md"; then
  pass "docs/ops.md equals hwcal ops --format markdown"
else
  fail "docs/ops.md differs from hwcal ops --format markdown (regenerate: tools/gen_schemas.py --hwcal HWCAL, or hwcal ops --format markdown > docs/ops.md)"$'\n'"$(diff ops.md "$src/docs/ops.md" | head -20)"
fi

# --auto: calibrates once, then answers from the cache.
expect 0 "calibrated and cached" -- "$hwcal" predict --auto --budget 3 --threads 1 --workload "$data/small_workload.json"
expect 0 "using cached profile" -- "$hwcal" predict --auto --budget 3 --threads 1 --workload "$data/small_workload.json"

# compare
expect 0 "relu" -- "$hwcal" compare p.json before.json

# collectives: the synthetic GPU profile's section in show, predict and compare; errors exit 2 naming the field
gpu="$data/profile_gpu_small.json"
expect 0 "Collectives \\(synthetic" -- "$hwcal" show --summary "$gpu"
expect 0 "all_reduce on 8 GPUs, bf16, graph" -- "$hwcal" show --op all_reduce "$gpu"
cat > tp.json <<'EOF2'
{"hwcal_workload": 1, "precision": "bf16", "subgraphs": [{"name": "tp", "op": "all_reduce", "bytes": 16777216, "gpus": 8}]}
EOF2
expect 0 "tp +all_reduce.*bus [0-9.]+ GB/s" -- "$hwcal" predict --profile "$gpu" --workload tp.json
expect 0 '"bus_gbps"' -- "$hwcal" predict --profile "$gpu" --workload tp.json --mode eager --json
expect 2 "tp.json: field '/subgraphs/0': subgraph 'tp': all_reduce: the profile has no all_reduce curve" -- \
  "$hwcal" predict --profile p.json --workload tp.json
cat > tp1.json <<'EOF2'
{"hwcal_workload": 1, "subgraphs": [{"name": "tp", "op": "all_gather", "bytes": 4096, "gpus": 1}]}
EOF2
expect 2 "tp1.json: field '/subgraphs/0/gpus': subgraph 'tp': all_gather shape: a collective needs at least 2 GPUs" -- \
  "$hwcal" predict --profile "$gpu" --workload tp1.json
expect 2 "collectives: backend 'eigen' targets the CPU" -- "$hwcal" calibrate --backend eigen --collectives -q -o c.json
expect 2 "'all_reduce' is a collective" -- "$hwcal" calibrate --ops all_reduce -q -o c.json
expect 2 "need --collectives" -- "$hwcal" calibrate --collective-gpus 2 -q -o c.json
python3 - "$gpu" <<'EOF2'
import json, sys
p = json.load(open(sys.argv[1]))
for s in p["collectives"]["curves"][0]["samples"]:
    for k in ("median_s", "p10_s", "p90_s", "mad_s"):
        s["time"][k] *= 2
json.dump(p, open("gpu_slower.json", "w"))
EOF2
expect 0 "all_reduce 2 GPUs bf16 graph +10 +2\\.00 " -- "$hwcal" compare "$gpu" gpu_slower.json
bad_col=$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); p["collectives"]["curves"][0]["gpus"]=1; print(json.dumps(p))' "$gpu")
echo "$bad_col" > bad_col.json
expect 2 "bad_col.json: field '/collectives/curves/0/gpus': must be between 2" -- "$hwcal" show bad_col.json

echo "$failures failure(s)"
[[ $failures -eq 0 ]]
