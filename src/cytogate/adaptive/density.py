"""One-dimensional thresholds found in the data: density valley, tail, quantile.

All three work on one marker's values (already compensated and transformed,
so a threshold is in the same units as a static gate on that axis) and return
an :class:`~cytogate.adaptive.AdaptiveFit` whose ``params["threshold"]`` is the
cut.  Each takes ``bounds``: the fitted cut must lie inside them, otherwise the
``fallback`` is used (and recorded), so a bad file can never move a gate to an
absurd place silently.  Without a fallback, a failed fit raises
:class:`~cytogate.errors.GateError`.

The density is a Gaussian kernel estimate computed on a fine binned grid
(histogram convolved with the kernel), which is exact up to the bin width and
costs O(n) for any number of events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve, find_peaks

from ..errors import GateError
from ._fit import AdaptiveFit, FitFailed, check_bounds, finite_values

__all__ = ["Density", "kde", "density_valley", "tail_threshold", "quantile_threshold"]

_GRID = 1024
_PROBE = 200_000


@dataclass(frozen=True)
class Density:
    """A kernel density estimate on an even grid.

    Parameters
    ----------
    grid : (n_grid,) array
        Evaluation points, evenly spaced.
    density : (n_grid,) array
        Estimated density at ``grid`` (integrates to about 1).
    bandwidth : float
        Kernel standard deviation used.
    """

    grid: np.ndarray
    density: np.ndarray
    bandwidth: float


def kde(values: np.ndarray, *, adjust: float = 1.0, n_grid: int = _GRID) -> Density:
    """Binned Gaussian kernel density estimate of finite 1-D values.

    The bandwidth is Silverman's rule of thumb times ``adjust``; the grid spans
    the 0.05th to 99.95th percentiles plus three bandwidths, so a few extreme
    events cannot stretch it.

    Parameters
    ----------
    values : (n_events,) array of float
        Finite values (at least 2 distinct).
    adjust : float
        Multiplier of the rule-of-thumb bandwidth (larger = smoother).
    n_grid : int
        Number of grid points.
    """
    n = values.size
    # grid range and spread need only a few hundred thousand values (an even stride keeps it deterministic)
    probe = values[:: max(1, n // _PROBE)]
    low_q, q25, q75, high_q = np.percentile(probe, [0.05, 25.0, 75.0, 99.95])
    spread = min(float(np.std(probe)), float(q75 - q25) / 1.349)
    if not spread > 0:
        spread = float(np.std(values))
    if not spread > 0:
        raise FitFailed("all values are equal")
    bandwidth = adjust * 0.9 * spread * n ** (-0.2)
    low, high = low_q - 3 * bandwidth, high_q + 3 * bandwidth
    # uniform bins given as (count, range) take numpy's O(n) path, no sorting
    counts, edges = np.histogram(values, bins=n_grid, range=(low, high))
    step = edges[1] - edges[0]
    half = int(np.ceil(4 * bandwidth / step))
    offsets = np.arange(-half, half + 1) * step
    kernel = np.exp(-0.5 * (offsets / bandwidth) ** 2)
    kernel /= kernel.sum()
    density = np.clip(fftconvolve(counts.astype(np.float64), kernel, mode="same"), 0.0, None)
    density /= max(n * step, 1e-300)
    grid = 0.5 * (edges[:-1] + edges[1:])
    return Density(grid=grid, density=density, bandwidth=float(bandwidth))


def _with_fallback(method: str, fallback: float | None, n: int, error: FitFailed, what: str) -> AdaptiveFit:
    if fallback is None:
        raise GateError(f"{what}: {method} fit failed ({error}) and no fallback is declared")
    return AdaptiveFit(
        method=method,
        params={"threshold": float(fallback)},
        used_fallback=True,
        reason=str(error),
        n_events=n,
    )


def density_valley(
    values: np.ndarray,
    *,
    bounds: tuple[float, float] | None = None,
    fallback: float | None = None,
    adjust: float = 1.5,
    min_prominence: float = 0.02,
    min_events: int = 50,
    what: str = "density_valley",
) -> AdaptiveFit:
    """Threshold at the deepest density valley between the two highest modes.

    The idea of openCyto's *mindensity*: estimate the density, find its modes
    (peaks whose prominence is below ``min_prominence`` times the highest
    density are noise) and cut at the lowest density between the two highest
    modes.  With ``bounds``, the cut is the lowest density inside the bounds
    that lies between two modes (any modes), so a small population next to two
    large ones can be separated by bounding the search to its side.

    Parameters
    ----------
    values : (n_events,) array
        One marker's values; NaN and infinities are ignored.
    bounds : (low, high), optional
        The cut must lie in ``[low, high]``.
    fallback : float, optional
        Cut used when fewer than ``min_events`` finite events, fewer than two
        modes, or no valley inside ``bounds``.
    adjust : float
        Bandwidth multiplier (see :func:`kde`).
    min_prominence : float
        Minimal peak prominence as a fraction of the highest density.
    min_events : int
        Fewer finite events than this use the fallback.
    what : str
        Name for messages (e.g. the population path).

    Returns
    -------
    AdaptiveFit
        ``params["threshold"]``; diagnostics hold the two peak positions and bandwidth.
    """
    x = finite_values(values, what=what)
    low, high = check_bounds(bounds, what=what)
    try:
        if x.size < min_events:
            raise FitFailed(f"only {x.size} events (< {min_events})")
        est = kde(x, adjust=adjust)
        peaks, _ = find_peaks(
            np.concatenate(([0.0], est.density, [0.0])), prominence=min_prominence * est.density.max()
        )
        peaks = peaks - 1
        if peaks.size < 2:
            raise FitFailed(f"{peaks.size} density mode(s) found, need 2")
        if np.isfinite(low) or np.isfinite(high):
            # with bounds: the deepest point inside them that has a mode on either side
            # (so a small population beside two big ones can still be cut off)
            top = np.array([peaks.min(), peaks.max()])
        else:
            top = np.sort(peaks[np.argsort(est.density[peaks])[-2:]])
        between = np.arange(top[0], top[1] + 1)
        inside = between[(est.grid[between] >= low) & (est.grid[between] <= high)]
        if inside.size == 0:
            raise FitFailed(
                f"no valley between modes at {est.grid[top[0]]:.4g} and {est.grid[top[1]]:.4g} "
                f"lies inside bounds [{low:.4g}, {high:.4g}]"
            )
        cut = inside[np.argmin(est.density[inside])]
    except FitFailed as error:
        return _with_fallback("density_valley", fallback, x.size, error, what)
    return AdaptiveFit(
        method="density_valley",
        params={"threshold": float(est.grid[cut])},
        n_events=int(x.size),
        diagnostics={
            "peaks": [float(est.grid[top[0]]), float(est.grid[top[1]])],
            "bandwidth": est.bandwidth,
        },
    )


def tail_threshold(
    values: np.ndarray,
    *,
    side: str = "right",
    fraction: float = 0.01,
    bounds: tuple[float, float] | None = None,
    fallback: float | None = None,
    adjust: float = 1.5,
    min_events: int = 50,
    what: str = "tail",
) -> AdaptiveFit:
    """Threshold where the main mode's density falls below a fraction of its height.

    For a marker whose positive cells form a tail or shoulder rather than a
    second mode (e.g. CD25 on regulatory T cells): start at the highest peak and
    walk toward ``side`` until the density drops below ``fraction`` times the
    peak height.

    Parameters
    ----------
    values : (n_events,) array
        NaN and infinities are ignored.
    side : {"right", "left"}
        Direction of the tail.
    fraction : float
        Density level, relative to the highest peak, that defines the cut (0 < fraction < 1).
    bounds, fallback, adjust, min_events, what
        As in :func:`density_valley`.
    """
    if side not in ("right", "left"):
        raise GateError(f"{what}: side must be 'right' or 'left', got {side!r}")
    if not 0.0 < fraction < 1.0:
        raise GateError(f"{what}: fraction must be in (0, 1), got {fraction}")
    x = finite_values(values, what=what)
    low, high = check_bounds(bounds, what=what)
    try:
        if x.size < min_events:
            raise FitFailed(f"only {x.size} events (< {min_events})")
        est = kde(x, adjust=adjust)
        peak = int(np.argmax(est.density))
        level = fraction * est.density[peak]
        walk = est.density[peak:] if side == "right" else est.density[peak::-1]
        below = np.flatnonzero(walk < level)
        if below.size == 0:
            raise FitFailed("density never falls below the tail level")
        index = peak + below[0] if side == "right" else peak - below[0]
        cut = float(est.grid[index])
        if not low <= cut <= high:
            raise FitFailed(f"tail cut {cut:.4g} outside bounds [{low:.4g}, {high:.4g}]")
    except FitFailed as error:
        return _with_fallback("tail", fallback, x.size, error, what)
    return AdaptiveFit(
        method="tail",
        params={"threshold": cut},
        n_events=int(x.size),
        diagnostics={"peak": float(est.grid[peak]), "bandwidth": est.bandwidth},
    )


def quantile_threshold(
    values: np.ndarray,
    *,
    q: float,
    bounds: tuple[float, float] | None = None,
    fallback: float | None = None,
    min_events: int = 1,
    what: str = "quantile",
) -> AdaptiveFit:
    """Threshold at the ``q`` quantile of the values, clipped to ``bounds``.

    Clipping (rather than falling back) keeps the cut adaptive up to the limit
    the author allowed; ``diagnostics["clipped"]`` records when it happened.

    Parameters
    ----------
    values : (n_events,) array
        NaN and infinities are ignored.
    q : float
        Quantile in [0, 1] (linear interpolation between order statistics).
    bounds, fallback, min_events, what
        As in :func:`density_valley`.
    """
    if not 0.0 <= q <= 1.0:
        raise GateError(f"{what}: quantile q must be in [0, 1], got {q}")
    x = finite_values(values, what=what)
    low, high = check_bounds(bounds, what=what)
    if x.size < max(min_events, 1):
        return _with_fallback("quantile", fallback, x.size, FitFailed(f"only {x.size} events"), what)
    raw = float(np.quantile(x, q))
    cut = float(np.clip(raw, low, high))
    return AdaptiveFit(
        method="quantile",
        params={"threshold": cut},
        n_events=int(x.size),
        diagnostics={"quantile_value": raw, "clipped": cut != raw},
    )
