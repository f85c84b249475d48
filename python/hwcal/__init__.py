"""hwcal's Python side.

- `hwcal.trace`: trace a PyTorch model with torch.fx and turn it into an hwcal
  workload (format v1, docs/workload.md). Imports torch.

This package imports nothing heavy on its own: measurement scripts set thread
environment variables before torch is imported, so `import hwcal` must not
import torch. The compiled bindings (`hwcal._hwcal`, a pybind module still to
come) are loaded on demand by `native()`.
"""
from __future__ import annotations

__all__ = ["native"]


def native():
    """The compiled module `hwcal._hwcal`, or None when it is not built (the
    tracer and the validation scripts do not need it)."""
    try:
        from . import _hwcal  # noqa: PLC0415 (optional, built separately)
    except ImportError:
        return None
    return _hwcal
