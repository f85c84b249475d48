"""What a CPU op pays in a forward pass beyond its time repeated alone, when
other work ran between its calls: the op timed warm (right after a call of its
own), and after the caches were filled by other work of a given size (a buffer written: dirty
lines; or read: clean ones), its input rewritten just before (as the op
before it in a pass writes it). One thread, eager PyTorch, as the CPU
validation runs it. Prints medians in microseconds; asserts nothing.

  GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296 \\
  OMP_NUM_THREADS=1 taskset -c 0 /usr/bin/python3 validation/explore_cold_call_cpu.py [--fills-mib 1,4,16,96]
"""
import argparse
import statistics
import time

import torch

F = torch.nn.functional


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fills-mib", default="1,4,16,96", help="sizes of the other work between calls, MiB")
    ap.add_argument("--reps", type=int, default=25)
    args = ap.parse_args()
    torch.set_num_threads(1)
    fills = [int(v) for v in args.fills_mib.split(",")]
    bufs = {f: torch.empty(f * 2**20 // 4) for f in fills}

    def once(fn):
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    def bench(name, x, fn):
        for _ in range(5):
            fn()
        src = x.clone()
        warm, dirty, clean = [], {f: [] for f in fills}, {f: [] for f in fills}
        for i in range(args.reps):
            warm.append(once(fn))
            for f in fills:
                bufs[f].fill_(float(i))
                x.copy_(src)
                dirty[f].append(once(fn))
                bufs[f].sum()
                x.copy_(src)
                clean[f].append(once(fn))
        w = statistics.median(warm) * 1e6
        extra = {f: (statistics.median(dirty[f]) * 1e6 - w, statistics.median(clean[f]) * 1e6 - w) for f in fills}
        cols = "  ".join(f"{f:3d} MiB {d:+7.1f} / {c:+7.1f}" for f, (d, c) in extra.items())
        print(f"{name:26s} in {x.numel() * 4 / 1e6:5.2f} MB  warm {w:8.1f} us  after other work (dirty / clean): {cols}",
              flush=True)

    def conv(name, n, c, hw, k, r, stride, groups):
        x = torch.randn(n, c, hw, hw)
        wt = torch.randn(k, c // groups, r, r)
        bench(name, x, lambda: F.conv2d(x, wt, None, stride, r // 2, 1, groups))

    with torch.no_grad():
        conv("dw3x3 96ch 112^2 s2 b1", 1, 96, 112, 96, 3, 2, 96)
        conv("dw3x3 144ch 56^2 b1", 1, 144, 56, 144, 3, 1, 144)
        conv("dw3x3 576ch 14^2 b1", 1, 576, 14, 576, 3, 1, 576)
        conv("1x1 16->96 112^2 b1", 1, 16, 112, 96, 1, 1, 1)
        conv("1x1 96->24 56^2 b1", 1, 96, 56, 24, 1, 1, 1)
        conv("dense3x3 64ch 56^2 b1", 1, 64, 56, 64, 3, 1, 1)
        x = torch.randn(1, 96, 112, 112)
        bench("relu 96x112^2", x, lambda: torch.relu(x))
        small = torch.randn(1, 576, 14, 14)
        bench("relu 576x14^2", small, lambda: torch.relu(small))
        bn = torch.nn.BatchNorm2d(96).eval()
        bench("batchnorm 96x112^2", x, lambda: bn(x))


if __name__ == "__main__":
    main()
