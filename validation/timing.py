"""Wall-clock timing of one callable: warm-up, then samples until both a minimum
count and a time budget are reached (or a sample cap), median and spread.

Each sample times a single call with time.perf_counter(); the argument factory
(e.g. a fresh clone for an in-place op) runs outside the timed region. Python's
garbage collector is off while sampling.
"""
from __future__ import annotations

import gc
import math
import statistics
import time


def quantile(sorted_xs, q):
    """Linear-interpolated quantile of an already sorted list."""
    if not sorted_xs:
        return float("nan")
    pos = q * (len(sorted_xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def time_call(call, make_args, *, min_reps=20, budget_s=0.2, max_reps=500, slow_s=0.01, slow_min_reps=5,
              warmup=3):
    """Returns {"median", "p10", "p90", "n", "total_s"} in seconds.

    min_reps applies to calls faster than slow_s; slower calls need only
    max(slow_min_reps, budget_s / call time) samples (at most min_reps)."""
    perf = time.perf_counter
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        est = None
        for i in range(warmup):
            a = make_args()
            t0 = perf()
            call(a)
            est = perf() - t0
            if est > 0.25:  # a slow call needs one warm-up only
                break
        need = min_reps
        if est >= slow_s:
            need = min(min_reps, max(slow_min_reps, math.ceil(budget_s / est)))
        samples = []
        start = perf()
        while len(samples) < max_reps:
            a = make_args()
            t0 = perf()
            call(a)
            t1 = perf()
            samples.append(t1 - t0)
            del a
            if len(samples) >= need and t1 - start >= budget_s:
                break
        total = perf() - start
    finally:
        if gc_was_enabled:
            gc.enable()
    xs = sorted(samples)
    return {"median": statistics.median(xs), "p10": quantile(xs, 0.1), "p90": quantile(xs, 0.9), "n": len(xs),
            "total_s": total}
