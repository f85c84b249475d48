#!/usr/bin/env python3
"""Put the curves of a partial calibration (`hwcal calibrate --ops ...`, e.g.
`run_all.sh recalibrate`) into a full profile of the same device.

    merge_ops.py FULL.json OPS.json[.gz] -o MERGED.json

Every curve of OPS.json replaces the full profile's curve of the same op,
precision and variant (or is added); the rest of FULL.json is kept. Both must
describe the same GPU (name and SM count); the merged profile's warnings say
which curves came from which calibration, so the mix is never silent.

    merge_ops.py FULL.json OPS.json -o MERGED.json --keep-unmeasured

also keeps, in each replaced curve, FULL's samples at shapes OPS.json's curve
lacks (a calibration its budget cut before the sweep's last batch); the
warning counts them.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jsonfile import load_json, write_atomic  # noqa: E402


def key(op):
    return (op["op"], op["precision"], op.get("variant", ""), op.get("threads", 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("full")
    ap.add_argument("ops")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--keep-unmeasured", action="store_true",
                    help="keep FULL's samples at shapes a replacing curve lacks")
    a = ap.parse_args()
    full, part = (load_json(p) for p in (a.full, a.ops))
    fd, pd = full.get("device") or {}, part.get("device") or {}
    if (fd.get("name"), fd.get("sm_count")) != (pd.get("name"), pd.get("sm_count")):
        sys.exit(f"merge_ops.py: {a.ops} describes {pd.get('name')}, {a.full} {fd.get('name')}: not merged")
    new = {key(o): o for o in part["operations"]}
    replaced = sum(1 for o in full["operations"] if key(o) in new)
    kept = 0
    if a.keep_unmeasured:
        for o in full["operations"]:
            if key(o) not in new:
                continue
            later = new[key(o)]
            shapes = {json.dumps(s["shape"], sort_keys=True) for s in later["samples"]}
            old = [s for s in o["samples"] if json.dumps(s["shape"], sort_keys=True) not in shapes]
            later["samples"] = later["samples"] + old
            kept += len(old)
    ops = [new.pop(key(o), o) for o in full["operations"]]
    ops += new.values()
    full["operations"] = ops
    kinds = sorted({k[0] for k in map(key, part["operations"])})
    full.setdefault("warnings", []).append(
        f"curves of {', '.join(kinds)} ({replaced} replaced, {len(new)} added) from a later calibration of the same "
        f"GPU model ({pd.get('name')}, uuid {pd.get('uuid')}, created {part.get('created_utc')}, hwcal "
        f"{part.get('hwcal_version')}); the rest from {fd.get('uuid')}, created {full.get('created_utc')}"
        + (f"; {kept} samples of the replaced curves kept from the earlier one, at shapes the later one did not reach"
           if a.keep_unmeasured else ""))
    write_atomic(a.output, json.dumps(full, indent=1))
    print(f"{a.output}: {replaced} curves replaced, {len(new)} added ({', '.join(kinds)})"
          + (f", {kept} earlier samples kept" if a.keep_unmeasured else ""))


if __name__ == "__main__":
    main()
