"""The one exception and warning hierarchy of cytogate, and the exit code of each error.

Every error a user can cause derives from :class:`CytogateError` and also from
the builtin it resembles, so ``except ValueError`` keeps working for callers
that do not know cytogate.  Messages name the file, the byte offset or YAML
line, and the population path where these are known; the command line prints
``str(error)`` as its one-line message and exits with the error's
``exit_code`` (:func:`exit_code_of` is the one place that maps exceptions to
codes)::

    CytogateError                     exit 2: bad input or usage
    ├── FcsError (ValueError)            an FCS file cannot be read
    ├── StrategyError (ValueError)       a strategy or workspace is malformed
    │   └── MarkerError (LookupError)    a channel or marker is missing or ambiguous
    ├── CompensationError (ValueError)   a matrix is malformed, singular, or names absent detectors
    ├── TransformError (ValueError)      transform parameters out of range
    ├── GateError (ValueError)           a geometrically invalid gate
    ├── SampleSheetError (ValueError)    a malformed sample sheet
    ├── BatchError (RuntimeError)        a batch cannot start as asked (no inputs, clashing names)
    ├── ModelError (ValueError)          a statistical model cannot be fitted
    ├── SynthError (ValueError)          bad synthetic-data parameters
    └── EnvironmentFailure (OSError)  exit 4: the machine, not the input
        ├── OutputError                  full disk, read-only or unwritable folder
        └── FolderInUseError             another run holds the output folder's lock

    exit 0 success; 1 internal error (a bug); 3 a batch finished but some inputs
    failed (listed in failures.csv); 130 interrupted.
"""

from __future__ import annotations

import errno
from os import PathLike
from typing import Any, ClassVar

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_ENVIRONMENT",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "exit_code_of",
    "CytogateError",
    "EnvironmentFailure",
    "FolderInUseError",
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


EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_PARTIAL = 3
EXIT_ENVIRONMENT = 4
EXIT_INTERRUPTED = 130

# errno values that mean the machine refused, whatever the input was
_ENVIRONMENT_ERRNOS = frozenset({
    errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.ENOMEM, errno.EMFILE, errno.ENFILE, errno.EIO,
})


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

    exit_code: ClassVar[int] = EXIT_BAD_INPUT

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
    """A batch run cannot start as asked (no inputs, clashing sample names, a file changing mid-read)."""


class EnvironmentFailure(CytogateError, OSError):
    """The machine, not the input, stopped the work: disk full, folder read-only or locked, service unreachable.

    Running again once the cause is fixed gives the result; exit code 4.
    """

    exit_code: ClassVar[int] = EXIT_ENVIRONMENT


class OutputError(EnvironmentFailure):
    """An output cannot be written (full disk, permissions); earlier results are intact."""


class FolderInUseError(EnvironmentFailure, BatchError):
    """Another cytogate run holds the output folder's lock."""


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


def exit_code_of(exc: BaseException) -> int:
    """The command line's exit code for an exception that ended a command.

    cytogate's own errors carry theirs; an ``OSError`` whose errno means the
    machine refused (no space, read-only file system, out of memory, I/O error)
    is an environment failure; a missing or unreadable input is bad input;
    anything else is an internal error.
    """
    if isinstance(exc, CytogateError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, MemoryError):
        return EXIT_ENVIRONMENT
    if isinstance(exc, OSError):
        if exc.errno in _ENVIRONMENT_ERRNOS:
            return EXIT_ENVIRONMENT
        if isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)):
            return EXIT_BAD_INPUT
    return EXIT_INTERNAL
