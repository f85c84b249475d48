#!/usr/bin/env bash
# Compares two builds of `hwcal predict --json` on every workload of
# validation/workloads/ and tests/fuzz/corpus/ with every shipped profile and
# the benchmark's (docs/bench/mapper_profile_eigen_t1.json): exact lookup in
# device, eager and roofline modes (byte-identical expected for a change that
# leaves predictions alone), and table lookup (listed: which estimates moved,
# and the largest relative change of each field). On GPU profiles, whose
# tables take most of a minute to build in each call, table lookup is compared
# on the first $GPU_TABLE_WORKLOADS workloads only (default 2).
#
#   bench/predict_diff.sh BASE_HWCAL NEW_HWCAL [OUT_DIR]
#   PROFILES="profiles/cpu/*.json" bench/predict_diff.sh ...   # those profiles only
#
# Exit status 1 when an exact-mode output differs. Run from the repository root.
set -euo pipefail
base=$1 new=$2 out=${3:-$(mktemp -d)}
mkdir -p "$out/base" "$out/new"
# PROFILES="a.json b.json" restricts the comparison to those profiles
# shellcheck disable=SC2206
profiles=(${PROFILES:-profiles/cpu/*.json profiles/gpu/*.json docs/bench/mapper_profile_eigen_t1.json})
workloads=(validation/workloads/*.json)
# the fuzz corpus holds profiles and workloads alike: its workloads only
for f in tests/fuzz/corpus/*.json; do grep -q '"subgraphs"' "$f" && workloads+=("$f"); done

gpu_table=${GPU_TABLE_WORKLOADS:-2}
exact_runs=0 exact_diff=0 table_runs=0 table_diff=0
for p in "${profiles[@]}"; do
  i=0
  for w in "${workloads[@]}"; do
    i=$((i + 1))
    for v in "device exact" "eager exact" "roofline exact" "device table"; do
      set -- $v
      [ "$2" = table ] && [[ $p == profiles/gpu/* ]] && [ $i -gt "$gpu_table" ] && continue
      args=(predict --json --profile "$p" -w "$w" --lookup "$2")
      [ "$1" = roofline ] && args+=(--model roofline) || args+=(--mode "$1")
      name=$(basename "$p" .json)__$(basename "$w" .json)__$1_$2.json
      # a malformed fuzz document exits 2 in both builds: its message is compared
      "$base" "${args[@]}" >"$out/base/$name" 2>&1 || true
      "$new" "${args[@]}" >"$out/new/$name" 2>&1 || true
      if [ "$2" = exact ]; then
        exact_runs=$((exact_runs + 1))
        cmp -s "$out/base/$name" "$out/new/$name" || { exact_diff=$((exact_diff + 1)); echo "exact differs: $name"; }
      else
        table_runs=$((table_runs + 1))
        cmp -s "$out/base/$name" "$out/new/$name" || { table_diff=$((table_diff + 1)); echo "$name" >>"$out/table_moved.txt"; }
      fi
    done
  done
done
echo "exact: $exact_diff of $exact_runs outputs differ; table: $table_diff of $table_runs differ ($out)"

# Table mode: per estimate field, how many moved and the largest |new / base - 1|.
if [ "$table_diff" -gt 0 ]; then
  python3 - "$out" <<'EOF'
import json, os, sys
out = sys.argv[1]
moved, worst, total = {}, {}, 0
for name in open(os.path.join(out, "table_moved.txt")).read().split():
    try:
        a = json.load(open(os.path.join(out, "base", name)))
        b = json.load(open(os.path.join(out, "new", name)))
    except ValueError:
        print("  %s: not JSON in one build" % name)
        continue
    def flat(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, list) and all(isinstance(x, (int, float)) for x in v):
                for i, x in enumerate(v):
                    yield "%s%s[%d]" % (prefix, k, i), x
            elif k != "subgraphs":
                yield prefix + k, v
    pairs = [(dict(flat(a, "total ")), dict(flat(b, "total ")), "total")]
    pairs += [(dict(flat(sa)), dict(flat(sb)), sa.get("name", "")) for sa, sb in zip(a["subgraphs"], b["subgraphs"])]
    for fa, fb, where in pairs:
        total += 1
        for k, va in fa.items():
            vb = fb.get(k)
            if va == vb:
                continue
            moved[k] = moved.get(k, 0) + 1
            if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and va:
                r = abs(vb / va - 1)
                if r > worst.get(k, (0, ""))[0]:
                    worst[k] = (r, "%s %s" % (name, where))
            else:
                worst.setdefault(k, (float("nan"), "%s %s: %s -> %s" % (name, where, va, vb)))
print("table: fields that moved of %d estimates and totals (count, largest relative change, where):" % total)
for k in sorted(moved):
    print("  %-16s %6d  %.3g  %s" % (k, moved[k], worst[k][0], worst[k][1]))
EOF
fi
[ "$exact_diff" -eq 0 ]
