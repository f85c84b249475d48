#!/usr/bin/env python3
"""Pointwise (1x1, stride 1) convolutions of a GPU report, by channel alignment.

Reads a report_gpu.py results file (--out-json) and the workloads it scored
(a tarball or a folder of <config>.json), and prints, for the chosen
precisions and batches, the median predicted / measured time of dense 1x1
convolutions on maps (H, W > 1) grouped by the alignment of their input
channels (the largest power of two dividing C, at most 64: 64 is a whole
tensor-core tile), then the shapes that contribute most error.

    python3 validation/gpu/conv_alignment.py \\
        --results docs/validation/gpu/h100/results_nvidia-h100-cuda-torch.json.gz \\
        --workloads /tmp/h100/workloads.tar.gz --precisions bf16,fp16 --min-batch 8

(`regen_reports.sh` writes the re-mapped workloads of each truth to a
temporary folder; `remap_leaves.py --out DIR` writes them where you say.)
"""
import argparse
import collections
import gzip
import json
import math
import os
import sys
import tarfile


def alignment(c):
    a = 1
    while c % (2 * a) == 0 and a < 64:
        a *= 2
    return a


def load_workloads(path):
    out = {}
    if os.path.isdir(path):
        for root, _, files in os.walk(path):
            for f in files:
                if f.endswith(".json"):
                    with open(os.path.join(root, f)) as fh:
                        out[f[:-5]] = json.load(fh)
        return out
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            if m.isfile() and m.name.endswith(".json"):
                out[os.path.basename(m.name)[:-5]] = json.load(tar.extractfile(m))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", required=True, help="report_gpu.py --out-json file (.json or .json.gz)")
    ap.add_argument("--workloads", required=True, help="the scored workloads: a .tar.gz or a folder")
    ap.add_argument("--precisions", default="bf16,fp16")
    ap.add_argument("--min-batch", type=int, default=1)
    ap.add_argument("--max-batch", type=int, default=1 << 30)
    ap.add_argument("--top", type=int, default=15, help="shapes listed by their summed error")
    a = ap.parse_args()
    opener = gzip.open if a.results.endswith(".gz") else open
    with opener(a.results, "rt") as fh:
        res = json.load(fh)
    wls = load_workloads(a.workloads)
    precisions = set(a.precisions.split(","))
    by_align = collections.defaultdict(list)
    by_shape = collections.defaultdict(list)
    missing = 0
    for name, c in res["configs"].items():
        if c["precision"] not in precisions or not a.min_batch <= c["batch"] <= a.max_batch:
            continue
        w = wls.get(name)
        if w is None:
            missing += 1
            continue
        ops = collections.defaultdict(list)
        for s in w["subgraphs"]:
            ops[s["name"]].append(s)
        for row in c["units"]:
            u = dict(zip(c["unit_columns"], row))
            if u["kind"] != "conv2d" or not u["measured_s"] or not u["predicted_s"]:
                continue
            op = next((o for o in ops.get(u["name"], []) if o["op"] == "conv2d"), None)
            if op is None or op["r"] != 1 or op["s"] != 1 or op.get("groups", 1) != 1 or op["h"] == 1:
                continue
            if op.get("stride", 1) not in (1, [1, 1]):
                continue
            r = u["predicted_s"] / u["measured_s"]
            by_align[alignment(op["c"])].append(r)
            by_shape[(c["model"], op["n"], op["c"], op["k"], op["h"], c["precision"])].append(r)
    if missing:
        print(f"({missing} configs had no workload)", file=sys.stderr)
    print("input channels' alignment | layers | median predicted / measured")
    for k in sorted(by_align):
        v = sorted(by_align[k])
        print(f"{k:>25} | {len(v):6d} | {v[len(v) // 2]:.2f}")
    print("\nmodel, N, C -> K, map, precision | layers | median predicted / measured | summed |error|")
    rows = sorted(by_shape.items(), key=lambda kv: -sum(abs(x - 1) for x in kv[1]))
    for (model, n, cin, k, h, p), v in rows[: a.top]:
        v = sorted(v)
        print(f"{model} {n} {cin}->{k} {h}^2 {p} | {len(v)} | {v[len(v) // 2]:.2f} | {sum(abs(x - 1) for x in v):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
