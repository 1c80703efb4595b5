"""What the editor draws: axis ranges, density images and histograms of a population's events.

Images are counts binned over every event (one ``bincount`` pass, a few
milliseconds at a million events), log-scaled to 0..255 and sent as bytes; the
page colours them.  Axis ranges are fixed per sample and dimension (from all
its events) so a plot does not jump while a gate is dragged.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

__all__ = ["BINS", "axis_range", "density_image", "histogram"]

#: Bins per axis of a density image or histogram.
BINS = 256
# Share of events allowed outside the axis on each side (isolated outliers would squash the plot).
_TAIL = 1e-4


def axis_range(values: np.ndarray, *, transformed: bool) -> tuple[float, float]:
    """The axis of one dimension: its values' range (outliers trimmed), padded by 5 %.

    Transformed axes always include 0..1 (the display range of the logicle,
    asinh and log scales of the strategy files).
    """
    finite = values[np.isfinite(values)]
    if finite.size > 200_000:  # a regular subsample gives the same quantiles
        finite = finite[:: finite.size // 200_000]
    if finite.size:
        lo, hi = (float(v) for v in np.quantile(finite, [_TAIL, 1 - _TAIL]))
    else:
        lo, hi = 0.0, 1.0
    if transformed:
        lo, hi = min(lo, 0.0), max(hi, 1.0)
    if not hi > lo:
        hi = lo + 1.0
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def _bin(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    scaled = (values - lo) * (BINS / (hi - lo))
    np.clip(scaled, 0, BINS - 1, out=scaled)  # events beyond the axis pile up on its edge
    return scaled.astype(np.intp)


def density_image(x: np.ndarray, y: np.ndarray, xr: tuple[float, float], yr: tuple[float, float]) -> dict[str, Any]:
    """A ``BINS x BINS`` log-density image (row 0 at the top, the highest y), base64 bytes 0..255."""
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.all():
        x, y = x[ok], y[ok]
    cells = (BINS - 1 - _bin(y, *yr)) * BINS + _bin(x, *xr)
    counts = np.bincount(cells, minlength=BINS * BINS)
    peak = int(counts.max()) if counts.size else 0
    scaled = np.zeros(BINS * BINS, dtype=np.uint8) if peak == 0 else \
        (np.log1p(counts) * (255.0 / np.log1p(peak))).astype(np.uint8)
    return {"bins": BINS, "peak": peak, "image": base64.b64encode(scaled.tobytes()).decode("ascii")}


def histogram(x: np.ndarray, xr: tuple[float, float]) -> dict[str, Any]:
    """Counts of ``x`` in ``BINS`` equal bins over the axis."""
    x = x[np.isfinite(x)]
    counts = np.bincount(_bin(x, *xr), minlength=BINS)
    return {"bins": BINS, "peak": int(counts.max()) if counts.size else 0, "counts": counts.tolist()}
