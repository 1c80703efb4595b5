"""Density images of a population's events on a gate's axes.

Reference and target share one grid per axis: the span holding the bulk of
both samples' events (so a drifted population stays on the grid).  Counts are
smoothed by one cell, scaled to mean 1 and log-compressed, so a dense cluster
does not drown the sparse structure the registration also has to match, and
a population whose share changed still looks like the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

__all__ = ["Axis", "bulk_bounds", "common_axis", "density_1d", "density_2d", "finite_rows", "stride_rows"]

# Quantiles that bound an axis: the bulk of the events, not their outliers.
_LOW_Q, _HIGH_Q = 0.002, 0.998
_PAD = 0.08  # margin on each side, as a fraction of the span


@dataclass(frozen=True)
class Axis:
    """``bins`` equal cells over ``[lo, hi)``; cell ``i`` is centred on pixel coordinate ``i``."""

    lo: float
    hi: float
    bins: int

    @property
    def width(self) -> float:
        return (self.hi - self.lo) / self.bins

    def to_pixel(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - self.lo) / self.width - 0.5

    def to_value(self, pixels: np.ndarray) -> np.ndarray:
        return (np.asarray(pixels, dtype=np.float64) + 0.5) * self.width + self.lo


def finite_rows(values: np.ndarray) -> np.ndarray:
    """Columns of a ``(n_dims, m)`` array where every dimension is finite."""
    return values[:, np.all(np.isfinite(values), axis=0)]


def stride_rows(values: np.ndarray, max_events: int) -> np.ndarray:
    """At most ``max_events`` columns, a deterministic even stride through all of them."""
    m = values.shape[1]
    if m <= max_events:
        return values
    return values[:, np.linspace(0, m - 1, max_events).astype(np.int64)]


def bulk_bounds(values: np.ndarray) -> tuple[float, float] | None:
    """Where the bulk of one axis's values lies (None when there are none).

    The reference's are computed once per run and reused for every target.
    """
    if not values.size:
        return None
    lo, hi = np.quantile(values, (_LOW_Q, _HIGH_Q))
    return float(lo), float(hi)


def common_axis(reference: tuple[float, float] | None, target: tuple[float, float] | None, bins: int) -> Axis:
    """The grid of one axis covering the bulk (:func:`bulk_bounds`) of both samples' values."""
    bounds = [b for b in (reference, target) if b is not None]
    lo = min(b[0] for b in bounds)
    hi = max(b[1] for b in bounds)
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * _PAD
    return Axis(lo - pad, hi + pad, bins)


def _scaled(counts: np.ndarray, sigma: float) -> np.ndarray:
    smooth = gaussian_filter(counts.astype(np.float64), sigma, mode="constant")
    total = smooth.sum()
    if total > 0:
        smooth *= smooth.size / total
    return np.log1p(smooth)


def _cells(values: np.ndarray, axis: Axis) -> np.ndarray:
    cell = np.floor((values - axis.lo) / axis.width).astype(np.int64)
    return np.clip(cell, -1, axis.bins)  # -1 and bins: off the grid, dropped by the caller


def density_1d(values: np.ndarray, axis: Axis) -> np.ndarray:
    cell = _cells(values, axis)
    cell = cell[(cell >= 0) & (cell < axis.bins)]
    return _scaled(np.bincount(cell, minlength=axis.bins), 1.5)


def density_2d(values: np.ndarray, x: Axis, y: Axis) -> np.ndarray:
    """``(y.bins, x.bins)`` image: row = y cell, column = x cell (the image convention)."""
    cx, cy = _cells(values[0], x), _cells(values[1], y)
    keep = (cx >= 0) & (cx < x.bins) & (cy >= 0) & (cy < y.bins)
    flat = np.bincount(cy[keep] * x.bins + cx[keep], minlength=x.bins * y.bins)
    return _scaled(flat.reshape(y.bins, x.bins), 1.0)
