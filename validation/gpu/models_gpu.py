"""The models of the GPU validation, built with random weights (nothing is
downloaded; timing does not depend on weight values), and the order in which
configs (model x batch x precision) are measured.

Models: torchvision CNNs and ViT-B/16, a BERT-base encoder (embeddings + 12
nn.TransformerEncoderLayer), a GPT-2-style decoder layer, a Llama-style decoder
layer in plain PyTorch (prefill, and decode against a KV cache of 1024 or 4096
tokens) and three MLPs. `small=True` shrinks the transformer widths for CPU dry
runs (same code paths, same ops).

Works with torch 1.13 and 2.x: where F.scaled_dot_product_attention (torch >= 2.0)
or its enable_gqa argument (torch >= 2.5) is missing, attention is written out
(matmul, scale, mask add, softmax, matmul) and K/V heads are repeated with
repeat_interleave, and the tracer maps what really runs.
"""
from __future__ import annotations

import contextlib
import math
from collections import OrderedDict, namedtuple

import torch
import torch.nn as nn
import torch.nn.functional as F

PRECISIONS = ("fp32", "bf16", "tf32", "fp16")  # measuring order within a batch tier
DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def has_sdpa() -> bool:
    return hasattr(F, "scaled_dot_product_attention")


def sdpa_has_gqa() -> bool:
    """Whether F.scaled_dot_product_attention accepts enable_gqa (tried on tiny
    CPU tensors: the argument is not visible in the builtin's signature)."""
    if not has_sdpa():
        return False
    q = torch.zeros(1, 2, 1, 4)
    k = torch.zeros(1, 1, 1, 4)
    try:
        F.scaled_dot_product_attention(q, k, k, enable_gqa=True)
    except (TypeError, RuntimeError):
        return False
    return True


# --------------------------------------------------------------------------- attention blocks


def attention(q, k, v, causal, mask=None):
    """softmax(q k^T / sqrt(d) [+ mask]) v on [B, H, L, D] tensors: SDPA where torch
    has it, else written out with the additive causal `mask` buffer."""
    if has_sdpa():
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if causal:
        scores = scores + mask
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def register_causal_mask(module, seq, device):
    """Registers `causal_mask` ([seq, seq], -inf above the diagonal) for the
    written-out attention; nothing where SDPA's is_causal does it."""
    if not has_sdpa():
        module.register_buffer("causal_mask", torch.full((seq, seq), float("-inf"), device=device).triu(1),
                               persistent=False)


class BertEncoder(nn.Module):
    """BERT-base: token + position embeddings, LayerNorm, then `layers` x
    nn.TransformerEncoderLayer(d, heads, ff, gelu, batch_first) (each one leaf
    node; PyTorch runs them through its fused eval fast path where it can)."""

    def __init__(self, seq, layers=12, d=768, heads=12, ff=3072, vocab=30522, device=None):
        super().__init__()
        self.word = nn.Embedding(vocab, d, device=device)
        self.pos = nn.Embedding(512, d, device=device)
        self.register_buffer("position_ids", torch.arange(seq, device=device).unsqueeze(0), persistent=False)
        self.norm = nn.LayerNorm(d, device=device)
        self.layers = nn.ModuleList([nn.TransformerEncoderLayer(d, heads, ff, activation="gelu", batch_first=True,
                                                                device=device) for _ in range(layers)])

    def forward(self, ids):
        x = self.norm(self.word(ids) + self.pos(self.position_ids))
        for layer in self.layers:
            x = layer(x)
        return x


class GPT2Layer(nn.Module):
    """One GPT-2 decoder layer (pre-norm): LayerNorm, fused qkv projection, causal
    attention, output projection, residual; LayerNorm, fc 4d, GELU(tanh), proj,
    residual."""

    def __init__(self, seq, d=1024, heads=16, device=None):
        super().__init__()
        self.heads, self.head_dim = heads, d // heads
        self.ln1 = nn.LayerNorm(d, device=device)
        self.qkv = nn.Linear(d, 3 * d, device=device)
        self.proj = nn.Linear(d, d, device=device)
        self.ln2 = nn.LayerNorm(d, device=device)
        self.fc = nn.Linear(d, 4 * d, device=device)
        self.act = nn.GELU(approximate="tanh")
        self.out = nn.Linear(4 * d, d, device=device)
        register_causal_mask(self, seq, device)

    def forward(self, x):
        B, L, E = x.shape[0], x.shape[1], x.shape[2]
        q, k, v = self.qkv(self.ln1(x)).split(E, dim=2)
        q = q.view(B, L, self.heads, self.head_dim).transpose(1, 2)
        k = k.view(B, L, self.heads, self.head_dim).transpose(1, 2)
        v = v.view(B, L, self.heads, self.head_dim).transpose(1, 2)
        a = attention(q, k, v, True, getattr(self, "causal_mask", None))
        x = x + self.proj(a.transpose(1, 2).reshape(B, L, E))
        return x + self.out(self.act(self.fc(self.ln2(x))))


class LlamaRMSNorm(nn.Module):
    """weight * x * rsqrt(mean(x^2) + eps), computed in fp32 (as Llama's
    reference code). A leaf for the tracer (class name *RMSNorm*): one rmsnorm."""

    def __init__(self, d, eps=1e-5, device=None):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d, device=device))
        self.eps = eps

    def forward(self, x):
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding applied to q or k ([B, H, L, D]) at positions
    offset .. offset + L: x * cos + rotate_half(x) * sin. A leaf for the tracer
    (class name *Rotary*): one rotary op per call."""

    def __init__(self, head_dim, positions, base=500000.0, device=None):
        super().__init__()
        inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, device=device).float() / head_dim))
        freqs = torch.outer(torch.arange(positions, device=device).float(), inv)
        emb = torch.cat([freqs, freqs], dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def forward(self, x, offset: int = 0):
        n = x.shape[-2]
        x1, x2 = x.chunk(2, dim=-1)
        return x * self.cos[offset:offset + n] + torch.cat((-x2, x1), dim=-1) * self.sin[offset:offset + n]


class LlamaLayer(nn.Module):
    """One Llama-3-8B-style decoder layer: RMSNorm, q/k/v projections with grouped
    KV heads, rotary on q and k, attention, o projection, residual; RMSNorm,
    SwiGLU MLP down(silu(gate(x)) * up(x)) (two eager ops: silu, mul), residual.

    Prefill (cache=0): causal attention over the `seq` new tokens. Decode
    (cache>0): `seq` new tokens attend to a KV cache of `cache` tokens held as
    buffers; the new k, v are appended with torch.cat (a real copy of the cache,
    as eager decoding without a paged cache does); attention is not causal."""

    def __init__(self, batch, seq, cache=0, hidden=4096, heads=32, kv_heads=8, head_dim=128, inter=14336,
                 device=None):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim, self.cache = heads, kv_heads, head_dim, cache
        self.gqa = sdpa_has_gqa()
        self.in_norm = LlamaRMSNorm(hidden, device=device)
        self.q_proj = nn.Linear(hidden, heads * head_dim, bias=False, device=device)
        self.k_proj = nn.Linear(hidden, kv_heads * head_dim, bias=False, device=device)
        self.v_proj = nn.Linear(hidden, kv_heads * head_dim, bias=False, device=device)
        self.o_proj = nn.Linear(heads * head_dim, hidden, bias=False, device=device)
        self.rotary = RotaryEmbedding(head_dim, cache + seq, device=device)
        self.post_norm = LlamaRMSNorm(hidden, device=device)
        self.gate = nn.Linear(hidden, inter, bias=False, device=device)
        self.up = nn.Linear(hidden, inter, bias=False, device=device)
        self.down = nn.Linear(inter, hidden, bias=False, device=device)
        if cache == 0:
            register_causal_mask(self, seq, device)
        if cache:
            g = torch.Generator(device=device).manual_seed(7)
            shape = (batch, kv_heads, cache, head_dim)
            self.register_buffer("k_cache", torch.randn(shape, generator=g, device=device), persistent=False)
            self.register_buffer("v_cache", torch.randn(shape, generator=g, device=device), persistent=False)

    def _heads(self, t, B, L, n):
        return t.view(B, L, n, self.head_dim).transpose(1, 2)

    def forward(self, x):
        B, L = x.shape[0], x.shape[1]
        h = self.in_norm(x)
        q = self.rotary(self._heads(self.q_proj(h), B, L, self.heads), self.cache)
        k = self.rotary(self._heads(self.k_proj(h), B, L, self.kv_heads), self.cache)
        v = self._heads(self.v_proj(h), B, L, self.kv_heads)
        if self.cache:
            k = torch.cat([self.k_cache, k], dim=2)
            v = torch.cat([self.v_cache, v], dim=2)
        if self.gqa:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=self.cache == 0, enable_gqa=True)
        else:
            rep = self.heads // self.kv_heads
            a = attention(q, k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1), self.cache == 0,
                          getattr(self, "causal_mask", None))
        x = x + self.o_proj(a.transpose(1, 2).reshape(B, L, self.heads * self.head_dim))
        h = self.post_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


def mlp(widths, act, device=None):
    layers = OrderedDict()
    for i in range(len(widths) - 1):
        layers[f"fc{i + 1}"] = nn.Linear(widths[i], widths[i + 1], device=device)
        if i < len(widths) - 2:
            layers[f"act{i + 1}"] = act()
    return nn.Sequential(layers)


# --------------------------------------------------------------------------- the zoo

# build(batch, small, device) -> model; inputs(batch, small, device, generator) -> tuple of tensors
Spec = namedtuple("Spec", "build inputs batches description")


def _image(batch, small, device, g):
    return (torch.randn(batch, 3, 224, 224, generator=g, device=device),)


def _torchvision(name):
    """A torchvision model built directly on `device` where torch can set a default
    device (2.x: initialising on the GPU takes milliseconds, on the CPU up to a
    second), else built on the CPU and moved."""

    def build(batch, small, device):
        import torchvision

        ctx = torch.device(device) if hasattr(torch, "set_default_device") else contextlib.nullcontext()
        with ctx:
            model = getattr(torchvision.models, name)(weights=None)
        return model.to(device)

    return build


def _tokens(seq, vocab):
    def make(batch, small, device, g):
        s, v = (16, 1000) if small else (seq, vocab)
        return (torch.randint(0, v, (batch, s), generator=g, device=device),)

    return make


def _hidden(seq, d, small_seq, small_d):
    def make(batch, small, device, g):
        return (torch.randn(batch, small_seq if small else seq, small_d if small else d, generator=g, device=device),)

    return make


def _flat(width):
    def make(batch, small, device, g):
        return (torch.randn(batch, width, generator=g, device=device),)

    return make


def _bert(batch, small, device):
    if small:
        return BertEncoder(16, layers=2, d=64, heads=4, ff=128, vocab=1000, device=device)
    return BertEncoder(128, device=device)


def _gpt2(batch, small, device):
    return GPT2Layer(32, d=64, heads=4, device=device) if small else GPT2Layer(512, device=device)


def _llama(seq, cache, small_seq, small_cache, **widths):
    """A LlamaLayer builder; `widths` (hidden, heads, kv_heads, head_dim, inter) default to Llama-3-8B's."""
    def build(batch, small, device):
        if small:
            return LlamaLayer(batch, small_seq, small_cache, hidden=128, heads=4, kv_heads=2, head_dim=32, inter=256,
                              device=device)
        return LlamaLayer(batch, seq, cache, device=device, **widths)

    return build


CNN_BATCHES = (1, 8, 32)
MLP_BATCHES = (1, 16, 64)
MODELS = OrderedDict([
    ("resnet18", Spec(_torchvision("resnet18"), _image, CNN_BATCHES, "torchvision resnet18, 224x224")),
    ("resnet50", Spec(_torchvision("resnet50"), _image, CNN_BATCHES, "torchvision resnet50, 224x224")),
    ("mobilenet_v2", Spec(_torchvision("mobilenet_v2"), _image, CNN_BATCHES, "torchvision mobilenet_v2, 224x224")),
    ("mobilenet_v3_small", Spec(_torchvision("mobilenet_v3_small"), _image, CNN_BATCHES,
                                "torchvision mobilenet_v3_small, 224x224")),
    ("efficientnet_b0", Spec(_torchvision("efficientnet_b0"), _image, CNN_BATCHES,
                             "torchvision efficientnet_b0, 224x224")),
    ("resnext50_32x4d", Spec(_torchvision("resnext50_32x4d"), _image, CNN_BATCHES,
                             "torchvision resnext50_32x4d, 224x224")),
    ("vit_b_16", Spec(_torchvision("vit_b_16"), _image, CNN_BATCHES, "torchvision vit_b_16, 224x224")),
    ("bert_base", Spec(_bert, _tokens(128, 30522), (1, 8),
                       "BERT-base: embeddings + 12 x nn.TransformerEncoderLayer(768, 12 heads, ff 3072, gelu), seq 128")),
    ("gpt2_layer", Spec(_gpt2, _hidden(512, 1024, 32, 64), (1, 8),
                        "GPT-2 decoder layer, d 1024, 16 heads, causal SDPA, GELU(tanh), seq 512")),
    ("llama_prefill", Spec(_llama(1024, 0, 32, 0), _hidden(1024, 4096, 32, 128), (1, 4),
                           "Llama decoder layer (hidden 4096, 32 heads, 8 KV heads, MLP 14336), prefill of 1024 "
                           "tokens, causal")),
    ("llama_decode_kv1k", Spec(_llama(1, 1024, 1, 64), _hidden(1, 4096, 1, 128), (1, 8, 32, 64),
                               "Llama decoder layer, decode: 1 new token, KV cache of 1024 tokens (torch.cat)")),
    ("llama_decode_kv4k", Spec(_llama(1, 4096, 1, 128), _hidden(1, 4096, 1, 128), (1, 8, 32, 64),
                               "Llama decoder layer, decode: 1 new token, KV cache of 4096 tokens (torch.cat)")),
    ("mlp", Spec(lambda b, s, d: mlp([784, 1024, 1024, 10], nn.ReLU, d), _flat(784), MLP_BATCHES,
                 "MLP 784-1024-1024-10, ReLU")),
    ("mlp_gelu", Spec(lambda b, s, d: mlp([1024, 4096, 4096, 1024], nn.GELU, d), _flat(1024), MLP_BATCHES,
                      "MLP 1024-4096-4096-1024, GELU")),
    ("mlp_deep", Spec(lambda b, s, d: mlp([512] * 9, nn.ReLU, d), _flat(512), MLP_BATCHES,
                      "MLP 8 x (512-512), ReLU")),
])


# Held out: models the mapper was never developed against (added 2026-12-06, before any of them was
# measured). Their truth scores a mapper change honestly; nothing may be tuned to them either. Other
# architectures than MODELS: dense concatenation, channel shuffle, fire modules, grouped convs with
# squeeze-excite, 7x7 depthwise with channels-last layernorm, a deeper resnet, ViT with 32x32 patches,
# a smaller grouped-query decoder (TinyLlama's widths) and MLPs of other widths.
HOLDOUT_BATCHES = (1, 16)
TINYLLAMA = dict(hidden=2048, heads=32, kv_heads=4, head_dim=64, inter=5632)
HOLDOUT = OrderedDict([
    ("densenet121", Spec(_torchvision("densenet121"), _image, HOLDOUT_BATCHES, "torchvision densenet121, 224x224")),
    ("regnet_y_400mf", Spec(_torchvision("regnet_y_400mf"), _image, HOLDOUT_BATCHES,
                            "torchvision regnet_y_400mf, 224x224")),
    ("shufflenet_v2_x1_0", Spec(_torchvision("shufflenet_v2_x1_0"), _image, HOLDOUT_BATCHES,
                                "torchvision shufflenet_v2_x1_0, 224x224")),
    ("squeezenet1_1", Spec(_torchvision("squeezenet1_1"), _image, HOLDOUT_BATCHES, "torchvision squeezenet1_1, 224x224")),
    ("mnasnet1_0", Spec(_torchvision("mnasnet1_0"), _image, HOLDOUT_BATCHES, "torchvision mnasnet1_0, 224x224")),
    ("convnext_tiny", Spec(_torchvision("convnext_tiny"), _image, HOLDOUT_BATCHES, "torchvision convnext_tiny, 224x224")),
    ("resnet101", Spec(_torchvision("resnet101"), _image, HOLDOUT_BATCHES, "torchvision resnet101, 224x224")),
    ("vit_b_32", Spec(_torchvision("vit_b_32"), _image, HOLDOUT_BATCHES, "torchvision vit_b_32, 224x224")),
    ("tinyllama_prefill", Spec(
        _llama(512, 0, 32, 0, **TINYLLAMA), _hidden(512, 2048, 32, 128), (1, 4),
        "TinyLlama-sized decoder layer (hidden 2048, 32 heads, 4 KV heads, MLP 5632), prefill of 512 tokens")),
    ("tinyllama_decode_kv2k", Spec(
        _llama(1, 2048, 1, 64, **TINYLLAMA), _hidden(1, 2048, 1, 128), (1, 16),
        "TinyLlama-sized decoder layer, decode: 1 new token, KV cache of 2048 tokens")),
    ("mlp_wide", Spec(lambda b, s, d: mlp([2048, 8192, 2048], nn.GELU, d), _flat(2048), (1, 32),
                      "MLP 2048-8192-2048, GELU")),
    ("mlp_narrow", Spec(lambda b, s, d: mlp([256, 768, 768, 768, 100], nn.SiLU, d), _flat(256), (1, 32),
                        "MLP 256-768-768-768-100, SiLU")),
])


# Blind: a second held-out set, added 2026-12-07 before any of it was measured, because HOLDOUT has
# since guided two sweep additions and is no longer blind. Measure it once per GPU and score the
# mapper on it; never change a sweep, a fallback or a constant because of what it shows (a gap found
# here is reported, and fixed only after a new blind set replaces this one). Architectures neither
# set has: inception branches (googlenet), unpadded large-kernel stems (alexnet), plain 3x3 stacks
# with batchnorm and 25088-wide linears (vgg11_bn), wide bottlenecks, fused-MBConv, hardswish SE
# blocks at larger widths, basic-block resnets, a BERT of other widths and sequence, a 7:1 GQA
# decoder of Qwen2.5-0.5B's widths, and a tapering MLP.
BLIND_BATCHES = (1, 16)
QWEN05 = dict(hidden=896, heads=14, kv_heads=2, head_dim=64, inter=4864)
BLIND = OrderedDict([
    ("googlenet", Spec(_torchvision("googlenet"), _image, BLIND_BATCHES, "torchvision googlenet, 224x224")),
    ("alexnet", Spec(_torchvision("alexnet"), _image, BLIND_BATCHES, "torchvision alexnet, 224x224")),
    ("vgg11_bn", Spec(_torchvision("vgg11_bn"), _image, BLIND_BATCHES, "torchvision vgg11_bn, 224x224")),
    ("wide_resnet50_2", Spec(_torchvision("wide_resnet50_2"), _image, BLIND_BATCHES,
                             "torchvision wide_resnet50_2, 224x224")),
    ("efficientnet_v2_s", Spec(_torchvision("efficientnet_v2_s"), _image, BLIND_BATCHES,
                               "torchvision efficientnet_v2_s, 224x224")),
    ("mobilenet_v3_large", Spec(_torchvision("mobilenet_v3_large"), _image, BLIND_BATCHES,
                                "torchvision mobilenet_v3_large, 224x224")),
    ("resnet34", Spec(_torchvision("resnet34"), _image, BLIND_BATCHES, "torchvision resnet34, 224x224")),
    ("bert_small", Spec(
        lambda b, s, d: _bert(b, s, d) if s else BertEncoder(256, layers=4, d=512, heads=8, ff=2048, device=d),
        _tokens(256, 30522), (1, 8),
        "BERT of 4 x nn.TransformerEncoderLayer(512, 8 heads, ff 2048, gelu), seq 256")),
    ("qwen05_prefill", Spec(
        _llama(256, 0, 32, 0, **QWEN05), _hidden(256, 896, 32, 128), (1, 4),
        "Qwen2.5-0.5B-sized decoder layer (hidden 896, 14 heads, 2 KV heads, MLP 4864), prefill of 256 tokens")),
    ("qwen05_decode_kv1k", Spec(
        _llama(1, 1024, 1, 64, **QWEN05), _hidden(1, 896, 1, 128), (1, 16),
        "Qwen2.5-0.5B-sized decoder layer, decode: 1 new token, KV cache of 1024 tokens")),
    ("mlp_tapered", Spec(lambda b, s, d: mlp([1536, 3072, 768, 10], nn.SiLU, d), _flat(1536), (1, 64),
                         "MLP 1536-3072-768-10, SiLU")),
])


def spec_of(model):
    """The Spec of a development, held-out or blind model (KeyError if none)."""
    for zoo in (MODELS, HOLDOUT, BLIND):
        if model in zoo:
            return zoo[model]
    raise KeyError(model)


def config_name(model, batch, precision):
    return f"{model}_b{batch}_{precision}"


def parse_config(name):
    """'vit_b_16_b8_bf16' -> ('vit_b_16', 8, 'bf16')."""
    rest, precision = name.rsplit("_", 1)
    model, batch = rest.rsplit("_b", 1)
    if all(model not in zoo for zoo in (MODELS, HOLDOUT, BLIND)) or precision not in PRECISIONS:
        raise KeyError(f"unknown config {name!r}")
    return model, int(batch), precision


def plan(models=None, precisions=PRECISIONS, max_batches=None):
    """Config names in measuring order, so that a run cut short by its budget has
    a balanced set: tier by batch index (every model's first batch, then its
    second, ...), and within a tier fp32 and bf16 for every model before tf32 and
    fp16. Returns [(config, tier)] where tier 0 (first batch, fp32 and bf16) is
    the subset measured in two passes."""
    models = list(models or MODELS)
    order = []
    for mi, m in enumerate(models):
        for bi, b in enumerate(spec_of(m).batches[:max_batches]):
            for p in precisions:
                pi = PRECISIONS.index(p)
                order.append(((bi, pi // 2, mi, pi), config_name(m, b, p)))
    order.sort()
    return [(name, 2 * key[0] + key[1]) for key, name in order]


def build(model_name, batch, precision, device, small=False, seed=0):
    """(model in eval mode on `device` in the precision's dtype, inputs tuple,
    description). Floating inputs get the dtype; token ids stay int64."""
    spec = spec_of(model_name)
    torch.manual_seed(seed)
    model = spec.build(batch, small, device).eval()
    dtype = DTYPES[precision]
    model = model.to(dtype=dtype)
    for p in model.parameters():
        p.requires_grad_(False)
    g = torch.Generator(device=device).manual_seed(seed + 1)
    inputs = tuple(t.to(dtype) if t.is_floating_point() else t for t in spec.inputs(batch, small, device, g))
    return model, inputs, spec.description + (" (small dry-run widths)" if small else "")
