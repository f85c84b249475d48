#!/usr/bin/env python3
"""A GPU profile of what PyTorch's kernels achieve, from hwcal's profile and the
fidelity bench run on it (validation/gpu/torch_ops.py fidelity): every sample
keeps hwcal's shape and takes PyTorch's time at that shape.

    /usr/bin/python3 validation/gpu/torch_profile.py --profile h200.json --fidelity fidelity.json \\
        -o profiles/gpu/nvidia-h200-cuda-torch.json

Why: hwcal's CUDA profile measures hwcal's kernels (cuBLASLt, cuDNN and its own
memory-bound kernels), the ceilings a tuned implementation reaches. A PyTorch
model runs PyTorch's kernels, which differ where PyTorch takes another path:
a 1x1 adaptive pool is a mean, half-precision batchnorm is three kernels,
fp32 attention is a fused memory-efficient kernel, layernorm and broadcast
elementwise ops are slower than hwcal's. The fidelity bench times PyTorch's
call for every sample of the profile (a CUDA graph of R back-to-back calls, R
from one replay's device time, and L2-flushed cold calls), so this profile is
calibrated from micro-benchmarks of the framework, as the CPU `torch` backend
is; predictions of PyTorch models use it (`hwcal predict --profile`).

Per sample: time.median_s = PyTorch's warm time; p10/p90/mad scaled from
hwcal's by the same factor (the bench keeps PyTorch's median only); cold_time
= PyTorch's cold time where measured, else dropped (the mapper then uses the
warm curve); gbps, gflops and efficiency follow the new time; implementation
names PyTorch's call and kernels. A sample PyTorch did not time in a graph
(unsupported, failed, eager only) is dropped, so is, in a fidelity run whose
replays started from an idle GPU (before data/h100-2026-12-06c), a mis-timed one (over
MISTIMED times hwcal's time and the curve's median ratio, below), and a curve
left without samples with them; the profile's warnings count each. Everything else (overheads, the
eager host cost, memory sweeps, fusions, peaks) is the hwcal profile's.
With --transfer the fidelity run was made on another GPU with the same
software (an H100's for an H200's profile): a sample whose op, precision,
variant, shape and hwcal implementation (the cuBLASLt algorithm, the kernel)
match one timed there takes PyTorch's ratio to hwcal's time there; the others
keep hwcal's time. On the H200 of 2026-12-05 with the H100's run: per layer
25.3% -> 20.1%, whole model 16.9% -> 10.8% (docs/validation/gpu/README.md).

With --graph-nodes (validation/gpu/graph_nodes.py's JSON, same GPU),
overhead.graph_start_s becomes PyTorch's start of a graph replayed alone
(its replay() in Python before the launch: 5.6 us on an H100 where hwcal's
C++ launch measured 2.6 us), which a PyTorch model's forward replayed as one
graph pays once.
Exit 2 with the file and the field named when an input is malformed.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import graph_nodes  # noqa: E402
from jsonfile import load_json, write_json  # noqa: E402


class InputError(Exception):
    pass


def _scaled(t, factor):
    """A time-statistics object with every duration multiplied by factor."""
    out = dict(t)
    for k in ("median_s", "p10_s", "p90_s", "mad_s"):
        if isinstance(out.get(k), (int, float)):
            out[k] = out[k] * factor
    return out


def _kernels(s):
    names = [n for n, _ in s.get("kernel_names") or []]
    return ", ".join(n.split("(")[0][:60] for n in names[:2]) or "kernels not profiled"


# In a fidelity run whose replays started from an idle GPU, a PyTorch time this many times
# hwcal's, and this many times the curve's median ratio, is a mis-timed sample (a host hiccup in
# the eager call that chose R, leaving a graph of one or two calls whose replays wait on the host:
# a 65536-element add at 88 us on an H100 on 2026-12-05, hwcal 1.95 us, the rest of the curve
# within 20%); only the slow direction: PyTorch's faster paths (a 1x1 adaptive pool as a mean, 6x)
# are real. Replays queued behind a spin kernel (torch_ops.py from data/h100-2026-12-06c on) cannot wait on the
# host, and their slow samples are PyTorch's: an fp32 linear 16x2048x1000 at 79 us against
# hwcal's 17 us (a cuBLAS SIMT kernel), as the truth's resnet101_b16_fp32 fc measured (79.2 us,
# H100, data/h100-2026-12-06c); a layer norm over 49 columns at 14-27x hwcal's time. Kept.
MISTIMED = 4.0
QUEUED = "queued behind a spin kernel"  # in a fidelity run's settings.timing from then on


def _shape_key(op, precision, variant, shape):
    return (op, precision, variant or "", json.dumps(shape, sort_keys=True))


def convert(profile, fidelity, fidelity_path="fidelity", graph_start=None, transfer=False):
    """(torch profile, counts): profile with PyTorch's times, per the docstring;
    graph_start: PyTorch's start of a graph replayed alone, seconds, for
    overhead.graph_start_s (None: hwcal's is kept). transfer: the fidelity run
    was made on another GPU: each sample of the same op, precision, variant,
    shape and hwcal implementation takes PyTorch's ratio to hwcal there; the
    others keep hwcal's time."""
    if fidelity.get("hwcal_torch_fidelity") is None or not isinstance(fidelity.get("samples"), list):
        raise InputError(f"{fidelity_path}: not a torch_ops.py fidelity result (field 'samples')")
    ops = profile.get("operations")
    if not isinstance(ops, list):
        raise InputError("profile: field 'operations' missing")
    by_key = {}
    for i, s in enumerate(fidelity["samples"]):
        try:
            key = (_shape_key(s["op"], s["precision"], s.get("variant"), s.get("shape")) if transfer
                   else (int(s["curve"]), int(s["sample"])))
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{fidelity_path}: samples[{i}]: fields 'curve' and 'sample' must be integers, "
                             f"'op' and 'precision' present")
        by_key[key] = s
    sw = fidelity.get("software") or {}
    torch_version = str(sw.get("torch") or sw.get("pytorch") or "unknown")
    out = copy.deepcopy(profile)
    out["operations"] = []
    n_timed = n_dropped = n_mistimed = n_curves_dropped = n_kept_hwcal = 0
    queued = QUEUED in str((fidelity.get("settings") or {}).get("timing", ""))
    for ci, op in enumerate(ops):
        kept = []
        timed = []  # (sample, fidelity record, PyTorch's time / hwcal's)
        for si, sample in enumerate(op.get("samples", [])):
            if transfer:
                f = by_key.get(_shape_key(op.get("op"), op.get("precision"), op.get("variant"), sample.get("shape")))
                usable = (f and f.get("hwcal_impl") == sample.get("implementation")
                          and f.get("torch_timing") == "graph" and f.get("torch_s") and f.get("hwcal_s"))
                if not usable:
                    n_kept_hwcal += 1
                    kept.append(copy.deepcopy(sample))
                    continue
                timed.append((sample, f, f["torch_s"] / f["hwcal_s"]))
                continue
            f = by_key.get((ci, si))
            t = f.get("torch_s") if f else None
            if not f or f.get("shape") != sample.get("shape") or f.get("torch_timing") != "graph" or not t:
                n_dropped += 1
                continue
            timed.append((sample, f, t / sample["time"]["median_s"]))
        typical = statistics.median(r for _, _, r in timed) if timed else None
        for sample, f, r in timed:
            if not queued and r > MISTIMED and r > MISTIMED * typical:
                n_mistimed += 1
                if transfer:  # the sample is hwcal's here: it keeps hwcal's time
                    n_kept_hwcal += 1
                    kept.append(copy.deepcopy(sample))
                continue
            h = sample["time"]["median_s"]
            t = h * r
            new = copy.deepcopy(sample)
            new["time"] = _scaled(sample["time"], r)
            new["time"]["median_s"] = t
            new["time"]["iterations"] = f.get("reps", 1)
            cold = sample.get("cold_time")
            if f.get("torch_cold_s") and (not transfer or (cold and f.get("hwcal_cold_s"))):
                base = cold or sample["time"]
                rc = f["torch_cold_s"] / (f["hwcal_cold_s"] if transfer else base["median_s"])
                new["cold_time"] = _scaled(base, rc)
                new["cold_time"]["median_s"] = base["median_s"] * rc
            else:
                new.pop("cold_time", None)
            new["gbps"] = sample.get("bytes", 0) / t / 1e9
            new["gflops"] = sample.get("flops", 0) / t / 1e9
            if sample.get("efficiency") is not None:
                new["efficiency"] = sample["efficiency"] / r
            where = " at its ratio to hwcal's kernel on another GPU" if transfer else ""
            new["implementation"] = f"PyTorch {torch_version}: {f.get('torch_call', '?')} ({_kernels(f)}){where}"
            kept.append(new)
            n_timed += 1
        if kept:
            curve = dict(op)
            curve["samples"] = kept
            if timed:
                curve["note"] = f"PyTorch {torch_version}'s kernels at hwcal's calibration shapes"
            out["operations"].append(curve)
        else:
            n_curves_dropped += 1
    out["name"] = f"{profile.get('name', 'profile')} + PyTorch {torch_version}"
    out.setdefault("software", {})
    out["software"]["pytorch"] = torch_version
    for k in ("cuda", "cudnn"):
        if sw.get(k) is not None:
            out["software"][f"pytorch_{k}"] = str(sw[k])
    out["timing"] = (f"PyTorch's calls timed by validation/gpu/torch_ops.py fidelity ({fidelity.get('command', '')}): "
                     + str((fidelity.get("settings") or {}).get("timing", "")))
    out.setdefault("warnings", [])
    if graph_start is not None:
        hwcal_start = (profile.get("overhead") or {}).get("graph_start_s", 0.0)
        out.setdefault("overhead", {})["graph_start_s"] = graph_start
        out["warnings"].insert(0, f"overhead.graph_start_s is PyTorch's start of a graph replayed alone, "
                                  f"{graph_start * 1e6:.2f} us (validation/gpu/graph_nodes.py), in place of "
                                  f"hwcal's C++ launch, {hwcal_start * 1e6:.2f} us")
    if transfer:
        dev = (fidelity.get("profile") or {}).get("device") or "unknown"
        out["warnings"].insert(0, f"PyTorch's times transferred from a fidelity run on another GPU ({dev}): each "
                                  f"sample of the same shape and hwcal implementation takes PyTorch's ratio to hwcal "
                                  f"there; {n_kept_hwcal} samples without one keep hwcal's time")
    fate = "kept at hwcal's time" if transfer else "dropped"
    mistimed = ("replays queued behind a spin kernel: none mis-timed" if queued else
                f"{n_mistimed} mis-timed (over {MISTIMED:g}x hwcal's time and the curve's median ratio: {fate})")
    out["warnings"].insert(0, f"{'a' if transfer else 'every'} sample is PyTorch {torch_version}'s time at hwcal's "
                              f"shape (validation/gpu/torch_profile.py): {n_timed} samples; {n_dropped} dropped "
                              f"(PyTorch did not time them in a CUDA graph), {mistimed}, {n_curves_dropped} "
                              f"curves left empty and dropped")
    return out, {"timed": n_timed, "dropped": n_dropped, "mistimed": n_mistimed, "curves_dropped": n_curves_dropped,
                 "kept_hwcal": n_kept_hwcal}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", required=True, help="the hwcal CUDA profile the fidelity bench ran on")
    ap.add_argument("--fidelity", required=True, help="torch_ops.py fidelity JSON of that profile")
    ap.add_argument("--graph-nodes", help="validation/gpu/graph_nodes.py's JSON on the same GPU: PyTorch's graph "
                                          "start for overhead.graph_start_s")
    ap.add_argument("--transfer", action="store_true",
                    help="the fidelity run was on another GPU of the same software: apply its PyTorch / hwcal "
                         "ratio per shape and hwcal implementation")
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args(argv)
    try:
        try:
            profile = load_json(args.profile)
        except (OSError, ValueError) as e:
            raise InputError(f"{args.profile}: {e}")
        try:
            fidelity = load_json(args.fidelity)
        except (OSError, ValueError) as e:
            raise InputError(f"{args.fidelity}: {e}")
        start = None
        if args.graph_nodes:
            try:
                start = graph_nodes.pytorch_graph_start(load_json(args.graph_nodes).get("rows") or [])
            except (OSError, ValueError, AttributeError) as e:
                raise InputError(f"{args.graph_nodes}: {e}")
            if start is None:
                raise InputError(f"{args.graph_nodes}: field 'rows' lacks '{graph_nodes.START_OP}' at N = "
                                 f"{graph_nodes.START_N} and {graph_nodes.START_REF_N}")
        out, n = convert(profile, fidelity, args.fidelity, start, args.transfer)
    except InputError as e:
        print(f"torch_profile: {e}", file=sys.stderr)
        return 2
    write_json(args.out, out)  # a crash never leaves half a profile
    print(f"{n['timed']} samples timed with PyTorch, {n['dropped']} dropped, {n['mistimed']} mis-timed, "
          f"{n['kept_hwcal']} kept at hwcal's time, {n['curves_dropped']} curves dropped -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
