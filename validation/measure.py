#!/usr/bin/python3
"""Stage 1 of the CPU validation: trace real PyTorch models with torch.fx, time
every layer in isolation on its real captured inputs and the whole model, and
write hwcal workloads plus a measurements file.

  /usr/bin/python3 validation/measure.py measure --threads 1
      -> validation/workloads/<model>_b<batch>.json
         validation/results/measured_t1.json.gz
  /usr/bin/python3 validation/measure.py workloads --configs resnet18_b1 --out-dir examples/workloads
      -> workloads only (trace + one forward, no timing)

The thread environment (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS)
is set before torch is imported, and torch.set_num_threads(N) after; run one
thread count per process. Use Debian's /usr/bin/python3 (torch 1.13.1 CPU).
"""
from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "gpu"))

from jsonfile import write_atomic  # noqa: E402  (gzip for a .gz name: the tree the device tool carries is capped)

# timing rules, recorded in the measurements file
UNIT_RULE = dict(min_reps=20, budget_s=0.2, max_reps=500, slow_s=0.01, slow_min_reps=5)
EXCLUDED_RULE = dict(min_reps=20, budget_s=0.02, max_reps=200, slow_s=0.01, slow_min_reps=5)
WHOLE_RULE = dict(min_reps=10, budget_s=1.0, max_reps=200, slow_s=0.05, slow_min_reps=10)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sig(x, digits=5):
    return float(f"{x:.{digits}g}")


def rel(path):
    return os.path.relpath(path, ROOT)


def workload_text(name, cap):
    """Workload format v1 of a Capture (fp32), one subgraph per line."""
    from hwcal.trace import workload_doc, workload_text as text

    return text(workload_doc(name, "fp32", cap.units))


# --------------------------------------------------------------------------- machine info


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def loadavg():
    parts = _read("/proc/loadavg").split()
    return [float(p) for p in parts[:3]] if parts else None


def host_info():
    cpuinfo = _read("/proc/cpuinfo")
    model = next((l.split(":", 1)[1].strip() for l in cpuinfo.splitlines() if l.startswith("model name")), "?")
    flags = next((l.split(":", 1)[1].split() for l in cpuinfo.splitlines() if l.startswith("flags")), [])

    def field(name):
        return next((l.split(":", 1)[1].strip() for l in cpuinfo.splitlines() if l.split(":", 1)[0].strip() == name), "?")

    blas = "?"
    try:
        blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    except OSError:
        pass
    osrel = next((l.split("=", 1)[1].strip('"') for l in _read("/etc/os-release").splitlines()
                  if l.startswith("PRETTY_NAME=")), "?")
    return {
        "cpu": model,
        "vendor": field("vendor_id"),
        "family": field("cpu family"),
        "model": field("model"),
        "logical_cpus": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "isa": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags],
        "hypervisor": "hypervisor" in flags,
        "os": osrel,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "libblas.so.3": blas,
    }


def cpu_counters(cpus):
    """(busy seconds on `cpus` (all processes, excluding steal), steal seconds on
    `cpus`, this process's CPU seconds, wall time)."""
    tck = os.sysconf("SC_CLK_TCK")
    busy = steal = 0.0
    names = {f"cpu{c}" for c in cpus}
    for line in _read("/proc/stat").splitlines():
        parts = line.split()
        if parts and parts[0] in names:
            f = [int(v) for v in parts[1:]]
            idle = f[3] + (f[4] if len(f) > 4 else 0)
            st = f[7] if len(f) > 7 else 0
            busy += (sum(f[:8]) - idle - st) / tck
            steal += st / tck
    t = os.times()
    return busy, steal, t.user + t.system, time.time()


def other_load(c0, c1):
    """(CPUs kept busy by other processes on our CPUs, CPUs stolen by the
    hypervisor from our CPUs), averaged between two cpu_counters() readings.
    /proc/stat counts in 10 ms ticks: short intervals are coarse."""
    wall = max(c1[3] - c0[3], 1e-9)
    other = max((c1[0] - c0[0]) - (c1[2] - c0[2]), 0.0) / wall
    return round(other, 3), round((c1[1] - c0[1]) / wall, 3)


# glibc malloc settings for the measuring processes. With glibc's defaults,
# tensors above the (dynamic) mmap threshold are mmap'ed and returned to the OS
# when freed, so every forward pass page-faults its activations in again, and
# how often depends on which models ran earlier in the process (mobilenet_v2 b1:
# 22 ms in a fresh process, 16 ms after resnet50 ran). Fixing the thresholds
# makes a process behave like a warmed-up one, whatever ran before.
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296"

# Other work on our CPUs above this many CPUs makes a sample "contended": it is
# re-timed after waiting for quiet (at most RETRIES times), keeping the least
# contended attempt.
LOAD_LIMIT = 0.25
RETRIES = 2
QUIET_WAIT_S = 10.0  # per wait
QUIET_BUDGET_S = 60.0  # per config and pass: after that, re-time without waiting


def wait_quiet(cpus, max_wait_s=QUIET_WAIT_S, window_s=0.5):
    """Sleeps until other processes leave our CPUs idle for one window (or
    max_wait_s). Returns the seconds waited."""
    t0 = time.time()
    while time.time() - t0 < max_wait_s:
        c0 = cpu_counters(cpus)
        time.sleep(window_s)
        if other_load(c0, cpu_counters(cpus))[0] < LOAD_LIMIT:
            break
    return time.time() - t0


def guarded_time(time_fn, cpus, stats):
    """Runs time_fn() (returning a timing dict), re-running it when other work
    shared our CPUs meanwhile. Adds other_cpu / steal_cpu / attempts."""
    best = None
    for attempt in range(RETRIES + 1):
        c0 = cpu_counters(cpus)
        t = time_fn()
        t["other_cpu"], t["steal_cpu"] = other_load(c0, cpu_counters(cpus))
        t["attempts"] = attempt + 1
        if best is None or t["other_cpu"] < best["other_cpu"]:
            best = t
        if t["other_cpu"] < LOAD_LIMIT:
            break
        stats["retries"] += 1
        left = QUIET_BUDGET_S - stats["waited_s"]
        if left > 0:
            stats["waited_s"] += wait_quiet(cpus, min(QUIET_WAIT_S, left))
    best["attempts"] = attempt + 1
    if best["other_cpu"] >= LOAD_LIMIT:
        stats["contended"] += 1
    return best


# --------------------------------------------------------------------------- stage 1


def capture(cfg):
    """Build, trace and run a config once. Returns (model, x, desc, gm, cap, diff)."""
    import torch
    from hwcal.trace import capture as trace_capture
    from models import build

    model, x, desc = build(cfg)
    gm, cap, out_traced = trace_capture(model, (x,))
    with torch.no_grad():
        out_eager = model(x)
    diff = float((out_traced - out_eager).abs().max())
    return model, x, desc, gm, cap, diff


def unit_subgraphs(cap):
    return [sg for _, u in cap.units if u["category"] == "scored" for sg in u["subgraphs"]]


def set_threads(threads, blas_threads):
    if "torch" in sys.modules:
        raise RuntimeError("torch was imported before the thread environment was set")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(blas_threads or threads)
    import torch

    torch.set_num_threads(threads)
    return torch


def cmd_workloads(args):
    set_threads(args.threads, args.blas_threads)
    for cfg in args.configs:
        _, _, _, _, cap, diff = capture(cfg)
        path = os.path.join(args.out_dir, cfg + ".json")
        write_atomic(path, workload_text(cfg, cap))
        log(f"{cfg}: {len(unit_subgraphs(cap))} subgraphs -> {rel(path)} (traced vs eager max diff {diff:.2g})")


def cmd_pass(args):
    """One measurement pass over all configs, in this (fresh) process. Writes raw
    per-unit records to args.out."""
    torch = set_threads(args.threads, args.blas_threads)
    import torchvision
    from hwcal.trace import make_call
    from in_context import time_in_context
    from timing import time_call

    out = {"torch": {"version": torch.__version__, "torchvision": torchvision.__version__,
                     "num_threads": torch.get_num_threads(), "num_interop_threads": torch.get_num_interop_threads(),
                     "mkldnn_available": torch.backends.mkldnn.is_available(),
                     "parallel_info": [l.strip() for l in torch.__config__.parallel_info().splitlines()
                                       if ":" in l and "Environment" not in l][:6]},
           "affinity": sorted(os.sched_getaffinity(0)), "configs": {}}
    cpus = sorted(os.sched_getaffinity(0))
    for cfg in args.configs:
        t_cfg = time.time()
        stats = {"retries": 0, "contended": 0, "waited_s": wait_quiet(cpus)}
        c0 = cpu_counters(cpus)
        model, x, desc, gm, cap, diff = capture(cfg)
        with torch.no_grad():
            run_model = functools.partial(lambda m, inp, _args: m(inp), model, x)
            whole = guarded_time(lambda: time_call(run_model, lambda: None, **WHOLE_RULE), cpus, stats)
            units = []
            for node, u in cap.units:
                call, make_args, _ = make_call(node, gm, cap.values)
                if u["category"] in ("scored", "unmapped"):
                    t = guarded_time(lambda: time_call(call, make_args, **UNIT_RULE), cpus, stats)
                else:
                    t = time_call(call, make_args, **EXCLUDED_RULE)
                units.append({k: v for k, v in u.items()} | {"time": t})
            # the same nodes timed inside interpreted forward passes (caches as the model leaves them)
            c_ctx = cpu_counters(cpus)
            in_ctx, ctx_runs = time_in_context(gm, x)
            ctx_other = other_load(c_ctx, cpu_counters(cpus))[0]
        for u in units:
            u["in_context"] = in_ctx.get(u["name"])
        other, steal = other_load(c0, cpu_counters(cpus))
        stats["waited_s"] = round(stats["waited_s"], 1)
        if args.write_workloads:
            wpath = os.path.join(args.workloads_dir, cfg + ".json")
            write_atomic(wpath, workload_text(cfg, cap))
        out["configs"][cfg] = {"description": desc, "input_shape": list(x.shape), "diff": diff, "whole": whole,
                               "units": units, "other_cpu": other, "steal_cpu": steal, "guard": stats,
                               "in_context_runs": ctx_runs, "in_context_other_cpu": ctx_other,
                               "in_context_total": sum(in_ctx.values()),
                               "elapsed_s": round(time.time() - t_cfg, 1)}
        scored = [u for u in units if u["category"] == "scored"]
        log(f"  pass {args.pass_no} {cfg}: whole {whole['median'] * 1e3:.3f} ms ({whole['n']} reps), "
            f"{len(scored)} scored units sum {sum(u['time']['median'] for u in scored) * 1e3:.3f} ms, "
            f"other load {other:.2f} CPU, {stats['retries']} re-timed, {stats['contended']} contended, "
            f"{stats['waited_s']:.0f} s waited, {time.time() - t_cfg:.1f} s")
        del model, x, gm, cap, units
    with open(args.out, "w") as f:
        json.dump(out, f)


def cmd_measure(args):
    """Runs args.passes passes, each in a fresh process with the thread
    environment set before torch is imported, and merges them."""
    import tempfile

    t_start = time.time()
    passes = []
    with tempfile.TemporaryDirectory() as tmp:
        for p in range(args.passes):
            t_pass = time.time()
            raw = os.path.join(tmp, f"pass{p + 1}.json")
            cmd = [sys.executable, os.path.abspath(__file__), "_pass", "--threads", str(args.threads),
                   "--pass-no", str(p + 1), "--out", raw, "--workloads-dir", args.workloads_dir,
                   "--configs", *args.configs]
            if args.blas_threads:
                cmd += ["--blas-threads", str(args.blas_threads)]
            if p == 0:
                cmd.append("--write-workloads")
            if args.cpus:
                cmd = ["taskset", "-c", args.cpus] + cmd
            env = dict(os.environ)
            if args.malloc == "warm":
                env["GLIBC_TUNABLES"] = MALLOC_TUNABLES
            log(f"pass {p + 1}/{args.passes}: {' '.join(cmd)}")
            subprocess.run(cmd, check=True, env=env)
            with open(raw) as f:
                passes.append(json.load(f))
            passes[-1]["elapsed_s"] = round(time.time() - t_pass, 1)
    doc = merge_passes(args, passes, time.time() - t_start)
    write_atomic(args.out, dump_measurements(doc))
    log(f"wrote {rel(args.out)} in {time.time() - t_start:.0f} s")


def merge_passes(args, passes, elapsed):
    import configs

    first = passes[0]
    merged = {}
    for cfg in args.configs:
        recs = [p["configs"][cfg] for p in passes]
        model_name, batch = configs.parse_config(cfg)
        r0 = recs[0]
        scored_sg = [sg for u in r0["units"] if u["category"] == "scored" for sg in u["subgraphs"]]
        c = {"model": model_name, "batch": batch, "description": r0["description"], "input_shape": r0["input_shape"],
             "workload": rel(os.path.join(args.workloads_dir, cfg + ".json")), "subgraph_count": len(scored_sg),
             "traced_vs_eager_max_abs_diff": sig(r0["diff"], 3),
             "whole_model_s": [sig(r["whole"]["median"]) for r in recs],
             "whole_model_reps": [r["whole"]["n"] for r in recs],
             "whole_model_spread": [sig((r["whole"]["p90"] - r["whole"]["p10"]) / r["whole"]["median"], 3)
                                    for r in recs],
             "whole_model_other_cpu": [r["whole"]["other_cpu"] for r in recs],
             "other_cpu": [r["other_cpu"] for r in recs], "steal_cpu": [r["steal_cpu"] for r in recs],
             "guard": [r["guard"] for r in recs],
             "in_context_all_nodes_s": [sig(r["in_context_total"]) for r in recs],
             "in_context_runs": [r["in_context_runs"] for r in recs],
             "in_context_other_cpu": [r["in_context_other_cpu"] for r in recs],
             "elapsed_s": [r["elapsed_s"] for r in recs],
             "units": [], "excluded": {}}
        for i, u in enumerate(r0["units"]):
            per = [r["units"][i] for r in recs]
            if any(q["name"] != u["name"] for q in per):
                raise RuntimeError(f"{cfg}: the traced graph differs between passes")
            ts = [q["time"] for q in per]
            if u["category"] in ("scored", "unmapped"):
                row = {"name": u["name"], "target": u["target"], "category": u["category"], "kind": u["kind"],
                       "subgraphs": [sg["name"] for sg in u["subgraphs"]],
                       "measured_s": [sig(t["median"]) for t in ts], "reps": [t["n"] for t in ts],
                       "spread": [sig((t["p90"] - t["p10"]) / t["median"], 3) for t in ts],
                       "other_cpu": [t["other_cpu"] for t in ts],
                       "in_context_s": [sig(q["in_context"]) if q.get("in_context") is not None else None
                                        for q in per]}
                if u.get("note"):
                    row["note"] = u["note"]
                if u.get("inplace"):
                    row["inplace"] = True
                c["units"].append(row)
            else:
                e = c["excluded"].setdefault(u["category"], {"count": 0, "measured_s": [0.0] * len(ts), "targets": {}})
                e["count"] += 1
                e["targets"][u["target"]] = e["targets"].get(u["target"], 0) + 1
                e["measured_s"] = [a + t["median"] for a, t in zip(e["measured_s"], ts)]
        for e in c["excluded"].values():
            e["measured_s"] = [sig(v) for v in e["measured_s"]]
        merged[cfg] = c
    return {
        "hwcal_validation_measurements": 1,
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "threads": args.threads,
        "passes": len(passes),
        "host": host_info() | {"affinity": first["affinity"]},
        "torch": first["torch"],
        "settings": {
            "env": {"OMP_NUM_THREADS": str(args.threads), "OPENBLAS_NUM_THREADS": str(args.blas_threads or args.threads),
                    "MKL_NUM_THREADS": str(args.threads)},
            "torch.set_num_threads": args.threads,
            "cpu_affinity": args.cpus or "not set",
            "malloc": (f"GLIBC_TUNABLES={MALLOC_TUNABLES} (fixed mmap and trim thresholds: no page faults from "
                       "re-mmapped activations, results independent of what ran before in the process)"
                       if args.malloc == "warm" else "glibc defaults (dynamic mmap threshold)"),
            "mode": "model.eval(), torch.no_grad(), fp32, eager PyTorch",
            "passes": "each pass is a fresh process over all configs (env set before torch is imported)",
            "inplace": "in-place ops (e.g. ReLU(inplace=True)) are timed in place on a fresh clone of their "
                       "captured input, made outside the timed region",
            "unit_rule": UNIT_RULE, "excluded_rule": EXCLUDED_RULE, "whole_model_rule": WHOLE_RULE,
            "statistic": "median of single-call time.perf_counter samples after warm-up, GC off; "
                         "spread = (p90 - p10) / median",
            "in_context": "every node is also timed inside interpreted forward passes of the traced model "
                          "(torch.fx Interpreter, only the call inside the timed region; median over >= 5 passes "
                          "and >= 0.5 s after one warm-up pass): in_context_s; a diagnostic of what isolation "
                          "changes (warm caches), not the scored measurement",
            "contention_guard": f"other processes' CPU use on our CPUs is read from /proc/stat around every "
                                f"timing; above {LOAD_LIMIT} CPU the timing is repeated after waiting for quiet "
                                f"(up to {RETRIES} times, {QUIET_WAIT_S:.0f} s wait each, at most {QUIET_BUDGET_S:.0f} s "
                                f"of waiting per config and pass), keeping the least contended attempt; "
                                f"other_cpu records what remained",
        },
        "command": args.command,
        "elapsed_s": {"passes": [p["elapsed_s"] for p in passes], "total": round(elapsed, 1)},
        "configs": merged,
    }


def dump_measurements(doc):
    """JSON with nested objects indented and each unit (and each list of numbers)
    on one line: compact but diffable."""

    def dump(obj, ind, key=None):
        pad = " " * ind
        if isinstance(obj, dict) and key != "unit":
            if not obj:
                return "{}"
            items = [f'{pad} {json.dumps(k)}: {dump(v, ind + 1, k)}' for k, v in obj.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(obj, list) and key == "units":
            if not obj:
                return "[]"
            return "[\n" + ",\n".join(pad + " " + json.dumps(u) for u in obj) + "\n" + pad + "]"
        if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
            return "[" + ", ".join(dump(v, ind + 1) for v in obj) + "]"
        return json.dumps(obj)

    return dump(doc, 0) + "\n"


def main(argv=None):
    sys.path.insert(0, HERE)
    sys.path.insert(0, os.path.join(ROOT, "python"))
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("measure", "workloads", "_pass"):
        p = sub.add_parser(name)
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--blas-threads", type=int, default=None, help="OPENBLAS_NUM_THREADS (default: --threads)")
        p.add_argument("--configs", nargs="+", default=None,
                       help="config names like resnet18_b1, or model names (all batches); default: all")
    pm = sub.choices["measure"]
    pm.add_argument("--passes", type=int, default=2)
    pm.add_argument("--out", default=None, help="default validation/results/measured_t<threads>.json.gz")
    pm.add_argument("--workloads-dir", default=os.path.join(HERE, "workloads"))
    pm.add_argument("--malloc", choices=("warm", "default"), default="warm",
                    help="warm: fixed glibc malloc thresholds (default); default: glibc's dynamic ones")
    pm.add_argument("--cpus", default=None,
                    help="CPU list for taskset (default: 0 with 1 thread, none otherwise; 'none' to not pin)")
    pw = sub.choices["workloads"]
    pw.add_argument("--out-dir", default=os.path.join(HERE, "workloads"))
    pp = sub.choices["_pass"]
    pp.add_argument("--pass-no", type=int, default=1)
    pp.add_argument("--out", required=True)
    pp.add_argument("--workloads-dir", required=True)
    pp.add_argument("--write-workloads", action="store_true")
    args = ap.parse_args(argv)

    import configs  # no torch

    args.configs = configs.expand(args.configs)
    args.command = " ".join(["/usr/bin/python3", "validation/measure.py"] + argv)
    if args.cmd == "measure":
        args.out = args.out or os.path.join(HERE, "results", f"measured_t{args.threads}.json.gz")
        if args.cpus is None:
            args.cpus = "0" if args.threads == 1 else None
        elif args.cpus == "none":
            args.cpus = None
        cmd_measure(args)
    elif args.cmd == "_pass":
        cmd_pass(args)
    else:
        cmd_workloads(args)


if __name__ == "__main__":
    main()
