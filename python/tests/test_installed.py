"""The package as installed (`cmake --install ... --component python`): imported
from the prefix alone, the compiled module loads and predicts, and (with torch) the
tracer traces.
Arguments: the installed package's parent directory, a profile, a workload."""
import os
import sys

site, profile, workload = sys.argv[1:4]
sys.path.insert(0, site)
import hwcal  # noqa: E402

assert os.path.realpath(hwcal.__file__).startswith(os.path.realpath(site)), hwcal.__file__
assert os.path.isfile(os.path.join(site, "hwcal", "trace.py")), "the tracer is installed too"
p = hwcal.predict(hwcal.load_profile(profile), hwcal.load_workload(workload))
assert p.total_s > 0 and len(p.subgraphs) > 0
print(f"installed hwcal {hwcal.__version__} from {site}: {p.workload} {p.total_s * 1e3:.3f} ms")

try:
    import torch
except ImportError:
    print("torch not importable: the installed tracer not tried")
else:  # the installed tracer, on a small model
    doc = hwcal.trace(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU()),
                      torch.randn(1, 3, 32, 32), fuse=True)
    assert [(s["op"], s["fused"]) for s in doc["subgraphs"]] == [("conv2d", ["batchnorm", "relu"])], doc["subgraphs"]
    assert hwcal.predict(hwcal.load_profile(profile), doc).total_s > 0
    print("installed tracer: Conv+BN+ReLU traced and predicted")
