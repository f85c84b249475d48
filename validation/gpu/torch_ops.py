#!/usr/bin/env python3
"""GPU fidelity bench: every operation sample of a hwcal CUDA profile against
PyTorch's equivalent on the same shape and dtype, both timed the way hwcal
times a device (the GPU twin of bench/backends_vs_torch).

  python3 validation/gpu/torch_ops.py fidelity --profile P.json --out fidelity.json [--md fidelity.md]
  python3 validation/gpu/torch_ops.py summary fidelity.json          # short text table
  python3 validation/gpu/torch_ops.py markdown fidelity.json --md x.md   # the table again, offline
  /usr/bin/python3 validation/gpu/torch_ops.py fidelity --device cpu --dry-run --profile P.json --out /tmp/f.json

For each sample (op, precision, variant, shape) of the profile it builds what a
new user's PyTorch runs for it: fp32 with TF32 off, tf32 with TF32 on (cuBLAS
and cuDNN), bf16, fp16 (fp64, int8 and fp8 where the profile has them), NCHW
tensors, cudnn.benchmark False, no autograd. The op -> PyTorch mapping is the
inverse of python/hwcal/trace.py's (BUILDERS below; each sample records the
call and any structural difference in `notes`, e.g. rotary as HF's rotate_half
in 5 kernels where hwcal runs one).

Timing, as include/hwcal/cuda/measure.hpp times hwcal's kernels:
  warm  R back-to-back calls captured in one CUDA graph (R so a replay lasts
        ~100 us, 1..256), replays each between their own events, median / R
  cold  (samples whose profile entry has cold_time) L calls each after an L2
        flush (a read of max(256 MiB, 2 x L2) bytes) in one graph, minus a
        graph of the L flushes alone, paired replays, median / L (L 1..8)
Ratio = torch time / hwcal time: > 1 means hwcal is faster; "hwcal >= 0.97 of
PyTorch's speed" is ratio >= 0.97. Optionally (default on) every timed sample
is run once more under torch.profiler to list the kernels PyTorch launched.

A sample that fails (unsupported dtype, out of memory, capture error) is
recorded with its error and the run goes on; samples are ordered so that a
run cut short by --budget-s covers every curve (sizes spread over each curve,
curves round-robin); the JSON is rewritten atomically every few seconds and at
the end (also on SIGINT/SIGTERM). On a CPU (`--device cpu`, for tests) there
are no CUDA graphs and no cold timings: PyTorch's eager time per call stands in.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import signal
import statistics
import sys
import time
import traceback
import warnings
from collections import namedtuple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import gpu_timing as gt  # noqa: E402
from jsonfile import load_json, write_atomic  # noqa: E402

warnings.filterwarnings("ignore", message=".*new API settings to control TF32.*")
warnings.filterwarnings("ignore", message=".*TF32.*deprecated.*")

FORMAT = 1
THRESHOLD = 0.97

# --------------------------------------------------------------------------- hwcal's op table

# op -> (shape family, inputs of elementwise ops), in hwcal's OpKind order
# (include/hwcal/kinds.hpp); test_torch_ops.py checks it against `hwcal ops`.
OPS = {
    "matmul": ("matmul", 0), "linear": ("matmul", 0), "conv2d": ("conv2d", 0), "attention": ("attention", 0),
    "maxpool": ("pool2d", 0), "avgpool": ("pool2d", 0), "adaptive_avgpool": ("adaptive_pool", 0),
    "batchnorm": ("map", 0), "layernorm": ("rows", 0), "rmsnorm": ("rows", 0), "softmax": ("rows", 0),
    "reduce_mean": ("rows", 0), "add": ("elementwise", 2), "mul": ("elementwise", 2), "div": ("elementwise", 2),
    "silu_mul": ("elementwise", 2), "relu": ("elementwise", 1), "gelu": ("elementwise", 1),
    "silu": ("elementwise", 1), "sigmoid": ("elementwise", 1), "hardswish": ("elementwise", 1),
    "hardsigmoid": ("elementwise", 1), "tanh": ("elementwise", 1), "relu6": ("elementwise", 1),
    "hardtanh": ("elementwise", 1), "clamp": ("elementwise", 1), "neg": ("elementwise", 1),
    "exp": ("elementwise", 1), "square": ("elementwise", 1), "sqrt": ("elementwise", 1),
    "rsqrt": ("elementwise", 1), "copy": ("bytes", 0), "transpose": ("bytes", 0), "permute": ("bytes", 0),
    "concat": ("bytes", 0), "rotary": ("rotary", 0), "embedding": ("embedding", 0),
}
ELEMENT_BYTES = {"fp64": 8, "fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "int8": 1, "fp8": 1}
CLAMP_LO, CLAMP_HI = -0.5, 0.5  # include/hwcal/reference.hpp: reference::clamp_lo / clamp_hi
NORM_EPS = 1e-5

# Structural differences that explain a ratio away from 1 (the markdown's verdict column).
KNOWN = {
    "silu_mul": "PyTorch has no fused SiLU-and-multiply: F.silu(a) * b is two kernels and writes the "
                "intermediate (hwcal: one kernel)",
    "rotary": "PyTorch has no rotary kernel: HF's rotate_half decomposition is 5 kernels (neg, cat, 2 mul, add) "
              "(hwcal: one kernel)",
}


class Unsupported(RuntimeError):
    """PyTorch has no equivalent of this sample (recorded, not an error of the run)."""


class Skipped(RuntimeError):
    """A sample not timed on purpose (one call longer than the per-sample cap)."""


def _pair(v, default):
    if v is None:
        v = default
    if isinstance(v, (list, tuple)):
        return int(v[0]), int(v[1] if len(v) > 1 else v[0])
    return int(v), int(v)


def normalize_shape(op, s):
    """The shape with every field present (hwcal's defaults, include/hwcal/ops.hpp)
    and pairs as (h, w) tuples. KeyError for a missing required field."""
    fam, inputs = OPS[op]
    s = dict(s)
    if fam == "matmul":
        s.setdefault("batch", 1)
        s.setdefault("bias", op == "linear")
        for f in ("m", "n", "k"):
            s[f] = int(s[f])
    elif fam == "conv2d":
        for f in ("n", "c", "h", "w", "k", "r", "s"):
            s[f] = int(s[f])
        s["stride"] = _pair(s.get("stride"), 1)
        s["padding"] = _pair(s.get("padding"), 0)
        s["dilation"] = _pair(s.get("dilation"), 1)
        s.setdefault("groups", 1)
        s.setdefault("bias", True)
        s.setdefault("channels_last", False)
    elif fam == "pool2d":
        for f in ("n", "c", "h", "w", "r"):
            s[f] = int(s[f])
        s.setdefault("s", s["r"])
        s["stride"] = _pair(s.get("stride"), (s["r"], s["s"]))
        s["padding"] = _pair(s.get("padding"), 0)
    elif fam == "adaptive_pool":
        s.setdefault("out_h", 1)
        s.setdefault("out_w", s["out_h"])
        for f in ("n", "c", "h", "w"):
            s[f] = int(s[f])
    elif fam == "map":
        s.setdefault("h", 1)
        s.setdefault("w", 1)
        for f in ("n", "c"):
            s[f] = int(s[f])
    elif fam == "rows":
        s["rows"], s["cols"] = int(s["rows"]), int(s["cols"])
    elif fam == "elementwise":
        s["elements"] = int(s["elements"])
        s.setdefault("inputs", inputs)
        s.setdefault("broadcast", 0)
        s.setdefault("inplace", False)
    elif fam == "attention":
        s.setdefault("batch", 1)
        s.setdefault("heads", 1)
        s["seq_q"], s["head_dim"] = int(s["seq_q"]), int(s["head_dim"])
        s.setdefault("seq_kv", s["seq_q"])
        if not s.get("kv_heads"):
            s["kv_heads"] = s["heads"]
        s.setdefault("causal", False)
    elif fam == "bytes":
        s["bytes"] = int(s["bytes"])
        if op == "concat":
            s["inputs"] = int(s.get("inputs", 2))
            s["largest"] = int(s.get("largest", 0))
    elif fam == "rotary":
        s.setdefault("heads", 1)
        s["tokens"], s["head_dim"] = int(s["tokens"]), int(s["head_dim"])
    elif fam == "embedding":
        for f in ("tokens", "vocab", "dim"):
            s[f] = int(s[f])
    return s


def move_geometry(nbytes, element_bytes):
    """reference::move_geometry (include/hwcal/reference.hpp): the rows x cols
    matrix hwcal's copy, transpose and concat move: the most square exact
    factorisation of the element count, or floor(sqrt n) rows when n has no
    divisor near its square root. Same arithmetic as the C++ (double sqrt)."""
    n = max(1, int(nbytes) // max(int(element_bytes), 1))
    r = int(math.sqrt(float(n)))
    while r > 1 and r * r > n:
        r -= 1
    square = r
    while r > 1 and n % r != 0:
        r -= 1
    if r * 4 < square:
        r = square
    r = max(r, 1)
    return r, n // r


def _pow2_divisor(n, cap):
    d = 1
    while d * 2 <= cap and n % (d * 2) == 0:
        d *= 2
    return d


def permute_geometry(nbytes, element_bytes):
    """reference::move_geometry for a permute (include/hwcal/reference.hpp):
    (heads, blocks, run) of the [heads][blocks][run] input written as
    [blocks][heads][run]."""
    n = max(1, int(nbytes) // max(int(element_bytes), 1))
    run = _pow2_divisor(n, max(1, min(64, n // 4)))
    heads = max(1, min(16, n // run // 2))
    while (n // run) % heads:
        heads -= 1
    return heads, n // (heads * run), run


def concat_rows(rows, cols, nbytes, inputs, largest):
    """reference::move_geometry for a concat (include/hwcal/reference.hpp): at
    least one row per input; the first input the largest's share of the rows
    (an even share for largest 0), the others the rest evenly. (rows, cols,
    rows of each input)."""
    k = max(int(inputs), 1)
    if rows < k:
        rows, cols = k, max(1, rows * cols // k)
    first = rows if k == 1 else (rows + k - 1) // k
    if k > 1 and largest > 0 and nbytes > 0:
        first = min(max(int(math.floor(rows * largest / nbytes + 0.5)), first), rows - (k - 1))
    rest = rows - first
    parts = [first] + [rest // (k - 1) + (1 if i < rest % (k - 1) else 0) for i in range(k - 1)]
    return rows, cols, parts


def shape_label(op, s):
    """A short human form of a normalized shape (like hwcal's shape_label)."""
    fam = OPS[op][0]
    if fam == "matmul":
        t = f"{s['m']}x{s['n']}x{s['k']}"
        t = f"{s['batch']}x({t})" if s["batch"] > 1 else t
        return t + (" +bias" if s["bias"] else "")
    if fam == "conv2d":
        t = f"{s['n']}x{s['c']}x{s['h']}x{s['w']} k{s['k']} {s['r']}x{s['s']}"
        if s["stride"] != (1, 1):
            t += f"/{s['stride'][0]}"
        t += f" g{s['groups']}" if s["groups"] != 1 else ""
        return t + (" nhwc" if s["channels_last"] else "")
    if fam == "pool2d":
        return f"{s['n']}x{s['c']}x{s['h']}x{s['w']} {s['r']}x{s['s']}/{s['stride'][0]}"
    if fam == "adaptive_pool":
        return f"{s['n']}x{s['c']}x{s['h']}x{s['w']}->{s['out_h']}x{s['out_w']}"
    if fam == "map":
        return f"{s['n']}x{s['c']}x{s['h']}x{s['w']}"
    if fam == "rows":
        return f"{s['rows']}x{s['cols']}"
    if fam == "elementwise":
        t = str(s["elements"])
        if s["inputs"] == 2:
            t += f" (+{s['broadcast']} bcast)" if s["broadcast"] else " x2"
        return t + (" in place" if s["inplace"] else "")
    if fam == "attention":
        t = f"{s['batch']}x{s['heads']}" + (f"/{s['kv_heads']}" if s["kv_heads"] != s["heads"] else "")
        return t + f" q{s['seq_q']} kv{s['seq_kv']} d{s['head_dim']}" + (" causal" if s["causal"] else "")
    if fam == "bytes":
        t = f"{s['bytes']} B"
        if s.get("inputs", 2) != 2:
            t += f", {s['inputs']} inputs"
        return t + (f" (largest {s['largest']} B)" if s.get("largest") else "")
    if fam == "rotary":
        return f"{s['tokens']}x{s['heads']}x{s['head_dim']}"
    if fam == "embedding":
        return f"{s['tokens']} of {s['vocab']}x{s['dim']}"
    return json.dumps(s)


# --------------------------------------------------------------------------- what torch has


def has_sdpa():
    return hasattr(F, "scaled_dot_product_attention")


_GQA = {}


def sdpa_has_gqa():
    """Whether SDPA takes enable_gqa (torch >= 2.5), tried once on tiny CPU tensors."""
    if "v" not in _GQA:
        ok = False
        if has_sdpa():
            q, k = torch.zeros(1, 2, 1, 4), torch.zeros(1, 1, 1, 4)
            try:
                F.scaled_dot_product_attention(q, k, k, enable_gqa=True)
                ok = True
            except (TypeError, RuntimeError):
                ok = False
        _GQA["v"] = ok
    return _GQA["v"]


def dtype_of(precision):
    """The torch dtype of a hwcal precision (Unsupported where torch has none)."""
    if precision in ("fp32", "tf32"):
        return torch.float32
    table = {"fp64": torch.float64, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.int8}
    if precision in table:
        return table[precision]
    if precision == "fp8":
        dt = getattr(torch, "float8_e4m3fn", None)
        if dt is None:
            raise Unsupported("this torch has no float8_e4m3fn")
        return dt
    raise Unsupported(f"unknown precision {precision!r}")


def set_precision(precision, cuda):
    """TF32 on for cuBLAS and cuDNN only at tf32 (legacy setters: they keep every
    TF32 flag consistent), cudnn.benchmark False; returns the flags as read back."""
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = False
    state = {"cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
             "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32}
    if cuda and any(v != tf32 for v in state.values()):
        raise RuntimeError(f"TF32 settings did not take effect: {state}")
    return state


# --------------------------------------------------------------------------- builders

Built = namedtuple("Built", "fn call notes")


def _rand(shape, dtype, device, lo=-1.0, hi=1.0):
    """Uniform values in [lo, hi) of any dtype (int8: integers in [-8, 8))."""
    if dtype == torch.int8:
        return torch.randint(-8, 8, shape, dtype=torch.int8, device=device)
    t = torch.rand(shape, device=device, dtype=torch.float32) * (hi - lo) + lo
    return t.to(dtype)


def _scaled_mm(a, b, bias, device):
    """torch._scaled_mm(a e4m3 row-major, b e4m3 column-major) -> bf16, unit scales;
    the signature changed between torch versions (tuple result before 2.4)."""
    fn = getattr(torch, "_scaled_mm", None)
    if fn is None:
        raise Unsupported("this torch has no torch._scaled_mm (fp8 GEMM)")
    one = torch.tensor(1.0, device=device)
    kw = {"scale_a": one, "scale_b": one, "out_dtype": torch.bfloat16}
    if bias is not None:
        kw["bias"] = bias

    def call():
        r = fn(a, b, **kw)
        return r[0] if isinstance(r, tuple) else r

    return call


def build_matmul(op, s, prec, dt, dev, notes):
    b, m, n, k, bias = s["batch"], s["m"], s["n"], s["k"], s["bias"]
    if prec == "int8":
        if op != "matmul" or b != 1 or bias:
            raise Unsupported("PyTorch's int8 GEMM is torch._int_mm: 2-D, no bias")
        if not hasattr(torch, "_int_mm"):
            raise Unsupported("this torch has no torch._int_mm")
        if m <= 16 or k % 8 or n % 8:
            raise Unsupported("torch._int_mm needs m > 16 and k, n multiples of 8")
        A = _rand((m, k), dt, dev)
        B = _rand((n, k), dt, dev).t()
        notes.append("torch._int_mm (int32 out); B column-major, cuBLASLt's int8 TN form as hwcal's")
        return Built(lambda: torch._int_mm(A, B), "torch._int_mm", notes)
    if prec == "fp8":
        if b != 1:
            raise Unsupported("PyTorch's fp8 GEMM (torch._scaled_mm) is 2-D")
        if m % 16 or k % 16 or n % 16:
            raise Unsupported("torch._scaled_mm needs m, k and n multiples of 16")
        A = _rand((m, k), dt, dev)
        B = _rand((n, k), dt, dev).t()  # linear's W [n, k] row-major is B column-major
        bt = _rand((n,), torch.bfloat16, dev) if bias else None
        notes.append("torch._scaled_mm e4m3 x e4m3 -> bf16, unit scales, B column-major")
        return Built(_scaled_mm(A, B, bt, dev), "torch._scaled_mm", notes)
    if op == "linear":
        x, w = _rand((m, k), dt, dev), _rand((n, k), dt, dev)
        bt = _rand((n,), dt, dev) if bias else None
        return Built(lambda: F.linear(x, w, bt), "F.linear", notes)
    A = _rand((m, k) if b == 1 else (b, m, k), dt, dev)
    B = _rand((k, n) if b == 1 else (b, k, n), dt, dev)
    if bias:
        bt = _rand((n,), dt, dev)
        if b == 1:
            return Built(lambda: torch.addmm(bt, A, B), "torch.addmm", notes)
        return Built(lambda: torch.baddbmm(bt, A, B), "torch.baddbmm", notes)
    return Built(lambda: torch.matmul(A, B), "torch.matmul" + (" (bmm)" if b > 1 else " (mm)"), notes)


def build_conv2d(op, s, prec, dt, dev, notes):
    g = s["groups"]
    x = _rand((s["n"], s["c"], s["h"], s["w"]), dt, dev)
    w = _rand((s["k"], s["c"] // g, s["r"], s["s"]), dt, dev)
    b = _rand((s["k"],), dt, dev) if s["bias"] else None
    stride, pad, dil = s["stride"], s["padding"], s["dilation"]
    layout = "NCHW"
    if s.get("channels_last"):
        # the input as a permute leaves it (ConvNeXt), the weight as the module holds it
        x, layout = x.contiguous(memory_format=torch.channels_last), "channels_last input"
    return Built(lambda: F.conv2d(x, w, b, stride, pad, dil, g), f"F.conv2d ({layout})", notes)


def causal_mask_bottom_right(sq, skv, device):
    """[sq, skv] boolean, True where query i may attend key j: j <= i + skv - sq
    (aligned at the end, as hwcal's causal attention and a KV cache)."""
    return torch.ones(sq, skv, dtype=torch.bool, device=device).tril(diagonal=skv - sq)


def build_attention(op, s, prec, dt, dev, notes):
    B, H, KV, SQ, SKV, D = s["batch"], s["heads"], s["kv_heads"], s["seq_q"], s["seq_kv"], s["head_dim"]
    q = _rand((B, H, SQ, D), dt, dev)
    k = _rand((B, KV, SKV, D), dt, dev)
    v = _rand((B, KV, SKV, D), dt, dev)
    kw, mask = {}, None
    if s["causal"]:
        if SQ == SKV:
            kw["is_causal"] = True
        elif SQ == 1 and SKV >= 1:
            notes.append("causal with one query: it sees every key (bottom-right alignment), so no mask")
        else:
            mask = causal_mask_bottom_right(SQ, SKV, dev)
            notes.append("causal with seq_q != seq_kv: an explicit bottom-right-aligned boolean mask (PyTorch's "
                         "is_causal is top-left aligned); masked SDPA cannot use the flash backend")
    rep = H // KV
    if has_sdpa():
        call = "F.scaled_dot_product_attention"
        if rep > 1:
            if sdpa_has_gqa():
                kw["enable_gqa"] = True
                call += " (enable_gqa=True)"
            else:
                notes.append("GQA by repeat_interleave of K and V inside the call (torch < 2.5: no enable_gqa)")
        if mask is not None:
            kw["attn_mask"] = mask

        def fn():
            kk, vv = k, v
            if rep > 1 and not kw.get("enable_gqa"):
                kk, vv = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
            return F.scaled_dot_product_attention(q, kk, vv, **kw)

        return Built(fn, call, notes)
    # torch < 2.0: written out, as models_gpu.attention does
    notes.append("no F.scaled_dot_product_attention (torch < 2.0): attention written out (matmul, scale, mask, "
                 "softmax, matmul)" + ("; K/V heads repeated with repeat_interleave" if rep > 1 else ""))
    if kw.get("is_causal"):
        mask = causal_mask_bottom_right(SQ, SKV, dev)
    add = None
    if mask is not None:
        add = torch.zeros(SQ, SKV, dtype=dt, device=dev).masked_fill(~mask, float("-inf"))
    scale = 1.0 / math.sqrt(D)

    def fn():
        kk, vv = k, v
        if rep > 1:
            kk, vv = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        sc = torch.matmul(q, kk.transpose(-2, -1)) * scale
        if add is not None:
            sc = sc + add
        return torch.matmul(torch.softmax(sc, dim=-1), vv)

    return Built(fn, "attention written out", notes)


def build_pool(op, s, prec, dt, dev, notes):
    x = _rand((s["n"], s["c"], s["h"], s["w"]), dt, dev)
    win, st, pad = (s["r"], s["s"]), s["stride"], s["padding"]
    if op == "maxpool":
        return Built(lambda: F.max_pool2d(x, win, st, pad), "F.max_pool2d", notes)
    return Built(lambda: F.avg_pool2d(x, win, st, pad), "F.avg_pool2d (count_include_pad)", notes)


def build_adaptive(op, s, prec, dt, dev, notes):
    x = _rand((s["n"], s["c"], s["h"], s["w"]), dt, dev)
    out = (s["out_h"], s["out_w"])
    return Built(lambda: F.adaptive_avg_pool2d(x, out), "F.adaptive_avg_pool2d", notes)


def build_batchnorm(op, s, prec, dt, dev, notes):
    c = s["c"]
    x = _rand((s["n"], c, s["h"], s["w"]), dt, dev)
    mean, var = _rand((c,), dt, dev), _rand((c,), dt, dev, 0.5, 1.5)
    w, b = _rand((c,), dt, dev), _rand((c,), dt, dev)
    return Built(lambda: F.batch_norm(x, mean, var, w, b, False, 0.1, NORM_EPS), "F.batch_norm (eval)", notes)


def build_rows(op, s, prec, dt, dev, notes):
    rows, cols = s["rows"], s["cols"]
    x = _rand((rows, cols), dt, dev)
    if op == "layernorm":
        w, b = _rand((cols,), dt, dev), _rand((cols,), dt, dev)
        return Built(lambda: F.layer_norm(x, (cols,), w, b, NORM_EPS), "F.layer_norm", notes)
    if op == "rmsnorm":
        w = _rand((cols,), dt, dev)
        if hasattr(F, "rms_norm"):
            return Built(lambda: F.rms_norm(x, (cols,), w, NORM_EPS), "F.rms_norm", notes)
        notes.append("no F.rms_norm (torch < 2.4): the LLaMA decomposition in fp32 (float, pow, mean, add, "
                     "rsqrt, mul, cast, mul)")

        def llama():
            h = x.float()
            h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + NORM_EPS)
            return w * h.to(x.dtype)

        return Built(llama, "LlamaRMSNorm decomposition", notes)
    if op == "softmax":
        return Built(lambda: torch.softmax(x, -1), "torch.softmax(-1)", notes)
    return Built(lambda: x.mean(-1), "Tensor.mean(-1)", notes)


UNARY = {
    "relu": (F.relu, "F.relu"), "gelu": (F.gelu, "F.gelu"), "silu": (F.silu, "F.silu"),
    "sigmoid": (torch.sigmoid, "torch.sigmoid"), "hardswish": (F.hardswish, "F.hardswish"),
    "hardsigmoid": (F.hardsigmoid, "F.hardsigmoid"), "tanh": (torch.tanh, "torch.tanh"),
    "relu6": (F.relu6, "F.relu6"), "hardtanh": (F.hardtanh, "F.hardtanh"),
    "clamp": (lambda x: torch.clamp(x, CLAMP_LO, CLAMP_HI), f"torch.clamp({CLAMP_LO}, {CLAMP_HI})"),
    "neg": (torch.neg, "torch.neg"), "exp": (torch.exp, "torch.exp"), "square": (lambda x: x.pow(2), "Tensor.pow(2)"),
    "sqrt": (torch.sqrt, "torch.sqrt"), "rsqrt": (torch.rsqrt, "torch.rsqrt"),
}
POSITIVE = ("sqrt", "rsqrt")  # OpInfo::positive_inputs: drawn from [0.5, 2)
UNARY_INPLACE = {
    "relu": (lambda x: F.relu(x, inplace=True), "F.relu(inplace=True)"),
    "silu": (lambda x: F.silu(x, inplace=True), "F.silu(inplace=True)"),
    "sigmoid": (lambda x: x.sigmoid_(), "Tensor.sigmoid_"),
    "hardswish": (lambda x: F.hardswish(x, inplace=True), "F.hardswish(inplace=True)"),
    "hardsigmoid": (lambda x: F.hardsigmoid(x, inplace=True), "F.hardsigmoid(inplace=True)"),
    "tanh": (lambda x: x.tanh_(), "Tensor.tanh_"),
    "relu6": (lambda x: F.relu6(x, inplace=True), "F.relu6(inplace=True)"),
    "hardtanh": (lambda x: F.hardtanh(x, inplace=True), "F.hardtanh(inplace=True)"),
    "clamp": (lambda x: x.clamp_(CLAMP_LO, CLAMP_HI), f"Tensor.clamp_({CLAMP_LO}, {CLAMP_HI})"),
    "neg": (lambda x: x.neg_(), "Tensor.neg_"), "exp": (lambda x: x.exp_(), "Tensor.exp_"),
    "square": (lambda x: x.pow_(2), "Tensor.pow_(2)"), "sqrt": (lambda x: x.sqrt_(), "Tensor.sqrt_"),
    "rsqrt": (lambda x: x.rsqrt_(), "Tensor.rsqrt_"),
}
BINARY = {"add": (torch.add, "add_", "a + b"), "mul": (torch.mul, "mul_", "a * b"), "div": (torch.div, "div_", "a / b")}


def build_elementwise(op, s, prec, dt, dev, notes):
    n, bc, inplace = s["elements"], s["broadcast"], s["inplace"]
    if op in UNARY:
        x = _rand((n,), dt, dev, 0.5, 2.0) if op in POSITIVE else _rand((n,), dt, dev)
        if inplace:
            if op not in UNARY_INPLACE:
                notes.append(f"PyTorch has no in-place {op}: timed out of place")
            else:
                f, call = UNARY_INPLACE[op]
                return Built(lambda: f(x), call, notes)
        f, call = UNARY[op]
        return Built(lambda: f(x), call, notes)
    if op == "silu_mul":
        a, b = _rand((n,), dt, dev), _rand((n,), dt, dev)
        notes.append(KNOWN["silu_mul"])
        return Built(lambda: F.silu(a) * b, "F.silu(a) * b", notes)
    fn, method, call = BINARY[op]
    if 0 < bc < n:
        a = _rand((n // bc, bc), dt, dev)
        b = _rand((bc,), dt, dev, 0.5, 1.5)
        call += f" ([{n // bc}, {bc}] * [{bc}])"
    else:
        a, b = _rand((n,), dt, dev), _rand((n,), dt, dev, 0.5, 1.5)
    if inplace:
        if op != "add":  # repeated in place: keep the values from running off (same cost)
            b = _rand(tuple(b.shape), dt, dev, 0.999, 1.001)
        return Built(lambda: getattr(a, method)(b), "Tensor." + method, notes)
    return Built(lambda: fn(a, b), call, notes)


def build_bytes(op, s, prec, dt, dev, notes):
    rows, cols = move_geometry(s["bytes"], ELEMENT_BYTES[prec])
    if op == "copy":
        x = _rand((rows, cols), dt, dev)
        return Built(lambda: x.clone(), "Tensor.clone", notes)
    if op == "transpose":
        x = _rand((rows, cols), dt, dev)
        return Built(lambda: x.t().contiguous(), f"[{rows}, {cols}].t().contiguous()", notes)
    if op == "permute":
        heads, blocks, run = permute_geometry(s["bytes"], ELEMENT_BYTES[prec])
        x = _rand((heads, blocks, run), dt, dev)
        return Built(lambda: x.transpose(0, 1).contiguous(), f"[{heads}, {blocks}, {run}].transpose(0, 1).contiguous()",
                     notes)
    rows, cols, parts = concat_rows(rows, cols, s["bytes"], s.get("inputs", 2), s.get("largest", 0))
    xs = [_rand((r, cols), dt, dev) for r in parts]
    return Built(lambda: torch.cat(xs, 0), f"torch.cat({len(parts)} blocks of {parts[0]}..{parts[-1]} x {cols}, dim 0)",
                 notes)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def build_rotary(op, s, prec, dt, dev, notes):
    t, h, d = s["tokens"], s["heads"], s["head_dim"]
    x = _rand((t, h, d), dt, dev)
    cos, sin = _rand((t, 1, d), dt, dev), _rand((t, 1, d), dt, dev)
    notes.append(KNOWN["rotary"])
    return Built(lambda: x * cos + rotate_half(x) * sin, "x * cos + rotate_half(x) * sin (HF)", notes)


def build_embedding(op, s, prec, dt, dev, notes):
    ids = torch.randint(0, s["vocab"], (s["tokens"],), dtype=torch.int64, device=dev)
    table = _rand((s["vocab"], s["dim"]), dt, dev)
    return Built(lambda: F.embedding(ids, table), "F.embedding", notes)


BUILDERS = {"matmul": build_matmul, "conv2d": build_conv2d, "attention": build_attention, "pool2d": build_pool,
            "adaptive_pool": build_adaptive, "map": build_batchnorm, "rows": build_rows,
            "elementwise": build_elementwise, "bytes": build_bytes, "rotary": build_rotary,
            "embedding": build_embedding}


def build(op, shape, precision, device):
    """Built(fn, call, notes) of PyTorch's equivalent of one hwcal sample; shape
    is normalized. Raises Unsupported where PyTorch has none."""
    if op not in OPS:
        raise Unsupported(f"op {op!r} is not in this script's table (a new hwcal op kind?)")
    dt = dtype_of(precision)
    return BUILDERS[OPS[op][0]](op, shape, precision, dt, device, [])


# --------------------------------------------------------------------------- timing

Rule = namedtuple("Rule", "graph_s max_launches replays cold_pairs max_cold_launches eager_reps eager_samples "
                          "sample_cap_s")
FULL = Rule(graph_s=100e-6, max_launches=256, replays=11, cold_pairs=9, max_cold_launches=8, eager_reps=50,
            eager_samples=5, sample_cap_s=20.0)
DRY = Rule(graph_s=1e-6, max_launches=2, replays=2, cold_pairs=2, max_cold_launches=2, eager_reps=2,
           eager_samples=2, sample_cap_s=20.0)


class Flush:
    """The L2 flush hwcal uses (include/hwcal/cuda/measure.hpp): a read of
    max(256 MiB, 2 x L2) bytes, which leaves clean lines (a fill leaves dirty
    ones that the timed op then writes back)."""

    def __init__(self, device, nbytes):
        self.buf = torch.zeros(int(nbytes) // 4, dtype=torch.float32, device=device)
        self.sink = torch.zeros((), dtype=torch.float32, device=device)
        self.nbytes = int(nbytes)
        self.time_s = None

    def __call__(self):
        torch.sum(self.buf, dim=0, out=self.sink)

    def then(self, fn):
        def flush_then():
            self()
            return fn() if fn is not None else None

        return flush_then

    def measure(self, dev):
        if self.time_s is None:
            self()  # first touch
            self.time_s = max(dev.elapsed(self, 1), 1e-6)
        return self.time_s


def flush_bytes(device_props):
    l2 = int(getattr(device_props, "L2_cache_size", 0) or 0)
    return max(256 << 20, 2 * l2)


def pair_elapsed(dev, first, second):
    """Seconds of first() and of second() run back to back, each between its own
    events (CUDA), or perf_counter around each (emulated devices)."""
    if dev.kind == "cuda":
        return tuple(dev.regions([first, second], queued=True))  # both queued: neither times the host's issue
    return dev.elapsed(first, 1), dev.elapsed(second, 1)


def launches_for(one_s, target_s, cap):
    """Calls per graph so a replay lasts about target_s, in [1, cap] (as hwcal's
    Timer::measure: ceil(graph_s / one run))."""
    return max(1, min(cap, int(math.ceil(target_s / max(one_s, 1e-6)))))


def time_warm(dev, fn, rule):
    """{"torch_s", "reps", "eager1_s", "torch_timing"}: a graph of R back-to-back
    calls, median over replays of replay time / R, each replay queued behind a
    spin kernel (gpu_timing.CudaDevice.elapsed). Without graphs (CPU) or when
    the capture fails: eager calls (recorded as such, with the reason)."""
    fn()
    fn()
    dev.sync()
    one = dev.elapsed(fn, 1)
    out = {"eager1_s": one}
    if one * (3 + 2 * rule.replays) > rule.sample_cap_s:
        raise Skipped(f"one call takes {one:.3g} s: over the per-sample cap of {rule.sample_cap_s} s")
    try:
        reps = launches_for(one, rule.graph_s, rule.max_launches)
        replay = dev.graph(fn, reps)
        replay()
        # One eager call is mostly the host's issue cost for a small op, so R
        # from it leaves the graph's own start (~10 us a replay) in the per-call
        # time: R again from a replay's device time, as hwcal's Timer does.
        per_call = dev.elapsed(replay, 1, queued=True) / reps
        better = launches_for(per_call, rule.graph_s, rule.max_launches)
        if better > reps:
            del replay
            reps = better
            replay = dev.graph(fn, reps)
            replay()
        replays = rule.replays if per_call * reps < 0.02 else max(3, rule.replays // 2)
        out["torch_s"] = statistics.median(dev.elapsed(replay, 1, queued=True) / reps for _ in range(replays))
        out["reps"] = reps
        out["torch_timing"] = "graph"
        del replay
    except gt.GraphUnavailable as e:
        out["graph_error"] = str(e)
    except Exception as e:  # noqa: BLE001 (a capture failure is recorded; eager timing stands in)
        out["graph_error"] = exc_text(e)
        dev.sync()
    if "torch_s" not in out:
        n = max(1, min(rule.eager_reps, int(math.ceil(rule.graph_s / max(one, 1e-9)))))
        out["torch_s"] = gt.median_per_call(dev, fn, n, rule.eager_samples)
        out["reps"] = n
        out["torch_timing"] = "eager"
    return out


def time_cold(dev, fn, one_s, flush, rule):
    """{"torch_cold_s", "cold_reps"}: L calls each after an L2 flush in one graph,
    minus a graph of the L flushes alone; replays paired back to back, median of
    the differences / L."""
    ft = flush.measure(dev)
    n = max(1, min(rule.max_cold_launches, int(math.ceil(rule.graph_s / max(one_s + ft, 1e-6)))))
    with_op = dev.graph(flush.then(fn), n)
    alone = dev.graph(flush.then(None), n)
    with_op()
    alone()
    dev.sync()
    diffs = []
    for _ in range(rule.cold_pairs):
        a, b = pair_elapsed(dev, with_op, alone)
        diffs.append(max(a - b, 0.0) / n)
    return {"torch_cold_s": statistics.median(diffs), "cold_reps": n}


# --------------------------------------------------------------------------- the plan


def sig(x, digits=5):
    return float(f"{x:.{digits}g}")


def round_floats(x):
    if isinstance(x, float):
        return sig(x) if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: round_floats(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [round_floats(v) for v in x]
    return x


def exc_text(e):
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:300] if text else ''}"


def now():
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def spread_order(n):
    """Indices 0..n-1 with the sizes spread: first, last, middle, then the
    midpoints of the gaps, so the first k of them cover a sorted curve evenly."""
    if n <= 2:
        return list(range(n))
    order, seen = [0, n - 1], {0, n - 1}
    gaps = [(0, n - 1)]
    while gaps:
        nxt = []
        for lo, hi in gaps:
            if hi - lo < 2:
                continue
            mid = (lo + hi) // 2
            if mid not in seen:
                seen.add(mid)
                order.append(mid)
            nxt += [(lo, mid), (mid, hi)]
        gaps = nxt
    return order


def plan_items(profile, ops=None, precisions=None, max_per_curve=None, max_gflop=None, max_mb=None):
    """(items, filtered): one item per profile sample, in measuring order (sizes
    spread within each curve, curves round-robin); `filtered` counts samples left
    out by the filters."""
    curves, filtered = [], 0
    for ci, c in enumerate(profile.get("operations", [])):
        op, prec = c.get("op"), c.get("precision")
        if (ops and op not in ops) or (precisions and prec not in precisions):
            filtered += len(c.get("samples", []))
            continue
        items = []
        for si, smp in enumerate(c.get("samples", [])):
            if max_gflop is not None and smp.get("flops", 0) > max_gflop * 1e9:
                filtered += 1
                continue
            if max_mb is not None and smp.get("bytes", 0) > max_mb * 1e6:
                filtered += 1
                continue
            t = smp.get("time") or {}
            cold = smp.get("cold_time") or {}
            items.append({"op": op, "precision": prec, "variant": c.get("variant", ""), "curve": ci, "sample": si,
                          "shape": smp.get("shape", {}), "flops": smp.get("flops"), "bytes": smp.get("bytes"),
                          "hwcal_s": t.get("median_s"), "hwcal_reps": t.get("iterations"),
                          "hwcal_cold_s": cold.get("median_s"), "hwcal_impl": smp.get("implementation", "")})
        if max_per_curve is not None and len(items) > max_per_curve:
            if max_gflop is not None or max_mb is not None:  # size-capped (dry) runs: the smallest
                keep = sorted(items, key=lambda x: (x["flops"] or 0, x["bytes"] or 0))[:max_per_curve]
            else:
                keep = [items[i] for i in sorted(spread_order(len(items))[:max_per_curve])]
            filtered += len(items) - len(keep)
            items = keep
        if items:
            curves.append([items[i] for i in spread_order(len(items))])
    ordered = []
    for rank in range(max((len(c) for c in curves), default=0)):
        for c in curves:
            if rank < len(c):
                ordered.append(c[rank])
    return ordered, filtered


# --------------------------------------------------------------------------- one sample


def measure_item(run, item):
    """The result row of one plan item; never raises (errors are recorded)."""
    row = {k: item[k] for k in ("op", "precision", "variant", "curve", "sample", "hwcal_s", "hwcal_cold_s",
                                "hwcal_reps", "hwcal_impl", "flops", "bytes")}
    t0 = time.monotonic()
    built = None
    row["shape"] = item["shape"]
    try:
        shape = normalize_shape(item["op"], item["shape"])
        row["label"] = shape_label(item["op"], shape)
        row["flags"] = set_precision(item["precision"], run.cuda)
        built = build(item["op"], shape, item["precision"], run.device)
        row["torch_call"], row["notes"] = built.call, list(built.notes)
        row.update(time_warm(run.dev, built.fn, run.rule))
        if "graph_error" in row:
            row["notes"].append("no CUDA graph (" + row["graph_error"][:120] + "): eager time per call")
        if row.get("torch_s") and item["hwcal_s"]:
            row["ratio"] = row["torch_s"] / item["hwcal_s"]
        if item["hwcal_cold_s"] and run.args.cold:
            if run.flush is None:
                row["cold_error"] = "cold timing needs CUDA graphs and an L2 flush (CPU dry run)"
            else:
                try:
                    row.update(time_cold(run.dev, built.fn, row["eager1_s"], run.flush, run.rule))
                    if row["torch_cold_s"] > 0:
                        row["ratio_cold"] = row["torch_cold_s"] / item["hwcal_cold_s"]
                except Exception as e:  # noqa: BLE001
                    row["cold_error"] = exc_text(e)
                    run.dev.sync()
    except Unsupported as e:
        row["unsupported"] = str(e)
    except Skipped as e:
        row["skipped"] = str(e)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 (recorded; the run goes on)
        row["error"] = exc_text(e)
        row["traceback"] = traceback.format_exc().strip().splitlines()[-4:]
    finally:
        built = None
        if run.cuda and ("error" in row or "cold_error" in row):
            try:
                torch.cuda.empty_cache()  # after an out-of-memory error, give the next sample its memory back
            except Exception:  # noqa: BLE001
                pass
    row["elapsed_s"] = time.monotonic() - t0
    return row


def cuda_usable():
    try:
        torch.cuda.synchronize()
        return True
    except Exception:  # noqa: BLE001
        return False


# --------------------------------------------------------------------------- kernels (torch.profiler)

PREFIX = "hwcal::"


def profile_kernels(run, items, rows):
    """Runs every timed sample once more inside one torch.profiler session (CUDA
    activity on a GPU), each in record_function("hwcal::<i>"); adds kernels,
    kernel_s and kernel_names to the rows. Returns an error text or None."""
    import gpu_profile

    activities = [torch.profiler.ProfilerActivity.CPU]
    if run.cuda:
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    todo = [i for i, r in enumerate(rows) if "torch_s" in r and (r.get("eager1_s") or 0) < 0.1]
    done = 0
    try:
        with torch.profiler.profile(activities=activities) as prof:
            for i in todo:
                if run.over_budget():
                    break
                item = items[i]
                set_precision(item["precision"], run.cuda)
                built = build(item["op"], normalize_shape(item["op"], item["shape"]), item["precision"], run.device)
                built.fn()
                run.dev.sync()
                with torch.profiler.record_function(f"{PREFIX}{i}"):
                    built.fn()
                run.dev.sync()
                built = None
                done += 1
        per_node, _ = gpu_profile.attribute(prof.events())
    except Exception as e:  # noqa: BLE001 (kernels are optional)
        return f"kernel profile failed after {done} samples: {exc_text(e)}"
    if run.cuda and per_node and not any(v["kernels"] for v in per_node.values()):
        return "the profiler saw no CUDA kernels (CUPTI unavailable?): kernels not listed"
    for key, v in per_node.items():
        try:
            i = int(key)
        except ValueError:
            continue
        if run.cuda:  # a CPU run has aten ops but no kernels
            rows[i]["kernels"] = v["kernels"]
            rows[i]["kernel_s"] = v["kernel_s"]
            rows[i]["kernel_names"] = v["kernel_names"]
        rows[i]["aten_ops"] = v["ops"]
    return None if done == len(todo) else f"kernels listed for {done} of {len(todo)} timed samples (budget)"


# --------------------------------------------------------------------------- summary


def counted(row, device):
    """Whether a row's ratio enters the summary: graph timings on a GPU (eager
    fallbacks are listed, not counted); every timed row on a CPU dry run."""
    return row.get("ratio") is not None and (device == "cpu" or row.get("torch_timing") == "graph")


def _stats(rows, device):
    r = [x["ratio"] for x in rows if counted(x, device)]
    c = [x["ratio_cold"] for x in rows if x.get("ratio_cold") is not None]
    k = [x["kernels"] for x in rows if x.get("kernels") is not None]
    out = {"samples": len(rows), "compared": len(r), "cold_compared": len(c),
           "errors": sum(1 for x in rows if "error" in x),
           "unsupported": sum(1 for x in rows if "unsupported" in x or "skipped" in x),
           "eager_fallbacks": sum(1 for x in rows if x.get("torch_timing") == "eager")}
    if r:
        out.update({"median_ratio": statistics.median(r), "min_ratio": min(r), "max_ratio": max(r),
                    "share_at_threshold": sum(1 for v in r if v >= THRESHOLD) / len(r)})
        worst = min((x for x in rows if counted(x, device)), key=lambda x: x["ratio"])
        out["worst"] = {"label": worst.get("label"), "precision": worst["precision"], "ratio": worst["ratio"]}
    if c:
        out.update({"median_ratio_cold": statistics.median(c),
                    "share_at_threshold_cold": sum(1 for v in c if v >= THRESHOLD) / len(c)})
    if k:
        out["kernels_median"] = statistics.median(k)
        out["kernels_max"] = max(k)
    notes = []
    for x in rows:
        for n in x.get("notes", []):
            if n not in notes:
                notes.append(n)
    out["notes"] = notes[:6]
    return out


def summarize(rows, device):
    """{"by_kind": {op: stats}, "by_kind_precision": {"op/precision": stats}}."""
    by_kind, by_kp = {}, {}
    for r in rows:
        by_kind.setdefault(r["op"], []).append(r)
        by_kp.setdefault(f"{r['op']}/{r['precision']}", []).append(r)
    order = {op: i for i, op in enumerate(OPS)}
    kinds = sorted(by_kind, key=lambda k: order.get(k, 99))
    kps = sorted(by_kp, key=lambda k: (order.get(k.split("/")[0], 99), k))
    return {"by_kind": {k: _stats(by_kind[k], device) for k in kinds},
            "by_kind_precision": {k: _stats(by_kp[k], device) for k in kps}}


def verdict(op, st):
    if st.get("median_ratio") is None:
        return "not compared"
    if st["median_ratio"] >= THRESHOLD:
        return "ok"
    return "BELOW: " + KNOWN.get(op, "not explained yet")


def fmt_ratio(v):
    return "-" if v is None else f"{v:.3f}"


def fmt_share(v):
    return "-" if v is None else f"{100 * v:.0f}%"


def fmt_s(v):
    if v is None:
        return "-"
    return f"{v * 1e6:.2f} us" if v < 1e-3 else f"{v * 1e3:.3f} ms"


def markdown(doc):
    """The docs/bench/ table of one fidelity document."""
    sw, pr, st = doc.get("software", {}), doc.get("profile", {}), doc.get("settings", {})
    dev = sw.get("device") or {}
    smi = (doc.get("machine") or {}).get("nvidia_smi_start") or {}
    lines = ["# GPU fidelity: hwcal's kernels against PyTorch's, sample by sample", "",
             "Generated by `validation/gpu/torch_ops.py` (docs/bench/README.md, section GPU).", "",
             f"- **Machine:** {dev.get('name', doc.get('device'))}"
             + (f" ({dev.get('sm_count')} SMs, L2 {dev.get('l2_bytes', 0) >> 20} MiB)" if dev else "")
             + (f", driver {smi.get('driver_version')}, SM clock {smi.get('clocks.sm')}/{smi.get('clocks.max.sm')} MHz"
                if smi.get("driver_version") else ""),
             f"- **PyTorch:** {sw.get('torch')} (CUDA {sw.get('cuda')}, cuDNN {sw.get('cudnn')}), Python "
             f"{sw.get('python')}; SDPA {sw.get('sdpa')}, enable_gqa {sw.get('sdpa_enable_gqa')}, "
             f"F.rms_norm {sw.get('rms_norm')}",
             f"- **Profile:** `{pr.get('path')}`: {pr.get('name')}, schema v{pr.get('schema_version')}, "
             f"created {pr.get('created_utc')}, backend {pr.get('backend')}"
             + (f", cuBLAS {pr['software'].get('cublas')}, cuDNN {pr['software'].get('cudnn')}"
                if pr.get("software") else ""),
             f"- **Command:** `{doc.get('command')}`; {doc.get('elapsed_s')} s; samples: {len(doc.get('samples', []))} "
             f"measured of {doc.get('planned')} planned ({doc.get('filtered', 0)} filtered out), "
             f"{len(doc.get('not_started', []))} not started"
             + ("; INTERRUPTED" if doc.get("interrupted") else "") + (f"; {doc['stopped']}" if doc.get("stopped") else ""),
             f"- **Timing:** {st.get('timing')}",
             f"- **PyTorch settings:** {st.get('precisions')}; {st.get('defaults')}", ""]
    if pr.get("schema_version", 2) < 2:
        lines += ["**This profile is schema v1:** its times are single launches after an L2 flush between two "
                  "events, not per-launch graph times; the ratios below compare unlike timings.", ""]
    if doc.get("device") == "cpu":
        lines += ["**CPU dry run:** PyTorch's times are eager CPU calls; the ratios mean nothing.", ""]
    lines += [f"Ratio = PyTorch's time / hwcal's time (> 1: hwcal faster). Share: samples where hwcal runs at >= "
              f"{THRESHOLD} of PyTorch's speed (ratio >= {THRESHOLD}). Verdict per op kind on the median warm ratio.",
              "", "## Per op kind", "",
              "| op | samples | compared | median ratio | share >= 0.97 | worst sample (ratio) | cold median | "
              "cold share | torch kernels / call | verdict |",
              "|---|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    summ = doc.get("summary", {})
    for op, s in summ.get("by_kind", {}).items():
        worst = s.get("worst")
        w = f"{worst['precision']} {worst['label']} ({worst['ratio']:.3f})" if worst else "-"
        kern = "-" if s.get("kernels_median") is None else f"{s['kernels_median']:g} (max {s['kernels_max']})"
        lines.append(f"| {op} | {s['samples']} | {s['compared']} | {fmt_ratio(s.get('median_ratio'))} | "
                     f"{fmt_share(s.get('share_at_threshold'))} | {w} | {fmt_ratio(s.get('median_ratio_cold'))} | "
                     f"{fmt_share(s.get('share_at_threshold_cold'))} | {kern} | {verdict(op, s)} |")
    lines += ["", "## Per op kind and precision", "",
              "| op | precision | samples | compared | median ratio | share >= 0.97 | min | max | cold median | "
              "failed / unsupported / eager | torch call notes |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for key, s in summ.get("by_kind_precision", {}).items():
        op, prec = key.split("/", 1)
        notes = "; ".join(n[:90] for n in s.get("notes", [])[:2]) or ""
        lines.append(f"| {op} | {prec} | {s['samples']} | {s['compared']} | {fmt_ratio(s.get('median_ratio'))} | "
                     f"{fmt_share(s.get('share_at_threshold'))} | {fmt_ratio(s.get('min_ratio'))} | "
                     f"{fmt_ratio(s.get('max_ratio'))} | {fmt_ratio(s.get('median_ratio_cold'))} | "
                     f"{s['errors']} / {s['unsupported']} / {s['eager_fallbacks']} | {notes} |")
    rows = [r for r in doc.get("samples", []) if counted(r, doc.get("device"))]
    rows.sort(key=lambda r: r["ratio"])
    lines += ["", "## Largest gaps (hwcal slowest against PyTorch)", "",
              "| op | precision | shape | hwcal | PyTorch | ratio | PyTorch call | kernels (first names) | hwcal implementation |",
              "|---|---|---|---:|---:|---:|---|---|---|"]
    for r in rows[:20]:
        names = ", ".join(f"{n} x{c}" for n, c in (r.get("kernel_names") or [])[:2])
        lines.append(f"| {r['op']} | {r['precision']} | {r.get('label')} | {fmt_s(r.get('hwcal_s'))} | "
                     f"{fmt_s(r.get('torch_s'))} | {r['ratio']:.3f} | {r.get('torch_call', '')} | "
                     f"{r.get('kernels', '-')}: {names[:120]} | {(r.get('hwcal_impl') or '')[:60]} |")
    bad = [r for r in doc.get("samples", []) if "error" in r or "unsupported" in r or "skipped" in r]
    if bad:
        lines += ["", "## Not compared", "", "| op | precision | shape | why |", "|---|---|---|---|"]
        seen = set()
        for r in bad:
            why = r.get("error") or ("unsupported: " + r["unsupported"] if "unsupported" in r else
                                     "skipped: " + r.get("skipped", ""))
            key = (r["op"], r["precision"], why)
            if key in seen:
                continue
            seen.add(key)
            lines.append(f"| {r['op']} | {r['precision']} | {r.get('label', '')} | {why[:200]} |")
    if doc.get("kernel_profile_error"):
        lines += ["", f"Kernel listing: {doc['kernel_profile_error']}"]
    return "\n".join(lines) + "\n"


def summary_text(doc):
    out = [f"fidelity vs PyTorch ({doc.get('device')}, profile {doc.get('profile', {}).get('path')}): "
           f"{len(doc.get('samples', []))} samples measured of {doc.get('planned')} planned, "
           f"{len(doc.get('not_started', []))} not started, {doc.get('elapsed_s')} s"
           + ("; INTERRUPTED" if doc.get("interrupted") else "") + (f"; {doc['stopped']}" if doc.get("stopped") else ""),
           f"{'op':18s}{'n':>6s}{'median':>9s}{'>=0.97':>8s}{'cold':>8s}{'worst':>8s}  verdict"]
    for op, s in doc.get("summary", {}).get("by_kind", {}).items():
        out.append(f"{op:18s}{s['compared']:6d}{fmt_ratio(s.get('median_ratio')):>9s}"
                   f"{fmt_share(s.get('share_at_threshold')):>8s}{fmt_ratio(s.get('median_ratio_cold')):>8s}"
                   f"{fmt_ratio(s.get('min_ratio')):>8s}  {verdict(op, s)[:70]}")
    return "\n".join(out) + "\n"


def dump(doc):
    """Indented JSON with one sample per line."""
    d = round_floats(doc)
    samples = d.pop("samples", [])
    head = json.dumps(d, indent=1)
    body = ",\n".join("  " + json.dumps(s) for s in samples)
    return head[:-2] + ',\n "samples": [\n' + body + "\n ]\n}\n"


# --------------------------------------------------------------------------- run


class Run:
    def __init__(self, args):
        self.args = args
        self.cuda = args.device == "cuda"
        self.device = torch.device("cuda", torch.cuda.current_device()) if self.cuda else torch.device("cpu")
        self.dev = gt.CudaDevice() if self.cuda else gt.CpuDevice()
        self.rule = DRY if args.dry_run else FULL
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.budget_s
        # the kernel listing runs after the timings, in what they leave of the budget, at least this share
        reserve = min(30.0, 0.15 * args.budget_s) if args.kernels else 0.0
        self.timing_deadline = self.deadline - reserve
        self.flush = None
        if self.cuda and args.cold:
            self.flush = Flush(self.device, flush_bytes(torch.cuda.get_device_properties(self.device)))

    def over_budget(self):
        return time.monotonic() >= self.deadline

    def timing_over(self):
        return time.monotonic() >= self.timing_deadline

    def elapsed(self):
        return round(time.monotonic() - self.t0, 1)


def software_info(cuda):
    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if cuda else None, "host": platform.node(),
            "sdpa": has_sdpa(), "sdpa_enable_gqa": sdpa_has_gqa(), "rms_norm": hasattr(F, "rms_norm"),
            "float8": hasattr(torch, "float8_e4m3fn"), "cuda_graphs": hasattr(torch.cuda, "CUDAGraph")}
    if cuda:
        p = torch.cuda.get_device_properties(torch.cuda.current_device())
        info["device"] = {"name": p.name, "capability": f"{p.major}.{p.minor}", "sm_count": p.multi_processor_count,
                          "memory_bytes": p.total_memory, "l2_bytes": int(getattr(p, "L2_cache_size", 0) or 0)}
    return info


def nvidia_smi():
    try:
        import measure_gpu

        return measure_gpu.nvidia_smi()
    except Exception as e:  # noqa: BLE001
        return {"error": exc_text(e)}


def settings_info(run):
    rule = run.rule
    s = {"timing": (f"CUDA graph of R back-to-back calls (R so a replay lasts ~{rule.graph_s * 1e6:g} us, 1..{rule.max_launches}), "
                    f"median over {rule.replays} replays each between its own events and queued behind a spin kernel "
                    f"(the host's issue untimed), / R; cold: L calls each after an "
                    f"L2 flush ({run.flush.nbytes >> 20 if run.flush else 0} MiB read) in one graph minus a graph of the "
                    f"flushes alone, median of {rule.cold_pairs} paired replays queued the same way, / L (1..{rule.max_cold_launches}); as "
                    "include/hwcal/cuda/measure.hpp")
              if run.cuda else "CPU dry run: eager calls timed with perf_counter (no CUDA graphs, no cold timings)",
         "precisions": "fp32: float32 with TF32 off; tf32: float32 with TF32 on (cuda.matmul and cudnn); bf16, fp16, "
                       "fp64: tensors of that dtype; int8: torch._int_mm; fp8: torch._scaled_mm (e4m3 -> bf16)",
         "defaults": f"NCHW (contiguous) tensors (a channels_last conv2d sample: its input NHWC), "
                     f"cudnn.benchmark False, no autograd, PyTorch's default SDPA backend "
                     f"choice; norms eps {NORM_EPS}; clamp bounds [{CLAMP_LO}, {CLAMP_HI}]",
         "rule": rule._asdict(), "dry_run": run.args.dry_run, "threshold": THRESHOLD}
    for flag in ("flash_sdp_enabled", "mem_efficient_sdp_enabled", "math_sdp_enabled", "cudnn_sdp_enabled"):
        fn = getattr(torch.backends.cuda, flag, None)
        if fn is not None:
            s["sdpa." + flag] = fn()
    return s


def profile_info(path, profile):
    return {"path": os.path.relpath(path, ROOT) if os.path.abspath(path).startswith(ROOT) else path,
            "name": profile.get("name"), "schema_version": profile.get("schema_version"),
            "created_utc": profile.get("created_utc"), "backend": profile.get("backend"),
            "target": profile.get("target"), "mode": profile.get("mode"), "timing": profile.get("timing"),
            "device": (profile.get("device") or {}).get("name"), "fingerprint": profile.get("fingerprint"),
            "software": profile.get("software")}


def _on_term(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


def fidelity(args):
    profile = load_json(args.profile)
    run = Run(args)
    if profile.get("target") not in (None, "cuda"):
        log(f"note: profile target is {profile.get('target')!r}, not cuda")
    items, filtered = plan_items(profile, args.ops, args.precisions, args.max_per_curve, args.max_gflop, args.max_mb)
    doc = {"hwcal_torch_fidelity": FORMAT, "created": now(), "finished": None,
           "command": "python3 validation/gpu/torch_ops.py " + " ".join(args.argv),
           "device": args.device, "budget_s": args.budget_s, "machine": {"nvidia_smi_start": nvidia_smi() if run.cuda else None},
           "software": software_info(run.cuda), "settings": settings_info(run),
           "profile": profile_info(args.profile, profile), "planned": len(items), "filtered": filtered,
           "not_started": [], "interrupted": False, "elapsed_s": 0.0, "summary": {}, "samples": []}
    log(f"{len(items)} samples planned ({filtered} filtered out), budget {args.budget_s:.0f} s, device {args.device}")
    rows = []
    last_write = 0.0

    def checkpoint(final=False):
        doc["samples"] = rows
        doc["elapsed_s"] = run.elapsed()
        doc["not_started"] = [[it["curve"], it["sample"]] for it in items[len(rows):]]
        doc["summary"] = summarize(rows, args.device)
        if final:
            doc["finished"] = now()
            if run.cuda:
                doc["settings"]["spin"] = gt.spin_info(run.dev)
        write_atomic(args.out, dump(doc))

    old = signal.signal(signal.SIGTERM, _on_term)
    torch.set_grad_enabled(False)
    try:
        checkpoint()
        for it in items:
            if run.timing_over():
                doc["stopped"] = f"budget of {args.budget_s:g} s reached"
                break
            row = measure_item(run, it)
            rows.append(row)
            if args.verbose or "error" in row:
                log(f"[{run.elapsed():6.1f} s] {row['op']} {row['precision']} {row.get('label', '')}: "
                    + (f"ERROR {row['error']}" if "error" in row else
                       f"torch {fmt_s(row.get('torch_s'))} hwcal {fmt_s(row.get('hwcal_s'))} "
                       f"ratio {fmt_ratio(row.get('ratio'))}"))
            if run.cuda and "error" in row and not cuda_usable():
                doc["stopped"] = f"CUDA context unusable after {row['op']} {row['precision']} {row.get('label')}"
                log(doc["stopped"])
                break
            if run.cuda and torch.cuda.memory_reserved() > args.max_reserved_gb * 2**30:
                torch.cuda.empty_cache()
            if time.monotonic() - last_write > 5.0:
                checkpoint()
                last_write = time.monotonic()
        if args.kernels and rows and not doc.get("stopped", "").startswith("CUDA"):
            checkpoint()
            err = profile_kernels(run, items, rows)
            if err:
                doc["kernel_profile_error"] = err
    except KeyboardInterrupt:
        doc["interrupted"] = True
        log("interrupted: writing what was measured")
    finally:
        signal.signal(signal.SIGTERM, old)
    if run.cuda:
        doc["machine"]["nvidia_smi_end"] = nvidia_smi()
    checkpoint(final=True)
    if args.md:
        write_atomic(args.md, markdown(round_floats(doc)))
    return doc


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fidelity", help="time PyTorch on every sample of a profile")
    f.add_argument("--profile", required=True, help="hwcal profile JSON (a CUDA profile; .gz accepted)")
    f.add_argument("--out", required=True, help="results JSON (rewritten as the run goes)")
    f.add_argument("--md", default=None, help="markdown table to write at the end")
    f.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    f.add_argument("--dry-run", action="store_true", help="minimal repetitions and small shapes: checks that it runs")
    f.add_argument("--budget-s", type=float, default=240.0, help="no sample starts after this (default 240)")
    f.add_argument("--ops", nargs="+", default=None, help="only these op kinds")
    f.add_argument("--precisions", nargs="+", default=None, help="only these precisions")
    f.add_argument("--max-per-curve", type=int, default=None, help="at most N samples per curve (spread over sizes)")
    f.add_argument("--max-gflop", type=float, default=None, help="skip samples above this many GFLOP")
    f.add_argument("--max-mb", type=float, default=None, help="skip samples moving more than this many MB")
    f.add_argument("--no-cold", dest="cold", action="store_false", help="skip the cold (L2-flushed) timings")
    f.add_argument("--no-kernels", dest="kernels", action="store_false", help="skip the torch.profiler kernel list")
    f.add_argument("--max-reserved-gb", type=float, default=40.0, help="empty PyTorch's cache above this")
    f.add_argument("--verbose", action="store_true", help="one line per sample")
    s = sub.add_parser("summary", help="print the per-kind table of a results file")
    s.add_argument("results")
    m = sub.add_parser("markdown", help="write the markdown of a results file")
    m.add_argument("results")
    m.add_argument("--md", required=True)
    args = ap.parse_args(argv)
    args.argv = list(argv)
    if args.cmd == "fidelity" and args.dry_run:
        # CPU checks: the smallest samples of each curve only
        args.max_per_curve = 2 if args.max_per_curve is None else args.max_per_curve
        args.max_gflop = 0.5 if args.max_gflop is None else args.max_gflop
        args.max_mb = 64.0 if args.max_mb is None else args.max_mb
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.cmd == "summary":
        sys.stdout.write(summary_text(load_json(args.results)))
        return 0
    if args.cmd == "markdown":
        write_atomic(args.md, markdown(load_json(args.results)))
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        log("no CUDA device: use --device cpu --dry-run for a CPU check")
        return 2
    doc = fidelity(args)
    sys.stdout.write(summary_text(round_floats(doc)))
    return 3 if doc.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
