"""In-context timing for the CPU validation: every node of a traced model timed
inside interpreted forward passes (torch.fx Interpreter), with caches as the
previous layers leave them. Tracing, capture and the node -> subgraph mapping
are in python/hwcal/trace.py.

Import this module only after the thread environment is set (measure.py does
that): it imports torch.
"""
from __future__ import annotations

import gc
import statistics
import time

import torch.fx as fx


class NodeTimer(fx.Interpreter):
    """Runs the traced model and times every call node *in context* (inside the
    real forward pass, caches as the previous layers left them). Only the call
    itself is inside the timed region, not the interpreter's bookkeeping."""

    def __init__(self, gm: fx.GraphModule):
        super().__init__(gm)
        self.gm = gm
        self.mods = {n.target: gm.get_submodule(n.target) for n in gm.graph.nodes if n.op == "call_module"}
        self.times = {}

    def run_node(self, n):
        if n.op not in ("call_module", "call_function", "call_method"):
            return super().run_node(n)
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        perf = time.perf_counter
        if n.op == "call_module":
            mod = self.mods[n.target]
            t0 = perf()
            out = mod(*args, **kwargs)
            t1 = perf()
        elif n.op == "call_function":
            fn = n.target
            t0 = perf()
            out = fn(*args, **kwargs)
            t1 = perf()
        else:
            meth = getattr(args[0], n.target)
            t0 = perf()
            out = meth(*args[1:], **kwargs)
            t1 = perf()
        self.times.setdefault(n.name, []).append(t1 - t0)
        return out


def time_in_context(gm: fx.GraphModule, x, *, min_runs=5, budget_s=0.5, max_runs=50):
    """Median per-node time over several interpreted forward passes (after one
    warm-up pass). Returns ({node name: seconds}, runs)."""
    timer = NodeTimer(gm)
    timer.run(x)
    timer.times.clear()
    gc.collect()
    gc_was = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        runs = 0
        while runs < max_runs:
            timer.run(x)
            runs += 1
            if runs >= min_runs and time.perf_counter() - start >= budget_s:
                break
    finally:
        if gc_was:
            gc.enable()
    return {k: statistics.median(v) for k, v in timer.times.items()}, runs
