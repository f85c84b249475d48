#!/usr/bin/python3
"""Checks stage 2's arithmetic on hand-made measurements and predictions, and
runs report.py end to end against a fake `hwcal` executable (all in a temporary
folder; nothing is written to the repository).

  /usr/bin/python3 validation/test_report.py
"""
from __future__ import annotations

import gzip
import json
import math
import os
import stat
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profile_families  # noqa: E402
import report  # noqa: E402


def sg(name, lat, lo=None, hi=None, bound="compute", warnings=()):
    d = {"name": name, "latency_s": lat, "compute_s": lat, "memory_s": lat / 2, "overhead_s": 0.0, "bound": bound,
         "warnings": list(warnings)}
    if lo is not None:
        d["interval_s"] = [lo, hi]
    return d


def toy_measured(workload_path="wl.json"):
    return {
        "model": "toy", "batch": 1, "workload": workload_path,
        "whole_model_s": [4.0e-3, 4.4e-3],
        "units": [
            {"name": "conv", "target": "Conv2d", "category": "scored", "kind": "conv2d", "subgraphs": ["conv"],
             "measured_s": [1.0e-3, 1.2e-3], "other_cpu": [0.0, 0.0]},
            {"name": "mha", "target": "MultiheadAttention", "category": "scored", "kind": "mha",
             "subgraphs": ["mha.qkv", "mha.attn"], "measured_s": [2.0e-3, 2.0e-3], "other_cpu": [0.0, 0.5]},
            {"name": "weird", "target": "torch.foo", "category": "unmapped", "kind": None, "subgraphs": [],
             "measured_s": [1.0e-4, 1.0e-4]},
        ],
        "excluded": {"view": {"count": 3, "measured_s": [1.0e-5, 1.0e-5], "targets": {"torch.flatten": 3}}},
    }


TOY_PRED = {"total_s": 2.655e-3, "subgraphs": [sg("conv", 1.155e-3, 1.0e-3, 1.3e-3, warnings=["w1"]),
                                                sg("mha.qkv", 1.0e-3), sg("mha.attn", 0.5e-3, bound="memory")]}
TOY_ROOF = {"total_s": 0.8e-3, "subgraphs": [sg("conv", 0.5e-3), sg("mha.qkv", 0.2e-3), sg("mha.attn", 0.1e-3)]}


class Maths(unittest.TestCase):
    def test_config(self):
        c = report.evaluate_config("toy_b1", toy_measured(), TOY_PRED, TOY_ROOF)
        self.assertEqual(c["problems"], [])
        u1, u2 = c["units"]
        self.assertAlmostEqual(u1["measured_s"], 1.1e-3)
        self.assertAlmostEqual(u1["ape"], 0.05)
        self.assertAlmostEqual(u1["signed"], 0.05)
        self.assertAlmostEqual(u1["run_to_run"], 0.2 / 1.1)
        self.assertTrue(u1["in_interval"])
        self.assertAlmostEqual(u1["roofline_ape"], 0.6e-3 / 1.1e-3)
        self.assertEqual(u1["warnings"], ["w1"])
        self.assertAlmostEqual(u2["predicted_s"], 1.5e-3)
        self.assertAlmostEqual(u2["ape"], 0.25)
        self.assertAlmostEqual(u2["signed"], -0.25)
        self.assertEqual(u2["bound"], "compute")  # the dominant subgraph's bound
        self.assertFalse(u2["in_interval"])  # no interval given -> [pred, pred]
        self.assertTrue(u2["contended"])
        self.assertAlmostEqual(u2["roofline_s"], 0.3e-3)
        self.assertAlmostEqual(c["unit_mape"], 0.15)
        self.assertAlmostEqual(c["unit_within10"], 0.5)
        self.assertAlmostEqual(c["whole_measured_s"], 4.2e-3)
        self.assertAlmostEqual(c["whole_predicted_s"], 2.655e-3)
        self.assertAlmostEqual(c["whole_ape"], (4.2e-3 - 2.655e-3) / 4.2e-3)
        self.assertAlmostEqual(c["whole_roofline_ape"], (4.2e-3 - 0.8e-3) / 4.2e-3)
        self.assertAlmostEqual(c["layers_measured_s"], 3.1e-3)
        self.assertAlmostEqual(c["layers_vs_whole"], (3.1e-3 - 4.2e-3) / 4.2e-3)
        self.assertAlmostEqual(c["between_layers_share"], (4.2e-3 - 3.1e-3 - 1e-4 - 1e-5) / 4.2e-3)
        self.assertAlmostEqual(c["pred_vs_layers_ape"], (3.1e-3 - 2.655e-3) / 3.1e-3)
        self.assertAlmostEqual(c["whole_run_to_run"], 0.4 / 4.2)

    def test_summary(self):
        c1 = report.evaluate_config("toy_b1", toy_measured(), TOY_PRED, TOY_ROOF)
        m2 = toy_measured()
        m2["whole_model_s"] = [2.655e-3 * 1.02, 2.655e-3 * 1.02]  # hwcal within 2% on this one
        c2 = report.evaluate_config("toy_b8", m2, TOY_PRED, TOY_ROOF)
        s = report.summarize_thread([c1, c2])
        ly = s["layers"]
        self.assertEqual(ly["units"], 4)
        self.assertAlmostEqual(ly["mape"], 0.15)
        self.assertAlmostEqual(ly["median_ape"], 0.15)
        self.assertAlmostEqual(ly["within10"], 0.5)
        self.assertAlmostEqual(ly["bias"], -0.1)
        self.assertAlmostEqual(ly["time_weighted_error"], (0.055e-3 + 0.5e-3) / 3.1e-3)
        self.assertAlmostEqual(ly["roofline_mape"], (0.6 / 1.1 + 0.85) / 2)
        self.assertAlmostEqual(ly["interval_coverage"], 0.5)
        self.assertEqual(ly["contended"], 2)
        self.assertAlmostEqual(ly["run_to_run_median"], 0.1 / 1.1)  # median of [0.1818, 0, 0.1818, 0]
        wh = s["whole"]
        e1 = (4.2e-3 - 2.655e-3) / 4.2e-3
        e2 = 1 - 1 / 1.02
        self.assertAlmostEqual(wh["mape"], (e1 + e2) / 2)
        self.assertAlmostEqual(wh["within10"], 0.5)
        self.assertAlmostEqual(wh["max_ape"], e1)
        self.assertEqual(set(s["kinds"]), {"conv2d", "mha"})
        self.assertAlmostEqual(s["kinds"]["mha"]["mape"], 0.25)
        self.assertEqual(list(s["kinds"])[0], "mha")  # sorted by measured time
        a = report.acceptance(s)
        self.assertFalse(a["whole_pass"])  # 27.9% > 6%
        self.assertFalse(a["layer_pass"])  # mean(5%, 25%) = 15% > 12%
        self.assertAlmostEqual(a["layer_mape"], 0.15)

    def test_missing_prediction_is_reported(self):
        pred = {"total_s": 1.155e-3, "subgraphs": [TOY_PRED["subgraphs"][0]]}
        c = report.evaluate_config("toy_b1", toy_measured(), pred, None)
        self.assertEqual(len(c["units"]), 1)
        self.assertTrue(any("mha.qkv" in p for p in c["problems"]))

    def test_in_sequence_is_kept_per_unit(self):
        attn = dict(sg("mha.attn", 0.5e-3), in_sequence_s=0.7e-3)
        pred = {"total_s": 2.855e-3, "subgraphs": TOY_PRED["subgraphs"][:2] + [attn]}
        c = report.evaluate_config("toy_b1", toy_measured(), pred, None)
        self.assertEqual(c["problems"], [])
        u1, u2 = c["units"]
        self.assertAlmostEqual(u1["in_sequence_s"], 1.155e-3)  # none given: its isolated latency
        self.assertAlmostEqual(u2["in_sequence_s"], 1.7e-3)
        self.assertAlmostEqual(u2["predicted_s"], 1.5e-3)  # the per-layer score stays isolated

    def test_total_mismatch_is_reported(self):
        pred = dict(TOY_PRED, total_s=1.0)
        c = report.evaluate_config("toy_b1", toy_measured(), pred, None)
        self.assertTrue(any("total_s" in p for p in c["problems"]))

    def test_clean_mean(self):
        self.assertAlmostEqual(report.clean_mean([1.0, 3.0], [0.0, 0.9]), 1.0)  # the disturbed pass is dropped
        self.assertAlmostEqual(report.clean_mean([1.0, 3.0], [0.9, 0.9]), 2.0)  # all disturbed: mean of all
        self.assertAlmostEqual(report.clean_mean([1.0, 3.0], None), 2.0)
        m = toy_measured()
        m["whole_model_other_cpu"] = [0.0, 0.6]
        c = report.evaluate_config("toy_b1", m, TOY_PRED, None)
        self.assertAlmostEqual(c["whole_measured_s"], 4.0e-3)
        self.assertEqual(c["whole_contended"], [False, True])

    def test_quantile(self):
        self.assertAlmostEqual(report.quantile([1, 2, 3, 4], 0.5), 2.5)
        self.assertAlmostEqual(report.quantile([1, 2, 3, 4, 5], 0.9), 4.6)
        self.assertTrue(math.isnan(report.quantile([], 0.5)))


FAKE_HWCAL = r'''#!/usr/bin/python3
# fake hwcal for tests: latency = table[name] (or 1e-4), roofline half of it
import json, sys
a = sys.argv[1:]
if a[:1] == ["--version"]:
    print("hwcal-fake 0.0"); sys.exit(0)
assert a[0] == "predict", a
wl = json.load(open(a[a.index("--workload") + 1]))
table = json.load(open(a[a.index("--profile") + 1]))
roof = "--model" in a and a[a.index("--model") + 1] == "roofline"
out = []
for s in wl["subgraphs"]:
    lat = table.get(s["name"], 1e-4) * (0.5 if roof else 1.0)
    out.append({"name": s["name"], "latency_s": lat, "compute_s": lat, "memory_s": 0.0, "overhead_s": 0.0,
                "bound": "compute", "interval_s": [lat * 0.9, lat * 1.1], "warnings": []})
print(json.dumps({"total_s": sum(o["latency_s"] for o in out), "subgraphs": out}))
'''


class ProfileFamilies(unittest.TestCase):
    def test_fill(self):
        doc = {"operations": [
            {"op": "conv2d", "samples": [{"implementation": "at::conv2d -> oneDNN"},
                                         {"implementation": "at::conv2d -> slow_conv2d (im2col + gemm) [noisy]"},
                                         {"implementation": "at::conv2d -> oneDNN", "family": "kept"}]},
            {"op": "linear", "samples": [{"implementation": "at::linear -> addmm"}, {}]}]}
        self.assertEqual(profile_families.fill(doc), 2)
        conv = doc["operations"][0]["samples"]
        self.assertEqual([s.get("family") for s in conv], ["oneDNN", "slow_conv2d (im2col + gemm)", "kept"])
        self.assertNotIn("family", doc["operations"][1]["samples"][0])
        self.assertEqual(len(doc["warnings"]), 1)
        self.assertEqual(profile_families.fill(doc), 0)  # nothing left to fill: no second warning
        self.assertEqual(len(doc["warnings"]), 1)

    def test_not_a_profile(self):
        with tempfile.TemporaryDirectory() as tmp:
            bad = os.path.join(tmp, "bad.json")
            with open(bad, "w") as f:
                f.write("[1, 2]")
            self.assertEqual(profile_families.main([bad, "-o", os.path.join(tmp, "out.json")]), 2)


class EndToEnd(unittest.TestCase):
    def test_report_runs(self):
        with tempfile.TemporaryDirectory() as tmp:
            hw = os.path.join(tmp, "hwcal")
            with open(hw, "w") as f:
                f.write(FAKE_HWCAL)
            os.chmod(hw, os.stat(hw).st_mode | stat.S_IEXEC)
            wl = os.path.join(tmp, "toy_b1.json")
            with open(wl, "w") as f:
                json.dump({"hwcal_workload": 1, "name": "toy_b1", "precision": "fp32",
                           "subgraphs": [{"name": "conv", "op": "conv2d"}, {"name": "mha.qkv", "op": "linear"},
                                         {"name": "mha.attn", "op": "attention"}]}, f)
            profile = os.path.join(tmp, "profile.json")
            with open(profile, "w") as f:
                json.dump({"conv": 1.155e-3, "mha.qkv": 1.0e-3, "mha.attn": 0.5e-3}, f)
            mdoc = {"threads": 1, "passes": 2, "created": "now", "command": "measure ...",
                    "elapsed_s": {"passes": [1, 1], "total": 2},
                    "host": {"cpu": "fake", "logical_cpus": 2, "isa": [], "os": "x", "kernel": "y", "python": "3"},
                    "torch": {"version": "1.13", "torchvision": "0.14"},
                    "settings": {"env": {"OMP_NUM_THREADS": "1"}, "torch.set_num_threads": 1, "cpu_affinity": "0",
                                 "inplace": "in place on a clone",
                                 "unit_rule": {"min_reps": 20, "slow_min_reps": 5, "slow_s": 0.01, "budget_s": 0.2,
                                               "max_reps": 500},
                                 "whole_model_rule": {"min_reps": 10, "budget_s": 1.0}},
                    "configs": {"toy_b1": toy_measured(wl)}}
            mpath = os.path.join(tmp, "measured_t1.json")
            with open(mpath, "w") as f:
                json.dump(mdoc, f)
            out = os.path.join(tmp, "out")
            rc = report.main(["--hwcal", hw, "--run", "1", profile, mpath, "--out-dir", out])
            self.assertEqual(rc, 0)
            with open(os.path.join(out, "cpu_report.md")) as f:
                md = f.read()
            self.assertIn("## Summary", md)
            self.assertIn("15.0%", md)  # per-layer MAPE
            self.assertIn("FAIL", md)
            with gzip.open(os.path.join(out, "cpu_results.json.gz"), "rt") as f:
                res = json.load(f)
            t1 = res["threads"]["1"]
            self.assertAlmostEqual(t1["summary"]["layers"]["mape"], 0.15)
            self.assertAlmostEqual(t1["summary"]["layers"]["roofline_mape"], (1 - 0.5775 / 1.1 + 0.625) / 2, places=4)
            self.assertEqual(len(t1["configs"]["toy_b1"]["units"]), 2)
            self.assertTrue(os.path.exists(os.path.join(out, "cpu_pred_vs_meas_t1.png")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
