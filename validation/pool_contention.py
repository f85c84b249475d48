#!/usr/bin/env python3
"""Why a BLAS op is slower inside a model than alone at 2+ threads (issue 12).

    OMP_WAIT_POLICY=... /usr/bin/python3 validation/pool_contention.py [--threads 2]

Debian's PyTorch runs linear layers through OpenBLAS's own threads and its
elementwise ops and convolutions through ATen's OpenMP pool. Timed alone and
back to back (the calibration's samples, the validation's per-layer times), a
linear finds OpenBLAS's threads hot; inside a model it follows a parallel
ATen op whose OpenMP workers keep spinning for a while, on the cores
OpenBLAS's threads need. For a few linear shapes this prints the median
time alone and the extra after an ATen relu (OpenMP-parallel), after a
convolution and after a 10 ms sleep (the spinning outlasts it). Run once with
the default wait policy and once with OMP_WAIT_POLICY=passive to see the
spinning's share. Reports only; asserts nothing.
"""
import argparse
import time

import torch
import torch.nn as nn


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=40)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)
    relu, xr = nn.ReLU(), torch.randn(1 << 18)
    conv, xc = nn.Conv2d(64, 64, 3, padding=1), torch.randn(1, 64, 28, 28)
    before = {"relu": lambda: relu(xr), "conv": lambda: conv(xc), "sleep 10 ms": lambda: time.sleep(0.01)}

    def timed(fn):
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    def median(v):
        return sorted(v)[len(v) // 2]

    pool = [line.strip() for line in torch.__config__.parallel_info().splitlines() if "OpenMP" in line or "MKL" in line]
    print(f"torch {torch.__version__}, {a.threads} thread(s); {'; '.join(pool)}")
    for rows, k, n in ((1, 512, 512), (1, 2048, 2048), (16, 4096, 4096)):
        lin, x = nn.Linear(k, n), torch.randn(rows, k)
        op = lambda: lin(x)  # noqa: E731
        for _ in range(10):
            op()
        alone = median([timed(op) for _ in range(a.rounds)])
        after = {name: [] for name in before}
        for _ in range(a.rounds):
            for name, fn in before.items():
                fn()
                after[name].append(timed(op))
        extra = "  ".join(f"after {name} +{(median(v) - alone) * 1e6:8.1f} us" for name, v in after.items())
        print(f"linear {rows}x{k}x{n}: alone {alone * 1e6:9.1f} us  {extra}")


if __name__ == "__main__":
    main()
