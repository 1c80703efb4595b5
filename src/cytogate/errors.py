"""The one exception and warning hierarchy of cytogate.

Every error a user can cause derives from :class:`CytogateError` and also from
the builtin it resembles, so ``except ValueError`` keeps working for callers
that do not know cytogate.  Messages name the file, the byte offset or YAML
line, and the population path where these are known; the command line prints
``str(error)`` as its one-line message.
"""

from __future__ import annotations

from os import PathLike
from typing import Any

__all__ = [
    "CytogateError",
    "FcsError",
    "StrategyError",
    "MarkerError",
    "CompensationError",
    "TransformError",
    "GateError",
    "SampleSheetError",
    "BatchError",
    "OutputError",
    "ModelError",
    "SynthError",
    "CytogateWarning",
    "FcsWarning",
    "DataQualityWarning",
    "ConvergenceWarning",
]


def _where(path: str | None, **location: Any) -> tuple[str, str]:
    parts = [f"{key.replace('_', ' ')} {value}" for key, value in location.items() if value is not None]
    prefix = f"{path}: " if path is not None else ""
    return prefix, (f" ({', '.join(parts)})" if parts else "")


class CytogateError(Exception):
    """Base of every error cytogate raises on purpose.

    Parameters
    ----------
    message : str
        What is wrong, in one line.
    path : str or path-like, optional
        The file the problem is in; prefixed to the message.
    **location
        Further location facts (``offset=1234``, ``line=7``, ``population="/Cells"``),
        appended to the message as ``(offset 1234, line 7)``.
    """

    def __init__(self, message: str, *, path: str | PathLike[str] | None = None, **location: Any) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.location = {k: v for k, v in location.items() if v is not None}
        prefix, suffix = _where(self.path, **self.location)
        super().__init__(f"{prefix}{message}{suffix}")


class FcsError(CytogateError, ValueError):
    """An FCS file cannot be read: truncated, inconsistent or not FCS at all."""


class StrategyError(CytogateError, ValueError):
    """A gating strategy (YAML or Gating-ML) is malformed or inconsistent."""


class MarkerError(StrategyError, LookupError):
    """A marker or channel named by a strategy is missing or ambiguous in a file."""


class CompensationError(CytogateError, ValueError):
    """A spillover matrix is malformed, singular, or names channels a file lacks."""


class TransformError(CytogateError, ValueError):
    """Transform parameters are out of their valid domain."""


class GateError(CytogateError, ValueError):
    """A gate definition is geometrically invalid (e.g. a polygon with < 3 vertices)."""


class SampleSheetError(CytogateError, ValueError):
    """A sample sheet is malformed: missing columns, missing files, duplicates."""


class BatchError(CytogateError, RuntimeError):
    """A batch run cannot proceed (output folder locked, unwritable, ...)."""


class OutputError(CytogateError, OSError):
    """An output cannot be written (full disk, permissions); earlier results are intact."""


class ModelError(CytogateError, ValueError):
    """A statistical model cannot be specified or fitted on the given table."""


class SynthError(CytogateError, ValueError):
    """Invalid parameters for the synthetic-data generator (unknown panel, population, marker ...)."""


class CytogateWarning(UserWarning):
    """Base of every warning cytogate emits."""


class FcsWarning(CytogateWarning):
    """An FCS file deviates from the standard but could still be read."""


class DataQualityWarning(CytogateWarning):
    """Data are readable but questionable (empty parents, undefined % change, ...)."""


class ConvergenceWarning(CytogateWarning):
    """A model fit did not converge and a fallback was used."""
