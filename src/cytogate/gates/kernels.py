"""Numba gate kernels: pure array functions with stated boundary and NaN rules.

Every kernel takes event values laid out as ``values : (n_dims, n_events)``
float64 (one row per gate dimension, already compensated and transformed) and
returns a boolean mask ``(n_events,)``.  The rules follow the Gating-ML 2.0
compliance truth (``whitews+FlowKit/data/gate_ref/truth``):

* intervals (ranges, rectangles, quadrants) include the minimum and exclude the
  maximum; an open bound is encoded as ``-inf`` / ``+inf`` and then admits the
  infinite values on its side;
* polygons use the even-odd (crossing-number) rule, which is what the truth for
  the non-simple ``Polygon3NS`` requires;
* ellipsoids include their boundary (``distance² <= D²``);
* an event with NaN in any dimension the gate reads is outside.

This module imports only numpy and numba (docs/architecture.md, "Conventions").  No ``fastmath``: it
would let the compiler assume NaN never occurs.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = [
    "rectangle_mask",
    "interval_mask_banded",
    "polygon_mask",
    "ellipsoid_mask",
    "gather_weighted",
    "gather_weighted_many",
    "polygon_mask_rows",
    "select_subset",
]

#: Events per chunk of the polygon kernels: their coordinates stay in the L1 cache
#: while every edge is tested against them.
_POLYGON_CHUNK = 2048


@numba.njit(cache=True, inline="always", error_model="numpy")
def _even_odd_chunk(px, py, vx, vy, inside):
    """Even-odd rule for a chunk of points: ``inside`` (False on entry) toggles at each crossing.

    A horizontal ray from (px, py) towards +x crosses edge (j, k) when
    ``(vy[k] > py) != (vy[j] > py)`` and ``px < xc`` with
    ``xc = vx[k] + (py - vy[k]) * (vx[j] - vx[k]) / (vy[j] - vy[k])``.  Edges
    are the outer loop and points the inner one, without branches, so the
    compiler tests several points per instruction; ``xc`` is evaluated in that
    exact order of operations, so every point gets the same bits as a
    point-at-a-time test.  Where the edge is horizontal the division is by
    zero, harmless because such an edge never straddles (IEEE division,
    ``error_model="numpy"``).  NaN coordinates never cross: outside.

    Points outside the bounding box are outside: ``xc`` may round a few ulps
    beyond an edge's end, which would otherwise let a point just past the
    polygon's extreme x cross an odd number of edges.
    """
    n = vx.shape[0]
    m = px.shape[0]
    j = n - 1
    for k in range(n):
        yk = vy[k]
        yj = vy[j]
        xk = vx[k]
        dx = vx[j] - xk
        dy = yj - yk
        for i in range(m):
            y = py[i]
            xc = xk + (y - yk) * dx / dy
            inside[i] ^= ((yk > y) != (yj > y)) & (px[i] < xc)
        j = k
    xmin = vx.min()
    xmax = vx.max()
    ymin = vy.min()
    ymax = vy.max()
    for i in range(m):
        x = px[i]
        y = py[i]
        inside[i] &= (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax)


@numba.njit(cache=True)
def rectangle_mask(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Events inside an axis-aligned box.

    Parameters
    ----------
    values : (n_dims, n_events) float64
    lo, hi : (n_dims,) float64
        Bounds per dimension; ``-inf`` / ``+inf`` mean open.

    Returns
    -------
    (n_events,) bool
        ``lo <= v < hi`` in every dimension.  The minimum is inside and the
        maximum outside; an open maximum (``+inf``) also admits ``v = +inf``,
        an open minimum admits ``-inf``.  NaN in any dimension: outside.
    """
    n_dims, n_events = values.shape
    out = np.empty(n_events, dtype=np.bool_)
    for i in range(n_events):
        inside = True
        for k in range(n_dims):
            v = values[k, i]
            if not (v >= lo[k]):  # also rejects NaN
                inside = False
                break
            if hi[k] != np.inf and not (v < hi[k]):
                inside = False
                break
        out[i] = inside
    return out


@numba.njit(cache=True)
def interval_mask_banded(
    x: np.ndarray, lo: float, hi: float, lo_tol: float, hi_tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """``lo <= x < hi`` plus the events too close to a bound to decide.

    Used when an interval on a transformed axis has been mapped back to raw
    units through the inverse transform: rounding in the inverse can move a
    bound by a few ulps, so events within ``lo_tol`` of ``lo`` (or ``hi_tol`` of
    ``hi``) are reported as undecided and the caller re-tests them exactly.

    Parameters
    ----------
    x : (n_events,) float64
    lo, hi : float
        Bounds in raw units; ``-inf`` / ``+inf`` mean open.
    lo_tol, hi_tol : float
        Half-widths of the undecided bands around ``lo`` and ``hi`` (>= 0).

    Returns
    -------
    mask : (n_events,) bool
        ``lo <= x < hi`` (an open ``+inf`` maximum admits ``+inf``); NaN is outside.
    undecided : (n_undecided,) int64
        Positions with ``|x - lo| <= lo_tol`` or ``|x - hi| <= hi_tol``.
    """
    n = x.shape[0]
    out = np.empty(n, dtype=np.bool_)
    undecided = np.empty(n, dtype=np.int64)
    n_und = 0
    for i in range(n):
        v = x[i]
        inside = v >= lo and (hi == np.inf or v < hi)
        out[i] = inside
        if abs(v - lo) <= lo_tol or abs(v - hi) <= hi_tol:
            undecided[n_und] = i
            n_und += 1
    return out, undecided[:n_und].copy()


@numba.njit(cache=True, error_model="numpy")
def polygon_mask(x: np.ndarray, y: np.ndarray, vx: np.ndarray, vy: np.ndarray) -> np.ndarray:
    """Events inside a polygon by the even-odd (crossing-number) rule.

    Parameters
    ----------
    x, y : (n_events,) float64
        Event coordinates.
    vx, vy : (n_vertices,) float64
        Vertices in order; the polygon closes from the last to the first.

    Returns
    -------
    (n_events,) bool
        A horizontal ray from the event towards +x is cast; the event is inside
        when it crosses an odd number of edges.  An edge counts when one end is
        strictly above the event and the other at or below it (``vy > y`` differs),
        and the crossing lies strictly right of the event.  So points on left and
        bottom edges are inside, points on right and top edges outside (the same
        half-open convention as rectangles); where a non-simple polygon overlaps
        itself, doubly covered regions are outside.  NaN in x or y: outside.
    """
    n = x.shape[0]
    out = np.zeros(n, dtype=np.bool_)
    for start in range(0, n, _POLYGON_CHUNK):
        stop = min(start + _POLYGON_CHUNK, n)
        _even_odd_chunk(x[start:stop], y[start:stop], vx, vy, out[start:stop])
    return out


@numba.njit(cache=True)
def ellipsoid_mask(values: np.ndarray, mean: np.ndarray, inv_cov: np.ndarray, distance_sq: float) -> np.ndarray:
    """Events inside an n-dimensional ellipsoid (Gating-ML ``EllipsoidGate``).

    Parameters
    ----------
    values : (n_dims, n_events) float64
    mean : (n_dims,) float64
    inv_cov : (n_dims, n_dims) float64
        Inverse of the gate's covariance matrix, used as given (not symmetrised).
    distance_sq : float
        Squared Mahalanobis radius D².

    Returns
    -------
    (n_events,) bool
        ``(v - mean)ᵀ · inv_cov · (v - mean) <= D²``: the boundary is inside.
        NaN in any dimension: outside.
    """
    n_dims, n_events = values.shape
    out = np.empty(n_events, dtype=np.bool_)
    diff = np.empty(n_dims, dtype=np.float64)
    for i in range(n_events):
        for a in range(n_dims):
            diff[a] = values[a, i] - mean[a]
        d2 = 0.0
        for a in range(n_dims):
            row = 0.0
            for b in range(n_dims):
                row += inv_cov[a, b] * diff[b]
            d2 += diff[a] * row
        out[i] = d2 <= distance_sq  # NaN compares False
    return out


@numba.njit(cache=True)
def gather_weighted(matrix: np.ndarray, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted sum of some columns of an event matrix, on some rows.

    Used for compensated dimensions (weights = one column of the unmixing
    matrix) and, with one column and weight 1, to read a channel as float64.

    Parameters
    ----------
    matrix : (n_events, n_channels) float32 or float64
    rows : (m,) int64
        Event indices to read, in order; an empty array means every event.
    cols : (k,) int64
        Channel indices.
    weights : (k,) float64

    Returns
    -------
    (m,) float64
        ``sum_j weights[j] * matrix[rows[i], cols[j]]`` accumulated in float64 in
        the order of ``cols``.  NaN or infinite inputs propagate (IEEE rules).
    """
    all_rows = rows.shape[0] == 0
    m = matrix.shape[0] if all_rows else rows.shape[0]
    k = cols.shape[0]
    out = np.empty(m, dtype=np.float64)
    # Four rows at a time: four independent add chains keep the FPU busy, while each
    # row is still summed alone, term by term in column order (the same bits as one
    # row at a time; no fastmath, so nothing is reassociated).
    m4 = m - m % 4
    for i in range(0, m4, 4):
        if all_rows:
            r0, r1, r2, r3 = i, i + 1, i + 2, i + 3
        else:
            r0, r1, r2, r3 = rows[i], rows[i + 1], rows[i + 2], rows[i + 3]
        a0 = a1 = a2 = a3 = 0.0
        for j in range(k):
            w = weights[j]
            c = cols[j]
            a0 += w * np.float64(matrix[r0, c])
            a1 += w * np.float64(matrix[r1, c])
            a2 += w * np.float64(matrix[r2, c])
            a3 += w * np.float64(matrix[r3, c])
        out[i] = a0
        out[i + 1] = a1
        out[i + 2] = a2
        out[i + 3] = a3
    for i in range(m4, m):
        r = i if all_rows else rows[i]
        acc = 0.0
        for j in range(k):
            acc += weights[j] * np.float64(matrix[r, cols[j]])
        out[i] = acc
    return out


@numba.njit(cache=True)
def gather_weighted_many(matrix: np.ndarray, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Several weighted column sums in one pass over the rows (fused compensation).

    Parameters
    ----------
    matrix : (n_events, n_channels) float32 or float64
    rows : (m,) int64
        Event indices; an empty array means every event.
    cols : (k,) int64
        Channel indices read (the union over all outputs).
    weights : (d, k) float64
        One row of weights per output; zeros are skipped.

    Returns
    -------
    (d, m) float64
        ``out[o, i] = sum_j weights[o, j] * matrix[rows[i], cols[j]]``, each sum
        accumulated in float64 in the order of ``cols`` (so equal to
        :func:`gather_weighted` with that output's non-zero columns).  NaN and
        infinities propagate.
    """
    all_rows = rows.shape[0] == 0
    m = matrix.shape[0] if all_rows else rows.shape[0]
    k = cols.shape[0]
    d = weights.shape[0]
    out = np.empty((d, m), dtype=np.float64)
    row = np.empty(k, dtype=np.float64)
    for i in range(m):
        r = i if all_rows else rows[i]
        for j in range(k):
            row[j] = matrix[r, cols[j]]
        for o in range(d):
            acc = 0.0
            for j in range(k):
                w = weights[o, j]
                if w != 0.0:
                    acc += w * row[j]
            out[o, i] = acc
    return out


@numba.njit(cache=True, error_model="numpy")
def polygon_mask_rows(
    matrix: np.ndarray, rows: np.ndarray, cx: int, cy: int, vx: np.ndarray, vy: np.ndarray
) -> np.ndarray:
    """:func:`polygon_mask` read straight from two columns of an event matrix.

    Parameters
    ----------
    matrix : (n_events, n_channels) float32 or float64
    rows : (m,) int64
        Event indices; an empty array means every event.
    cx, cy : int
        Columns holding x and y (converted to float64 before the test).
    vx, vy : (n_vertices,) float64

    Returns
    -------
    (m,) bool
        Exactly ``polygon_mask(x, y, vx, vy)`` on those rows: even-odd rule,
        left/bottom edges inside, right/top edges outside, NaN outside.
    """
    all_rows = rows.shape[0] == 0
    m = matrix.shape[0] if all_rows else rows.shape[0]
    out = np.zeros(m, dtype=np.bool_)
    px = np.empty(_POLYGON_CHUNK, dtype=np.float64)
    py = np.empty(_POLYGON_CHUNK, dtype=np.float64)
    for start in range(0, m, _POLYGON_CHUNK):
        stop = min(start + _POLYGON_CHUNK, m)
        for i in range(start, stop):
            r = i if all_rows else rows[i]
            px[i - start] = matrix[r, cx]
            py[i - start] = matrix[r, cy]
        _even_odd_chunk(px[:stop - start], py[:stop - start], vx, vy, out[start:stop])
    return out


@numba.njit(cache=True)
def select_subset(rows: np.ndarray, inside: np.ndarray, full: np.ndarray) -> np.ndarray:
    """The events of a subset that a child gate keeps, as indices and as a mask.

    Parameters
    ----------
    rows : (m,) int64
        The parent's events (indices into ``full``).
    inside : (m,) bool
        The gate's result on those events.
    full : (n_events,) bool
        Written: True exactly at ``rows[inside]``, False elsewhere.

    Returns
    -------
    (k,) int64
        ``rows[inside]``, in order.
    """
    full[:] = False
    out = np.empty(rows.shape[0], dtype=np.int64)
    k = 0
    for i in range(rows.shape[0]):  # without branches: kept and dropped events cost the same
        r = rows[i]
        keep = inside[i]
        out[k] = r
        full[r] = keep  # rows are distinct, so this writes each event once
        k += np.int64(keep)  # type: ignore[assignment]  # numba types k as int64 throughout
    return out[:k].copy()
