"""Where a data-driven gate landed on each file, overlaid so that drift is visible.

For every data-driven threshold (a ``density_valley``/``tail``/``quantile``
bound of an adaptive range or rectangle), :func:`drift_traces` takes one file's
parent events on that dimension (a seeded subset) and the threshold fitted to
that file.  :func:`plot_drift` stacks the files as a ridgeline of 1-D
densities on the gate's transform scale with each file's threshold marked on
its own curve (orange where the fallback value was used), and the median
threshold as a dashed line: a shifted population or a gate that jumped is seen
at a glance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine.execute import Execution
from ..engine.compile import compile_plan
from ..strategy.panel_gaps import fit_to_panel
from .gateplot import AxisInfo, axis_info, set_ticks

__all__ = ["DriftTrace", "drift_traces", "plot_drift", "drift_key"]

_OWNER = "\0drift"


@dataclass(frozen=True, eq=False)
class DriftTrace:
    """One file's events and fitted threshold for one data-driven bound.

    Attributes
    ----------
    path : str
        Population path.
    dimension : str
        Dimension label (marker or channel as the strategy names it).
    side : str
        ``"min"`` or ``"max"``.
    sample : str
    values : (m,) float64 ndarray
        Parent events on the dimension's transform scale (a subset of at most
        ``max_events``).
    threshold : float
        The fitted bound on the same scale.
    used_fallback : bool
    axis : AxisInfo
        Label and transform of the dimension in this file.
    """

    path: str
    dimension: str
    side: str
    sample: str
    values: np.ndarray
    threshold: float
    used_fallback: bool
    axis: AxisInfo


def drift_key(trace: DriftTrace) -> tuple[str, str, str]:
    """Traces with the same key belong in one drift plot."""
    return trace.path, trace.dimension, trace.side


def _rule_slots(spec: Mapping[str, Any]) -> list[tuple[int, str]]:
    """(dimension index, side) of each data-driven bound, in the order the fits are recorded."""
    slots = []
    for side in ("min", "max"):
        for k, bound in enumerate(spec.get(f"{side}s", ())):
            if isinstance(bound, Mapping):  # a threshold rule, not a number
                slots.append((k, side))
    return slots


def drift_traces(result: Any, sample: Any, *, max_events: int = 4000, seed: int = 0) -> list[DriftTrace]:
    """Every data-driven threshold of one gated sample, with the events it was fitted on.

    Parameters
    ----------
    result : GatingResult
    sample : Sample
        The sample ``result`` was computed from.
    max_events : int
        At most this many parent events are kept per trace (seeded subset).

    Returns
    -------
    list of DriftTrace
        One per data-driven bound of an adaptive range/rectangle (other data-driven
        kinds, e.g. singlet wedges, are shown by their gate plots).
    """
    strategy = fit_to_panel(result.strategy, sample)[0]  # optional parts this file lacks dropped, as gated
    plan = None
    ex = None
    rng = np.random.default_rng(seed)
    out: list[DriftTrace] = []
    for path, fitted in result.fitted.items():
        pop = strategy.by_path[path]
        spec = pop.gate.to_dict()
        slots = _rule_slots(spec) if spec.get("kind") == "adaptive_rectangle" else []
        fits = fitted.get("fits", [])
        if not slots or len(fits) != len(slots):
            continue
        if plan is None:
            plan = compile_plan(strategy, sample)
            ex = Execution(plan, sample)
        idx = None if pop.parent == "/" else np.flatnonzero(result.masks[pop.parent])
        n = result.n_events if idx is None else idx.size
        rows = idx
        if n > max_events:
            pick = np.sort(rng.choice(n, size=max_events, replace=False))
            rows = pick if idx is None else idx[pick]
        for (k, side), fit in zip(slots, fits):
            dim = pop.gate.dimensions[k]
            values = ex.values(dim, rows, _OWNER) if n else np.empty(0)  # type: ignore[union-attr]  # ex is set with the plan above
            threshold = float(fit.get("params", {}).get("threshold", np.nan))
            out.append(DriftTrace(path, dim.label, side, result.sample, np.asarray(values, dtype=np.float64),
                                  threshold, bool(fit.get("used_fallback")),
                                  axis_info(plan, sample, dim, np.asarray(values, dtype=np.float64), [threshold])))
    return out


def plot_drift(traces: Sequence[DriftTrace], *, max_files: int = 48, figsize: tuple[float, float] | None = None
               ) -> Any:
    """Ridgeline of per-file densities with each file's fitted threshold.

    Parameters
    ----------
    traces : sequence of DriftTrace
        One per file, all for the same population, dimension and side.
    max_files : int
        At most this many files are drawn (evenly spaced in input order).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    traces = list(traces)
    shown = traces
    if len(traces) > max_files:
        keep = np.unique(np.linspace(0, len(traces) - 1, max_files).round().astype(int))
        shown = [traces[i] for i in keep]
    n = len(shown)
    fig = Figure(figsize=figsize or (5.2, 1.4 + 0.16 * n))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if not shown:
        ax.set_axis_off()
        return fig
    allv = np.concatenate([t.values[np.isfinite(t.values)] for t in shown] + [np.empty(0)])
    thresholds = np.array([t.threshold for t in traces], dtype=np.float64)
    lo, hi = (np.quantile(allv, [0.002, 0.998]) if allv.size else (0.0, 1.0))
    finite_t = thresholds[np.isfinite(thresholds)]
    if finite_t.size:
        lo, hi = min(lo, finite_t.min()), max(hi, finite_t.max())
    span = (hi - lo) or 1.0
    lo, hi = lo - 0.04 * span, hi + 0.04 * span
    edges = np.linspace(lo, hi, 97)
    centres = 0.5 * (edges[1:] + edges[:-1])
    kernel = np.array([1, 4, 6, 4, 1], dtype=np.float64) / 16  # light smoothing of the histogram
    step = 0.8
    for i, t in enumerate(reversed(shown)):
        h, _ = np.histogram(np.clip(t.values, lo, hi), bins=edges)
        h = np.convolve(h.astype(np.float64), kernel, mode="same")
        h = h / h.max() if h.max() > 0 else h
        base = i * step
        ax.fill_between(centres, base, base + h, color="#cfdcf0", linewidth=0)
        ax.plot(centres, base + h, color="#2c4f86", linewidth=0.7)
        if np.isfinite(t.threshold):
            j = min(max(int(np.searchsorted(centres, t.threshold)), 0), len(centres) - 1)
            ax.plot([t.threshold, t.threshold], [base, base + max(h[j], 0.35)],
                    color="#e07b00" if t.used_fallback else "black", linewidth=1.6)
    if finite_t.size:
        ax.axvline(float(np.median(finite_t)), color="0.3", linestyle="--", linewidth=0.8)
    ax.set_yticks([i * step + 0.25 for i in range(n)], [t.sample for t in reversed(shown)], fontsize=6)
    ax.set_ylim(-0.2, (n - 1) * step + 1.3)
    ax.set_xlim(lo, hi)
    first = shown[0]
    info = AxisInfo(first.axis.label, first.axis.transform, lo, hi)
    set_ticks(ax.xaxis, info, minor=False)
    ax.set_xlabel(info.label, fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    n_fb = int(sum(t.used_fallback for t in traces))
    spread = "no threshold"
    if finite_t.size:
        iqr = float(np.subtract(*np.quantile(finite_t, [0.75, 0.25])))
        spread = f"threshold median {np.median(finite_t):.3g}, IQR {iqr:.2g}"
    name = first.path.rsplit("/", 1)[-1]
    ax.set_title(f"{name}: {first.side} of {first.dimension} across {len(traces)} files\n{spread}; "
                 f"{n_fb} fallback(s)" + (f"; {n} of {len(traces)} files shown" if n < len(traces) else ""),
                 fontsize=8, loc="left")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    fig.subplots_adjust(left=0.2, right=0.97, top=1 - 0.55 / fig.get_figheight(), bottom=0.5 / fig.get_figheight())
    return fig
