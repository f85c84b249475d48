#!/usr/bin/env python3
"""What a chain of different dependent kernels costs in one CUDA graph beyond
the sum of each kernel timed alone (a graph of R back-to-back calls of it).

    python3 validation/gpu/chain_cost.py [--json OUT.json]

Why: in the ground truth of data/h100-2026-12-06c (H100, replays queued behind a spin, so
no host time), a whole model's graph took a median 6-8% more than the sum of
its layers each timed alone, ~0.37 us per kernel (p10 0.07, p90 1.0 us over
96 held-out configs), where the layers' data fit the L2 as well as where they
do not. The mapper adds nothing of the kind. This bench measures the effect
on chains built from micro-benchmark ops, not models: per chain, the kernels
alone (each a graph of R calls on its own inputs, per call), the chain as one
graph (per chain), and the difference per kernel; the kernel count of each op
from torch.profiler. Chains: the same elementwise kernel K times (dependent,
ping-pong buffers), K different elementwise kernels, and a CNN block (conv,
batchnorm, relu) at batch 1 and 16, in fp32 and bf16; a deep CNN stack (48
blocks of 256 channels) whose weights outgrow the L2, and one of 64 channels
whose weights fit it (--only-deep: those two).
Timing: gpu_timing.CudaDevice, replays queued behind a spin kernel.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_timing as gt  # noqa: E402
import jsonfile  # noqa: E402

RULE = gt.FULL._replace(graph_replays=15)  # the truth's rule, more replays per graph
DEVICE = "cuda"  # "cpu" with --cpu-smoke


def per_call(dev, fn, target_s=200e-6, cap=256):
    """Median seconds per call of fn() in a graph of R back-to-back calls."""
    fn()
    dev.sync()
    one = dev.elapsed(fn, 1, queued=True)
    reps = max(1, min(cap, int(target_s / max(one, 1e-7)) + 1))
    # and a graph of one call (the chain's own timing rule), both replayed queued
    return gt.time_graph(dev, fn, reps, RULE), gt.time_graph(dev, fn, 1, RULE), reps


def kernels_of(dev, fn):
    """Kernels (and memcpy/memset) one call of fn() launches."""
    from torch.profiler import ProfilerActivity, profile

    if DEVICE != "cuda":
        return 0
    fn()
    dev.sync()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        dev.sync()
    return sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)


def elementwise_chain(n, dtype, same, k):
    """k dependent elementwise ops over n elements, ping-ponging two buffers."""
    a = torch.randn(n, device=DEVICE, dtype=dtype)
    b = torch.empty_like(a)
    c = torch.randn(n, device=DEVICE, dtype=dtype)
    kinds = [lambda x, y: torch.clamp_min(x, 0, out=y), lambda x, y: torch.add(x, c, out=y),
             lambda x, y: torch.mul(x, c, out=y), lambda x, y: torch.sigmoid(x, out=y),
             lambda x, y: torch.neg(x, out=y), lambda x, y: torch.sub(x, c, out=y)]
    steps = []
    for i in range(k):
        f = kinds[0] if same else kinds[i % len(kinds)]
        src, dst = (a, b) if i % 2 == 0 else (b, a)
        steps.append((lambda f=f, s=src, d=dst: f(s, d)))
    return steps


def cnn_chain(batch, dtype, blocks, ch=64, hw=56):
    """blocks x (conv 3x3 ch->ch on hw x hw, batchnorm, relu), eval mode. Each
    step reads a tensor computed before timing (one per step, all kept alive),
    so stream order, not data, links the steps, and every output is fresh."""
    torch.backends.cudnn.benchmark = False
    x = torch.randn(batch, ch, hw, hw, device=DEVICE, dtype=dtype)
    bufs = [x]
    steps = []
    for _ in range(blocks):
        conv = torch.nn.Conv2d(ch, ch, 3, padding=1, bias=False).to(DEVICE, dtype).eval()
        bn = torch.nn.BatchNorm2d(ch).to(DEVICE, dtype).eval()
        with torch.no_grad():
            y = conv(bufs[-1])
            z = bn(y)
            w = torch.relu(z)
        src, ys, zs = bufs[-1], y, z
        steps.append(lambda c=conv, s=src: F.conv2d(s, c.weight, None, 1, 1))
        steps.append(lambda b=bn, s=ys: b(s))
        steps.append(lambda s=zs: torch.relu(s))
        bufs.append(w)
    return steps


def run_chain(dev, name, steps):
    with torch.no_grad():
        chain = lambda: [s() for s in steps]  # noqa: E731
        for _ in range(3):  # library initialisation and algorithm choice before any timing (the first run of
            chain()  # data/h100-2026-12-06c timed fp32's first conv at 106 us and its first batchnorm at 23 us)
        dev.sync()
        alone = [per_call(dev, s) for s in steps]
        k_each = [kernels_of(dev, s) for s in steps]
        t_chain, t_chain1, _ = per_call(dev, chain)
    sum_alone = sum(a[0] for a in alone)
    kernels = sum(k_each)
    row = {"chain": name, "ops": len(steps), "kernels": kernels, "sum_alone_s": sum_alone,
           "chain_s": t_chain, "chain_one_replay_s": t_chain1,
           "extra_per_kernel_s": (t_chain - sum_alone) / max(kernels, 1),
           "alone_s": [a[0] for a in alone], "alone_reps": [a[2] for a in alone], "kernels_each": k_each}
    print(f"{name:40s} {len(steps):3d} ops {kernels:3d} kernels  alone sum {sum_alone * 1e6:8.2f} us  chain "
          f"{t_chain * 1e6:8.2f} us (one replay {t_chain1 * 1e6:8.2f})  extra {row['extra_per_kernel_s'] * 1e6:6.3f} us "
          f"per kernel, {100 * (t_chain / sum_alone - 1):5.1f}%", flush=True)
    return row


class SmokeDevice(gt.CpuDevice):
    """A CPU device whose graph replays call fn reps times (code check only)."""

    def graph(self, fn, reps):
        return lambda: [fn() for _ in range(reps)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json")
    ap.add_argument("--cpu-smoke", action="store_true", help="run the code on a CPU (emulated graphs, tiny sizes)")
    ap.add_argument("--only-deep", action="store_true", help="only the deep chains, whose weights outgrow the L2")
    args = ap.parse_args(argv)
    global DEVICE
    if args.cpu_smoke:
        DEVICE = "cpu"
        dev = SmokeDevice()
    elif not torch.cuda.is_available():
        print("chain_cost.py: needs a CUDA GPU", file=sys.stderr)
        return 77
    else:
        dev = gt.CudaDevice()
    sizes = (1 << 10,) if args.cpu_smoke else (1 << 16, 1 << 20, 1 << 24)
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        dn = str(dtype).replace("torch.", "")
        # 48 blocks of 256 channels at 14x14: 57 MB of conv weights in bf16, 113 MB in fp32, past a 50 MiB
        # L2, so a forward pass reads them from memory where each conv timed alone finds its own in the L2;
        # and 48 blocks of 64 channels (3.5 MB): as many launches, weights that stay in the L2
        for ch in ((4, 2) if args.cpu_smoke else (256, 64)):
            hw, blocks = (4, 2) if args.cpu_smoke else (14, 48)
            for batch in (1, 16):
                rows.append(run_chain(dev, f"deep conv3x3-bn-relu b{batch} {ch}x{hw}x{hw} x{blocks} {dn}",
                                      cnn_chain(batch, dtype, blocks, ch, hw)))
        if args.only_deep:
            continue
        for n in sizes:
            for same in (True, False):
                rows.append(run_chain(dev, f"elementwise {'same' if same else 'mixed'} {n} {dn}",
                                      elementwise_chain(n, dtype, same, 24)))
        ch, hw = (4, 8) if args.cpu_smoke else (64, 56)
        for batch in (1, 16):
            rows.append(run_chain(dev, f"conv3x3-bn-relu b{batch} {ch}x{hw}x{hw} {dn}", cnn_chain(batch, dtype, 8, ch, hw)))
    doc = {"hwcal_chain_cost": 1, "device": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu (smoke)",
           "torch": torch.__version__,
           "cudnn": torch.backends.cudnn.version(), "rows": rows}
    if args.json:
        jsonfile.write_json(args.json, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
