"""The model configurations of the CPU validation: torchvision models built with
random weights (weights=None; timing does not depend on weight values), a
transformer encoder layer and MLPs. Imports torch: import after the thread
environment is set."""
from __future__ import annotations

from collections import OrderedDict

import os
import sys

import torch
import torch.nn as nn
import torchvision

from configs import MODEL_NAMES, parse_config

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpu"))
from models_gpu import LlamaLayer  # noqa: E402  (one Llama layer for the CPU and GPU validations)


def tiny_llama(seq, cache):
    """A TinyLlama-1.1B-sized decoder layer (hidden 2048, 32 query heads over 4
    KV heads of 64, SwiGLU 5632). The batch is set per config, so the builder
    takes it (the KV cache is a buffer of that batch)."""
    return lambda batch: LlamaLayer(batch, seq, cache, hidden=2048, heads=32, kv_heads=4, head_dim=64, inter=5632)


class EncoderLayer(nn.Module):
    """nn.TransformerEncoderLayer(d_model 512, 8 heads, ff 2048, batch_first) on a
    sequence of 128. Wrapped so that torch.fx traces the wrapper and keeps the
    layer itself as one leaf node."""

    def __init__(self, d_model=512, nhead=8, ff=2048):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(d_model, nhead, ff, batch_first=True)

    def forward(self, x):
        return self.layer(x)


def mlp(widths, act):
    layers = OrderedDict()
    for i in range(len(widths) - 1):
        layers[f"fc{i + 1}"] = nn.Linear(widths[i], widths[i + 1])
        if i < len(widths) - 2:
            layers[f"act{i + 1}"] = act()
    return nn.Sequential(layers)


# name -> (builder, input shape without the batch dimension, description)
MODELS = {
    "resnet18": (lambda: torchvision.models.resnet18(weights=None), (3, 224, 224), "torchvision resnet18"),
    "resnet50": (lambda: torchvision.models.resnet50(weights=None), (3, 224, 224), "torchvision resnet50"),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(weights=None), (3, 224, 224), "torchvision mobilenet_v2"),
    "mobilenet_v3_small": (lambda: torchvision.models.mobilenet_v3_small(weights=None), (3, 224, 224),
                           "torchvision mobilenet_v3_small"),
    "efficientnet_b0": (lambda: torchvision.models.efficientnet_b0(weights=None), (3, 224, 224),
                        "torchvision efficientnet_b0"),
    "vit_b_16": (lambda: torchvision.models.vit_b_16(weights=None), (3, 224, 224), "torchvision vit_b_16"),
    "transformer_layer": (lambda: EncoderLayer(512, 8, 2048), (128, 512),
                          "nn.TransformerEncoderLayer(512, 8 heads, ff 2048, batch_first), seq 128"),
    "mlp": (lambda: mlp([784, 1024, 1024, 10], nn.ReLU), (784,), "MLP 784-1024-1024-10, ReLU"),
    "mlp_gelu": (lambda: mlp([1024, 4096, 4096, 1024], nn.GELU), (1024,), "MLP 1024-4096-4096-1024, GELU"),
    "mlp_deep": (lambda: mlp([512] * 9, nn.ReLU), (512,), "MLP 8 x (512-512), ReLU"),
    "squeezenet1_1": (lambda: torchvision.models.squeezenet1_1(weights=None), (3, 224, 224),
                      "torchvision squeezenet1_1"),
    "shufflenet_v2_x1_0": (lambda: torchvision.models.shufflenet_v2_x1_0(weights=None), (3, 224, 224),
                           "torchvision shufflenet_v2_x1_0"),
    "regnet_y_400mf": (lambda: torchvision.models.regnet_y_400mf(weights=None), (3, 224, 224),
                       "torchvision regnet_y_400mf"),
    "mlp_wide": (lambda: mlp([2048, 8192, 2048], nn.GELU), (2048,), "MLP 2048-8192-2048, GELU (134 MB of weights)"),
    "llama_prefill": (tiny_llama(128, 0), (128, 2048),
                      "Llama decoder layer (TinyLlama-1.1B sizes: hidden 2048, 32 heads / 4 KV heads, SwiGLU 5632), "
                      "prefill of 128 tokens"),
    "llama_decode": (tiny_llama(1, 512), (1, 2048),
                     "the same Llama decoder layer, decode: 1 new token per sequence against a KV cache of 512"),
}

# Builders that take the batch (their buffers depend on it).
BATCHED_BUILDERS = {"llama_prefill", "llama_decode"}


def build(name, seed=0):
    """(model in eval mode, input tensor, description) for a config name like 'resnet18_b1'."""
    model_name, batch = parse_config(name)
    assert set(MODELS) == set(MODEL_NAMES)
    builder, shape, desc = MODELS[model_name]
    torch.manual_seed(seed)
    model = (builder(batch) if model_name in BATCHED_BUILDERS else builder()).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn((batch,) + tuple(shape), generator=torch.Generator().manual_seed(seed + 1))
    return model, x, desc
