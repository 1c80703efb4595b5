"""The spillover matrix: a square matrix with the detector names it applies to.

Rows are the source (the fluorochrome's primary detector), columns the detector
receiving the spill, as in FCS ``$SPILLOVER``; compensated = raw @ inv(matrix).
Readers (FCS keywords, CSV files, Gating-ML ``spectrumMatrix``) all produce this
one type; :mod:`cytogate.compensation` consumes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .errors import CompensationError

__all__ = ["Spillover"]


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
        """``inv(matrix)``, computed once; raises CompensationError when singular."""
        try:
            cond = np.linalg.cond(self.matrix)
            if not np.isfinite(cond) or cond > 1e12:
                raise np.linalg.LinAlgError("ill-conditioned")
            inv = np.linalg.inv(self.matrix)
        except np.linalg.LinAlgError:
            raise CompensationError(
                f"spillover matrix over {', '.join(self.channels)} is singular and cannot be inverted"
            ) from None
        inv.setflags(write=False)
        return inv

    @property
    def is_identity(self) -> bool:
        return bool(np.array_equal(self.matrix, np.eye(len(self.channels))))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Spillover):
            return NotImplemented
        return self.channels == other.channels and np.array_equal(self.matrix, other.matrix)

    def __hash__(self) -> int:
        return hash((self.channels, self.matrix.tobytes()))
