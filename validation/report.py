#!/usr/bin/python3
"""Stage 2 of the CPU validation: run `hwcal predict` (the calibrated mapper and
the datasheet roofline) on every workload that stage 1 measured, and report
per-layer and whole-model errors.

  /usr/bin/python3 validation/report.py --hwcal build/tools/hwcal/hwcal \
      --run 1 validation/results/profile_t1.json validation/results/measured_t1.json.gz \
      --run 2 validation/results/profile_t2.json validation/results/measured_t2.json.gz \
      --out-dir docs/validation

Writes <out-dir>/cpu_report.md, cpu_results.json.gz and cpu_pred_vs_meas_t<N>.png.
Needs no torch (numpy-free; matplotlib only for the plots).

Definitions (all errors relative to the measurement):
  unit        one traced node timed in isolation (a layer; MultiheadAttention and
              TransformerEncoderLayer units carry several subgraphs)
  measured    mean over the passes of the per-pass median (over the passes that
              other processes did not disturb, when at least one was quiet)
  predicted   sum of the unit's subgraph latencies (latency_s)
  APE         |predicted - measured| / measured;  MAPE = mean APE
  within10    share of units (or models) with APE <= 10%
  whole model hwcal's total_s (the subgraphs in sequence: the sum of in_sequence_s,
              each op's bytes at the pass footprint's bandwidth) vs the measured whole-model median;
              the sum of isolated latencies and the measured sum of the scored
              layers are shown beside it
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import subprocess
import sys

import timing

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "gpu"))

from jsonfile import load_json, write_atomic  # noqa: E402  (gzip for a .gz name)

TARGET_WHOLE = 0.06  # acceptance at 1 thread (issue 12): whole-model mean error
TARGET_LAYER = 0.12  # acceptance at 1 thread: per-layer mean error
TARGET_WITHIN10 = 0.60  # acceptance at 1 thread: share of layers within +-10%
LOAD_LIMIT = 0.25  # other CPU use above which a timing counts as contended (as measure.py)


def rel(path):
    try:
        return os.path.relpath(path, ROOT)
    except ValueError:
        return path


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs) if xs else float("nan")


def quantile(xs, q):
    return timing.quantile(sorted(xs), q)


def ape(pred, meas):
    return abs(pred - meas) / meas


def sig(x, d=5):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return float(f"{x:.{d}g}")


# --------------------------------------------------------------------------- running hwcal


class PredictError(RuntimeError):
    pass


def run_predict(hwcal, profile, workload, roofline=False, threads=None):
    cmd = [hwcal, "predict", "--profile", profile, "--workload", workload, "--json"]
    if threads:
        cmd += ["--threads", str(threads)]
    if roofline:
        cmd += ["--model", "roofline"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise PredictError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()[:500]}")
    try:
        return json.loads(p.stdout)
    except json.JSONDecodeError as e:
        raise PredictError(f"{' '.join(cmd)}: output is not JSON ({e}): {p.stdout[:200]!r}") from e


def index_prediction(pred):
    """name -> subgraph entry; checks names are unique."""
    out = {}
    for sg in pred.get("subgraphs", []):
        if sg["name"] in out:
            raise PredictError(f"duplicate subgraph name {sg['name']!r} in the prediction")
        out[sg["name"]] = sg
    return out


# --------------------------------------------------------------------------- evaluation


def clean_mean(values, other_cpu):
    """Mean over the passes that no other work disturbed (other_cpu below
    LOAD_LIMIT); over all passes when every pass was disturbed (or unknown)."""
    if other_cpu and len(other_cpu) == len(values):
        clean = [v for v, o in zip(values, other_cpu) if o is not None and o < LOAD_LIMIT]
        if clean:
            return mean(clean)
    return mean(values)


def unit_measured(u):
    return clean_mean(u["measured_s"], u.get("other_cpu"))


def run_to_run(values):
    """|a - b| / mean(a, b) for two passes (max - min over mean for more)."""
    if len(values) < 2:
        return None
    m = mean(values)
    return (max(values) - min(values)) / m if m > 0 else None


def in_sequence(sg):
    """A subgraph's in-pass prediction (`in_sequence_s`; its isolated latency
    when the prediction has none)."""
    return sg.get("in_sequence_s", sg["latency_s"])


def evaluate_config(cfg, mdoc, pred, roof):
    """Per-unit and whole-model comparison of one config. pred / roof are the
    parsed `hwcal predict --json` outputs (roof may be None)."""
    pi = index_prediction(pred)
    ri = index_prediction(roof) if roof is not None else None
    units = []
    problems = []
    for u in mdoc["units"]:
        if u["category"] != "scored":
            continue
        missing = [s for s in u["subgraphs"] if s not in pi]
        if missing:
            problems.append(f"{u['name']}: no prediction for {', '.join(missing)}")
            continue
        meas = unit_measured(u)
        sgs = [pi[s] for s in u["subgraphs"]]
        p = sum(s["latency_s"] for s in sgs)
        lo = sum(s.get("interval_s", [s["latency_s"]] * 2)[0] for s in sgs)
        hi = sum(s.get("interval_s", [s["latency_s"]] * 2)[1] for s in sgs)
        dominant = max(sgs, key=lambda s: s["latency_s"])
        row = {"name": u["name"], "kind": u["kind"], "measured_s": meas, "predicted_s": p,
               "ape": ape(p, meas), "signed": (p - meas) / meas, "interval_s": [lo, hi],
               "in_sequence_s": sum(in_sequence(s) for s in sgs),
               "in_interval": lo <= meas <= hi, "bound": dominant.get("bound"),
               "run_to_run": run_to_run(u["measured_s"]),
               "contended": any(o >= LOAD_LIMIT for o in u.get("other_cpu", [])),
               "warnings": sorted({w for s in sgs for w in s.get("warnings", [])})}
        ctx = [v for v in u.get("in_context_s", []) if v is not None]
        if ctx:
            row["in_context_s"] = mean(ctx)
            row["in_context_ape"] = ape(p, row["in_context_s"])
        if ri is not None:
            rm = [s for s in u["subgraphs"] if s not in ri]
            if rm:
                problems.append(f"{u['name']}: no roofline prediction for {', '.join(rm)}")
                row["roofline_s"] = None
                row["roofline_ape"] = None
            else:
                r = sum(ri[s]["latency_s"] for s in u["subgraphs"])
                row["roofline_s"] = r
                row["roofline_ape"] = ape(r, meas)
        units.append(row)

    whole = clean_mean(mdoc["whole_model_s"], mdoc.get("whole_model_other_cpu"))
    # hwcal's whole-workload prediction: the subgraphs run in sequence (total_s, the sum of
    # in_sequence_s: each layer's bytes at the bandwidth of the whole pass's footprint); the
    # per-layer predictions are the isolated latencies (latency_s), like the per-layer measurements.
    seq_sum = sum(in_sequence(s) for s in pred.get("subgraphs", []))
    pred_total = pred.get("total_s", seq_sum)
    if abs(pred_total - seq_sum) > 1e-6 * max(abs(seq_sum), 1e-12):
        problems.append(f"total_s {pred_total:.6g} s is not the sum of the subgraphs' in_sequence_s ({seq_sum:.6g} s)")
    pred_isolated = sum(s["latency_s"] for s in pred.get("subgraphs", []))
    roof_total = sum(s["latency_s"] for s in roof.get("subgraphs", [])) if roof is not None else None
    scored_sum = sum(unit_measured(u) for u in mdoc["units"] if u["category"] == "scored")
    unmapped_sum = sum(unit_measured(u) for u in mdoc["units"] if u["category"] == "unmapped")
    excluded_sum = sum(mean(e["measured_s"]) for e in mdoc.get("excluded", {}).values())
    c = {
        "config": cfg, "model": mdoc.get("model"), "batch": mdoc.get("batch"),
        "whole_measured_s": whole, "whole_predicted_s": pred_total, "whole_ape": ape(pred_total, whole),
        "whole_predicted_isolated_s": pred_isolated, "whole_isolated_ape": ape(pred_isolated, whole),
        "whole_signed": (pred_total - whole) / whole,
        "whole_roofline_s": roof_total, "whole_roofline_ape": ape(roof_total, whole) if roof_total else None,
        "layers_measured_s": scored_sum, "unmapped_measured_s": unmapped_sum, "excluded_measured_s": excluded_sum,
        # framework time between layers: the whole model minus every node timed in context (inside the forward
        # pass); without in-context data, minus every node timed in isolation
        "between_layers_share": ((whole - mean(mdoc["in_context_all_nodes_s"])) / whole
                                 if mdoc.get("in_context_all_nodes_s")
                                 else (whole - scored_sum - unmapped_sum - excluded_sum) / whole),
        "layers_vs_whole": (scored_sum - whole) / whole,
        "pred_vs_layers_ape": ape(pred_isolated, scored_sum) if scored_sum > 0 else None,
        "whole_run_to_run": run_to_run(mdoc["whole_model_s"]),
        "whole_contended": [o >= LOAD_LIMIT for o in mdoc.get("whole_model_other_cpu", [])],
        "in_context_layers_s": (sum(r["in_context_s"] for r in units)
                                if units and all("in_context_s" in r for r in units) else None),
        "in_context_all_s": mean(mdoc["in_context_all_nodes_s"]) if mdoc.get("in_context_all_nodes_s") else None,
        "units": units, "problems": problems,
        "unit_mape": mean(r["ape"] for r in units),
        "unit_within10": mean(r["ape"] <= 0.10 for r in units),
        "unit_roofline_mape": mean(r["roofline_ape"] for r in units if r.get("roofline_ape") is not None),
    }
    return c


def summarize_units(rows):
    rows = list(rows)
    if not rows:
        return {"units": 0}
    apes = [r["ape"] for r in rows]
    meas = sum(r["measured_s"] for r in rows)
    s = {
        "units": len(rows),
        "mape": mean(apes), "median_ape": statistics.median(apes), "p90_ape": quantile(apes, 0.9),
        "within10": mean(a <= 0.10 for a in apes),
        "bias": mean(r["signed"] for r in rows),
        "time_weighted_error": sum(abs(r["predicted_s"] - r["measured_s"]) for r in rows) / meas,
        "interval_coverage": mean(r["in_interval"] for r in rows),
        "measured_s": meas,
    }
    ra = [r["roofline_ape"] for r in rows if r.get("roofline_ape") is not None]
    if ra:
        s["roofline_mape"] = mean(ra)
        s["roofline_median_ape"] = statistics.median(ra)
        s["roofline_within10"] = mean(a <= 0.10 for a in ra)
        s["roofline_time_weighted_error"] = sum(abs(r["roofline_s"] - r["measured_s"]) for r in rows
                                                if r.get("roofline_s") is not None) / meas
    rr = [r["run_to_run"] for r in rows if r["run_to_run"] is not None]
    if rr:
        s["run_to_run_median"] = statistics.median(rr)
        s["run_to_run_p90"] = quantile(rr, 0.9)
        s["run_to_run_mean"] = mean(rr)
    s["contended"] = sum(r["contended"] for r in rows)
    cr = [r for r in rows if r.get("in_context_s")]
    if cr:
        s["in_context_mape"] = mean(r["in_context_ape"] for r in cr)
        s["in_context_within10"] = mean(r["in_context_ape"] <= 0.10 for r in cr)
        s["in_context_over_isolated"] = sum(r["in_context_s"] for r in cr) / sum(r["measured_s"] for r in cr)
    return s


def summarize_thread(configs):
    """Aggregates over the configs of one thread count."""
    all_units = [u for c in configs for u in c["units"]]
    kinds = {}
    for u in all_units:
        kinds.setdefault(u["kind"], []).append(u)
    whole = [c["whole_ape"] for c in configs]
    roof = [c["whole_roofline_ape"] for c in configs if c["whole_roofline_ape"] is not None]
    rr = [c["whole_run_to_run"] for c in configs if c["whole_run_to_run"] is not None]
    s = {
        "layers": summarize_units(all_units),
        "whole": {"configs": len(configs), "mape": mean(whole), "within10": mean(a <= 0.10 for a in whole),
                  "max_ape": max(whole) if whole else None, "bias": mean(c["whole_signed"] for c in configs),
                  "roofline_mape": mean(roof) if roof else None,
                  "roofline_within10": mean(a <= 0.10 for a in roof) if roof else None,
                  "roofline_max_ape": max(roof) if roof else None,
                  "pred_vs_layers_mape": mean(c["pred_vs_layers_ape"] for c in configs
                                              if c["pred_vs_layers_ape"] is not None),
                  "layers_vs_whole_mean": mean(c["layers_vs_whole"] for c in configs),
                  "run_to_run_mean": mean(rr) if rr else None, "run_to_run_max": max(rr) if rr else None},
        "kinds": {k: summarize_units(v) for k, v in sorted(kinds.items(), key=lambda kv: -sum(
            u["measured_s"] for u in kv[1]))},
    }
    return s


def acceptance(summary):
    w, l = summary["whole"]["mape"], summary["layers"].get("mape", float("nan"))
    w10 = summary["layers"].get("within10", float("nan"))
    return {"whole_target": TARGET_WHOLE, "layer_target": TARGET_LAYER, "within10_target": TARGET_WITHIN10,
            "whole_mape": w, "layer_mape": l, "layer_within10": w10,
            "whole_pass": bool(w <= TARGET_WHOLE), "layer_pass": bool(l <= TARGET_LAYER and w10 >= TARGET_WITHIN10)}


# --------------------------------------------------------------------------- output


def pct(x, d=1):
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{100 * x:.{d}f}%"


def ms(x):
    if x is None:
        return "n/a"
    if x < 1e-3:
        return f"{x * 1e6:.1f} us"
    return f"{x * 1e3:.3f} ms"


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def plot(thread, configs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    units = [u for c in configs for u in c["units"]]
    if not units:
        return False
    kinds = sorted({u["kind"] for u in units})
    cmap = plt.get_cmap("tab20")
    fig, ax = plt.subplots(figsize=(8, 7))
    lo = min(min(u["measured_s"], u["predicted_s"]) for u in units)
    hi = max(max(u["measured_s"], u["predicted_s"]) for u in units)
    rs = [u for u in units if u.get("roofline_s")]
    if rs:
        ax.scatter([u["measured_s"] for u in rs], [u["roofline_s"] for u in rs], s=10, marker="x", c="0.6",
                   label="datasheet roofline", zorder=1)
        lo = min(lo, min(u["roofline_s"] for u in rs))
        hi = max(hi, max(u["roofline_s"] for u in rs))
    for i, k in enumerate(kinds):
        ks = [u for u in units if u["kind"] == k]
        ax.scatter([u["measured_s"] for u in ks], [u["predicted_s"] for u in ks], s=12, color=cmap(i % 20),
                   label=f"{k} ({len(ks)})", zorder=2)
    lo, hi = lo / 1.5, hi * 1.5
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax.plot([lo, hi], [lo * 1.1, hi * 1.1], "k:", lw=0.6)
    ax.plot([lo, hi], [lo / 1.1, hi / 1.1], "k:", lw=0.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured per layer, PyTorch eager (s)")
    ax.set_ylabel("predicted (s)")
    ax.set_title(f"hwcal vs measured, CPU, {thread} thread(s), {len(units)} layers (dotted: +-10%)")
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    ax.grid(True, which="both", lw=0.2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def compact_results(threads_out):
    """cpu_results.json.gz content: summaries plus one compact row per unit."""
    doc = {"hwcal_validation_results": 1, "threads": {}}
    for t, r in threads_out.items():
        tc = {k: r[k] for k in ("profile", "measured", "summary", "acceptance", "warnings", "errors")}
        tc["configs"] = {}
        for c in r["configs"]:
            cc = {k: (sig(v) if isinstance(v, float) else v) for k, v in c.items() if k not in ("units",)}
            cc["unit_columns"] = ["name", "kind", "measured_s", "predicted_s", "roofline_s", "interval_lo",
                                  "interval_hi", "bound", "run_to_run", "in_context_s", "in_sequence_s"]
            cc["units"] = [[u["name"], u["kind"], sig(u["measured_s"]), sig(u["predicted_s"]),
                            sig(u.get("roofline_s")), sig(u["interval_s"][0]), sig(u["interval_s"][1]), u["bound"],
                            sig(u["run_to_run"], 3), sig(u.get("in_context_s")), sig(u["in_sequence_s"])]
                           for u in c["units"]]
            tc["configs"][c["config"]] = cc
        doc["threads"][str(t)] = tc
    return doc


def round_floats(x, d=5):
    if isinstance(x, float):
        return sig(x, d)
    if isinstance(x, dict):
        return {k: round_floats(v, d) for k, v in x.items()}
    if isinstance(x, list):
        return [round_floats(v, d) for v in x]
    return x


def dump_results(doc):
    """Indented JSON with each unit row on one line."""

    def dump(obj, ind, key=None):
        pad = " " * ind
        if isinstance(obj, dict):
            if not obj:
                return "{}"
            items = [f"{pad} {json.dumps(k)}: {dump(v, ind + 1, k)}" for k, v in obj.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(obj, list) and key == "units":
            return "[\n" + ",\n".join(pad + " " + json.dumps(u) for u in obj) + "\n" + pad + "]" if obj else "[]"
        return json.dumps(obj)

    return dump(doc, 0) + "\n"


def write_report(path, threads_out, info):
    L = []
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    L.append("# hwcal CPU validation against PyTorch models\n")
    L.append(f"Generated {now} by `validation/report.py`; data in `cpu_results.json.gz` (same folder). "
             "Regenerate with the commands under *Reproduce*.\n")
    any_t = next(iter(threads_out.values()))
    host = any_t["measured_doc"]["host"]
    tinfo = any_t["measured_doc"]["torch"]

    # ---- summary
    L.append("## Summary\n")
    rows = []
    for t, r in threads_out.items():
        s = r["summary"]
        ly, wh = s["layers"], s["whole"]
        rows.append([t, ly.get("units", 0), pct(ly.get("mape")), pct(ly.get("roofline_mape")), pct(ly.get("within10")),
                     pct(ly.get("roofline_within10")), wh["configs"], pct(wh["mape"]), pct(wh["roofline_mape"]),
                     pct(wh["within10"]), pct(wh["max_ape"]), pct(ly.get("run_to_run_median")),
                     pct(wh["run_to_run_mean"])])
    L.append(md_table(["threads", "layers", "per-layer MAPE hwcal", "per-layer MAPE roofline", "layers within 10% hwcal",
                       "within 10% roofline", "models", "whole-model MAPE hwcal", "whole-model MAPE roofline",
                       "models within 10%", "worst model", "layer run-to-run (median)", "model run-to-run (mean)"],
                      rows))
    L.append("")
    if "1" in {str(t) for t in threads_out}:
        a = threads_out[next(t for t in threads_out if str(t) == "1")]["acceptance"]
        L.append(f"**Acceptance at 1 thread** (whole-model mean error <= {pct(TARGET_WHOLE, 0)}, per-layer mean "
                 f"error <= {pct(TARGET_LAYER, 0)} with >= {pct(TARGET_WITHIN10, 0)} of layers within 10%): "
                 f"whole-model {pct(a['whole_mape'])} -> **{'PASS' if a['whole_pass'] else 'FAIL'}**; per-layer "
                 f"{pct(a['layer_mape'])}, {pct(a['layer_within10'])} within 10% "
                 f"-> **{'PASS' if a['layer_pass'] else 'FAIL'}**. The datasheet roofline is shown beside each figure.\n")
    L.append("A measurement is the mean of the passes' medians, over the passes that other processes on the machine "
             f"did not disturb (other CPU use on our CPUs below {LOAD_LIMIT} CPU, from /proc/stat) when at least one "
             "pass was quiet. ")
    L.append("Run-to-run is how much our own two measurement passes (separate processes) disagree: "
             "|pass1 - pass2| / mean. Errors below that level cannot be resolved by this data.\n")

    # ---- method
    L.append("## What was measured and how\n")
    st = any_t["measured_doc"]["settings"]
    L.append("- Models (random weights, `weights=None`; timing does not depend on weight values), batch 1 and 8, "
             "fp32, `model.eval()` under `torch.no_grad()`, eager PyTorch: "
             + ", ".join(sorted({c["model"] for c in any_t["configs"]})) + ".")
    L.append("- Each model is traced with `torch.fx.symbolic_trace` (torch.nn modules are leaves) and run once to "
             "capture every node's real inputs. Every node is then timed **in isolation** on those inputs: "
             f"median of single-call samples after warm-up, at least {st['unit_rule']['min_reps']} samples "
             f"(at least {st['unit_rule']['slow_min_reps']} for calls over {st['unit_rule']['slow_s'] * 1e3:.0f} ms) "
             f"and {st['unit_rule']['budget_s']} s, at most {st['unit_rule']['max_reps']}. The whole model: median of "
             f">= {st['whole_model_rule']['min_reps']} runs over >= {st['whole_model_rule']['budget_s']} s.")
    L.append(f"- {st['inplace'][0].upper() + st['inplace'][1:]}.")
    L.append("- Pure views and metadata (view/reshape/flatten of a contiguous tensor, permute, expand, getitem, "
             "`.shape`, `_assert`, integer arithmetic) and eval-mode no-ops (Dropout, Identity, StochasticDepth) "
             "are timed and counted but **not scored**; a reshape that had to copy would be scored as a transpose/copy.")
    L.append("- ReLU6 has no op in the workload format: it is predicted as `relu` (same memory traffic).")
    L.append("- `nn.MultiheadAttention` and `nn.TransformerEncoderLayer` are single units whose measured time is "
             "compared with the sum of their subgraphs: qkv projection (`linear`, n = 3E), head split "
             "(`transpose`, q+k+v bytes), `attention`, head merge (`transpose`), output projection (`linear`); the "
             "encoder layer adds the two residual `add`s, two `layernorm`s and the FFN (`linear`, activation, "
             "`linear`). Which torch 1.13 path ran was detected with the profiler (table below); when the native "
             "encoder-layer path computes linear1 + bias + ReLU in one `_addmm_activation`, the workload marks "
             "linear1 `fused: [\"relu\"]`. No other subgraph uses `fused`.")
    L.append(f"- Thread settings per run: {thread_settings_text(threads_out)}. Each thread count runs in its own "
             "processes; the environment is set before torch is imported.")
    L.append("- Note on 2 threads: Debian's torch runs `nn.Linear` through OpenBLAS (pthreads build, its own thread "
             "pool) while the rest of ATen uses the OpenMP pool; with 2 threads the OpenMP workers spin-wait and take "
             "the cores from OpenBLAS's threads, which makes linear layers about 2x slower than the same GEMM alone. "
             "With OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1 and torch.set_num_threads(1) this disappears. The 2-thread "
             "numbers below are measured as set in the table, i.e. what a user of this torch gets.")
    if st.get("malloc"):
        L.append(f"- Memory allocator: {st['malloc']}. With glibc's defaults a fresh process page-faults its "
                 "activations in again on every forward pass, and by how much depends on which models ran before "
                 "(mobilenet_v2 b1: 22 ms in a fresh process, 16 ms after resnet50 ran in it).")
    L.append(f"- Contention guard: {st.get('contention_guard', 'none')}.")
    L.append("- The mapper was not fitted to these models: the profile comes from `hwcal calibrate` "
             "(micro-benchmarks only), made on this machine in the same session as the measurements (when: the "
             "table under *Reproduce*, and any curves merged in later, which its commands list).")
    L.append("")

    # ---- machine
    L.append("## Machine and software\n")
    L.append(md_table(["what", "value"], [
        ["CPU", f"{host['cpu']} (vendor {host.get('vendor', 'not recorded')}, family {host.get('family', '?')} model "
                f"{host.get('model', '?')}), {host['logical_cpus']} vCPUs{' (KVM guest)' if host.get('hypervisor') else ''}, "
                f"ISA {' '.join(host.get('isa', []))}"],
        ["OS", f"{host.get('os')}, kernel {host.get('kernel')}, Python {host.get('python')}"],
        ["PyTorch", f"torch {tinfo['version']} (Debian python3-torch 1.13.1), torchvision {tinfo['torchvision']}"],
        ["BLAS", host.get("libblas.so.3", "?")],
        ["hwcal", info.get("hwcal", "?")],
    ]))
    L.append("")

    # ---- reproduce
    L.append("## Reproduce\n")
    L.append("```sh")
    if info.get("driver_command"):
        L.append("# everything (calibrate, measure and report for each thread count):")
        L.append(info["driver_command"])
        L.append("# which ran:")
    for t, r in threads_out.items():
        cal = info.get("calibrate", {}).get(str(t))
        if cal:
            L.append(cal.get("command", ""))
        L.append(r["measured_doc"].get("command", ""))
    L.append(info.get("report_command", ""))
    L.append("```\n")
    rows = []
    for t, r in threads_out.items():
        md = r["measured_doc"]
        cal = info.get("calibrate", {}).get(str(t), {})
        rows.append([t, rel(r["profile"]), cal.get("finished", "?"), cal.get("seconds", "?"), md.get("created", "?"),
                     md["elapsed_s"]["total"], md["settings"].get("cpu_affinity", "?")])
    L.append(md_table(["threads", "profile", "calibrated at", "calibration s", "measured at", "measure s",
                       "CPU affinity"], rows))
    L.append("")

    for t, r in threads_out.items():
        L.extend(thread_section(t, r))

    # ---- limitations
    L.append("## Limitations\n")
    L.append("- Layers are timed in isolation with warm caches (the same inputs and weights every call); in the "
             "whole model the weights of a layer were last touched one forward pass earlier. The *isolated vs whole* "
             "column shows how far the isolated sum is from the real forward pass, and the in-context columns "
             "where the difference comes from.")
    L.append("- Eager PyTorch pays a Python/dispatcher cost per op (several microseconds); it is part of every "
             "measurement, so tiny layers measure mostly that overhead.")
    L.append("- Composite units (attention blocks) are decomposed by hand into the subgraphs listed above; their "
             "error mixes the mapper's error with the decomposition's.")
    L.append("- This VM shares its CPUs: other processes in the VM and other tenants on the host (steal) disturb "
             "timings. The contention guard records and retries, but cannot remove sustained sharing; the "
             "run-to-run figures are the honest noise floor of these numbers.")
    L.append("")
    return "\n".join(L) + "\n"


def thread_settings_text(threads_out):
    parts = []
    for t, r in threads_out.items():
        st = r["measured_doc"]["settings"]
        env = ", ".join(f"{k}={v}" for k, v in st["env"].items())
        parts.append(f"{t} thread(s): {env}, torch.set_num_threads({st['torch.set_num_threads']}), "
                     f"CPU affinity {st.get('cpu_affinity')}")
    return "; ".join(parts)


def thread_section(t, r):
    L = []
    s = r["summary"]
    md = r["measured_doc"]
    L.append(f"## {t} thread(s)\n")
    if r["errors"]:
        L.append("**Errors:** " + "; ".join(r["errors"]) + "\n")
    L.append(f"Profile `{rel(r['profile'])}`, measurements `{rel(r['measured'])}`.\n")
    ly = s["layers"]
    if ly.get("units"):
        L.append(f"Per layer ({ly['units']} layers): MAPE hwcal {pct(ly['mape'])} (median {pct(ly['median_ape'])}, "
                 f"p90 {pct(ly['p90_ape'])}, within 10% {pct(ly['within10'])}, bias {pct(ly['bias'])}, "
                 f"time-weighted error {pct(ly['time_weighted_error'])}, measured inside the predicted interval "
                 f"{pct(ly['interval_coverage'])}) vs roofline MAPE {pct(ly.get('roofline_mape'))} (median "
                 f"{pct(ly.get('roofline_median_ape'))}, within 10% {pct(ly.get('roofline_within10'))}, time-weighted "
                 f"{pct(ly.get('roofline_time_weighted_error'))}).\n")
    wh = s["whole"]
    L.append(f"Whole model ({wh['configs']} configs): MAPE hwcal {pct(wh['mape'])} (within 10% {pct(wh['within10'])}, "
             f"worst {pct(wh['max_ape'])}, bias {pct(wh['bias'])}) vs roofline {pct(wh['roofline_mape'])} (worst "
             f"{pct(wh['roofline_max_ape'])}). hwcal's total against the *measured sum of layers* instead of the whole "
             f"model: MAPE {pct(wh['pred_vs_layers_mape'])}; the measured sum of layers differs from the whole model "
             f"by {pct(wh['layers_vs_whole_mean'])} on average.\n")
    if ly.get("in_context_mape") is not None:
        L.append(f"Against the layers timed *in context* (inside forward passes) instead of in isolation: hwcal MAPE "
                 f"{pct(ly['in_context_mape'])}, within 10% {pct(ly['in_context_within10'])}; in-context time is "
                 f"{ly['in_context_over_isolated']:.2f}x the isolated time over all layers.\n")
    L.append("**Measurement stability.** Per layer, pass 1 vs pass 2 (separate processes): median "
             f"{pct(ly.get('run_to_run_median'))}, p90 {pct(ly.get('run_to_run_p90'))}; whole model mean "
             f"{pct(wh['run_to_run_mean'])}, max {pct(wh['run_to_run_max'])}. Layers timed while other work still "
             f"shared our CPUs after the retries: {ly.get('contended', 0)}.\n")

    # per model
    L.append(f"### Per model, {t} thread(s)\n")
    rows = []
    for c in r["configs"]:
        flag = "" if not any(c.get("whole_contended", [])) else " (" + ", ".join(
            f"pass {i + 1}" for i, f in enumerate(c["whole_contended"]) if f) + " contended)"
        rows.append([c["config"] + flag, ms(c["whole_measured_s"]), ms(c["whole_predicted_s"]), pct(c["whole_signed"]),
                     ms(c["whole_roofline_s"]), pct(c["whole_roofline_ape"]), ms(c["layers_measured_s"]),
                     pct(c["layers_vs_whole"]), ms(c.get("in_context_layers_s")), pct(c["between_layers_share"]),
                     len(c["units"]), pct(c["unit_mape"]), pct(c["unit_roofline_mape"]), pct(c["unit_within10"]),
                     pct(c["whole_run_to_run"])])
    L.append(md_table(["config", "measured whole", "hwcal", "hwcal err", "roofline", "roofline |err|",
                       "sum of layers (isolated)", "isolated vs whole", "sum of layers (in context)",
                       "between layers", "layers", "layer MAPE hwcal", "layer MAPE roofline", "layers within 10%",
                       "whole run-to-run"], rows))
    L.append("\n*isolated*: each layer timed alone, repeatedly, on its captured inputs (warm caches); "
             "*in context*: the same layers timed inside interpreted forward passes of the traced model, caches as "
             "the previous layers leave them (a diagnostic; scoring uses the isolated times). *between layers*: "
             "whole model minus every node (scored, excluded and unmapped) timed in context, as a share of the "
             "whole model: the framework's own time between layers (Python, dispatch); the isolated-vs-whole gap "
             "beyond it is what isolation changes (warm caches).\n")

    # per kind
    L.append(f"### Per op kind, {t} thread(s)\n")
    rows = []
    total = sum(k.get("measured_s", 0) for k in s["kinds"].values())
    for k, ks in s["kinds"].items():
        ratio = ks.get("in_context_over_isolated")
        rows.append([k, ks["units"], pct(ks["measured_s"] / total if total else None), pct(ks["mape"]),
                     pct(ks["median_ape"]), pct(ks["within10"]), pct(ks["bias"]), pct(ks.get("roofline_mape")),
                     pct(ks.get("roofline_within10")), pct(ks.get("run_to_run_median")),
                     f"{ratio:.2f}" if ratio else "n/a", pct(ks.get("in_context_mape"))])
    L.append(md_table(["kind", "layers", "share of measured time", "MAPE hwcal", "median APE", "within 10%", "bias",
                       "MAPE roofline", "roofline within 10%", "run-to-run median", "in context / isolated",
                       "MAPE hwcal vs in-context"], rows))
    L.append("")

    # composite paths, excluded, unmapped
    comp = [(c["config"], u) for c in r["configs"] for u in md["configs"][c["config"]]["units"]
            if u["kind"] in ("mha", "encoder_layer")]
    if comp:
        paths = {}
        for cfg, u in comp:
            paths.setdefault((cfg, u["target"], u.get("note", "")), 0)
            paths[(cfg, u["target"], u.get("note", ""))] += 1
        L.append("Attention blocks and the torch 1.13 path that ran (detected with torch.profiler):\n")
        L.append(md_table(["config", "module", "path", "count"], [[a, b, c.replace("path: ", ""), n]
                                                                  for (a, b, c), n in paths.items()]))
        L.append("")
    ex_rows = []
    for c in r["configs"]:
        for cat, e in md["configs"][c["config"]].get("excluded", {}).items():
            ex_rows.append([c["config"], cat, e["count"], ", ".join(f"{k} x{v}" for k, v in e["targets"].items()),
                            ms(mean(e["measured_s"]))])
    if ex_rows:
        L.append("Excluded from scoring (timed, not predicted):\n")
        L.append(md_table(["config", "category", "nodes", "targets", "measured total"], ex_rows))
        L.append("")
    un = [(c["config"], u) for c in r["configs"] for u in md["configs"][c["config"]]["units"]
          if u["category"] == "unmapped"]
    L.append("Unmapped nodes (tensor ops without a workload mapping): " +
             ("none." if not un else ""))
    if un:
        L.append(md_table(["config", "node", "target", "measured", "why"],
                          [[a, u["name"], u["target"], ms(mean(u["measured_s"])), u.get("note", "")] for a, u in un]))
    L.append("")

    # worst layers
    allu = [(c["config"], u) for c in r["configs"] for u in c["units"]]
    worst = sorted(allu, key=lambda cu: -cu[1]["ape"])[:12]
    if worst:
        L.append(f"Largest per-layer errors, {t} thread(s):\n")
        L.append(md_table(["config", "layer", "kind", "measured", "hwcal", "err", "roofline", "bound",
                           "run-to-run", "mapper warnings"],
                          [[a, u["name"], u["kind"], ms(u["measured_s"]), ms(u["predicted_s"]), pct(u["signed"]),
                            ms(u.get("roofline_s")), u["bound"], pct(u["run_to_run"]),
                            "; ".join(u["warnings"])[:120]] for a, u in worst]))
        L.append("")
    if r["warnings"]:
        L.append("Mapper warnings (distinct messages, count of subgraphs):\n")
        L.append(md_table(["warning", "subgraphs"], [[w[:160], n] for w, n in
                                                     sorted(r["warnings"].items(), key=lambda kv: -kv[1])[:15]]))
        L.append("")
    if r.get("plot"):
        L.append(f"![predicted vs measured, {t} thread(s)]({os.path.basename(r['plot'])})\n")
    return L


# --------------------------------------------------------------------------- main


def evaluate_thread(t, profile, measured_path, predict, plot_dir=None):
    """predict(profile, workload, roofline, threads) -> parsed JSON. Returns the
    thread result dict."""
    mdoc = load_json(measured_path)
    configs, errors, warnings = [], [], {}
    for cfg, c in mdoc["configs"].items():
        wl = c["workload"] if os.path.isabs(c["workload"]) else os.path.join(ROOT, c["workload"])
        try:
            pred = predict(profile, wl, False, t)
        except PredictError as e:
            errors.append(f"{cfg}: {e}")
            continue
        try:
            roof = predict(profile, wl, True, t)
        except PredictError as e:
            errors.append(f"{cfg} (roofline): {e}")
            roof = None
        for sg in pred.get("subgraphs", []):
            for w in sg.get("warnings", []):
                warnings[w] = warnings.get(w, 0) + 1
        for w in pred.get("warnings", []):  # workload- or profile-level notes
            warnings["(workload) " + w] = warnings.get("(workload) " + w, 0) + 1
        if "threads" in pred and str(pred["threads"]) != str(t):
            errors.append(f"{cfg}: predict used curves for {pred['threads']} thread(s), measured with {t}")
        ev = evaluate_config(cfg, c, pred, roof)
        errors.extend(f"{cfg}: {p}" for p in ev["problems"])
        configs.append(ev)
    summary = summarize_thread(configs)
    out = {"profile": profile, "measured": rel(measured_path), "measured_doc": mdoc, "configs": configs,
           "summary": summary, "acceptance": acceptance(summary), "errors": errors, "warnings": warnings}
    if plot_dir and configs:
        path = os.path.join(plot_dir, f"cpu_pred_vs_meas_t{t}.png")
        try:
            if plot(t, configs, path):
                out["plot"] = path
        except Exception as e:  # plotting is optional
            errors.append(f"plot failed: {e}")
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hwcal", required=True, help="path of the hwcal CLI")
    ap.add_argument("--run", nargs=3, action="append", metavar=("THREADS", "PROFILE", "MEASURED"), required=True,
                    help="a thread count, the profile calibrated for it and stage 1's measurements file")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "docs", "validation"))
    ap.add_argument("--run-info", default=None,
                    help="JSON from the driver: calibrate commands/times, the driver command")
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args(argv)

    info = {}
    if args.run_info and os.path.exists(args.run_info):
        with open(args.run_info) as f:
            info = json.load(f)
    info["report_command"] = "/usr/bin/python3 validation/report.py " + " ".join(
        rel(a) if os.path.exists(a) else a for a in argv)
    try:
        v = subprocess.run([args.hwcal, "--version"], capture_output=True, text=True, timeout=30)
        info.setdefault("hwcal", (v.stdout or v.stderr).strip().splitlines()[0] if (v.stdout or v.stderr) else "?")
    except (OSError, subprocess.SubprocessError):
        info.setdefault("hwcal", "?")

    os.makedirs(args.out_dir, exist_ok=True)

    def predict(profile, workload, roofline, threads):
        return run_predict(args.hwcal, profile, workload, roofline, threads)

    threads_out = {}
    for t, profile, measured in args.run:
        threads_out[t] = evaluate_thread(t, profile, measured, predict, None if args.no_plots else args.out_dir)
        r = threads_out[t]
        ly, wh = r["summary"]["layers"], r["summary"]["whole"]
        print(f"{t} thread(s): per-layer MAPE {pct(ly.get('mape'))} (roofline {pct(ly.get('roofline_mape'))}), "
              f"whole-model MAPE {pct(wh['mape'])} (roofline {pct(wh['roofline_mape'])}), "
              f"{len(r['errors'])} problem(s)", file=sys.stderr)
        for e in r["errors"][:10]:
            print("  " + e, file=sys.stderr)

    md = write_report(os.path.join(args.out_dir, "cpu_report.md"), threads_out, info)
    with open(os.path.join(args.out_dir, "cpu_report.md"), "w") as f:
        f.write(md)
    res = compact_results(threads_out)
    res["generated"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    res["command"] = info["report_command"]
    res = round_floats(res)
    write_atomic(os.path.join(args.out_dir, "cpu_results.json.gz"), dump_results(res))
    print(f"wrote {rel(os.path.join(args.out_dir, 'cpu_report.md'))} and cpu_results.json.gz", file=sys.stderr)
    return 1 if any(r["errors"] for r in threads_out.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
