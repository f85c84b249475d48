"""Names of the validation configs (no torch import, so the thread environment
can be set first). A config is <model>_b<batch>."""
from __future__ import annotations

MODEL_NAMES = ("resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "vit_b_16",
               "transformer_layer", "mlp", "mlp_gelu", "mlp_deep",
               # added with the LLM op kinds and the CPU model rework (issues 11, 12): never tuned to
               "squeezenet1_1", "shufflenet_v2_x1_0", "regnet_y_400mf", "mlp_wide", "llama_prefill", "llama_decode")
BATCHES = (1, 8)


def parse_config(name):
    model, b = name.rsplit("_b", 1)
    if model not in MODEL_NAMES:
        raise KeyError(f"unknown model {model!r}; known: {', '.join(MODEL_NAMES)}")
    return model, int(b)


def expand(selection=None):
    """Config names from a selection of config or model names (default: all, in
    order: every model at batch 1, then at batch 8)."""
    if not selection:
        return [f"{m}_b{b}" for b in BATCHES for m in MODEL_NAMES]
    out = []
    for s in selection:
        if s in MODEL_NAMES:
            out.extend(f"{s}_b{b}" for b in BATCHES)
        else:
            parse_config(s)
            out.append(s)
    return out
