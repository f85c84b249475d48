#!/usr/bin/env python3
"""CPU test of collectives_torch.py's compare half: synthetic torch timings
against the synthetic GPU profile (tests/data/profile_gpu_small.json) through
the real `hwcal predict`.

  python3 validation/gpu/test_collectives_torch.py build/tools/hwcal/hwcal
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import collectives_torch as ct  # noqa: E402

PROFILE = os.path.join(ROOT, "tests/data/profile_gpu_small.json")


def synthetic_rows():
    """The profile's own model (make_profile_gpu_small.py: alpha 6/15 us, busbw 360 GB/s), torch 'measured' at
    exactly it for all_reduce and 30% slower for broadcast."""
    rows = []
    for op, slow in (("all_reduce", 1.0), ("broadcast", 1.3)):
        for b in (64 << 10, 4 << 20):
            factor = 2 * (8 - 1) / 8 if op == "all_reduce" else 1.0
            t = lambda alpha: alpha + b * factor / 360e9
            rows.append({"op": op, "bytes": b, "gpus": 8, "precision": "bf16", "calls": 10,
                         "graph_s": t(6e-6) * slow, "eager_s": t(15e-6) * slow})
    rows.append({"op": "send_recv", "bytes": 1 << 20, "gpus": 8, "precision": "bf16", "calls": 10,
                 "graph_error": "RuntimeError: capture refused", "eager_s": 20e-6})
    return rows


def main():
    hwcal = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build/tools/hwcal/hwcal")
    rows = synthetic_rows()
    with tempfile.TemporaryDirectory() as d:
        measured = os.path.join(d, "m.json")
        json.dump({"meta": {"torch": "synthetic", "gpus": 8}, "rows": rows}, open(measured, "w"))
        md, js = os.path.join(d, "r.md"), os.path.join(d, "r.json")
        r = subprocess.run([sys.executable, os.path.join(HERE, "collectives_torch.py"), "compare", "--measured", measured,
                            "--profile", PROFILE, "--hwcal", hwcal, "--md", md, "--json", js],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert r.returncode == 0, r.stdout
        out = json.load(open(js))["rows"]
        text = open(md).read()
    failures = []

    def check(cond, what):
        print(("ok: " if cond else "FAIL: ") + what)
        if not cond:
            failures.append(what)

    check(len(out) == 5, "one scored row per measured row")
    ar = [x for x in out if x["op"] == "all_reduce"]
    check(all(abs(x["graph_ratio"] - 1) < 0.02 and x["within"] for x in ar),
          "all_reduce at the profile's own model: graph ratio 1, within the bound")
    check(all(abs(x["eager_ratio"] - 1) < 0.02 for x in ar), "all_reduce eager ratio 1 (the eager curve)")
    bc = [x for x in out if x["op"] == "broadcast"]
    check(all(abs(x["graph_ratio"] - 1 / 1.3) < 0.02 and not x["within"] for x in bc),
          "broadcast 30% slower than predicted: ratio 0.77, outside the bound")
    check([x["bound"] for x in ar] == [0.20, 0.10], "bound 20% below 1 MiB, 10% from 1 MiB")
    sr = [x for x in out if x["op"] == "send_recv"][0]
    check(sr["graph_error"].startswith("RuntimeError") and not sr["within"], "a refused capture is reported, not dropped")
    check("Graph rows within the bound (10% at >= 1 MiB, 20% below): 2 of 5" in text, "markdown summary line")
    check("| all_reduce | 4 MiB | 8 |" in text, "markdown row")
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
