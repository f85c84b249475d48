"""Trace a PyTorch model with torch.fx, run it once on real inputs while keeping
every node's inputs, and map each node to hwcal workload subgraphs.

Import this module only after the thread environment is set (measure.py does
that): it imports torch.

Every graph node that does work becomes one *unit*. A unit is what gets timed in
isolation; it carries zero or more hwcal subgraphs, and the unit's measured time
is compared with the sum of its subgraphs' predictions. Categories:

  scored    mapped to >= 1 subgraph; timed; predicted; scored
  view      pure view / metadata (view, reshape or flatten of a contiguous tensor,
            permute, expand, getitem, .shape, _assert, int arithmetic): timed,
            counted, not scored
  noop      returns its input unchanged in eval (Dropout, Identity,
            StochasticDepth): timed, counted, not scored
  unmapped  produces a tensor but has no mapping: timed, listed in the report
"""
from __future__ import annotations

import dis
import inspect
import math
import time

import torch
import torch.fx as fx
import torch.nn as nn
from torch.fx.proxy import Proxy

# --------------------------------------------------------------------------- tracing


def _proxy_iter(self):
    """torch 1.13's Proxy.__iter__ finds the UNPACK_SEQUENCE after the call by
    indexing instructions with f_lasti // 2, which is wrong on Python 3.11 (cache
    entries); look the instruction up by offset instead, so `n, c, h, w = x.shape`
    (torchvision's ViT) traces."""
    frame = inspect.currentframe().f_back
    for inst in dis.get_instructions(frame.f_code):
        if inst.offset == frame.f_lasti:
            if inst.opname == "UNPACK_SEQUENCE":
                return (self[i] for i in range(inst.argval))
            break
    return self.tracer.iter(self)


def trace(model: nn.Module) -> fx.GraphModule:
    """symbolic_trace with torch.nn modules as leaves (the default: MultiheadAttention
    and TransformerEncoderLayer stay single nodes)."""
    orig = Proxy.__iter__
    Proxy.__iter__ = _proxy_iter
    try:
        tracer = fx.Tracer()
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
    return t.storage().data_ptr()


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
    "relu": "relu", "relu_": "relu", "relu6": "relu", "hardtanh": "relu", "hardtanh_": "relu",
    "gelu": "gelu", "silu": "silu", "silu_": "silu", "sigmoid": "sigmoid", "sigmoid_": "sigmoid",
    "hardswish": "hardswish", "hardswish_": "hardswish", "hardsigmoid": "hardsigmoid", "hardsigmoid_": "hardsigmoid",
    "tanh": "tanh", "tanh_": "tanh",
}
# act keys that are not literally the hwcal op (said in the unit's note)
ACT_NOTES = {"relu6": "ReLU6 mapped to relu (no relu6 op in the workload format)",
             "hardtanh": "hardtanh mapped to relu", "hardtanh_": "hardtanh mapped to relu"}
INPLACE_FUNC_KEYS = {"iadd", "isub", "imul", "itruediv"}

MODULE_ACTS = {
    nn.ReLU: "relu", nn.ReLU6: "relu", nn.Hardtanh: "relu", nn.GELU: "gelu", nn.SiLU: "silu", nn.Sigmoid: "sigmoid",
    nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid", nn.Tanh: "tanh",
}
MODULE_NOOPS = (nn.Dropout, nn.Dropout2d, nn.AlphaDropout, nn.Identity)


def is_inplace(node: fx.Node, gm: fx.GraphModule) -> bool:
    """Whether the node mutates its first tensor argument."""
    if node.op == "call_module":
        return bool(getattr(gm.get_submodule(node.target), "inplace", False))
    if node.op == "call_function":
        return _target_key(node) in INPLACE_FUNC_KEYS or bool(node.kwargs.get("inplace", False))
    if node.op == "call_method":
        t = str(node.target)
        return t.endswith("_") and not t.endswith("__")
    return False


def _unit(category, kind=None, subgraphs=None, note=None):
    u = {"category": category, "kind": kind, "subgraphs": subgraphs or []}
    if note:
        u["note"] = note
    return u


def _elementwise(name, op, out, tensors_in, note=None, inplace=False):
    """Unary or binary elementwise subgraph; a broadcast second input counts its
    own element count (`broadcast`); `inplace` when the module overwrites its
    input (nn.ReLU(inplace=True) and friends)."""
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
                note = (note + "; " if note else "") + f"broadcast input of {small} elements does not divide the output"
    else:
        sg["inputs"] = 1
    return _unit("scored", op, [sg], note)


def _copy_unit(name, out, inputs, note=None):
    """A reshape/contiguous that materialized: a strided gather (transpose) when
    the source was non-contiguous, else a plain copy."""
    src_noncontig = any(not t.is_contiguous() for t in inputs)
    op = "transpose" if src_noncontig else "copy"
    return _unit("scored", op, [{"name": name, "op": op, "bytes": int(out.numel() * out.element_size())}], note)


# --------------------------------------------------------------------------- attention blocks


def _mha_subgraphs(prefix, mha: nn.MultiheadAttention, q, k, v, batch_first, events):
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
    # both paths rearrange q, k, v into [B*H, L, D] (fast path: _transform_bias_rescale_qkv;
    # slow path: .contiguous() of the chunked projections)
    sgs.append({"name": f"{prefix}.split_heads", "op": "transpose", "bytes": (B * L + 2 * B * S) * E * es})
    sgs.append({"name": f"{prefix}.attn", "op": "attention", "batch": B, "heads": H, "seq_q": L, "seq_kv": S,
                "head_dim": D, "causal": False})
    sgs.append({"name": f"{prefix}.merge_heads", "op": "transpose", "bytes": B * L * E * es})
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
    batch_first = tel.self_attn.batch_first
    sgs = _mha_subgraphs(prefix + ".self_attn", tel.self_attn, x, x, x, batch_first, events)
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
    # the native path computes linear1 + bias + relu in one addmm (_addmm_activation)
    if "aten::_addmm_activation" in set(events):
        l1["fused"] = [act_name]
    else:
        ffn.append({"name": f"{prefix}.{act_name}", "op": act_name, "elements": B_L * FF, "inputs": 1})
    ffn.append(l2)
    if tel.norm_first:
        return [ln1] + sgs + [add1, ln2] + ffn + [add2]
    return sgs + [add1, ln1] + ffn + [add2, ln2]


# --------------------------------------------------------------------------- mapping


def map_module(node, mod, args, kwargs, out, events=None):
    name = node.name
    x = args[0] if args else None
    if isinstance(mod, MODULE_NOOPS):
        return _unit("noop", note=type(mod).__name__ + " in eval returns its input")
    if type(mod).__name__ == "StochasticDepth":
        return _unit("noop", note="StochasticDepth in eval returns its input")
    if isinstance(mod, nn.Conv2d):
        n, c, h, w = _nchw(x)
        pad = mod.padding
        if isinstance(pad, str):
            pad = (0, 0) if pad == "valid" else tuple(d * (k - 1) // 2 for d, k in zip(mod.dilation, mod.kernel_size))
        sg = {"name": name, "op": "conv2d", "n": n, "c": c, "h": h, "w": w, "k": mod.out_channels,
              "r": mod.kernel_size[0], "s": mod.kernel_size[1], "stride": _pair(mod.stride), "padding": _pair(pad),
              "dilation": _pair(mod.dilation), "groups": mod.groups, "bias": mod.bias is not None}
        note = None if mod.padding_mode == "zeros" else f"padding_mode={mod.padding_mode} predicted as zero padding"
        return _unit("scored", "conv2d", [sg], note)
    if isinstance(mod, nn.BatchNorm2d):
        n, c, h, w = _nchw(x)
        return _unit("scored", "batchnorm", [{"name": name, "op": "batchnorm", "n": n, "c": c, "h": h, "w": w}])
    if isinstance(mod, nn.BatchNorm1d):
        n, c = int(x.shape[0]), int(x.shape[1])
        hw = int(x.numel()) // (n * c)
        return _unit("scored", "batchnorm", [{"name": name, "op": "batchnorm", "n": n, "c": c, "h": hw, "w": 1}])
    for cls, op in MODULE_ACTS.items():
        if type(mod) is cls:
            note = None
            if cls is nn.ReLU6:
                note = ACT_NOTES["relu6"]
            elif cls is nn.Hardtanh:
                note = "Hardtanh mapped to relu"
            elif cls is nn.GELU and getattr(mod, "approximate", "none") != "none":
                note = "GELU(approximate='tanh') predicted as gelu"
            return _elementwise(name, op, out, [x], note, inplace=bool(getattr(mod, "inplace", False)))
    if isinstance(mod, nn.Linear):
        m = int(x.numel()) // mod.in_features
        return _unit("scored", "linear", [{"name": name, "op": "linear", "m": m, "n": mod.out_features,
                                           "k": mod.in_features, "bias": mod.bias is not None}])
    if isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)):
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
        return _unit("scored", op, [sg], "; ".join(notes) or None)
    if isinstance(mod, nn.AdaptiveAvgPool2d):
        n, c, h, w = _nchw(x)
        return _unit("scored", "adaptive_avgpool", [{"name": name, "op": "adaptive_avgpool", "n": n, "c": c, "h": h,
                                                     "w": w, "out_h": int(out.shape[-2]), "out_w": int(out.shape[-1])}])
    if isinstance(mod, nn.LayerNorm):
        cols = math.prod(mod.normalized_shape)
        return _unit("scored", "layernorm", [{"name": name, "op": "layernorm", "rows": int(x.numel()) // cols,
                                              "cols": cols}])
    if isinstance(mod, nn.Softmax):
        dim = mod.dim if mod.dim is not None else -1
        cols = int(x.shape[dim])
        note = None if dim in (-1, x.dim() - 1) else "softmax over a non-last dimension"
        return _unit("scored", "softmax", [{"name": name, "op": "softmax", "rows": int(x.numel()) // cols,
                                            "cols": cols}], note)
    if isinstance(mod, nn.Flatten):
        return _view_or_copy(node, args, out)
    if isinstance(mod, nn.MultiheadAttention):
        q = args[0] if len(args) > 0 else kwargs["query"]
        k = args[1] if len(args) > 1 else kwargs["key"]
        v = args[2] if len(args) > 2 else kwargs["value"]
        sgs = _mha_subgraphs(name, mod, q, k, v, mod.batch_first, events or [])
        return _unit("scored", "mha", sgs, "path: " + _fast_path_of(events or []))
    if isinstance(mod, nn.TransformerEncoderLayer):
        sgs = _tel_subgraphs(name, mod, x, events or [])
        return _unit("scored", "encoder_layer", sgs, "path: " + _fast_path_of(events or []))
    return _unit("unmapped", note=f"no mapping for module {type(mod).__name__}")


def _view_or_copy(node, args, out):
    ins = _tensors(args)
    if not isinstance(out, torch.Tensor):
        return _unit("view", note="metadata")
    if any(out is t for t in ins):
        return _unit("view", note="returns its input")
    if any(_storage_ptr(out) == _storage_ptr(t) for t in ins if t.numel() > 0):
        return _unit("view")
    return _copy_unit(node.name, out, ins, note=f"{_target_key(node)} materialized a copy")


def map_callable(node, args, kwargs, out):
    """call_function / call_method nodes."""
    key = _target_key(node)
    name = node.name
    ins = _tensors(args) + _tensors(kwargs)
    out_tensors = _tensors(out)
    if not out_tensors:
        return _unit("view", note="metadata (no tensor produced)")
    if key in NOOP_KEYS or (isinstance(out, torch.Tensor) and any(out is t for t in ins)):
        return _unit("noop" if key in NOOP_KEYS else "view", note=f"{key} returns its input")
    if key in VIEW_KEYS:
        return _view_or_copy(node, args, out)
    if not isinstance(out, torch.Tensor):
        return _unit("unmapped", note=f"{key} returns {type(out).__name__}")
    if key in BINARY_KEYS:
        note = f"{key} mapped to add" if BINARY_KEYS[key] == "add" and "sub" in key else None
        return _elementwise(name, BINARY_KEYS[key], out, ins, note)
    if key in ACT_KEYS:
        return _elementwise(name, ACT_KEYS[key], out, ins[:1], ACT_NOTES.get(key))
    if key in ("cat", "concat", "stack"):
        return _unit("scored", "concat", [{"name": name, "op": "concat", "bytes": int(out.numel() * out.element_size())}])
    if key == "clone":
        return _copy_unit(name, out, ins)
    if key in ("matmul", "bmm", "mm"):
        a, b = ins[0], ins[1]
        m, k = int(a.shape[-2]) if a.dim() > 1 else 1, int(a.shape[-1])
        n = int(b.shape[-1]) if b.dim() > 1 else 1
        batch = int(out.numel()) // (m * n)
        sg = {"name": name, "op": "matmul", "batch": batch, "m": m, "n": n, "k": k}
        return _unit("scored", "matmul", [sg])
    if key == "mean":
        x = ins[0]
        rows = max(int(out.numel()), 1)
        return _unit("scored", "reduce_mean", [{"name": name, "op": "reduce_mean", "rows": rows,
                                                "cols": int(x.numel()) // rows}])
    if key in ("softmax", "_softmax"):
        x = ins[0]
        dim = kwargs.get("dim", args[1] if len(args) > 1 else -1)
        cols = int(x.shape[dim])
        return _unit("scored", "softmax", [{"name": name, "op": "softmax", "rows": int(x.numel()) // cols, "cols": cols}])
    if key == "layer_norm":
        x = ins[0]
        shape = kwargs.get("normalized_shape", args[1] if len(args) > 1 else None)
        cols = math.prod(shape)
        return _unit("scored", "layernorm", [{"name": name, "op": "layernorm", "rows": int(x.numel()) // cols, "cols": cols}])
    if key == "linear":
        x, w = ins[0], ins[1]
        bias = len(ins) > 2
        return _unit("scored", "linear", [{"name": name, "op": "linear", "m": int(x.numel()) // int(w.shape[1]),
                                           "n": int(w.shape[0]), "k": int(w.shape[1]), "bias": bias}])
    if key in ("adaptive_avg_pool2d",):
        n, c, h, w = _nchw(ins[0])
        return _unit("scored", "adaptive_avgpool", [{"name": name, "op": "adaptive_avgpool", "n": n, "c": c, "h": h,
                                                     "w": w, "out_h": int(out.shape[-2]), "out_w": int(out.shape[-1])}])
    return _unit("unmapped", note=f"no mapping for {key}")


# --------------------------------------------------------------------------- capture


class Capture(fx.Interpreter):
    """Runs the traced model once, keeping for every node the value it produced
    (a pre-mutation snapshot when a later in-place node overwrote it) and its
    unit description."""

    def __init__(self, gm: fx.GraphModule):
        super().__init__(gm)
        self.gm = gm
        self.values = {}
        self.units = []  # (node, unit dict), in graph order

    def run_node(self, n):
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        if n.op in ("call_module", "call_function", "call_method") and is_inplace(n, self.gm):
            src = n.args[0] if n.args else None
            if isinstance(src, fx.Node) and isinstance(self.values.get(src), torch.Tensor):
                self.values[src] = self.values[src].clone()  # the value as produced, before the mutation
        events = None
        if n.op == "call_module" and isinstance(self.gm.get_submodule(n.target),
                                                (nn.MultiheadAttention, nn.TransformerEncoderLayer)):
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                out = getattr(self, n.op)(n.target, args, kwargs)
            events = [e.name for e in prof.events()]
        else:
            out = getattr(self, n.op)(n.target, args, kwargs)
        self.values[n] = out
        if n.op == "call_module":
            unit = map_module(n, self.gm.get_submodule(n.target), args, kwargs, out, events)
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


def make_call(node: fx.Node, gm: fx.GraphModule, values: dict):
    """(call, make_args): call(args) runs the node once; make_args() returns the
    args, a fresh clone of the mutated input for in-place nodes (made outside the
    timed region)."""
    args = fx.node.map_arg(node.args, lambda a: values[a])
    kwargs = fx.node.map_arg(node.kwargs, lambda a: values[a])
    inplace = is_inplace(node, gm)
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

    args = tuple(args)
    if inplace and args and isinstance(args[0], torch.Tensor):
        src, rest = args[0], args[1:]

        def make_args():
            return (src.clone(),) + rest
    else:
        def make_args():
            return args
    return call, make_args


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
    import gc
    import statistics

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
