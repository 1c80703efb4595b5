"""Numba kernel behind :mod:`cytogate.batch.stats`: one channel within one population in O(n).

Quantiles are exact without sorting: while the population's values are
gathered, a 65,536-bin histogram of the top 16 bits of an order-preserving
integer code of the value rounded to float32 (sign, 8 exponent and 7 mantissa
bits; the rounding never reverses order) is built; the bin holding a
wanted rank is then found by a cumulative sum, and only that bin's values are
gathered (one scan for all the order statistics needed) and quickselected.  Semantics: events
outside the mask and NaN values are skipped; quantiles interpolate linearly
between order statistics at ``q/100 * (n - 1)`` (numpy's default "linear"
method); the geometric mean uses only values > 0; sums are in float64.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba.extending import intrinsic

__all__ = ["column_stats", "float_code", "float_key", "interpolate", "positive_factor", "renormalise_product",
           "quantile_ranks", "select_rank", "split_exponent"]


@numba.njit(cache=True)
def select_rank(buf, lo, hi, k):  # pragma: no cover - compiled
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


_QS = (0.1587, 0.5, 0.8413)  # robust CV's percentiles and the median


@numba.njit(cache=True, inline="always")
def quantile_ranks(n, ranks, fracs):  # pragma: no cover - compiled
    """The ranks of the order statistics behind P15.87, the median and P84.13 of n values.

    ``ranks[2t]`` and ``ranks[2t + 1]`` are the order statistics on either side of
    ``q_t * (n - 1)`` (numpy's "linear" method) and ``fracs[t]`` the weight of the upper one.
    """
    for t in range(3):
        position = _QS[t] * (n - 1)
        k = int(math.floor(position))
        fracs[t] = position - k
        ranks[2 * t] = k
        ranks[2 * t + 1] = k + 1 if fracs[t] != 0.0 and k + 1 < n else k


@numba.njit(cache=True, inline="always")
def interpolate(low, high, frac):  # pragma: no cover - compiled
    """numpy's linear interpolation between two neighbouring order statistics."""
    if frac == 0.0:
        return low
    if frac >= 0.5:
        return high - (high - low) * (1.0 - frac)
    return low + (high - low) * frac


@numba.njit(cache=True)
def _three_quantiles(buf, keys, n, hist, tmp, mark):  # pragma: no cover - compiled
    """P15.87, median and P84.13 of buf[:n], linear between order statistics at q*(n-1) like numpy.

    ``hist`` holds the key histogram of buf[:n] and is turned into its cumulative
    sum.  The (at most six) order statistics needed fall in at most six bins; one
    scan copies those bins' values into ``tmp`` and each statistic is then
    selected within its own bin.  ``mark`` (65536 int8, all zero) is left zero.
    """
    ranks = np.empty(6, dtype=np.int64)
    fracs = np.empty(3)
    quantile_ranks(n, ranks, fracs)
    for b in range(1, hist.shape[0]):
        hist[b] += hist[b - 1]
    bins = np.empty(6, dtype=np.int64)
    slot_bins = np.empty(6, dtype=np.int64)
    n_slots = 0
    for r in range(6):
        lo, hi = 0, hist.shape[0] - 1
        while lo < hi:  # first bin whose cumulative count exceeds the rank
            mid = (lo + hi) // 2
            if hist[mid] > ranks[r]:
                hi = mid
            else:
                lo = mid + 1
        bins[r] = lo
        if mark[lo] == 0:
            slot_bins[n_slots] = lo
            n_slots += 1
            mark[lo] = n_slots
    offsets = np.empty(n_slots + 1, dtype=np.int64)
    offsets[0] = 0
    for t in range(n_slots):
        b = slot_bins[t]
        offsets[t + 1] = offsets[t] + hist[b] - (hist[b - 1] if b > 0 else 0)
    fill = offsets[:n_slots].copy()
    for i in range(n):
        t = mark[keys[i]]
        if t:
            tmp[fill[t - 1]] = buf[i]
            fill[t - 1] += 1
    values = np.empty(6)
    for r in range(6):
        b = bins[r]
        t = mark[b] - 1
        below = hist[b - 1] if b > 0 else 0
        k = offsets[t] + ranks[r] - below
        select_rank(tmp, offsets[t], offsets[t + 1], k)
        values[r] = tmp[k]
    for t in range(n_slots):
        mark[slot_bins[t]] = 0
    out = np.empty(3)
    for t in range(3):
        out[t] = interpolate(values[2 * t], values[2 * t + 1], fracs[t])
    return out[0], out[1], out[2]


@numba.njit(cache=True, inline="always")
def float_code(x, f32, f32_bits):  # pragma: no cover - compiled
    """An order-preserving uint32 code of ``float32(x)`` (x not NaN): x <= y gives code(x) <= code(y).

    ``f32``/``f32_bits``: a one-element float32 array and its uint32 view.
    """
    f32[0] = np.float32(x)
    u = f32_bits[0]
    return u ^ ((np.uint32(0) - (u >> np.uint32(31))) | np.uint32(0x80000000))


@numba.njit(cache=True, inline="always")
def float_key(x, f32, f32_bits):  # pragma: no cover - compiled
    """Top 16 bits of :func:`float_code` (x not NaN).

    Rounding to float32 never reverses order, and its 8 exponent bits leave 7
    mantissa bits in the key, so typical data spread over many bins.
    """
    return np.uint16(float_code(x, f32, f32_bits) >> np.uint32(16))


@numba.njit(cache=True, inline="always")
def split_exponent(p, f64, f64_bits):  # pragma: no cover - compiled
    """``math.frexp(p)`` for p >= 0, read off the bits when p is a finite normal number (no libm call)."""
    if not (2.2250738585072014e-308 <= p < math.inf):  # zero, subnormal or infinite: rare, libm does it
        return math.frexp(p)
    f64[0] = p
    u = f64_bits[0]
    e = np.int64((u >> np.uint64(52)) & np.uint64(0x7FF)) - 1022
    f64_bits[0] = (u & np.uint64(0x800FFFFFFFFFFFFF)) | np.uint64(1022 << 52)
    return f64[0], e


@intrinsic
def positive_factor(typingctx, x):  # pragma: no cover - compiled
    """``x if x > 0.0 else 1.0`` as a float64, for a float x, as one select of a floating-point compare.

    The geometric mean's factor.  Written as Python, the conditional becomes a
    branch (also when the compare is shared with an integer count), and a branch
    on the sign of mixed data is mispredicted about one time in four: 3 ns of a
    value's 5 ns in the running product.  This compare and select compile to a
    compare mask and a blend.  Count the positive values elsewhere: an integer
    use of the same compare brings the branch back.
    """
    if not isinstance(x, numba.types.Float):
        return None

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[0], x, numba.types.float64)
        positive = builder.fcmp_ordered(">", value, ir.Constant(ir.DoubleType(), 0.0))
        return builder.select(positive, value, ir.Constant(ir.DoubleType(), 1.0))

    return numba.types.float64(x), codegen


@numba.njit(cache=True)
def renormalise_product(product, exponent, before, x, f64, f64_bits):  # pragma: no cover - compiled
    """The geometric mean's running product ``product * 2**exponent`` brought back near 1, exactly.

    The sum of logs is kept as a running product (one multiply per event instead
    of one log) with its binary exponent split off: the caller multiplies
    ``before`` by x (when x > 0) and calls this whenever the product leaves
    1e±150, so a factor within 1e±140 can neither overflow nor lose bits to
    underflow; a factor beyond is taken in again from ``before`` as mantissa and
    exponent.  Scaling by powers of two is exact.  Returns (product, exponent).
    Kept out of line: the call is rare, and the hot multiply stays a select.
    """
    if x > 0.0 and (x < 1e-140 or x > 1e140):
        mantissa, e = math.frexp(x)
        product = before * mantissa
        exponent += e
    product, e = split_exponent(product, f64, f64_bits)
    return product, exponent + e


@numba.njit(cache=True)
def column_stats(values, index, use_index, buf, keys, tmp, hist, mark):  # pragma: no cover - compiled
    """Statistics of ``values[index]`` (or of all values when ``use_index`` is False).

    Parameters
    ----------
    values : (n_events,) float array
    index : (n_selected,) int64 array
        Positions of the population's events (``np.flatnonzero(mask)``).
    use_index : bool
    buf, tmp : (n_events,) float64 scratch arrays
    keys : (n_events,) uint16 scratch array
    hist : (65536,) int32 or int64 scratch array (int32 while n_events < 2**31)
    mark : (65536,) int8 scratch array, all zero (left zero)

    Returns
    -------
    tuple
        n, n_positive, p15.87, median, p84.13, mean, sd (ddof=1), geometric mean.
        Statistics that need more values than there are are NaN.
    """
    n = 0
    total = 0.0
    n_pos = 0
    product = 1.0  # the geometric mean's, see renormalise_product
    exponent = 0
    hist[:] = 0
    f32 = np.empty(1, dtype=np.float32)
    f32_bits = f32.view(np.uint32)
    f64 = np.empty(1, dtype=np.float64)
    f64_bits = f64.view(np.uint64)
    count = index.shape[0] if use_index else values.shape[0]
    for j in range(count):
        x = float(values[index[j]]) if use_index else float(values[j])
        if x != x:
            continue
        buf[n] = x
        key = float_key(x, f32, f32_bits)
        keys[n] = key
        hist[key] += 1
        n += 1
        total += x
        before = product
        product *= positive_factor(x)
        if not (product < 1e150 and product > 1e-150):
            product, exponent = renormalise_product(product, exponent, before, x, f64, f64_bits)
    nan = np.nan
    if n == 0:
        return 0, 0, nan, nan, nan, nan, nan, nan
    mean = total / n
    # four interleaved sums of squares: independent add chains, and more accurate than one
    m0 = m1 = m2_ = m3 = 0.0
    n4 = n - n % 4
    for i in range(0, n4, 4):
        d0 = buf[i] - mean
        d1 = buf[i + 1] - mean
        d2 = buf[i + 2] - mean
        d3 = buf[i + 3] - mean
        m0 += d0 * d0
        m1 += d1 * d1
        m2_ += d2 * d2
        m3 += d3 * d3
        n_pos += (buf[i] > 0.0) + (buf[i + 1] > 0.0) + (buf[i + 2] > 0.0) + (buf[i + 3] > 0.0)
    for i in range(n4, n):
        d = buf[i] - mean
        m0 += d * d
        n_pos += buf[i] > 0.0
    m2 = (m0 + m1) + (m2_ + m3)
    sd = math.sqrt(m2 / (n - 1)) if n > 1 else nan
    geo = math.exp((math.log(product) + exponent * math.log(2.0)) / n_pos) if n_pos > 0 else nan
    p16, med, p84 = _three_quantiles(buf, keys, n, hist, tmp, mark)
    return n, n_pos, p16, med, p84, mean, sd, geo
