"""cytogate: exact, fast, declarative flow-cytometry gating.

The public API is imported lazily so that ``import cytogate`` stays cheap (the
command line starts fast and numba kernels compile only when first used).
"""

from __future__ import annotations

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
from .lazy import lazy_attributes

# public name -> module that defines it
_LAZY = {
    "read_fcs": "cytogate.fcs",
    "write_fcs": "cytogate.fcs",
    "Sample": "cytogate.fcs",
    "Spillover": "cytogate.compensation",
    "load_strategy": "cytogate.strategy",
    "save_strategy": "cytogate.strategy",
    "describe": "cytogate.fcs",
    "gate": "cytogate.engine",
    "check_against": "cytogate.check",
    "check_document": "cytogate.check",
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


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
