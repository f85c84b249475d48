"""hwcal._hwcal (through `import hwcal`): profiles, subgraphs and workloads from
files and dicts, errors naming the field, the mapper (estimate, estimate_many),
auto_calibrate, and predict() against `hwcal predict --json` (the same C++
function: every number equal, not close).

Environment (set by ctest): PYTHONPATH=<build>/python, HWCAL_SOURCE_DIR,
HWCAL_CLI (the hwcal executable; the CLI comparisons skip without it)."""
import concurrent.futures
import glob
import json
import os
import subprocess
import sys
import tempfile
import unittest
import warnings

import hwcal

SRC = os.environ.get("HWCAL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.environ.get("HWCAL_CLI")
SMALL_PROFILE = os.path.join(SRC, "tests/data/profile_small.json")
SMALL_WORKLOAD = os.path.join(SRC, "tests/data/small_workload.json")
BAD_WORKLOAD = os.path.join(SRC, "tests/data/bad_workload.json")
CPU_PROFILE = os.path.join(SRC, "profiles/cpu/xeon-kvm-2vcpu-torch-t1.json")
GPU_PROFILE = os.path.join(SRC, "profiles/gpu/nvidia-h200-cuda.json")
SHIPPED = sorted(glob.glob(os.path.join(SRC, "profiles/cpu/*.json")) + glob.glob(os.path.join(SRC, "profiles/gpu/*.json")))
WORKLOADS = sorted(glob.glob(os.path.join(SRC, "examples/workloads/*.json"))) + [SMALL_WORKLOAD]

CONV = {"name": "conv", "op": "conv2d", "n": 1, "c": 64, "h": 56, "w": 56, "k": 64, "r": 3, "s": 3, "padding": 1,
        "bias": False, "fused": ["batchnorm", "relu"]}


def cli_predict(profile, workload, *extra):
    out = subprocess.run([CLI, "predict", "--profile", profile, "--workload", workload, "--json", *extra],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


class ImportTest(unittest.TestCase):
    def test_import_is_light(self):
        # measurement scripts set thread variables before torch loads: `import hwcal` must not load it
        code = "import sys, hwcal; hwcal.load_profile; assert 'torch' not in sys.modules, 'torch imported'"
        subprocess.run([sys.executable, "-c", code], check=True)

    def test_names(self):
        for name in hwcal.__all__:
            self.assertTrue(hasattr(hwcal, name), name)
        self.assertTrue(hwcal.__version__)
        with self.assertRaises(AttributeError):
            hwcal.no_such_name  # noqa: B018


class ProfileTest(unittest.TestCase):
    def test_load(self):
        p = hwcal.load_profile(CPU_PROFILE)
        self.assertEqual(p.source, CPU_PROFILE)
        self.assertEqual((p.target, p.backend, p.threads), ("cpu", "torch", 1))
        self.assertGreater(p.peaks_gflops["fp32"], 0)
        self.assertIn("DRAM", p.bandwidth_gbps)
        self.assertIn("hwcal.Profile", repr(p))
        self.assertIsNone(p.device)
        self.assertIn("H200", hwcal.load_profile(GPU_PROFILE).device["name"])

    def test_dict_round_trip(self):
        p = hwcal.load_profile(SMALL_PROFILE)
        q = hwcal.Profile.from_dict(p.to_dict())
        self.assertEqual(q.to_dict(), p.to_dict())
        self.assertEqual(q.source, "")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "p.json")
            p.save(path)
            self.assertEqual(hwcal.load_profile(path).to_dict(), p.to_dict())

    def test_errors_name_the_field(self):
        doc = hwcal.load_profile(SMALL_PROFILE).to_dict()
        doc["peaks"][0]["gflops"] = "fast"
        with self.assertRaises(hwcal.DocumentError) as cm:
            hwcal.Profile.from_dict(doc)
        e = cm.exception
        self.assertEqual(e.pointer, "/peaks/0/gflops")
        self.assertIn("/peaks/0/gflops", str(e))
        self.assertIsInstance(e, ValueError)
        self.assertIsInstance(e, hwcal.Error)
        with self.assertRaises(hwcal.DocumentError) as cm:
            hwcal.load_profile("/nonexistent/profile.json")
        self.assertEqual(cm.exception.file, "/nonexistent/profile.json")
        self.assertIn("cannot open", cm.exception.problem)


class SubgraphTest(unittest.TestCase):
    def test_from_dict(self):
        s = hwcal.Subgraph.from_dict(CONV)
        self.assertEqual((s.name, s.op, s.precision, s.fused), ("conv", "conv2d", "fp32", ["batchnorm", "relu"]))
        self.assertEqual(s.shape["k"], 64)
        self.assertEqual(s.flops, 2 * 56 * 56 * 64 * 64 * 9)
        self.assertGreater(s.bytes, s.weight_bytes)
        self.assertEqual(hwcal.Subgraph.from_dict(s.to_dict()).to_dict(), s.to_dict())
        self.assertEqual(hwcal.Subgraph.from_dict(CONV, precision="bf16").precision, "bf16")
        self.assertEqual(hwcal.Subgraph.from_dict(dict(CONV, precision="fp64"), precision="bf16").precision, "fp64")

    def test_constructor(self):
        s = hwcal.Subgraph("linear", m=8, n=4096, k=4096, precision="bf16", name="proj", fused=["gelu"])
        self.assertEqual(s.to_dict(), hwcal.Subgraph.from_dict(
            {"name": "proj", "op": "linear", "m": 8, "n": 4096, "k": 4096, "precision": "bf16", "fused": ["gelu"]}).to_dict())

    def test_numpy_and_torch_like_scalars(self):
        class Index:  # what numpy.int64 and 0-d integer tensors offer
            def __index__(self):
                return 8
        self.assertEqual(hwcal.Subgraph.from_dict({"name": "x", "op": "relu", "elements": Index()}).shape["elements"], 8)

    def test_errors_name_the_field(self):
        cases = [({**CONV, "k": 0}, "/k", "positive"),
                 ({**CONV, "k": "64"}, "/k", "integer"),
                 ({**CONV, "op": "conv3d"}, "/op", "conv3d"),
                 ({k: v for k, v in CONV.items() if k != "c"}, "/c", "missing"),
                 ({**CONV, "fused": ["matmul"]}, "/fused/0", "cannot be fused"),
                 ({**CONV, "precision": "fp12"}, "/precision", "fp12")]
        for doc, pointer, words in cases:
            with self.subTest(pointer=pointer), self.assertRaises(hwcal.DocumentError) as cm:
                hwcal.Subgraph.from_dict(doc)
            self.assertEqual(cm.exception.pointer, pointer)
            self.assertIn(words, str(cm.exception))
            self.assertIn("subgraph 'conv'", cm.exception.problem)
        with self.assertRaises(ValueError):
            hwcal.Subgraph.from_dict(CONV, precision="fp12")
        with self.assertRaises(TypeError):
            hwcal.Subgraph.from_dict(["not", "a", "dict"])
        with self.assertRaises(TypeError):
            hwcal.Subgraph.from_dict({"name": "x", "op": "relu", "elements": object()})

    def test_unknown_field_warns(self):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hwcal.Subgraph.from_dict({**CONV, "stirde": 2})
        self.assertTrue(any("stirde" in str(w.message) for w in caught), [str(w.message) for w in caught])


class WorkloadTest(unittest.TestCase):
    def test_load_and_dicts(self):
        w = hwcal.load_workload(SMALL_WORKLOAD)
        self.assertEqual((w.name, w.precision, len(w)), ("small", "fp32", 4))
        self.assertEqual([s.name for s in w.subgraphs], ["stem", "pool", "act", "fc"])
        with open(SMALL_WORKLOAD, encoding="utf-8") as f:
            self.assertEqual(hwcal.Workload.from_dict(json.load(f)).to_dict(), w.to_dict())
        built = hwcal.Workload("small", w.subgraphs, precision="fp32")
        self.assertEqual(built.to_dict(), w.to_dict())
        w.subgraphs[0].name = "changed"  # a copy
        self.assertEqual(w.subgraphs[0].name, "stem")

    def test_errors_name_file_subgraph_field(self):
        with self.assertRaises(hwcal.DocumentError) as cm:
            hwcal.load_workload(BAD_WORKLOAD)
        e = cm.exception
        self.assertEqual((e.file, e.pointer), (BAD_WORKLOAD, "/subgraphs/1/s"))
        self.assertIn("layer2.conv", e.problem)
        with self.assertRaises(hwcal.DocumentError) as cm:
            hwcal.Workload.from_dict({"hwcal_workload": 1, "subgraphs": [{"name": "a", "op": "relu"}]})
        self.assertEqual(cm.exception.pointer, "/subgraphs/0/elements")

    def test_sequence_context(self):
        w = hwcal.load_workload(SMALL_WORKLOAD)
        ctx = hwcal.sequence_context(w)
        self.assertAlmostEqual(ctx.pass_bytes, sum(s.bytes for s in w.subgraphs), delta=1e-6 * ctx.pass_bytes)
        self.assertEqual(ctx.pass_weight_bytes, hwcal.sequence_context(list(w.subgraphs)).pass_weight_bytes)


class MapperTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.profile = hwcal.load_profile(CPU_PROFILE)
        cls.mapper = hwcal.CalibratedMapper(cls.profile)

    def test_estimate(self):
        e = self.mapper.estimate(hwcal.Subgraph.from_dict(CONV))
        self.assertGreater(e.latency_s, 0)
        self.assertEqual(e.latency_s, e.in_sequence_s)  # no context
        lo, hi = e.interval
        self.assertLessEqual(lo, e.latency_s)
        self.assertLessEqual(e.latency_s, hi)
        self.assertIn(e.bound, ("compute", "memory", "overhead"))
        self.assertTrue(all(isinstance(w, str) for w in e.warnings))
        self.assertEqual(self.mapper.estimate(CONV).to_dict(), e.to_dict())  # a dict works as well
        self.assertFalse(self.mapper.device)
        self.assertEqual(self.mapper.threads, 1)

    def test_warnings_are_sentences(self):
        e = self.mapper.estimate({"name": "x", "op": "conv2d", "n": 1, "c": 3, "h": 8, "w": 8, "k": 4, "r": 3, "s": 3,
                                  "precision": "int8"})
        self.assertTrue(e.warnings)
        self.assertTrue(any("precision" in w for w in e.warnings), e.warnings)

    def test_estimate_many_is_estimate(self):
        w = hwcal.load_workload(os.path.join(SRC, "examples/workloads/resnet18_b1.json"))
        ctx = hwcal.sequence_context(w)
        many = self.mapper.estimate_many(w, ctx)
        self.assertEqual(len(many), len(w))
        for s, e in zip(w.subgraphs, many):
            self.assertEqual(e.to_dict(), self.mapper.estimate(s, ctx).to_dict())
        self.assertEqual([e.to_dict() for e in self.mapper.estimate_many(list(w.subgraphs))],
                         [self.mapper.estimate(s).to_dict() for s in w.subgraphs])
        self.assertEqual(self.mapper.estimate_many([CONV])[0].to_dict(), self.mapper.estimate(CONV).to_dict())

    def test_threads_share_a_mapper(self):
        # estimate_many runs without the GIL; the mapper is immutable, so threads may share it
        w = hwcal.load_workload(os.path.join(SRC, "examples/workloads/mobilenet_v2_b1.json"))
        want = [e.to_dict() for e in self.mapper.estimate_many(w)]
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for got in pool.map(lambda _: [e.to_dict() for e in self.mapper.estimate_many(w)], range(8)):
                self.assertEqual(got, want)

    def test_modes(self):
        gpu = hwcal.load_profile(GPU_PROFILE)
        sg = hwcal.Subgraph("relu", elements=4096)
        device = hwcal.CalibratedMapper(gpu).estimate(sg)
        eager = hwcal.CalibratedMapper(gpu, mode="eager").estimate(sg)
        self.assertEqual(device.host_s, 0)
        self.assertGreater(eager.host_s, 0)
        self.assertGreaterEqual(eager.latency_s, device.latency_s)
        with self.assertRaises(ValueError):
            hwcal.CalibratedMapper(gpu, mode="graphs")

    def test_lookup_table(self):
        # the table lookup differs from the exact one between measured shapes only, and is asked for by name
        table = hwcal.CalibratedMapper(self.profile, lookup="table")
        w = hwcal.load_workload(os.path.join(SRC, "examples/workloads/resnet18_b1.json"))
        exact = [e.latency_s for e in self.mapper.estimate_many(w)]
        tabled = [e.latency_s for e in table.estimate_many(w)]
        self.assertEqual(len(exact), len(tabled))
        for a, b in zip(exact, tabled):
            self.assertGreater(b, 0)
            self.assertLess(abs(b / a - 1), 1.0)
        with self.assertRaises(ValueError):
            hwcal.CalibratedMapper(self.profile, lookup="grid")

    def test_roofline_baseline(self):
        e = self.mapper.roofline(CONV)
        self.assertEqual(e.interval, (e.latency_s, e.latency_s))


@unittest.skipUnless(CLI, "HWCAL_CLI (the hwcal executable) not set")
class PredictTest(unittest.TestCase):
    def test_same_document_as_the_cli(self):
        for profile_path in SHIPPED + [SMALL_PROFILE]:
            profile = hwcal.load_profile(profile_path)
            gpu = profile.target != "cpu"
            for workload_path in WORKLOADS:
                workload = hwcal.load_workload(workload_path)
                for mode, model in [("device", "calibrated"), ("device", "roofline")] + ([("eager", "calibrated")] if gpu else []):
                    with self.subTest(profile=profile_path, workload=workload_path, mode=mode, model=model):
                        want = cli_predict(profile_path, workload_path, "--mode", mode, "--model", model)
                        p = hwcal.predict(profile, workload, mode=mode, model=model)
                        got = p.to_dict()
                        # GPU profiles: the note says why this machine's GPUs cannot be listed, in the words of each
                        if gpu:
                            self.assertEqual(len(got.pop("notes")), len(want.pop("notes")))
                        self.assertEqual(got, want)
                        self.assertEqual(p.total_s, want["total_s"])
                        self.assertEqual([s.in_sequence_s for s in p.subgraphs], [s["in_sequence_s"] for s in want["subgraphs"]])

    def test_result(self):
        profile = hwcal.load_profile(CPU_PROFILE)
        p = hwcal.predict(profile, hwcal.load_workload(SMALL_WORKLOAD))
        self.assertEqual((p.workload, p.profile, p.model, p.mode, p.backend), ("small", CPU_PROFILE, "calibrated", "cpu", "torch"))
        self.assertEqual([s.name for s in p.subgraphs], ["stem", "pool", "act", "fc"])
        lo, hi = p.interval_s
        self.assertLessEqual(lo, p.total_s)
        self.assertLessEqual(p.total_s, hi)
        self.assertEqual(json.loads(p.to_json()), p.to_dict())
        s = p.subgraphs[0]
        self.assertEqual((s.op, s.latency_s, s.bound), ("conv2d", s.estimate.latency_s, s.estimate.bound))
        with open(SMALL_WORKLOAD, encoding="utf-8") as f:
            self.assertEqual(hwcal.predict(profile, json.load(f)).total_s, p.total_s)  # a dict workload
        with self.assertRaises(ValueError):
            hwcal.predict(profile, SMALL_WORKLOAD, model="magic")
        with self.assertRaises(TypeError):
            hwcal.predict(profile, SMALL_WORKLOAD)  # a path: load_workload() it

    def test_unused_fields_are_warnings(self):
        doc = {"hwcal_workload": 1, "subgraphs": [{"name": "a", "op": "relu", "elements": 64, "stirde": 2}]}
        p = hwcal.predict(hwcal.load_profile(CPU_PROFILE), doc)
        self.assertTrue(any("stirde" in w for w in p.warnings), p.warnings)


class AutoCalibrateTest(unittest.TestCase):
    def test_cached_after_the_first_call(self):
        with tempfile.TemporaryDirectory() as cache:
            seen = []
            first = hwcal.auto_calibrate(budget_s=1.0, ops=["relu"], threads=1, cache_dir=cache, gpus=[],
                                         progress=seen.append)
            self.assertFalse(first.from_cache)
            self.assertEqual(first.profile.target, "cpu")
            self.assertTrue(first.path.startswith(cache))
            self.assertEqual(first.profile.source, first.path)
            self.assertEqual(first.gpus, [])
            self.assertTrue(seen and {"stage", "label", "elapsed_s"} <= set(seen[0]))
            second = hwcal.auto_calibrate(budget_s=1.0, ops=["relu"], threads=1, cache_dir=cache, gpus=[])
            self.assertTrue(second.from_cache)
            self.assertEqual(second.profile.to_dict(), first.profile.to_dict())
            e = hwcal.CalibratedMapper(second.profile).estimate(hwcal.Subgraph("relu", elements=1 << 16))
            self.assertGreater(e.latency_s, 0)

    def test_callback_errors_propagate(self):
        def stop(_):
            raise KeyError("stop")
        with tempfile.TemporaryDirectory() as cache, self.assertRaises(KeyError):
            hwcal.auto_calibrate(budget_s=0.5, ops=["relu"], threads=1, cache_dir=cache, gpus=[], progress=stop)

    def test_gpus(self):
        # gpus=[0]: calibrated where the module has CUDA and sees a GPU; a failed
        # DeviceCalibration naming the reason where it has CUDA and no GPU; an error
        # where it was built without CUDA (never an empty result)
        with tempfile.TemporaryDirectory() as cache:
            if not hwcal.has_cuda:
                self.assertEqual(hwcal.cuda_device_count(), 0)
                with self.assertRaises(hwcal.UnavailableError) as cm:
                    hwcal.auto_calibrate(cpu=False, gpus=[0], cache_dir=cache)
                self.assertIn("without the CUDA backend", str(cm.exception))
                self.assertEqual(hwcal.auto_calibrate(cpu=False, cache_dir=cache).gpus, [])  # every visible GPU: none
                return
            r = hwcal.auto_calibrate(cpu=False, gpus=[0], ops=["relu"], device_budget_s=3.0, cache_dir=cache)
            self.assertIsNone(r.profile)
            self.assertEqual([g.device for g in r.gpus], ["cuda:0"])
            g = r.gpus[0]
            if hwcal.cuda_device_count() == 0:
                self.assertFalse(g.ok)
                self.assertIsNone(g.profile)
                self.assertTrue(g.error)
                return
            self.assertTrue(g.ok, g.error)
            self.assertEqual(g.profile.target, "cuda")
            self.assertTrue(g.path.startswith(cache))
            e = hwcal.CalibratedMapper(g.profile).estimate(hwcal.Subgraph("relu", elements=1 << 20))
            self.assertGreater(e.latency_s, 0)

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            hwcal.auto_calibrate(ops=["relu", "convolution"])
        with self.assertRaises(hwcal.UnavailableError):
            hwcal.auto_calibrate(backend="tpu", gpus=[])


if __name__ == "__main__":
    unittest.main()
