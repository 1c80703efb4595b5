"""Exact order statistics and uniform histograms of finite values, equal to numpy's, in fewer passes.

The fits locate cuts on a parent's events, often a million of them, and each
one needs medians, percentiles and a fine histogram.  numpy's ``median`` and
``percentile`` partition a copy of the data (introselect), and its uniform
``histogram`` makes several temporary arrays per block.  Here an order
statistic is found by counting the values into buckets over their range (one
pass), and reading only the bucket that holds the wanted rank (a second pass
copies that bucket out; a crowded bucket is split again the same way); the
histogram is one pass.  The results are the very numbers numpy returns:
:func:`median`, :func:`percentile` and :func:`quantile` interpolate between
the same two order statistics with numpy's formulas (linear method), and
:func:`uniform_histogram` repeats numpy's bin arithmetic, edge corrections
included.  ``tests/adaptive/test_order.py`` checks both against numpy.

Inputs must be 1-D and finite (the fits drop NaN and infinities first); small
inputs go straight to numpy's selection (the histogram is one pass at every size:
numpy's costs more than the counting on a fit's few thousand values).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["binned_counts", "even_edges", "median", "order_statistics", "pairwise_sum", "percentile", "quantile",
           "quantiles_and_std", "uniform_histogram"]

_BUCKETS = 4096
_SMALL = 16384  # at most this many values (and a crowded bucket): numpy's own selection (np.partition)
_DIRECT = 1 << 18  # up to this many values: one compiled call (the Python steps below cost ~0.2 ms)
_CROWDED = 4096  # a bucket holding more values than this (and a 16th of them) is split again, not sorted


@njit(cache=True, nogil=True)
def _block_sum(x: np.ndarray, lo: int, hi: int) -> float:
    n = hi - lo
    if n < 8:
        res = -0.0
        for i in range(lo, hi):
            res += x[i]
        return res
    r0, r1, r2, r3 = x[lo], x[lo + 1], x[lo + 2], x[lo + 3]
    r4, r5, r6, r7 = x[lo + 4], x[lo + 5], x[lo + 6], x[lo + 7]
    i = lo + 8
    top = hi - n % 8
    while i < top:
        r0 += x[i]
        r1 += x[i + 1]
        r2 += x[i + 2]
        r3 += x[i + 3]
        r4 += x[i + 4]
        r5 += x[i + 5]
        r6 += x[i + 6]
        r7 += x[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < hi:
        res += x[i]
        i += 1
    return res


@njit(cache=True, nogil=True)
def pairwise_sum(x: np.ndarray, lo: int, hi: int) -> float:
    """``x[lo:hi].sum()`` of a contiguous float64 array, the same bits: numpy's pairwise summation.

    Up to 128 values: below 8 a plain loop, else eight running sums added as
    ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))`` and the rest one by one.
    Above, the two halves (the first a multiple of 8 long) are summed alike and
    added; the halving is walked with an explicit stack (numba's cache cannot
    hold a recursive function safely).
    """
    if hi - lo <= 0:
        return 0.0
    if hi - lo <= 128:
        return _block_sum(x, lo, hi)
    starts = np.empty(64, dtype=np.int64)
    stops = np.empty(64, dtype=np.int64)
    stage = np.zeros(64, dtype=np.int64)  # 0: not split yet, 1: left half summed, 2: both halves summed
    left = np.empty(64)
    top = 0
    starts[0], stops[0] = lo, hi
    value = 0.0
    while True:
        a, b = starts[top], stops[top]
        half = (b - a) // 2
        half -= half % 8
        if stage[top] == 0 and b - a <= 128:
            value = _block_sum(x, a, b)
            top -= 1
        elif stage[top] == 0:  # sum the left half first
            stage[top] = 1
            top += 1
            starts[top], stops[top], stage[top] = a, a + half, 0
            continue
        elif stage[top] == 1:  # the left half's sum is in value: now the right half
            left[top] = value
            stage[top] = 2
            top += 1
            starts[top], stops[top], stage[top] = a + half, b, 0
            continue
        else:
            value = left[top] + value
            top -= 1
        if top < 0:
            return value


@njit(cache=True, nogil=True)
def _min_max(x: np.ndarray) -> tuple[float, float]:
    lo = x[0]
    hi = x[0]
    for v in x:  # branch-free, so it vectorizes (the values are finite: min and max are exact either way)
        lo = min(lo, v)
        hi = max(hi, v)
    return lo, hi


@njit(cache=True, nogil=True)
def _bucket_counts(x: np.ndarray, lo: float, scale: float, n_buckets: int) -> np.ndarray:
    counts = np.zeros(n_buckets, dtype=np.int64)
    for v in x:
        b = int((v - lo) * scale)  # monotone in v: buckets keep the order of the values
        if b >= n_buckets:
            b = n_buckets - 1
        counts[b] += 1
    return counts


@njit(cache=True, nogil=True)
def _bucket_values(x: np.ndarray, lo: float, scale: float, n_buckets: int, slot: np.ndarray,
                   starts: np.ndarray, total: int) -> np.ndarray:
    """The values of the buckets with ``slot[b] >= 0``, bucket by bucket (slot ``s`` from ``starts[s]``)."""
    out = np.empty(total, dtype=np.float64)
    fill = starts.copy()
    for v in x:
        b = int((v - lo) * scale)
        if b >= n_buckets:
            b = n_buckets - 1
        s = slot[b]
        if s >= 0:
            out[fill[s]] = v
            fill[s] += 1
    return out


@njit(cache=True, nogil=True)
def _select_bucketed(x: np.ndarray, ranks: np.ndarray) -> tuple[np.ndarray, bool]:
    """``np.sort(x)[ranks]`` for sorted, distinct ranks, all in one call: bucket counts, then each wanted bucket sorted.

    ``ok`` is False (and the values unset) when the range cannot be bucketed or a
    wanted bucket is crowded (sorting it would cost more than splitting it again).
    """
    n = x.size
    q = ranks.size
    out = np.empty(q, dtype=np.float64)
    lo, hi = _min_max(x)
    if lo == hi:
        out[:] = lo
        return out, True
    span = hi - lo
    scale = _BUCKETS / span
    if not (np.isfinite(span) and np.isfinite(scale) and scale > 0):
        return out, False
    counts = _bucket_counts(x, lo, scale, _BUCKETS)
    # the bucket holding each rank, and how many values lie in the buckets before it
    bucket = np.empty(q, dtype=np.int64)
    below = np.empty(q, dtype=np.int64)
    r = 0
    cum = 0
    for b in range(_BUCKETS):
        c = counts[b]
        while r < q and ranks[r] < cum + c:
            bucket[r] = b
            below[r] = cum
            r += 1
        cum += c
    slot = np.full(_BUCKETS, -1, dtype=np.int64)
    starts = np.empty(q + 1, dtype=np.int64)
    n_slots = 0
    total = 0
    for r in range(q):
        b = bucket[r]
        if slot[b] < 0:
            if counts[b] > _CROWDED and 16 * counts[b] > n:
                return out, False
            slot[b] = n_slots
            starts[n_slots] = total
            total += counts[b]
            n_slots += 1
    starts[n_slots] = total
    pool = _bucket_values(x, lo, scale, _BUCKETS, slot, starts[:n_slots], total)
    for s in range(n_slots):
        pool[starts[s]:starts[s + 1]].sort()
    for r in range(q):
        s = slot[bucket[r]]
        out[r] = pool[starts[s] + ranks[r] - below[r]]
    return out, True


def order_statistics(values: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """``np.sort(values)[ranks]`` for finite 1-D float64 ``values`` and ranks in ``[0, n)``, without sorting."""
    x = np.ascontiguousarray(values, dtype=np.float64)
    ranks = np.asarray(ranks, dtype=np.int64)
    n = x.size
    if 0 < n <= _DIRECT:
        wanted = np.unique(ranks)
        picked, ok = _select_bucketed(x, wanted)
        if ok:
            return picked[np.searchsorted(wanted, ranks)]
    if n <= _SMALL:
        return np.partition(x, np.unique(ranks))[ranks] if n else np.empty(0)
    lo, hi = _min_max(x)
    if lo == hi:
        return np.full(ranks.shape, lo)
    scale = _BUCKETS / (hi - lo)
    if not np.isfinite(scale) or scale <= 0 or not np.isfinite(hi - lo):
        return np.partition(x, np.unique(ranks))[ranks]  # a range too wide to bucket: numpy's way
    counts = _bucket_counts(x, lo, scale, _BUCKETS)
    below = np.concatenate(([0], np.cumsum(counts)))  # values in buckets before b: below[b]
    buckets = np.searchsorted(below, ranks, side="right") - 1
    needed = np.unique(buckets)
    if counts[needed].max() == n:  # all in one bucket (rounding at the range's ends): numpy's way
        return np.partition(x, np.unique(ranks))[ranks]
    slot = np.full(_BUCKETS, -1, dtype=np.int64)
    slot[needed] = np.arange(needed.size)
    sizes = counts[needed]
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    pool = _bucket_values(x, lo, scale, _BUCKETS, slot, starts, int(sizes.sum()))
    out = np.empty(ranks.shape, dtype=np.float64)
    for s, b in enumerate(needed):
        inside = buckets == b
        part = pool[starts[s]:starts[s] + sizes[s]]
        out[inside] = order_statistics(part, ranks[inside] - below[b])
    return out


def median(values: np.ndarray) -> float:
    """``np.median`` of finite 1-D values."""
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    if n <= _SMALL:
        return float(np.median(x))
    if n % 2:
        return float(order_statistics(x, np.array([(n - 1) // 2]))[0])
    pair = order_statistics(x, np.array([n // 2 - 1, n // 2]))
    return float(np.mean(pair))  # numpy's median: the mean of the two middle values


@njit(cache=True, nogil=True)
def _spots(n: int, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each q, the two ranks numpy's linear quantile reads and the weight between them (numpy's arithmetic)."""
    last = n - 1
    k = q.size
    below = np.empty(k, dtype=np.int64)
    above = np.empty(k, dtype=np.int64)
    gamma = np.empty(k)
    for j in range(k):
        virtual = last * q[j]
        if virtual >= last:  # numpy's gamma uses the clipped index as "previous"
            below[j], above[j], gamma[j] = last, last, virtual - last
        elif virtual < 0:
            below[j], above[j], gamma[j] = 0, 0, virtual
        else:
            floor = math.floor(virtual)
            below[j], above[j], gamma[j] = floor, floor + 1, virtual - floor
    return below, above, gamma


@njit(cache=True, nogil=True)
def _interpolated(ranks: np.ndarray, picked: np.ndarray, below: np.ndarray, above: np.ndarray,
                  gamma: np.ndarray) -> np.ndarray:
    """numpy's linear interpolation between the order statistics ``picked`` (of the sorted ``ranks``)."""
    out = np.empty(gamma.size)
    for j in range(gamma.size):
        low = picked[np.searchsorted(ranks, below[j])]
        high = picked[np.searchsorted(ranks, above[j])]
        diff = high - low
        out[j] = high - diff * (1 - gamma[j]) if gamma[j] >= 0.5 else low + diff * gamma[j]
    return out


def quantile(values: np.ndarray, q: np.ndarray | list[float]) -> np.ndarray:
    """``np.quantile(values, q)`` (linear method) of finite 1-D values, q an array in [0, 1].

    numpy's ranks and interpolation (so the same bits), around one selection of
    the order statistics they need.
    """
    x = np.ascontiguousarray(values, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    n = x.size
    if n == 0 or not np.isfinite(q).all():
        return np.quantile(x, q)  # numpy's error
    below, above, gamma = _spots(n, np.ascontiguousarray(q.ravel()))
    ranks = np.unique(np.concatenate((below, above)))
    picked, ok = _select_bucketed(x, ranks) if n <= _DIRECT else (ranks, False)
    if not ok:
        picked = order_statistics(x, ranks)
    return _interpolated(ranks, picked, below, above, gamma).reshape(q.shape)


@njit(cache=True, nogil=True)
def _quantiles_and_std(x: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, float, bool]:
    # quantile()'s steps and np.std's (mean, squared deviations, both summed pairwise) in one call
    n = x.size
    below, above, gamma = _spots(n, q)
    ranks = np.unique(np.concatenate((below, above)))
    picked, ok = _select_bucketed(x, ranks)
    if not ok:
        return np.empty(q.size), 0.0, False
    out = _interpolated(ranks, picked, below, above, gamma)
    mean = pairwise_sum(x, 0, n) / n
    squares = np.empty(n)
    for i in range(n):
        d = x[i] - mean
        squares[i] = d * d
    return out, math.sqrt(pairwise_sum(squares, 0, n) / n), True


def quantiles_and_std(values: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, float]:
    """``(quantile(values, q), float(np.std(values)))`` of finite 1-D values, the same bits, in one compiled call.

    ``q`` is a 1-D float64 array in [0, 1]; at least one value.  Where the values
    cannot be bucketed in one call, the two are computed apart as before.
    """
    x = np.ascontiguousarray(values, dtype=np.float64)
    q = np.ascontiguousarray(q, dtype=np.float64)
    if 0 < x.size <= _DIRECT and np.isfinite(q).all():
        found, spread, ok = _quantiles_and_std(x, q)
        if ok:
            return found, spread
    return quantile(x, q), float(np.std(x))


def percentile(values: np.ndarray, p: np.ndarray | list[float]) -> np.ndarray:
    """``np.percentile(values, p)`` (linear method) of finite 1-D values, p an array in [0, 100]."""
    return quantile(values, np.true_divide(np.asarray(p, dtype=np.float64), 100))


@njit(cache=True, nogil=True)
def even_edges(first: float, last: float, n_bins: int) -> np.ndarray:
    """``np.linspace(first, last, n_bins + 1)`` for finite ``first < last``, the same bits."""
    edges = np.empty(n_bins + 1)
    step = (last - first) / n_bins
    for i in range(n_bins):
        edges[i] = i * step + first
    edges[n_bins] = last
    return edges


@njit(cache=True, nogil=True)
def binned_counts(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """How many of ``x`` fall in each bin of the even ``edges``, as ``np.histogram`` counts them."""
    n_bins = edges.size - 1
    first, last = edges[0], edges[n_bins]
    counts = np.zeros(n_bins, dtype=np.intp)
    norm = n_bins / (last - first)  # a multiplication per value; the edge checks below make the bin numpy's
    for v in x:
        if not (v >= first and v <= last):
            continue
        i = int((v - first) * norm)  # numpy's guess, within one bin of the right one
        if i >= n_bins:
            i = n_bins - 1
        if v < edges[i]:  # numpy's corrections within an ulp of an edge
            i -= 1
        elif i != n_bins - 1 and v >= edges[i + 1]:
            i += 1
        counts[i] += 1
    return counts


def uniform_histogram(values: np.ndarray, bins: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """``np.histogram(values, bins=bins, range=(lo, hi))`` of finite 1-D float64 values: ``(counts, edges)``."""
    x = np.ascontiguousarray(values, dtype=np.float64)
    first, last = float(lo), float(hi)
    if not (np.isfinite(first) and np.isfinite(last)) or first > last or x.size == 0:
        return np.histogram(x, bins=bins, range=(lo, hi))
    if first == last:
        first, last = first - 0.5, last + 0.5
    edges = even_edges(first, last, bins)
    return binned_counts(x, edges), edges
