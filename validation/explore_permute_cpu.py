#!/usr/bin/env python3
"""Exploration (not calibration): a permuted copy's time on the CPU at one
thread (PyTorch eager), as a ratio to a contiguous copy of the same bytes:
channel shuffles with runs of 49, 196 and 784 elements, a head merge (runs of
64) and an element transpose of a square; the CPU twin of
validation/gpu/explore_permute.py. Median of 7 rounds of 50 calls each.

    /usr/bin/python3 validation/explore_permute_cpu.py
"""
import time

import torch


def time_us(fn, calls=50, rounds=7, warmup=3):
    """Median microseconds a call of fn over `rounds` rounds of `calls` calls."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        ts.append((time.perf_counter() - t0) / calls)
    ts.sort()
    return ts[rounds // 2] * 1e6


def main():
    torch.set_num_threads(1)
    print("bytes     copy us  shuffle/copy (runs 49, 196, 784)  heads/copy  transpose/copy")
    for nbytes in (1 << 16, 1 << 20, 1 << 24):
        n = nbytes // 4
        x = torch.randn(n)
        copy = time_us(lambda: x.clone())
        shuffles = []
        for run in (49, 196, 784):
            rows = n // run // 2 * 2
            y = x[:rows * run].view(1, 2, rows // 2, run)
            shuffles.append(time_us(lambda: y.transpose(1, 2).contiguous()) / copy)
        h = x.view(16, n // 1024, 64)
        heads = time_us(lambda: h.transpose(0, 1).contiguous()) / copy
        side = int(n ** 0.5)
        m = x[:side * side].view(side, side)
        transpose = time_us(lambda: m.t().contiguous()) / copy
        print(f"{nbytes:<9d} {copy:8.1f}  {shuffles[0]:5.2f} {shuffles[1]:5.2f} {shuffles[2]:5.2f}"
              f"                  {heads:5.2f}       {transpose:5.2f}")


if __name__ == "__main__":
    main()
