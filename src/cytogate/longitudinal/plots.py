"""Figures of a change analysis (matplotlib, no pyplot state, PNG and SVG).

* :func:`plot_pct_change` — median (IQR) % change from baseline over time by arm.
* :func:`plot_ratio` — model-based ratio to control with CI over time (the
  difference with CI when the analysis is not on the log scale).
* :func:`plot_forest` — placebo-adjusted % change with CI per group and arm at one visit.
* :func:`plot_spaghetti` — per-subject % change from baseline, one panel per arm.

Each function returns a :class:`matplotlib.figure.Figure`;
:func:`write_figures` draws them all and saves each as PNG and SVG.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

__all__ = ["plot_forest", "plot_pct_change", "plot_ratio", "plot_spaghetti", "save_figure", "write_figures"]

_COLORS = ("#4d4d4d", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def _slug(text: object) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", str(text)).strip("_") or "all"


def _groups(frame: pd.DataFrame, by: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    if not by:
        return [("all", frame)]
    out = []
    for key, part in frame.groupby(list(by), sort=False, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        out.append((" | ".join(str(k) for k in key), part))
    return out


def _grid(n: int, *, width: float = 4.2, height: float = 3.2) -> tuple[Figure, list]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig_w, fig_h = width * cols, height * rows + 0.6
    fig = Figure(figsize=(fig_w, fig_h))
    FigureCanvasAgg(fig)
    # Fixed margins (inches): constrained layout measures every tick label and is ~10x slower.
    fig.subplots_adjust(left=0.95 / fig_w, right=1 - 0.15 / fig_w, bottom=0.75 / fig_h, top=1 - 0.65 / fig_h,
                        wspace=0.45, hspace=0.75)  # fmt: skip
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _arm_colors(arms: Sequence[str]) -> dict[str, str]:
    return {a: _COLORS[i % len(_COLORS)] for i, a in enumerate(arms)}


def _ordered(values: pd.Series) -> list[str]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.astype(str))
        return [str(c) for c in values.cat.categories if str(c) in present]
    return list(dict.fromkeys(values.astype(str)))


def plot_pct_change(summary: pd.DataFrame, *, by: Sequence[str] = (), visits: Sequence[str] | None = None) -> Figure:
    """Median (IQR) % change from baseline per arm over visits, a panel per ``by`` group.

    ``summary`` is the table of :func:`~cytogate.longitudinal.summary.summarize_change`.
    """
    visits = list(visits) if visits is not None else _ordered(summary["visit"])
    arms = _ordered(summary["arm"])
    colors = _arm_colors(arms)
    groups = _groups(summary, by)
    fig, axes = _grid(len(groups))
    width = 0.6 / max(len(arms), 1)
    for ax, (title, part) in zip(axes, groups):
        for j, arm in enumerate(arms):
            sel = part[part["arm"].astype(str) == arm]
            rows = sel.set_index(sel["visit"].astype(str)).reindex(visits)
            x = np.arange(len(visits)) + (j - (len(arms) - 1) / 2) * width
            med = rows["pct_change_median"].to_numpy(dtype=float)
            err = np.vstack([med - rows["pct_change_q1"].to_numpy(dtype=float),
                             rows["pct_change_q3"].to_numpy(dtype=float) - med])  # fmt: skip
            ax.errorbar(x, med, yerr=err, marker="o", ms=4, capsize=2, color=colors[arm], label=arm)
        ax.axhline(0, color="0.6", lw=0.8, zorder=0)
        ax.set_xticks(np.arange(len(visits)), visits, rotation=30, ha="right")
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("% change from baseline\nmedian (IQR)")
    axes[0].legend(fontsize=8, frameon=False)
    fig.suptitle("Change from baseline by arm")
    return fig


def plot_ratio(contrasts: pd.DataFrame, *, by: Sequence[str] = (), visits: Sequence[str] | None = None) -> Figure:
    """Ratio to control (log axis) with CI per arm over visits; the difference when no ratio is available."""
    visits = list(visits) if visits is not None else _ordered(contrasts["visit"])
    arms = _ordered(contrasts["arm"])
    colors = dict(zip(arms, _COLORS[1:] * 4))
    use_ratio = contrasts["ratio"].notna().any()
    groups = _groups(contrasts, by)
    fig, axes = _grid(len(groups))
    width = 0.5 / max(len(arms), 1)
    for ax, (title, part) in zip(axes, groups):
        for j, arm in enumerate(arms):
            sel = part[part["arm"].astype(str) == arm]
            rows = sel.set_index(sel["visit"].astype(str)).reindex(visits)
            x = np.arange(len(visits)) + (j - (len(arms) - 1) / 2) * width
            est, lo, hi = (rows[c].to_numpy(dtype=float) for c in ("estimate", "ci_low", "ci_high"))
            if use_ratio:
                est, lo, hi = np.exp(est), np.exp(lo), np.exp(hi)
            ax.errorbar(x, est, yerr=np.vstack([est - lo, hi - est]), marker="s", ms=4, capsize=2,
                        color=colors[arm], label=arm)  # fmt: skip
        ax.axhline(1.0 if use_ratio else 0.0, color="0.6", lw=0.8, zorder=0)
        if use_ratio:
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(np.arange(len(visits)), visits, rotation=30, ha="right")
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("ratio to control (95% CI)" if use_ratio else "difference vs control (95% CI)")
    axes[0].legend(fontsize=8, frameon=False)
    fig.suptitle("Model-based comparison with control over time")
    return fig


def plot_forest(contrasts: pd.DataFrame, *, visit: str, by: Sequence[str] = ()) -> Figure:
    """Placebo-adjusted % change (95% CI) per ``by`` group and arm at ``visit``."""
    rows = contrasts[contrasts["visit"].astype(str) == str(visit)]
    use_pct = rows["pct_change"].notna().any()
    cols = ("pct_change", "pct_ci_low", "pct_ci_high") if use_pct else ("estimate", "ci_low", "ci_high")
    arms = _ordered(contrasts["arm"])
    colors = dict(zip(arms, _COLORS[1:] * 4))
    labels, est, lo, hi, col = [], [], [], [], []
    for title, part in _groups(rows, by):
        for arm in arms:
            sel = part[part["arm"].astype(str) == arm]
            if sel.empty:
                continue
            r = sel.iloc[0]
            labels.append(f"{title} — {arm}" if by else arm)
            est.append(r[cols[0]])
            lo.append(r[cols[1]])
            hi.append(r[cols[2]])
            col.append(colors[arm])
    n = max(len(labels), 1)
    label_w = 0.2 + 0.065 * max((len(t) for t in labels), default=4)
    fig_w, fig_h = 5.0 + label_w, 0.32 * n + 1.2
    fig = Figure(figsize=(fig_w, fig_h))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=label_w / fig_w, right=1 - 0.2 / fig_w, bottom=0.6 / fig_h, top=1 - 0.4 / fig_h)
    ax = fig.subplots()
    y = np.arange(len(labels))[::-1]
    est_a, lo_a, hi_a = (np.asarray(v, dtype=float) for v in (est, lo, hi))
    for yi, e, low, high, c in zip(y, est_a, lo_a, hi_a, col):
        ax.plot([low, high], [yi, yi], color=c, lw=1.5)
        ax.plot([e], [yi], "D", color=c, ms=5)
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("placebo-adjusted % change (95% CI)" if use_pct else "difference vs control (95% CI)")
    ax.set_title(f"Comparison with control at {visit}")
    return fig


def plot_spaghetti(change: pd.DataFrame, *, title: str = "", column: str = "pct_change") -> Figure:
    """One line per subject of ``column`` over visits, a panel per arm."""
    visits = _ordered(change["visit"])
    arms = _ordered(change["arm"])
    colors = _arm_colors(arms)
    fig, axes = _grid(len(arms), width=3.6, height=3.0)
    for ax, arm in zip(axes, arms):
        part = change[change["arm"].astype(str) == arm]
        # subjects × visits matrix; one LineCollection is much faster than a Line2D per subject
        wide = part.pivot_table(index="subject", columns=part["visit"].astype(str), values=column,
                                aggfunc="first", observed=True).reindex(columns=visits)  # fmt: skip
        x = np.arange(len(visits), dtype=float)
        segments = []
        for yrow in wide.to_numpy(dtype=float):
            ok = np.isfinite(yrow)
            if ok.sum() > 1:
                segments.append(np.column_stack([x[ok], yrow[ok]]))
            elif ok.any():
                ax.plot(x[ok], yrow[ok], "o", ms=2, color=colors[arm], alpha=0.6)
        ax.add_collection(LineCollection(segments, colors=colors[arm], linewidths=0.7, alpha=0.6))
        ax.autoscale_view()
        ax.axhline(0, color="0.6", lw=0.8, zorder=0)
        ax.set_xticks(np.arange(len(visits)), visits, rotation=30, ha="right")
        ax.set_title(f"{arm} (n={part['subject'].nunique()})", fontsize=10)
        ax.set_ylabel("% change from baseline" if column == "pct_change" else column)
    fig.suptitle(f"Per-subject trajectories{': ' + title if title else ''}")
    return fig


def save_figure(fig: Figure, out_dir: Path, stem: str, formats: Sequence[str] = ("png", "svg")) -> list[Path]:
    """Save ``fig`` as ``out_dir/stem.<fmt>`` for each format; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out_dir / f"{stem}.{fmt}"
        # No timestamps, so reruns give identical files.
        metadata = {"Date": None} if fmt == "svg" else {"Software": None} if fmt == "png" else None
        fig.savefig(path, format=fmt, dpi=120, metadata=metadata)
        paths.append(path)
    return paths


def write_figures(
    change: pd.DataFrame,
    summary: pd.DataFrame,
    contrasts: pd.DataFrame,
    out_dir: Path,
    *,
    by: Sequence[str] = (),
    forest_visit: str | None = None,
    formats: Sequence[str] = ("png", "svg"),
) -> list[Path]:
    """Draw every figure of a change analysis into ``out_dir``; returns the written paths."""
    out_dir = Path(out_dir)
    paths: list[Path] = []
    paths += save_figure(plot_pct_change(summary, by=by), out_dir, "pct_change_median_iqr", formats)
    if len(contrasts) and contrasts["estimate"].notna().any():
        paths += save_figure(plot_ratio(contrasts, by=by), out_dir, "ratio_over_time", formats)
        visits = _ordered(contrasts["visit"])
        visit = forest_visit if forest_visit is not None else visits[-1]
        paths += save_figure(plot_forest(contrasts, visit=visit, by=by), out_dir, f"forest_{_slug(visit)}", formats)
    for title, part in _groups(change, by):
        paths += save_figure(plot_spaghetti(part, title=title), out_dir, f"spaghetti_{_slug(title)}", formats)
    return paths
