#!/usr/bin/env python3
"""Writes tests/data/profile_gpu_small.json: a SYNTHETIC GPU profile for tests.

Nothing in it was measured. Every time is a roofline model with made-up rates
(an H200-like device: bf16 peak 989 TFLOP/s, 4 TB/s from memory, 50 MiB L2,
a 2 us floor per kernel), so that the CLI and schema tests can load a
schema_version 2 device profile, predict in `--mode device` and `--mode eager`,
and exercise the decode variant, kv_heads, cold_time, graph_launch_s, timing
and the per-op host costs (overhead.framework) without a GPU, and the
collectives section (alpha-beta curves on 2 and 8 GPUs, graph and eager,
bf16: a made-up 6/15 us latency and 360 GB/s bus bandwidth). The profile's
name, device name, mode ("custom"), timing and warnings say so.

flops and bytes follow include/hwcal/ops.hpp's counting conventions for the
families used here (docs/schema.md); the mapper recomputes them from the
shapes anyway. Regenerate with:

  python3 tests/data/make_profile_gpu_small.py > tests/data/profile_gpu_small.json
"""
import json
import sys

ELEM = {"fp32": 4, "bf16": 2, "fp16": 2}
PEAK_GFLOPS = {"bf16": 989000.0, "fp16": 989000.0, "fp32": 67000.0, "tf32": 494000.0}
L2_BYTES = 50 << 20
HBM_GBPS = 4000.0
L2_GBPS = 9000.0
FLOOR_S = 2.0e-6  # shortest kernel inside a graph
GRAPH_LAUNCH_S = 1.2e-6
GRAPH_START_S = 4.0e-6
EAGER_LAUNCH_S = 4.5e-6


def bw(ws_bytes):
    """GB/s at a working set: L2 rate inside half the L2, memory rate beyond 2x, log-linear between."""
    import math
    lo, hi = L2_BYTES / 2, 2 * L2_BYTES
    if ws_bytes <= lo:
        return L2_GBPS
    if ws_bytes >= hi:
        return HBM_GBPS
    t = math.log(ws_bytes / lo) / math.log(hi / lo)
    return L2_GBPS + t * (HBM_GBPS - L2_GBPS)


# ------------------------------------------------------------------ counts (ops.hpp)
def counts(op, s, prec):
    """(flops, bytes, weight_bytes) of one run."""
    e = ELEM[prec]
    if op in ("matmul", "linear"):
        b = s.get("batch", 1)
        a, c = b * s["m"] * s["k"], b * s["m"] * s["n"]
        w = s["n"] * s["k"] if op == "linear" else 0
        bmat = 0 if op == "linear" else b * s["k"] * s["n"]
        bias = s["n"] if s["bias"] else 0
        flops = 2 * c * s["k"] + (c if s["bias"] else 0)
        return flops, (a + bmat + w + bias + c) * e, (w + bias) * e
    if op == "conv2d":
        g = s["groups"]
        oh = (s["h"] + 2 * s["padding"] - s["dilation"] * (s["r"] - 1) - 1) // s["stride"] + 1
        ow = (s["w"] + 2 * s["padding"] - s["dilation"] * (s["s"] - 1) - 1) // s["stride"] + 1
        x, y = s["n"] * s["c"] * s["h"] * s["w"], s["n"] * s["k"] * oh * ow
        w = s["k"] * (s["c"] // g) * s["r"] * s["s"] + (s["k"] if s["bias"] else 0)
        flops = 2 * y * (s["c"] // g) * s["r"] * s["s"] + (y if s["bias"] else 0)
        return flops, (x + w + y) * e, w * e
    if op in ("maxpool", "avgpool"):
        oh = (s["h"] + 2 * s["padding"] - s["r"]) // s["stride"] + 1
        ow = (s["w"] + 2 * s["padding"] - s["s"]) // s["stride"] + 1
        x, y = s["n"] * s["c"] * s["h"] * s["w"], s["n"] * s["c"] * oh * ow
        return y * s["r"] * s["s"], (x + y) * e, 0
    if op == "attention":
        q = s["batch"] * s["heads"] * s["seq_q"] * s["head_dim"]
        kv = s["batch"] * s["kv_heads"] * s["seq_kv"] * s["head_dim"]
        scores = s["batch"] * s["heads"] * s["seq_q"] * s["seq_kv"]
        return 4 * scores * s["head_dim"] + 5 * scores, (2 * q + 2 * kv) * e, 0
    if op in ("layernorm", "rmsnorm", "softmax", "reduce_mean"):
        x = s["rows"] * s["cols"]
        per_col = {"layernorm": 2, "rmsnorm": 1}.get(op, 0)
        fpe = {"layernorm": 5, "rmsnorm": 4, "softmax": 5, "reduce_mean": 1}[op]
        y = s["rows"] if op == "reduce_mean" else x
        return fpe * x, (x + per_col * s["cols"] + y) * e, per_col * s["cols"] * e
    if "elements" in s:
        n = s["elements"]
        second = (s.get("broadcast") or n) if s["inputs"] == 2 else 0
        return n, (2 * n + second) * e, 0
    if op in ("copy", "transpose", "concat"):
        return 0, 2 * s["bytes"], 0
    if op == "rotary":
        x = s["tokens"] * s["heads"] * s["head_dim"]
        return 3 * x, (2 * x + 2 * s["tokens"] * s["head_dim"]) * e, 0
    if op == "embedding":
        rows = s["tokens"] * s["dim"]
        return 0, 8 * s["tokens"] + 2 * rows * e, rows * e
    raise ValueError(op)


# ------------------------------------------------------------------ samples
def stats(t):
    return {"median_s": t, "mad_s": 0.01 * t, "p10_s": 0.98 * t, "p90_s": 1.03 * t, "samples": 20,
            "iterations": 20, "converged": True}


def sample(op, shape, prec, compute_eff, memory_eff):
    flops, nbytes, _ = counts(op, shape, prec)
    peak = PEAK_GFLOPS[prec] * 1e9
    warm = max(FLOOR_S, flops / (peak * compute_eff), nbytes / (bw(nbytes) * 1e9 * memory_eff))
    cold = max(FLOOR_S, flops / (peak * compute_eff), nbytes / (HBM_GBPS * 1e9 * memory_eff))
    s = {"shape": shape, "flops": float(flops), "bytes": float(nbytes), "time": stats(warm),
         "cold_time": stats(max(cold, warm)), "gflops": flops / warm / 1e9, "gbps": nbytes / warm / 1e9,
         "efficiency": (flops / warm / peak) if op in ("matmul", "linear", "conv2d", "attention") else None,
         "check_error": 0.01}
    return s


def curve(op, prec, variant, shapes, compute_eff=0.6, memory_eff=0.8, note=""):
    samples = [sample(op, s, prec, compute_eff, memory_eff) for s in shapes]
    samples.sort(key=lambda x: x["flops"] + x["bytes"])
    return {"op": op, "precision": prec, "backend": "cuda", "variant": variant, "threads": 1, "emulated": False,
            "size_axis": "flops" if op in ("matmul", "linear", "conv2d", "attention") else "bytes",
            "note": note or "synthetic roofline curve, not a measurement", "samples": samples}


def lin(m, n, k, bias=False):
    return {"m": m, "n": n, "k": k, "bias": bias}


def att(batch, heads, kv_heads, seq_q, seq_kv, head_dim, causal):
    return {"batch": batch, "heads": heads, "kv_heads": kv_heads, "seq_q": seq_q, "seq_kv": seq_kv,
            "head_dim": head_dim, "causal": causal}


def rows(r, c):
    return {"rows": r, "cols": c}


def unary(n, inplace=False):
    return {"elements": n, "inputs": 1, "inplace": inplace}


def binary(n, broadcast=0, inplace=False):
    return {"elements": n, "inputs": 2, "broadcast": broadcast, "inplace": inplace}


def operations():
    P = "bf16"
    ops = [
        curve("linear", P, "", [lin(16, 4096, 4096), lin(512, 4096, 4096), lin(4096, 14336, 4096),
                                lin(4096, 4096, 14336)], compute_eff=0.7),
        curve("matmul", P, "", [{"batch": 1, "m": 256, "n": 256, "k": 256, "bias": False},
                                {"batch": 8, "m": 2048, "n": 2048, "k": 2048, "bias": False}], compute_eff=0.7),
        curve("attention", P, "full", [att(1, 32, 32, 512, 512, 128, False), att(4, 32, 8, 2048, 2048, 128, False)],
              compute_eff=0.45),
        curve("attention", P, "causal", [att(1, 32, 8, 512, 512, 128, True), att(1, 32, 8, 4096, 4096, 128, True)],
              compute_eff=0.35),
        curve("attention", P, "decode", [att(1, 32, 8, 1, 512, 128, True), att(8, 32, 8, 1, 4096, 128, True),
                                         att(64, 32, 8, 1, 32768, 128, True)], compute_eff=0.2, memory_eff=0.6),
        curve("rmsnorm", P, "", [rows(16, 4096), rows(512, 4096), rows(8192, 4096)]),
        curve("layernorm", P, "", [rows(16, 4096), rows(8192, 4096)]),
        curve("softmax", P, "", [rows(4096, 512), rows(65536, 4096)]),
        curve("silu_mul", P, "binary", [{"elements": 16 * 14336, "inputs": 2},
                                        {"elements": 4096 * 14336, "inputs": 2}]),
        curve("add", P, "binary", [binary(65536), binary(4096 * 4096)]),
        curve("add", P, "binary_inplace", [binary(65536, inplace=True), binary(4096 * 4096, inplace=True)]),
        curve("mul", P, "broadcast", [binary(65536, 4096), binary(4096 * 4096, 4096)]),
        curve("relu", P, "unary", [unary(65536), unary(1 << 24)]),
        curve("silu", P, "unary", [unary(65536), unary(1 << 24)]),
        curve("rotary", P, "", [{"tokens": 16, "heads": 32, "head_dim": 128},
                                {"tokens": 4096, "heads": 32, "head_dim": 128}]),
        curve("embedding", P, "", [{"tokens": 16, "vocab": 128256, "dim": 4096},
                                   {"tokens": 4096, "vocab": 128256, "dim": 4096}], memory_eff=0.7),
        curve("copy", P, "", [{"bytes": 1 << 16}, {"bytes": 1 << 28}]),
        curve("concat", P, "", [{"bytes": 1 << 16}, {"bytes": 1 << 28}]),
        curve("linear", "fp32", "", [lin(64, 1024, 1024, True), lin(1024, 4096, 4096, True)], compute_eff=0.8),
        curve("conv2d", "fp32", "dense",
              [{"n": 1, "c": 64, "h": 56, "w": 56, "k": 64, "r": 3, "s": 3, "stride": 1, "padding": 1,
                "dilation": 1, "groups": 1, "bias": False},
               {"n": 32, "c": 256, "h": 56, "w": 56, "k": 256, "r": 3, "s": 3, "stride": 1, "padding": 1,
                "dilation": 1, "groups": 1, "bias": False}], compute_eff=0.6),
        curve("maxpool", "fp32", "", [{"n": 1, "c": 64, "h": 112, "w": 112, "r": 3, "s": 3, "stride": 2,
                                       "padding": 1}]),
        curve("relu", "fp32", "unary", [unary(65536), unary(1 << 24)]),
    ]
    return ops


# ------------------------------------------------------------------ collectives
COLLECTIVE_ALPHA_S = {"graph": 6e-6, "eager": 15e-6}
COLLECTIVE_BUSBW_GBPS = 360.0


def bus_factor(op, n):
    """nccl-tests' bus bandwidth factor (ops.hpp collective_bus_factor)."""
    if op == "all_reduce":
        return 2.0 * (n - 1) / n
    if op in ("all_gather", "reduce_scatter", "all_to_all"):
        return (n - 1) / n
    return 1.0


def collectives():
    curves = []
    for gpus in (2, 8):
        for op in ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast", "send_recv"):
            for launch in ("graph", "eager"):
                alpha, beta = COLLECTIVE_ALPHA_S[launch], COLLECTIVE_BUSBW_GBPS / bus_factor(op, gpus)
                samples = []
                b = 4 << 10
                while b <= 1 << 30:
                    t = alpha + b / (beta * 1e9)
                    samples.append({"bytes": b, "time": stats(t), "algbw_gbps": b / t / 1e9,
                                    "busbw_gbps": b / t / 1e9 * bus_factor(op, gpus)})
                    b *= 4
                curves.append({"op": op, "gpus": gpus, "precision": "bf16", "launch": launch, "alpha_s": alpha,
                               "beta_gbps": beta, "busbw_gbps": COLLECTIVE_BUSBW_GBPS, "fit_error": 0.0,
                               "samples": samples})
    return {"library": "synthetic", "version": "", "process_model": "synthetic (test data)",
            "topology": "synthetic", "nvlinks": [], "algorithm": "synthetic alpha-beta",
            "timing": "synthetic: alpha + bytes / beta, written by tests/data/make_profile_gpu_small.py",
            "curves": curves}


def profile():
    sweep = []
    ws = 64 << 10
    while ws <= 1 << 30:
        g = bw(ws)
        sweep.append({"working_set_bytes": ws, "kernel": "triad", "gbps": g, "time": stats(ws / (g * 1e9))})
        ws *= 4
    stream = [{"working_set_bytes": 1 << 30, "kernel": k, "gbps": HBM_GBPS,
               "time": stats((1 << 30) / (HBM_GBPS * 1e9))} for k in ("read", "copy", "triad")]
    return {
        "schema_version": 2,
        "hwcal_version": "synthetic",
        "name": "SYNTHETIC test GPU profile (made-up numbers, not a measurement)",
        "target": "cuda",
        "backend": "cuda",
        "mode": "custom",
        "timing": "synthetic: times are a roofline model written by tests/data/make_profile_gpu_small.py, shaped "
                  "like warm per-launch device times inside a CUDA graph (cold_time: weights from memory)",
        "threads": 1,
        "fingerprint": "5e57da7a5e57da7a",
        "created_utc": "",
        "calibration_s": 0.0,
        "host": {"cpu_model": "Synthetic host CPU", "vendor": "", "arch": "x86_64", "isa": [], "physical_cores": 16,
                 "logical_cpus": 32, "threads_used": 1, "measured_clock_ghz": 0.0, "clock_method": "",
                 "governor": "unknown", "turbo": "unknown", "hypervisor": "", "memory_bytes": 0, "os": "",
                 "caches": []},
        "device": {"name": "Synthetic GPU (test data, H200-like numbers)", "uuid": "", "index": 0, "sm_count": 132,
                   "compute_capability": "9.0", "memory_bytes": 141 << 30, "l2_bytes": L2_BYTES,
                   "max_sm_clock_mhz": 1980.0, "max_mem_clock_mhz": 3201.0, "measured_sm_clock_mhz": 0.0,
                   "measured_mem_clock_mhz": 0.0, "memory_bus_bits": 6144, "driver": "", "throttled": False},
        "software": {"hwcal": "synthetic"},
        "peaks": [{"precision": p, "gflops": g, "derivation": "synthetic (made-up H200-like dense peak)"}
                  for p, g in PEAK_GFLOPS.items()] +
                 [{"precision": "fp64", "gflops": None, "derivation": "synthetic: none"}],
        "memory": {"levels": [{"name": "L2", "size_bytes": L2_BYTES, "measured_at_bytes": 16 << 20, "gbps": L2_GBPS},
                              {"name": "HBM", "size_bytes": 0, "measured_at_bytes": 1 << 30, "gbps": HBM_GBPS}],
                   "sweep": sweep, "stream": stream},
        "overhead": {
            "per_call_s": EAGER_LAUNCH_S,
            "derivation": "synthetic: an eager launch-to-launch time (per_call_s), a per-kernel time inside a "
                          "CUDA graph (graph_launch_s) and a graph's start beyond its kernels (graph_start_s), all made up",
            "graph_launch_s": GRAPH_LAUNCH_S,
            "graph_start_s": GRAPH_START_S,
            # host cost per op of an eager framework; ops without an entry fall back to per_call_s with a warning
            "framework": {"per_call_s": {"linear": 1.4e-05, "matmul": 1.2e-05, "attention": 3.0e-05,
                                         "rmsnorm": 2.2e-05, "layernorm": 1.1e-05, "softmax": 1.0e-05,
                                         "add": 8.0e-06, "mul": 8.0e-06, "silu_mul": 1.6e-05, "relu": 7.0e-06,
                                         "silu": 7.0e-06, "rotary": 2.5e-05, "embedding": 1.0e-05},
                          "derivation": "synthetic: made-up PyTorch-eager-like host costs per op"},
        },
        "operations": operations(),
        "fusions": [],
        "collectives": collectives(),
        "warnings": ["SYNTHETIC: hand-made by tests/data/make_profile_gpu_small.py for tests; no number in this "
                     "profile was measured"],
    }


if __name__ == "__main__":
    json.dump(profile(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
