"""hwcal.trace on torchvision models (Debian's python3-torch, CPU): workloads the
C++ reader accepts, equal to the validation workloads the same tracer wrote,
fusion, the model's mode left alone, every unmappable node listed, and the
command lines `python3 -m hwcal.trace` and `hwcal trace`. Exit 77 (skipped)
without torch and torchvision."""
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

try:
    import torch
    import torchvision
except ImportError as e:
    print(f"skipped: {e}")
    sys.exit(77)

import hwcal
from hwcal.trace import trace_model

SRC = os.environ.get("HWCAL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.environ.get("HWCAL_CLI")
X = torch.randn(1, 3, 224, 224)

# A model with ops the workload format has no kind for (exp, cumsum): listed, not dropped.
UNMAPPABLE = textwrap.dedent("""
    import torch
    import torch.nn as nn

    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 16)

        def forward(self, x):
            return torch.cumsum(torch.log(self.fc(x)), dim=-1)

    def build():
        return Odd()
""")


def validation_workload(name):
    with open(os.path.join(SRC, "validation/workloads", name + ".json"), encoding="utf-8") as f:
        return json.load(f)


class TraceTest(unittest.TestCase):
    def test_public_name(self):
        self.assertTrue(callable(hwcal.trace))
        self.assertIs(hwcal.trace.trace_model, trace_model)  # and still the module validation/ imports from

    def test_torchvision_models(self):
        # the same tracer wrote validation/workloads (mobilenet_v2's file predates the relu6 kind)
        for name, compare in [("resnet18", True), ("mobilenet_v3_small", True), ("efficientnet_b0", True),
                              ("vit_b_16", True), ("mobilenet_v2", False)]:
            with self.subTest(model=name):
                torch.manual_seed(0)
                doc = hwcal.trace(getattr(torchvision.models, name)(weights=None), X)
                self.assertEqual(doc["unmapped"], [])
                w = hwcal.Workload.from_dict(doc)
                self.assertEqual(len(w), len(doc["subgraphs"]))
                self.assertEqual(w.warnings, [])
                if compare:
                    self.assertEqual(doc["subgraphs"], validation_workload(name + "_b1")["subgraphs"])

    def test_fusion(self):
        model = torchvision.models.resnet18(weights=None)
        eager, fused = trace_model(model, X), hwcal.trace(model, X, fuse=True)
        stem = fused["subgraphs"][0]
        self.assertEqual((stem["op"], stem["fused"]), ("conv2d", ["batchnorm", "relu"]))
        convs = sum(1 for s in eager["subgraphs"] if s["op"] == "conv2d")
        self.assertEqual(sum(1 for s in fused["subgraphs"] if s["op"] == "conv2d"), convs)
        self.assertFalse(any(s["op"] == "batchnorm" for s in fused["subgraphs"]))
        hwcal.Workload.from_dict(fused)

    def test_linear_activation_fusion(self):
        model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 8), torch.nn.ReLU())
        x = torch.randn(4, 16)
        self.assertEqual([(s["op"], s.get("fused")) for s in hwcal.trace(model, x)["subgraphs"]],
                         [("linear", None), ("gelu", None), ("linear", None), ("relu", None)])
        fused = hwcal.trace(model, x, fuse=True)
        self.assertEqual([(s["op"], s.get("fused")) for s in fused["subgraphs"]], [("linear", ["gelu"]), ("linear", ["relu"])])
        self.assertEqual(hwcal.Workload.from_dict(fused).subgraphs[0].fused, ["gelu"])

    def test_materialized_permutations(self):
        # a permutation whose consecutive elements read few sectors more than a copy's is a permute; one that
        # reads a sector per element (two large dimensions swapped) a transpose
        class Shuffle(torch.nn.Module):  # shufflenet's channel shuffle: runs of h * w elements
            def forward(self, x):
                b, c, h, w = x.shape
                return x.view(b, 2, c // 2, h, w).transpose(1, 2).contiguous()

        class Transpose(torch.nn.Module):  # runs of one element
            def forward(self, x):
                return x.t().contiguous()

        class Heads(torch.nn.Module):  # [b, s, h, d] -> [b, h, s, d]: runs of d elements
            def __init__(self, d):
                super().__init__()
                self.d = d

            def forward(self, x):
                return x.view(x.shape[0], x.shape[1], -1, self.d).transpose(1, 2).contiguous()

        def ops(model, x):
            return [s["op"] for s in hwcal.trace(model, x)["subgraphs"]]

        class ChannelsLast(torch.nn.Module):  # NCHW -> NHWC: runs of one element, c streams
            def forward(self, x):
                return x.permute(0, 2, 3, 1).contiguous()

        self.assertEqual(ops(Shuffle(), torch.randn(1, 8, 4, 4)), ["permute"])  # 64-byte runs
        self.assertEqual(ops(Shuffle(), torch.randn(1, 8, 2, 2)), ["permute"])  # 16-byte runs, 4 sectors a warp
        self.assertEqual(ops(Transpose(), torch.randn(64, 32)), ["transpose"])  # a sector per element
        self.assertEqual(ops(Heads(64), torch.randn(2, 16, 256)), ["permute"])
        self.assertEqual(ops(Heads(8), torch.randn(2, 16, 256)), ["permute"])  # 32-byte runs
        self.assertEqual(ops(ChannelsLast(), torch.randn(1, 3, 16, 16)), ["permute"])  # 3 streams
        self.assertEqual(ops(ChannelsLast(), torch.randn(1, 64, 8, 8)), ["transpose"])  # 32 sectors a warp
        self.assertEqual(ops(torch.nn.Flatten(0), torch.randn(1, 8, 4, 4)), [])  # a view, no copy

    def test_concat_of_an_expanded_view(self):
        # ViT's class token: cat([cls.expand(B, 1, D), x], 1) reads a broadcast view: a permuted copy
        class ClassToken(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.cls = torch.nn.Parameter(torch.zeros(1, 1, 8))

            def forward(self, x):
                return torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1)

        (sg,) = hwcal.trace(ClassToken(), torch.randn(4, 3, 8))["subgraphs"]
        self.assertEqual((sg["op"], sg["bytes"]), ("permute", 4 * 4 * 8 * 4))
        self.assertNotIn("inputs", sg)

    def test_concat_inputs(self):
        # a concat records its input count, and the largest input's bytes when the inputs differ (DenseNet)
        class Dense(torch.nn.Module):
            def forward(self, x):
                return torch.cat([x, x[:, :2], x[:, :2], x[:, :2]], 1), torch.cat([x, x], 1)

        uneven, even = hwcal.trace(Dense(), torch.randn(1, 8, 4, 4))["subgraphs"][-2:]
        self.assertEqual((uneven["op"], uneven["bytes"], uneven["inputs"], uneven["largest"]),
                         ("concat", 14 * 16 * 4, 4, 8 * 16 * 4))
        self.assertEqual((even["inputs"], "largest" in even), (2, False))

    def test_channels_last_convolutions(self):
        # a convolution on the output of a permute (ConvNeXt's blocks) or of a channels_last model runs on
        # NHWC tensors: the workload says so; a plain NCHW input, or a 1x1 map (both layouts at once), does not
        class Permuted(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.norm = torch.nn.LayerNorm(8)
                self.conv = torch.nn.Conv2d(8, 8, 7, padding=3, groups=8)

            def forward(self, x):
                return self.conv(self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))

        def convs(model, x):
            return [s.get("channels_last", False) for s in hwcal.trace(model, x)["subgraphs"] if s["op"] == "conv2d"]

        self.assertEqual(convs(Permuted(), torch.randn(2, 8, 14, 14)), [True])

        def conv(kernel):
            return torch.nn.Sequential(torch.nn.Conv2d(8, 4, kernel))

        self.assertEqual(convs(conv(3), torch.randn(2, 8, 14, 14)), [False])
        cl = conv(3).to(memory_format=torch.channels_last)  # the weight alone decides it
        self.assertEqual(convs(cl, torch.randn(2, 8, 14, 14)), [True])
        self.assertEqual(convs(conv(1), torch.randn(2, 8, 1, 1).to(memory_format=torch.channels_last)), [False])
        w = hwcal.Workload.from_dict(hwcal.trace(Permuted(), torch.randn(2, 8, 14, 14)))
        self.assertEqual(w.warnings, [])

    def test_mode_left_alone(self):
        model = torchvision.models.resnet18(weights=None).train()
        before = model.bn1.running_mean.clone()
        hwcal.trace(model, X)
        self.assertTrue(model.training)
        self.assertTrue(torch.equal(model.bn1.running_mean, before))  # traced in eval: statistics untouched

    def test_unmapped_are_listed(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "odd.py"), "w", encoding="utf-8") as f:
                f.write(UNMAPPABLE)
            sys.path.insert(0, d)
            try:
                import odd
            finally:
                sys.path.remove(d)
            doc = hwcal.trace(odd.build(), torch.randn(2, 16))
            self.assertEqual([s["op"] for s in doc["subgraphs"]], ["linear"])
            self.assertEqual(sorted(u["target"] for u in doc["unmapped"]), ["torch.cumsum", "torch.log"])


class CommandLineTest(unittest.TestCase):
    def run_trace(self, command, *args):
        env = dict(os.environ)
        return subprocess.run([*command, *args], capture_output=True, text=True, env=env)

    def commands(self):
        yield [sys.executable, "-m", "hwcal.trace"]
        if CLI:
            yield [CLI, "trace"]

    def test_module_factory(self):
        for command in self.commands():
            with self.subTest(command=command[0]), tempfile.TemporaryDirectory() as d:
                out = os.path.join(d, "w.json")
                r = self.run_trace(command, "torchvision.models:resnet18", "--input-shape", "1,3,224,224", "-o", out)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("resnet18: 68 subgraphs, 0 unmapped", r.stderr)
                w = hwcal.load_workload(out)
                self.assertEqual(w.name, "resnet18")
                self.assertEqual(w.to_dict()["subgraphs"],
                                 hwcal.Workload.from_dict(validation_workload("resnet18_b1")).to_dict()["subgraphs"])

    def test_file_factory_lists_unmapped(self):
        for command in self.commands():
            with self.subTest(command=command[0]), tempfile.TemporaryDirectory() as d:
                model = os.path.join(d, "odd.py")
                with open(model, "w", encoding="utf-8") as f:
                    f.write(UNMAPPABLE)
                r = self.run_trace(command, model + ":build", "--input-shape", "2,16", "--fuse")
                self.assertEqual(r.returncode, 0, r.stderr)
                doc = json.loads(r.stdout)
                self.assertEqual(len(doc["unmapped"]), 2)
                self.assertIn("2 unmapped node(s)", r.stderr)
                self.assertIn("torch.log", r.stderr)
                self.assertIn("torch.cumsum", r.stderr)

    def test_help_and_bad_input(self):
        for command in self.commands():
            with self.subTest(command=command[0]):
                r = self.run_trace(command, "--help")
                self.assertEqual(r.returncode, 0)
                self.assertIn("--input-shape", r.stdout)
                r = self.run_trace(command, "no_such_module_hwcal:build", "--input-shape", "1,3")
                self.assertEqual(r.returncode, 2)
                self.assertIn("no_such_module_hwcal", r.stderr)
                r = self.run_trace(command, "torchvision.models:resnet18", "--input-shape", "1,x")
                self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
