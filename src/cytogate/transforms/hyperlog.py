"""Hyperlog (Bagwell 2005), parameterised as Gating-ML 2.0 ``hyperlog``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ._biexp import BiexpCore, core_for
from .base import Transform, register

__all__ = ["HyperlogTransform"]


@register
@dataclass(frozen=True)
class HyperlogTransform(Transform):
    """Gating-ML 2.0 hyperlog: ``y = root(EH(y, T, W, M, A) - x)``.

    ``EH(y) = a*e^(b*y) + c*y - f`` for ``y >= x1`` and ``-EH(2*x1 - y)`` below, with
    ``w = W/(M+A)``, ``x2 = A/(M+A)``, ``x1 = x2 + w``, ``x0 = x2 + 2w``,
    ``b = (M+A) ln 10``, ``c/a = e^(b*x0)/w``, ``f/a = e^(b*x1) + (c/a)*x1`` and
    ``a = T / (e^b + c/a - f/a)``.  ``T`` maps to 1 and 0 to ``x1``.

    Parameters
    ----------
    t : float
        Top of scale, > 0.
    w : float
        Decades of the near-linear region, ``0 < W <= M/2``.
    m : float
        Decades of the full scale, > 0.
    a : float
        Additional negative decades, ``-W <= A <= M - 2W``.
    """

    kind = "hyperlog"

    t: float = 262144.0
    w: float = 0.5
    m: float = 4.5
    a: float = 0.0

    def __post_init__(self) -> None:
        self._check_params(
            **{
                "T > 0": self.t > 0,
                "M > 0": self.m > 0,
                "0 < W <= M/2": 0 < self.w <= self.m / 2,
                "-W <= A <= M - 2W": -self.w <= self.a <= self.m - 2 * self.w,
            }
        )

    @cached_property
    def _core(self) -> BiexpCore:
        total = self.m + self.a
        w = self.w / total
        x2 = self.a / total
        x1 = x2 + w
        x0 = x2 + 2 * w
        b = total * math.log(10.0)
        c_over_a = math.exp(b * x0) / w
        f_over_a = math.exp(b * x1) + c_over_a * x1
        a = self.t / (math.exp(b) + c_over_a - f_over_a)
        # EH around x1: a*e^(b*x1)*expm1(b*delta) + c*delta (the constant cancels exactly)
        return core_for(x1=x1, p=a * math.exp(b * x1), q=0.0, b=b, d=0.0, lin=a * c_over_a)

    def _forward_into(self, x: np.ndarray, out: np.ndarray) -> None:
        self._core.forward_into(x, out)

    def _inverse_into(self, y: np.ndarray, out: np.ndarray) -> None:
        self._core.inverse_into(y, out)
