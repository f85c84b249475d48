#!/usr/bin/env python3
"""Exploration (not calibration): torch.cat's time against its input count and
sizes, to choose the features a concat curve needs. JSON lines on stdout."""
import json
import sys
import time

import torch


def time_us(fn, reps=20, rounds=7):
    g = torch.cuda.CUDAGraph()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    with torch.cuda.graph(g):
        for _ in range(reps):
            fn()
    ts = []
    for _ in range(rounds):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b) * 1e3 / reps)
    ts.sort()
    return ts[len(ts) // 2]


def main():
    deadline = time.time() + float(sys.argv[1]) if len(sys.argv) > 1 else 1e18
    dev = "cuda"
    for dt in (torch.bfloat16, torch.float32):
        for n in (1, 16, 64):
            for hw in (56, 14, 7):
                for c0 in (64, 256, 1024):
                    for k in (1, 2, 4, 8, 16, 32):
                        if time.time() > deadline:
                            return
                        xs = [torch.randn(n, c0, hw, hw, device=dev, dtype=dt)]
                        xs += [torch.randn(n, 32, hw, hw, device=dev, dtype=dt) for _ in range(k - 1)]
                        us = time_us(lambda: torch.cat(xs, 1))
                        es = xs[0].element_size()
                        print(json.dumps({"dtype": str(dt)[6:], "n": n, "hw": hw, "c0": c0, "g": 32, "k": k, "dim": 1,
                                          "bytes": sum(x.numel() for x in xs) * es, "max_bytes": xs[0].numel() * es,
                                          "us": round(us, 3)}), flush=True)
        # equal inputs, outer and inner dimension
        for per in (4 << 10, 64 << 10, 1 << 20, 8 << 20):
            for k in (2, 4, 8, 16, 32):
                for dim in (0, 1):
                    if time.time() > deadline:
                        return
                    el = per // torch.tensor([], dtype=dt).element_size()
                    shape = (16, el // 16) if dim == 1 else (el // 256, 256)
                    xs = [torch.randn(*shape, device=dev, dtype=dt) for _ in range(k)]
                    us = time_us(lambda: torch.cat(xs, dim))
                    print(json.dumps({"dtype": str(dt)[6:], "equal": True, "k": k, "dim": dim, "bytes": per * k,
                                      "max_bytes": per, "us": round(us, 3)}), flush=True)


if __name__ == "__main__":
    main()
