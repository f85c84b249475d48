#!/usr/bin/env python3
"""Re-map the named leaves (rmsnorm, rotary), attention blocks' head split and
merge, and concats' input counts of committed ground truth with this commit's
tracer, on the CPU, without re-measuring: the measured times of a unit do not
depend on how it is traced, only its workload subgraphs do.

    /usr/bin/python3 validation/gpu/remap_leaves.py \
        --measured D/gpu_measured.json.gz --workloads D/workloads.tar.gz --out DIR
    # -> DIR/gpu_measured.json.gz and DIR/workloads.tar.gz, for report_gpu.py

Each scored unit of kind rmsnorm or rotary is rebuilt from the module class the
ground truth ran (models_gpu.LlamaRMSNorm, models_gpu.RotaryEmbedding) at the
unit's shape and precision (fp16 as fp16; tf32 as fp32), called once with its
aten ops recorded, and mapped by the tracer's own `_named_leaf_unit`: the same
code a fresh trace runs. Its subgraphs replace the unit's in the workload (same
position) and its subgraph names replace the unit's list in the measurements;
the unit gets the tracer's note. An mha or encoder_layer unit's `split_heads`
and `merge_heads` subgraphs take the tracer's `_heads_op` at the unit's head
size (a copy of runs of a cache line or more since the tracer of 2026-12-05
07:29 UTC, an element transpose before). A concat written before the tracer
recorded `inputs` and `largest` (2026-12-07) takes them from the same model
traced again here, at batch 2 in fp32 (measure_gpu's build and capture, joined
on the subgraph's name): the input count, and the largest input's share of
the bytes (a concat along channels or a KV cache's sequence keeps its shares
at every batch and precision). A materialized copy (copy or transpose)
takes the op the same trace gives it: a permute where its source is laid out
otherwise but read in few sectors (the tracer of 2026-12-07: a channel
shuffle, a head split outside an attention block), as does a concat of a
non-contiguous input (ViT's class token); a unit of that one subgraph takes
the permute's kind. Other units and every measured time are left as
they were.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "python"))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import models_gpu  # noqa: E402
from hwcal import trace as T  # noqa: E402
from report_gpu import load_json, open_workloads  # noqa: E402

DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
HEADS = (".split_heads", ".merge_heads")


def remap_heads(wl, unit, precision):
    """Sets the op of the unit's head split/merge subgraphs by the tracer's rule;
    True when one changed."""
    names = set(unit["subgraphs"])
    sgs = [sg for sg in wl["subgraphs"] if sg["name"] in names]
    changed = False
    for sg in sgs:
        if not sg["name"].endswith(HEADS):
            continue
        prefix = sg["name"].rsplit(".", 1)[0]
        attn = next((a for a in sgs if a["op"] == "attention" and a["name"].startswith(prefix + ".")), None)
        if attn is None:
            continue
        op = T._heads_op(attn["head_dim"], torch.empty(0, dtype=DTYPES[precision]).element_size())
        if sg["op"] != op:
            sg["op"] = op
            changed = True
    return changed


def leaf_unit(kind, name, sg, batch, precision):
    """The tracer's unit of one leaf, from the fused subgraph the old trace gave."""
    dt = DTYPES[precision]
    if kind == "rmsnorm":
        mod = models_gpu.LlamaRMSNorm(sg["cols"]).to(dt)
        x = torch.randn(sg["rows"], sg["cols"], dtype=dt)
    else:
        seq = sg["tokens"] // batch
        mod = models_gpu.RotaryEmbedding(sg["head_dim"], seq).to(dt)  # buffers too, as the model's .to()
        x = torch.randn(batch, sg["heads"], seq, sg["head_dim"], dtype=dt)
    with torch.no_grad():
        out, calls = T._recorded_call(lambda: mod(x))
    return T._named_leaf_unit(kind, name, mod, (x,), out, calls)


_TRACED = {}  # model -> its subgraphs traced at batch 2 in fp32 on the CPU
MOVES = ("copy", "transpose", "permute")


def traced_subgraphs(model):
    """The model's subgraphs as this commit's tracer gives them, at batch 2, fp32 (cached):
    an expand to a batch of one is still contiguous, to two it is not (ViT's class token)."""
    if model not in _TRACED:
        import retrace  # measure_gpu's build and capture: only when a re-map needs them

        _TRACED[model] = retrace.traced_doc(models_gpu.config_name(model, 2, "fp32"), "cpu")["subgraphs"]
    return _TRACED[model]


def concat_shares(model):
    """{name: (inputs, largest / bytes)} of the model's concats, traced at batch 2, fp32."""
    return {sg["name"]: (sg.get("inputs", 2), sg.get("largest", 0) / sg["bytes"])
            for sg in traced_subgraphs(model) if sg["op"] == "concat"}


def remap_moves(wl, units, model, batch):
    """Gives the workload's materialized copies (copy, transpose) and concats
    the op the tracer now gives them (a permute since 2026-12-07, and for a
    concat of a non-contiguous input), and a unit of one such subgraph its
    kind; how many changed. The op of a permuted copy depends on its layout,
    not its batch (beyond one): traced once at batch 2, fp32; a concat at batch
    1 stays one (an expand to one image is contiguous)."""
    old = [sg for sg in wl["subgraphs"] if sg["op"] in MOVES or sg["op"] == "concat" and batch > 1]
    if not old:
        return 0
    ops = {sg["name"]: sg["op"] for sg in traced_subgraphs(model) if sg["op"] in MOVES}
    changed = 0
    for sg in old:
        op = ops.get(sg["name"])
        if op is None or op == sg["op"]:
            continue
        sg["op"] = op
        for field in ("inputs", "largest"):  # a concat's, not a copy's
            sg.pop(field, None)
        changed += 1
        for u in units:
            if u.get("category") == "scored" and u.get("subgraphs") == [sg["name"]]:
                u["kind"] = op
    return changed


def remap_concats(wl, model):
    """Gives the workload's concats without `inputs` the tracer's; how many changed."""
    old = [sg for sg in wl["subgraphs"] if sg["op"] == "concat" and "inputs" not in sg]
    if not old:
        return 0
    shares = concat_shares(model)
    old = [sg for sg in old if sg["name"] in shares]
    for sg in old:
        inputs, share = shares[sg["name"]]
        sg["inputs"] = inputs
        if share > 0:
            sg["largest"] = max(int(round(share * sg["bytes"])), -(-sg["bytes"] // inputs))
    return len(old)


def remap(mdoc, wdir):
    """Rewrites the workloads under wdir and the units of mdoc in place; returns
    the number of units and concats re-mapped."""
    count = 0
    for rec in mdoc["configs"].values():
        if "error" in rec or not rec.get("workload"):
            continue
        path = os.path.join(wdir, rec["workload"])
        wl = load_json(path)
        concats = remap_concats(wl, rec["model"]) if rec.get("model") else 0
        moves = remap_moves(wl, rec.get("units", []), rec["model"], rec["batch"]) if rec.get("model") else 0
        count += concats + moves
        changed = concats + moves > 0
        for u in rec.get("units", []):
            if u.get("category") == "scored" and u.get("kind") in ("mha", "encoder_layer"):
                if remap_heads(wl, u, rec["precision"]):
                    count += 1
                    changed = True
                continue
            if u.get("category") != "scored" or u.get("kind") not in ("rmsnorm", "rotary"):
                continue
            pos = [i for i, sg in enumerate(wl["subgraphs"]) if sg["name"] in u["subgraphs"]]
            if len(pos) != 1:
                continue  # a rotary call on q and k at once, or already re-mapped
            sg = wl["subgraphs"][pos[0]]
            if sg["op"] != u["kind"]:
                continue
            new = leaf_unit(u["kind"], u["name"], sg, rec["batch"], rec["precision"])
            wl["subgraphs"][pos[0]:pos[0] + 1] = new["subgraphs"]
            u["subgraphs"] = [s["name"] for s in new["subgraphs"]]
            if new.get("note"):
                u["note"] = new["note"]
            count += 1
            changed = True
        if changed:
            with open(path, "w") as f:
                f.write(T.workload_text(wl))
    return count


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--measured", required=True, help="gpu_measured.json[.gz] of a ground-truth run")
    ap.add_argument("--workloads", required=True, help="its workloads directory or .tar.gz")
    ap.add_argument("--out", required=True, help="directory for gpu_measured.json.gz and workloads.tar.gz")
    args = ap.parse_args(argv)
    mdoc = load_json(args.measured)
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wdir = open_workloads(args.workloads, tmp)
        n = remap(mdoc, wdir)
        with tarfile.open(os.path.join(args.out, "workloads.tar.gz"), "w:gz") as tar:
            tar.add(wdir, arcname="workloads")
    with gzip.open(os.path.join(args.out, "gpu_measured.json.gz"), "wt") as f:
        json.dump(mdoc, f)
    print(f"{n} units, concats and copies re-mapped -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
