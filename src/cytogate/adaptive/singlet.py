"""Singlet gate on area versus height: a robust band of the area/height ratio.

A single cell passing the laser gives a pulse whose area is proportional to its
height; two cells stuck together give a wider pulse, so a larger area for the
same height.  The ratio ``area / height`` of singlets therefore clusters tightly;
its median and MAD (scaled to a normal SD) are robust to the doublet minority,
and events with ratio in ``median +- k * MAD`` are singlets.  The static gate
that results is the wedge polygon between the lines ``height = area / r_high``
and ``height = area / r_low``, so it runs through the ordinary polygon kernel
and can be exported.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..errors import GateError
from ._fit import AdaptiveFit, FitFailed, check_bounds
from .order import median

__all__ = ["singlet_band", "wedge_vertices"]

_MAD_TO_SD = 1.4826


@njit(cache=True, nogil=True)
def _ratios(a: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, float, int]:
    """``a/h`` of the events with finite, positive area and height, their largest area, and their number."""
    out = np.empty(a.size, dtype=np.float64)
    n = 0
    top = -np.inf
    for i in range(a.size):
        x, y = a[i], h[i]
        if np.isfinite(x) and np.isfinite(y) and x > 0 and y > 0:
            out[n] = x / y
            n += 1
            if x > top:
                top = x
    return out[:n], top, n


def wedge_vertices(ratio_low: float, ratio_high: float, area_max: float) -> list[list[float]]:
    """Polygon (area, height) of the band ``ratio_low <= area/height <= ratio_high``.

    Parameters
    ----------
    ratio_low, ratio_high : float
        Band of ``area / height`` (0 < low < high).
    area_max : float
        Largest area the wedge must cover.

    Returns
    -------
    list of [area, height], length 3
        Apex at the origin, then the two far corners.
    """
    return [[0.0, 0.0], [area_max, area_max / ratio_high], [area_max, area_max / ratio_low]]


def singlet_band(
    area: np.ndarray,
    height: np.ndarray,
    *,
    k: float = 4.0,
    bounds: tuple[float, float] | None = None,
    fallback: tuple[float, float] | None = None,
    min_events: int = 50,
    what: str = "singlet",
) -> AdaptiveFit:
    """Fit the singlet band of ``area / height``.

    Parameters
    ----------
    area, height : (n_events,) arrays
        Pulse area and height in linear units; events with a non-finite or
        non-positive value are ignored by the fit.
    k : float
        Half-width of the band in robust SDs.
    bounds : (low, high), optional
        The fitted median ratio must lie inside these, else the fallback is used.
    fallback : (ratio_low, ratio_high), optional
        Band used when fitting fails.
    min_events, what
        As in :func:`cytogate.adaptive.density_valley`.

    Returns
    -------
    AdaptiveFit
        ``params``: ``ratio_low``, ``ratio_high``, ``area_max`` and the wedge ``vertices``.
    """
    a = np.asarray(area, dtype=np.float64)
    h = np.asarray(height, dtype=np.float64)
    if a.shape != h.shape or a.ndim != 1:
        raise GateError(f"{what}: area and height must be 1-D arrays of one length, got {a.shape} and {h.shape}")
    if not k > 0:
        raise GateError(f"{what}: k must be positive, got {k}")
    low, high = check_bounds(bounds, what=what)
    ratio, top, n_ok = _ratios(np.ascontiguousarray(a), np.ascontiguousarray(h))  # one pass over the events
    area_max = float(top) * 2.0 if n_ok else 1.0
    try:
        if n_ok < min_events:
            raise FitFailed(f"only {n_ok} events with positive area and height (< {min_events})")
        centre = median(ratio)  # np.median, without partitioning a copy
        spread = _MAD_TO_SD * median(np.abs(ratio - centre))
        if not spread > 0:
            raise FitFailed("area/height ratio has zero spread")
        if not low <= centre <= high:
            raise FitFailed(f"median area/height {centre:.4g} outside bounds [{low:.4g}, {high:.4g}]")
        r_low, r_high = max(centre - k * spread, 1e-12), centre + k * spread
    except FitFailed as error:
        if fallback is None:
            raise GateError(f"{what}: singlet fit failed ({error}) and no fallback is declared") from None
        r_low, r_high = (float(v) for v in fallback)
        if not 0 < r_low < r_high:
            raise GateError(f"{what}: fallback ratio band must satisfy 0 < low < high, got {fallback}") from None
        return AdaptiveFit(
            method="singlet",
            params={
                "ratio_low": r_low,
                "ratio_high": r_high,
                "area_max": area_max,
                "vertices": wedge_vertices(r_low, r_high, area_max),
            },
            used_fallback=True,
            reason=str(error),
            n_events=n_ok,
        )
    return AdaptiveFit(
        method="singlet",
        params={
            "ratio_low": r_low,
            "ratio_high": r_high,
            "area_max": area_max,
            "vertices": wedge_vertices(r_low, r_high, area_max),
        },
        n_events=n_ok,
        diagnostics={"median_ratio": centre, "robust_sd": spread},
    )
