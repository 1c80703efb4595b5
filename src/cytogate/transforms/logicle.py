"""Logicle (Parks, Roederer & Moore 2006), parameterised as Gating-ML 2.0 ``logicle``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ._biexp import BiexpCore, core_for, solve_logicle_d
from .base import Transform, register

__all__ = ["LogicleTransform"]


@register
@dataclass(frozen=True)
class LogicleTransform(Transform):
    """Gating-ML 2.0 logicle: ``y = root(B(y, T, W, M, A) - x)``.

    ``B(y) = a*e^(b*y) - c*e^(-d*y) + f`` for ``y >= x1`` and ``-B(2*x1 - y)`` below,
    with ``w = W/(M+A)``, ``x2 = A/(M+A)``, ``x1 = x2 + w``, ``x0 = x2 + 2w``,
    ``b = (M+A) ln 10`` and ``d`` the root of ``2(ln d - ln b) + w(b + d) = 0``.
    ``T`` maps to 1 and 0 to ``x1``; negative data extend below ``x1``
    symmetrically, without bound.  Forward values are exact to < 1e-11 on the
    display scale (table + cubic Hermite piece; see :mod:`._biexp`).

    Parameters
    ----------
    t : float
        Top of scale, > 0.
    w : float
        Decades of the near-linear region, ``0 <= W <= M/2``.
    m : float
        Decades of the full scale, > 0.
    a : float
        Additional negative decades, ``-W <= A <= M - 2W``.
    """

    kind = "logicle"

    t: float = 262144.0
    w: float = 0.5
    m: float = 4.5
    a: float = 0.0

    def __post_init__(self) -> None:
        self._check_params(
            **{
                "T > 0": self.t > 0,
                "M > 0": self.m > 0,
                "0 <= W <= M/2": 0 <= self.w <= self.m / 2,
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
        d = solve_logicle_d(b, w)
        c_over_a = math.exp(x0 * (b + d))
        mf = math.exp(b * x1) - c_over_a * math.exp(-d * x1)
        a = self.t / ((math.exp(b) - mf) - c_over_a * math.exp(-d))
        # S(delta) around x1: P*expm1(b*delta) - Q*expm1(-d*delta), P, Q = a*e^(b*x1), c*e^(-d*x1)
        return core_for(x1=x1, p=a * math.exp(b * x1), q=a * c_over_a * math.exp(-d * x1), b=b, d=d, lin=0.0)

    def _forward_into(self, x: np.ndarray, out: np.ndarray) -> None:
        self._core.forward_into(x, out)

    def _inverse_into(self, y: np.ndarray, out: np.ndarray) -> None:
        self._core.inverse_into(y, out)
