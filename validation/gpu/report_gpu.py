#!/usr/bin/env python3
"""Scores hwcal's GPU predictions against measure_gpu.py's ground truth.

  python3 validation/gpu/report_gpu.py --hwcal build/tools/hwcal/hwcal \
      --profile profiles/gpu/nvidia-h200-cuda.json --measured OUT/gpu_measured.json \
      --workloads OUT/workloads.tar.gz [--out-md docs/validation/gpu/gpu_report.md] [-- --mode eager]

Arguments after `--` go to every `hwcal predict` call (calibrated and roofline).
Runs `hwcal predict --json` and `hwcal predict --json --model roofline` on every
measured workload; a workload hwcal rejects (e.g. an op kind this binary does not
know) is reported as rejected, not scored. Needs no torch.

Definitions (all errors relative to the measurement):
  unit        one traced node timed in isolation (a layer; attention blocks carry
              several subgraphs)
  measured    per layer: graph_s, the CUDA-graph time per call (mean over the
              passes); whole model: model_graph_s (mean over the passes)
  predicted   per layer: the sum of the unit's subgraphs' latency_s (isolated, as
              measured); whole model: hwcal's total_s
  APE         |predicted - measured| / measured; MAPE = mean APE; bias = mean
              signed error; within10 = share with APE <= 10 %
  eager       with `-- --mode eager`, the same against eager_s / model_eager_s
  noise floor |pass 1 - pass 2| / mean of the graph timings measured twice
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from jsonfile import load_json, write_json  # noqa: E402
from report import (PredictError, ape, index_prediction, md_table, mean, ms, pct, quantile,  # noqa: E402
                    round_floats)

TOP_ERRORS = 15


def rel(path):
    try:
        return os.path.relpath(path, ROOT)
    except ValueError:
        return path


# --------------------------------------------------------------------------- hwcal


def run_predict(hwcal, profile, workload, extra):
    """Parsed `hwcal predict --json` output; PredictError (with hwcal's message)
    when it exits non-zero or prints no JSON."""
    cmd = [hwcal, "predict", "--profile", profile, "--workload", workload, "--json"] + list(extra)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        msg = (p.stderr or p.stdout).strip().splitlines()
        raise PredictError(f"exit {p.returncode}: {' / '.join(msg)[:400]}")
    try:
        return json.loads(p.stdout)
    except json.JSONDecodeError as e:
        raise PredictError(f"output is not JSON ({e})") from e


def eager_mode(extra):
    """Whether the predict arguments ask for eager-mode predictions (`--mode eager`)."""
    return "--mode=eager" in extra or any(a == "--mode" and b == "eager" for a, b in zip(extra, extra[1:]))


# --------------------------------------------------------------------------- scoring


def run_to_run(values):
    if not values or len(values) < 2:
        return None
    m = mean(values)
    return (max(values) - min(values)) / m if m > 0 else None


def unit_row(cfg, precision, model, u, pi, ri):
    """Score of one measured unit, or (None, problem) when it cannot be scored."""
    missing = [s for s in u["subgraphs"] if s not in pi]
    if missing:
        return None, f"{u['name']}: no prediction for {', '.join(missing)}"
    sgs = [pi[s] for s in u["subgraphs"]]
    p = sum(s["latency_s"] for s in sgs)
    row = {"config": cfg, "precision": precision, "model": model, "name": u["name"], "kind": u["kind"],
           "predicted_s": p, "kernels": u.get("kernels"), "kernel_names": u.get("kernel_names", []),
           "bound": max(sgs, key=lambda s: s["latency_s"]).get("bound"),
           "warnings": sorted({w for s in sgs for w in s.get("warnings", [])})}
    if ri is not None and all(s in ri for s in u["subgraphs"]):
        row["roofline_s"] = sum(ri[s]["latency_s"] for s in u["subgraphs"])
    if u.get("graph_s"):
        row["measured_s"] = mean(u["graph_s"])
        row["run_to_run"] = run_to_run(u["graph_s"])
    if u.get("eager_s"):
        row["eager_s"] = u["eager_s"]
    return row, None


def score(row, measured_key, out_prefix=""):
    """Adds APE / signed error of predicted (and roofline) against row[measured_key]."""
    m = row.get(measured_key)
    if not m:
        return
    row[out_prefix + "ape"] = ape(row["predicted_s"], m)
    row[out_prefix + "signed"] = (row["predicted_s"] - m) / m
    if row.get("roofline_s") is not None:
        row[out_prefix + "roofline_ape"] = ape(row["roofline_s"], m)


def evaluate_config(cfg, rec, pred, roof):
    """Per-unit and whole-model scores of one config."""
    pi = index_prediction(pred)
    ri = index_prediction(roof) if roof is not None else None
    units, problems, not_graphed = [], [], []
    for u in rec["units"]:
        if u["category"] != "scored":
            continue
        row, problem = unit_row(cfg, rec["precision"], rec["model"], u, pi, ri)
        if problem:
            problems.append(problem)
            continue
        if "measured_s" not in row:
            not_graphed.append(f"{u['name']}: {u.get('error') or u.get('graph_error') or 'no graph timing'}")
        score(row, "measured_s")
        score(row, "eager_s", "eager_")
        units.append(row)
    c = {"config": cfg, "model": rec["model"], "batch": rec["batch"], "precision": rec["precision"],
         "units": units, "problems": problems, "not_graphed": not_graphed, "incomplete": rec.get("incomplete"),
         "predicted_s": pred.get("total_s", sum(s.get("in_sequence_s", s["latency_s"]) for s in pred["subgraphs"])),
         "roofline_s": (roof.get("total_s", sum(s["latency_s"] for s in roof["subgraphs"]))
                        if roof is not None else None),
         "measured_s": mean(rec["model_graph_s"]) if rec.get("model_graph_s") else None,
         "whole_run_to_run": run_to_run(rec.get("model_graph_s")),
         "eager_s": rec.get("model_eager_s"),
         "forward_kernels": rec.get("forward_kernels"), "forward_kernel_s": rec.get("forward_kernel_s"),
         "units_graph_sum_s": sum(u["measured_s"] for u in units if "measured_s" in u)}
    score(c, "measured_s")
    score(c, "eager_s", "eager_")
    return c


def summarize(rows, prefix=""):
    """MAPE, median, p90, within 10 %, bias (and the roofline's) of rows that have
    an APE under `prefix`."""
    rows = [r for r in rows if r.get(prefix + "ape") is not None]
    if not rows:
        return {"n": 0}
    apes = [r[prefix + "ape"] for r in rows]
    s = {"n": len(rows), "mape": mean(apes), "median_ape": statistics.median(apes),
         "p90_ape": quantile(apes, 0.9), "within10": mean(a <= 0.10 for a in apes),
         "bias": mean(r[prefix + "signed"] for r in rows)}
    ra = [r[prefix + "roofline_ape"] for r in rows if r.get(prefix + "roofline_ape") is not None]
    if ra:
        s["roofline_mape"] = mean(ra)
        s["roofline_median_ape"] = statistics.median(ra)
        s["roofline_within10"] = mean(a <= 0.10 for a in ra)
    return s


def group_by(rows, key):
    out = {}
    for r in rows:
        out.setdefault(r[key], []).append(r)
    return out


def noise_floor(configs):
    """Median and p90 of pass-to-pass differences of the graph timings measured
    twice (per layer and whole model)."""
    layer = [u["run_to_run"] for c in configs for u in c["units"] if u.get("run_to_run") is not None]
    whole = [c["whole_run_to_run"] for c in configs if c.get("whole_run_to_run") is not None]
    return {"layers": len(layer), "layer_median": statistics.median(layer) if layer else None,
            "layer_p90": quantile(layer, 0.9) if layer else None,
            "models": len(whole), "whole_median": statistics.median(whole) if whole else None,
            "whole_max": max(whole) if whole else None}


def summary(configs, eager):
    units = [u for c in configs for u in c["units"]]
    s = {"layers": summarize(units), "whole": summarize(configs), "noise": noise_floor(configs),
         "by_precision": {p: {"layers": summarize([u for c in cs for u in c["units"]]), "whole": summarize(cs)}
                          for p, cs in group_by(configs, "precision").items()},
         "by_kind": {k: summarize(us) for k, us in group_by(units, "kind").items()},
         "by_kind_precision": {k: {p: summarize(ps) for p, ps in group_by(us, "precision").items()}
                               for k, us in group_by(units, "kind").items()},
         "by_model": {m: {"layers": summarize([u for c in cs for u in c["units"]]), "whole": summarize(cs)}
                      for m, cs in group_by(configs, "model").items()}}
    if eager:
        s["eager"] = {"layers": summarize(units, "eager_"), "whole": summarize(configs, "eager_"),
                      "by_precision": {p: {"layers": summarize([u for c in cs for u in c["units"]], "eager_"),
                                           "whole": summarize(cs, "eager_")}
                                       for p, cs in group_by(configs, "precision").items()}}
    return s


# --------------------------------------------------------------------------- inputs


def open_workloads(path, tmp):
    """A workloads directory, or a .tar.gz of one (extracted into tmp)."""
    if os.path.isdir(path):
        return path
    with tarfile.open(path) as tar:
        try:
            tar.extractall(tmp, filter="data")
        except TypeError:  # Python without extraction filters (< 3.11.4)
            tar.extractall(tmp)
    for root, _, files in os.walk(tmp):
        if any(f.endswith(".json") for f in files):
            return root
    raise FileNotFoundError(f"no workloads in {path}")


def evaluate(mdoc, wdir, predict, eager):
    """predict(workload, roofline) -> parsed JSON. Returns (configs, rejected,
    failed, summary)."""
    configs, rejected, failed = [], [], []
    for cfg, rec in mdoc["configs"].items():
        if "error" in rec:
            failed.append((cfg, rec["error"]))
            continue
        wl = os.path.join(wdir, rec["workload"])
        try:
            pred = predict(wl, False)
        except (PredictError, OSError) as e:
            rejected.append((cfg, str(e).replace(wl, rec["workload"])))
            continue
        try:
            roof = predict(wl, True)
        except (PredictError, OSError) as e:
            roof = None
            rejected.append((cfg + " (roofline)", str(e).replace(wl, rec["workload"])))
        configs.append(evaluate_config(cfg, rec, pred, roof))
    return configs, rejected, failed, summary(configs, eager)


# --------------------------------------------------------------------------- markdown


def stats_cells(s, roofline=True):
    cells = [s.get("n", 0), pct(s.get("mape")), pct(s.get("median_ape")), pct(s.get("within10")), pct(s.get("bias"))]
    if roofline:
        cells += [pct(s.get("roofline_mape")), pct(s.get("roofline_within10"))]
    return cells


STATS_HEAD = ["n", "MAPE hwcal", "median APE", "within 10%", "bias", "MAPE roofline", "roofline within 10%"]


def md_summary(s, eager):
    L = ["## Summary\n"]
    rows = [["all", "per layer"] + stats_cells(s["layers"]), ["all", "whole model"] + stats_cells(s["whole"])]
    for p, ps in s["by_precision"].items():
        rows.append([p, "per layer"] + stats_cells(ps["layers"]))
        rows.append([p, "whole model"] + stats_cells(ps["whole"]))
    L.append(md_table(["precision", "level"] + STATS_HEAD, rows))
    n = s["noise"]
    L.append(f"\n**Noise floor** (graph timings measured twice in the same run): per layer median "
             f"{pct(n['layer_median'])}, p90 {pct(n['layer_p90'])} over {n['layers']} layers; whole model median "
             f"{pct(n['whole_median'])}, max {pct(n['whole_max'])} over {n['models']} configs. Errors below these "
             f"cannot be resolved by this data.\n")
    if eager:
        e = s["eager"]
        L.append("## Eager mode (predictions with `--mode eager` vs eager_s / model_eager_s)\n")
        rows = [["all", "per layer"] + stats_cells(e["layers"]), ["all", "whole model"] + stats_cells(e["whole"])]
        for p, ps in e["by_precision"].items():
            rows.append([p, "per layer"] + stats_cells(ps["layers"]))
            rows.append([p, "whole model"] + stats_cells(ps["whole"]))
        L.append(md_table(["precision", "level"] + STATS_HEAD, rows) + "\n")
    return L


def md_breakdowns(s, configs):
    L = ["## Per op kind (per layer, against graph_s)\n"]
    precs = sorted({c["precision"] for c in configs})
    rows = []
    for k, ks in sorted(s["by_kind"].items(), key=lambda kv: -kv[1].get("n", 0)):
        rows.append([k] + stats_cells(ks) + [pct(s["by_kind_precision"][k].get(p, {}).get("mape")) for p in precs])
    L.append(md_table(["kind"] + STATS_HEAD + [f"MAPE {p}" for p in precs], rows) + "\n")
    L.append("## Per model\n")
    rows = [[m, ms_["layers"].get("n", 0), pct(ms_["layers"].get("mape")), pct(ms_["layers"].get("roofline_mape")),
             ms_["whole"].get("n", 0), pct(ms_["whole"].get("mape")), pct(ms_["whole"].get("roofline_mape")),
             pct(ms_["whole"].get("bias"))] for m, ms_ in s["by_model"].items()]
    L.append(md_table(["model", "layers", "layer MAPE hwcal", "layer MAPE roofline", "configs",
                       "whole MAPE hwcal", "whole MAPE roofline", "whole bias"], rows) + "\n")
    L.append("## Per config (whole model)\n")
    rows = [[c["config"], ms(c["measured_s"]), ms(c["predicted_s"]), pct(c.get("signed")), ms(c["roofline_s"]),
             pct(c.get("roofline_ape")), ms(c["eager_s"]), ms(c["units_graph_sum_s"]), ms(c["forward_kernel_s"]),
             c["forward_kernels"], len(c["units"]), pct(mean(u["ape"] for u in c["units"] if "ape" in u)),
             pct(c["whole_run_to_run"]), c["incomplete"] or ""] for c in configs]
    L.append(md_table(["config", "measured (graph)", "hwcal", "hwcal err", "roofline", "roofline |err|",
                       "measured eager", "sum of layers (graph)", "kernel time in context", "kernels", "layers",
                       "layer MAPE", "run-to-run", "incomplete"], rows))
    L.append("\n*kernel time in context*: the sum of every kernel's duration in one profiled eager forward (the "
             "device busy time without launch gaps); *sum of layers*: the layers timed alone in CUDA graphs.\n")
    return L


def md_largest(configs):
    units = sorted((u for c in configs for u in c["units"] if "ape" in u), key=lambda u: -u["ape"])[:TOP_ERRORS]
    if not units:
        return []
    rows = [[u["config"], u["name"], u["kind"], ms(u["measured_s"]), ms(u["predicted_s"]), pct(u["signed"]),
             ms(u.get("roofline_s")), u["bound"], u["kernels"],
             "; ".join(f"{n} x{k}" for n, k in u["kernel_names"][:2])[:100], "; ".join(u["warnings"])[:100]]
            for u in units]
    return ["## Largest per-layer errors\n",
            md_table(["config", "layer", "kind", "measured", "hwcal", "err", "roofline", "bound", "kernels",
                      "kernels (in context)", "mapper warnings"], rows), ""]


def md_problems(mdoc, configs, rejected, failed):
    L = ["## Not scored\n"]
    if rejected:
        L.append("Workloads `hwcal predict` rejected (not scored):\n")
        L.append(md_table(["config", "hwcal said"], [[c, m[:200]] for c, m in rejected]) + "\n")
    if failed:
        L.append("Configs whose measurement failed:\n")
        L.append(md_table(["config", "error"], [[c, m[:200]] for c, m in failed]) + "\n")
    if mdoc.get("not_started"):
        L.append(f"Configs not started (budget): {len(mdoc['not_started'])} of {len(mdoc.get('plan', []))}.\n")
    un = [(cfg, u) for cfg, rec in mdoc["configs"].items() for u in rec.get("units", [])
          if u["category"] == "unmapped"]
    if un:
        L.append("Unmapped nodes (timed, no workload op):\n")
        L.append(md_table(["config", "node", "target", "graph", "eager", "why"],
                          [[c, u["name"], u["target"], ms(mean(u["graph_s"]) if u.get("graph_s") else None),
                            ms(u.get("eager_s")), u.get("note", "")] for c, u in un]) + "\n")
    other = [(c["config"], p) for c in configs for p in c["problems"] + c["not_graphed"]]
    if other:
        L.append("Layers not scored (no prediction for a subgraph, or no graph timing):\n")
        L.append(md_table(["config", "what"], [[c, p[:200]] for c, p in other[:40]]) + "\n")
    if len(L) == 1:
        L.append("Everything measured was scored.\n")
    return L


def md_machine(mdoc):
    sw = mdoc["machine"]["software"]
    start, end = mdoc["machine"].get("nvidia_smi_start") or {}, mdoc["machine"].get("nvidia_smi_end") or {}
    dev = sw.get("device", {})
    rows = [["GPU", f"{dev.get('name', start.get('name', '?'))}, {dev.get('sm_count', '?')} SMs, driver "
                    f"{start.get('driver_version', '?')}"],
            ["clocks (nvidia-smi) start / end", f"SM {start.get('clocks.sm', '?')} / {end.get('clocks.sm', '?')} MHz "
                                               f"(max {start.get('clocks.max.sm', '?')}), temperature "
                                               f"{start.get('temperature.gpu', '?')} / {end.get('temperature.gpu', '?')} C"],
            ["software", f"torch {sw.get('torch')}, torchvision {sw.get('torchvision')}, CUDA {sw.get('cuda')}, "
                         f"cuDNN {sw.get('cudnn')}, Python {sw.get('python')}"],
            ["measured", f"{mdoc.get('created')} .. {mdoc.get('finished')}, {mdoc.get('elapsed_s')} s of a "
                         f"{mdoc.get('budget_s')} s budget"],
            ["command", f"`{mdoc.get('command')}`"]]
    return ["## Machine and settings\n", md_table(["what", "value"], rows), "",
            "Settings: " + "; ".join(f"{k}: {v}" for k, v in mdoc["settings"].items() if k != "timing_rule") + "\n"]


def write_markdown(path, mdoc, configs, rejected, failed, s, info):
    L = ["# hwcal GPU validation against PyTorch models\n",
         f"Generated {info['generated']} by `validation/gpu/report_gpu.py`; data in `{os.path.basename(info['json'])}`. "
         f"Profile `{info['profile']}`, hwcal `{info['hwcal']}`, predict arguments "
         f"`{' '.join(info['extra']) or '(none)'}`.\n",
         "Per layer: each traced node timed alone on its captured inputs in a CUDA graph of R back-to-back calls "
         "(graph_s) against the sum of its subgraphs' predicted latency_s; whole model: a CUDA graph of one forward "
         "(model_graph_s) against hwcal's total_s. The datasheet roofline (`--model roofline`) is beside each "
         "figure.\n"]
    L += md_summary(s, info["eager"])
    L += md_breakdowns(s, configs)
    L += md_largest(configs)
    L += md_problems(mdoc, configs, rejected, failed)
    L += md_machine(mdoc)
    L += ["## Reproduce\n", "```sh", mdoc.get("command", ""), info["command"], "```", ""]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def results_json(configs, rejected, failed, s, info):
    cols = ["name", "kind", "measured_s", "predicted_s", "roofline_s", "eager_s", "run_to_run", "kernels", "bound"]
    doc = {"hwcal_gpu_validation_results": 1, **{k: info[k] for k in ("generated", "command", "profile", "extra")},
           "summary": s, "rejected": rejected, "failed": failed, "configs": {}}
    for c in configs:
        cc = {k: v for k, v in c.items() if k != "units"}
        cc["unit_columns"] = cols
        cc["units"] = [[u.get(k) for k in cols] for u in c["units"]]
        doc["configs"][c["config"]] = cc
    return round_floats(doc)


# --------------------------------------------------------------------------- main


def parse_args(argv):
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hwcal", required=True, help="path of the hwcal CLI")
    ap.add_argument("--profile", required=True, help="GPU profile (hwcal calibrate --backend cuda)")
    ap.add_argument("--measured", required=True, help="measure_gpu.py's JSON (or .json.gz)")
    ap.add_argument("--workloads", required=True, help="the workloads directory, or its .tar.gz")
    ap.add_argument("--out-md", default=os.path.join(ROOT, "docs", "validation", "gpu", "gpu_report.md"))
    ap.add_argument("--out-json", default=None,
                    help="default: gpu_results.json.gz beside --out-md (gzip for a .gz name)")
    args = ap.parse_args(argv)
    args.extra = extra
    args.out_json = args.out_json or os.path.join(os.path.dirname(os.path.abspath(args.out_md)), "gpu_results.json.gz")
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    mdoc = load_json(args.measured)
    eager = eager_mode(args.extra)

    def predict(wl, roofline):
        return run_predict(args.hwcal, args.profile, wl, (["--model", "roofline"] if roofline else []) + args.extra)

    with tempfile.TemporaryDirectory() as tmp:
        configs, rejected, failed, s = evaluate(mdoc, open_workloads(args.workloads, tmp), predict, eager)
    info = {"generated": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": "python3 validation/gpu/report_gpu.py " + " ".join(rel(a) if os.path.exists(a) else a
                                                                          for a in argv),
            "profile": rel(args.profile), "hwcal": rel(args.hwcal), "extra": args.extra, "eager": eager,
            "json": args.out_json}
    write_markdown(args.out_md, mdoc, configs, rejected, failed, s, info)
    write_json(args.out_json, results_json(configs, rejected, failed, s, info))
    ly, wh = s["layers"], s["whole"]
    print(f"{len(configs)} configs scored, {len(rejected)} rejected by hwcal, {len(failed)} failed to measure; "
          f"per-layer MAPE {pct(ly.get('mape'))} (roofline {pct(ly.get('roofline_mape'))}) over {ly.get('n', 0)} "
          f"layers; whole-model MAPE {pct(wh.get('mape'))} (roofline {pct(wh.get('roofline_mape'))}); wrote "
          f"{rel(args.out_md)} and {rel(args.out_json)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
