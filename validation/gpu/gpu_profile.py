"""Which kernels each node of a traced model launches, and for how long, inside
a real eager forward pass.

One forward runs through a torch.fx Interpreter that wraps every call node in
torch.profiler.record_function("hwcal::<node>"), under torch.profiler with CPU
and (on a GPU) CUDA activity. The profiler links every kernel (and memcpy /
memset) to the innermost CPU op that launched it; a node's kernels are those of
every op nested in its range. This shows how many kernels PyTorch launches per
layer (cuDNN layout transposes, separate bias adds, ...) and their device time,
without the launch gaps between them.

Uses only FunctionEvent.name / .kernels / .cpu_children, which torch 1.13 and
2.x both provide. On a CPU dry run there are no kernels: the op names are still
collected.
"""
from __future__ import annotations

import torch
import torch.fx as fx
from torch.autograd import DeviceType

PREFIX = "hwcal::"
NAME_CHARS = 80
NAMES_KEPT = 6


class Annotated(fx.Interpreter):
    """Runs the traced model with every call node inside record_function(PREFIX + name)."""

    def run_node(self, n):
        if n.op in ("call_module", "call_function", "call_method"):
            with torch.profiler.record_function(PREFIX + n.name):
                return super().run_node(n)
        return super().run_node(n)


def short_kernel_name(name: str) -> str:
    """A kernel's demangled name without the return type and anonymous-namespace
    noise, cut to NAME_CHARS characters."""
    name = name.replace("(anonymous namespace)::", "")
    if name.startswith("void "):
        name = name[5:]
    return name[:NAME_CHARS]


def _descendants(evt):
    """evt and every event nested in it, depth first in launch order."""
    yield evt
    for c in evt.cpu_children:
        yield from _descendants(c)


def _device_kernels(evt):
    """The kernels the profiler attached to one CPU event (GPU-side copies of our
    own annotations excluded: they are ranges, not kernels)."""
    return [k for k in getattr(evt, "kernels", []) if not k.name.startswith(PREFIX)]


def node_kernels(evt):
    """{"kernels", "kernel_s", "kernel_names", "ops"} of one annotation event:
    every kernel launched inside it, the distinct kernel names with counts
    (NAMES_KEPT most frequent), and the top-level aten ops it ran."""
    kernels = [k for e in _descendants(evt) for k in _device_kernels(e)]
    counts = {}
    for k in kernels:
        n = short_kernel_name(k.name)
        counts[n] = counts.get(n, 0) + 1
    ops = []
    for c in evt.cpu_children:
        if c.name not in ops:
            ops.append(c.name)
    return {"kernels": len(kernels), "kernel_s": sum(k.duration for k in kernels) * 1e-6,
            "kernel_names": sorted(([n, c] for n, c in counts.items()), key=lambda nc: -nc[1])[:NAMES_KEPT],
            "ops": ops[:NAMES_KEPT]}


def attribute(events):
    """(per-node dict, totals) from a profiler's FunctionEvents: the per-node
    summaries of `node_kernels` (CPU-side annotation ranges only: torch 2.x also
    lists GPU-side copies of them), and the forward's kernel count and time with
    how much of it fell outside every node."""
    per_node = {}
    total_n, total_s = 0, 0.0
    for e in events:
        ks = _device_kernels(e)
        total_n += len(ks)
        total_s += sum(k.duration for k in ks) * 1e-6
        if e.name.startswith(PREFIX) and e.device_type == DeviceType.CPU:
            per_node[e.name[len(PREFIX):]] = node_kernels(e)
    in_nodes_n = sum(v["kernels"] for v in per_node.values())
    in_nodes_s = sum(v["kernel_s"] for v in per_node.values())
    totals = {"forward_kernels": total_n, "forward_kernel_s": total_s, "kernels_outside_nodes": total_n - in_nodes_n,
              "kernel_s_outside_nodes": total_s - in_nodes_s}
    return per_node, totals


def profile_forward(gm: fx.GraphModule, inputs, cuda: bool):
    """Runs one warm-up and one profiled annotated forward; returns `attribute`'s
    (per-node, totals)."""
    interp = Annotated(gm)
    interp.run(*inputs)
    activities = [torch.profiler.ProfilerActivity.CPU]
    if cuda:
        activities.append(torch.profiler.ProfilerActivity.CUDA)
        torch.cuda.synchronize()
    with torch.profiler.profile(activities=activities) as prof:
        interp.run(*inputs)
        if cuda:
            torch.cuda.synchronize()
    return attribute(prof.events())
