"""Numba kernel behind :mod:`cytogate.batch.stats`: one channel within one population in O(n).

Quantiles are exact without sorting: while the population's values are
gathered, a 65,536-bin histogram of the top 16 bits of an order-preserving
integer key (sign, exponent, 4 mantissa bits) is built; the bin holding a
wanted rank is then found by a cumulative sum, and only that bin's values are
gathered and quickselected.  Semantics: events
outside the mask and NaN values are skipped; quantiles interpolate linearly
between order statistics at ``q/100 * (n - 1)`` (numpy's default "linear"
method); the geometric mean uses only values > 0; sums are in float64.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["column_stats"]


@numba.njit(cache=True)
def _select(buf, lo, hi, k):  # pragma: no cover - compiled
    """Reorder buf[lo:hi] so buf[k] is the value of rank k, smaller ones before it, larger after.

    Hoare partition with a median-of-three pivot; buf holds no NaN.
    """
    hi -= 1
    while hi > lo:
        mid = (lo + hi) // 2
        a, b, c = buf[lo], buf[mid], buf[hi]
        if a > b:
            a, b = b, a
        if b > c:
            b = c
            if a > b:
                b = a
        pivot = b
        i, j = lo, hi
        while i <= j:
            while buf[i] < pivot:
                i += 1
            while buf[j] > pivot:
                j -= 1
            if i <= j:
                buf[i], buf[j] = buf[j], buf[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return


@numba.njit(cache=True)
def _rank_value(buf, keys, n, cum, k, tmp):  # pragma: no cover - compiled
    """The value of rank k (0-based) among buf[:n], using the key histogram's cumulative counts."""
    lo, hi = 0, cum.shape[0] - 1
    while lo < hi:  # first bin whose cumulative count exceeds k
        mid = (lo + hi) // 2
        if cum[mid] > k:
            hi = mid
        else:
            lo = mid + 1
    below = cum[lo - 1] if lo > 0 else 0
    m = 0
    for i in range(n):
        if keys[i] == lo:
            tmp[m] = buf[i]
            m += 1
    r = k - below
    _select(tmp, 0, m, r)
    return tmp[r]


@numba.njit(cache=True)
def _quantile(buf, keys, n, cum, q, tmp):  # pragma: no cover - compiled
    """Quantile q (0-1) of buf[:n], linear between order statistics at q*(n-1) like numpy."""
    position = q * (n - 1)
    k = int(math.floor(position))
    frac = position - k
    low = _rank_value(buf, keys, n, cum, k, tmp)
    if frac == 0.0 or k + 1 >= n:
        return low
    high = _rank_value(buf, keys, n, cum, k + 1, tmp)
    if frac >= 0.5:
        return high - (high - low) * (1.0 - frac)
    return low + (high - low) * frac


@numba.njit(cache=True)
def column_stats(values, index, use_index, buf, keys, tmp, hist):  # pragma: no cover - compiled
    """Statistics of ``values[index]`` (or of all values when ``use_index`` is False).

    Parameters
    ----------
    values : (n_events,) float array
    index : (n_selected,) int64 array
        Positions of the population's events (``np.flatnonzero(mask)``).
    use_index : bool
    buf, tmp : (n_events,) float64 scratch arrays
    keys : (n_events,) uint16 scratch array
    hist : (65536,) int64 scratch array

    Returns
    -------
    tuple
        n, n_positive, p15.87, median, p84.13, mean, sd (ddof=1), geometric mean.
        Statistics that need more values than there are are NaN.
    """
    n = 0
    total = 0.0
    n_pos = 0
    # sum of logs as a running product with its binary exponent split off now
    # and then: one multiply per event instead of one log
    product = 1.0
    exponent = 0
    hist[:] = 0
    bits = buf.view(np.uint64)
    sign = np.uint64(1) << np.uint64(63)
    count = index.shape[0] if use_index else values.shape[0]
    for j in range(count):
        x = float(values[index[j]]) if use_index else float(values[j])
        if x != x:
            continue
        buf[n] = x
        u = bits[n]
        u = ~u if u & sign else u | sign  # unsigned order == float order
        key = np.uint16(u >> np.uint64(48))
        keys[n] = key
        hist[key] += 1
        n += 1
        total += x
        if x > 0.0:
            n_pos += 1
            product *= x
            if n_pos % 16 == 0 or product > 1e290 or product < 1e-290:
                mantissa, e = math.frexp(product)
                product = mantissa
                exponent += e
    nan = np.nan
    if n == 0:
        return 0, 0, nan, nan, nan, nan, nan, nan
    mean = total / n
    m2 = 0.0
    for i in range(n):
        d = buf[i] - mean
        m2 += d * d
    sd = math.sqrt(m2 / (n - 1)) if n > 1 else nan
    geo = math.exp((math.log(product) + exponent * math.log(2.0)) / n_pos) if n_pos > 0 else nan
    cum = np.cumsum(hist)
    p16 = _quantile(buf, keys, n, cum, 0.1587, tmp)
    med = _quantile(buf, keys, n, cum, 0.5, tmp)
    p84 = _quantile(buf, keys, n, cum, 0.8413, tmp)
    return n, n_pos, p16, med, p84, mean, sd, geo
