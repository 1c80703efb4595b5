"""The tail threshold: the edge of a mode, for markers whose positives form no second mode.

Where a marker shows one mode with a shoulder or a tail (no valley to cut at),
the cut is placed where the chosen mode's density has fallen to a fraction of
its height, or at the knee of its flank (openCyto's *tailgate* idea).  The same
honesty rules as the valley apply: a cut at or outside its bounds is a failed
fit, which uses the declared fallback, says why and warns.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GateError
from ._fit import AdaptiveFit, FitFailed, check_bounds, finite_values
from .density import kde, with_fallback
from .modes import find_modes, pick_mode, valleys_between

__all__ = ["tail_threshold", "mode_offset_threshold"]


def tail_threshold(
    values: np.ndarray,
    *,
    side: str = "right",
    fraction: float = 0.01,
    knee: bool = False,
    mode: str = "tallest",
    mode_mass: float = 0.0,
    min_mass: float = 0.01,
    bounds: tuple[float, float] | None = None,
    fallback: float | None = None,
    adjust: float = 1.5,
    min_events: int = 50,
    what: str = "tail",
) -> AdaptiveFit:
    """Threshold at the edge of one mode: where its density falls to a fraction of its height.

    For a marker whose positive cells form a tail or shoulder rather than a
    second mode (CD25 on regulatory T cells, CD27 or CD38 within B cells):
    start at the mode chosen by ``mode`` (a role of
    :data:`~cytogate.adaptive.modes.MODE_ROLES` among modes holding ``mode_mass``
    of the events) and walk toward ``side`` until the density drops below
    ``fraction`` times the mode's height.  With ``knee``, the cut is instead the
    knee of that flank, as openCyto's tail gate does: the first point past the
    steepest descent where the slope has flattened to ``fraction`` of its steepest.
    The walk stops at the valley before a neighbouring mode: when the density
    has not fallen by then, that valley is the cut.  A cut at or outside
    ``bounds`` is a failed fit.

    Parameters
    ----------
    values : (n_events,) array
        NaN and infinities are ignored.
    side : {"right", "left"}
        Direction of the tail.
    fraction : float
        Density level (or, with ``knee``, slope), relative to the mode's, that defines the cut (0 < fraction < 1).
    knee : bool
        Cut at the knee of the flank instead of at a density level.
    mode, mode_mass : str, float
        Which mode the tail belongs to.
    min_mass : float
        Fraction of the events a neighbouring bump needs to count as a mode that
        ends the walk; smaller bumps (a few dim cells) are walked through.
    bounds, fallback, adjust, min_events, what
        As in :func:`~cytogate.adaptive.density_valley`.

    Returns
    -------
    AdaptiveFit
        ``confidence`` is how far the density has fallen at the cut (1 - density / mode height).
    """
    if side not in ("right", "left"):
        raise GateError(f"{what}: side must be 'right' or 'left', got {side!r}")
    if not 0.0 < fraction < 1.0:
        raise GateError(f"{what}: fraction must be in (0, 1), got {fraction}")
    if not 0.0 <= min_mass < 1.0:
        raise GateError(f"{what}: min_mass must be in [0, 1), got {min_mass}")
    x = finite_values(values, what=what)
    low, high = check_bounds(bounds, what=what)
    try:
        est, modes, k = _located_mode(x, min_events, adjust, mode, mode_mass, min_mass)
        peak = modes[k].index
        # the flank ends at the valley before the neighbouring mode on that side (or the grid's end)
        if side == "right":
            stop = valleys_between(est, modes[k:k + 2])[0].index if k + 1 < len(modes) else est.density.size - 1
            walk = est.density[peak:stop + 1]
        else:
            stop = valleys_between(est, modes[k - 1:k + 1])[0].index if k > 0 else 0
            walk = est.density[stop:peak + 1][::-1]
        level = fraction * est.density[peak]
        if knee:
            slope = -np.diff(walk)  # positive while the density falls
            steepest = int(np.argmax(slope)) if slope.size else 0
            flat = np.flatnonzero(slope[steepest:] < fraction * max(float(slope[steepest]) if slope.size else 0, 1e-300))
            below = flat + steepest + 1 if flat.size else np.empty(0, dtype=np.int64)
        else:
            below = np.flatnonzero(walk < level)
        if below.size:
            offset = int(below[0])
        elif (side == "right" and k + 1 < len(modes)) or (side == "left" and k > 0):
            offset = walk.size - 1  # the valley before the next mode
        else:
            raise FitFailed("density never falls below the tail level")
        index = peak + offset if side == "right" else peak - offset
        cut = float(est.grid[index])
        step = float(est.grid[1] - est.grid[0])
        if not low + step < cut < high - step:
            raise FitFailed(f"tail cut {cut:.4g} at or outside bounds [{low:.4g}, {high:.4g}]")
    except FitFailed as error:
        return with_fallback("tail", fallback, x.size, error, what)
    fallen = 1.0 - float(est.density[index]) / float(est.density[peak])
    return AdaptiveFit(
        method="tail",
        params={"threshold": cut},
        n_events=int(x.size),
        confidence=float(min(1.0, max(0.0, fallen))),
        diagnostics={"peak": float(est.grid[peak]), "mode_mass": modes[k].mass, "bandwidth": est.bandwidth},
    )


def mode_offset_threshold(
    values: np.ndarray,
    *,
    mode: str = "tallest",
    mode_mass: float = 0.0,
    offset: float = 0.0,
    spread: float = 0.0,
    side: str = "right",
    bounds: tuple[float, float] | None = None,
    fallback: float | None = None,
    adjust: float = 1.5,
    min_events: int = 50,
    what: str = "mode_offset",
) -> AdaptiveFit:
    """Threshold at a located mode plus an offset: ``location + offset + spread * half-width``.

    The mode is chosen by role (as in :func:`tail_threshold`); its half-width on
    ``side`` is the distance from the peak to where the density falls to
    exp(-1/2) of its height (one SD for a normal mode), so ``spread: 3`` puts
    the cut three SDs beyond the mode whatever the instrument's gain.  ``side:
    left`` subtracts the spread.  A cut at or outside ``bounds`` is a failed fit.
    """
    if side not in ("right", "left"):
        raise GateError(f"{what}: side must be 'right' or 'left', got {side!r}")
    x = finite_values(values, what=what)
    low, high = check_bounds(bounds, what=what)
    try:
        est, modes, k = _located_mode(x, min_events, adjust, mode, mode_mass)
        chosen = modes[k]
        flank = est.density[chosen.index:] if side == "right" else est.density[chosen.index::-1]
        fallen = np.flatnonzero(flank < np.exp(-0.5) * chosen.height)
        step = float(est.grid[1] - est.grid[0])
        half_width = float(fallen[0]) * step if fallen.size else float(flank.size) * step
        sign = 1.0 if side == "right" else -1.0
        cut = chosen.location + offset + sign * spread * half_width
        if not low + step < cut < high - step:
            raise FitFailed(f"cut {cut:.4g} at or outside bounds [{low:.4g}, {high:.4g}]")
    except FitFailed as error:
        return with_fallback("mode_offset", fallback, x.size, error, what)
    return AdaptiveFit(
        method="mode_offset",
        params={"threshold": float(cut)},
        n_events=int(x.size),
        diagnostics={"mode": chosen.location, "mode_mass": chosen.mass, "half_width": half_width,
                     "bandwidth": est.bandwidth},
    )


def _located_mode(x: np.ndarray, min_events: int, adjust: float, mode: str, mode_mass: float,
                  min_mass: float = 0.01) -> tuple[Any, Any, int]:
    """The density of ``x``, its modes and the index of the one ``mode`` names; FitFailed when there is none."""
    if x.size < min_events:
        raise FitFailed(f"only {x.size} events (< {min_events})")
    est = kde(x, adjust=adjust)
    modes = find_modes(est, min_prominence=0.02, min_mass=min_mass)
    if not modes:
        raise FitFailed("no density mode found")
    return est, modes, pick_mode(modes, mode, mode_mass)
