"""Calibration fidelity on a GPU: the best throughput in an hwcal profile vs
what PyTorch reaches in the same run (torch_ceilings.py).

Usage: python3 compare_ceilings.py PROFILE.json CEILINGS.json [OUT.md]"""
import json
import sys


def best(profile, ops, precision):
    top, where = 0.0, None
    for c in profile["operations"]:
        if c["op"] in ops and c["precision"] == precision:
            for s in c["samples"]:
                if s["gflops"] > top:
                    top, where = s["gflops"], s["shape"]
    return top, where


def main(profile_path, ceilings_path, out=None):
    p = json.load(open(profile_path))
    t = json.load(open(ceilings_path))
    dev = p.get("device") or {}
    lines = [f"GPU: {dev.get('name')} (driver {dev.get('driver')}), hwcal profile {profile_path} ({p['mode']}), "
             f"PyTorch {t['torch']} in the same run", "",
             "| what | precision | hwcal best | PyTorch | hwcal / PyTorch | hwcal shape |", "|---|---|---|---|---|---|"]
    rows = []
    for prec, torch_gflops in t["gemm_gflops"].items():
        g, where = best(p, ("matmul", "linear"), prec)
        rows.append(("GEMM", prec, g, torch_gflops, where))
    for prec, torch_gflops in t.get("conv3x3_gflops", {}).items():
        g, where = best(p, ("conv2d",), prec)
        rows.append(("conv2d", prec, g, torch_gflops, where))
    for what, prec, g, ref, where in rows:
        ratio = g / ref if ref else 0
        lines.append(f"| {what} | {prec} | {g / 1000:.1f} TFLOP/s | {ref / 1000:.1f} TFLOP/s | {ratio:.3f} | {json.dumps(where)} |")
    hbm = next((l["gbps"] for l in p["memory"]["levels"] if l["name"] == "HBM"), 0)
    copy = max(t["copy_gbps_by_mib"].values())
    lines += ["", f"HBM bandwidth: hwcal triad {hbm:.0f} GB/s vs PyTorch device copy {copy:.0f} GB/s "
              f"(ratio {hbm / copy:.3f}); STREAM-style kernels: " +
              ", ".join(f"{s['kernel']} {s['gbps']:.0f}" for s in p["memory"]["stream"]),
              f"Launch overhead: hwcal {p['overhead']['derivation']}; PyTorch tiny kernel eager "
              f"{t['tiny_kernel_eager_s'] * 1e6:.2f} us, in a CUDA graph {t['tiny_kernel_graph_s'] * 1e6:.2f} us"]
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        open(out, "w").write(text)


if __name__ == "__main__":
    main(*sys.argv[1:])
