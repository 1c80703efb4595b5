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
from scipy.signal import find_peaks

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
    found, _ = find_peaks(padded, prominence=min_prominence * float(est.density.max()))
    peaks = sorted(int(p) - 1 for p in found)
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
