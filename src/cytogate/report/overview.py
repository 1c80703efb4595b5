"""Hierarchy overview of one sample: one panel per gate, in strategy order (a FlowJo-style layout).

:func:`plot_hierarchy` returns the figure; :func:`render_panels` draws it once
and cuts it into one PNG per gate (full size and thumbnail), which is how the
HTML report gets its per-sample images cheaply (one matplotlib render per
sample instead of one per gate).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .gateplot import GateView, draw_view, gate_view, title_of

__all__ = ["plot_hierarchy", "draw_quadrant_group", "render_panels", "PanelImage", "png_bytes", "downsample"]

_PANEL_IN = (3.2, 2.8)  # inches per panel
_MARGINS_IN = (0.56, 0.42, 0.22, 0.06)  # left, bottom, top, right of a panel's axes: labels and title


@dataclass(frozen=True)
class PanelImage:
    """One gate's picture from a sample overview.

    Attributes
    ----------
    path : str
        Population path.
    title : str
        ``name: count (x% of parent)``.
    full, thumb : bytes
        PNG images: the panel at the overview's resolution, and a small thumbnail.
    flags : tuple of str
        Remarks worth a look (a data-driven gate used its fallback).
    """

    path: str
    title: str
    full: bytes
    thumb: bytes
    flags: tuple[str, ...] = ()


def _group_quadrants(views: Sequence[GateView]) -> list[list[GateView]]:
    """Views in order, sibling quadrants of one quadrant gate (same parent, group and axes) in one list."""
    groups: list[list[GateView]] = []
    where: dict[tuple[str, str, tuple[Any, ...]], int] = {}
    for view in views:
        if view.gate.kind == "quadrant" and len(view.drawn) == 2:
            key = (view.parent, getattr(view.gate, "group", ""), tuple(view.gate.dimensions))
            if key in where:
                groups[where[key]].append(view)
                continue
            where[key] = len(groups)
        groups.append([view])
    return groups


def draw_quadrant_group(ax: Any, views: Sequence[GateView], *, compact: bool = True) -> None:
    """All quadrants of one quadrant gate on one plot: dividers, and each quadrant's name and %."""
    first = views[0]
    draw_view(ax, first, compact=compact, draw_gate=False)
    ax.set_title(f"{first.parent_name}: {len(views)} quadrants", fontsize=8 if compact else 10, loc="left")
    (ix, iy) = first.axes
    for divider in getattr(first.gate, "dividers", ()):
        for j, k in enumerate(first.drawn):
            if first.gate.dimensions[k] == divider.dimension:
                for v in divider.values:
                    (ax.axvline if j == 0 else ax.axhline)(v, color="black", linewidth=1.2)
    for view in views:
        lo, hi = view.gate.box()  # type: ignore[misc]  # drawn as a box: box() is not None
        kx, ky = view.drawn
        x0, x1 = max(lo[kx], ix.lo), min(hi[kx], ix.hi)
        y0, y1 = max(lo[ky], iy.lo), min(hi[ky], iy.hi)
        # the label goes in the cell's outer corner, away from the dividers' crossing
        x = x0 + 0.04 * (ix.hi - ix.lo) if np.isinf(lo[kx]) or hi[kx] < ix.hi else x1 - 0.04 * (ix.hi - ix.lo)
        ha = "left" if np.isinf(lo[kx]) or hi[kx] < ix.hi else "right"
        y = y1 - 0.04 * (iy.hi - iy.lo) if np.isinf(hi[ky]) or lo[ky] > iy.lo else y0 + 0.04 * (iy.hi - iy.lo)
        va = "top" if np.isinf(hi[ky]) or lo[ky] > iy.lo else "bottom"
        pct = 100 * view.freq_parent
        ax.text(x, y, f"{view.name}\n{pct:.1f}%", ha=ha, va=va, fontsize=6 if compact else 8,
                bbox=dict(facecolor="white", alpha=0.75, edgecolor="none", pad=0.8))


def plot_hierarchy(result: Any, sample: Any, *, paths: Sequence[str] | None = None, columns: int = 5,
                   panel_size: tuple[float, float] = _PANEL_IN, views: Sequence[GateView] | None = None,
                   group_quadrants: bool = True) -> Any:
    """One panel per gate of a gated sample, laid out in strategy order.

    Parameters
    ----------
    result : GatingResult
    sample : Sample
        The sample ``result`` was computed from.
    paths : sequence of str, optional
        Populations to show (default: every population, in strategy order).
    columns : int
        Panels per row.
    panel_size : (float, float)
        Inches per panel.
    views : sequence of GateView, optional
        Precomputed views (then ``paths`` is ignored).
    group_quadrants : bool
        Draw the quadrants of one quadrant gate on one panel (as cytometry
        software does) instead of one panel per quadrant population.

    Returns
    -------
    matplotlib.figure.Figure
        Not registered with pyplot; save it with ``fig.savefig``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if views is None:
        chosen = list(result.strategy.paths if paths is None else paths)
        views = [gate_view(result, sample, p) for p in chosen]
    groups = _group_quadrants(views) if group_quadrants else [[v] for v in views]
    n = max(1, len(groups))
    cols = max(1, min(columns, n))
    rows = math.ceil(n / cols)
    w, h = panel_size
    # A fixed grid (no constrained layout): panels land at known places and drawing stays fast.
    fig = Figure(figsize=(cols * w, rows * h + 0.4))
    FigureCanvasAgg(fig)
    top = 1 - 0.4 / (rows * h + 0.4)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False,
                                      gridspec_kw=dict(left=0.6 / (cols * w), right=1 - 0.12 / (cols * w),
                                                       bottom=0.5 / (rows * h), top=top - 0.3 / (rows * h),
                                                       wspace=0.42, hspace=0.55))).ravel()
    for ax, group in zip(axes, groups):
        if len(group) > 1:
            draw_quadrant_group(ax, group)
        else:
            draw_view(ax, group[0], compact=True)
    for ax in axes[len(groups):]:
        ax.set_visible(False)
    name = result.sample or "sample"
    fig.suptitle(f"{name}: {result.n_events:,} events, {len(views)} populations", fontsize=11, x=0.01, ha="left",
                 y=1 - 0.08 / (rows * h + 0.4), va="top")
    return fig


def png_bytes(rgb: np.ndarray, *, colors: int | None = 64) -> bytes:
    """PNG encoding of an ``(h, w, 3)`` uint8 image.

    With ``colors`` the image is reduced to a palette of that many colours
    (plots have few distinct colours; this makes the files 2-3x smaller, which
    matters for a report with thousands of them).  Pillow, which matplotlib
    itself requires, does the encoding.
    """
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - matplotlib always brings Pillow
        from matplotlib.image import imsave

        buf = io.BytesIO()
        imsave(buf, rgb, format="png")
        return buf.getvalue()
    image = Image.fromarray(np.ascontiguousarray(rgb[..., :3]))
    if colors:
        image = image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def downsample(rgb: np.ndarray, width: int) -> np.ndarray:
    """Shrink ``(h, w, c)`` uint8 by an integer factor to about ``width`` pixels wide (block averaging)."""
    f = max(1, rgb.shape[1] // width)
    if f == 1:
        return rgb
    h, w = (rgb.shape[0] // f) * f, (rgb.shape[1] // f) * f
    blocks = rgb[:h, :w].reshape(h // f, f, w // f, f, rgb.shape[2]).astype(np.float32)
    return np.round(blocks.mean(axis=(1, 3))).astype(np.uint8)


def render_panels(result: Any, sample: Any, *, paths: Sequence[str] | None = None, dpi: float = 110,
                  thumb_width: int = 160, columns: int = 5, template: Any = None) -> list[PanelImage]:
    """Draw a sample's overview once and cut it into one image per gate.

    Parameters
    ----------
    result, sample
        As for :func:`plot_hierarchy`.
    paths : sequence of str, optional
        Populations (default: all).
    dpi : float
        Resolution of the full-size panels (3.2 x 2.8 inches each).
    thumb_width : int
        Width in pixels of the thumbnails.
    template : Strategy, optional
        The strategy before this sample's overrides (``result`` gated with
        them): overridden gates are marked and drawn beside the template's.

    Returns
    -------
    list of PanelImage
        In the order of ``paths``.
    """
    chosen = list(result.strategy.paths if paths is None else paths)
    views = [gate_view(result, sample, p, template=template) for p in chosen]
    fig = plot_hierarchy(result, sample, views=views, columns=columns, group_quadrants=False)
    fig.set_dpi(dpi)
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    height, width = image.shape[:2]
    # Each panel's picture: its axes plus fixed margins for tick labels, axis labels and title
    # (the grid is fixed, so no per-axes bounding-box computation is needed).
    left, bottom, top, right = (int(round(v * dpi)) for v in _MARGINS_IN)
    out = []
    for ax, view in zip(fig.axes, views):
        box = ax.get_position()
        x0, x1 = max(0, int(box.x0 * width) - left), min(width, int(box.x1 * width) + right)
        y0 = max(0, int((1 - box.y1) * height) - top)
        y1 = min(height, int((1 - box.y0) * height) + bottom)
        crop = image[y0:y1, x0:x1]
        flags = tuple(f"{view.name}: fallback threshold ({fit.get('reason') or 'no valley found'})"
                      for fit in view.fits if fit.get("used_fallback"))
        if view.template is not None:
            flags += (f"{view.name}: gate overridden for this sample (the template's is drawn dotted)",)
        out.append(PanelImage(view.path, title_of(view), png_bytes(crop), png_bytes(downsample(crop, thumb_width)),
                              flags))
    return out
