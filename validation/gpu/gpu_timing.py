"""Device-side timing of one callable on a GPU: CUDA events around eager calls
and around CUDA-graph replays.

Three numbers per callable (each a median; `Rule` says how many samples):

  eager_s   events around N back-to-back eager calls, / N: what an eager
            framework pays per call (kernel time, or the CPU's launch time when
            that is longer)
  graph1_s  a CUDA graph of ONE call, replayed K times back-to-back between
            events, / K: the call plus one graph launch per call
  graph_s   a CUDA graph of R back-to-back calls, each replay between events,
            / R: the kernels alone, launch gaps amortised over R calls; the
            replay is queued behind a spin kernel (below), so it is device time

A graph replayed on an idle GPU starts when the host gets to cudaGraphLaunch,
after the start event: PyTorch's replay() costs 5 us in a fresh process and
~15 us in the truth's long-running one (validation/gpu/replay_start.py), ~7%
of a 200 us replay that is not the layer's. `elapsed(..., queued=True)` first
queues a spin kernel (torch.cuda._sleep) that outlasts the host's issue, so
the start event fires when the spin ends, with the replay already queued
behind it, as hwcal's Timer::measure times its replays. The whole model is
timed both ways (model_graph_s queued, model_graph_idle_s from an idle GPU),
and each layer's graph once from idle (graph_idle_s) to check the difference.

N, K and R are chosen so that a timed region lasts at least Rule.target_s
(R at most Rule.max_graph_reps). The graph is captured on a side stream after
warm-up calls there (lazy initialisation, library workspaces), as PyTorch's
documentation prescribes; its inputs are static (the captured tensors).

`CpuDevice` is the same interface for CPU dry runs: perf_counter instead of
events, and no graphs (GraphUnavailable, recorded like any capture failure).
"""
from __future__ import annotations

import math
import statistics
import time
from collections import namedtuple

import torch

Rule = namedtuple("Rule", "target_s max_eager_reps eager_samples max_graph_reps graph_replays graph1_samples "
                          "whole_min_reps whole_budget_s whole_max_reps")

# R, K and N are chosen so a timed region runs >= 200 us (launch and event
# granularity ~ 1-2 us stay below 1 %), capped so tiny ops do not take long.
FULL = Rule(target_s=200e-6, max_eager_reps=50, eager_samples=5, max_graph_reps=50, graph_replays=7,
            graph1_samples=3, whole_min_reps=10, whole_budget_s=0.1, whole_max_reps=50)
# dry runs only check that the code runs
DRY = Rule(target_s=1e-6, max_eager_reps=2, eager_samples=2, max_graph_reps=2, graph_replays=2, graph1_samples=1,
           whole_min_reps=2, whole_budget_s=0.0, whole_max_reps=2)


class GraphUnavailable(RuntimeError):
    pass


# The spin ahead of a queued timed region: 2^17 cycles to start with, 66 us at 1980 MHz (94 us
# at 1400 MHz), several times the host's ~15 us from the spin's launch to a layer's replay. A
# region whose spin ended before the host had issued it (its end event recorded) is timed again
# with twice the spin, up to MAX_SPIN_CYCLES (530 us at 1980 MHz, 5x the longest host start seen,
# so that a run that keeps doubling costs at most ~0.5 ms a region), and the device keeps the
# longer spin: a whole model's graph can take the host longer to issue than a layer's. A region
# still late at the cap is counted (late_at_cap): its time may hold some of the host's.
SPIN_CYCLES = 1 << 17
MAX_SPIN_CYCLES = 1 << 20


class CudaDevice:
    """CUDA events on the current stream; graphs captured on one side stream."""

    kind = "cuda"

    def __init__(self):
        self.stream = torch.cuda.Stream()
        self.events = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
        self.spun = torch.cuda.Event()
        self.spin_cycles = SPIN_CYCLES
        self.late_spins = 0  # regions timed again because their spin ended before the host had issued them
        self.late_at_cap = 0  # regions late with the longest spin, kept as timed

    def sync(self):
        torch.cuda.synchronize()

    def regions(self, fns, queued=False):
        """Seconds of each of fns() run back to back, each between its own
        events: the GPU idle before the first, or (queued) busy with a spin
        kernel while the host issues them, so the host's issue is not timed."""
        ev = self.events[:len(fns) + 1]
        while True:
            torch.cuda.synchronize()
            if queued:
                torch.cuda._sleep(self.spin_cycles)
                self.spun.record()
            ev[0].record()
            for i, fn in enumerate(fns):
                fn()
                ev[i + 1].record()
            late = queued and self.spun.query()  # the GPU may have waited on the host after the start event
            ev[-1].synchronize()
            if late and self.spin_cycles >= MAX_SPIN_CYCLES:
                self.late_at_cap += 1
            if not late or self.spin_cycles >= MAX_SPIN_CYCLES:
                return [ev[i].elapsed_time(ev[i + 1]) * 1e-3 for i in range(len(fns))]
            self.late_spins += 1
            self.spin_cycles *= 2

    def elapsed(self, fn, reps, queued=False):
        """Seconds between events around `reps` back-to-back calls of fn()
        (`regions`: idle or queued)."""
        def calls():
            for _ in range(reps):
                fn()

        return self.regions([calls], queued)[0]

    def graph(self, fn, reps):
        """A CUDA graph of `reps` calls of fn(); returns its replay function.
        Warm-up calls run on the capture stream first. capture_end runs even when
        a call fails, so the stream and allocator leave capture mode."""
        torch.cuda.synchronize()
        with torch.cuda.stream(self.stream):
            fn()
            fn()
            self.stream.synchronize()
            g = torch.cuda.CUDAGraph()
            g.capture_begin()
            try:
                for _ in range(reps):
                    fn()
            finally:
                g.capture_end()
        torch.cuda.synchronize()
        return g.replay


def spin_info(dev):
    """What a run's queued regions used: the spin at the end and how many were
    timed again with a longer one."""
    return {"spin_cycles_start": SPIN_CYCLES, "spin_cycles_end": dev.spin_cycles, "late_spins": dev.late_spins,
            "late_at_cap": dev.late_at_cap}


class CpuDevice:
    """perf_counter timing for CPU dry runs; no graphs."""

    kind = "cpu"

    def sync(self):
        pass

    def elapsed(self, fn, reps, queued=False):  # noqa: ARG002 (no queue to fill on a CPU)
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        return time.perf_counter() - t0

    def graph(self, fn, reps):
        raise GraphUnavailable("CUDA graphs need a GPU (CPU dry run)")


def reps_for(t_one, rule, cap):
    """Calls per timed region so that it lasts >= rule.target_s, in [1, cap]."""
    if not t_one or t_one <= 0:
        return cap
    return max(1, min(cap, math.ceil(rule.target_s / t_one)))


def median_per_call(dev, fn, reps, samples, queued=False):
    return statistics.median(dev.elapsed(fn, reps, queued) / reps for _ in range(samples))


def time_eager(dev, fn, rule):
    """{"eager_s", "eager_reps"}: two warm-up calls, one timed call to choose N,
    then the median over rule.eager_samples regions of N calls."""
    fn()
    fn()
    n = reps_for(dev.elapsed(fn, 1), rule, rule.max_eager_reps)
    return {"eager_s": median_per_call(dev, fn, n, rule.eager_samples), "eager_reps": n}


def time_graph1(dev, fn, rule):
    """{"graph1_s", "graph1_reps"}: a graph of one call, replayed K times per
    timed region."""
    replay = dev.graph(fn, 1)
    replay()
    k = reps_for(dev.elapsed(replay, 1), rule, rule.max_graph_reps)
    return {"graph1_s": median_per_call(dev, replay, k, rule.graph1_samples), "graph1_reps": k}


def time_graph(dev, fn, reps, rule, idle=None):
    """Seconds per call from a graph of `reps` calls: median over
    rule.graph_replays replays, each queued between its own events. idle: a
    dict that gets "graph_idle_s", one replay from an idle GPU, / reps."""
    replay = dev.graph(fn, reps)
    replay()
    t = median_per_call(dev, replay, 1, rule.graph_replays, queued=True) / reps
    if idle is not None:
        idle["graph_idle_s"] = dev.elapsed(replay, 1) / reps
    return t


def time_unit(dev, fn, rule, graphs=True):
    """eager_s, graph1_s and graph_s of one callable (see the module docstring);
    a failed graph capture is recorded as graph_error and leaves the graph
    numbers out. graph_reps is R, reused by later passes (`time_graph`)."""
    out = time_eager(dev, fn, rule)
    if not graphs:
        return out
    try:
        out.update(time_graph1(dev, fn, rule))
        out["graph_reps"] = reps_for(out["graph1_s"], rule, rule.max_graph_reps)
        out["graph_s"] = [time_graph(dev, fn, out["graph_reps"], rule, idle=out)]
    except Exception as e:  # noqa: BLE001 (any capture failure is recorded, the run goes on)
        out["graph_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
        dev.sync()
    return out


def whole_reps(t_one, rule):
    if not t_one or t_one <= 0:
        return rule.whole_min_reps
    return max(rule.whole_min_reps, min(rule.whole_max_reps, math.ceil(rule.whole_budget_s / t_one)))


def time_whole_eager(dev, fn, rule):
    """{"model_eager_s", "model_eager_reps"}: median over forwards, each between
    its own events (after two warm-up forwards)."""
    fn()
    fn()
    n = whole_reps(dev.elapsed(fn, 1), rule)
    return {"model_eager_s": statistics.median(dev.elapsed(fn, 1) for _ in range(n)), "model_eager_reps": n}


def time_whole_graph(dev, fn, rule):
    """(queued seconds, idle seconds, replays): a graph of one forward, median
    over replays each between its own events, queued behind a spin and from
    an idle GPU (the module docstring)."""
    replay = dev.graph(fn, 1)
    replay()
    n = whole_reps(dev.elapsed(replay, 1), rule)
    queued = statistics.median(dev.elapsed(replay, 1, queued=True) for _ in range(n))
    return queued, statistics.median(dev.elapsed(replay, 1) for _ in range(n)), n
