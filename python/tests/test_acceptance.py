"""Issue 14's acceptance: hwcal.trace(torchvision.models.resnet18(), torch.randn(1, 3, 224, 224))
gives a workload, and hwcal.predict(hwcal.load_profile(p), hwcal.load_workload(w)).total_s equals
`hwcal predict --json`'s total_s for the same files, for every shipped profile (and both modes of
the GPU one). Exit 77 (skipped) without torch and torchvision or without the CLI."""
import glob
import json
import os
import subprocess
import sys
import tempfile
import unittest

try:
    import torch
    import torchvision
except ImportError as e:
    print(f"skipped: {e}")
    sys.exit(77)

import hwcal
from hwcal.trace import workload_text

SRC = os.environ.get("HWCAL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.environ.get("HWCAL_CLI")
if not CLI:
    print("skipped: HWCAL_CLI (the hwcal executable) not set")
    sys.exit(77)
PROFILES = sorted(glob.glob(os.path.join(SRC, "profiles/cpu/*.json")) + glob.glob(os.path.join(SRC, "profiles/gpu/*.json")))


class AcceptanceTest(unittest.TestCase):
    def test_resnet18_python_equals_cli(self):
        workload = hwcal.trace(torchvision.models.resnet18(), torch.randn(1, 3, 224, 224))
        self.assertEqual(workload["hwcal_workload"], 1)
        self.assertEqual(workload["unmapped"], [])
        with tempfile.TemporaryDirectory() as d:
            w = os.path.join(d, "resnet18.json")
            with open(w, "w", encoding="utf-8") as f:
                f.write(workload_text(workload))
            for p in PROFILES:
                modes = ["device", "eager"] if hwcal.load_profile(p).target != "cpu" else ["device"]
                for mode in modes:
                    with self.subTest(profile=os.path.basename(p), mode=mode):
                        cli = subprocess.run([CLI, "predict", "--profile", p, "--workload", w, "--json", "--mode", mode],
                                             check=True, capture_output=True, text=True)
                        want = json.loads(cli.stdout)["total_s"]
                        got = hwcal.predict(hwcal.load_profile(p), hwcal.load_workload(w), mode=mode).total_s
                        self.assertGreater(got, 0)
                        self.assertEqual(got, want)  # the same C++ function: equal, not close
                        self.assertEqual(hwcal.predict(hwcal.load_profile(p), workload, mode=mode).total_s, want)


if __name__ == "__main__":
    unittest.main()
