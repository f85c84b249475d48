#!/usr/bin/env python3
"""Tests of the GPU fidelity bench (torch_ops.py) and the ground-truth split
(truth_parts.py) that run on a CPU with torch 1.13 or 2.x: the op table and
shape defaults against `hwcal ops` (when built), the move geometry against
the C++ one, every op kind built and timed in CPU dry-run mode, the graph and
cold timing logic on an emulated graph device, per-sample failures, budget and
interruption, the summary arithmetic and the markdown.

  /usr/bin/python3 validation/gpu/test_torch_ops.py
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import gpu_timing as gt  # noqa: E402
import torch_ops as T  # noqa: E402
import truth_parts  # noqa: E402

HWCAL = next((p for p in (os.environ.get("HWCAL_CLI", ""), os.path.join(ROOT, "build", "tools", "hwcal", "hwcal"),
                          os.path.join(ROOT, "build-cuda", "tools", "hwcal", "hwcal")) if p and os.path.exists(p)), None)


def t(median, iterations=1):
    return {"median_s": median, "mad_s": 0.0, "p10_s": median, "p90_s": median, "samples": 5,
            "iterations": iterations, "converged": True}


# One small shape of every op kind and variant (shapes as a profile writes them).
SHAPES = [
    ("matmul", "", {"batch": 1, "m": 16, "n": 24, "k": 32, "bias": False}),
    ("matmul", "", {"batch": 3, "m": 8, "n": 8, "k": 16, "bias": False}),
    ("linear", "", {"m": 4, "n": 32, "k": 16, "bias": True}),
    ("conv2d", "dense", {"n": 1, "c": 8, "h": 8, "w": 8, "k": 8, "r": 3, "s": 3, "stride": 1, "padding": 1,
                         "dilation": 1, "groups": 1, "bias": True}),
    ("conv2d", "depthwise", {"n": 1, "c": 8, "h": 8, "w": 8, "k": 8, "r": 3, "s": 3, "stride": [2, 2],
                             "padding": 1, "dilation": 1, "groups": 8, "bias": False}),
    ("conv2d", "grouped", {"n": 2, "c": 8, "h": 6, "w": 6, "k": 16, "r": 1, "s": 1, "groups": 4}),
    ("conv2d", "depthwise_channels_last", {"n": 2, "c": 8, "h": 8, "w": 8, "k": 8, "r": 7, "s": 7, "padding": 3,
                                           "groups": 8, "channels_last": True}),
    ("attention", "full", {"batch": 1, "heads": 2, "seq_q": 8, "seq_kv": 8, "head_dim": 16, "causal": False}),
    ("attention", "causal", {"batch": 1, "heads": 4, "kv_heads": 2, "seq_q": 8, "seq_kv": 8, "head_dim": 16,
                             "causal": True}),
    ("attention", "causal", {"batch": 2, "heads": 4, "kv_heads": 1, "seq_q": 4, "seq_kv": 12, "head_dim": 8,
                             "causal": True}),
    ("attention", "decode", {"batch": 2, "heads": 4, "kv_heads": 2, "seq_q": 1, "seq_kv": 32, "head_dim": 16,
                             "causal": True}),
    ("maxpool", "", {"n": 1, "c": 4, "h": 8, "w": 8, "r": 3, "s": 3, "stride": 2, "padding": 1}),
    ("avgpool", "", {"n": 1, "c": 4, "h": 8, "w": 8, "r": 2}),
    ("adaptive_avgpool", "", {"n": 2, "c": 4, "h": 7, "w": 7, "out_h": 1, "out_w": 1}),
    ("batchnorm", "", {"n": 2, "c": 4, "h": 5, "w": 5}),
    ("layernorm", "", {"rows": 8, "cols": 64}),
    ("rmsnorm", "", {"rows": 8, "cols": 64}),
    ("softmax", "", {"rows": 8, "cols": 64}),
    ("reduce_mean", "", {"rows": 8, "cols": 64}),
    ("add", "binary", {"elements": 256, "inputs": 2, "broadcast": 0, "inplace": False}),
    ("add", "broadcast", {"elements": 256, "inputs": 2, "broadcast": 16, "inplace": False}),
    ("add", "binary_inplace", {"elements": 256, "inputs": 2, "broadcast": 0, "inplace": True}),
    ("mul", "broadcast", {"elements": 256, "inputs": 2, "broadcast": 64, "inplace": True}),
    ("div", "binary", {"elements": 256, "inputs": 2}),
    ("silu_mul", "binary", {"elements": 256, "inputs": 2}),
] + [(op, "unary", {"elements": 256, "inputs": 1}) for op in
     ("relu", "gelu", "silu", "sigmoid", "hardswish", "hardsigmoid", "tanh", "relu6", "hardtanh", "clamp", "neg",
      "exp", "square", "sqrt", "rsqrt")] + [
    ("rsqrt", "unary_inplace", {"elements": 256, "inputs": 1, "inplace": True}),
    ("relu", "unary_inplace", {"elements": 256, "inputs": 1, "inplace": True}),
    ("gelu", "unary_inplace", {"elements": 256, "inputs": 1, "inplace": True}),
    ("clamp", "unary_inplace", {"elements": 256, "inputs": 1, "inplace": True}),
    ("copy", "", {"bytes": 4096}),
    ("transpose", "", {"bytes": 3000}),
    ("permute", "", {"bytes": 3000}),
    ("concat", "", {"bytes": 4096}),
    ("rotary", "", {"tokens": 4, "heads": 2, "head_dim": 16}),
    ("embedding", "", {"tokens": 8, "vocab": 100, "dim": 32}),
]


def synthetic_profile(precisions=("fp32", "bf16"), cold=True, extra=()):
    """A schema-v2 CUDA profile: one curve per (op, precision, variant), hwcal
    times of 1 us (cold 2 us)."""
    curves = {}
    for op, variant, shape in list(SHAPES) + list(extra):
        for p in precisions:
            c = curves.setdefault((op, p, variant), {"op": op, "precision": p, "variant": variant, "backend": "cuda",
                                                     "threads": 1, "samples": []})
            s = {"shape": shape, "flops": 1000.0, "bytes": 1000.0, "time": t(1e-6, 100),
                 "implementation": "hwcal kernel"}
            if cold:
                s["cold_time"] = t(2e-6, 4)
            c["samples"].append(s)
    return {"schema_version": 2, "name": "synthetic H200", "target": "cuda", "backend": "cuda",
            "device": {"name": "NVIDIA H200"}, "timing": "device time per launch inside a CUDA graph",
            "operations": list(curves.values())}


def write(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


class GraphCpuDevice(gt.CpuDevice):
    """CPU device with emulated graphs (a replay calls fn reps times)."""

    def __init__(self):
        self.captures = []

    def graph(self, fn, reps):
        self.captures.append(reps)
        return lambda: [fn() for _ in range(reps)]


def cpu_run(**kw):
    args = T.parse_args(["fidelity", "--device", "cpu", "--dry-run", "--profile", "x", "--out", "y"])
    for k, v in kw.items():
        setattr(args, k, v)
    return T.Run(args)


# --------------------------------------------------------------------------- the op table


class Table(unittest.TestCase):
    def test_move_geometry_matches_cpp(self):
        # (bytes, element bytes, rows, cols) from include/hwcal/reference.hpp's move_geometry
        for nbytes, eb, rows, cols in [(256, 4, 8, 8), (65536, 4, 128, 128), (65536, 2, 128, 256),
                                       (1048576, 1, 1024, 1024), (1000, 4, 10, 25), (999, 1, 27, 37), (7, 1, 1, 7),
                                       (1, 4, 1, 1), (3, 4, 1, 1), (123457, 2, 96, 643),
                                       (1073741824, 2, 16384, 32768), (6000000, 4, 1200, 1250),
                                       (100000007, 1, 10000, 10000), (16781312, 2, 2176, 3856)]:
            self.assertEqual(T.move_geometry(nbytes, eb), (rows, cols), (nbytes, eb))

    def test_every_op_has_a_builder_and_a_shape(self):
        self.assertEqual(set(T.OPS), {op for op, _, _ in SHAPES})
        for op, (fam, _) in T.OPS.items():
            self.assertIn(fam, T.BUILDERS, op)

    def test_normalize_fills_hwcal_defaults(self):
        s = T.normalize_shape("conv2d", {"n": 1, "c": 4, "h": 8, "w": 8, "k": 4, "r": 3, "s": 3})
        self.assertEqual((s["stride"], s["padding"], s["dilation"], s["groups"], s["bias"]), ((1, 1), (0, 0), (1, 1), 1, True))
        s = T.normalize_shape("maxpool", {"n": 1, "c": 4, "h": 8, "w": 8, "r": 3})
        self.assertEqual((s["s"], s["stride"], s["padding"]), (3, (3, 3), (0, 0)))
        s = T.normalize_shape("attention", {"seq_q": 4, "head_dim": 8, "heads": 4, "kv_heads": 0})
        self.assertEqual((s["batch"], s["kv_heads"], s["seq_kv"], s["causal"]), (1, 4, 4, False))
        self.assertTrue(T.normalize_shape("linear", {"m": 1, "n": 2, "k": 3})["bias"])
        self.assertFalse(T.normalize_shape("matmul", {"m": 1, "n": 2, "k": 3})["bias"])
        self.assertEqual(T.normalize_shape("relu", {"elements": 4})["inputs"], 1)
        self.assertEqual(T.normalize_shape("add", {"elements": 4})["inputs"], 2)
        with self.assertRaises(KeyError):
            T.normalize_shape("linear", {"m": 1, "n": 2})

    @unittest.skipUnless(HWCAL, "hwcal not built")
    def test_table_and_defaults_match_hwcal_ops(self):
        doc = json.loads(subprocess.run([HWCAL, "ops", "--format", "json"], capture_output=True, text=True,
                                        check=True).stdout)
        # Collectives span GPUs: collectives_torch.py compares them, not this single-GPU bench.
        ops = [o for o in doc["ops"] if o["family"] != "collective"]
        names = [o["op"] for o in ops]
        self.assertEqual(names, list(T.OPS), "torch_ops.OPS must follow hwcal's op table (kinds.hpp)")
        for o in ops:
            self.assertEqual(o["family"], T.OPS[o["op"]][0], o["op"])
            required = {f["name"]: 3 for f in o["fields"] if f.get("required")}
            if o["op"] == "rotary":
                required["head_dim"] = 4
            s = T.normalize_shape(o["op"], required)
            for f in o["fields"]:
                if "default" not in f or f["default"] is None:
                    continue
                got = s[f["name"]]
                got = got[0] if isinstance(got, tuple) else got
                want = f["default"]
                if isinstance(want, dict) and "same_as" in want:  # the default is another field's value
                    want = s[want["same_as"]]
                    want = want[0] if isinstance(want, tuple) else want
                self.assertEqual(got, want, f"{o['op']}.{f['name']}")


# --------------------------------------------------------------------------- building and timing


class Build(unittest.TestCase):
    def test_every_sample_runs_on_cpu(self):
        for op, variant, shape in SHAPES:
            with self.subTest(op=op, variant=variant):
                b = T.build(op, T.normalize_shape(op, shape), "fp32", torch.device("cpu"))
                out = b.fn()
                if op not in ("add", "mul", "div") or not shape.get("inplace"):
                    self.assertIsInstance(out, torch.Tensor)

    def test_outputs_match_hwcal_semantics(self):
        cpu = torch.device("cpu")
        b = T.build("concat", T.normalize_shape("concat", {"bytes": 4096}), "fp32", cpu)
        self.assertEqual(tuple(b.fn().shape), T.move_geometry(4096, 4))
        # many inputs, one large (reference::move_geometry's rows per input, as tests/unit/test_ops.cpp checks)
        self.assertEqual(T.concat_rows(512, 512, 1 << 20, 16, 1 << 19)[2], [256, 18] + [17] * 14)
        self.assertEqual(T.concat_rows(4, 4, 64, 32, 0)[:2], (32, 1))
        b = T.build("concat", T.normalize_shape("concat", {"bytes": 1 << 20, "inputs": 16, "largest": 1 << 19}),
                    "fp32", cpu)
        self.assertEqual(tuple(b.fn().shape), (512, 512))
        self.assertIn("16 blocks of 256..17", b.call)
        b = T.build("transpose", T.normalize_shape("transpose", {"bytes": 3000}), "fp32", cpu)
        self.assertEqual(tuple(b.fn().shape), tuple(reversed(T.move_geometry(3000, 4))))
        # a permute: [heads][blocks][run] -> [blocks][heads][run] (reference::move_geometry, test_ops.cpp)
        self.assertEqual(T.permute_geometry(4096, 4), (8, 2, 64))
        self.assertEqual(T.permute_geometry(256, 4), (2, 2, 16))
        self.assertEqual(T.permute_geometry(3000, 4), (15, 25, 2))
        self.assertEqual(T.permute_geometry(1 << 20, 2), (16, 512, 64))
        b = T.build("permute", T.normalize_shape("permute", {"bytes": 4096}), "fp32", cpu)
        x = b.fn()
        self.assertEqual(tuple(x.shape), (2, 8, 64))
        self.assertTrue(x.is_contiguous())
        b = T.build("clamp", T.normalize_shape("clamp", {"elements": 1000}), "fp32", cpu)
        y = b.fn()
        self.assertLessEqual(float(y.max()), T.CLAMP_HI)
        self.assertGreaterEqual(float(y.min()), T.CLAMP_LO)
        # channels_last: the input NHWC (as a permute leaves it), the weight as the module holds it
        shape = {"n": 2, "c": 8, "h": 8, "w": 8, "k": 8, "r": 3, "s": 3, "padding": 1, "groups": 8}
        nchw = T.build("conv2d", T.normalize_shape("conv2d", shape), "fp32", cpu)
        nhwc = T.build("conv2d", T.normalize_shape("conv2d", dict(shape, channels_last=True)), "fp32", cpu)
        self.assertIn("channels_last", nhwc.call)
        self.assertTrue(nhwc.fn().is_contiguous(memory_format=torch.channels_last))
        self.assertTrue(nchw.fn().is_contiguous())
        self.assertEqual(T.shape_label("conv2d", T.normalize_shape("conv2d", dict(shape, channels_last=True)))[-4:],
                         "nhwc")
        # bottom-right causal mask: the last query sees every key
        m = T.causal_mask_bottom_right(4, 12, cpu)
        self.assertTrue(bool(m[-1].all()))
        self.assertEqual(int(m[0].sum()), 9)
        # rotary: x * cos + rotate_half(x) * sin, with rotate_half as HF's
        x = torch.arange(4.0).reshape(1, 1, 4)
        self.assertEqual(T.rotate_half(x).tolist(), [[[-2.0, -3.0, 0.0, 1.0]]])

    def test_notes_say_where_torch_differs(self):
        cpu = torch.device("cpu")
        notes = lambda op, s: T.build(op, T.normalize_shape(op, s), "fp32", cpu).notes  # noqa: E731
        self.assertIn("two kernels", " ".join(notes("silu_mul", {"elements": 64})))
        self.assertIn("5 kernels", " ".join(notes("rotary", {"tokens": 2, "heads": 2, "head_dim": 8})))
        self.assertIn("bottom-right", " ".join(notes("attention", {"seq_q": 4, "seq_kv": 8, "head_dim": 8,
                                                                  "causal": True})))
        self.assertIn("no mask", " ".join(notes("attention", {"seq_q": 1, "seq_kv": 8, "head_dim": 8, "causal": True})))
        self.assertIn("no in-place gelu", " ".join(notes("gelu", {"elements": 8, "inplace": True})))
        if not hasattr(torch.nn.functional, "rms_norm"):
            self.assertIn("LLaMA decomposition", " ".join(notes("rmsnorm", {"rows": 2, "cols": 8})))
        gqa = notes("attention", {"heads": 4, "kv_heads": 2, "seq_q": 4, "head_dim": 8})
        if not T.sdpa_has_gqa():
            self.assertTrue(any("repeat_interleave" in n or "written out" in n for n in gqa), gqa)

    def test_unsupported_precisions_are_named(self):
        cpu = torch.device("cpu")
        with self.assertRaises(T.Unsupported):
            T.build("matmul", T.normalize_shape("matmul", {"batch": 2, "m": 32, "n": 32, "k": 32}), "int8", cpu)
        with self.assertRaises(T.Unsupported):
            T.build("frobnicate", {}, "fp32", cpu)
        with self.assertRaises(T.Unsupported):
            T.dtype_of("fp4")

    def test_graph_and_cold_timing_on_an_emulated_device(self):
        run = cpu_run()
        run.dev = GraphCpuDevice()
        run.rule = T.Rule(graph_s=1e-3, max_launches=8, replays=3, cold_pairs=3, max_cold_launches=4, eager_reps=2,
                          eager_samples=2, sample_cap_s=20.0)
        run.flush = T.Flush(torch.device("cpu"), 1 << 16)
        item = T.plan_items(synthetic_profile(("fp32",)), ops=["add"])[0][0]
        row = T.measure_item(run, item)
        self.assertNotIn("error", row, row)
        self.assertEqual(row["torch_timing"], "graph")
        self.assertTrue(1 <= row["reps"] <= 8)
        self.assertIn(row["reps"], run.dev.captures)
        self.assertGreaterEqual(row["torch_cold_s"], 0.0)
        self.assertTrue(1 <= row["cold_reps"] <= 4)
        self.assertAlmostEqual(row["ratio"], row["torch_s"] / 1e-6)
        self.assertIn(T.launches_for(1e-6, 100e-6, 256), (100, 101))  # ceil(100e-6 / 1e-6) in doubles, as hwcal
        self.assertEqual(T.launches_for(1e-3, 100e-6, 256), 1)
        self.assertEqual(T.launches_for(1e-9, 100e-6, 256), T.launches_for(1e-6, 100e-6, 256))  # >= 1 us, as hwcal

    def test_capture_failure_falls_back_to_eager(self):
        class Broken(gt.CpuDevice):
            def graph(self, fn, reps):
                raise RuntimeError("operation not permitted when stream is capturing")

        run = cpu_run()
        run.dev = Broken()
        row = T.measure_item(run, T.plan_items(synthetic_profile(("fp32",), cold=False), ops=["relu"])[0][0])
        self.assertEqual(row["torch_timing"], "eager")
        self.assertIn("not permitted", row["graph_error"])
        self.assertTrue(any("no CUDA graph" in n for n in row["notes"]))
        self.assertFalse(T.counted(row, "cuda"))
        self.assertTrue(T.counted(row, "cpu"))

    def test_pair_elapsed_with_cuda_events(self):
        clock = [0.0]

        class Ev:
            def __init__(self, enable_timing=False):
                self.t = None
                self.timing = enable_timing

            def record(self):
                if not self.timing:
                    log.append("spun")
                    return
                clock[0] += 1.0
                self.t = clock[0]
                log.append("event")

            def query(self):
                return False

            def synchronize(self):
                pass

            def elapsed_time(self, other):  # ms
                return (other.t - self.t) * 1e3

        log = []
        with mock.patch.object(torch.cuda, "Event", Ev), mock.patch.object(torch.cuda, "synchronize", lambda: None), \
                mock.patch.object(torch.cuda, "_sleep", lambda c: log.append("spin")), \
                mock.patch.object(torch.cuda, "Stream", lambda: mock.Mock()):
            dev = T.gt.CudaDevice()
            a, b = T.pair_elapsed(dev, lambda: None, lambda: None)
        self.assertEqual((a, b), (1.0, 1.0))
        # both replays queued behind a spin: the first one's host issue is not timed
        self.assertEqual(log, ["spin", "spun", "event", "event", "event"])


# --------------------------------------------------------------------------- the run


class Run(unittest.TestCase):
    def run_main(self, tmp, profile, *extra):
        p = write(os.path.join(tmp, "p.json"), profile)
        out, md = os.path.join(tmp, "f.json"), os.path.join(tmp, "f.md")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            rc = T.main(["fidelity", "--device", "cpu", "--dry-run", "--profile", p, "--out", out, "--md", md, *extra])
        text = ""
        if os.path.exists(md):
            with open(md) as f:
                text = f.read()
        return rc, T.load_json(out), text

    def test_dry_run_covers_every_op_and_records_failures(self):
        bad = [("conv2d", "dense", {"n": 1, "c": 4, "h": 4, "w": 4, "k": 4, "r": 9, "s": 9})]  # kernel > input
        with tempfile.TemporaryDirectory() as tmp:
            rc, doc, md = self.run_main(tmp, synthetic_profile(("fp32", "bf16", "fp16", "int8"), extra=bad))
            self.assertEqual(rc, 0)
            rows = doc["samples"]
            self.assertEqual(len(rows), doc["planned"])
            self.assertEqual(doc["not_started"], [])
            fp32 = [r for r in rows if r["precision"] == "fp32" and r["op"] != "conv2d" or
                    (r["precision"] == "fp32" and r["shape"].get("r") != 9)]
            for r in fp32:
                self.assertIn("torch_s", r, r)
                self.assertIsNotNone(r.get("ratio"), r)
                self.assertEqual(r["torch_timing"], "eager")
                self.assertIn("cold_error", r)  # no cold timings on a CPU
            self.assertEqual({r["op"] for r in fp32}, set(T.OPS))
            # failures are recorded per sample, never fatal
            self.assertTrue(any("error" in r for r in rows if r["shape"].get("r") == 9))
            self.assertTrue(any("unsupported" in r for r in rows if r["precision"] == "int8"))
            self.assertIn("by_kind", doc["summary"])
            self.assertEqual(doc["summary"]["by_kind"]["relu"]["compared"] >= 2, True)
            for needle in ("## Per op kind", "| silu_mul |", "PyTorch has no fused SiLU", "## Not compared",
                           "CPU dry run", "## Largest gaps"):
                self.assertIn(needle, md)
            # the kernel listing ran (CPU: aten ops, no kernels)
            self.assertTrue(any(r.get("aten_ops") for r in rows), "no aten ops listed")
            text = subprocess.run([sys.executable, os.path.join(HERE, "torch_ops.py"), "summary",
                                   os.path.join(tmp, "f.json")], capture_output=True, text=True, check=True).stdout
            self.assertIn("silu_mul", text)
            md2 = os.path.join(tmp, "again.md")
            self.assertEqual(T.main(["markdown", os.path.join(tmp, "f.json"), "--md", md2]), 0)
            with open(md2) as f:
                self.assertIn("## Per op kind and precision", f.read())

    def test_budget_zero_starts_nothing(self):
        with tempfile.TemporaryDirectory() as tmp:
            rc, doc, _ = self.run_main(tmp, synthetic_profile(("fp32",)), "--budget-s", "0", "--no-kernels")
            self.assertEqual(rc, 0)
            self.assertEqual(doc["samples"], [])
            self.assertEqual(len(doc["not_started"]), doc["planned"])
            self.assertIn("budget", doc["stopped"])

    def test_interrupt_keeps_what_was_measured(self):
        real = T.measure_item
        calls = []

        def flaky(run, item):
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return real(run, item)

        with tempfile.TemporaryDirectory() as tmp, mock.patch.object(T, "measure_item", flaky):
            rc, doc, md = self.run_main(tmp, synthetic_profile(("fp32",)), "--no-kernels")
            self.assertEqual(rc, 3)
            self.assertTrue(doc["interrupted"])
            self.assertEqual(len(doc["samples"]), 2)
            self.assertEqual(len(doc["not_started"]), doc["planned"] - 2)
            self.assertIn("INTERRUPTED", md)

    def test_committed_h200_profile_dry_run(self):
        profile = os.path.join(ROOT, "profiles", "gpu", "nvidia-h200-cuda.json")
        with tempfile.TemporaryDirectory() as tmp:
            out, md = os.path.join(tmp, "f.json"), os.path.join(tmp, "f.md")
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                rc = T.main(["fidelity", "--device", "cpu", "--dry-run", "--max-per-curve", "1", "--profile", profile,
                             "--out", out, "--md", md, "--no-kernels"])
            self.assertEqual(rc, 0)
            doc = T.load_json(out)
            self.assertGreater(len(doc["samples"]), 50)
            self.assertEqual(doc["profile"]["schema_version"], 2)
            with open(md) as f:
                self.assertIn("schema v2", f.read())


class Plan(unittest.TestCase):
    def test_spread_order(self):
        self.assertEqual(T.spread_order(0), [])
        self.assertEqual(T.spread_order(2), [0, 1])
        self.assertEqual(T.spread_order(5)[:3], [0, 4, 2])
        for n in range(1, 40):
            self.assertEqual(sorted(T.spread_order(n)), list(range(n)))

    def test_curves_round_robin_and_filters(self):
        prof = synthetic_profile(("fp32", "bf16"))
        items, filtered = T.plan_items(prof)
        self.assertEqual(filtered, 0)
        first = items[:len(prof["operations"])]
        self.assertEqual(len({(i["op"], i["precision"], i["variant"]) for i in first}), len(first))
        items, filtered = T.plan_items(prof, ops=["relu"], precisions=["bf16"])
        self.assertEqual({(i["op"], i["precision"]) for i in items}, {("relu", "bf16")})
        self.assertGreater(filtered, 0)
        big = {"operations": [{"op": "relu", "precision": "fp32", "variant": "unary", "samples": [
            {"shape": {"elements": n}, "flops": n, "bytes": 8 * n, "time": t(1e-6)} for n in (10**8, 10, 1000, 100)]}]}
        items, filtered = T.plan_items(big, max_per_curve=2, max_mb=100)
        self.assertEqual(sorted(i["shape"]["elements"] for i in items), [10, 100])
        self.assertEqual(filtered, 2)


class Summary(unittest.TestCase):
    def test_medians_and_shares(self):
        rows = [{"op": "add", "precision": "bf16", "ratio": r, "torch_timing": "graph", "label": str(r),
                 "kernels": 1} for r in (0.5, 0.96, 0.97, 1.2)]
        rows.append({"op": "add", "precision": "bf16", "ratio": 0.1, "torch_timing": "eager", "label": "eager"})
        rows.append({"op": "add", "precision": "fp32", "error": "RuntimeError: x"})
        rows.append({"op": "rotary", "precision": "bf16", "ratio": 0.9, "torch_timing": "graph", "label": "r",
                     "ratio_cold": 1.5})
        s = T.summarize(rows, "cuda")
        add = s["by_kind"]["add"]
        self.assertEqual((add["samples"], add["compared"], add["errors"], add["eager_fallbacks"]), (6, 4, 1, 1))
        self.assertAlmostEqual(add["median_ratio"], 0.965)
        self.assertAlmostEqual(add["share_at_threshold"], 0.5)
        self.assertEqual(add["worst"]["ratio"], 0.5)
        self.assertEqual(list(s["by_kind"]), ["add", "rotary"])  # hwcal's op order
        self.assertAlmostEqual(s["by_kind"]["rotary"]["median_ratio_cold"], 1.5)
        self.assertEqual(T.verdict("add", add), "BELOW: not explained yet")
        self.assertIn("rotate_half", T.verdict("rotary", s["by_kind"]["rotary"]))
        self.assertEqual(T.verdict("add", {"median_ratio": 0.97}), "ok")
        self.assertEqual(s["by_kind_precision"]["add/bf16"]["compared"], 4)
        self.assertEqual(T.summarize(rows, "cpu")["by_kind"]["add"]["compared"], 5)


class TruthParts(unittest.TestCase):
    def test_two_balanced_parts(self):
        import models_gpu

        plan = [c for c, _ in models_gpu.plan()]
        parts = truth_parts.split(2)
        self.assertEqual(sorted(parts[0] + parts[1]), sorted(plan))
        self.assertFalse(set(parts[0]) & set(parts[1]))
        self.assertLessEqual(abs(len(parts[0]) - len(parts[1])), 1)
        for part in parts:
            self.assertEqual(part, [c for c in plan if c in set(part)])  # measuring order kept
            cfg = [models_gpu.parse_config(c) for c in part]
            for model, spec in models_gpu.MODELS.items():
                for b in spec.batches:  # every model and batch: one of fp32/bf16, one of tf32/fp16
                    precs = {p for m, bb, p in cfg if m == model and bb == b}
                    self.assertEqual(len(precs & {"fp32", "bf16"}), 1, (model, b))
                    self.assertEqual(len(precs & {"tf32", "fp16"}), 1, (model, b))
            tiers = dict(models_gpu.plan())
            self.assertTrue(any(tiers[c] == 0 for c in part))
            for p in models_gpu.PRECISIONS:
                n = sum(1 for _, _, pp in cfg if pp == p)
                self.assertGreaterEqual(n, len(plan) // 4 // 2 - 1)

    def test_merge_two_parts(self):
        import measure_gpu
        import report_gpu

        with tempfile.TemporaryDirectory() as tmp:
            measured, tars = [], []
            for i, cfg in enumerate(("mlp_b1_fp32", "mlp_deep_b1_bf16"), 1):
                out = os.path.join(tmp, f"gpu_measured_part{i}.json")
                wdir = os.path.join(tmp, f"workloads_part{i}")
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    measure_gpu.main(["--device", "cpu", "--dry-run", "--small", "--out", out, "--workloads-dir", wdir,
                                      "--configs", cfg])
                subprocess.run(["tar", "-C", tmp, "-czf", wdir + ".tar.gz", os.path.basename(wdir)], check=True)
                measured.append(out)
                tars.append(wdir + ".tar.gz")
            subprocess.run(["gzip", measured[1]], check=True)
            measured[1] += ".gz"
            dest = os.path.join(tmp, "merged")
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(truth_parts.main(["merge", "--out", dest, *measured, "--workloads", *tars]), 0)
            doc = report_gpu.load_json(os.path.join(dest, "gpu_measured.json"))
            self.assertEqual(sorted(doc["configs"]), ["mlp_b1_fp32", "mlp_deep_b1_bf16"])
            self.assertEqual(doc["plan"], ["mlp_b1_fp32", "mlp_deep_b1_bf16"])
            self.assertEqual(len(doc["parts"]), 2)
            self.assertEqual(sorted(os.listdir(os.path.join(dest, "workloads"))),
                             ["mlp_b1_fp32.json", "mlp_deep_b1_bf16.json"])
            with self.assertRaises(ValueError):
                truth_parts.merge([measured[0], measured[0]], [], os.path.join(tmp, "dup"))

    def test_cli(self):
        out = subprocess.run([sys.executable, os.path.join(HERE, "truth_parts.py"), "2"], capture_output=True,
                             text=True, check=True).stdout.split()
        self.assertEqual(out, truth_parts.split(2)[1])
        bad = subprocess.run([sys.executable, os.path.join(HERE, "truth_parts.py"), "3"], capture_output=True)
        self.assertNotEqual(bad.returncode, 0)


class MergeOps(unittest.TestCase):
    def test_replaces_the_curves_of_a_partial_calibration(self):
        src = os.path.join(HERE, "..", "..", "tests", "data", "profile_gpu_small.json")
        full = json.load(open(src))
        part = json.loads(json.dumps(full))
        part["operations"] = [dict(o, note="re-measured") for o in part["operations"][:1]]
        part["created_utc"] = "later"
        with tempfile.TemporaryDirectory() as tmp:
            fp, pp, out = (os.path.join(tmp, n) for n in ("full.json", "part.json", "merged.json"))
            json.dump(full, open(fp, "w"))
            json.dump(part, open(pp, "w"))
            r = subprocess.run([sys.executable, os.path.join(HERE, "merge_ops.py"), fp, pp, "-o", out],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            merged = json.load(open(out))
            self.assertEqual(len(merged["operations"]), len(full["operations"]))
            self.assertEqual(merged["operations"][0]["note"], "re-measured")
            self.assertEqual(merged["operations"][1:], full["operations"][1:])
            self.assertIn("1 replaced, 0 added", merged["warnings"][-1])
            self.assertIn("later", merged["warnings"][-1])
            part["device"] = dict(part["device"], name="another GPU")
            json.dump(part, open(pp, "w"))
            r = subprocess.run([sys.executable, os.path.join(HERE, "merge_ops.py"), fp, pp, "-o", out + "2"],
                               capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("not merged", r.stderr)
            self.assertFalse(os.path.exists(out + "2"))


if __name__ == "__main__":
    unittest.main(verbosity=1)
