#!/usr/bin/python3
"""hwcal backends vs PyTorch: conv2d and GEMM throughput on the same shapes.

Runs bench/backends_vs_torch (the C++ program: every hwcal backend built, timed
with hwcal's harness), then times the same shapes in PyTorch (Debian's
python3-torch, so run this with /usr/bin/python3), with the same thread count
and the same stop rule, and prints per shape and per backend GFLOP/s and the
ratio backend / PyTorch, plus each backend's best conv and best GEMM against
PyTorch's best.

    /usr/bin/python3 bench/backends_vs_torch.py --binary build/bench/backends_vs_torch \
        --threads 1,2 --json docs/bench/backends_vs_torch.json --markdown docs/bench/backends_vs_torch.md

PyTorch side: F.conv2d (NCHW, no bias, as the conv shapes say), torch.matmul
for the square and batched products, F.linear with bias for the linears;
fp32, torch.no_grad(), outputs allocated per call (eager PyTorch as a user
runs it, Python dispatch included). Threads: OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS and MKL_NUM_THREADS are set before torch is imported (in
a child process per thread count, since torch reads them once), then
torch.set_num_threads. The C++ program gets the same environment.

FLOP counts come from the C++ program's JSON (hwcal::flops), so both sides
divide the same work by their own times.
"""

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BACKENDS = ["eigen", "openblas", "onednn", "torch"]


def load_average():
    try:
        with open("/proc/loadavg") as f:
            a, b, c = f.read().split()[:3]
        return {"load1": float(a), "load5": float(b), "load15": float(c)}
    except OSError:
        return {"load1": 0.0, "load5": 0.0, "load15": 0.0}


def cpu_snapshot():
    """(wall, busy CPU-seconds of the machine, steal, this process's CPU-seconds)."""
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    t = os.times()
    return time.monotonic(), (v[0] + v[1] + v[2] + v[5] + v[6]) / tick, v[7] / tick, t.user + t.system


def other_use(a, b):
    """CPUs' worth of time other processes and the hypervisor took between two snapshots."""
    dt = b[0] - a[0]
    return {"seconds": dt, "others_cpus": max(0.0, ((b[1] - a[1]) - (b[3] - a[3])) / dt),
            "steal_cpus": (b[2] - a[2]) / dt, "self_cpus": (b[3] - a[3]) / dt}


def thread_env(threads):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


# ---------------------------------------------------------------- the PyTorch side (child process)


def measure(run, opt):
    """hwcal's stop rule (include/hwcal/measure.hpp), the same options the C++
    side used: warm up, batch runs to min_sample_s, stop when MAD/median is
    under the target after min_samples and min_time_s, or at max_time_s."""
    now = time.perf_counter
    t0 = now()
    warm = 0
    while True:
        run()
        warm += 1
        if now() - t0 >= opt["warmup_s"] or warm >= 1000000:
            break
    per_run = (now() - t0) / warm
    iters = max(1, math.ceil(opt["min_sample_s"] / max(per_run, 1e-9)))
    samples = []
    start = now()
    converged = False
    while True:
        a = now()
        for _ in range(iters):
            run()
        b = now()
        samples.append((b - a) / iters)
        elapsed = b - start
        n = len(samples)
        if n >= opt.get("max_samples", 400) or elapsed >= opt["max_time_s"]:
            break
        if n >= opt["min_samples"] and elapsed >= opt["min_time_s"]:
            med = statistics.median(samples)
            mad = statistics.median(abs(x - med) for x in samples)
            if med > 0 and mad / med <= opt["target_rel_spread"]:
                converged = True
                break
    med = statistics.median(samples)
    mad = statistics.median(abs(x - med) for x in samples)
    return {"median_s": med, "mad_s": mad, "min_s": min(samples), "samples": len(samples), "iterations": iters,
            "converged": converged, "rel_spread": mad / med if med > 0 else 0.0}


def pair(v):
    return tuple(v) if isinstance(v, list) else (v, v)


def torch_worker(shapes_path, threads, out_path, retries):
    import torch  # after the environment is set: torch reads it once
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    # The C++ side's rule: disturbed when other processes took more CPU than
    # this run leaves idle (they time-shared our threads' CPUs).
    disturbed_cpus = max(0, os.cpu_count() - threads) + 0.1
    with open(shapes_path) as f:
        spec = json.load(f)
    opt = spec["measure"]
    gen = torch.Generator().manual_seed(1)

    def rand(*shape):
        return torch.rand(*shape, generator=gen, dtype=torch.float32) * 2 - 1

    results = []
    snap = cpu_snapshot()
    with torch.no_grad():
        for s in spec["shapes"]:
            sh = s["shape"]
            try:
                if s["op"] == "conv2d":
                    x = rand(sh["n"], sh["c"], sh["h"], sh["w"])
                    w = rand(sh["k"], sh["c"] // sh["groups"], sh["r"], sh["s"])
                    b = rand(sh["k"]) if sh["bias"] else None
                    stride, pad, dil, groups = pair(sh["stride"]), pair(sh["padding"]), pair(sh["dilation"]), sh["groups"]

                    def run(x=x, w=w, b=b, stride=stride, pad=pad, dil=dil, groups=groups):
                        return F.conv2d(x, w, b, stride, pad, dil, groups)
                elif s["op"] == "linear":
                    x, w = rand(sh["m"], sh["k"]), rand(sh["n"], sh["k"])
                    b = rand(sh["n"]) if sh["bias"] else None

                    def run(x=x, w=w, b=b):
                        return F.linear(x, w, b)
                elif s["op"] == "matmul":
                    batch = sh.get("batch", 1)
                    if batch == 1:
                        a, bm = rand(sh["m"], sh["k"]), rand(sh["k"], sh["n"])
                    else:
                        a, bm = rand(batch, sh["m"], sh["k"]), rand(batch, sh["k"], sh["n"])

                    def run(a=a, bm=bm):
                        return torch.matmul(a, bm)
                else:
                    raise ValueError("unknown op " + s["op"])
                run()
                for attempt in range(1, retries + 2):
                    a = cpu_snapshot()
                    m = measure(run, opt)
                    u = other_use(a, cpu_snapshot())
                    m["other_cpus"] = u["others_cpus"] + u["steal_cpus"]
                    m["attempts"] = attempt
                    if m["other_cpus"] <= disturbed_cpus or attempt > retries:
                        break
                    time.sleep(1)  # another process took CPU time from ours: measure again
                m["gflops"] = s["flops"] / m["median_s"] / 1e9
                results.append({"shape": s["name"], "ok": True, **m})
            except Exception as e:  # a shape PyTorch refuses is reported, not fatal
                results.append({"shape": s["name"], "ok": False, "error": str(e)})
            print("  pytorch %-28s %s" % (s["name"], "%.1f GFLOP/s" % results[-1]["gflops"] if results[-1]["ok"]
                                                     else results[-1]["error"]), file=sys.stderr, flush=True)

    others = other_use(snap, cpu_snapshot())
    info = {
        "other_processes": others,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "parallel_info": torch.__config__.parallel_info(),
        "python": platform.python_version(),
    }
    with open(out_path, "w") as f:
        json.dump({"results": results, "software": info}, f, indent=1)


# ---------------------------------------------------------------- the driver


def run_threads(binary, threads, quick, backends, retries):
    """One thread count: the C++ backends, then PyTorch, each in a fresh process."""
    env = thread_env(threads)
    with tempfile.TemporaryDirectory() as tmp:
        cpp_json = os.path.join(tmp, "backends.json")
        cmd = [binary, "--threads", str(threads), "--json", cpp_json, "--retries", str(retries)]
        if quick:
            cmd.append("--quick")
        if backends:
            cmd += ["--backends", backends]
        print("$ " + " ".join(shlex.quote(c) for c in cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, env=env, check=True, stdout=sys.stderr)
        with open(cpp_json) as f:
            cpp = json.load(f)
        load_between = load_average()
        torch_json = os.path.join(tmp, "torch.json")
        subprocess.run([sys.executable, os.path.abspath(__file__), "_torch", cpp_json, str(threads), torch_json, str(retries)],
                       env=env, check=True)
        with open(torch_json) as f:
            pt = json.load(f)
    return {"threads": threads, "backends_run": cpp, "pytorch": pt, "load_between": load_between, "load_end": load_average()}


def analyse(run):
    """Per shape: GFLOP/s of each backend and of PyTorch, ratios; per backend
    and group: best vs PyTorch's best, and the geometric mean of the ratios."""
    cpp, pt = run["backends_run"], run["pytorch"]
    shapes = cpp["shapes"]
    pyt = {r["shape"]: r for r in pt["results"]}
    backends = [b for b in BACKENDS if any(r["backend"] == b for r in cpp["results"])]
    got = {(r["backend"], r["shape"]): r for r in cpp["results"]}
    rows = []
    for s in shapes:
        p = pyt.get(s["name"], {})
        row = {"shape": s["name"], "group": s["group"], "label": s["label"], "flops": s["flops"],
               "pytorch_gflops": p.get("gflops") if p.get("ok") else None, "backends": {}}
        for b in backends:
            r = got.get((b, s["name"]), {})
            g = r.get("gflops") if r.get("ok") else None
            row["backends"][b] = {"gflops": g, "ratio": g / row["pytorch_gflops"] if g and row["pytorch_gflops"] else None,
                                  "implementation": r.get("implementation", r.get("error", ""))}
        rows.append(row)
    summary = {}
    for group in ("conv", "gemm"):
        grows = [r for r in rows if r["group"] == group]
        pbest = max((r for r in grows if r["pytorch_gflops"]), key=lambda r: r["pytorch_gflops"], default=None)
        summary[group] = {"pytorch_best": {"gflops": pbest["pytorch_gflops"], "shape": pbest["shape"]} if pbest else None}
        for b in backends:
            ok = [r for r in grows if r["backends"][b]["gflops"]]
            best = max(ok, key=lambda r: r["backends"][b]["gflops"], default=None)
            ratios = [r["backends"][b]["ratio"] for r in ok if r["backends"][b]["ratio"]]
            summary[group][b] = {
                "best_gflops": best["backends"][b]["gflops"] if best else None,
                "best_shape": best["shape"] if best else None,
                "best_vs_pytorch_best": best["backends"][b]["gflops"] / pbest["pytorch_gflops"] if best and pbest else None,
                "geomean_ratio": math.exp(sum(math.log(x) for x in ratios) / len(ratios)) if ratios else None,
                "shapes": len(ok),
            }
    return backends, rows, summary


def other_text(run):
    """Other processes' CPU use per side (whole run, retries included), the
    most disturbed measurement kept, and how many were measured again."""
    cpp, pt = run["backends_run"], run["pytorch"]
    parts = ["%s %.2f" % (b, u["others_cpus"]) for b, u in cpp.get("other_processes", {}).items()]
    if pt["software"].get("other_processes"):
        parts.append("PyTorch %.2f" % pt["software"]["other_processes"]["others_cpus"])
    kept = [r.get("other_cpus", 0.0) for r in cpp["results"] if r.get("ok")] + \
           [r.get("other_cpus", 0.0) for r in pt["results"] if r.get("ok")]
    again = sum(r.get("attempts", 1) - 1 for r in cpp["results"]) + sum(r.get("attempts", 1) - 1 for r in pt["results"])
    return "%s; measured again: %d; most disturbed measurement kept: %.2f CPUs (disturbed above %.2f)" % (
        ", ".join(parts), again, max(kept, default=0.0), cpp.get("disturbed_above_cpus", 0.0))


def fmt(v, spec="%.1f"):
    return "-" if v is None else spec % v


def render(run, backends, rows, summary, md):
    """Text tables (md=False) or Markdown tables (md=True)."""
    out = []
    t = run["threads"]
    head = ["shape", "dims", "PyTorch"] + backends
    if md:
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|")
    else:
        out.append("%-28s %-26s %9s" % tuple(head[:3]) + "".join(" %17s" % b for b in backends))
    for r in rows:
        cells = [fmt(r["backends"][b]["gflops"]) + " (" + fmt(r["backends"][b]["ratio"], "%.2fx") + ")" for b in backends]
        if md:
            out.append("| " + " | ".join([r["shape"], r["label"], fmt(r["pytorch_gflops"])] + cells) + " |")
        else:
            out.append("%-28s %-26s %9s" % (r["shape"], r["label"], fmt(r["pytorch_gflops"])) +
                       "".join(" %17s" % c for c in cells))
    out.append("")
    shead = ["group", "PyTorch best"] + [b + " best (vs PyTorch best)" for b in backends]
    if md:
        out.append("Best per backend vs PyTorch's best, GFLOP/s (geometric mean of the per-shape ratios in brackets):")
        out.append("")
        out.append("| " + " | ".join(shead) + " |")
        out.append("|" + "|".join(["---"] + ["---:"] * (len(shead) - 1)) + "|")
    else:
        out.append("best per backend vs PyTorch's best, GFLOP/s [geometric mean of per-shape ratios], %d thread%s" %
                   (t, "" if t == 1 else "s"))
    for group in ("conv", "gemm"):
        s = summary[group]
        pb = s["pytorch_best"]
        cells = [("%s (%s)" % (fmt(pb["gflops"]), pb["shape"])) if pb else "-"]
        for b in backends:
            x = s[b]
            cells.append("%s (%s) [%s]" % (fmt(x["best_gflops"]), fmt(x["best_vs_pytorch_best"], "%.2fx"),
                                           fmt(x["geomean_ratio"], "%.2fx")))
        if md:
            out.append("| " + " | ".join([group] + cells) + " |")
        else:
            out.append("  %-5s PyTorch %s" % (group, cells[0]))
            for b, c in zip(backends, cells[1:]):
                out.append("        %-9s %s" % (b, c))
    return "\n".join(out)


def machine_text(cpp):
    h = cpp["host"]
    return "%s, %d logical CPUs%s" % (h["cpu_model"], h["logical_cpus"],
                                     (", hypervisor: " + h["hypervisor"]) if h.get("hypervisor") else "")


def find_binary(given):
    if given:
        return given
    for d in (os.environ.get("HWCAL_BUILD_DIR", ""), os.path.join(HERE, "..", "build"), "/tmp/bench-build"):
        p = os.path.join(d, "bench", "backends_vs_torch")
        if d and os.access(p, os.X_OK):
            return p
    sys.exit("backends_vs_torch: give --binary (the C++ program, <build>/bench/backends_vs_torch)")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_torch":
        torch_worker(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", help="the C++ program (default: $HWCAL_BUILD_DIR/bench/backends_vs_torch, ./build, /tmp/bench-build)")
    ap.add_argument("--threads", default="1", help="comma-separated thread counts, each a separate run (default 1)")
    ap.add_argument("--backends", default="", help="subset of eigen,openblas,onednn,torch (default: all built)")
    ap.add_argument("--quick", action="store_true", help="short measurements: a smoke test, not numbers to quote")
    ap.add_argument("--retries", type=int, default=3,
                    help="measure a shape again, up to this many times, when other processes took CPU time from ours")
    ap.add_argument("--json", help="write everything measured and the ratios")
    ap.add_argument("--markdown", help="write the tables, command, date, machine and load as Markdown")
    a = ap.parse_args()
    import importlib.util  # finding torch's spec does not import it (threads are set before that)
    if importlib.util.find_spec("torch") is None:
        sys.exit("backends_vs_torch: %s has no torch; run this with /usr/bin/python3 (Debian's python3-torch)" % sys.executable)
    binary = find_binary(a.binary)
    command = " ".join(shlex.quote(x) for x in ["/usr/bin/python3"] + sys.argv)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    load_start = load_average()

    runs = []
    for t in [int(x) for x in a.threads.split(",") if x]:
        run = run_threads(binary, t, a.quick, a.backends, a.retries)
        backends, rows, summary = analyse(run)
        run.update({"rows": rows, "summary": summary})
        runs.append((run, backends))
        print("\n== %d thread%s, fp32: GFLOP/s (ratio backend / PyTorch) ==" % (t, "" if t == 1 else "s"))
        print(render(run, backends, rows, summary, md=False))
        lb = run["backends_run"]["load_start"]
        print("load average (1 min): %.2f before the backends, %.2f before PyTorch, %.2f after" %
              (lb["load1"], run["load_between"]["load1"], run["load_end"]["load1"]))
        print("other processes, CPUs used while each was measured: " + other_text(run))
        sys.stdout.flush()

    if a.json:
        with open(a.json, "w") as f:
            json.dump({"benchmark": "backends_vs_torch", "command": command, "date_utc": started, "load_start": load_start,
                       "runs": [r for r, _ in runs]}, f, indent=1)
        print("wrote " + a.json, file=sys.stderr)
    if a.markdown:
        first = runs[0][0]["backends_run"]
        pt = runs[0][0]["pytorch"]["software"]
        sw = first["software"]
        lines = ["# hwcal backends vs PyTorch: conv2d and GEMM, fp32", "",
                 "Generated by `bench/backends_vs_torch.py` (see docs/bench/README.md for what it measures).", "",
                 "- command: `" + command + "`",
                 "- date (UTC): " + started,
                 "- machine: " + machine_text(first),
                 "- PyTorch %s (mkldnn %s); oneDNN %s; OpenBLAS %s" % (
                     pt["torch"], "on" if pt["mkldnn"] else "off", sw.get("onednn", {}).get("onednn", "-"),
                     sw.get("openblas", {}).get("openblas", "-")),
                 "- measurement: hwcal's stop rule on both sides (warm-up %.3g s, samples of >= %.3g ms, >= %d samples and "
                 "%.3g s, stop at MAD/median <= %.3g%% or %.3g s); medians; GFLOP/s = hwcal::flops / median time" % (
                     first["measure"]["warmup_s"], first["measure"]["min_sample_s"] * 1e3, first["measure"]["min_samples"],
                     first["measure"]["min_time_s"], first["measure"]["target_rel_spread"] * 100,
                     first["measure"]["max_time_s"]),
                 "- cells: GFLOP/s (backend / PyTorch); PyTorch times include Python dispatch (eager use), the backends "
                 "call their library from C++", ""]
        for run, backends in runs:
            t = run["threads"]
            lb = run["backends_run"]["load_start"]
            lines += ["## %d thread%s" % (t, "" if t == 1 else "s"), "",
                      "Load average (1/5/15 min) before the backends: %.2f / %.2f / %.2f; before PyTorch: %.2f; after: %.2f." % (
                          lb["load1"], lb["load5"], lb["load15"], run["load_between"]["load1"], run["load_end"]["load1"]),
                      "Other processes, CPUs' worth of time used while each side was measured (0 = the machine was ours): " +
                      other_text(run) + ".", "",
                      render(run, backends, run["rows"], run["summary"], md=True), ""]
        with open(a.markdown, "w") as f:
            f.write("\n".join(lines))
        print("wrote " + a.markdown, file=sys.stderr)


if __name__ == "__main__":
    main()
