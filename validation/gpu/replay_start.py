#!/usr/bin/env python3
"""How much of a layer's ground-truth time (measure_gpu.py's graph_s) is the
start of the replay that timed it rather than the layer.

    replay_start.py gpu_measured.json[.gz] ...

graph_s is one replay of a graph of R calls, alone between two events, / R.
For the units of one kernel, graph_s - kernel_s (the kernel's own duration in
the profiled run) is printed by R, per call and times R: a cost of the layer
would be constant per call, a cost of the replay constant per replay (times
R). Found on every truth file so far (docs/validation/gpu/README.md): about
15 us per replay, so per layer about 15 us / R, and R is chosen so that a
replay lasts ~200 us, which puts ~7% on every layer's graph_s.

Files measured from data/h100-2026-12-06c on time graph_s queued behind a spin kernel
(gpu_timing.py) and keep one replay from an idle GPU (graph_idle_s) beside
it: for those the difference, idle - queued, is printed too, per replay (x R)
over every unit and per forward over the whole models (model_graph_idle_s).
"""
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report_gpu import load_json  # noqa: E402


def rows(data):
    for config in data.get("configs", {}).values():
        for u in config.get("units", []):
            if u.get("kernels") == 1 and u.get("graph_s") and u.get("kernel_s") and u.get("graph_reps"):
                excess = u["graph_s"][0] - u["kernel_s"]
                yield u["graph_reps"], u["kernel_s"], excess


def main(paths):
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    bins = (4, 12, 24, 48, 96, 1 << 30)
    for path in paths:
        by = {b: [] for b in bins}
        for reps, kernel, excess in rows(load_json(path)):
            by[next(b for b in bins if reps <= b)].append((kernel, excess, excess * reps))
        print(f"{path}: units of one kernel, graph_s - kernel_s")
        print(f"  {'R':>8} {'units':>6} {'kernel_s':>10} {'per call p10/med/p90, us':>26} {'x R p10/med/p90, us':>24}")
        lo = 0
        for b in bins:
            xs = by[b]
            if xs:
                q = lambda i: sorted(x[i] * 1e6 for x in xs)  # noqa: E731
                e, r = q(1), q(2)
                p = lambda v, f: v[int(len(v) * f)]  # noqa: E731
                print(f"  {lo + 1:>3}-{b if b < 1 << 30 else '':<4} {len(xs):>6} {statistics.median(x[0] for x in xs) * 1e6:>8.2f}us "
                      f"{p(e, .1):>8.2f} {statistics.median(e):>7.2f} {p(e, .9):>7.2f}   "
                      f"{p(r, .1):>7.1f} {statistics.median(r):>7.1f} {p(r, .9):>7.1f}")
            lo = b
        idle(load_json(path))
    return 0


def idle(data):
    """What starting from an idle GPU adds, where the file has both timings."""
    units = [(u["graph_idle_s"] - u["graph_s"][0]) * u["graph_reps"] * 1e6
             for c in data.get("configs", {}).values() for u in c.get("units", [])
             if u.get("graph_idle_s") and u.get("graph_s") and u.get("graph_reps")]
    whole = [(statistics.median(c["model_graph_idle_s"]) - statistics.median(c["model_graph_s"])) * 1e6
             for c in data.get("configs", {}).values() if c.get("model_graph_idle_s") and c.get("model_graph_s")]
    for what, xs in (("per replay, every unit", units), ("per forward, whole models", whole)):
        if xs:
            xs.sort()
            print(f"  idle - queued, {what}: {len(xs)}, p10 {xs[len(xs) // 10]:.2f} us, median "
                  f"{statistics.median(xs):.2f} us, p90 {xs[len(xs) * 9 // 10]:.2f} us")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
