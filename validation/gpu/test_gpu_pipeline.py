#!/usr/bin/env python3
"""Tests of the GPU validation pipeline that run on a CPU (torch 1.13 or 2.x):
the tracer's mappings (python/hwcal/trace.py), the kernel attribution of the
in-context profile, the timing logic (graphs emulated, and CudaDevice against a
stand-in torch.cuda), measure_gpu.py end to end in dry-run mode, and
report_gpu.py's arithmetic against a fake `hwcal` (and the real one when built).

  /usr/bin/python3 validation/gpu/test_gpu_pipeline.py
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import subprocess
import sys
import tempfile
import unittest
from collections import namedtuple
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HWCAL_CLI = os.environ.get("HWCAL_CLI") or os.path.join(ROOT, "build", "tools", "hwcal", "hwcal")
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, HERE)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import gpu_profile  # noqa: E402
import graph_nodes  # noqa: E402
import gpu_timing as gt  # noqa: E402
from jsonfile import load_json  # noqa: E402
import measure_gpu  # noqa: E402
import models_gpu  # noqa: E402
import remap_leaves  # noqa: E402
import report_gpu  # noqa: E402
import torch_profile  # noqa: E402
from hwcal import trace as T  # noqa: E402


# --------------------------------------------------------------------------- functions the tracer keeps whole


def scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, enable_gqa=False):
    """Stands in for F.scaled_dot_product_attention (missing in torch 1.13): the
    tracer maps it by name, on the real tensors."""
    rep = q.shape[-3] // k.shape[-3]
    k, v = k.repeat_interleave(rep, dim=-3), v.repeat_interleave(rep, dim=-3)
    return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v


def apply_rotary_emb(q, k):
    return q * 2.0, k * 2.0


torch.fx.wrap("scaled_dot_product_attention")
torch.fx.wrap("apply_rotary_emb")


def load(path):
    with open(path) as f:
        return json.load(f)


def ops(doc):
    return [sg["op"] for sg in doc["subgraphs"]]


def by_name(doc):
    return {sg["name"]: sg for sg in doc["subgraphs"]}


class MyRMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


class SiluAndMul(nn.Module):
    def forward(self, x):
        a, b = x.chunk(2, dim=-1)
        return F.silu(a) * b


class SwiGLU(nn.Module):
    """Holds its linears: an MLP, traced through (not a silu_mul leaf)."""

    def __init__(self, d):
        super().__init__()
        self.w1, self.w3 = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x):
        return F.silu(self.w1(x)) * self.w3(x)


class RopeTables(nn.Module):
    """HF-style rotary module that returns cos/sin tables, not rotated inputs."""

    def forward(self, x):
        return x.cos(), x.sin()


# --------------------------------------------------------------------------- tracer


class Tracer(unittest.TestCase):
    def test_clamps_are_their_own_ops(self):
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.r6, self.ht = nn.ReLU6(), nn.Hardtanh(-2.0, 2.0)

            def forward(self, x):
                y = F.hardtanh(F.relu6(self.ht(self.r6(x))))
                y = torch.clamp(y, 0.0, 1.0) + torch.clip(y, max=0.5)
                return y.clamp_(min=0.1).mul_(2.0)

        doc = T.trace_model(M().eval(), torch.randn(2, 8))
        self.assertEqual(ops(doc), ["relu6", "hardtanh", "relu6", "hardtanh", "clamp", "clamp", "add", "clamp", "mul"])
        self.assertEqual([sg.get("inplace", False) for sg in doc["subgraphs"][-3:]], [False, True, True])
        self.assertEqual({sg["elements"] for sg in doc["subgraphs"]}, {16})
        self.assertEqual(doc["unmapped"], [])

    def test_in_place_nodes_time_out_of_place(self):
        # a CUDA graph repeats a call on one input: an in-place node runs its out-of-place form there (the same
        # result, the input left alone); one with no such form runs in place on a clone
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.act = nn.SiLU(inplace=True)

            def forward(self, x, y):
                a = self.act(x * 1.0)
                b = F.relu(a, inplace=True)
                b += y
                return b.sigmoid_()

        x, y = torch.randn(4, 8), torch.randn(4, 8)
        gm, cap, out = T.capture(M().eval(), (x, y))
        expected = {"act": True, "relu": True, "sigmoid_": True}
        if any(n.op == "call_function" and n.target.__name__ == "iadd" for n in gm.graph.nodes):
            expected["iadd"] = True  # FX records `+=` as operator.iadd in newer torch, as add in older
        seen = {}
        for node, u in cap.units:
            if not u.get("inplace"):
                continue
            call, make_args, oop = T.make_call(node, gm, cap.values, out_of_place=True)
            a = make_args()
            before = a[0].clone()
            r = call(a)
            self.assertTrue(oop, node.name)
            self.assertTrue(torch.equal(a[0], before), node.name)  # the input left alone
            self.assertTrue(torch.allclose(r, cap.values[node]), node.name)  # what the forward computed
            seen[str(node.target) if node.op != "call_function" else node.target.__name__] = oop
            # by default (the CPU harness re-clones per call): in place, on a clone
            call, make_args, oop = T.make_call(node, gm, cap.values)
            self.assertFalse(oop)
            a = make_args()
            self.assertIsNot(a[0], before)
        self.assertEqual(seen, expected)
        self.assertTrue(torch.allclose(out, torch.sigmoid(F.relu(F.silu(x)) + y)))

    def test_rmsnorm_leaf_is_the_chain_it_runs(self):
        doc = T.trace_model(nn.Sequential(MyRMSNorm(16)).eval(), torch.randn(2, 3, 16))
        self.assertEqual(doc["subgraphs"], [  # weight * x * rsqrt(mean(x^2) + eps), in Python's order
            {"name": "_0.0", "op": "mul", "elements": 96, "inputs": 2, "broadcast": 16},
            {"name": "_0.1", "op": "square", "elements": 96, "inputs": 1},
            {"name": "_0.2", "op": "reduce_mean", "rows": 6, "cols": 16},
            {"name": "_0.3", "op": "add", "elements": 6, "inputs": 2, "broadcast": 1},
            {"name": "_0.4", "op": "rsqrt", "elements": 6, "inputs": 1},
            {"name": "_0.5", "op": "mul", "elements": 96, "inputs": 2, "broadcast": 6}])
        self.assertEqual(doc["unmapped"], [])

    def test_llama_rmsnorm_in_half_precision_computes_in_fp32(self):
        doc = T.trace_model(nn.Sequential(models_gpu.LlamaRMSNorm(16)).to(torch.bfloat16).eval(),
                            torch.randn(6, 16, dtype=torch.bfloat16))
        self.assertEqual(doc["precision"], "bf16")
        self.assertEqual([(sg["op"], sg.get("precision")) for sg in doc["subgraphs"]],
                         [("copy", "fp32"), ("square", "fp32"), ("reduce_mean", "fp32"), ("add", "fp32"),
                          ("rsqrt", "fp32"), ("mul", "fp32"), ("copy", None), ("mul", None)])
        self.assertEqual(doc["subgraphs"][0]["bytes"], 6 * 16 * 4)

    def test_rmsnorm_leaf_with_an_unmapped_kernel_is_the_fused_op(self):
        class FusedRMSNorm(nn.Module):  # stands in for a framework's kernel: an op with no kind
            def forward(self, x):
                return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)

        doc = T.trace_model(nn.Sequential(FusedRMSNorm()).eval(), torch.randn(2, 3, 16))
        self.assertEqual(doc["subgraphs"], [{"name": "_0", "op": "rmsnorm", "rows": 6, "cols": 16}])

    def test_rotary_leaf_module_is_the_chain_it_runs(self):
        rope = models_gpu.RotaryEmbedding(8, 16)
        doc = T.trace_model(nn.Sequential(rope).eval(), torch.randn(2, 4, 5, 8))
        # (rotate_half's cat reads a slice of x: a permuted copy)
        self.assertEqual(ops(doc), ["mul", "neg", "permute", "mul", "add"])
        self.assertEqual(doc["subgraphs"][0], {"name": "_0.2", "op": "mul", "elements": 320, "inputs": 2,
                                               "broadcast": 40})
        self.assertEqual(doc["subgraphs"][1]["elements"], 160)  # -x2: half of the head dimension
        self.assertEqual(doc["unmapped"], [])

    def test_math_functions_have_op_kinds(self):
        class M(nn.Module):
            def forward(self, x):
                y = torch.exp(-x) + torch.sqrt(x) + torch.rsqrt(x)
                return y + x.pow(2) + x ** 0.5 + torch.square(x) + x.pow(3)

        x = torch.rand(4, 8) + 0.5
        doc = T.trace_model(M().eval(), x)
        self.assertEqual([op for op in ops(doc) if op != "add"],
                         ["neg", "exp", "sqrt", "rsqrt", "square", "sqrt", "square", "square"])
        self.assertEqual(doc["unmapped"], [])
        _, cap, _ = T.capture(M().eval(), (x,))
        self.assertEqual([u.get("note") for _, u in cap.units if u["kind"] == "square"],
                         [None, None, "pow(x, 3) predicted as square"])

    def test_sdpa_with_grouped_kv_heads_and_mask(self):
        class M(nn.Module):
            def forward(self, q, k, v, m):
                return scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=True, enable_gqa=True)

        q, k = torch.randn(2, 8, 5, 16), torch.randn(2, 2, 7, 16)
        gm = T.trace(M())
        cap = T.Capture(gm)
        cap.run(q, k, k.clone(), torch.zeros(5, 7))
        (_, unit), = [(n, u) for n, u in cap.units if u["kind"] == "attention"]
        self.assertEqual(unit["subgraphs"], [{"name": "scaled_dot_product_attention", "op": "attention", "batch": 2,
                                              "heads": 8, "kv_heads": 2, "seq_q": 5, "seq_kv": 7, "head_dim": 16,
                                              "causal": True}])
        self.assertIn("mask predicted as unmasked", unit["note"])

    def test_embedding_module_and_function(self):
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(100, 12)

            def forward(self, ids):
                return self.emb(ids) + F.embedding(ids, self.emb.weight)

        doc = T.trace_model(M().eval(), torch.randint(0, 100, (2, 5)))
        self.assertEqual([sg for sg in doc["subgraphs"] if sg["op"] == "embedding"],
                         [{"name": "emb", "op": "embedding", "tokens": 10, "vocab": 100, "dim": 12},
                          {"name": "embedding", "op": "embedding", "tokens": 10, "vocab": 100, "dim": 12}])
        self.assertEqual(doc["precision"], "fp32")

    def test_silu_mul_leaf_and_eager_swiglu(self):
        # written in torch ops, the leaf runs two kernels: silu on a view, mul
        doc = T.trace_model(nn.Sequential(SiluAndMul()).eval(), torch.randn(3, 8))
        self.assertEqual(doc["subgraphs"], [{"name": "_0.1", "op": "silu", "elements": 12, "inputs": 1},
                                            {"name": "_0.2", "op": "mul", "elements": 12, "inputs": 2}])
        doc = T.trace_model(SwiGLU(8).eval(), torch.randn(3, 8))
        self.assertEqual(ops(doc), ["linear", "silu", "linear", "mul"])

    def test_notes_and_unmapped(self):
        class M(nn.Module):
            def forward(self, x):
                y = F.gelu(x, approximate="tanh")
                return torch.reciprocal(y).repeat_interleave(2, dim=0)

        gm = T.trace(M())
        cap = T.Capture(gm)
        cap.run(torch.randn(2, 4))
        units = {u["name"]: u for _, u in cap.units}
        self.assertIn("tanh", units["gelu"]["note"])
        self.assertEqual(units["reciprocal"]["category"], "unmapped")
        self.assertIn("no op kind", units["reciprocal"]["note"])
        self.assertEqual(units["repeat_interleave"]["subgraphs"][0], {"name": "repeat_interleave", "op": "copy",
                                                                      "bytes": 64})
        doc = T.workload_doc("m", "fp32", cap.units)
        self.assertEqual(doc["unmapped"], [{"name": "reciprocal", "target": "torch.reciprocal",
                                            "note": "reciprocal: no op kind in the workload format"}])
        parsed = json.loads(T.workload_text(doc))
        self.assertEqual(parsed, doc)

    def test_fuse(self):
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv, self.bn, self.relu = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(inplace=True)
                self.conv2 = nn.Conv2d(4, 4, 1)
                self.fc, self.act = nn.Linear(4, 4), nn.GELU()

            def forward(self, x):
                y = self.conv2(self.relu(self.bn(self.conv(x))))
                y = torch.relu(y)
                return self.act(self.fc(y.mean((2, 3))))

        x = torch.randn(1, 3, 8, 8)
        eager = T.trace_model(M().eval(), x)
        fused = T.trace_model(M().eval(), x, fuse=True)
        self.assertEqual(ops(eager), ["conv2d", "batchnorm", "relu", "conv2d", "relu", "reduce_mean", "linear", "gelu"])
        self.assertEqual([(sg["op"], sg.get("fused")) for sg in fused["subgraphs"]],
                         [("conv2d", ["batchnorm", "relu"]), ("conv2d", ["relu"]), ("reduce_mean", None),
                          ("linear", ["gelu"])])

    def test_precision_and_empty_unmapped_not_written(self):
        m = nn.Sequential(nn.Linear(4, 4)).to(torch.bfloat16).eval()
        doc = T.trace_model(m, torch.randn(2, 4, dtype=torch.bfloat16))
        self.assertEqual(doc["precision"], "bf16")
        self.assertNotIn("unmapped", T.workload_text(doc))

    def test_every_gpu_model_traces_small(self):
        for name in models_gpu.MODELS:
            if name in ("resnet50", "resnext50_32x4d", "vit_b_16", "efficientnet_b0"):
                continue  # slow on a CPU; measure_gpu's dry run covers them
            model, inputs, _ = models_gpu.build(name, 2, "fp32", "cpu", small=True)
            doc = T.trace_model(model, inputs, name=name)
            self.assertEqual(doc["unmapped"], [], name)
            self.assertGreater(len(doc["subgraphs"]), 0, name)


# --------------------------------------------------------------------------- profile attribution

Kernel = namedtuple("Kernel", "name device duration")


class Evt:
    def __init__(self, name, children=(), kernels=(), device_type=None):
        self.name, self.cpu_children, self.kernels = name, list(children), list(kernels)
        self.device_type = device_type or gpu_profile.DeviceType.CPU


class Profile(unittest.TestCase):
    def test_attribute(self):
        mm = Evt("aten::mm", kernels=[Kernel("void cutlass_gemm<float>(Params)", 0, 10.0)])
        add = Evt("aten::add", kernels=[Kernel("void at::native::(anonymous namespace)::add_kernel", 0, 2.0),
                                        Kernel("hwcal::lin", 0, 50.0)])  # a GPU-side copy of our range
        lin = Evt("hwcal::lin", children=[mm, add])
        gpu_copy = Evt("hwcal::lin", device_type=gpu_profile.DeviceType.CUDA)
        stray = Evt("aten::copy_", kernels=[Kernel("copy", 0, 1.0)])
        per_node, totals = gpu_profile.attribute([gpu_copy, lin, mm, add, stray])
        self.assertEqual(per_node["lin"]["kernels"], 2)
        self.assertAlmostEqual(per_node["lin"]["kernel_s"], 12e-6)
        self.assertEqual(per_node["lin"]["kernel_names"], [["cutlass_gemm<float>(Params)", 1], ["at::native::add_kernel", 1]])
        self.assertEqual(per_node["lin"]["ops"], ["aten::mm", "aten::add"])
        self.assertEqual(totals["forward_kernels"], 3)
        self.assertEqual(totals["kernels_outside_nodes"], 1)
        self.assertAlmostEqual(totals["kernel_s_outside_nodes"], 1e-6)

    def test_profile_forward_on_cpu(self):
        model, inputs, _ = models_gpu.build("llama_decode_kv1k", 1, "fp32", "cpu", small=True)
        gm = T.trace(model)
        per_node, totals = gpu_profile.profile_forward(gm, inputs, cuda=False)
        self.assertIn("in_norm", per_node)
        self.assertIn("aten::linear", per_node["q_proj"]["ops"])
        self.assertEqual(totals["forward_kernels"], 0)


# --------------------------------------------------------------------------- timing


class GraphCpuDevice(gt.CpuDevice):
    """CPU device with emulated graphs (a replay calls fn reps times)."""

    def __init__(self):
        self.captures = []

    def graph(self, fn, reps):
        self.captures.append(reps)
        return lambda: [fn() for _ in range(reps)]


class FakeEvent:
    clock = [0.0]
    log = []  # what reached the stream, in order: "spin", "spun" (the spin's end) and "event" (timing)
    done = []  # what query() answers, one per call (then False): True = the spin ended before the host issued

    def __init__(self, enable_timing=False):
        self.t = None
        self.timing = enable_timing

    def record(self):
        if not self.timing:
            FakeEvent.log.append("spun")
            return
        FakeEvent.clock[0] += 1e-3  # each timing event 1 ms after the previous one
        self.t = FakeEvent.clock[0]
        FakeEvent.log.append("event")

    def query(self):
        return FakeEvent.done.pop(0) if FakeEvent.done else False

    def synchronize(self):
        pass

    def elapsed_time(self, other):
        return (other.t - self.t) * 1e3


class FakeGraph:
    def __init__(self):
        self.calls = 0

    def capture_begin(self):
        pass

    def capture_end(self):
        pass

    def replay(self):
        self.calls += 1


@contextlib.contextmanager
def fake_cuda():
    """torch.cuda patched with stand-ins while open, to run CudaDevice's code on a CPU."""
    with contextlib.ExitStack() as stack:
        for p in (mock.patch.object(torch.cuda, "Stream", lambda: mock.Mock()),
                  mock.patch.object(torch.cuda, "Event", FakeEvent),
                  mock.patch.object(torch.cuda, "CUDAGraph", FakeGraph),
                  mock.patch.object(torch.cuda, "synchronize", lambda: None),
                  mock.patch.object(torch.cuda, "_sleep", lambda c: FakeEvent.log.append("spin")),
                  mock.patch.object(torch.cuda, "stream", lambda s: contextlib.nullcontext())):
            stack.enter_context(p)
        yield


class Timing(unittest.TestCase):
    def test_reps(self):
        r = gt.FULL
        self.assertEqual(gt.reps_for(1e-6, r, 50), 50)
        self.assertEqual(gt.reps_for(10e-6, r, 50), 20)
        self.assertEqual(gt.reps_for(1e-3, r, 50), 1)
        self.assertEqual(gt.whole_reps(1e-3, r), 100 if r.whole_max_reps >= 100 else r.whole_max_reps)
        self.assertEqual(gt.whole_reps(1.0, r), r.whole_min_reps)

    def test_time_unit_with_graphs(self):
        dev = GraphCpuDevice()
        x = torch.randn(64, 64)
        t = gt.time_unit(dev, lambda: x @ x, gt.FULL)
        self.assertEqual(set(t), {"eager_s", "eager_reps", "graph1_s", "graph1_reps", "graph_reps", "graph_s",
                                  "graph_idle_s"})
        self.assertEqual(len(t["graph_s"]), 1)
        self.assertTrue(1 <= t["graph_reps"] <= gt.FULL.max_graph_reps)
        self.assertEqual(dev.captures, [1, t["graph_reps"]])

    def test_time_unit_records_capture_failure(self):
        t = gt.time_unit(gt.CpuDevice(), lambda: None, gt.DRY)
        self.assertIn("GraphUnavailable", t["graph_error"])
        self.assertNotIn("graph_s", t)

    def test_cuda_device_code_with_stand_ins(self):
        with fake_cuda():
            dev = gt.CudaDevice()
            calls = []
            t = gt.time_unit(dev, lambda: calls.append(1), gt.FULL)
            # every timed region lasts 1 ms of fake event time
            self.assertAlmostEqual(t["eager_s"], 1e-3 / t["eager_reps"])
            self.assertAlmostEqual(t["graph_s"][0], 1e-3 / t["graph_reps"])
            self.assertAlmostEqual(t["graph_idle_s"], 1e-3 / t["graph_reps"])
            g, idle, n = gt.time_whole_graph(dev, lambda: calls.append(1), gt.FULL)
            self.assertAlmostEqual(g, 1e-3)
            self.assertAlmostEqual(idle, 1e-3)
            self.assertEqual(n, gt.whole_reps(1e-3, gt.FULL))

    def test_queued_regions_start_behind_a_spin(self):
        """A queued region's start event follows a spin kernel (so the host's
        issue of the replay is not timed); an idle one's does not."""
        with fake_cuda():
            dev = gt.CudaDevice()
            FakeEvent.log.clear()
            dev.elapsed(lambda: None, 1, queued=True)
            self.assertEqual(FakeEvent.log, ["spin", "spun", "event", "event"])
            FakeEvent.log.clear()
            dev.elapsed(lambda: None, 1)
            self.assertEqual(FakeEvent.log, ["event", "event"])
            FakeEvent.log.clear()
            idle = {}
            gt.time_graph(dev, lambda: None, 3, gt.FULL, idle=idle)
            # the replays queued, then one from an idle GPU
            self.assertEqual(FakeEvent.log, ["spin", "spun", "event", "event"] * gt.FULL.graph_replays + ["event"] * 2)
            self.assertIn("graph_idle_s", idle)

    def test_a_spin_that_ends_before_the_host_has_issued_is_doubled(self):
        """When the spin's end has passed by the time the host recorded the
        end event, the GPU may have waited on the host inside the timed region:
        timed again with twice the spin, which the device keeps."""
        with fake_cuda():
            dev = gt.CudaDevice()
            FakeEvent.log.clear()
            FakeEvent.done[:] = [True, True]
            dev.elapsed(lambda: None, 1, queued=True)
            self.assertEqual(FakeEvent.log, ["spin", "spun", "event", "event"] * 3)
            self.assertEqual((dev.spin_cycles, dev.late_spins), (4 * gt.SPIN_CYCLES, 2))
            self.assertEqual(gt.spin_info(dev)["spin_cycles_end"], 4 * gt.SPIN_CYCLES)
            FakeEvent.done[:] = [True] * 40  # never in time: stops at the cap, counted
            dev.elapsed(lambda: None, 1, queued=True)
            self.assertEqual(dev.spin_cycles, gt.MAX_SPIN_CYCLES)
            self.assertEqual(gt.spin_info(dev)["late_at_cap"], 1)
            FakeEvent.done.clear()


class ChainCost(unittest.TestCase):
    def test_cpu_smoke_run_writes_every_chain(self):
        import chain_cost

        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
            out = os.path.join(tmp, "c.json")
            self.assertEqual(chain_cost.main(["--cpu-smoke", "--json", out]), 0)
            with open(out) as f:
                doc = json.load(f)
        # 2 dtypes x (2 deep stacks x 2 batches, same/mixed elementwise, 2 CNN batches)
        self.assertEqual(len(doc["rows"]), 2 * (4 + 2 + 2))
        for r in doc["rows"]:
            self.assertEqual(len(r["alone_s"]), r["ops"])
            self.assertGreater(r["chain_s"], 0)
            self.assertAlmostEqual(r["sum_alone_s"], sum(r["alone_s"]))
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
            out = os.path.join(tmp, "c.json")
            self.assertEqual(chain_cost.main(["--cpu-smoke", "--only-deep", "--json", out]), 0)
            with open(out) as f:
                self.assertEqual([r["chain"].split()[0] for r in json.load(f)["rows"]], ["deep"] * 8)


# --------------------------------------------------------------------------- measure_gpu


def run_args(tmp, **kw):
    args = measure_gpu.parse_args(["--device", "cpu", "--dry-run", "--small", "--out", os.path.join(tmp, "m.json")])
    args.workloads_dir = os.path.join(tmp, "workloads")
    for k, v in kw.items():
        setattr(args, k, v)
    return args


class Measure(unittest.TestCase):
    def test_config_with_two_passes(self):
        with tempfile.TemporaryDirectory() as tmp:
            run = measure_gpu.Run(run_args(tmp))
            run.dev = GraphCpuDevice()
            rec = measure_gpu.measure_config(run, "llama_decode_kv1k_b1_fp32", 0)
            self.assertNotIn("error", rec)
            self.assertEqual(len(rec["model_graph_s"]), 2)
            scored = [u for u in rec["units"] if u["category"] == "scored"]
            self.assertEqual(len(scored), 23)
            self.assertTrue(all(len(u["graph_s"]) == 2 for u in scored))
            self.assertEqual(rec["excluded"]["view"]["kernels"], 0)
            with open(os.path.join(tmp, "workloads", rec["workload"])) as f:
                wl = json.load(f)
            self.assertEqual([sg["name"] for sg in wl["subgraphs"]], [s for u in scored for s in u["subgraphs"]])
            rec1 = measure_gpu.measure_config(run, "mlp_b1_bf16", 2)
            self.assertEqual(len(rec1["model_graph_s"]), 1)

    def test_error_and_budget(self):
        with tempfile.TemporaryDirectory() as tmp:
            run = measure_gpu.Run(run_args(tmp))
            with mock.patch.object(models_gpu, "build", side_effect=RuntimeError("boom\nmore")):
                rec = measure_gpu.measure_config(run, "mlp_b1_fp32", 0)
            self.assertEqual(rec["error"], "RuntimeError: boom")
            args = run_args(tmp, budget_s=0.0, plan=models_gpu.plan(["mlp"]))
            doc = measure_gpu.run_all(args)
            self.assertEqual(doc["not_started"], [c for c, _ in args.plan])
            self.assertEqual(load(args.out)["configs"], {})

    def test_main_dry_run(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "m.json")
            rc = measure_gpu.main(["--device", "cpu", "--dry-run", "--small", "--out", out, "--configs",
                                   "mlp_b1_fp32", "bert_base_b1_bf16"])
            self.assertEqual(rc, 0)
            doc = load(out)
            self.assertEqual(doc["done"], ["mlp_b1_fp32", "bert_base_b1_bf16"])
            self.assertEqual(sorted(os.listdir(os.path.join(tmp, "workloads"))),
                             ["bert_base_b1_bf16.json", "mlp_b1_fp32.json"])
            self.assertEqual(doc["configs"]["bert_base_b1_bf16"]["tier"], 0)
            # retrace.py writes the same workloads again, timing nothing
            import retrace

            again = os.path.join(tmp, "again")
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(retrace.main(["--measured", out, "--device", "cpu", "--small", "--out-dir", again]), 0)
            for name in ("bert_base_b1_bf16.json", "mlp_b1_fp32.json"):
                self.assertEqual(load(os.path.join(again, name)), load(os.path.join(tmp, "workloads", name)))
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                self.assertEqual(retrace.main(["--configs", "no_such_model_b1_fp32", "--device", "cpu", "--out-dir",
                                               again]), 1)

    def test_plan_order(self):
        plan = models_gpu.plan()
        names = [c for c, _ in plan]
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(names[:4], ["resnet18_b1_fp32", "resnet18_b1_bf16", "resnet50_b1_fp32", "resnet50_b1_bf16"])
        tiers = [t for _, t in plan]
        self.assertEqual(tiers, sorted(tiers))
        first_tf32 = names.index("resnet18_b1_tf32")
        self.assertTrue(all(c.endswith(("fp32", "bf16")) for c in names[:first_tf32]))
        self.assertEqual(models_gpu.parse_config("vit_b_16_b32_fp16"), ("vit_b_16", 32, "fp16"))

    def test_holdout_is_apart(self):
        # the held-out models are never in the development plan, and have a plan of their own
        self.assertFalse(set(models_gpu.HOLDOUT) & set(models_gpu.MODELS))
        dev = {c for c, _ in models_gpu.plan()}
        held = [c for c, _ in models_gpu.plan(list(models_gpu.HOLDOUT))]
        self.assertTrue(held)
        self.assertFalse(dev & set(held))
        self.assertEqual(models_gpu.parse_config("densenet121_b16_bf16"), ("densenet121", 16, "bf16"))
        import truth_parts
        with contextlib.redirect_stdout(io.StringIO()) as out:
            self.assertEqual(truth_parts.main(["--holdout"]), 0)
        self.assertEqual(out.getvalue().split(), held)

    def test_blind_is_apart(self):
        # the blind set shares no model with the development or held-out sets, and has a plan of its own
        self.assertFalse(set(models_gpu.BLIND) & (set(models_gpu.MODELS) | set(models_gpu.HOLDOUT)))
        blind = [c for c, _ in models_gpu.plan(list(models_gpu.BLIND))]
        self.assertTrue(blind)
        self.assertEqual(models_gpu.parse_config("qwen05_decode_kv1k_b16_fp16"), ("qwen05_decode_kv1k", 16, "fp16"))
        import truth_parts
        with contextlib.redirect_stdout(io.StringIO()) as out:
            self.assertEqual(truth_parts.main(["--blind"]), 0)
        self.assertEqual(out.getvalue().split(), blind)


# --------------------------------------------------------------------------- report_gpu

FAKE_HWCAL = r'''#!/usr/bin/env python3
import json, sys
a = sys.argv[1:]
wl = json.load(open(a[a.index("--workload") + 1]))
if any(sg["op"] == "rmsnorm" for sg in wl["subgraphs"]):
    print("hwcal: error: unknown op 'rmsnorm'", file=sys.stderr)
    sys.exit(2)
lat = 1e-5 if "roofline" in a else 2e-5
sgs = [{"name": sg["name"], "latency_s": lat, "in_sequence_s": lat, "bound": "memory", "warnings": []}
       for sg in wl["subgraphs"]]
print(json.dumps({"total_s": lat * len(sgs), "subgraphs": sgs}))
'''


def measured_doc():
    """Two configs: one scored (2 units of one subgraph each, the second measured
    twice), one whose workload the fake hwcal rejects, one failed."""
    units = [{"name": "fc1", "target": "Linear", "category": "scored", "kind": "linear", "subgraphs": ["fc1"],
              "graph_s": [1e-5], "eager_s": 2e-5, "kernels": 1, "kernel_names": [["gemm", 1]]},
             {"name": "act", "target": "ReLU", "category": "scored", "kind": "relu", "subgraphs": ["act"],
              "graph_s": [4e-5, 3e-5], "eager_s": 1e-5, "kernels": 1},
             {"name": "odd", "target": "torch.neg", "category": "unmapped", "kind": None, "subgraphs": [],
              "graph_s": [1e-6], "eager_s": 5e-6, "note": "neg: no op kind"}]
    cfg = {"model": "mlp", "batch": 1, "precision": "fp32", "workload": "a.json", "units": units,
           "model_graph_s": [5e-5, 4e-5], "model_eager_s": 8e-5, "forward_kernels": 3, "forward_kernel_s": 4e-5}
    rejected = dict(cfg, workload="b.json", precision="bf16")
    return {"configs": {"mlp_b1_fp32": cfg, "llama_b1_bf16": rejected, "bad_b1_fp16": {"error": "RuntimeError: x"}},
            "plan": ["mlp_b1_fp32", "llama_b1_bf16", "bad_b1_fp16", "x"], "not_started": ["x"],
            "machine": {"software": {"torch": "2.11"}, "nvidia_smi_start": {"name": "GPU"}}, "settings": {"a": 1},
            "command": "measure"}


def write_inputs(tmp):
    wdir = os.path.join(tmp, "w")
    os.makedirs(wdir)
    for name, op in (("a.json", "linear"), ("b.json", "rmsnorm")):
        with open(os.path.join(wdir, name), "w") as f:
            json.dump({"hwcal_workload": 1, "subgraphs": [{"name": "fc1", "op": op}, {"name": "act", "op": "relu"}]}, f)
    hw = os.path.join(tmp, "hwcal")
    with open(hw, "w") as f:
        f.write(FAKE_HWCAL.replace("#!/usr/bin/env python3", "#!" + sys.executable))
    os.chmod(hw, os.stat(hw).st_mode | stat.S_IEXEC)
    mpath = os.path.join(tmp, "m.json")
    with open(mpath, "w") as f:
        json.dump(measured_doc(), f)
    return wdir, hw, mpath


class Report(unittest.TestCase):
    def test_arithmetic_against_fake_hwcal(self):
        with tempfile.TemporaryDirectory() as tmp:
            wdir, hw, mpath = write_inputs(tmp)
            md = os.path.join(tmp, "out", "r.md")
            rc = report_gpu.main(["--hwcal", hw, "--profile", "p.json", "--measured", mpath, "--workloads", wdir,
                                  "--out-md", md, "--", "--mode", "eager"])
            self.assertEqual(rc, 0)
            res = load_json(os.path.join(tmp, "out", "gpu_results.json.gz"))
            s = res["summary"]
            # fc1: 2e-5 vs 1e-5 -> +100 %; act: 2e-5 vs 3.5e-5 -> -42.857 %
            self.assertAlmostEqual(s["layers"]["mape"], (1.0 + 1.5e-5 / 3.5e-5) / 2, places=4)
            self.assertAlmostEqual(s["layers"]["bias"], (1.0 - 1.5e-5 / 3.5e-5) / 2, places=4)
            self.assertAlmostEqual(s["layers"]["roofline_mape"], (0.0 + 2.5e-5 / 3.5e-5) / 2, places=4)
            self.assertEqual(s["layers"]["within10"], 0.0)
            # whole: total 4e-5 vs mean(5e-5, 4e-5) = 4.5e-5
            self.assertAlmostEqual(s["whole"]["mape"], 0.5e-5 / 4.5e-5, places=4)
            self.assertAlmostEqual(s["noise"]["layer_median"], 1e-5 / 3.5e-5, places=4)
            self.assertAlmostEqual(s["noise"]["whole_median"], 1e-5 / 4.5e-5, places=4)
            # eager: fc1 2e-5 vs 2e-5, act 2e-5 vs 1e-5; whole 4e-5 vs 8e-5
            self.assertAlmostEqual(s["eager"]["layers"]["mape"], 0.5, places=4)
            self.assertAlmostEqual(s["eager"]["whole"]["mape"], 0.5, places=4)
            self.assertEqual([r[0] for r in res["rejected"]], ["llama_b1_bf16"])
            self.assertIn("unknown op 'rmsnorm'", res["rejected"][0][1])
            self.assertEqual(res["failed"], [["bad_b1_fp16", "RuntimeError: x"]])
            text = open(md).read()
            for needle in ("## Eager mode", "llama_b1_bf16", "Unmapped nodes", "neg: no op kind", "Noise floor"):
                self.assertIn(needle, text)

    def test_eager_mode_detection(self):
        self.assertTrue(report_gpu.eager_mode(["--mode", "eager"]))
        self.assertTrue(report_gpu.eager_mode(["--mode=eager"]))
        self.assertFalse(report_gpu.eager_mode(["--mode", "graph"]))

    def test_workloads_tarball(self):
        with tempfile.TemporaryDirectory() as tmp:
            wdir, _, _ = write_inputs(tmp)
            tar = os.path.join(tmp, "w.tar.gz")
            subprocess.run(["tar", "-C", tmp, "-czf", tar, "w"], check=True)
            with tempfile.TemporaryDirectory() as x:
                self.assertEqual(sorted(os.listdir(report_gpu.open_workloads(tar, x))), ["a.json", "b.json"])

    @unittest.skipUnless(os.path.exists(HWCAL_CLI), "hwcal not built")
    def test_real_hwcal_on_a_dry_run(self):
        hw = HWCAL_CLI
        profile = os.path.join(ROOT, "profiles", "gpu", "nvidia-h200-cuda.json")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "m.json")
            measure_gpu.main(["--device", "cpu", "--dry-run", "--small", "--out", out, "--configs", "mlp_b1_fp32",
                              "gpt2_layer_b1_bf16", "llama_decode_kv1k_b1_fp32"])
            doc = load(out)
            for rec in doc["configs"].values():  # CPU dry runs have no graphs: stand in eager times
                rec["model_graph_s"] = [rec["model_eager_s"]]
                for u in rec["units"]:
                    u["graph_s"] = [u["eager_s"]]
            with open(out, "w") as f:
                json.dump(doc, f)
            md = os.path.join(tmp, "r.md")
            rc = report_gpu.main(["--hwcal", hw, "--profile", profile, "--measured", out, "--workloads",
                                  os.path.join(tmp, "workloads"), "--out-md", md])
            self.assertEqual(rc, 0)
            res = load_json(os.path.join(tmp, "gpu_results.json.gz"))
            scored = sorted(set(res["configs"]) - {"llama_decode_kv1k_b1_fp32"})
            self.assertEqual(scored, ["gpt2_layer_b1_bf16", "mlp_b1_fp32"])
            self.assertEqual(res["summary"]["whole"]["n"], len(res["configs"]))
            rejected = dict(res["rejected"])
            # this binary may or may not know rmsnorm yet: either scored or reported, never a crash
            self.assertTrue("llama_decode_kv1k_b1_fp32" in rejected or "llama_decode_kv1k_b1_fp32" in res["configs"])


# --------------------------------------------------------------------------- PyTorch-timed profile, re-mapped leaves


def fake_fidelity(profile, torch_of):
    """A fidelity result timing every sample of `profile` with PyTorch at
    torch_of(curve index, sample index, hwcal time) (None: not timed in a graph)."""
    samples = []
    for ci, op in enumerate(profile["operations"]):
        for si, smp in enumerate(op["samples"]):
            t = torch_of(ci, si, smp["time"]["median_s"])
            samples.append({"op": op["op"], "precision": op["precision"], "variant": op.get("variant"),
                            "curve": ci, "sample": si, "shape": smp["shape"], "torch_s": t,
                            "hwcal_s": smp["time"]["median_s"], "hwcal_impl": smp.get("implementation"),
                            "torch_timing": "graph" if t else "eager", "torch_call": "F.fake", "reps": 64,
                            "kernel_names": [["fake_kernel(int)", 1]],
                            **({"torch_cold_s": 3 * t} if t and ci == 0 else {})})
    return {"hwcal_torch_fidelity": 1, "software": {"torch": "9.9.9", "cuda": "13.0", "cudnn": 91900},
            "command": "torch_ops.py fidelity (fake)", "settings": {"timing": "fake"}, "samples": samples}


class TorchProfile(unittest.TestCase):
    SMALL = os.path.join(ROOT, "tests", "data", "profile_gpu_small.json")

    def test_every_sample_takes_pytorchs_time(self):
        prof = load(self.SMALL)
        last = len(prof["operations"]) - 1
        fid = fake_fidelity(prof, lambda ci, si, h: None if ci == last else 2 * h)
        out, n = torch_profile.convert(prof, fid)
        self.assertEqual(n["curves_dropped"], 1)  # the last curve: no sample timed in a graph
        self.assertEqual(n["dropped"], len(prof["operations"][last]["samples"]))
        self.assertEqual(len(out["operations"]), last)
        first_in, first_out = prof["operations"][0]["samples"][0], out["operations"][0]["samples"][0]
        h = first_in["time"]["median_s"]
        self.assertAlmostEqual(first_out["time"]["median_s"], 2 * h)
        self.assertAlmostEqual(first_out["time"]["p90_s"], 2 * first_in["time"]["p90_s"])
        self.assertAlmostEqual(first_out["gbps"], first_in["bytes"] / (2 * h) / 1e9)
        self.assertAlmostEqual(first_out["cold_time"]["median_s"], 6 * h)  # PyTorch's cold time
        self.assertNotIn("cold_time", out["operations"][1]["samples"][0])  # not measured: dropped, not kept
        self.assertIn("PyTorch 9.9.9: F.fake (fake_kernel)", first_out["implementation"])
        self.assertEqual(out["software"]["pytorch"], "9.9.9")
        self.assertIn("PyTorch 9.9.9", out["warnings"][0])
        self.assertEqual(prof, load(self.SMALL))  # the input is not modified

    def test_transfer_applies_another_gpus_ratio_where_shape_and_kernel_match(self):
        other = load(self.SMALL)  # "another GPU": the same shapes and kernels, hwcal 2x slower there
        for op in other["operations"]:
            for smp in op["samples"]:
                smp["time"]["median_s"] *= 2
        fid = fake_fidelity(other, lambda ci, si, h: 3 * h)  # PyTorch 3x hwcal there
        fid["samples"][0]["hwcal_impl"] = "another kernel"  # not the same implementation: not transferred
        prof = load(self.SMALL)
        out, n = torch_profile.convert(prof, fid, transfer=True)
        total = sum(len(op["samples"]) for op in prof["operations"])
        self.assertEqual(n["kept_hwcal"], 1)
        self.assertEqual(n["timed"], total - 1)
        self.assertEqual(n["dropped"], 0)
        got = {(o["op"], o["precision"], o.get("variant"), json.dumps(smp["shape"], sort_keys=True)):
               smp["time"]["median_s"] for o in out["operations"] for smp in o["samples"]}
        for ci, op in enumerate(prof["operations"]):
            for si, smp in enumerate(op["samples"]):
                k = (op["op"], op["precision"], op.get("variant"), json.dumps(smp["shape"], sort_keys=True))
                want = smp["time"]["median_s"] * (1 if ci == 0 and si == 0 else 3)
                self.assertAlmostEqual(got[k] / want, 1.0, places=9)
        self.assertIn("another GPU", " ".join(out["warnings"]))

    def test_a_sample_of_another_shape_is_not_taken(self):
        prof = load(self.SMALL)
        fid = fake_fidelity(prof, lambda ci, si, h: 2 * h)
        fid["samples"][0]["shape"] = {"m": 1}
        _, n = torch_profile.convert(prof, fid)
        self.assertEqual(n["dropped"], 1)

    def test_a_mistimed_sample_is_dropped_and_a_fast_one_kept(self):
        prof = load(self.SMALL)
        big = max(range(len(prof["operations"])), key=lambda c: len(prof["operations"][c]["samples"]))
        self.assertGreaterEqual(len(prof["operations"][big]["samples"]), 3)

        def torch_time(ci, si, h):
            if ci == big and si == 0:
                return 45 * h  # a host hiccup: 45x hwcal, the rest of the curve 1.1x
            if ci == big and si == 1:
                return 0.1 * h  # PyTorch's faster path: kept
            return 1.1 * h

        out, n = torch_profile.convert(prof, fake_fidelity(prof, torch_time))
        self.assertEqual(n["mistimed"], 1)
        self.assertEqual(n["dropped"], 0)
        curve = next(o for o in out["operations"] if o["op"] == prof["operations"][big]["op"]
                     and o["precision"] == prof["operations"][big]["precision"]
                     and len(o["samples"]) == len(prof["operations"][big]["samples"]) - 1)
        h1 = prof["operations"][big]["samples"][1]["time"]["median_s"]
        self.assertAlmostEqual(curve["samples"][0]["time"]["median_s"], 0.1 * h1)
        self.assertIn("1 mis-timed (over 4x hwcal's time and the curve's median ratio: dropped)", out["warnings"][0])

    def test_a_queued_run_keeps_its_slow_samples(self):
        """Replays queued behind a spin cannot wait on the host: a slow sample
        is PyTorch's own (an fp32 linear 16x2048x1000 at 4.6x hwcal's, as the
        truth measured it) and is kept."""
        prof = load(self.SMALL)
        big = max(range(len(prof["operations"])), key=lambda c: len(prof["operations"][c]["samples"]))
        fid = fake_fidelity(prof, lambda ci, si, h: 45 * h if (ci, si) == (big, 0) else 1.1 * h)
        fid["settings"]["timing"] = "CUDA graph of R back-to-back calls, each replay " + torch_profile.QUEUED
        out, n = torch_profile.convert(prof, fid)
        self.assertEqual(n["mistimed"], 0)
        h0 = prof["operations"][big]["samples"][0]["time"]["median_s"]
        kept = [o for o in out["operations"] if o["op"] == prof["operations"][big]["op"]
                and o["precision"] == prof["operations"][big]["precision"]]
        self.assertTrue(any(abs(s["time"]["median_s"] - 45 * h0) < 1e-12 for o in kept for s in o["samples"]))
        self.assertIn("queued behind a spin kernel: none mis-timed", out["warnings"][0])

    @unittest.skipUnless(os.path.exists(HWCAL_CLI), "hwcal not built")
    def test_the_output_is_a_profile_hwcal_reads(self):
        prof = load(self.SMALL)
        with tempfile.TemporaryDirectory() as tmp:
            fp, out = os.path.join(tmp, "f.json"), os.path.join(tmp, "t.json")
            with open(fp, "w") as f:
                json.dump(fake_fidelity(prof, lambda ci, si, h: 2 * h), f)
            self.assertEqual(torch_profile.main(["--profile", self.SMALL, "--fidelity", fp, "-o", out]), 0)
            r = subprocess.run([HWCAL_CLI, "show", out], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("pytorch 9.9.9", r.stdout)

    def test_graph_nodes_give_pytorchs_graph_start(self):
        rows = [{"op": "relu 1M", "n": 8, "alone_s": 3e-6, "queued_s": 2.6e-6},
                {"op": "relu 1M", "n": 128, "alone_s": 2.3e-6, "queued_s": 2.2e-6},
                {"op": "relu 64", "n": 8, "alone_s": 9e-6, "queued_s": 1e-6}]
        start = graph_nodes.pytorch_graph_start(rows)
        self.assertAlmostEqual(start, 8 * (3e-6 - 2.2e-6))
        self.assertIsNone(graph_nodes.pytorch_graph_start(rows[1:]))
        prof = load(self.SMALL)
        with tempfile.TemporaryDirectory() as tmp:
            fp, gp, out = (os.path.join(tmp, n) for n in ("f.json", "g.json", "t.json"))
            with open(fp, "w") as f:
                json.dump(fake_fidelity(prof, lambda ci, si, h: 2 * h), f)
            with open(gp, "w") as f:
                json.dump({"rows": rows}, f)
            self.assertEqual(torch_profile.main(["--profile", self.SMALL, "--fidelity", fp, "--graph-nodes", gp,
                                                 "-o", out]), 0)
            got = load(out)
            self.assertAlmostEqual(got["overhead"]["graph_start_s"], start)
            self.assertTrue(any("PyTorch's start of a graph" in w for w in got["warnings"]))
            with open(gp, "w") as f:
                json.dump({"rows": rows[1:]}, f)
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                rc = torch_profile.main(["--profile", self.SMALL, "--fidelity", fp, "--graph-nodes", gp,
                                         "-o", os.path.join(tmp, "o.json")])
            self.assertEqual(rc, 2)
            self.assertIn(gp, err.getvalue())
            self.assertFalse(os.path.exists(os.path.join(tmp, "o.json")))

    def test_bad_input_names_the_file_and_exits_2(self):
        with tempfile.TemporaryDirectory() as tmp:
            fp = os.path.join(tmp, "f.json")
            with open(fp, "w") as f:
                json.dump({"samples": []}, f)
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                rc = torch_profile.main(["--profile", self.SMALL, "--fidelity", fp, "-o", os.path.join(tmp, "o")])
            self.assertEqual(rc, 2)
            self.assertIn(fp, err.getvalue())
            self.assertIn("samples", err.getvalue())
            self.assertFalse(os.path.exists(os.path.join(tmp, "o")))


class MergeOps(unittest.TestCase):
    """merge_ops.py: a later calibration's curves replace the profile's; with --keep-unmeasured
    the replaced curve keeps the earlier samples at shapes the later one did not reach."""

    @staticmethod
    def profile(samples, created):
        dev = {"name": "NVIDIA H100 80GB HBM3", "sm_count": 132, "uuid": created}
        curve = {"op": "conv2d", "precision": "bf16", "variant": "dense", "threads": 1,
                 "samples": [{"shape": {"n": n}, "time": {"median_s": t}} for n, t in samples]}
        other = {"op": "relu", "precision": "bf16", "variant": "unary", "threads": 1, "samples": []}
        return {"device": dev, "created_utc": created, "operations": [curve, other]}

    def merged(self, *extra):
        with tempfile.TemporaryDirectory() as tmp:
            full, ops, out = (os.path.join(tmp, f) for f in ("full.json", "ops.json", "out.json"))
            with open(full, "w") as f:
                json.dump(self.profile([(1, 1.0), (4, 2.0), (16, 3.0)], "early"), f)
            with open(ops, "w") as f:
                json.dump(self.profile([(1, 1.5), (16, 3.5)], "late"), f)
            subprocess.run([sys.executable, os.path.join(HERE, "merge_ops.py"), full, ops, "-o", out, *extra],
                           check=True, capture_output=True)
            with open(out) as f:
                return json.load(f)

    def test_replace_and_keep_unmeasured(self):
        def conv(doc):
            return {s["shape"]["n"]: s["time"]["median_s"] for s in doc["operations"][0]["samples"]}

        self.assertEqual(conv(self.merged()), {1: 1.5, 16: 3.5})
        kept = self.merged("--keep-unmeasured")
        self.assertEqual(conv(kept), {1: 1.5, 4: 2.0, 16: 3.5})
        self.assertIn("1 samples of the replaced curves kept", kept["warnings"][-1])
        self.assertEqual(len(kept["operations"]), 2)


class RemapLeaves(unittest.TestCase):
    def remap_twice(self, wl, mdoc, expected):
        """Workload `wl` as m.json re-mapped for `mdoc`: `expected` units re-mapped, then none
        on a second run (nothing left to re-map). Returns the re-mapped workload."""
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "m.json"), "w") as f:
                json.dump(wl, f)
            self.assertEqual(remap_leaves.remap(mdoc, tmp), expected)
            out = load(os.path.join(tmp, "m.json"))
            self.assertEqual(remap_leaves.remap(mdoc, tmp), 0)
        return out

    def test_rmsnorm_and_rotary_units_become_their_chains(self):
        wl = {"hwcal_workload": 1, "name": "m", "precision": "bf16", "subgraphs": [
            {"name": "in_norm", "op": "rmsnorm", "rows": 4, "cols": 16},
            {"name": "q_proj", "op": "linear", "m": 4, "n": 16, "k": 16, "bias": False},
            {"name": "rotary", "op": "rotary", "tokens": 4, "heads": 2, "head_dim": 8}]}
        units = [{"name": n, "kind": k, "category": "scored", "subgraphs": [n], "graph_s": [1e-5]}
                 for n, k in (("in_norm", "rmsnorm"), ("q_proj", "linear"), ("rotary", "rotary"))]
        mdoc = {"configs": {"m_b2_bf16": {"batch": 2, "precision": "bf16", "workload": "m.json", "units": units}}}
        out = self.remap_twice(wl, mdoc, 2)
        # (rotate_half's cat reads a slice of x: a non-contiguous input, a permuted copy)
        self.assertEqual(ops(out), ["copy", "square", "reduce_mean", "add", "rsqrt", "mul", "copy", "mul", "linear",
                                    "mul", "neg", "permute", "mul", "add"])
        self.assertEqual(units[0]["subgraphs"], [sg["name"] for sg in out["subgraphs"][:8]])
        self.assertEqual(units[1]["subgraphs"], ["q_proj"])
        self.assertEqual(out["subgraphs"][9]["elements"], 2 * 2 * 2 * 8)  # batch 2 x heads 2 x seq 2 x head_dim 8
        self.assertIn("kernels", units[2]["note"])

    def test_attention_head_split_and_merge_take_the_tracers_op(self):
        def block(prefix, head_dim):
            return [{"name": f"{prefix}.qkv", "op": "linear", "m": 8, "n": 3 * 4 * head_dim, "k": 4 * head_dim},
                    {"name": f"{prefix}.split_heads", "op": "transpose", "bytes": 4096},
                    {"name": f"{prefix}.attn", "op": "attention", "batch": 1, "heads": 4, "seq_q": 8, "seq_kv": 8,
                     "head_dim": head_dim, "causal": False},
                    {"name": f"{prefix}.merge_heads", "op": "transpose", "bytes": 2048}]
        # fp16: 64-element heads move 128-byte runs (a copy), 16-element heads 32-byte runs (a transpose)
        wl = {"hwcal_workload": 1, "name": "m", "precision": "fp16", "subgraphs": block("a", 64) + block("b", 16)}
        units = [{"name": n, "kind": "mha", "category": "scored", "subgraphs": [sg["name"] for sg in wl["subgraphs"]
                                                                                if sg["name"].startswith(n + ".")]}
                 for n in ("a", "b")]
        mdoc = {"configs": {"m_b1_fp16": {"batch": 1, "precision": "fp16", "workload": "m.json", "units": units}}}
        out = self.remap_twice(wl, mdoc, 1)
        self.assertEqual(ops(out), ["linear", "copy", "attention", "copy", "linear", "transpose", "attention",
                                    "transpose"])
        self.assertEqual(out["subgraphs"][1]["bytes"], 4096)

    def test_materialized_copies_and_a_concat_of_a_view_take_the_tracers_op(self):
        traced = [{"name": "shuffle", "op": "permute", "bytes": 64}, {"name": "cat", "op": "permute", "bytes": 64},
                  {"name": "flat", "op": "copy", "bytes": 64}]
        saved = remap_leaves.traced_subgraphs
        remap_leaves.traced_subgraphs = lambda model: traced
        try:
            for batch, cat in ((4, "permute"), (1, "concat")):
                wl = {"hwcal_workload": 1, "name": "m", "precision": "fp16", "subgraphs": [
                    {"name": "shuffle", "op": "copy", "bytes": 4096},
                    {"name": "cat", "op": "concat", "bytes": 4096, "inputs": 2, "largest": 4000},
                    {"name": "flat", "op": "copy", "bytes": 4096}]}
                units = [{"name": n, "kind": k, "category": "scored", "subgraphs": [n]}
                         for n, k in (("shuffle", "copy"), ("cat", "concat"), ("flat", "copy"))]
                mdoc = {"configs": {f"m_b{batch}_fp16": {"model": "m", "batch": batch, "precision": "fp16",
                                                         "workload": "m.json", "units": units}}}
                out = self.remap_twice(wl, mdoc, 2 if batch > 1 else 1)
                self.assertEqual(ops(out), ["permute", cat, "copy"])
                self.assertEqual([u["kind"] for u in units], ["permute", cat, "copy"])
                # a concat's fields go with it; the bytes stay
                self.assertEqual(out["subgraphs"][1].get("inputs"), None if batch > 1 else 2)
                self.assertEqual(out["subgraphs"][1]["bytes"], 4096)
        finally:
            remap_leaves.traced_subgraphs = saved


if __name__ == "__main__":
    unittest.main(verbosity=1)
