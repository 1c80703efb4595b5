"""Gating-ML 2.0 ``flin``: a linear map of ``[-A, T]`` onto ``[0, 1]``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._simple import affine_into
from .base import Transform, register

__all__ = ["LinearTransform"]


@register
@dataclass(frozen=True)
class LinearTransform(Transform):
    """``flin``: ``y = (x + A) / (T + A)``, defined for every real ``x``.

    Parameters
    ----------
    t : float
        Top of scale, > 0.
    a : float
        Bottom of scale is ``-A``; ``0 <= A <= T``.
    """

    kind = "flin"

    t: float = 262144.0
    a: float = 0.0

    def __post_init__(self) -> None:
        self._check_params(**{"T > 0": self.t > 0, "0 <= A <= T": 0 <= self.a <= self.t})

    def _forward_into(self, x: np.ndarray, out: np.ndarray) -> None:
        affine_into(x, out, shift=self.a, divisor=self.t + self.a)

    def _inverse_into(self, y: np.ndarray, out: np.ndarray) -> None:
        affine_into(y, out, scale=self.t + self.a, post=-self.a)
