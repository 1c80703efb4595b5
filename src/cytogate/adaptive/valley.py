"""The density-valley threshold: a cut that is a valley, or no fit at all.

The idea of openCyto's *mindensity*, with the checks that keep it honest on an
instrument it was not tuned for.  The cut is accepted only when it is

* a local minimum of the smoothed density between two modes that each hold at
  least ``min_mass`` of the parent's events (:mod:`cytogate.adaptive.modes`);
* deep enough: the density there is at most ``1 - min_depth`` times the height
  of the lower of the two modes;
* between modes far enough apart, when ``min_separation`` asks for it (a
  CD45-negative mode lies decades below the leukocytes, a CD45-dim one does not);
* strictly inside its search window, more than one grid bin from either edge
  (a cut on the edge means the real valley lies outside).

Otherwise the declared fallback is used, the fit says why and a warning is
logged.  The search window can be given in absolute units (``bounds``), as
quantiles of the parent (``quantile_bounds``), or by the role of a mode
(``above_mode: lowest`` = the valley right above the lowest mode that holds
``mode_mass`` of the events), so one strategy travels between instruments.
"""

from __future__ import annotations

import numpy as np

from ..errors import GateError
from ._fit import AdaptiveFit, FitFailed, check_bounds, finite_values
from .density import kde, with_fallback
from .modes import MODE_ROLES, Valley, find_modes, pick_mode, valleys_between
from .order import quantile

__all__ = ["density_valley", "quantile_window"]


def quantile_window(x: np.ndarray, quantiles: tuple[float, float] | None, *, what: str) -> tuple[float, float]:
    """``(low, high)`` of the values at two quantiles (unbounded when None)."""
    if quantiles is None:
        return (-np.inf, np.inf)
    q_low, q_high = (float(q) for q in quantiles)
    if not 0.0 <= q_low < q_high <= 1.0:
        raise GateError(f"{what}: quantile_bounds must satisfy 0 <= low < high <= 1, got [{q_low}, {q_high}]")
    low, high = quantile(x, [q_low, q_high])
    return (float(low), float(high))


def _by_role(valleys: list[Valley], modes: list, above: str | None, below: str | None, mode_mass: float) -> Valley:
    if above is not None:
        k = pick_mode(modes, above, mode_mass)
        hits = [v for v in valleys if v.left == k]
        if not hits:
            raise FitFailed(f"no mode above the {above} mode at {modes[k].location:.4g}, so no valley there")
        return hits[0]
    assert below is not None
    k = pick_mode(modes, below, mode_mass)
    hits = [v for v in valleys if v.right == k]
    if not hits:
        raise FitFailed(f"no mode below the {below} mode at {modes[k].location:.4g}, so no valley there")
    return hits[0]


def density_valley(
    values: np.ndarray,
    *,
    bounds: tuple[float, float] | None = None,
    quantile_bounds: tuple[float, float] | None = None,
    above_mode: str | None = None,
    below_mode: str | None = None,
    mode_mass: float = 0.2,
    fallback: float | None = None,
    adjust: float = 1.5,
    min_prominence: float = 0.02,
    min_mass: float = 0.01,
    min_depth: float = 0.1,
    min_separation: float = 0.0,
    min_events: int = 50,
    what: str = "density_valley",
) -> AdaptiveFit:
    """Threshold at a density valley between two modes, checked (see the module docstring).

    Which valley: with ``above_mode`` / ``below_mode`` (a role of
    :data:`~cytogate.adaptive.modes.MODE_ROLES`), the one right above / below
    that mode; else, within the window, the lowest one; with no window, the
    lowest one between the two tallest modes.

    Parameters
    ----------
    values : (n_events,) array
        One marker's values; NaN and infinities are ignored.
    bounds : (low, high), optional
        Absolute window the cut must lie in.
    quantile_bounds : (q_low, q_high), optional
        Window as quantiles of the values (intersected with ``bounds``).
    above_mode, below_mode : str, optional
        Locate the valley by a mode's role: ``lowest``, ``highest``, ``largest`` (most
        events) or ``tallest``, among modes holding at least ``mode_mass`` of the events.
    mode_mass : float
        Fraction of events a mode needs to play a role.
    fallback : float, optional
        Cut used when the data show no valley that passes the checks.
    adjust : float
        Bandwidth multiplier (see :func:`~cytogate.adaptive.kde`).
    min_prominence : float
        Minimal peak prominence, as a fraction of the highest density.
    min_mass : float
        Fraction of the events each of the two modes must hold.
    min_depth : float
        Minimal relative depth of the valley below the lower mode (0-1).
    min_separation : float
        Minimal distance between the two modes on either side of the valley, in
        the gate's units (on the default logicle, 0.22 is one decade).
    min_events : int
        Fewer finite events than this use the fallback.
    what : str
        Name for messages (e.g. the population path).

    Returns
    -------
    AdaptiveFit
        ``params["threshold"]``; ``confidence`` is the valley's relative depth;
        diagnostics hold the two modes, their masses, the depth and the window.
    """
    if above_mode is not None and below_mode is not None:
        raise GateError(f"{what}: give above_mode or below_mode, not both")
    for role in (above_mode, below_mode):
        if role is not None and role not in MODE_ROLES:
            raise GateError(f"{what}: mode role must be one of {', '.join(MODE_ROLES)}, got {role!r}")
    for name, fraction in (("mode_mass", mode_mass), ("min_mass", min_mass), ("min_depth", min_depth)):
        if not 0.0 <= fraction < 1.0:
            raise GateError(f"{what}: {name} must be in [0, 1), got {fraction}")
    if not (np.isfinite(min_separation) and min_separation >= 0):
        raise GateError(f"{what}: min_separation must be a finite number >= 0, got {min_separation}")
    x = finite_values(values, what=what)
    low, high = check_bounds(bounds, what=what)
    try:
        if x.size < min_events:
            raise FitFailed(f"only {x.size} events (< {min_events})")
        q_low, q_high = quantile_window(x, quantile_bounds, what=what)
        low, high = max(low, q_low), min(high, q_high)
        if not low < high:
            raise FitFailed(f"the bounds and quantile bounds do not overlap ([{low:.4g}, {high:.4g}])")
        est = kde(x, adjust=adjust)
        modes = find_modes(est, min_prominence=min_prominence, min_mass=min_mass)
        if len(modes) < 2:
            raise FitFailed(f"{len(modes)} density mode(s) holding {min_mass:.0%} of the events found, need 2")
        valleys = valleys_between(est, modes)
        step = float(est.grid[1] - est.grid[0])

        def inside(v: Valley) -> bool:
            return low + step < v.location < high - step

        if above_mode is not None or below_mode is not None:
            chosen = _by_role(valleys, modes, above_mode, below_mode, mode_mass)
            if not inside(chosen):
                raise FitFailed(f"the valley at {chosen.location:.4g} is at or outside bounds "
                                f"[{low:.4g}, {high:.4g}]")
        elif np.isfinite(low) or np.isfinite(high):
            candidates = [v for v in valleys if inside(v)]
            if not candidates:
                where = ", ".join(f"{v.location:.4g}" for v in valleys)
                raise FitFailed(f"no valley strictly inside bounds [{low:.4g}, {high:.4g}] (valleys at {where})")
            chosen = min(candidates, key=lambda v: v.density)
        else:
            tallest = sorted(np.argsort([m.height for m in modes])[-2:])
            chosen = min(valleys[tallest[0]:tallest[1]], key=lambda v: v.density)
        if chosen.depth < min_depth:
            raise FitFailed(f"the valley at {chosen.location:.4g} is too shallow (depth {chosen.depth:.2f} "
                            f"< {min_depth:.2f} of the lower mode)")
        apart = modes[chosen.right].location - modes[chosen.left].location
        if apart < min_separation:
            raise FitFailed(f"the modes at {modes[chosen.left].location:.4g} and {modes[chosen.right].location:.4g} "
                            f"beside the valley at {chosen.location:.4g} are {apart:.3g} apart "
                            f"(< {min_separation:.3g})")
    except FitFailed as error:
        return with_fallback("density_valley", fallback, x.size, error, what)
    left, right = modes[chosen.left], modes[chosen.right]
    return AdaptiveFit(
        method="density_valley",
        params={"threshold": chosen.location},
        n_events=int(x.size),
        confidence=float(min(1.0, max(0.0, chosen.depth))),
        diagnostics={
            "peaks": [left.location, right.location],
            "masses": [left.mass, right.mass],
            "depth": chosen.depth,
            "window": [low, high],
            "bandwidth": est.bandwidth,
        },
    )
