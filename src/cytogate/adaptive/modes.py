"""The modes of a smoothed density, their mass, and the valleys between them.

A *mode* is a peak of the kernel density whose prominence is at least a
fraction of the highest density and whose basin (the stretch between the
valleys on either side) holds at least a fraction of the events; smaller
bumps are merged into their neighbours.  A *valley* is the lowest point of
the density between two neighbouring modes, so it is always a true local
minimum (the middle of a flat bottom, such as an empty stretch between two
populations).  Data-driven thresholds (:mod:`cytogate.adaptive.valley`,
:mod:`cytogate.adaptive.density`) locate their cut from these, by the role of a
mode ("the lowest mode holding 20% of the events") rather than by absolute
numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from ..errors import GateError
from ._fit import FitFailed
from .density import Density
from .order import pairwise_sum

__all__ = ["Mode", "Valley", "find_modes", "valleys_between", "pick_mode", "MODE_ROLES"]

#: How a mode is chosen among those holding enough events.
MODE_ROLES = ("lowest", "highest", "largest", "tallest")


@dataclass(frozen=True)
class Mode:
    """One mode: grid index of its peak, location, height and the fraction of events in its basin."""

    index: int
    location: float
    height: float
    mass: float


@dataclass(frozen=True)
class Valley:
    """The lowest point between modes ``left`` and ``right`` (positions in the mode list)."""

    index: int
    location: float
    density: float
    left: int
    right: int
    depth: float  # 1 - density / height of the lower neighbouring mode


@njit(cache=True, nogil=True)
def _prominent_peaks(x: np.ndarray, min_prominence: float) -> np.ndarray:
    """``scipy.signal.find_peaks(x, prominence=min_prominence)[0]``, the same peaks, in one compiled call.

    Local maxima as scipy finds them (a flat top counts once, at its middle), kept
    when their prominence (height above the higher of the lowest points on either
    side before a higher value) is at least ``min_prominence``.
    """
    n = x.size
    out = np.empty(max(n // 2, 1), dtype=np.int64)
    m = 0
    i = 1
    while i < n - 1:
        if x[i - 1] < x[i]:
            ahead = i + 1
            while ahead < n - 1 and x[ahead] == x[i]:
                ahead += 1
            if x[ahead] < x[i]:
                peak = (i + ahead - 1) // 2
                top = x[peak]
                left = top
                j = peak
                while j >= 0 and x[j] <= top:
                    left = min(left, x[j])
                    j -= 1
                right = top
                j = peak
                while j <= n - 1 and x[j] <= top:
                    right = min(right, x[j])
                    j += 1
                if min_prominence <= top - max(left, right):
                    out[m] = peak
                    m += 1
                i = ahead
        i += 1
    return out[:m]


@njit(cache=True, nogil=True)
def _first_min(x: np.ndarray, lo: int, hi: int) -> int:
    """``lo + np.argmin(x[lo:hi])``: the first lowest value (the first NaN, as numpy has it)."""
    best = lo
    for i in range(lo, hi):
        v = x[i]
        if v != v:
            return i
        if v < x[best]:
            best = i
    return best


@njit(cache=True, nogil=True)
def _lowest_middle(x: np.ndarray, lo: int, hi: int) -> int:
    """The middle of the first run of lowest values in ``x[lo:hi]`` (an empty stretch is cut at its centre)."""
    first = _first_min(x, lo, hi)
    last = first
    if x[first] == x[first]:  # not NaN
        while last + 1 < hi and x[last + 1] == x[first]:
            last += 1
    return (first + last) // 2


@njit(cache=True, nogil=True)
def _basins(density: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Grid index of the lowest point between each pair of neighbouring peaks (the middle of a flat bottom)."""
    out = np.empty(max(peaks.size - 1, 0), dtype=np.int64)
    for k in range(peaks.size - 1):
        out[k] = _lowest_middle(density, peaks[k], peaks[k + 1] + 1)
    return out


@njit(cache=True, nogil=True)
def _masses(density: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """The fraction of the density in each peak's basin (``density[a:b].sum() / density.sum()``, numpy's sums)."""
    basins = _basins(density, peaks)
    total = pairwise_sum(density, 0, density.size)
    if total == 0.0:  # numpy's code read `float(density.sum()) or 1.0`
        total = 1.0
    out = np.empty(peaks.size)
    start = 0
    for k in range(peaks.size):
        stop = basins[k] if k < basins.size else density.size
        out[k] = pairwise_sum(density, start, stop) / total
        start = stop
    return out


@njit(cache=True, nogil=True)
def _mode_peaks(density: np.ndarray, min_prominence: float, min_mass: float) -> tuple[np.ndarray, np.ndarray]:
    """The peaks :func:`find_modes` keeps and their masses, in one compiled call."""
    n = density.size
    padded = np.zeros(n + 2)
    padded[1:n + 1] = density
    peaks = _prominent_peaks(padded, min_prominence * density.max()) - 1
    if peaks.size == 0:
        return peaks, np.empty(0)
    mass = _masses(density, peaks)
    while peaks.size > 1:
        smallest = _first_min(mass, 0, mass.size)
        if mass[smallest] >= min_mass:
            break
        peaks = np.concatenate((peaks[:smallest], peaks[smallest + 1:]))
        mass = _masses(density, peaks)  # the masses of the peaks left
    return peaks, mass


def find_modes(est: Density, *, min_prominence: float, min_mass: float) -> list[Mode]:
    """Modes of ``est``, lowest location first.

    Peaks less prominent than ``min_prominence`` times the highest density are
    noise; then, while some basin holds less than ``min_mass`` of the events,
    the smallest such peak is dropped (its events join a neighbour's basin).
    """
    density = np.ascontiguousarray(est.density, dtype=np.float64)
    peaks, mass = _mode_peaks(density, float(min_prominence), float(min_mass))
    grid = est.grid
    return [Mode(p, float(grid[p]), float(density[p]), m) for p, m in zip(peaks.tolist(), mass.tolist())]


def valleys_between(est: Density, modes: list[Mode]) -> list[Valley]:
    """The valley between each pair of neighbouring modes."""
    out = []
    peaks = np.array([m.index for m in modes], dtype=np.int64)
    density = np.ascontiguousarray(est.density, dtype=np.float64)
    for k, v in enumerate(_basins(density, peaks).tolist()):
        lower = min(modes[k].height, modes[k + 1].height)
        depth = 1.0 - float(est.density[v]) / lower if lower > 0 else 0.0
        out.append(Valley(v, float(est.grid[v]), float(est.density[v]), k, k + 1, depth))
    return out


def pick_mode(modes: list[Mode], role: str, min_mass: float) -> int:
    """Position in ``modes`` of the mode playing ``role`` among those holding ``min_mass`` of the events.

    Raises FitFailed when no mode holds that much.
    """
    if role not in MODE_ROLES:
        raise GateError(f"mode role must be one of {', '.join(MODE_ROLES)}, got {role!r}")
    eligible = [k for k, m in enumerate(modes) if m.mass >= min_mass]
    if not eligible:
        raise FitFailed(f"no density mode holds {min_mass:.0%} of the events")
    if role == "lowest":
        return eligible[0]
    if role == "highest":
        return eligible[-1]
    key = (lambda k: modes[k].mass) if role == "largest" else (lambda k: modes[k].height)
    return max(eligible, key=key)
