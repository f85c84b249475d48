#!/usr/bin/env python3
"""Writes the workloads of a ground truth's configs again with today's tracer,
without timing anything: for a tracer change that adds a field (e.g. a
convolution's channels_last), scored against measurements taken before it.

  python3 validation/gpu/retrace.py --measured D/gpu_measured_partholdout.json.gz --out-dir OUT/workloads
  python3 validation/gpu/retrace.py --configs resnet18_b1_fp32 --device cpu --small --out-dir /tmp/w   # CPU check

Each config is built and traced as measure_gpu.py does (same model, batch,
precision and device, model.eval() under torch.no_grad()), so a workload
differs from the measured one only where the tracer does; the layer names are
the same, which report_gpu.py joins on. Exit 1 when a config fails (the others
are written).
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "python"))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import measure_gpu  # noqa: E402
import models_gpu  # noqa: E402
from hwcal.trace import capture, workload_doc, workload_text  # noqa: E402
from jsonfile import load_json, write_atomic  # noqa: E402


def traced_doc(cfg, device, small=False):
    """The workload document of a config (model_b<batch>_<precision>), traced now."""
    model_name, batch, precision = models_gpu.parse_config(cfg)
    measure_gpu.set_precision(precision)
    with torch.no_grad():
        model, inputs, _ = models_gpu.build(model_name, batch, precision, device, small)
        _, cap, _ = capture(model, inputs)
        return workload_doc(cfg, precision, cap.units)


def retrace(cfg, device, small, out_dir):
    doc = traced_doc(cfg, device, small)
    write_atomic(os.path.join(out_dir, cfg + ".json"), workload_text(doc))
    return doc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--measured", help="a measure_gpu.py file: its configs")
    src.add_argument("--configs", nargs="+", help="config names (model_b<batch>_<precision>)")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--small", action="store_true", help="small transformer widths (CPU checks)")
    args = ap.parse_args(argv)
    configs = args.configs or sorted(load_json(args.measured).get("configs", {}))
    os.makedirs(args.out_dir, exist_ok=True)
    failed = 0
    for cfg in configs:
        try:
            doc = retrace(cfg, args.device, args.small, args.out_dir)
            print(f"{cfg}: {len(doc['subgraphs'])} subgraphs", flush=True)
        except Exception:  # noqa: BLE001 - one model's failure must not lose the others
            failed += 1
            print(f"{cfg}: FAILED\n{traceback.format_exc()}", file=sys.stderr, flush=True)
        if args.device == "cuda":
            torch.cuda.empty_cache()
    print(f"{len(configs) - failed} of {len(configs)} configs traced into {args.out_dir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
