#!/usr/bin/env python3
"""What each kernel of a CUDA graph costs when the graph is replayed from an
idle stream, against graphs replayed back to back, and what the ground
truth's harness (gpu_timing.time_unit) gives for a few calls in a fresh
process: a check of whether hwcal's samples (timed in graphs queued back to
back, include/hwcal/cuda/measure.hpp) miss a per-kernel cost that a graph
replayed alone pays.

    python3 validation/gpu/graph_nodes.py [--harness-only] [--json out.json]

Found on an H100 (2026-12-05, docs/validation/gpu/README.md): no such cost
(slope of `alone` over N minus `queued`: -0.06 us for a 64-element relu,
+0.08 us for a bf16 GEMV); the harness gives a 64-element relu 1.36-1.39 us
a call, as hwcal's samples do, where the ground truth's long-running process
timed such relus at 2.0-2.6 us.

For each op (a 64-element relu, a 1M-element relu, a 1x4096x4096 bf16 linear)
and N in 1, 8, 32, 128: a graph of N calls, timed two ways on the device clock,
median of 21 samples each:
  alone:  synchronize, event, one replay, event (the ground truth's per-layer
          and whole-model timing, validation/gpu/gpu_timing.py);
  queued: 20 replays back to back between two events, / 20 (the host stays
          ahead of the device, as in hwcal's and torch_ops.py's timing).
Per call: time / N. The slope of `alone` over N, less the per-call `queued`
time, is the per-kernel cost of starting from an idle stream. It reports, and
writes PyTorch's start of a graph replayed alone (pytorch_graph_start) as
graph_start_s for torch_profile.py --graph-nodes.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jsonfile  # noqa: E402 (torch-free: torch_profile.py imports this module)

START_OP, START_N, START_REF_N = "relu 1M", 8, 128


def pytorch_graph_start(rows):
    """PyTorch's start of a graph replayed alone, from main()'s rows: a graph of
    START_N relus over 1M elements (about 18 us of kernels on an H100, past the
    host's ~14 us floor of a replay) replayed alone, less START_N times their
    per-call time in a graph of START_REF_N replayed back to back. None when
    the rows lack them. torch_profile.py --graph-nodes puts it in a profile
    of PyTorch's kernels (hwcal's own overhead.graph_start_s is its C++
    launch, without PyTorch's replay())."""
    by = {(r.get("op"), r.get("n")): r for r in rows if isinstance(r, dict)}
    a, q = by.get((START_OP, START_N)), by.get((START_OP, START_REF_N))
    if not a or not q:
        return None
    return max(0.0, START_N * (a["alone_s"] - q["queued_s"]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--harness-only", action="store_true", help="only the ground truth harness's timings")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("graph_nodes.py: no CUDA device", file=sys.stderr)
        return 77
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    small = torch.randn(64, device=dev)
    big = torch.randn(1 << 20, device=dev)
    x = torch.randn(1, 4096, device=dev, dtype=torch.bfloat16)
    lin = torch.nn.Linear(4096, 4096, device=dev, dtype=torch.bfloat16)
    ops = {
        "relu 64": lambda: torch.relu(small),
        "relu 1M": lambda: torch.relu(big),
        "linear bf16 1x4096x4096": lambda: lin(x),
    }
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    side = torch.cuda.Stream()

    def graph(fn, n):
        torch.cuda.synchronize()
        with torch.no_grad(), torch.cuda.stream(side):
            fn()
            fn()
            side.synchronize()
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g, stream=side):
                for _ in range(n):
                    fn()
        torch.cuda.synchronize()
        for _ in range(3):
            g.replay()
        torch.cuda.synchronize()
        return g

    def timed(g, replays):
        torch.cuda.synchronize()
        start.record()
        for _ in range(replays):
            g.replay()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) * 1e-3 / replays

    out = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": []}
    print(f"{out['device']}, torch {out['torch']}: per call, us (median of 21)")
    print(f"{'op':26s} {'N':>4s} {'alone':>8s} {'queued':>8s}")
    for name, fn in ops.items() if not args.harness_only else ():
        rows = []
        for n in (1, 8, 32, 128):
            g = graph(fn, n)
            alone = statistics.median(timed(g, 1) for _ in range(21)) / n
            queued = statistics.median(timed(g, 20) for _ in range(21)) / n
            rows.append({"op": name, "n": n, "alone_s": alone, "queued_s": queued})
            print(f"{name:26s} {n:4d} {alone * 1e6:8.2f} {queued * 1e6:8.2f}")
        a1, a128 = rows[0]["alone_s"], rows[-1]["alone_s"] * 128
        slope = (a128 - a1) / 127
        extra = slope - rows[-1]["queued_s"]
        print(f"{name:26s} slope of alone {slope * 1e6:.2f} us per kernel, beyond queued {extra * 1e6:+.2f} us")
        out["rows"] += rows
        out.setdefault("per_kernel_beyond_queued_s", {})[name] = extra
    # The ground truth's own harness (gpu_timing.time_unit, the FULL rule) on the same calls.
    import gpu_timing as gt

    gdev = gt.CudaDevice()
    relu_mod = torch.nn.ReLU()
    x1024 = torch.randn(1, 1024, device=dev)
    x64 = torch.randn(64, device=dev)
    calls = (("torch.relu 64", lambda: torch.relu(x64)), ("torch.relu 1x1024", lambda: torch.relu(x1024)),
             ("nn.ReLU 64", lambda: relu_mod(x64)), ("nn.ReLU 1x1024", lambda: relu_mod(x1024)),
             ("linear bf16 1x4096x4096", ops["linear bf16 1x4096x4096"]))
    for round_ in (1, 2):  # twice, to tell an order effect from a property of the call
        for name, fn in calls:
            with torch.no_grad():
                t = gt.time_unit(gdev, fn, gt.FULL)
            print(f"truth harness, round {round_}: {name:24s} graph_s {t['graph_s'][0] * 1e6:6.2f} us/call "
                  f"(R {t['graph_reps']}), graph1_s {t['graph1_s'] * 1e6:6.2f} us, eager_s {t['eager_s'] * 1e6:6.2f} us")
            out.setdefault("truth_harness", {})[f"{name} round {round_}"] = t
    start = pytorch_graph_start(out["rows"])
    if start is not None:
        out["graph_start_s"] = start
        print(f"PyTorch's start of a graph replayed alone: {start * 1e6:.2f} us")
    if args.json:
        jsonfile.write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
