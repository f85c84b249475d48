#!/usr/bin/env python3
"""Split the ground-truth plan (models_gpu.plan: model x batch x precision, in
measuring order) into parts measured by separate device calls, so that a
machine that dies loses one part, not the whole run.

  python3 validation/gpu/truth_parts.py 1          # the config names of part 1 of 2, measuring order
  python3 validation/gpu/truth_parts.py --table    # how the parts cover models, batches and precisions
  python3 validation/gpu/truth_parts.py --holdout  # the held-out models' configs (models_gpu.HOLDOUT), one part
  python3 validation/gpu/truth_parts.py --blind    # the blind set's configs (models_gpu.BLIND), one part
  python3 validation/gpu/truth_parts.py merge --out DIR gpu_measured_part1.json[.gz] gpu_measured_part2.json[.gz] \
      --workloads workloads_part1.tar.gz workloads_part2.tar.gz
        # -> DIR/gpu_measured.json and DIR/workloads/, what report_gpu.py reads (--measured, --workloads)

Config (model m, batch index b, precision p) goes to part (m + b + p) mod N,
model and precision counted in models_gpu's order (MODELS; PRECISIONS = fp32,
bf16, tf32, fp16). With N = 2 every model and batch has one of fp32/bf16 and
one of tf32/fp16 in each part, each precision has half the model x batch
pairs in each part, and both parts have tier-0 configs (the ones measured
twice for the noise floor). Within a part the plan's order is kept, so a part
cut short by its budget is still balanced.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import models_gpu  # noqa: E402


def part_index(config, parts):
    """0-based part of one config name."""
    model, batch, precision = models_gpu.parse_config(config)
    m = list(models_gpu.MODELS).index(model)
    b = models_gpu.MODELS[model].batches.index(batch)
    p = models_gpu.PRECISIONS.index(precision)
    return (m + b + p) % parts


def split(parts=2, plan=None):
    """[[config, ...] per part], each in measuring order."""
    plan = plan if plan is not None else [c for c, _ in models_gpu.plan()]
    out = [[] for _ in range(parts)]
    for c in plan:
        out[part_index(c, parts)].append(c)
    return out


def table(parts=2):
    """Text: per model and precision, which part measures each batch."""
    lines = [f"{'model':20s}" + "".join(f" {p:>17s}" for p in models_gpu.PRECISIONS)]
    for model, spec in models_gpu.MODELS.items():
        cells = []
        for p in models_gpu.PRECISIONS:
            cells.append(",".join(f"{b}:{1 + part_index(models_gpu.config_name(model, b, p), parts)}"
                                  for b in spec.batches))
        lines.append(f"{model:20s}" + "".join(f" {c:>17s}" for c in cells))
    sizes = [len(x) for x in split(parts)]
    lines.append(f"(batch:part) configs per part: {sizes}")
    return "\n".join(lines) + "\n"


def _load(path):
    with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
        return json.load(f)


def merge(measured, workloads, out_dir):
    """One measurements document (and one workloads folder) from the parts'
    gpu_measured files, as if one run had measured them all: configs, plan,
    done / failed / not_started joined, budgets and run times added; each part's
    own start, end, machine readings and command are kept under "parts".
    Returns the merged document."""
    docs = [_load(p) for p in measured]
    merged = dict(docs[0])
    merged["configs"] = {}
    for key in ("plan", "done", "failed", "not_started"):
        merged[key] = [c for d in docs for c in d.get(key, [])]
    merged["interrupted"] = any(d.get("interrupted") for d in docs)
    merged["elapsed_s"] = round(sum(d.get("elapsed_s") or 0 for d in docs), 1)
    merged["budget_s"] = sum(d.get("budget_s") or 0 for d in docs)
    merged["finished"] = docs[-1].get("finished")
    merged["command"] = " ; ".join(d.get("command", "") for d in docs)
    merged["machine"] = dict(docs[0].get("machine") or {})
    merged["machine"]["nvidia_smi_end"] = (docs[-1].get("machine") or {}).get("nvidia_smi_end")
    stopped = [d["stopped"] for d in docs if d.get("stopped")]
    merged.pop("stopped", None)
    if stopped:
        merged["stopped"] = "; ".join(stopped)
    merged["parts"] = [{"file": os.path.basename(p), "created": d.get("created"), "finished": d.get("finished"),
                        "elapsed_s": d.get("elapsed_s"), "budget_s": d.get("budget_s"),
                        "interrupted": d.get("interrupted"), "stopped": d.get("stopped"),
                        "configs": len(d.get("configs", {})), "machine": d.get("machine"), "command": d.get("command")}
                       for p, d in zip(measured, docs)]
    for d in docs:
        for cfg, rec in d.get("configs", {}).items():
            if cfg in merged["configs"]:
                raise ValueError(f"config {cfg} is in more than one part")
            merged["configs"][cfg] = rec
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "gpu_measured.json"), "w") as f:
        json.dump(merged, f, indent=1)
        f.write("\n")
    wdir = os.path.join(out_dir, "workloads")
    os.makedirs(wdir, exist_ok=True)
    for w in workloads or []:
        with tempfile.TemporaryDirectory() as tmp:
            if os.path.isdir(w):
                src = w
            else:
                with tarfile.open(w) as tar:
                    try:
                        tar.extractall(tmp, filter="data")
                    except TypeError:  # Python without extraction filters
                        tar.extractall(tmp)
                src = tmp
            for root, _, files in os.walk(src):
                for name in files:
                    if name.endswith(".json"):
                        shutil.copy(os.path.join(root, name), os.path.join(wdir, name))
    return merged


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "merge":
        mp = argparse.ArgumentParser(prog="truth_parts.py merge")
        mp.add_argument("--out", required=True, help="folder for gpu_measured.json and workloads/")
        mp.add_argument("measured", nargs="+", help="the parts' gpu_measured files (.json or .json.gz)")
        mp.add_argument("--workloads", nargs="*", default=[], help="the parts' workloads tarballs or folders")
        a = mp.parse_args(argv[1:])
        doc = merge(a.measured, a.workloads, a.out)
        print(f"{len(doc['configs'])} configs from {len(a.measured)} parts -> {a.out}/gpu_measured.json, "
              f"{len(os.listdir(os.path.join(a.out, 'workloads')))} workloads -> {a.out}/workloads/")
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", nargs="?", type=int, help="1-based part number")
    ap.add_argument("--parts", type=int, default=2)
    ap.add_argument("--table", action="store_true", help="print the coverage table")
    ap.add_argument("--holdout", action="store_true", help="the held-out models' configs, measuring order")
    ap.add_argument("--blind", action="store_true", help="the blind set's configs, measuring order")
    args = ap.parse_args(argv)
    if args.holdout or args.blind:
        zoo = models_gpu.HOLDOUT if args.holdout else models_gpu.BLIND
        print(" ".join(c for c, _ in models_gpu.plan(list(zoo))))
        return 0
    if args.table:
        sys.stdout.write(table(args.parts))
        return 0
    if args.part is None or not 1 <= args.part <= args.parts:
        ap.error(f"part must be between 1 and {args.parts}")
    print(" ".join(split(args.parts)[args.part - 1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
