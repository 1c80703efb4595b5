"""Gating-ML 2.0 ``fasinh``: the inverse hyperbolic sine scale."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._simple import asinh_into, sinh_into
from .base import Transform, register

__all__ = ["AsinhTransform"]


@register
@dataclass(frozen=True)
class AsinhTransform(Transform):
    """``fasinh``: ``y = (asinh(x*sinh(M ln10)/T) + A ln10) / ((M + A) ln10)``.

    Equals logicle with ``W = 0``.  ``T`` maps to 1; defined for every real ``x``.

    Parameters
    ----------
    t : float
        Top of scale, > 0.
    m : float
        Decades of the positive scale, > 0.
    a : float
        Additional negative decades, ``0 <= A <= M``.
    """

    kind = "fasinh"

    t: float = 262144.0
    m: float = 4.5
    a: float = 0.0

    def __post_init__(self) -> None:
        self._check_params(**{"T > 0": self.t > 0, "M > 0": self.m > 0, "0 <= A <= M": 0 <= self.a <= self.m})

    def _constants(self) -> tuple[float, float, float]:
        ln10 = math.log(10.0)
        return math.sinh(self.m * ln10) / self.t, self.a * ln10, 1.0 / ((self.m + self.a) * ln10)

    def _forward_into(self, x: np.ndarray, out: np.ndarray) -> None:
        k, shift, scale = self._constants()
        asinh_into(x, out, k, shift, scale)

    def _inverse_into(self, y: np.ndarray, out: np.ndarray) -> None:
        k, shift, scale = self._constants()
        sinh_into(y, out, k, shift, 1.0 / scale)
