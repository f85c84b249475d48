"""hwcal for Python (docs/python.md).

    import hwcal, torch, torchvision
    profile = hwcal.load_profile("profiles/cpu/xeon-kvm-2vcpu-torch-t1.json")   # or hwcal.auto_calibrate().profile
    workload = hwcal.trace(torchvision.models.resnet18(), torch.randn(1, 3, 224, 224))
    print(hwcal.predict(profile, workload).total_s)                         # = `hwcal predict --json`'s total_s

- profiles, the calibrated mapper, workloads and predict: the compiled module
  `hwcal._hwcal` (pybind11, built by CMake), re-exported here;
- `hwcal.trace(model, example_inputs, fuse=False)`: a PyTorch model traced with
  torch.fx into a workload (python/hwcal/trace.py; also `python3 -m hwcal.trace`).

`import hwcal` imports neither torch nor the compiled module: measurement
scripts set thread variables before torch is imported, and the tracer works
where the module is not built (validation/). Each is imported on first use of
a name that needs it.
"""
from __future__ import annotations

import importlib

# Names of the compiled module, re-exported.
_NATIVE = (
    "__version__", "has_cuda", "cuda_device_count",
    "Error", "DocumentError", "UnavailableError",
    "Profile", "load_profile", "auto_calibrate", "AutoCalibration", "DeviceCalibration",
    "Subgraph", "Workload", "load_workload", "SequenceContext", "sequence_context",
    "Estimate", "CalibratedMapper",
    "predict", "Prediction", "SubgraphPrediction",
)

__all__ = list(_NATIVE) + ["trace"]


def _native():
    try:
        return importlib.import_module("._hwcal", __name__)
    except ImportError as e:
        raise ImportError(
            "hwcal's compiled module (hwcal._hwcal) is not importable: build it with CMake "
            "(pybind11-dev, python3-dev; -DHWCAL_PYTHON=ON) and put <build>/python on PYTHONPATH, "
            f"or install it ({e})") from e


def __getattr__(name):
    if name in _NATIVE:
        value = getattr(_native(), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name == "trace":
        # The tracer module, callable as hwcal.trace(model, example_inputs)
        # (importing it makes it this package's attribute `trace`).
        return importlib.import_module(".trace", __name__)
    raise AttributeError(f"module 'hwcal' has no attribute '{name}'")


def __dir__():
    return sorted(set(globals()) | set(__all__))
