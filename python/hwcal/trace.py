"""Trace a PyTorch model with torch.fx, run it once on real inputs while keeping
every node's inputs (shapes as torch.fx's ShapeProp sees them, plus the values
that decide a path), and map each node to hwcal workload subgraphs
(docs/workload.md, format v1).

    import hwcal
    doc = hwcal.trace(model, (x,))                 # {"hwcal_workload": 1, ..., "subgraphs": [...], "unmapped": [...]}
    doc = hwcal.trace(model, x, fuse=True)         # Conv+BN(+ReLU), Linear+activation folded

    python3 -m hwcal.trace torchvision.models:resnet18 --input-shape 1,3,224,224 -o resnet18.json
    hwcal trace my_model.py:build --input-shape 1,128 --dtype int64 -o my_model.json

`hwcal.trace` is this module, and calling it calls `trace_model` (the public
name of the tracer; `from hwcal.trace import capture, ...` still reaches the
pieces validation/ uses).

Every graph node that does work becomes one *unit*. A unit is what a
measurement script times in isolation; it carries zero or more hwcal subgraphs,
and the unit's measured time is compared with the sum of its subgraphs'
predictions. Categories:

  scored    mapped to >= 1 subgraph
  view      pure view / metadata (view, reshape or flatten of a contiguous tensor,
            permute, expand, getitem, .shape, _assert, int arithmetic)
  noop      returns its input unchanged in eval (Dropout, Identity, StochasticDepth)
  unmapped  produces a tensor but has no mapping: listed (workload "unmapped",
            and on stderr by the command line), never dropped silently

Works with torch 1.13 and 2.x. Leaf modules: everything in torch.nn (the fx
default, so MultiheadAttention and TransformerEncoderLayer stay single nodes),
plus modules recognised by class name (`leaf_kind`): *RMSNorm*, rotary
embeddings (*Rotary* / *RoPE*) and SiLU-and-multiply activations (*SiluAndMul*
/ *SwiGLU* without parameters), which fx often cannot trace through (slicing by
a traced position). Such a leaf is run with its aten ops recorded (a
TorchDispatchMode): when each maps to an op kind, the unit is that chain, the
kernels PyTorch launches (a model's own RMSNorm: a cast, x^2, mean, + eps,
rsqrt, two muls); when one does not (a framework's fused kernel), the unit is
the one fused op the name says (rmsnorm, rotary, silu_mul). Functions such as
HF's rotate_half and silu(g) * u are traced as their primitive ops.
"""
from __future__ import annotations

import argparse
import copy
import dis
import importlib
import importlib.util
import inspect
import json
import math
import operator
import os
import sys
import types

import torch
import torch.fx as fx
import torch.nn as nn
from torch.fx.proxy import Proxy

CALL_OPS = ("call_module", "call_function", "call_method")

# --------------------------------------------------------------------------- tracing


def _proxy_iter(self):
    """torch 1.13's Proxy.__iter__ finds the UNPACK_SEQUENCE after the call by
    indexing instructions with f_lasti // 2, which is wrong on Python 3.11 (cache
    entries); look the instruction up by offset instead, so `n, c, h, w = x.shape`
    (torchvision's ViT) traces. torch 2.x does the same lookup itself."""
    frame = inspect.currentframe().f_back
    for inst in dis.get_instructions(frame.f_code):
        if inst.offset == frame.f_lasti:
            if inst.opname == "UNPACK_SEQUENCE":
                return (self[i] for i in range(inst.argval))
            break
    return self.tracer.iter(self)


def _needs_iter_fix() -> bool:
    return int(torch.__version__.split(".")[0]) < 2


def leaf_kind(mod: nn.Module):
    """The workload op a module outside torch.nn is recognised as by its class
    name ("rmsnorm", "rotary", "silu_mul"), or None. Rotary and SiLU-and-multiply
    modules qualify only without parameters (a `SwiGLU` holding its linears is an
    MLP, traced through)."""
    lname = type(mod).__name__.lower()
    has_params = any(True for _ in mod.parameters())
    if "rmsnorm" in lname:
        return "rmsnorm"
    if ("rotary" in lname or "rope" in lname) and not has_params:
        return "rotary"
    if ("siluandmul" in lname or "swiglu" in lname) and not has_params:
        return "silu_mul"
    return None


class LeafTracer(fx.Tracer):
    """fx's default leaves (torch.nn modules) plus the modules `leaf_kind`
    recognises."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return super().is_leaf_module(m, module_qualified_name) or leaf_kind(m) is not None


def trace(model: nn.Module) -> fx.GraphModule:
    """symbolic_trace with `LeafTracer`."""
    orig = Proxy.__iter__
    if _needs_iter_fix():
        Proxy.__iter__ = _proxy_iter
    try:
        tracer = LeafTracer()
        graph = tracer.trace(model)
    finally:
        Proxy.__iter__ = orig
    return fx.GraphModule(tracer.root, graph)


# --------------------------------------------------------------------------- helpers


def _tensors(x):
    """Flat list of the tensors inside args/kwargs/tuples."""
    out = []
    if isinstance(x, torch.Tensor):
        out.append(x)
    elif isinstance(x, (list, tuple)):
        for y in x:
            out.extend(_tensors(y))
    elif isinstance(x, dict):
        for y in x.values():
            out.extend(_tensors(y))
    return out


def _storage_ptr(t: torch.Tensor) -> int:
    """Address of a tensor's storage (untyped_storage on torch 2.x, where storage()
    is deprecated)."""
    storage = t.untyped_storage() if hasattr(t, "untyped_storage") else t.storage()
    return storage.data_ptr()


def _pair(v):
    if isinstance(v, (tuple, list)):
        a, b = int(v[0]), int(v[1]) if len(v) > 1 else int(v[0])
    else:
        a = b = int(v)
    return a if a == b else [a, b]


def _pair2(v):
    p = _pair(v)
    return (p, p) if isinstance(p, int) else tuple(p)


def _nchw(x: torch.Tensor):
    if x.dim() == 4:
        return [int(d) for d in x.shape]
    if x.dim() == 3:  # unbatched CHW
        return [1] + [int(d) for d in x.shape]
    raise ValueError(f"expected a 3-D or 4-D input, got {tuple(x.shape)}")


def _arg(args, kwargs, index, name, default=None):
    """A call's argument by position or keyword."""
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _target_key(node: fx.Node) -> str:
    if node.op == "call_method":
        return str(node.target)
    t = node.target
    return getattr(t, "__name__", str(t))


def target_label(node: fx.Node, gm: fx.GraphModule) -> str:
    """Human-readable description of what a node calls."""
    if node.op == "call_module":
        return type(gm.get_submodule(node.target)).__name__
    if node.op == "call_method":
        return "Tensor." + str(node.target)
    t = node.target
    mod = getattr(t, "__module__", None) or ""
    name = getattr(t, "__name__", str(t))
    if mod in ("_operator", "operator"):
        return "operator." + name
    if mod.startswith("torch"):
        return ("torch." if mod == "torch" else mod + ".") + name
    return (mod + "." if mod else "") + name


# Functions/methods that are views or metadata when their output shares storage
# with an input (or is not a tensor); otherwise they materialize a copy.
VIEW_KEYS = {
    "view", "reshape", "flatten", "permute", "transpose", "t", "expand", "expand_as", "unsqueeze", "squeeze",
    "getitem", "chunk", "split", "unbind", "narrow", "select", "contiguous", "view_as", "reshape_as",
    "size", "dim", "getattr", "_assert", "detach", "type_as", "to", "float",
}
NOOP_KEYS = {"dropout", "stochastic_depth", "alpha_dropout", "feature_alpha_dropout", "identity"}
BINARY_KEYS = {
    "add": "add", "iadd": "add", "add_": "add", "radd": "add",
    "sub": "add", "isub": "add", "sub_": "add", "rsub": "add",
    "mul": "mul", "imul": "mul", "mul_": "mul", "rmul": "mul",
    "truediv": "div", "itruediv": "div", "div": "div", "div_": "div",
}
ACT_KEYS = {
    "relu": "relu", "relu_": "relu", "relu6": "relu6", "hardtanh": "hardtanh", "hardtanh_": "hardtanh",
    "clamp": "clamp", "clamp_": "clamp", "clip": "clamp", "clip_": "clamp", "clamp_min": "clamp",
    "clamp_min_": "clamp", "clamp_max": "clamp", "clamp_max_": "clamp",
    "gelu": "gelu", "silu": "silu", "silu_": "silu", "sigmoid": "sigmoid", "sigmoid_": "sigmoid",
    "hardswish": "hardswish", "hardswish_": "hardswish", "hardsigmoid": "hardsigmoid", "hardsigmoid_": "hardsigmoid",
    "tanh": "tanh", "tanh_": "tanh",
}
# elementwise math with an op kind of its own (pow: by its exponent, `_pow_unit`)
MATH_KEYS = {"neg": "neg", "neg_": "neg", "exp": "exp", "exp_": "exp", "square": "square", "square_": "square",
             "sqrt": "sqrt", "sqrt_": "sqrt", "rsqrt": "rsqrt", "rsqrt_": "rsqrt"}
POW_KEYS = {"pow", "pow_"}
# elementwise and reduction functions with no op in the workload format: unmapped, said so
NO_KIND_KEYS = {"log", "abs", "reciprocal", "sin", "cos", "where", "masked_fill", "tril", "triu", "sum", "amax",
                "max", "min", "var", "std", "norm"}
COPY_KEYS = {"repeat_interleave": "repeat_interleave", "repeat": "repeat"}
INPLACE_FUNC_KEYS = {"iadd", "isub", "imul", "itruediv"}

MODULE_ACTS = {
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Hardtanh: "hardtanh", nn.GELU: "gelu", nn.SiLU: "silu",
    nn.Sigmoid: "sigmoid", nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid", nn.Tanh: "tanh",
}
MODULE_NOOPS = (nn.Dropout, nn.Dropout2d, nn.AlphaDropout, nn.Identity)
RMSNORM_CLASSES = tuple(c for c in (getattr(nn, "RMSNorm", None),) if c is not None)  # torch >= 2.4


def _call_mutates(node: fx.Node) -> bool:
    """Whether a call_function / call_method node mutates its first argument."""
    if node.op == "call_function":
        return _target_key(node) in INPLACE_FUNC_KEYS or bool(node.kwargs.get("inplace", False))
    if node.op == "call_method":
        t = str(node.target)
        return t.endswith("_") and not t.endswith("__")
    return False


def is_inplace(node: fx.Node, gm: fx.GraphModule) -> bool:
    """Whether the node mutates its first tensor argument."""
    if node.op == "call_module":
        return bool(getattr(gm.get_submodule(node.target), "inplace", False))
    return _call_mutates(node)


def _unit(category, kind=None, subgraphs=None, note=None):
    u = {"category": category, "kind": kind, "subgraphs": subgraphs or []}
    if note:
        u["note"] = note
    return u


def _join(*notes):
    return "; ".join(n for n in notes if n) or None


def _elementwise(name, op, out, tensors_in, note=None, inplace=False):
    """Unary or binary elementwise subgraph; a broadcast second input counts its
    own element count (`broadcast`); `inplace` when the op overwrites its input
    (nn.ReLU(inplace=True) and friends)."""
    sg = {"name": name, "op": op, "elements": int(out.numel())}
    if inplace:
        sg["inplace"] = True
    if len(tensors_in) >= 2:
        sg["inputs"] = 2
        small = min(int(t.numel()) for t in tensors_in[:2])
        if small < out.numel():
            if small > 0 and out.numel() % small == 0:
                sg["broadcast"] = small
            else:
                note = _join(note, f"broadcast input of {small} elements does not divide the output")
    else:
        sg["inputs"] = 1
    return _unit("scored", op, [sg], note)


def _bytes(t: torch.Tensor) -> int:
    return int(t.numel() * t.element_size())


# A gather whose source runs are at least a cache line long moves whole lines,
# each read and written in order, as a copy does; shorter runs (an element
# transpose) touch a line per element.
_LINE_BYTES = 64
# A permuted copy's cost class (validation/gpu/explore_permute.py, an H100):
# PyTorch copies any permuted layout element by element with index
# arithmetic, 1.2-2.4x a contiguous copy whatever the length of its runs (2 B
# to 6 KB), while an element transpose of two large dimensions, where each
# of a warp's consecutive outputs reads its own sector, costs 3-8x. So the
# test is how many 32-byte sectors the first 32 outputs read beside a copy's.
_SECTOR_BYTES = 32
_WARP = 32
_TRANSPOSE_SECTORS = 4  # sectors read beyond this multiple of a copy's: a transpose


def _sectors_read(t: torch.Tensor) -> tuple[int, int]:
    """(32-byte sectors the first 32 elements of t, in t's order, read; those a
    contiguous tensor's would)."""
    n = min(_WARP, t.numel())
    es = t.element_size()
    sectors = set()
    for i in range(n):
        off, rest = 0, i
        for size, stride in zip(reversed(t.shape), reversed(t.stride())):
            off += (rest % size) * stride
            rest //= size
        sectors.add(off * es // _SECTOR_BYTES)
    return len(sectors), max(1, -(-n * es // _SECTOR_BYTES))


def _gather_op(inputs):
    """How a copy reads its sources: "copy" when every source is contiguous; a
    "permute" when one is laid out otherwise but its consecutive elements read
    few sectors more than a copy's (a channel shuffle, a split or merge of
    attention heads, an expand); a "transpose" when they read a sector each."""
    op = "copy"
    for t in inputs:
        if t.numel() == 0 or t.is_contiguous():
            continue
        read, contiguous = _sectors_read(t)
        if read > _TRANSPOSE_SECTORS * contiguous:
            return "transpose"
        op = "permute"
    return op


def _copy_unit(name, out, inputs, note=None):
    """A reshape/contiguous that materialized, as _gather_op reads it."""
    op = _gather_op(inputs)
    return _unit("scored", op, [{"name": name, "op": op, "bytes": _bytes(out)}], note)


def _rows_cols(name, op, x, cols):
    return _unit("scored", op, [{"name": name, "op": op, "rows": int(x.numel()) // cols, "cols": cols}])


# --------------------------------------------------------------------------- attention


def _heads_op(head_dim, element_size):
    """The op of an attention block's head split or merge: both paths rearrange q,
    k, v into [B*H, L, D] (fast path: _transform_bias_rescale_qkv, one kernel
    that also adds the bias; slow path: .contiguous() of the chunked
    projections), runs of head_dim elements: a copy when that is a cache line
    or more, else a transpose. (Not _gather_op's permute: this rule predates
    it, and the blocks it describes are predicted within 9-11% per layer on
    an H100 with it, 4-9% over; a permute's curve would add to that.)"""
    return "copy" if head_dim * element_size >= _LINE_BYTES else "transpose"


def _mha_subgraphs(prefix, mha: nn.MultiheadAttention, q, k, v, batch_first):
    """Self- or cross-attention as qkv projection(s), head split, attention, head
    merge and output projection."""
    if batch_first:
        B, L, E = (int(d) for d in q.shape)
        S = int(k.shape[1])
    else:
        L, B, E = (int(d) for d in q.shape)
        S = int(k.shape[0])
    H = mha.num_heads
    D = E // H
    bias = mha.in_proj_bias is not None
    es = q.element_size()
    sgs = []
    if q is k and k is v and mha._qkv_same_embed_dim:
        sgs.append({"name": f"{prefix}.qkv", "op": "linear", "m": B * L, "n": 3 * E, "k": E, "bias": bias})
    else:
        sgs.append({"name": f"{prefix}.q", "op": "linear", "m": B * L, "n": E, "k": E, "bias": bias})
        sgs.append({"name": f"{prefix}.k", "op": "linear", "m": B * S, "n": E, "k": int(k.shape[-1]), "bias": bias})
        sgs.append({"name": f"{prefix}.v", "op": "linear", "m": B * S, "n": E, "k": int(v.shape[-1]), "bias": bias})
    heads_op = _heads_op(D, es)
    sgs.append({"name": f"{prefix}.split_heads", "op": heads_op, "bytes": (B * L + 2 * B * S) * E * es})
    sgs.append({"name": f"{prefix}.attn", "op": "attention", "batch": B, "heads": H, "seq_q": L, "seq_kv": S,
                "head_dim": D, "causal": False})
    sgs.append({"name": f"{prefix}.merge_heads", "op": heads_op, "bytes": B * L * E * es})
    sgs.append({"name": f"{prefix}.out_proj", "op": "linear", "m": B * L, "n": E, "k": E,
                "bias": mha.out_proj.bias is not None})
    return sgs


def _fast_path_of(events):
    names = set(events)
    if "aten::_transformer_encoder_layer_fwd" in names:
        return "native _transformer_encoder_layer_fwd"
    if "aten::_native_multi_head_attention" in names:
        return "native _native_multi_head_attention"
    return "python (F.multi_head_attention_forward)"


def _tel_subgraphs(prefix, tel: nn.TransformerEncoderLayer, x, events):
    sgs = _mha_subgraphs(prefix + ".self_attn", tel.self_attn, x, x, x, tel.self_attn.batch_first)
    B_L = int(x.numel()) // int(x.shape[-1])
    E = int(x.shape[-1])
    FF = tel.linear1.out_features
    act_name = "gelu" if tel.activation_relu_or_gelu == 2 else "relu" if tel.activation_relu_or_gelu == 1 else None
    if act_name is None:
        act = tel.activation
        act_name = MODULE_ACTS.get(type(act)) or getattr(act, "__name__", "relu")
    ln1 = {"name": f"{prefix}.norm1", "op": "layernorm", "rows": B_L, "cols": E}
    ln2 = {"name": f"{prefix}.norm2", "op": "layernorm", "rows": B_L, "cols": E}
    add1 = {"name": f"{prefix}.add1", "op": "add", "elements": B_L * E, "inputs": 2}
    add2 = {"name": f"{prefix}.add2", "op": "add", "elements": B_L * E, "inputs": 2}
    l1 = {"name": f"{prefix}.linear1", "op": "linear", "m": B_L, "n": FF, "k": E, "bias": tel.linear1.bias is not None}
    l2 = {"name": f"{prefix}.linear2", "op": "linear", "m": B_L, "n": E, "k": FF, "bias": tel.linear2.bias is not None}
    ffn = [l1]
    # the native path computes linear1 + bias + activation in one addmm (_addmm_activation)
    if "aten::_addmm_activation" in set(events):
        l1["fused"] = [act_name]
    else:
        ffn.append({"name": f"{prefix}.{act_name}", "op": act_name, "elements": B_L * FF, "inputs": 1})
    ffn.append(l2)
    if tel.norm_first:
        return [ln1] + sgs + [add1, ln2] + ffn + [add2]
    return sgs + [add1, ln1] + ffn + [add2, ln2]


def _sdpa_unit(name, args, kwargs):
    """F.scaled_dot_product_attention(q [B, H, L, D], k [B, Hkv, S, D], v, attn_mask,
    dropout_p, is_causal, scale, enable_gqa) -> one attention subgraph."""
    q, k, v = (_arg(args, kwargs, i, n) for i, n in enumerate(("query", "key", "value")))
    if q.dim() < 3:
        return _unit("unmapped", note=f"attention on a {q.dim()}-D query")
    L, D = int(q.shape[-2]), int(q.shape[-1])
    H, Hkv, S = int(q.shape[-3]), int(k.shape[-3]), int(k.shape[-2])
    sg = {"name": name, "op": "attention", "batch": int(q.numel()) // (H * L * D), "heads": H, "kv_heads": Hkv,
          "seq_q": L, "seq_kv": S, "head_dim": D, "causal": bool(_arg(args, kwargs, 5, "is_causal", False))}
    notes = []
    if _arg(args, kwargs, 3, "attn_mask") is not None:
        notes.append("attn_mask given: mask predicted as unmasked")
    if float(_arg(args, kwargs, 4, "dropout_p", 0.0) or 0.0) > 0:
        notes.append("dropout_p > 0 not modelled")
    if int(v.shape[-1]) != D:
        notes.append(f"value head_dim {int(v.shape[-1])} differs from the query's {D}")
    return _unit("scored", "attention", [sg], _join(*notes))


# --------------------------------------------------------------------------- named leaves


def _rmsnorm_unit(name, mod, x):
    shape = getattr(mod, "normalized_shape", None)
    weight = getattr(mod, "weight", None)
    if shape:
        cols = math.prod(shape)
    elif isinstance(weight, torch.Tensor):
        cols = int(weight.numel())
    else:
        cols = int(x.shape[-1])
    return _rows_cols(name, "rmsnorm", x, cols)


def _rotary_subgraph(name, t: torch.Tensor):
    """Rotary embedding of one tensor laid out [batch, heads, seq, head_dim] (SDPA's
    layout; 3-D: [tokens, heads, head_dim])."""
    if t.dim() == 4:
        B, H, L, D = (int(d) for d in t.shape)
        return {"name": name, "op": "rotary", "tokens": B * L, "heads": H, "head_dim": D}
    T, H, D = (int(d) for d in t.shape)
    return {"name": name, "op": "rotary", "tokens": T, "heads": H, "head_dim": D}


def _rotary_unit(name, ins, out):
    """A rotary module/function applied to q or k: one rotary subgraph per output,
    each output matched to a distinct input of its shape (a call rotating q and k
    together gives two). Anything else (e.g. a module returning cos/sin tables
    shaped like its input) stays unmapped."""
    outs = _tensors(out)
    free = [t for t in ins if t.dim() in (3, 4)]
    for t in outs:
        match = next((i for i, f in enumerate(free) if f.shape == t.shape), None)
        if match is None:
            return _unit("unmapped", note="rotary embedding that does not return its rotated inputs "
                                          "(cos/sin tables?)")
        free.pop(match)
    if len(outs) == 1:
        return _unit("scored", "rotary", [_rotary_subgraph(name, outs[0])])
    return _unit("scored", "rotary", [_rotary_subgraph(f"{name}.{i}", t) for i, t in enumerate(outs)])


try:  # a private module of torch (1.13 and 2.x); without it named leaves map to their fused op
    from torch.utils._python_dispatch import TorchDispatchMode
except ImportError:  # pragma: no cover
    TorchDispatchMode = None


if TorchDispatchMode is not None:
    class _AtenRecorder(TorchDispatchMode):
        """Records the aten ops a call runs, after PyTorch has decomposed its
        composite ops: the kernels it launches, one per recorded op."""

        def __init__(self):
            super().__init__()
            self.calls = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            self.calls.append((func.overloadpacket.__name__, args, kwargs, out))
            return out


def _recorded_call(fn):
    """(output, [(aten op name, args, kwargs, output)]) of fn(); no list where
    this torch has no dispatch modes."""
    if TorchDispatchMode is None:
        return fn(), None
    rec = _AtenRecorder()
    with rec:
        out = fn()
    return out, rec.calls


def _shares_storage(outs, ins) -> bool:
    """Whether every tensor of outs lives in the storage of one of ins (a view)."""
    ptrs = {_storage_ptr(t) for t in ins if t.numel() > 0}
    return bool(outs) and all(t.numel() == 0 or _storage_ptr(t) in ptrs for t in outs)


def _eager_chain(name, calls, x):
    """The subgraphs of the aten ops a named leaf ran, in order, and their names;
    (None, the op) when one has no mapping (a framework's fused kernel, such as
    a custom rms_norm op, or an op with no kind). Views are skipped; dtype
    conversions are copies; ops computing in fp32 inside a 16-bit leaf (Llama's
    RMSNorm upcasts) carry precision fp32."""
    sgs, ops = [], []
    half = isinstance(x, torch.Tensor) and x.dtype in (torch.float16, torch.bfloat16)
    for i, (key, args, kwargs, out) in enumerate(calls):
        ins, outs = _tensors(args) + _tensors(kwargs), _tensors(out)
        if not outs or _shares_storage(outs, ins) and not key.endswith("_"):
            continue  # a view (slice, split, expand, ...) or metadata
        if key in ("_to_copy", "clone", "copy_"):
            unit = _copy_unit(f"{name}.{i}", outs[0], ins)
        else:
            unit = map_call(key, f"{name}.{i}", args, kwargs, out, mutates=key.endswith("_"))
        if unit["category"] in ("view", "noop"):
            continue
        if unit["category"] != "scored":
            return None, key
        fp32 = half and all(t.dtype == torch.float32 for t in outs)
        for sg in unit["subgraphs"]:
            if fp32:
                sg["precision"] = "fp32"
            sgs.append(sg)
        ops.append(key)
    return sgs, ops


def _named_leaf_unit(kind, name, mod, args, out, calls=None):
    """A module recognised by its class name: the chain of kernels PyTorch ran
    for it when every one maps (a model's own RMSNorm or rotary written in
    torch ops runs 5-8 kernels), else the one fused op its name says (a
    framework's kernel)."""
    ins = _tensors(args)
    if calls:
        sgs, ops = _eager_chain(name, calls, ins[0] if ins else None)
        if sgs:
            return _unit("scored", kind, sgs, f"ran {len(ops)} kernels: " + ", ".join(ops))
    if kind == "rmsnorm":
        return _rmsnorm_unit(name, mod, ins[0])
    if kind == "rotary":
        return _rotary_unit(name, ins, out)
    return _unit("scored", "silu_mul", [{"name": name, "op": "silu_mul", "elements": int(out.numel()), "inputs": 2}])


# --------------------------------------------------------------------------- mapping


def _conv_unit(name, mod: nn.Conv2d, x):
    n, c, h, w = _nchw(x)
    pad = mod.padding
    if isinstance(pad, str):
        pad = (0, 0) if pad == "valid" else tuple(d * (k - 1) // 2 for d, k in zip(mod.dilation, mod.kernel_size))
    sg = {"name": name, "op": "conv2d", "n": n, "c": c, "h": h, "w": w, "k": mod.out_channels,
          "r": mod.kernel_size[0], "s": mod.kernel_size[1], "stride": _pair(mod.stride), "padding": _pair(pad),
          "dilation": _pair(mod.dilation), "groups": mod.groups, "bias": mod.bias is not None}
    if _channels_last(x) or _channels_last(mod.weight):
        sg["channels_last"] = True
    note = None if mod.padding_mode == "zeros" else f"padding_mode={mod.padding_mode} predicted as zero padding"
    return _unit("scored", "conv2d", [sg], note)


def _channels_last(t: torch.Tensor) -> bool:
    """Whether t is laid out NHWC (channels_last) and not NCHW: what a permute
    leaves (ConvNeXt's blocks) or .to(memory_format=torch.channels_last) makes.
    PyTorch's cuDNN convolution then runs on NHWC tensors (when the input or
    the weight is), other kernels than NCHW's. A tensor that is both (1x1
    maps, one channel) counts as NCHW, as PyTorch's own choice does."""
    return t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def _pool_unit(name, mod, x, out):
    n, c, h, w = _nchw(x)
    r, s = _pair2(mod.kernel_size)
    st = mod.stride if mod.stride is not None else mod.kernel_size
    sh, sw = _pair2(st)
    ph, pw = _pair2(mod.padding)
    op = "maxpool" if isinstance(mod, nn.MaxPool2d) else "avgpool"
    sg = {"name": name, "op": op, "n": n, "c": c, "h": h, "w": w, "r": r, "s": s, "stride": _pair((sh, sw)),
          "padding": _pair((ph, pw))}
    notes = []
    if isinstance(mod, nn.MaxPool2d) and _pair(mod.dilation) != 1:
        notes.append("dilated maxpool predicted as undilated")
    floor_h, floor_w = (h + 2 * ph - r) // sh + 1, (w + 2 * pw - s) // sw + 1
    if (int(out.shape[-2]), int(out.shape[-1])) != (floor_h, floor_w):
        notes.append("ceil_mode changes the output size; predicted with floor")
    if isinstance(mod, nn.AvgPool2d) and (not mod.count_include_pad or mod.divisor_override):
        notes.append("avgpool divisor differs from the default")
    return _unit("scored", op, [sg], _join(*notes))


def _adaptive_pool_unit(name, x, out):
    n, c, h, w = _nchw(x)
    return _unit("scored", "adaptive_avgpool", [{"name": name, "op": "adaptive_avgpool", "n": n, "c": c, "h": h,
                                                 "w": w, "out_h": int(out.shape[-2]), "out_w": int(out.shape[-1])}])


def _module_act_unit(name, mod, x, out):
    op = MODULE_ACTS[type(mod)]
    note = None
    if isinstance(mod, nn.GELU) and getattr(mod, "approximate", "none") != "none":
        note = "GELU(approximate='tanh') predicted as gelu"
    return _elementwise(name, op, out, [x], note, inplace=bool(getattr(mod, "inplace", False)))


def _embedding_unit(name, ids, vocab, dim, note=None):
    return _unit("scored", "embedding", [{"name": name, "op": "embedding", "tokens": int(ids.numel()),
                                          "vocab": int(vocab), "dim": int(dim)}], note)


def named_leaf_kind(mod: nn.Module):
    """The fused op a leaf module stands for: nn.RMSNorm, or a class name
    `leaf_kind` recognises; None for the rest."""
    return "rmsnorm" if isinstance(mod, RMSNORM_CLASSES) else leaf_kind(mod)


def map_module(node, mod, args, kwargs, out, events=None, aten_calls=None):
    """Unit of a call_module node, given its real inputs and output. `events`: the
    aten op names the module ran (profiled for attention modules, whose eval path
    depends on the inputs); `aten_calls`: the aten ops a named leaf ran
    (`_recorded_call`)."""
    name = node.name
    x = args[0] if args else None
    if isinstance(mod, MODULE_NOOPS):
        return _unit("noop", note=type(mod).__name__ + " in eval returns its input")
    if type(mod).__name__ == "StochasticDepth":
        return _unit("noop", note="StochasticDepth in eval returns its input")
    kind = named_leaf_kind(mod)
    if kind is not None:
        return _named_leaf_unit(kind, name, mod, args, out, aten_calls)
    if isinstance(mod, nn.Conv2d):
        return _conv_unit(name, mod, x)
    if isinstance(mod, nn.BatchNorm2d):
        n, c, h, w = _nchw(x)
        return _unit("scored", "batchnorm", [{"name": name, "op": "batchnorm", "n": n, "c": c, "h": h, "w": w}])
    if isinstance(mod, nn.BatchNorm1d):
        n, c = int(x.shape[0]), int(x.shape[1])
        hw = int(x.numel()) // (n * c)
        return _unit("scored", "batchnorm", [{"name": name, "op": "batchnorm", "n": n, "c": c, "h": hw, "w": 1}])
    if type(mod) in MODULE_ACTS:
        return _module_act_unit(name, mod, x, out)
    if isinstance(mod, nn.Linear):
        m = int(x.numel()) // mod.in_features
        return _unit("scored", "linear", [{"name": name, "op": "linear", "m": m, "n": mod.out_features,
                                           "k": mod.in_features, "bias": mod.bias is not None}])
    if isinstance(mod, nn.Embedding):
        note = "max_norm renormalisation not modelled" if mod.max_norm is not None else None
        return _embedding_unit(name, x, mod.num_embeddings, mod.embedding_dim, note)
    if isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)):
        return _pool_unit(name, mod, x, out)
    if isinstance(mod, nn.AdaptiveAvgPool2d):
        return _adaptive_pool_unit(name, x, out)
    if isinstance(mod, nn.LayerNorm):
        return _rows_cols(name, "layernorm", x, math.prod(mod.normalized_shape))
    if isinstance(mod, nn.Softmax):
        dim = mod.dim if mod.dim is not None else -1
        u = _rows_cols(name, "softmax", x, int(x.shape[dim]))
        if dim not in (-1, x.dim() - 1):
            u["note"] = "softmax over a non-last dimension"
        return u
    if isinstance(mod, nn.Flatten):
        return _view_or_copy("flatten", name, args, out)
    if isinstance(mod, nn.MultiheadAttention):
        q = _arg(args, kwargs, 0, "query")
        k = _arg(args, kwargs, 1, "key")
        v = _arg(args, kwargs, 2, "value")
        sgs = _mha_subgraphs(name, mod, q, k, v, mod.batch_first)
        return _unit("scored", "mha", sgs, "path: " + _fast_path_of(events or []))
    if isinstance(mod, nn.TransformerEncoderLayer):
        sgs = _tel_subgraphs(name, mod, x, events or [])
        return _unit("scored", "encoder_layer", sgs, "path: " + _fast_path_of(events or []))
    return _unit("unmapped", note=f"no mapping for module {type(mod).__name__}")


def _view_or_copy(key, name, args, out):
    ins = _tensors(args)
    if not isinstance(out, torch.Tensor):
        return _unit("view", note="metadata")
    if any(out is t for t in ins):
        return _unit("view", note="returns its input")
    if _shares_storage([out], ins):
        return _unit("view")
    return _copy_unit(name, out, ins, note=f"{key} materialized a copy")


def _matmul_unit(name, a, b, out):
    m, k = int(a.shape[-2]) if a.dim() > 1 else 1, int(a.shape[-1])
    n = int(b.shape[-1]) if b.dim() > 1 else 1
    batch = int(out.numel()) // (m * n)
    return _unit("scored", "matmul", [{"name": name, "op": "matmul", "batch": batch, "m": m, "n": n, "k": k}])


def _act_call_unit(key, name, kwargs, ins, out):
    note = None
    if key == "gelu" and kwargs.get("approximate", "none") != "none":
        note = "gelu(approximate='tanh') predicted as gelu"
    if ACT_KEYS[key] == "clamp" and len(ins) > 1:
        note = "tensor bounds predicted as scalar bounds"
    inplace = key.endswith("_") or bool(kwargs.get("inplace", False))
    return _elementwise(name, ACT_KEYS[key], out, ins[:1], note, inplace=inplace)


def _is_rotary_call(key: str) -> bool:
    k = key.lower()
    return "rotary" in k or "rope" in k


def _pow_unit(name, args, kwargs, ins, out, inplace):
    """x ** p for a number p: PyTorch runs p = 2 as x * x, 0.5 as sqrt and -0.5
    as rsqrt; another exponent is one pow kernel as memory-bound as those, so it
    is predicted as square, said so."""
    p = _arg(args, kwargs, 1, "exponent")
    if len(ins) != 1 or not isinstance(p, (int, float)):
        return _unit("unmapped", note="pow with a tensor exponent: no op kind in the workload format")
    op = {2: "square", 0.5: "sqrt", -0.5: "rsqrt"}.get(p, "square")
    note = None if p in (2, 0.5, -0.5) else f"pow(x, {p}) predicted as square"
    return _elementwise(name, op, out, ins[:1], note, inplace=inplace)


def _concat_subgraph(name, ins, out):
    """A concat with its input count and, when the inputs differ in size, the
    bytes of the largest: PyTorch's concat kernel gives every input the blocks
    its largest needs, so one large and many small inputs (DenseNet) cost more
    than their bytes say."""
    sg = {"name": name, "op": "concat", "bytes": _bytes(out), "inputs": max(len(ins), 1)}
    # (in the output's bytes: a concat that promotes its inputs' dtype still has a valid shape)
    largest = min(max((_bytes(t) for t in ins), default=0), sg["bytes"])
    if largest * sg["inputs"] > sg["bytes"]:
        sg["largest"] = largest
    return sg


def map_callable(node, args, kwargs, out):
    """Unit of a call_function / call_method node."""
    return map_call(_target_key(node), node.name, args, kwargs, out, mutates=_call_mutates(node),
                    rotary_call=node.op == "call_function")


def map_call(key, name, args, kwargs, out, *, mutates=False, rotary_call=False):
    """Unit of one call of `key` (a function, method or aten op name) on real
    inputs and output: what map_callable and the eager chains of named leaves
    (`_eager_chain`) share. `mutates`: the call overwrites its first input;
    `rotary_call`: a function whose name says rotary may be mapped as one."""
    ins = _tensors(args) + _tensors(kwargs)
    if not _tensors(out):
        return _unit("view", note="metadata (no tensor produced)")
    if key in NOOP_KEYS:
        return _unit("noop", note=f"{key} returns its input")
    if isinstance(out, torch.Tensor) and any(out is t for t in ins) and not mutates:
        return _unit("view", note=f"{key} returns its input")
    if key in VIEW_KEYS:
        return _view_or_copy(key, name, args, out)
    if rotary_call and _is_rotary_call(key):
        return _rotary_unit(name, ins, out)
    if not isinstance(out, torch.Tensor):
        return _unit("unmapped", note=f"{key} returns {type(out).__name__}")
    if key in BINARY_KEYS:
        note = f"{key} mapped to add" if BINARY_KEYS[key] == "add" and "sub" in key else None
        if len(ins) == 1:  # x * 0.125: the other operand a Python number, a broadcast of one element
            return _unit("scored", BINARY_KEYS[key],
                         [{"name": name, "op": BINARY_KEYS[key], "elements": int(out.numel()), "inputs": 2,
                           "broadcast": 1, **({"inplace": True} if mutates else {})}],
                         _join(note, "scalar operand"))
        return _elementwise(name, BINARY_KEYS[key], out, ins, note, inplace=mutates)
    if key in ACT_KEYS:
        return _act_call_unit(key, name, kwargs, ins, out)
    if key in MATH_KEYS:
        return _elementwise(name, MATH_KEYS[key], out, ins[:1], inplace=mutates)
    if key in POW_KEYS:
        return _pow_unit(name, args, kwargs, ins, out, mutates)
    if key in ("cat", "concat", "stack"):
        gather = _gather_op(ins)
        if gather != "copy":
            # PyTorch's concat reads a non-contiguous input element by element
            # with index arithmetic: ViT's class token expanded to the batch,
            # 1.7-3.8x the time of the same concat of contiguous inputs on an
            # H100 at batch 4 and more (validation/gpu/explore_permute.py), a
            # permuted copy; its patch embeddings, [B][D][tokens] read as
            # [B][tokens][D], an element transpose
            return _unit("scored", gather, [{"name": name, "op": gather, "bytes": _bytes(out)}],
                         f"a concat of a non-contiguous input: a {gather} of its output")
        return _unit("scored", "concat", [_concat_subgraph(name, ins, out)])
    if key == "clone":
        return _copy_unit(name, out, ins)
    if key in COPY_KEYS:
        return _unit("scored", "copy", [{"name": name, "op": "copy", "bytes": _bytes(out)}],
                     f"{key} mapped to a copy of its output (it reads only the smaller input)")
    if key in ("matmul", "bmm", "mm"):
        return _matmul_unit(name, ins[0], ins[1], out)
    if key == "scaled_dot_product_attention":
        return _sdpa_unit(name, args, kwargs)
    if key == "embedding":
        w = ins[1]
        return _embedding_unit(name, ins[0], w.shape[0], w.shape[1])
    if key == "mean":
        rows = max(int(out.numel()), 1)
        return _unit("scored", "reduce_mean", [{"name": name, "op": "reduce_mean", "rows": rows,
                                                "cols": int(ins[0].numel()) // rows}])
    if key in ("softmax", "_softmax"):
        return _rows_cols(name, "softmax", ins[0], int(ins[0].shape[_arg(args, kwargs, 1, "dim", -1)]))
    if key == "layer_norm":
        return _rows_cols(name, "layernorm", ins[0], math.prod(_arg(args, kwargs, 1, "normalized_shape")))
    if key == "linear":
        x, w = ins[0], ins[1]
        return _unit("scored", "linear", [{"name": name, "op": "linear", "m": int(x.numel()) // int(w.shape[1]),
                                           "n": int(w.shape[0]), "k": int(w.shape[1]), "bias": len(ins) > 2}])
    if key == "adaptive_avg_pool2d":
        return _adaptive_pool_unit(name, ins[0], out)
    if key in NO_KIND_KEYS:
        return _unit("unmapped", note=f"{key}: no op kind in the workload format")
    return _unit("unmapped", note=f"no mapping for {key}")


# --------------------------------------------------------------------------- capture


def _profiled_call(fn):
    """(output, aten op names) of fn(); the names tell which eval path an attention
    module took."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        out = fn()
    return out, [e.name for e in prof.events()]


def _signature(mod, args):
    """What decides an attention module's eval path: its class and its inputs."""
    return (type(mod), tuple((tuple(t.shape), t.dtype, t.device.type) for t in _tensors(args)))


class Capture(fx.Interpreter):
    """Runs the traced model once, keeping for every node the value it produced
    (a pre-mutation snapshot when a later in-place node overwrote it) and its
    unit description: `units` is [(node, unit dict)] in graph order. Attention
    modules are profiled (CPU activity) to see which eval path ran, once per
    distinct class and input signature."""

    def __init__(self, gm: fx.GraphModule):
        super().__init__(gm)
        self.gm = gm
        self.values = {}
        self.units = []
        self._paths = {}

    def run_node(self, n):
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        if n.op in CALL_OPS and is_inplace(n, self.gm):
            src = n.args[0] if n.args else None
            if isinstance(src, fx.Node) and isinstance(self.values.get(src), torch.Tensor):
                self.values[src] = self.values[src].clone()  # the value as produced, before the mutation
        call = lambda: getattr(self, n.op)(n.target, args, kwargs)  # noqa: E731
        mod = self.gm.get_submodule(n.target) if n.op == "call_module" else None
        key = _signature(mod, args) if isinstance(mod, (nn.MultiheadAttention, nn.TransformerEncoderLayer)) else None
        calls = None
        if key is not None and key not in self._paths:
            out, self._paths[key] = _profiled_call(call)
        elif mod is not None and named_leaf_kind(mod) is not None:
            out, calls = _recorded_call(call)
        else:
            out = call()
        self.values[n] = out
        if n.op == "call_module":
            unit = map_module(n, mod, args, kwargs, out, self._paths.get(key), calls)
        elif n.op in ("call_function", "call_method"):
            unit = map_callable(n, args, kwargs, out)
        else:
            unit = None
        if unit is not None:
            unit["name"] = n.name
            unit["target"] = target_label(n, self.gm)
            unit["inplace"] = is_inplace(n, self.gm)
            self.units.append((n, unit))
        return out


# in-place operator functions and their out-of-place forms
_OUT_OF_PLACE_OPERATORS = {"iadd": "add", "isub": "sub", "imul": "mul", "itruediv": "truediv"}


def _out_of_place(node: fx.Node, gm: fx.GraphModule, kwargs: dict):
    """The call of an in-place node without its mutation (the same kernel,
    writing a new tensor), or None where it has no out-of-place form."""
    if node.op == "call_module":
        mod = gm.get_submodule(node.target)
        if not hasattr(mod, "inplace"):
            return None
        free = copy.copy(mod)  # shallow: the same parameters and buffers
        free.inplace = False
        return lambda a: free(*a, **kwargs)
    if node.op == "call_function":
        if kwargs.get("inplace", False):
            fn, kw = node.target, {**kwargs, "inplace": False}
            return lambda a: fn(*a, **kw)
        name = _OUT_OF_PLACE_OPERATORS.get(_target_key(node))
        if name is None:
            return None
        fn = getattr(operator, name)
        return lambda a: fn(*a, **kwargs)
    meth = str(node.target)[:-1]  # Tensor.relu_ -> Tensor.relu
    if not hasattr(torch.Tensor, meth):
        return None
    return lambda a: getattr(a[0], meth)(*a[1:], **kwargs)


def make_call(node: fx.Node, gm: fx.GraphModule, values: dict, out_of_place: bool = False):
    """(call, make_args, timed_out_of_place): call(args) runs the node once;
    make_args() returns the args, a fresh clone of the mutated input for
    in-place nodes (made outside the timed region). With out_of_place, an
    in-place node that has an out-of-place form runs that instead (and
    timed_out_of_place is True): a harness that repeats a call on one input
    (a CUDA graph of back-to-back calls) cannot re-clone between calls, and
    repeated in place an op like silu drives its values towards zero, into
    denormals whose slow arithmetic path cost 1.5x a forward pass's time on an
    H100 (validation/gpu/README.md)."""
    args = fx.node.map_arg(node.args, lambda a: values[a])
    kwargs = fx.node.map_arg(node.kwargs, lambda a: values[a])
    args = tuple(args)
    inplace = is_inplace(node, gm)
    if inplace and out_of_place:
        call = _out_of_place(node, gm, kwargs)
        if call is not None:
            return call, lambda: args, True
    if node.op == "call_module":
        mod = gm.get_submodule(node.target)

        def call(a):
            return mod(*a, **kwargs)
    elif node.op == "call_function":
        fn = node.target

        def call(a):
            return fn(*a, **kwargs)
    else:
        meth = str(node.target)

        def call(a):
            return getattr(a[0], meth)(*a[1:], **kwargs)

    if inplace and args and isinstance(args[0], torch.Tensor):
        src, rest = args[0], args[1:]

        def make_args():
            return (src.clone(),) + rest
    else:
        def make_args():
            return args
    return call, make_args, False


# --------------------------------------------------------------------------- workloads

FUSABLE_ACTS = {"relu", "gelu", "silu", "sigmoid", "hardswish", "hardsigmoid", "tanh"}
PRECISIONS = {torch.float32: "fp32", torch.float64: "fp64", torch.float16: "fp16", torch.bfloat16: "bf16"}


def _sole_user(node: fx.Node):
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def _fusion_chain(node, kind, by_node):
    """Nodes a fusing framework folds into `node`: conv2d [+ batchnorm] [+ relu],
    linear + one activation. Each folded node is the sole user of the previous."""
    if kind == "conv2d":
        allowed = [("batchnorm",), ("relu",)]
    elif kind == "linear":
        allowed = [tuple(FUSABLE_ACTS)]
    else:
        return []
    chain = []
    cur = node
    for kinds in allowed:
        nxt = _sole_user(cur)
        u = by_node.get(nxt)
        if u is not None and u["kind"] in kinds and len(u["subgraphs"]) == 1:
            chain.append(nxt)
            cur = nxt
        elif kind == "conv2d" and kinds == ("batchnorm",):
            continue  # conv + relu without a batchnorm
        else:
            break
    return chain


def fused_subgraphs(units):
    """The scored units' subgraphs with Conv+BN(+ReLU), Conv+ReLU and
    Linear+activation folded into one subgraph with "fused", as a fusing
    framework (TensorRT, torch.compile, ...) runs them."""
    by_node = {n: u for n, u in units if u["category"] == "scored"}
    folded, extra = set(), {}
    for n, u in units:
        if n in folded or u["category"] != "scored" or len(u["subgraphs"]) != 1:
            continue
        chain = _fusion_chain(n, u["kind"], by_node)
        if chain:
            folded.update(chain)
            extra[n] = [by_node[c]["kind"] for c in chain]
    out = []
    for n, u in units:
        if u["category"] != "scored" or n in folded:
            continue
        for sg in u["subgraphs"]:
            out.append(dict(sg, fused=extra[n]) if n in extra else sg)
    return out


def unmapped_entries(units):
    """[{"name", "target", "note"}] of the unmapped units."""
    return [{"name": u["name"], "target": u["target"], "note": u.get("note", "")}
            for _, u in units if u["category"] == "unmapped"]


def workload_doc(name, precision, units, *, fuse=False):
    """Workload format v1 from Capture units; `unmapped` lists what has no mapping."""
    subgraphs = fused_subgraphs(units) if fuse else [sg for _, u in units if u["category"] == "scored"
                                                     for sg in u["subgraphs"]]
    return {"hwcal_workload": 1, "name": name, "precision": precision, "subgraphs": subgraphs,
            "unmapped": unmapped_entries(units)}


def workload_text(doc):
    """A workload as JSON text, one subgraph (and one unmapped node) per line. An
    empty `unmapped` list is not written, so fully mapped models give the same
    files as before the field existed."""
    head = {k: v for k, v in doc.items() if k not in ("subgraphs", "unmapped")}
    lines = [json.dumps(head)[:-1] + ', "subgraphs": [']
    sgs = doc["subgraphs"]
    lines += ["  " + json.dumps(sg) + ("," if i + 1 < len(sgs) else "") for i, sg in enumerate(sgs)]
    unmapped = doc.get("unmapped") or []
    if unmapped:
        lines.append('], "unmapped": [')
        lines += ["  " + json.dumps(u) + ("," if i + 1 < len(unmapped) else "") for i, u in enumerate(unmapped)]
    lines.append("]}")
    return "\n".join(lines) + "\n"


def precision_of(model: nn.Module, inputs) -> str:
    """Workload precision from the first floating-point parameter (else input):
    fp32, fp64, fp16 or bf16. TF32 cannot be seen on tensors: pass it explicitly."""
    tensors = list(model.parameters()) + _tensors(list(inputs))
    for t in tensors:
        if t.is_floating_point():
            return PRECISIONS.get(t.dtype, "fp32")
    return "fp32"


def capture(model: nn.Module, inputs):
    """(GraphModule, Capture, output) of one traced run on `inputs` (a tuple of
    positional arguments), under torch.no_grad()."""
    gm = trace(model)
    cap = Capture(gm)
    with torch.no_grad():
        out = cap.run(*inputs)
    return gm, cap, out


def trace_model(model: nn.Module, example_inputs, *, fuse=False, name=None, precision=None) -> dict:
    """Trace `model` on `example_inputs` (a tensor or a tuple of positional
    arguments) in eval mode, as it runs for inference (each module's mode is
    restored afterwards), and return its workload (format v1) with `unmapped`
    listing every node that produces a tensor but has no mapping.

    fuse=False (default) gives one subgraph per op, as eager PyTorch runs them;
    fuse=True folds Conv+BN(+ReLU), Conv+ReLU and Linear+activation into one
    subgraph with "fused", as a fusing framework would. `precision` defaults to
    the parameters' dtype (say "tf32" yourself)."""
    inputs = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        _, cap, _ = capture(model, inputs)
    finally:
        for m, training in modes:
            m.training = training
    return workload_doc(name or type(model).__name__, precision or precision_of(model, inputs), cap.units,
                        fuse=fuse)


class _CallableModule(types.ModuleType):
    """The type of this module once loaded: `hwcal.trace` is both the module
    (whose name a submodule import binds in the package, whatever the package
    defined) and the tracer, hwcal.trace(model, example_inputs, fuse=False)."""

    def __call__(self, model, example_inputs, *, fuse=False, name=None, precision=None):
        return trace_model(model, example_inputs, fuse=fuse, name=name, precision=precision)


sys.modules[__name__].__class__ = _CallableModule


# --------------------------------------------------------------------------- command line

DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
          "bfloat16": torch.bfloat16, "int64": torch.int64}


def load_factory(spec: str):
    """The callable FILE.py:NAME or MODULE:NAME names (NAME may be dotted)."""
    where, sep, attr = spec.rpartition(":")
    if not sep or not where or not attr:
        raise ValueError(f"expected FILE.py:FACTORY or MODULE:FACTORY, got '{spec}'")
    if where.endswith(".py") or os.sep in where:
        if not os.path.isfile(where):
            raise ValueError(f"no such file: {where}")
        # the file's directory first on the path, so that its own imports resolve
        sys.path.insert(0, os.path.dirname(os.path.abspath(where)))
        module_spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(where))[0], where)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    obj = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ValueError(f"'{where}' has no '{attr}'")
    if not callable(obj):
        raise ValueError(f"'{spec}' is not callable")
    return obj


def _shape(text: str):
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        dims = ()
    if not dims or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, e.g. 1,3,224,224; got '{text}'")
    return dims


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="hwcal trace",
        description="Trace a PyTorch model with torch.fx into an hwcal workload (docs/python.md). Nodes that "
                    "cannot be mapped are listed on stderr and under \"unmapped\" in the workload.")
    ap.add_argument("model", help="FILE.py:FACTORY or MODULE:FACTORY (e.g. torchvision.models:resnet18); "
                                  "FACTORY() returns the nn.Module")
    ap.add_argument("--input-shape", action="append", type=_shape, required=True, metavar="D,D,...",
                    help="shape of one input, e.g. 1,3,224,224 (repeat for each positional input)")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="float32",
                    help="inputs' dtype (floating: the model is converted to it; int64: token ids, all 0)")
    ap.add_argument("--fuse", action="store_true",
                    help="fold Conv+BN(+ReLU), Conv+ReLU and Linear+activation, as a fusing framework runs them")
    ap.add_argument("--name", help="workload name (default: FACTORY)")
    ap.add_argument("--precision", help="workload precision (default: from the dtype; tf32 must be said)")
    ap.add_argument("-o", "--output", help="workload file to write (default: stdout)")
    args = ap.parse_args(argv)

    try:
        factory = load_factory(args.model)
    except (ValueError, ImportError) as e:
        ap.error(str(e))  # exit 2: bad input
    torch.manual_seed(0)
    model = factory()
    if not isinstance(model, nn.Module):
        ap.error(f"{args.model}() returned {type(model).__name__}, not a torch.nn.Module")
    dtype = DTYPES[args.dtype]
    if dtype.is_floating_point:
        model = model.to(dtype)
        inputs = tuple(torch.randn(s, dtype=dtype) for s in args.input_shape)
    else:
        inputs = tuple(torch.zeros(s, dtype=dtype) for s in args.input_shape)
    name = args.name or args.model.rpartition(":")[2].rpartition(".")[2]
    doc = trace_model(model, inputs, fuse=args.fuse, name=name, precision=args.precision)

    text = workload_text(doc)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    unmapped = doc["unmapped"]
    where = args.output or "stdout"
    print(f"hwcal trace: {name}: {len(doc['subgraphs'])} subgraphs, {len(unmapped)} unmapped node(s) -> {where}",
          file=sys.stderr)
    if unmapped:
        print("hwcal trace: not mapped (no op in the workload format; listed under \"unmapped\"):", file=sys.stderr)
        for u in unmapped:
            print(f"  {u['name']}  {u['target']}  {u['note']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
