"""Gate plots: a population's parent events on the gate's axes, with the gate on top.

:func:`gate_view` collects what one plot needs from a :class:`~cytogate.engine.GatingResult`
and its sample: the parent's events on the gate's dimensions, compensated and on
the gate's transform scale (computed by the engine's own plan, so the picture
shows exactly what the gate saw), the static gate (for a data-driven gate, the
gate as fitted to this file), and the counts.  :func:`draw_view` draws it on a
matplotlib axes; :func:`plot_gate` does both and returns a figure.

Pictures follow flow-cytometry habits: 2-D pseudocolour density (a log-scaled
2-D histogram, white where there are no events) or a dot plot when the parent
has few events, a histogram for a 1-D range, ticks at decades labelled in the
original (scale) units, the axis named ``marker (detector)``, and the count
and % of parent in the title.  Off-scale events are piled on the axis edge, as
cytometry software does.  Gates with more than two dimensions (e.g. a 5-marker
rectangle) are drawn on their last two dimensions, on the parent events that
satisfy the other dimensions' conditions (stated under the title).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np

from ..errors import CytogateError, StrategyError
from ..gates.dimensions import UNCOMPENSATED, Dimension, resolve_dimension
from ..gates.registry import gate_from_dict
from ..gates.specs import EllipsoidGate, GateSpec, PolygonGate
from ..engine.execute import Execution, fit_static
from ..engine.compile import compile_plan
from ..strategy.panel_gaps import fit_to_panel

__all__ = ["AxisInfo", "GateView", "axis_info", "gate_view", "draw_view", "plot_gate", "set_ticks", "decade_ticks",
           "ellipse_outline", "title_of", "GATE_DRAWERS", "DENSITY_CMAP"]

#: Below this many parent events a dot plot is drawn instead of a density.
SCATTER_BELOW = 800
#: Pseudocolour map of density plots (zero-event bins stay white).
DENSITY_CMAP = "turbo"
_OWNER = "\0report"  # an owner name the engine never caches values under
_GATE_COLOR = "black"
_TEMPLATE_COLOR = "#3060c0"  # the template's gate beside a per-sample override (dotted)
_FOLLOWED_TEMPLATE_COLOR = "#888888"  # the template's gate under a followed one (dashed)
_BINS = 128


@dataclass(frozen=True, eq=False)
class AxisInfo:
    """One drawn axis.

    Attributes
    ----------
    label : str
        ``marker (detector)`` plus the scale, e.g. ``"CD3 (V450-A), logicle"``.
    transform : object or None
        The engine's transform (``apply``/``inverse``); None = FCS scale values.
    lo, hi : float
        Display limits on the drawn (transformed) scale.
    """

    label: str
    transform: Any
    lo: float
    hi: float


@dataclass(frozen=True, eq=False)
class GateView:
    """Everything needed to draw one population's gate.

    Attributes
    ----------
    path, name, parent : str
        Population path, its last element, and the parent path (``/`` = all events).
    gate : GateSpec
        Static gate as evaluated (fitted to this file when data-driven).
    data_driven : bool
        True when ``gate`` was fitted on this file.
    fits : list of dict
        The fit records (method, fitted values, whether the fallback was used).
    axes : tuple of AxisInfo
        One (histogram) or two (density / dot plot) drawn axes; empty for boolean gates.
    drawn : tuple of int
        Index into ``gate.dimensions`` of each drawn axis.
    values : (n_axes, m) float64 ndarray
        The drawn axes' values of the ``m`` plotted parent events (a random
        subset when the parent is large; see ``plotted_fraction``).
    inside : (m,) bool ndarray
        Whether each plotted event is in the population.
    count, parent_count, n_events : int
        Population, parent and file event counts (all events, not the subset).
    prefilter : str
        Conditions on undrawn dimensions applied before plotting ('' if none).
    plotted_fraction : float
        Share of the (prefiltered) parent events that were plotted.
    sample : str
    skipped : tuple of str
        Optional parts of this gate the file lacks (a dropped dimension, or the whole
        population passing its parent through), as the run records them.
    template : GateSpec or None
        The strategy's own gate where this sample's is followed or overridden (fitted there if data-driven).
    follow_note : str
        With template following: how the gate followed (``followed 0.98``, or the fallback's reason).
    """

    path: str
    name: str
    parent: str
    gate: GateSpec
    data_driven: bool
    fits: list[dict[str, Any]]
    axes: tuple[AxisInfo, ...]
    drawn: tuple[int, ...]
    values: np.ndarray
    inside: np.ndarray
    count: int
    parent_count: int
    n_events: int
    prefilter: str
    plotted_fraction: float
    sample: str
    skipped: tuple[str, ...] = ()
    template: GateSpec | None = None
    follow_note: str = ""

    @property
    def freq_parent(self) -> float:
        return self.count / self.parent_count if self.parent_count else float("nan")

    @property
    def parent_name(self) -> str:
        return "all events" if self.parent == "/" else self.parent.rsplit("/", 1)[-1]


# -- collecting the data --------------------------------------------------------------------------------------------
def _axis_label(dim: Any, sample: Any, aliases: Mapping[str, Any] | None, kind: str | None) -> str:
    if isinstance(dim, Dimension):
        try:
            idx = resolve_dimension(dim.name, sample, aliases)
            channel = str(sample.channels[idx])
            marker = sample.markers[idx]
            marker = "" if marker is None else str(marker)
        except CytogateError:
            channel, marker = dim.name, ""
        if marker and marker != channel:
            text = f"{marker} ({channel})"
        else:
            text = channel if channel == dim.name else f"{dim.name} ({channel})"
        if dim.compensation != UNCOMPENSATED and sample.spillover is not None:
            text = f"{text} comp."
    else:  # ratio and other derived dimensions
        text = str(getattr(dim, "label", dim))
    return f"{text}, {kind}" if kind else text


def _limits(x: np.ndarray, bounds: list[float]) -> tuple[float, float]:
    finite = x[np.isfinite(x)]
    if finite.size:
        lo, hi = np.quantile(finite, [0.001, 0.999])
    else:
        lo, hi = 0.0, 1.0
    lo, hi = float(lo), float(hi)
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    # keep the gate in view, but a far-reaching gate edge must not squash the events
    pts = [lo, hi, *[min(max(b, lo - 0.5 * span), hi + 0.5 * span) for b in bounds if np.isfinite(b)]]
    lo, hi = min(pts), max(pts)
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    return lo - 0.05 * span, hi + 0.05 * span


def _gate_bounds(gate: GateSpec, k: int) -> list[float]:
    """Finite gate coordinates on dimension ``k`` (so the gate is always in view)."""
    box = gate.box()
    if box is not None:
        return [float(box[0][k]), float(box[1][k])]
    verts = getattr(gate, "vertices", None)
    if verts is not None:
        return [float(v[k]) for v in verts]
    mean = getattr(gate, "mean", None)
    if mean is not None:
        ellipse = cast(EllipsoidGate, gate)  # only ellipsoids (static or fitted) have a mean
        cov = np.asarray(ellipse.covariance)
        r = float(np.sqrt(ellipse.distance_sq * cov[k, k]))
        return [mean[k] - r, mean[k] + r]
    return []


def axis_info(plan: Any, sample: Any, dim: Any, values: np.ndarray, bounds: list[float]) -> AxisInfo:
    """Label, transform and display limits of one dimension as ``plan`` computes it."""
    recipe = plan.recipes.get(dim)
    tid = None if recipe is None else recipe.transform_id
    transform = None if tid is None else plan.transforms[tid]
    kind = None if tid is None else plan.strategy.transforms[tid].kind
    lo, hi = _limits(values, bounds)
    return AxisInfo(_axis_label(dim, sample, plan.aliases, kind), transform, lo, hi)


def _drawn_dimensions(gate: GateSpec) -> tuple[int, ...]:
    n = len(gate.dimensions)
    if n <= 2:
        return tuple(range(n))
    if gate.box() is not None:
        return (n - 2, n - 1)  # the last two; earlier ones pre-filter the events
    return (0, 1)


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def gate_view(result: Any, sample: Any, path: str, *, max_events: int = 60_000, seed: int = 0,
              template: Any = None) -> GateView:
    """Collect the data to draw population ``path`` of one gated sample.

    Parameters
    ----------
    result : GatingResult
        From :func:`cytogate.gate` on ``sample``.
    sample : Sample
        The same sample (the engine's plan recomputes the gate's axes from it).
    path : str
        Population path, e.g. ``/Cells/Singlets``.
    max_events : int
        At most this many parent events are plotted (a seeded random subset).
    seed : int
        Seed of that subset.
    template : Strategy, optional
        The strategy before this sample's overrides were applied (``result``
        gated with them): an overridden gate's view carries the template's gate.

    Returns
    -------
    GateView

    Raises
    ------
    StrategyError
        ``path`` is not a population of the result's strategy.
    """
    result.strategy.population(path)  # raises for an unknown path
    # the strategy as it applied to this file: optional parts it lacks dropped (as the engine did)
    strategy, skips = fit_to_panel(result.strategy, sample)
    pop = strategy.population(path)
    fitted = result.fitted.get(path)
    gate = gate_from_dict(fitted) if fitted is not None else pop.gate
    fits = list(fitted.get("fits", [])) if fitted is not None else []
    followed = next((g for g in getattr(result, "follow", ()) if g.path == path), None)
    followed_template, follow_note = None, ""
    if followed is not None:
        fitted = None  # a followed gate is the template moved, not a data-driven fit
        if followed.status == "followed":
            followed_template = followed.template
            follow_note = f"followed (confidence {followed.confidence:.2f})"
        else:
            follow_note = "template kept: " + (followed.reason or followed.status)
    parent_mask = None if pop.parent == "/" else result.masks[pop.parent]
    idx = None if parent_mask is None else np.flatnonzero(parent_mask)
    parent_count = result.n_events if idx is None else int(idx.size)
    count = result.count(path)
    child = result.masks[path]
    common = dict(path=path, name=pop.name, parent=pop.parent, gate=gate, data_driven=fitted is not None,
                  fits=fits, count=count, parent_count=parent_count, n_events=result.n_events,
                  sample=result.sample, skipped=tuple(s.reason for s in skips if s.population == path),
                  template=followed_template, follow_note=follow_note)
    drawn = _drawn_dimensions(gate)
    if not drawn:  # boolean gates have no axes
        return GateView(axes=(), drawn=(), values=np.empty((0, 0)), inside=np.empty(0, dtype=bool),
                        prefilter="", plotted_fraction=1.0, **common)
    plan = compile_plan(strategy, sample)
    ex = Execution(plan, sample)
    own = None if template is None else fit_to_panel(template, sample)[0].by_path.get(path)  # parts dropped as run
    if template is not None and own is not None and own.gate != pop.gate:  # overridden: the template's gate here
        values = Execution(compile_plan(template, sample), sample).stacked(own.gate.dimensions, idx, None)
        common["template"] = own.gate if not own.gate.needs_fit else fit_static(own.gate, values, path)
    rows = idx
    # Undrawn dimensions of an n-D box act as a pre-filter of the parent's events.
    prefilter_parts: list[str] = []
    undrawn = [k for k in range(len(gate.dimensions)) if k not in drawn]
    if undrawn:
        lo, hi = gate.box()  # type: ignore[misc]  # a box gate here: box() is not None
        keep = np.ones(parent_count, dtype=bool)
        for k in undrawn:
            v = ex.values(gate.dimensions[k], idx, _OWNER)
            keep &= (v >= lo[k]) & (v < hi[k])
            label = gate.dimensions[k].label
            if np.isfinite(lo[k]) and np.isfinite(hi[k]):
                prefilter_parts.append(f"{_fmt(lo[k])} ≤ {label} < {_fmt(hi[k])}")
            elif np.isfinite(lo[k]):
                prefilter_parts.append(f"{label} ≥ {_fmt(lo[k])}")
            else:
                prefilter_parts.append(f"{label} < {_fmt(hi[k])}")
        all_rows = np.arange(result.n_events) if idx is None else idx
        rows = all_rows[keep]
    n_rows = parent_count if rows is None else int(rows.size)
    fraction = 1.0
    if n_rows > max_events:
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(n_rows, size=max_events, replace=False))
        rows = pick if rows is None else rows[pick]
        fraction = max_events / n_rows
    n_plot = n_rows if rows is None else int(rows.size)
    values = np.empty((len(drawn), 0))
    if n_plot:
        values = np.vstack([ex.values(gate.dimensions[k], rows, _OWNER) for k in drawn])
    inside = child if rows is None else child[rows]
    axes = [axis_info(plan, sample, gate.dimensions[k], values[j], _gate_bounds(gate, k))
            for j, k in enumerate(drawn)]
    return GateView(axes=tuple(axes), drawn=drawn, values=values, inside=np.asarray(inside, dtype=bool),
                    prefilter=", ".join(prefilter_parts), plotted_fraction=fraction, **common)


# -- ticks in original units ------------------------------------------------------------------------------------------
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _decade_label(v: float) -> str:
    if v == 0:
        return "0"
    k = int(round(np.log10(abs(v))))
    text = "10" + str(k).translate(_SUPERSCRIPT) if k > 1 else f"{abs(v):g}"
    return ("−" if v < 0 else "") + text


def _scale_label(v: float, _pos: Any = None) -> str:
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:g}M"
    if a >= 1e3:
        return f"{v / 1e3:g}K"
    return f"{v:g}"


def decade_ticks(transform: Any, lo: float, hi: float) -> tuple[list[float], list[str], list[float]]:
    """Major ticks (positions, labels) at 0 and ±10^k, and minor ticks, on a transformed axis.

    Positions are ``transform.apply(value)``; ticks closer than 7% of the axis to
    a more important one (larger decade, or 0) are dropped so labels never collide.
    """
    span = hi - lo
    decades = [10.0 ** k for k in range(9, -1, -1)]
    candidates = [0.0, *decades, *[-d for d in decades]]
    pos = transform.apply(np.array(candidates, dtype=np.float64))
    kept: list[tuple[float, float]] = []
    for value, p in zip(candidates, pos):
        if not np.isfinite(p) or not lo <= p <= hi:
            continue
        if all(abs(p - q) >= 0.07 * span for _, q in kept):
            kept.append((value, float(p)))
    kept.sort(key=lambda t: t[1])
    minor_vals = np.array([s * m * 10.0 ** k for k in range(0, 9) for m in range(2, 10) for s in (1, -1)])
    minor = transform.apply(minor_vals)
    minor_pos = [float(p) for p in minor if np.isfinite(p) and lo <= p <= hi]
    return [p for _, p in kept], [_decade_label(v) for v, _ in kept], minor_pos


def set_ticks(axis: Any, info: AxisInfo, *, minor: bool = True) -> None:
    from matplotlib.ticker import FuncFormatter

    if info.transform is None:
        axis.set_major_formatter(FuncFormatter(_scale_label))
        return
    major, labels, minor_pos = decade_ticks(info.transform, info.lo, info.hi)
    if len(major) < 2:  # a narrow window: plain values in original units at the default positions
        axis.set_major_formatter(FuncFormatter(lambda y, _p: _scale_label(float(info.transform.inverse(
            np.array([y]))[0]))))
        return
    axis.set_ticks(major, labels)
    if minor:  # every tick is an artist: grids of small panels skip them (4x faster to draw)
        axis.set_ticks(minor_pos, minor=True)


# -- drawing -----------------------------------------------------------------------------------------------------
def _clip(values: np.ndarray, axes: tuple[AxisInfo, ...]) -> np.ndarray:
    out = np.empty_like(values)
    for j, info in enumerate(axes):
        v = values[j]
        out[j] = np.clip(np.where(np.isnan(v), info.lo, v), info.lo, info.hi)
    return out


def _draw_density(ax: Any, view: GateView) -> None:
    from matplotlib.colors import LogNorm

    x, y = _clip(view.values, view.axes)
    ix, iy = view.axes
    if x.size < SCATTER_BELOW:
        ax.scatter(x[~view.inside], y[~view.inside], s=3, c="0.55", linewidths=0, rasterized=True)
        ax.scatter(x[view.inside], y[view.inside], s=3, c="#1f4e9c", linewidths=0, rasterized=True)
        return
    hist, _, _ = np.histogram2d(x, y, bins=_BINS, range=[[ix.lo, ix.hi], [iy.lo, iy.hi]])
    hist = np.ma.masked_equal(hist.T, 0)
    if hist.count():
        ax.imshow(hist, origin="lower", extent=(ix.lo, ix.hi, iy.lo, iy.hi), aspect="auto",
                  cmap=_density_cmap(), norm=LogNorm(vmin=1, vmax=max(float(hist.max()), 2.0)),
                  interpolation="nearest")


def _density_cmap() -> Any:
    """The pseudocolour map without its darkest tenth, so black gate lines stay visible over sparse bins."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    base = colormaps[DENSITY_CMAP]
    return ListedColormap(base(np.linspace(0.12, 1.0, 256)), name=f"{DENSITY_CMAP}_light")


def _draw_histogram(ax: Any, view: GateView) -> None:
    x = _clip(view.values, view.axes)[0]
    info = view.axes[0]
    edges = np.linspace(info.lo, info.hi, _BINS + 1)
    all_h, _ = np.histogram(x, bins=edges)
    in_h, _ = np.histogram(x[view.inside], bins=edges)
    ax.stairs(all_h, edges, color="0.35", linewidth=1.0)
    ax.stairs(in_h, edges, fill=True, color="#7fa7e0", alpha=0.8)
    ax.set_ylim(0, max(1, int(all_h.max())) * 1.12)
    ax.set_ylabel("events")


def _finite(v: float, lo: float, hi: float) -> float:
    return min(max(v, lo), hi)


def _draw_box(ax: Any, view: GateView) -> None:
    lo, hi = view.gate.box()  # type: ignore[misc]  # drawn as a box: box() is not None
    if len(view.drawn) == 1:
        k = view.drawn[0]
        for b in (lo[k], hi[k]):
            if np.isfinite(b):
                ax.axvline(b, color=_GATE_COLOR, linewidth=1.4)
        return
    from matplotlib.patches import Rectangle

    (kx, ky), (ix, iy) = view.drawn, view.axes
    x0, x1 = _finite(lo[kx], ix.lo, ix.hi), _finite(hi[kx], ix.lo, ix.hi)
    y0, y1 = _finite(lo[ky], iy.lo, iy.hi), _finite(hi[ky], iy.lo, iy.hi)
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=_GATE_COLOR, linewidth=1.4))


def _draw_quadrant(ax: Any, view: GateView) -> None:
    # all the quadrant gate's dividers (shared with the sibling quadrants), then this cell
    for divider in getattr(view.gate, "dividers", ()):
        for j, k in enumerate(view.drawn):
            if view.gate.dimensions[k] == divider.dimension:
                for v in divider.values:
                    (ax.axvline if j == 0 else ax.axhline)(v, color=_GATE_COLOR, linewidth=1.0, linestyle="--")
    _draw_box(ax, view)


def _draw_polygon(ax: Any, view: GateView) -> None:
    from matplotlib.patches import Polygon

    verts = np.array(cast(PolygonGate, view.gate).vertices, dtype=np.float64)
    ax.add_patch(Polygon(verts, closed=True, fill=False, edgecolor=_GATE_COLOR, linewidth=1.4))


def ellipse_outline(mean: np.ndarray, covariance: np.ndarray, distance_sq: float, n: int = 181) -> np.ndarray:
    """``(n, 2)`` points of ``(v-mean)ᵀ inv(cov) (v-mean) = distance_sq`` (2-D)."""
    w, v = np.linalg.eigh(np.asarray(covariance, dtype=np.float64))
    t = np.linspace(0, 2 * np.pi, n)
    circle = np.stack([np.cos(t), np.sin(t)])
    return (np.asarray(mean, dtype=np.float64)[:, None] + v @ (np.sqrt(np.clip(w, 0, None) * distance_sq)[:, None]
                                                                * circle)).T


def _draw_ellipse(ax: Any, view: GateView) -> None:
    gate = cast(EllipsoidGate, view.gate)
    k = list(view.drawn)
    mean = np.asarray(gate.mean)[k]
    cov = np.asarray(gate.covariance)[np.ix_(k, k)]
    pts = ellipse_outline(mean, cov, gate.distance_sq)
    ax.plot(pts[:, 0], pts[:, 1], color=_GATE_COLOR, linewidth=1.4)


#: How each static gate kind is drawn on top of the events (fitted gates are static kinds).
GATE_DRAWERS: dict[str, Callable[[Any, GateView], None]] = {
    "rectangle": _draw_box,
    "quadrant": _draw_quadrant,
    "polygon": _draw_polygon,
    "ellipsoid": _draw_ellipse,
}

# Kinds with no drawing of their own, and why.
NOT_DRAWN: dict[str, str] = {
    "boolean": "a combination of other populations: it has no axes; its events are shown in their own plots",
    **{kind: "data-driven: drawn as the static gate it was fitted to on the sample"
       for kind in ("adaptive_rectangle", "adaptive_quadrant", "singlet", "gmm")},
}


def _draw_template(ax: Any, view: GateView) -> bool:
    """The template's gate (dashed under a followed gate, dotted beside an override); True if drawn."""
    template = view.template
    assert template is not None
    drawn = _drawn_dimensions(template)
    drawer = GATE_DRAWERS.get(template.kind)
    if drawer is None or [template.dimensions[k] for k in drawn] != [view.gate.dimensions[k] for k in view.drawn]:
        return False
    color, style = (_FOLLOWED_TEMPLATE_COLOR, "--") if view.follow_note else (_TEMPLATE_COLOR, ":")
    before = list(ax.patches) + list(ax.lines)
    drawer(ax, replace(view, gate=template, drawn=drawn, template=None))
    for artist in [a for a in list(ax.patches) + list(ax.lines) if a not in before]:
        if hasattr(artist, "set_edgecolor"):
            artist.set_edgecolor(color)
        else:
            artist.set_color(color)
        artist.set_linestyle(style)
    return True


def _fit_note(view: GateView) -> str:
    notes = []
    for fit in view.fits:
        if fit.get("used_fallback"):
            notes.append(f"fallback ({fit.get('reason') or 'no valley'})")
    return "data-driven" + (": " + "; ".join(notes) if notes else "")


def title_of(view: GateView) -> str:
    """``name: count (x% of parent)``."""
    pct = 100 * view.freq_parent
    pct_text = "n/a" if np.isnan(pct) else f"{pct:.1f}%"
    return f"{view.name}: {view.count:,} ({pct_text} of {view.parent_name})"


def draw_view(ax: Any, view: GateView, *, compact: bool = False, draw_gate: bool = True) -> None:
    """Draw ``view`` on a matplotlib axes: events, gate, labels, title.

    ``compact`` uses smaller fonts (overview grids, thumbnails); ``draw_gate=False``
    leaves the gate off (the caller draws it, e.g. all quadrants of a quadrant gate).
    """
    fs = 7 if compact else 9
    ax.set_title(title_of(view), fontsize=fs + 1, loc="left")
    notes = [n for n in (view.prefilter and f"on {view.prefilter}",
                         view.data_driven and _fit_note(view), view.follow_note,
                         view.plotted_fraction < 1 and f"{100 * view.plotted_fraction:.0f}% of events shown",
                         *(f"skipped: {reason}" for reason in view.skipped))
             if n]
    if not view.axes:
        ax.set_axis_off()
        what = "optional population, not gated on this file" if view.gate.kind == "pass_through" else \
            "boolean gate, no axes"
        ax.text(0.5, 0.5, f"{view.gate.describe()}\n({what})", ha="center", va="center",
                fontsize=fs, wrap=True, transform=ax.transAxes)
        return
    if len(view.axes) == 1:
        _draw_histogram(ax, view)
    else:
        _draw_density(ax, view)
        ax.set_ylim(view.axes[1].lo, view.axes[1].hi)
        ax.set_ylabel(view.axes[1].label, fontsize=fs)
        set_ticks(ax.yaxis, view.axes[1], minor=not compact)
    ax.set_xlim(view.axes[0].lo, view.axes[0].hi)
    ax.set_xlabel(view.axes[0].label, fontsize=fs)
    set_ticks(ax.xaxis, view.axes[0], minor=not compact)
    ax.tick_params(labelsize=fs - 1)
    drawer = GATE_DRAWERS.get(view.gate.kind)
    if view.template is not None:
        shown = _draw_template(ax, view)
        if not view.follow_note:
            notes.insert(0, "override for this sample" + (" (template dotted)" if shown else ""))
    if draw_gate and drawer is not None:
        drawer(ax, view)
    elif draw_gate:
        notes.append(f"{view.gate.kind} gate not drawn")
    if notes:
        ax.text(0.01, 0.99, "\n".join(notes), transform=ax.transAxes, ha="left", va="top", fontsize=fs - 2,
                color="#a33" if any("fallback" in n or "template kept" in n for n in notes) else "0.25",
                bbox=dict(facecolor="white", alpha=0.7, edgecolor="none", pad=1.0))


def plot_gate(result: Any, sample: Any, path: str, *, ax: Any = None, figsize: tuple[float, float] = (4.2, 3.6),
              compact: bool = False) -> Any:
    """Draw population ``path`` of a gated sample; returns the matplotlib Figure.

    Parameters
    ----------
    result : GatingResult
    sample : Sample
        The sample ``result`` was computed from.
    path : str
        Population path.
    ax : matplotlib Axes, optional
        Draw here; otherwise a new figure of ``figsize`` inches is made
        (``matplotlib.figure.Figure``, not registered with pyplot).
    compact : bool
        Smaller fonts.
    """
    if path not in result.masks:
        raise StrategyError(f"no population {path!r} in this result; populations: {', '.join(result.masks)}")
    view = gate_view(result, sample, path)
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize, layout="constrained")
        ax = fig.add_subplot()
    draw_view(ax, view, compact=compact)
    return ax.figure
