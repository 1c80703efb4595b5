"""FlowJo's own scales: ``biex`` (its logicle variant on display channels) and ``log``.

FlowJo describes biex by ``width`` (a negative "width basis"), ``neg`` and
``pos`` decades, ``maxRange`` and a channel count (4096), and evaluates it as a
table of raw values at integer channels.  That table is a logicle-type scale
with two FlowJo-specific twists, both reproduced here exactly:

1. the zero point is rounded down to an integer channel ``z``, and the total
   decades are re-derived from it: ``D = (neg + W) * N / z`` with
   ``W = log10(-width)/2`` and ``N`` channels (``z`` never above ``N/2``);
2. channel ``j`` sits at ``u = j/(N + 1)`` on the biexponential, whose scale
   spans ``D`` decades over ``u`` in [0, 1]: raw(u) = m*(e^(b*u) - s*e^(-d*u)) - K
   for ``u >= u_z``, point-symmetric below, with ``b = D ln 10``,
   ``m = maxRange*e^(-b)``, ``d`` the logicle root for ``w = W/D``,
   ``s = e^((b + d)*(w + (neg + W)/D))`` and ``K`` making ``raw(u_z) = 0``.

cytogate evaluates this function continuously (exact, not interpolated) and
reports ``y = j/N`` in [0, 1]; multiply by ``channel_range`` for FlowJo channels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ._biexp import BiexpCore, core_for, solve_logicle_d
from ..errors import TransformError
from ._simple import clamped_log_into, exp10_into
from .base import Transform, register

__all__ = ["FlowJoBiexTransform", "FlowJoLogTransform"]


@register
@dataclass(frozen=True)
class FlowJoBiexTransform(Transform):
    """FlowJo's biexponential display scale (``transforms:biex`` in a workspace).

    Parameters
    ----------
    width : float
        FlowJo width basis, <= -1 (e.g. -10); more negative = wider linear region.
    negative : float
        Extra negative decades, >= 0.
    positive : float
        Positive decades, > 0.
    max_value : float
        Raw value at the top of the scale (FlowJo ``maxRange``), > 0.
    channel_range : float
        Number of display channels (FlowJo uses 4096), an integer >= 2.
    """

    kind = "flowjo_biex"

    width: float = -10.0
    negative: float = 0.0
    positive: float = 4.418540
    max_value: float = 262144.0
    channel_range: float = 4096.0

    def __post_init__(self) -> None:
        self._check_params(
            **{
                "width <= -1": self.width <= -1,
                "negative >= 0": self.negative >= 0,
                "positive > log10(-width)/2": self.positive > math.log10(max(-self.width, 1.0)) / 2,
                "max_value > 0": self.max_value > 0,
                "channel_range an integer >= 2": self.channel_range >= 2
                and float(self.channel_range).is_integer(),
            }
        )

    @classmethod
    def from_flowjo_attributes(cls, attributes: Mapping[str, str | float]) -> FlowJoBiexTransform:
        """From the attributes of a workspace ``<transforms:biex>`` element.

        Parameters
        ----------
        attributes : mapping
            ``width``, ``neg``, ``pos`` and ``maxRange`` (namespace prefixes such as
            ``transforms:`` are ignored); ``length`` is FlowJo's display resolution
            and does not change the scale.
        """
        plain = {str(k).rsplit(":", 1)[-1]: v for k, v in attributes.items()}
        try:
            return cls(
                width=float(plain.get("width", -10.0)),
                negative=float(plain.get("neg", 0.0)),
                positive=float(plain.get("pos", 4.418540)),
                max_value=float(plain.get("maxRange", 262144.0)),
            )
        except (TypeError, ValueError):
            raise TransformError(f"flowjo_biex: non-numeric workspace attributes {dict(plain)!r}") from None

    @cached_property
    def zero_channel(self) -> int:
        """FlowJo's integer channel of raw zero."""
        return self._layout[0]

    @cached_property
    def _layout(self) -> tuple[int, float]:
        n = int(self.channel_range)
        half_width = math.log10(-self.width) / 2
        extra = self.negative + half_width
        decades = self.positive - half_width
        zero = min(math.floor(extra * n / (extra + decades)), n // 2)
        total = extra * n / zero if zero > 0 else decades
        return zero, total

    @cached_property
    def _core(self) -> BiexpCore:
        n = int(self.channel_range)
        zero, total = self._layout
        half_width = math.log10(-self.width) / 2
        w = half_width / total
        b = total * math.log(10.0)
        d = solve_logicle_d(b, w)
        m = self.max_value * math.exp(-b)
        s = math.exp((b + d) * (w + (self.negative + half_width) / total))
        u_zero = zero / (n + 1)
        # Core units are u = j/(N+1); the display value is y = j/N = u*(N+1)/N.
        return core_for(
            x1=u_zero,
            p=m * math.exp(b * u_zero),
            q=m * s * math.exp(-d * u_zero),
            b=b,
            d=d,
            lin=0.0,
            scale=(n + 1) / n,
        )

    def _forward_into(self, x: np.ndarray, out: np.ndarray) -> None:
        self._core.forward_into(x, out)

    def _inverse_into(self, y: np.ndarray, out: np.ndarray) -> None:
        self._core.inverse_into(y, out)


@register
@dataclass(frozen=True)
class FlowJoLogTransform(Transform):
    """FlowJo's log display scale: ``y = (log10(max(x, offset)) - log10(offset)) / decades``.

    Values at or below ``offset`` map to 0 (FlowJo piles them on the axis), so
    ``inverse`` returns ``offset`` for ``y = 0`` and cannot recover them.

    Parameters
    ----------
    offset : float
        Smallest raw value shown, > 0.
    decades : float
        Decades shown, > 0 (``offset * 10**decades`` maps to 1).
    """

    kind = "flowjo_log"

    offset: float = 1.0
    decades: float = 4.5

    def __post_init__(self) -> None:
        self._check_params(**{"offset > 0": self.offset > 0, "decades > 0": self.decades > 0})

    def _forward_into(self, x: np.ndarray, out: np.ndarray) -> None:
        clamped_log_into(x, out, self.offset, 1.0 / self.decades, -math.log10(self.offset) / self.decades)

    def _inverse_into(self, y: np.ndarray, out: np.ndarray) -> None:
        exp10_into(y, out, self.decades, 0.0, self.offset)
