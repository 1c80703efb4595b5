"""The modes of a smoothed density, their mass, and the valleys between them.

A *mode* is a peak of the kernel density whose prominence is at least a
fraction of the highest density and whose basin (the stretch between the
valleys on either side) holds at least a fraction of the events; smaller
bumps are merged into their neighbours.  A *valley* is the lowest point of
the density between two neighbouring modes, so it is always a true local
minimum.  Data-driven thresholds (:mod:`cytogate.adaptive.valley`,
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


def _basins(density: np.ndarray, peaks: list[int]) -> list[int]:
    """Grid index of the lowest point between each pair of neighbouring peaks."""
    return [int(a + np.argmin(density[a:b + 1])) for a, b in zip(peaks[:-1], peaks[1:])]


def _masses(density: np.ndarray, peaks: list[int]) -> np.ndarray:
    cuts = [0, *_basins(density, peaks), density.size]
    total = float(density.sum()) or 1.0
    return np.array([density[a:b].sum() / total for a, b in zip(cuts[:-1], cuts[1:])])


def find_modes(est: Density, *, min_prominence: float, min_mass: float) -> list[Mode]:
    """Modes of ``est``, lowest location first.

    Peaks less prominent than ``min_prominence`` times the highest density are
    noise; then, while some basin holds less than ``min_mass`` of the events,
    the smallest such peak is dropped (its events join a neighbour's basin).
    """
    padded = np.concatenate(([0.0], est.density, [0.0]))
    found = _prominent_peaks(padded, min_prominence * float(est.density.max()))
    peaks = [int(p) - 1 for p in found]
    mass = _masses(est.density, peaks) if peaks else np.empty(0)
    while len(peaks) > 1:
        smallest = int(np.argmin(mass))
        if mass[smallest] >= min_mass:
            break
        peaks.pop(smallest)
        mass = _masses(est.density, peaks)  # the masses of the peaks left
    return [Mode(p, float(est.grid[p]), float(est.density[p]), float(m)) for p, m in zip(peaks, mass)]


def valleys_between(est: Density, modes: list[Mode]) -> list[Valley]:
    """The valley between each pair of neighbouring modes."""
    out = []
    peaks = [m.index for m in modes]
    for k, v in enumerate(_basins(est.density, peaks)):
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
