"""Each layer in a forward pass against hwcal's in-pass prediction, summed per
op kind and per convolution variant and batch: the CPU validation's layers
timed alone (isolated) and inside interpreted forward passes (in context),
beside hwcal's isolated latency (`latency_s`) and its in-pass one
(`in_sequence_s`). Reads a report's cpu_results.json.gz (report.py) and the
measurements it was made from (for the workloads' shapes); prints tables,
asserts nothing.

  /usr/bin/python3 validation/in_pass_by_kind.py docs/validation/amd-epyc-zen5/cpu_results.json.gz \\
      validation/results/amd-epyc-zen5/measured_t1.json.gz [--threads 1] [--layers depthwise]
"""
import argparse
import collections
import gzip
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def conv_variant(s):
    groups, c = s.get("groups", 1), s["c"]
    if groups > 1:
        return "depthwise" if groups == c else "grouped"
    return "pointwise" if s.get("r", 1) == 1 and s.get("s", 1) == 1 else "dense"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", help="a report's cpu_results.json.gz")
    ap.add_argument("measured", help="the measured_t<N>.json.gz it was made from")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--layers", metavar="VARIANT", help="also list each convolution of this variant "
                    "(depthwise, grouped, pointwise, dense), by its input's size")
    a = ap.parse_args()
    with gzip.open(a.results) as f:
        configs = json.load(f)["threads"][a.threads]["configs"]
    with gzip.open(a.measured) as f:
        measured = json.load(f)["configs"]
    by_kind = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0.0])
    by_conv = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0.0])
    layers = []
    for name, c in configs.items():
        rows = [dict(zip(c["unit_columns"], u)) for u in c["units"]]
        if not rows or "in_sequence_s" not in rows[0]:
            raise SystemExit(f"{a.results}: no in_sequence_s per layer (made by an older report.py)")
        wl_path = measured[name]["workload"]
        with open(wl_path if os.path.isabs(wl_path) else os.path.join(HERE, "..", wl_path)) as f:
            shapes = {s["name"]: s for s in json.load(f)["subgraphs"]}
        for u in rows:
            if u["in_context_s"] is None:
                continue
            keys = [(by_kind, u["kind"])]
            if u["kind"] == "conv2d":
                s = shapes[u["name"]]
                variant = conv_variant(s)
                keys.append((by_conv, f"{variant} b{measured[name]['batch']}"))
                if variant == a.layers:
                    layers.append((s["n"] * s["c"] * s["h"] * s["w"] * 4 / 1e6, name, u))
            for table, key in keys:
                t = table[key]
                t[0] += 1
                t[1] += u["measured_s"]
                t[2] += u["in_context_s"]
                t[3] += u["predicted_s"]
                t[4] += u["in_sequence_s"]

    def show(title, table):
        print(f"\n{title}\n{'':22s} {'layers':>6s} {'alone ms':>10s} {'in context':>10s} {'hwcal alone':>11s} "
              f"{'in pass':>9s} {'ctx-alone us/layer':>18s} {'pass-alone us/layer':>19s} {'in pass / ctx':>13s}")
        for k, (n, iso, ctx, pred, seq) in sorted(table.items(), key=lambda kv: -kv[1][2]):
            print(f"{k:22s} {n:6d} {iso * 1e3:10.2f} {ctx * 1e3:10.2f} {pred * 1e3:11.2f} {seq * 1e3:9.2f} "
                  f"{(ctx - iso) / n * 1e6:18.1f} {(seq - pred) / n * 1e6:19.1f} {seq / ctx:13.2f}")

    show("per op kind (sums over every config)", by_kind)
    show("convolutions by variant and batch", by_conv)
    if a.layers:
        print(f"\n{a.layers} convolutions by input size (fp32)\n{'config':24s} {'layer':26s} {'input MB':>8s} "
              f"{'alone us':>9s} {'in ctx us':>9s} {'ctx-alone':>9s} {'hwcal pass-alone':>16s}")
        for mb, name, u in sorted(layers, key=lambda r: r[0]):
            iso, ctx = u["measured_s"] * 1e6, u["in_context_s"] * 1e6
            added = (u["in_sequence_s"] - u["predicted_s"]) * 1e6
            print(f"{name:24s} {u['name'][:26]:26s} {mb:8.2f} {iso:9.1f} {ctx:9.1f} {ctx - iso:9.1f} {added:16.1f}")


if __name__ == "__main__":
    main()
