"""cytogate: exact, fast, declarative flow-cytometry gating.

The public API is imported lazily so that ``import cytogate`` stays cheap (the
command line starts fast and numba kernels compile only when first used).
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .errors import (
    BatchError,
    CompensationError,
    CytogateError,
    FcsError,
    GateError,
    MarkerError,
    ModelError,
    OutputError,
    SampleSheetError,
    StrategyError,
    TransformError,
)

# public name -> module that defines it
_LAZY = {
    "read_fcs": "cytogate.fcs",
    "write_fcs": "cytogate.fcs",
    "Sample": "cytogate.fcs",
    "Spillover": "cytogate.spillover",
    "load_strategy": "cytogate.strategy",
    "gate": "cytogate.engine",
}

__all__ = [
    "__version__",
    "BatchError",
    "CompensationError",
    "CytogateError",
    "FcsError",
    "GateError",
    "MarkerError",
    "ModelError",
    "OutputError",
    "SampleSheetError",
    "StrategyError",
    "TransformError",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cytogate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
