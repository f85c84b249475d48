"""The model configurations of the CPU validation: torchvision models built with
random weights (weights=None; timing does not depend on weight values), a
transformer encoder layer and MLPs. Imports torch: import after the thread
environment is set."""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
import torchvision

from configs import MODEL_NAMES, parse_config


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
}


def build(name, seed=0):
    """(model in eval mode, input tensor, description) for a config name like 'resnet18_b1'."""
    model_name, batch = parse_config(name)
    assert set(MODELS) == set(MODEL_NAMES)
    builder, shape, desc = MODELS[model_name]
    torch.manual_seed(seed)
    model = builder().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn((batch,) + tuple(shape), generator=torch.Generator().manual_seed(seed + 1))
    return model, x, desc
