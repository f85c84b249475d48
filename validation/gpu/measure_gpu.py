#!/usr/bin/env python3
"""Ground truth for hwcal's GPU predictions: trace real PyTorch models, time
every layer in isolation on its real captured inputs (CUDA graphs and eager),
profile which kernels each layer launches inside a real forward pass, time the
whole model, and write hwcal workloads plus one measurements file.

  python3 validation/gpu/measure_gpu.py --out OUT/gpu_measured.json --workloads-dir OUT/workloads
  python3 validation/gpu/measure_gpu.py --device cpu --dry-run --small --out /tmp/g/m.json   # CPU check
  python3 validation/gpu/measure_gpu.py --summary-of OUT/gpu_measured.json

Configs are model x batch x precision (models_gpu.py), measured in an order that
leaves a balanced set when --budget-s ends the run early; the file is rewritten
atomically after every config. Precisions: fp32 (TF32 off), tf32 (TF32 on for
cuBLAS and cuDNN, fp32 tensors), bf16 and fp16 (model and inputs cast).
Defaults kept and recorded: contiguous (NCHW) tensors, cudnn.benchmark False;
model.eval() under torch.no_grad(). Structure of the output:
validation/gpu/README.md.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time
import traceback
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import gpu_profile  # noqa: E402
import gpu_timing as gt  # noqa: E402
import models_gpu  # noqa: E402
from hwcal.trace import capture, make_call, workload_doc, workload_text  # noqa: E402
from jsonfile import load_json, write_atomic  # noqa: E402

# torch >= 2.9 warns that allow_tf32 will be deprecated; the legacy setters still set every
# TF32 flag consistently (mixing them with the new fp32_precision API is what torch rejects)
warnings.filterwarnings("ignore", message=".*new API settings to control TF32.*")

SMI_FIELDS = "name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,power.draw,temperature.gpu"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def now():
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def sig(x, digits=5):
    return float(f"{x:.{digits}g}")


def round_floats(x):
    if isinstance(x, float):
        return sig(x) if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: round_floats(v) for k, v in x.items()}
    if isinstance(x, list):
        return [round_floats(v) for v in x]
    return x


def dump(doc):
    """Indented JSON with each unit on one line: compact but diffable."""

    def d(obj, ind, key=None):
        pad = " " * ind
        if isinstance(obj, dict):
            if not obj:
                return "{}"
            return "{\n" + ",\n".join(f"{pad} {json.dumps(k)}: {d(v, ind + 1, k)}" for k, v in obj.items()) + \
                "\n" + pad + "}"
        if isinstance(obj, list) and key == "units" and obj:
            return "[\n" + ",\n".join(pad + " " + json.dumps(u) for u in obj) + "\n" + pad + "]"
        return json.dumps(obj)

    return d(round_floats(doc), 0) + "\n"


# --------------------------------------------------------------------------- machine and settings


def nvidia_smi():
    """The SMI_FIELDS of GPU 0 from nvidia-smi, or {"error": why}."""
    try:
        p = subprocess.run(["nvidia-smi", f"--query-gpu={SMI_FIELDS}", "--format=csv,noheader,nounits"],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return {"error": str(e)[:200]}
    if p.returncode != 0 or not p.stdout.strip():
        return {"error": (p.stderr or p.stdout).strip()[:200]}
    values = [v.strip() for v in p.stdout.splitlines()[0].split(",")]
    return dict(zip(SMI_FIELDS.split(","), values))


class Nvml:
    """SM clock, temperature and power of GPU 0 through NVML (nvidia-ml-py), when
    importable; sampled after each config's whole-model timing."""

    def __init__(self):
        try:
            import pynvml

            pynvml.nvmlInit()
            self.m, self.h = pynvml, pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception:  # noqa: BLE001 (optional: not installed, or no GPU)
            self.m = None

    def sample(self):
        if self.m is None:
            return None
        m, h = self.m, self.h
        try:
            return {"sm_mhz": m.nvmlDeviceGetClockInfo(h, m.NVML_CLOCK_SM),
                    "mem_mhz": m.nvmlDeviceGetClockInfo(h, m.NVML_CLOCK_MEM),
                    "temp_c": m.nvmlDeviceGetTemperature(h, m.NVML_TEMPERATURE_GPU),
                    "power_w": m.nvmlDeviceGetPowerUsage(h) / 1000.0}
        except Exception as e:  # noqa: BLE001
            return {"error": str(e)[:100]}


def software_info(cuda):
    import torchvision

    info = {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if cuda else None,
            "host": platform.node(), "sdpa": models_gpu.has_sdpa(), "sdpa_enable_gqa": models_gpu.sdpa_has_gqa()}
    if cuda:
        p = torch.cuda.get_device_properties(0)
        info["device"] = {"name": p.name, "capability": f"{p.major}.{p.minor}", "sm_count": p.multi_processor_count,
                          "memory_bytes": p.total_memory}
    return info


def tf32_state():
    """TF32 as torch reports it: the legacy flags, and the fp32_precision strings
    of torch >= 2.9 where they exist (read only: writing them next to the legacy
    flags is the mix torch rejects)."""
    state = {"cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
             "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32}
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        state["cuda.matmul.fp32_precision"] = torch.backends.cuda.matmul.fp32_precision
        state["cudnn.conv.fp32_precision"] = conv.fp32_precision
    return state


def set_precision(precision):
    """TF32 on for cuBLAS and cuDNN only in the tf32 config (legacy setters: they
    set every TF32 flag consistently); cudnn.benchmark stays at its default
    (False). Returns tf32_state(), after checking that every reading agrees: a
    config must not run with TF32 silently on or off."""
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = False
    state = tf32_state()
    if any((v in (True, "tf32")) != tf32 for v in state.values()):
        raise RuntimeError(f"TF32 settings did not take effect: {state}")
    return state


def settings_info(args, rule):
    s = {"dtype": "fp32 / tf32: float32 tensors; bf16 / fp16: model.to(dtype), floating inputs .to(dtype)",
         "tf32": "torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32 True only for tf32",
         "cudnn.benchmark": torch.backends.cudnn.benchmark, "cudnn.deterministic": torch.backends.cudnn.deterministic,
         "memory_format": "torch.contiguous_format (NCHW), PyTorch's default",
         "mode": "model.eval(), torch.no_grad(), parameters requires_grad False, eager PyTorch",
         "weights": "random (torchvision weights=None; own models torch.manual_seed(0))",
         "timing_rule": rule._asdict(), "passes": args.passes, "small_widths": args.small, "dry_run": args.dry_run,
         "inplace": "in-place ops are timed out of place (the same kernel, writing a new tensor; "
                    "units say timed_out_of_place), those without such a form in place on one clone of their "
                    "captured input: repeated in place in a CUDA graph, silu drives its values into denormals "
                    "(truths before 2026-12-07 timed every in-place op that way)",
         "views": "view / noop nodes (no kernels) are not timed; counted under `excluded` with their in-context "
                  "kernels"}
    for flag in ("flash_sdp_enabled", "mem_efficient_sdp_enabled", "math_sdp_enabled", "cudnn_sdp_enabled"):
        fn = getattr(torch.backends.cuda, flag, None)
        if fn is not None:
            s["sdpa." + flag] = fn()
    return s


# --------------------------------------------------------------------------- one config


def max_abs_diff(a, b):
    """Largest difference between the traced and the eager output (first tensor of a tuple)."""
    a, b = (x[0] if isinstance(x, (tuple, list)) else x for x in (a, b))
    return float((a.float() - b.float()).abs().max())


def exc_text(e):
    return f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300] if str(e).strip() else ''}"


class Run:
    """What every config needs: device, timing rule, budget, output places."""

    def __init__(self, args):
        self.args = args
        self.cuda = args.device == "cuda"
        self.dev = gt.CudaDevice() if self.cuda else gt.CpuDevice()
        self.rule = gt.DRY if args.dry_run else gt.FULL
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.budget_s
        self.nvml = Nvml()

    def over_budget(self):
        return time.monotonic() >= self.deadline

    def free(self):
        gc.collect()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()


def unit_row(u):
    row = {k: u[k] for k in ("name", "target", "category", "kind")}
    row["subgraphs"] = [sg["name"] for sg in u["subgraphs"]]
    if u.get("note"):
        row["note"] = u["note"]
    if u.get("inplace"):
        row["inplace"] = True
    return row


def add_excluded(excluded, u, kern):
    e = excluded.setdefault(u["category"], {"count": 0, "targets": {}, "kernels": 0, "kernel_s": 0.0})
    e["count"] += 1
    e["targets"][u["target"]] = e["targets"].get(u["target"], 0) + 1
    e["kernels"] += kern.get("kernels", 0)
    e["kernel_s"] += kern.get("kernel_s", 0.0)


def time_units(run, gm, cap, per_node, rec):
    """Times every unit that does work (scored and unmapped) in isolation; views
    and no-ops go to rec["excluded"]. Returns [(row, fn)] for later passes."""
    timed = []
    for node, u in cap.units:
        kern = per_node.get(node.name, {})
        if u["category"] in ("view", "noop"):
            add_excluded(rec["excluded"], u, kern)
            continue
        if run.over_budget():
            rec["incomplete"] = f"budget ended after {len(rec['units'])} units"
            break
        row = unit_row(u)
        row.update(kern)
        call, make_args, out_of_place = make_call(node, gm, cap.values, out_of_place=True)
        if out_of_place:
            row["timed_out_of_place"] = True
        a = make_args()
        fn = lambda call=call, a=a: call(a)  # noqa: E731
        graphs = not (run.cuda and kern and kern.get("kernels") == 0)
        if not graphs:
            row["graph_error"] = "no GPU kernels in context: not captured"
        try:
            row.update(gt.time_unit(run.dev, fn, run.rule, graphs))
        except Exception as e:  # noqa: BLE001 (recorded; the config goes on)
            row["error"] = exc_text(e)
            run.dev.sync()
        rec["units"].append(row)
        timed.append((row, fn))
    return timed


def profile_nodes(run, gm, inputs, rec):
    """Per-node kernels of one profiled forward (totals go into rec); {} when the
    profiler fails (recorded: the timings do not depend on it)."""
    try:
        per_node, totals = gpu_profile.profile_forward(gm, inputs, run.cuda)
    except Exception as e:  # noqa: BLE001
        rec["profile_error"] = exc_text(e)
        run.dev.sync()
        return {}
    rec.update(totals)
    return per_node


def time_whole(run, model, inputs, rec):
    fwd = lambda: model(*inputs)  # noqa: E731
    rec.update(gt.time_whole_eager(run.dev, fwd, run.rule))
    try:
        t, idle, n = gt.time_whole_graph(run.dev, fwd, run.rule)
        rec["model_graph_s"], rec["model_graph_idle_s"], rec["model_graph_reps"] = [t], [idle], n
    except Exception as e:  # noqa: BLE001
        rec["model_graph_error"] = exc_text(e)
        run.dev.sync()
    return fwd


def second_pass(run, fwd, timed, rec):
    """Graph timings again (new captures, same R) for the run-to-run noise floor."""
    if "model_graph_s" in rec:
        try:
            t, idle, _ = gt.time_whole_graph(run.dev, fwd, run.rule)
            rec["model_graph_s"].append(t)
            rec["model_graph_idle_s"].append(idle)
        except Exception as e:  # noqa: BLE001
            rec["model_graph_error_pass2"] = exc_text(e)
            run.dev.sync()
    for row, fn in timed:
        if run.over_budget():
            rec["incomplete"] = "budget ended during pass 2"
            return
        if "graph_s" in row:
            try:
                row["graph_s"].append(gt.time_graph(run.dev, fn, row["graph_reps"], run.rule))
            except Exception as e:  # noqa: BLE001
                row["graph_error_pass2"] = exc_text(e)
                run.dev.sync()


def measure_config(run, cfg, tier):
    """Everything for one config; errors are recorded in the returned dict."""
    args = run.args
    model_name, batch, precision = models_gpu.parse_config(cfg)
    device = "cuda" if run.cuda else "cpu"
    rec = {"model": model_name, "batch": batch, "precision": precision, "tier": tier, "started": now(),
           "workload": cfg + ".json", "units": [], "excluded": {}}
    steps = {}
    t = time.monotonic()
    try:
        rec["flags"] = set_precision(precision)
        if run.cuda:
            torch.cuda.reset_peak_memory_stats()
        with torch.no_grad():
            model, inputs, rec["description"] = models_gpu.build(model_name, batch, precision, device, args.small)
            rec["inputs"] = [[list(x.shape), str(x.dtype).replace("torch.", "")] for x in inputs]
            gm, cap, out_traced = capture(model, inputs)
            rec["traced_vs_eager_max_abs_diff"] = max_abs_diff(out_traced, model(*inputs))
            doc = workload_doc(cfg, precision, cap.units)
            write_atomic(os.path.join(args.workloads_dir, rec["workload"]), workload_text(doc))
            rec["subgraph_count"] = len(doc["subgraphs"])
            steps["build_trace_s"], t = time.monotonic() - t, time.monotonic()
            per_node = profile_nodes(run, gm, inputs, rec)
            steps["profile_s"], t = time.monotonic() - t, time.monotonic()
            fwd = time_whole(run, model, inputs, rec)
            rec["gpu_after_model"] = run.nvml.sample()
            steps["whole_s"], t = time.monotonic() - t, time.monotonic()
            timed = time_units(run, gm, cap, per_node, rec)
            steps["units_s"], t = time.monotonic() - t, time.monotonic()
            if tier == 0 and args.passes >= 2 and not run.over_budget():
                second_pass(run, fwd, timed, rec)
                steps["pass2_s"] = time.monotonic() - t
        if run.cuda:
            rec["peak_memory_bytes"] = torch.cuda.max_memory_allocated()
    except Exception as e:  # noqa: BLE001 (a config that fails is recorded, the run goes on)
        rec["error"] = exc_text(e)
        rec["traceback"] = traceback.format_exc().strip().splitlines()[-6:]
    rec["steps_s"] = steps
    rec["elapsed_s"] = round(time.monotonic() - run.t0, 1)  # run clock at the end of this config
    return rec


def cuda_usable():
    """False when the CUDA context is broken (a sticky error after a failure):
    nothing more can be measured in this process."""
    try:
        torch.cuda.synchronize()
        return True
    except Exception:  # noqa: BLE001
        return False


# --------------------------------------------------------------------------- run


def new_doc(args, run):
    return {"hwcal_gpu_measurements": 1, "created": now(), "finished": None,
            "command": "python3 validation/gpu/measure_gpu.py " + " ".join(sys.argv[1:]),
            "device": args.device, "budget_s": args.budget_s,
            "machine": {"nvidia_smi_start": nvidia_smi() if run.cuda else None, "nvidia_smi_end": None,
                        "software": software_info(run.cuda)},
            "settings": settings_info(args, run.rule),
            "plan": [c for c, _ in args.plan], "done": [], "failed": [], "not_started": [], "interrupted": False,
            "elapsed_s": 0.0, "configs": {}}


def unit_summary(rec):
    units = rec["units"]
    graph = [u["graph_s"][0] for u in units if u.get("graph_s")]
    return (f"{len(units)} units ({sum('graph_s' in u for u in units)} graphed), units graph sum "
            f"{sum(graph) * 1e3:.3f} ms, eager sum {sum(u.get('eager_s', 0) for u in units) * 1e3:.3f} ms")


def run_all(args):
    run = Run(args)
    doc = new_doc(args, run)
    try:
        for cfg, tier in args.plan:
            if run.over_budget():
                break
            rec = measure_config(run, cfg, tier)
            doc["configs"][cfg] = rec
            doc["failed" if "error" in rec else "done"].append(cfg)
            doc["elapsed_s"] = round(time.monotonic() - run.t0, 1)
            write_atomic(args.out, dump(doc))
            whole = rec.get("model_graph_s") or [float("nan")]
            log(f"[{doc['elapsed_s']:6.1f} s] {cfg}: " + (f"ERROR {rec['error']}" if "error" in rec else
                f"model graph {whole[0] * 1e3:.3f} ms, eager {rec.get('model_eager_s', float('nan')) * 1e3:.3f} ms, "
                f"{rec.get('forward_kernels')} kernels; {unit_summary(rec)}"
                + (f"; INCOMPLETE ({rec['incomplete']})" if rec.get("incomplete") else "")))
            run.free()
            if "error" in rec and run.cuda and not cuda_usable():
                log("CUDA context unusable after the error: stopping")
                doc["stopped"] = "CUDA context unusable after " + cfg
                break
    except KeyboardInterrupt:
        doc["interrupted"] = True
        log("interrupted: writing what was measured")
    doc["not_started"] = [c for c, _ in args.plan if c not in doc["configs"]]
    doc["finished"] = now()
    doc["elapsed_s"] = round(time.monotonic() - run.t0, 1)
    if run.cuda:
        doc["machine"]["nvidia_smi_end"] = nvidia_smi()
        doc["settings"]["spin"] = gt.spin_info(run.dev)
    write_atomic(args.out, dump(doc))
    return doc


def print_summary(doc, out=sys.stdout):
    """A short table: per model and precision the batch sizes measured (a * marks
    an incomplete config), then failures and the totals."""
    done = {}
    for cfg, rec in doc["configs"].items():
        if "error" not in rec:
            mark = "*" if rec.get("incomplete") else ""
            done.setdefault((rec["model"], rec["precision"]), []).append(f"{rec['batch']}{mark}")
    precs = [p for p in models_gpu.PRECISIONS if any(k[1] == p for k in done)]
    print(f"{'model (batches measured)':24s}" + "".join(f"{p:>14s}" for p in precs), file=out)
    for m in dict.fromkeys(k[0] for k in done):
        print(f"{m:24s}" + "".join(f"{','.join(done.get((m, p), ['-'])):>14s}" for p in precs), file=out)
    for cfg in doc["failed"]:
        print(f"FAILED {cfg}: {doc['configs'][cfg]['error'][:150]}", file=out)
    units = [u for rec in doc["configs"].values() for u in rec.get("units", [])]
    not_started = len(doc["plan"]) - len(doc["configs"])  # also right in a file of a killed run
    print(f"configs done {len(doc['done'])}, failed {len(doc['failed'])}, not started {not_started} "
          f"of {len(doc['plan'])} planned; units timed {len(units)} ({sum('graph_s' in u for u in units)} in CUDA "
          f"graphs); time used {doc['elapsed_s']} s of {doc['budget_s']} s budget"
          f"{'; INTERRUPTED' if doc.get('interrupted') else ''}{'; ' + doc['stopped'] if doc.get('stopped') else ''}",
          file=out)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="measurements JSON (rewritten after every config)")
    ap.add_argument("--workloads-dir", help="where <config>.json workloads go (default: beside --out, workloads/)")
    ap.add_argument("--budget-s", type=float, default=420.0, help="no config starts after this; one running stops "
                                                                 "timing units at it (default 420)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--dry-run", action="store_true", help="minimal repetitions: checks that everything runs")
    ap.add_argument("--small", action="store_true", help="small transformer widths (dry runs)")
    ap.add_argument("--models", nargs="+", choices=[*models_gpu.MODELS, *models_gpu.HOLDOUT, *models_gpu.BLIND],
                    default=None, help="default: the development set (MODELS); HOLDOUT and BLIND name the held-out models")
    ap.add_argument("--precisions", nargs="+", choices=models_gpu.PRECISIONS, default=list(models_gpu.PRECISIONS))
    ap.add_argument("--max-batches", type=int, default=None, help="only each model's first N batch sizes")
    ap.add_argument("--configs", nargs="+", default=None, help="explicit config names (model_b<batch>_<precision>)")
    ap.add_argument("--passes", type=int, default=2, help="graph timings of tier-0 configs repeated this often (1-2)")
    ap.add_argument("--summary-of", default=None, help="print the summary table of a measurements file and exit")
    args = ap.parse_args(argv)
    if args.summary_of is None and not args.out:
        ap.error("--out is required")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.summary_of:
        print_summary(load_json(args.summary_of))
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        log("no CUDA device: use --device cpu --dry-run for a CPU check")
        return 2
    args.workloads_dir = args.workloads_dir or os.path.join(os.path.dirname(os.path.abspath(args.out)), "workloads")
    full = models_gpu.plan(args.models, args.precisions, args.max_batches)
    tiers = dict(models_gpu.plan())
    for c in args.configs or []:
        models_gpu.parse_config(c)  # a clear error for a misspelt name
    args.plan = [(c, tiers.get(c, 9)) for c in args.configs] if args.configs else full
    log(f"{len(args.plan)} configs planned, budget {args.budget_s:.0f} s, device {args.device}")
    doc = run_all(args)
    print_summary(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
