"""Gating-ML 2.0 ``flog``: ``M`` decades below ``T`` mapped onto ``[0, 1]``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._simple import exp10_into, log_into
from .base import Transform, register

__all__ = ["LogTransform"]


@register
@dataclass(frozen=True)
class LogTransform(Transform):
    """``flog``: ``y = log10(x/T)/M + 1``.

    Undefined for ``x <= 0`` in Gating-ML: cytogate returns NaN for ``x < 0`` and
    ``-inf`` for ``x == 0`` (so such events fall outside every bounded gate),
    without warnings.

    Parameters
    ----------
    t : float
        Top of scale (maps to 1), > 0.
    m : float
        Decades of the scale, > 0.
    """

    kind = "flog"

    t: float = 262144.0
    m: float = 4.5

    def __post_init__(self) -> None:
        self._check_params(**{"T > 0": self.t > 0, "M > 0": self.m > 0})

    def _forward_into(self, x: np.ndarray, out: np.ndarray) -> None:
        log_into(x, out, 1.0 / self.m, 1.0 - math.log10(self.t) / self.m)

    def _inverse_into(self, y: np.ndarray, out: np.ndarray) -> None:
        exp10_into(y, out, self.m, -self.m, self.t)
