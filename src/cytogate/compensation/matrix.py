"""Compensation matrices: the file's square spillover and a strategy's spectrum matrix.

:class:`Spillover` is a square matrix over named detectors, rows the source
(the fluorochrome's primary detector), columns the detector receiving the
spill, as in FCS ``$SPILLOVER``: compensated = raw @ inv(matrix).  Every reader
of a square matrix (FCS keywords, CSV/TSV and FlowJo files) produces it.
:class:`SpectrumMatrix` is a Gating-ML ``spectrumMatrix`` (fluorochromes x
detectors, possibly rectangular); a strategy's square matrices (YAML
``spillover:``, ``compensation: PATH.csv``) are spectrum matrices built from the
same numbers.  Both expose ``detectors``, ``fluorochromes``, ``unmixing`` and
``output_index`` so the engine treats them alike, and both invert through
:func:`checked_inverse`, the one place that decides a matrix is unusable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from typing import Any

import numpy as np

from ..errors import CompensationError

__all__ = ["MAX_CONDITION", "Spillover", "SpectrumMatrix", "checked_inverse"]

# Beyond this condition number the inverse amplifies rounding into the data more
# than any real spillover matrix does (real panels stay below about 1e3).
MAX_CONDITION = 1e12


def checked_inverse(matrix: np.ndarray, what: str) -> np.ndarray:
    """``inv(matrix)`` (pseudo-inverse when it has more columns than rows), read-only.

    Raises
    ------
    CompensationError
        The matrix is singular, ill-conditioned (condition number over
        :data:`MAX_CONDITION`) or of too low rank; the message names ``what``.
    """
    m = np.asarray(matrix, dtype=np.float64)
    try:
        cond = np.linalg.cond(m)
        if not np.isfinite(cond) or cond > MAX_CONDITION:
            raise np.linalg.LinAlgError("ill-conditioned")
        inv = np.linalg.inv(m) if m.shape[0] == m.shape[1] else np.linalg.pinv(m)
    except np.linalg.LinAlgError:
        raise CompensationError(f"{what} is singular and cannot be inverted") from None
    inv = np.ascontiguousarray(inv)
    inv.setflags(write=False)
    return inv


@dataclass(frozen=True, eq=False)
class Spillover:
    """A spillover matrix with its channel names.

    Parameters
    ----------
    matrix : (n, n) array of float
        Spillover coefficients; row i is the spill of channel i into every channel.
    channels : tuple of str, length n
        Detector names (``$PnN``) in matrix order.
    source : str
        Where it came from (``"$SPILLOVER"``, ``"SPILL"``, a file path, ...), for provenance.
    """

    matrix: np.ndarray
    channels: tuple[str, ...]
    source: str = ""

    def __post_init__(self) -> None:
        matrix = np.array(self.matrix, dtype=np.float64, copy=True)
        channels = tuple(str(c) for c in self.channels)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise CompensationError(
                f"spillover matrix from {self.source or 'input'} is {matrix.shape}, not square"
            )
        if matrix.shape[0] != len(channels):
            raise CompensationError(
                f"spillover matrix from {self.source or 'input'} has {matrix.shape[0]} rows "
                f"but {len(channels)} channel names: {', '.join(channels)}"
            )
        if len(set(channels)) != len(channels):
            raise CompensationError(f"spillover matrix names a channel twice: {', '.join(channels)}")
        if not np.all(np.isfinite(matrix)):
            raise CompensationError(f"spillover matrix from {self.source or 'input'} has non-finite entries")
        matrix.setflags(write=False)
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "channels", channels)

    @cached_property
    def inverse(self) -> np.ndarray:
        """``inv(matrix)``, computed once; raises CompensationError when singular or ill-conditioned."""
        return checked_inverse(self.matrix, f"spillover matrix over {', '.join(self.channels)}")

    # The interface shared with SpectrumMatrix: a square matrix over its own detectors.
    @property
    def detectors(self) -> tuple[str, ...]:
        return self.channels

    @property
    def fluorochromes(self) -> tuple[str, ...]:
        return self.channels

    @property
    def unmixing(self) -> np.ndarray:
        return self.inverse

    def output_index(self, name: str) -> int | None:
        """Column of the compensated output that detector ``name`` denotes."""
        return self.channels.index(name) if name in self.channels else None

    @property
    def is_identity(self) -> bool:
        return bool(np.array_equal(self.matrix, np.eye(len(self.channels))))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Spillover):
            return NotImplemented
        return self.channels == other.channels and np.array_equal(self.matrix, other.matrix)

    def __hash__(self) -> int:
        return hash((self.channels, self.matrix.tobytes()))


@dataclass(frozen=True, eq=False)
class SpectrumMatrix:
    """A Gating-ML ``spectrumMatrix``: rows are fluorochrome spectra over the detectors.

    ``compensated = raw[:, detectors] @ unmixing`` with ``unmixing = inv(matrix)``
    (pseudo-inverse when there are more detectors than fluorochromes).
    """

    id: str
    fluorochromes: tuple[str, ...]
    detectors: tuple[str, ...]
    matrix: np.ndarray
    inverted_already: bool = False
    unmixing: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        m = np.array(self.matrix, dtype=np.float64)
        fl, det = tuple(self.fluorochromes), tuple(self.detectors)
        if m.shape != (len(fl), len(det)):
            raise CompensationError(f"spectrumMatrix {self.id!r} is {m.shape} but names {len(fl)} fluorochromes "
                                f"and {len(det)} detectors")
        if len(fl) > len(det):
            raise CompensationError(f"spectrumMatrix {self.id!r} has more fluorochromes than detectors")
        if not np.all(np.isfinite(m)):
            raise CompensationError(f"spectrumMatrix {self.id!r} has non-finite coefficients")
        if self.inverted_already:
            unmix: np.ndarray = m.T if m.shape[0] != m.shape[1] else m
        else:
            if np.linalg.matrix_rank(m) < len(fl):
                raise CompensationError(f"spectrumMatrix {self.id!r} is singular and cannot be inverted")
            unmix = np.linalg.inv(m) if m.shape[0] == m.shape[1] else np.linalg.pinv(m)
        m.setflags(write=False)
        unmix = np.ascontiguousarray(unmix, dtype=np.float64)
        unmix.setflags(write=False)
        object.__setattr__(self, "fluorochromes", fl)
        object.__setattr__(self, "detectors", det)
        object.__setattr__(self, "matrix", m)
        object.__setattr__(self, "unmixing", unmix)

    def output_index(self, name: str) -> int | None:
        """Column of the compensated output that ``name`` (fluorochrome or detector) denotes."""
        if name in self.fluorochromes:
            return self.fluorochromes.index(name)
        if name in self.detectors and len(self.detectors) == len(self.fluorochromes):
            return self.detectors.index(name)
        return None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SpectrumMatrix):
            return NotImplemented
        return (self.id, self.fluorochromes, self.detectors, self.inverted_already) == (
            other.id, other.fluorochromes, other.detectors, other.inverted_already
        ) and np.array_equal(self.matrix, other.matrix)

    def __hash__(self) -> int:
        return hash((self.id, self.fluorochromes, self.detectors, self.matrix.tobytes()))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "fluorochromes": list(self.fluorochromes), "detectors": list(self.detectors),
                "matrix": self.matrix.tolist(), "inverted_already": self.inverted_already}
