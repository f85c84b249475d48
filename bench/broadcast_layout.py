#!/usr/bin/python3
"""Does the layout of a broadcast operand change what a binary op costs? A mul of
`elements` fp32 values by a smaller operand of `broadcast` values, on one thread,
with Debian's python3-torch, three ways:

  row      [rows][C] * [C]: the small operand varies fastest (output i uses b[i % C]),
           which is the broadcast hwcal's kernels calibrate (ElementwiseShape.broadcast);
  channel  [C][run] * [C][1]: each value of the small operand is reused for a contiguous
           run of outputs (output i uses b[i / run]), as a squeeze-and-excite scale or a
           per-channel affine over NCHW does;
  full     [elements] * [elements], for reference.

The workload format records only `elements` and `broadcast`, so the mapper predicts
both layouts alike; this prints how far apart they are on the machine (issue 12:
the CPU validation's 90 mul layers, most of them squeeze-and-excite scales, have
MAPE 27.5% and bias -25.2% in docs/validation/cpu_report.md).

    taskset -c 1 /usr/bin/python3 bench/broadcast_layout.py [--json out.json]
"""

import argparse
import json
import platform
import statistics
import time

import torch

# (channels, run): the squeeze-and-excite scales of efficientnet_b0 / mobilenet_v3 / regnet at 224x224,
# batch 1 (run = H x W of the block), and two long runs
SHAPES = [(16, 12544), (96, 3136), (144, 784), (240, 196), (480, 196), (576, 49), (1152, 49), (672, 196)]


def per_call(fn, calls):
    for _ in range(max(10, calls // 10)):
        fn()
    samples = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - t0) / calls)
    return statistics.median(samples)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    print(f"{'elements':>9} {'C':>5} {'run':>6} {'row':>9} {'channel':>9} {'full':>9} {'channel/row':>11}")
    for c, run in SHAPES:
        n = c * run
        calls = max(50, min(5000, int(2e7 // n)))
        xr, br = torch.randn(run, c), torch.randn(c)
        xc, bc = torch.randn(c, run), torch.randn(c, 1)
        xf = torch.randn(n)
        row = per_call(lambda: xr * br, calls)
        channel = per_call(lambda: xc * bc, calls)
        full = per_call(lambda: xf * xf, calls)
        rows.append({"elements": n, "broadcast": c, "run": run, "row_s": row, "channel_s": channel, "full_s": full,
                     "channel_over_row": channel / row})
        print(f"{n:>9} {c:>5} {run:>6} {row * 1e6:>7.2f}us {channel * 1e6:>7.2f}us {full * 1e6:>7.2f}us "
              f"{channel / row:>11.2f}")
    if args.json:
        doc = {"bench": "broadcast_layout", "machine": platform.processor() or platform.machine(),
               "cpu_model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
                                 "unknown"),
               "torch": torch.__version__, "threads": 1, "rows": rows}
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)


if __name__ == "__main__":
    main()
