#!/usr/bin/python3
"""How much slower a weight-streaming layer runs inside a forward pass than
repeated alone: a one-row F.linear (a GEMV, as in LLM decode or a batch-1 MLP)
timed three ways, on one thread, with Debian's python3-torch:

  alone   the same weight matrix every call (what timing one layer in isolation measures);
  seq2/4  round-robin over 2 or 4 weight matrices of the same shape (a pass whose
          weights are 2 or 4 times the layer's);
  cold    after reading a 1 GiB buffer (the weights come from memory).

It prints the GB/s the weights stream at alone and the ratios of the others to it,
next to what the profile's memory sweep predicts for the same working sets, both as
an added term (bytes x (1/bw(pass) - 1/bw(layer)), the CPU mapper's in-sequence
rule) and as a scaled one (time x bw(layer) / bw(pass)), so the rule can be judged
against the machine rather than against validation models (issue 12).

    taskset -c 0 /usr/bin/python3 bench/gemv_in_sequence.py --profile P.json [--json out.json]
"""

import argparse
import bisect
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F

SHAPES = [(1024, 1024), (2048, 2048), (4096, 2048), (8192, 2048), (14336, 4096)]  # (out, in) features, fp32


def sweep_of(profile):
    """(log2 bytes, log2 bytes/s) of the profile's memory sweep, as the mapper reads it."""
    pts = sorted((math.log2(p["working_set_bytes"]), math.log2(p["gbps"] * 1e9))
                 for p in profile["memory"]["sweep"] if p["gbps"] > 0)

    def bw(nbytes):
        x = math.log2(max(nbytes, 1))
        if x <= pts[0][0]:
            return 2 ** pts[0][1]
        if x >= pts[-1][0]:
            return 2 ** pts[-1][1]
        i = bisect.bisect_left([p[0] for p in pts], x)
        (x0, y0), (x1, y1) = pts[i - 1], pts[i]
        return 2 ** (y0 + (x - x0) / (x1 - x0) * (y1 - y0))

    return bw


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", required=True, help="a CPU profile of this machine at 1 thread (its memory sweep)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with open(args.profile, encoding="utf-8") as f:
        bw = sweep_of(json.load(f))
    flush = torch.ones(256 * 1024 * 1024, dtype=torch.float32)  # 1 GiB
    rows = []
    print(f"{'weights':>16} {'MiB':>6} {'alone':>10} {'GB/s':>6} | measured: {'seq2':>5} {'seq4':>5} {'cold':>5} |"
          f" sweep, added: {'seq2':>5} {'seq4':>5} {'cold':>5} | sweep, scaled: {'seq2':>5} {'seq4':>5} {'cold':>5}")
    for n, k in SHAPES:
        nbytes = n * k * 4
        ws = [torch.randn(n, k) for _ in range(4)]
        x = torch.randn(1, k)
        for _ in range(5):
            F.linear(x, ws[0])

        def run(order, reps, pre=None):
            ts = []
            for i in range(reps):
                w = ws[order[i % len(order)]]
                if pre:
                    pre()
                t0 = time.perf_counter()
                F.linear(x, w)
                ts.append(time.perf_counter() - t0)
            return statistics.median(ts[len(order):])

        reps = max(12, min(200, int(0.5 / (nbytes / 10e9))))
        alone = run([0], reps)
        measured = {"seq2": run([0, 1], reps) / alone, "seq4": run([0, 1, 2, 3], reps) / alone,
                    "cold": run([0], 9, pre=lambda: flush.sum()) / alone}
        passes = {"seq2": 2 * nbytes, "seq4": 4 * nbytes, "cold": 1 << 40}
        added = {key: 1 + nbytes * max(0.0, 1 / bw(p) - 1 / bw(nbytes)) / alone for key, p in passes.items()}
        scaled = {key: max(1.0, bw(nbytes) / bw(p)) for key, p in passes.items()}
        rows.append({"out_features": n, "in_features": k, "weight_bytes": nbytes, "alone_s": alone,
                     "alone_gbps": nbytes / alone / 1e9, "measured": measured, "sweep_added": added, "sweep_scaled": scaled})
        r = rows[-1]
        print(f"{n:>7}x{k:<8} {nbytes / 2**20:6.1f} {alone * 1e6:8.1f}us {r['alone_gbps']:6.1f} |"
              f"           {measured['seq2']:5.2f} {measured['seq4']:5.2f} {measured['cold']:5.2f} |"
              f"               {added['seq2']:5.2f} {added['seq4']:5.2f} {added['cold']:5.2f} |"
              f"                {scaled['seq2']:5.2f} {scaled['seq4']:5.2f} {scaled['cold']:5.2f}", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"benchmark": "gemv_in_sequence", "torch": torch.__version__, "profile": args.profile, "rows": rows},
                      f, indent=1)


if __name__ == "__main__":
    main()
