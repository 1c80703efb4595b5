"""The density estimate behind the 1-D thresholds, the fallback rule, and the quantile threshold.

The density valley lives in :mod:`cytogate.adaptive.valley`, the tail in
:mod:`cytogate.adaptive.tail`.  All of them work on one marker's values (already compensated and transformed,
so a threshold is in the same units as a static gate on that axis) and return
an :class:`~cytogate.adaptive.AdaptiveFit` whose ``params["threshold"]`` is the
cut.  Each takes ``bounds``: the fitted cut must lie inside them, otherwise the
``fallback`` is used (and recorded), so a bad file can never move a gate to an
absurd place silently.  Without a fallback, a failed fit raises
:class:`~cytogate.errors.GateError`.

The density is a Gaussian kernel estimate computed on a fine binned grid
(histogram convolved with the kernel, in one compiled call), which is exact up
to the bin width and costs O(n) for any number of events.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from ..errors import GateError
from ._fit import AdaptiveFit, FitFailed, check_bounds, finite_values
from .order import binned_counts, even_edges, pairwise_sum, quantile, quantiles_and_std

__all__ = ["Density", "kde", "shared_densities", "reuse", "with_fallback", "quantile_threshold"]

log = logging.getLogger("cytogate.adaptive")

_GRID = 1024
_PROBE = 200_000
_SPAN = np.true_divide(np.array([0.05, 25.0, 75.0, 99.95]), 100)  # percentile()'s quantiles of the grid's span


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


class _Scopes(threading.local):
    def __init__(self) -> None:
        self.open: list[dict[Hashable, list[tuple[np.ndarray, Any]]]] = []


_SCOPES = _Scopes()  # per thread: gates gated in threads never see each other's values


@contextmanager
def shared_densities() -> Iterator[None]:
    """Inside the block, estimates already made on equal values with the same options are reused.

    Gates fitted on one parent often estimate the same density (the scatter gates
    under one population; a rule, its ``otherwise`` and its ``fallback``) or fit
    the very same rule.  Both are functions of the values alone, so reusing them
    changes nothing but the time; the values are held until the block ends.
    """
    _SCOPES.open.append({})
    try:
        yield
    finally:
        _SCOPES.open.pop()


def _probes(values: np.ndarray) -> tuple[Any, ...]:
    """The shape and the first, middle and last values: arrays that differ there are never compared whole.

    (Other dimensions of the same events differ at these almost always.)
    """
    n = values.size
    return (values.shape, values.item(0), values.item(n // 2), values.item(n - 1)) if n else (values.shape,)


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    """``np.array_equal`` of two arrays of one shape; views of the very same memory are equal (never written again)."""
    if a.__array_interface__["data"][0] == b.__array_interface__["data"][0] and a.strides == b.strides \
            and a.dtype == b.dtype:
        return True
    return bool(np.array_equal(a, b))


def reuse(key: Hashable, values: np.ndarray, compute: Callable[[], Any], *,
          keep: Callable[[Any], bool] = lambda result: True) -> Any:
    """``compute()``, or its result for equal ``values`` and ``key`` made earlier in a :func:`shared_densities` block.

    ``keep`` says whether a result may be reused (one whose making logged a warning may not).
    """
    seen = _SCOPES.open[-1] if _SCOPES.open else None
    if seen is None:
        return compute()
    index = (key, _probes(values))
    candidates = seen.get(index, ())
    for known, result in candidates:
        if _equal(known, values):
            return result
    result = compute()
    if keep(result):
        seen.setdefault(index, []).append((values, result))
    return result


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
    return reuse(("kde", adjust, n_grid), values, lambda: _binned_kde(values, adjust, n_grid))


def _binned_kde(values: np.ndarray, adjust: float, n_grid: int) -> Density:
    x = np.ascontiguousarray(values, dtype=np.float64)
    n = x.size
    # grid range and spread need only a couple of hundred thousand values (an even stride keeps it deterministic)
    probe = x[:: -(-n // _PROBE)]
    (low_q, q25, q75, high_q), deviation = quantiles_and_std(probe, _SPAN)
    spread = min(deviation, float(q75 - q25) / 1.349)
    if not spread > 0:
        spread = float(np.std(x))
    if not spread > 0:
        raise FitFailed("all values are equal")
    bandwidth = adjust * 0.9 * spread * n ** (-0.2)
    low, high = low_q - 3 * bandwidth, high_q + 3 * bandwidth
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise FitFailed(f"values span too wide a range to estimate a density ({low_q:.4g} to {high_q:.4g})")
    grid, density = _smoothed_histogram(x, float(low), float(high), float(bandwidth), int(n_grid))
    return Density(grid=grid, density=density, bandwidth=float(bandwidth))


@njit(cache=True, nogil=True)
def _smoothed_histogram(x: np.ndarray, low: float, high: float, bandwidth: float,
                        n_grid: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres and density of ``x`` binned on ``n_grid`` even bins over [low, high], smoothed by the kernel.

    The Gaussian kernel is cut at four bandwidths and sums to one; the convolution
    is direct (each output bin the kernel-weighted sum of its neighbours, summed
    tap by tap), so an empty stretch of the grid has a density of exactly zero.
    """
    edges = even_edges(low, high, n_grid)
    counts = binned_counts(x, edges)
    step = edges[1] - edges[0]
    half = int(math.ceil(4 * bandwidth / step))
    kernel = np.empty(2 * half + 1)
    for k in range(2 * half + 1):
        z = (k - half) * step / bandwidth
        kernel[k] = math.exp(-0.5 * z * z)
    kernel /= pairwise_sum(kernel, 0, kernel.size)
    signal = counts.astype(np.float64)
    density = np.zeros(n_grid)
    for k in range(2 * half + 1):  # density[i] += kernel[k] * signal[i + half - k], every i at once
        weight = kernel[k]
        shift = half - k
        start = max(0, -shift)
        stop = min(n_grid, n_grid - shift)
        into = density[start:stop]
        source = signal[start + shift:stop + shift]
        for i in range(into.size):  # indices from zero on views: no wraparound checks, so it vectorizes
            into[i] += weight * source[i]
    density /= max(x.size * step, 1e-300)
    grid = np.empty(n_grid)
    for i in range(n_grid):
        grid[i] = 0.5 * (edges[i] + edges[i + 1])
    return grid, density


def with_fallback(method: str, fallback: float | None, n: int, error: FitFailed, what: str) -> AdaptiveFit:
    """The fit that uses the declared fallback because ``error`` says the data support none.

    Logged as a warning: a gate that did not follow the data must never pass unnoticed.
    """
    if fallback is None:
        raise GateError(f"{what}: {method} fit failed ({error}) and no fallback is declared")
    if not np.isnan(fallback):  # NaN: a caller probing before its own alternatives
        log.warning("%s: %s fit failed (%s); fallback %.4g used", what, method, error, float(fallback))
    return AdaptiveFit(
        method=method,
        params={"threshold": float(fallback)},
        used_fallback=True,
        reason=str(error),
        n_events=n,
        confidence=0.0,
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
        return with_fallback("quantile", fallback, x.size, FitFailed(f"only {x.size} events"), what)
    raw = float(quantile(x, [q])[0])
    cut = float(np.clip(raw, low, high))
    return AdaptiveFit(
        method="quantile",
        params={"threshold": cut},
        n_events=int(x.size),
        reason="" if cut == raw else f"quantile {raw:.4g} clipped to bounds [{low:.4g}, {high:.4g}]",
        confidence=1.0 if cut == raw else 0.5,
        diagnostics={"quantile_value": raw, "clipped": cut != raw},
    )
