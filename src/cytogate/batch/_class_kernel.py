"""Numba kernels behind :mod:`cytogate.batch.stats`: every population of a sample in one pass per channel.

Populations overlap (a parent holds its children), so the events are first cut
into *membership classes*: the events that belong to exactly the same
populations.  A typical tree has a few more classes than populations, and each
event is in exactly one class.  The values of each channel are laid out class
by class (event order kept within a class), so one pass over the column visits
every event once, whatever the number of populations, with the class's running
sums in registers:

- pass 1: per class, a 65,536-bin histogram of the order-preserving float32 key
  of :func:`cytogate.batch._stats_kernel.float_key` (each key kept for pass 2),
  the count, a compensated (Neumaier) sum, the product of the positive values
  with its binary exponent split off, and a 256-bin histogram of the key's top
  byte (summed from the fine bins for a large class);
- a population's histogram is the sum of its classes' (counts are exact), so
  the bins holding its six order statistics (either side of P15.87, median,
  P84.13) are found from the coarse histogram, then the fine bins of one
  coarse bin;
- pass 2: per class, the sum of squared deviations from the class mean and the
  count of positive values, and the values whose kept key falls in a wanted bin
  gathered class by class;
- per population, the classes' sums are combined (Chan's formula for the sum
  of squares), and each order statistic is selected among the gathered values
  of its bin (a large bin split once more on the key's next 8 bits; the upper
  of two neighbouring ranks is the least value above the lower): exact, so
  quantiles are bit for bit those of a sort.

Semantics are those of :func:`cytogate.batch._stats_kernel.column_stats`: NaN
skipped, numpy's "linear" quantiles, geometric mean over values > 0.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ._stats_kernel import (float_code, float_key, interpolate, positive_factor, quantile_ranks, renormalise_product,
                            select_rank, split_exponent)

__all__ = ["class_positions", "class_stats", "membership_classes", "scatter_columns", "N_RESULTS"]

#: Per population x channel: n, n_positive, p15.87, median, p84.13, mean, sd (ddof=1), geometric mean.
N_RESULTS = 8


@numba.njit(cache=True)
def membership_classes(masks, limit):  # pragma: no cover - compiled
    """Cut events into classes of equal membership.

    Parameters
    ----------
    masks : (P, n) uint8 array of 0/1
    limit : int
        Most classes wanted.

    Returns
    -------
    cls : (n,) int32, each event's class (numbered in order of first appearance)
    members : (K, P) uint8, ``members[c, p]`` = 1 when class c lies in population p
    k : int, the number of classes K, or -1 when there are more than ``limit``
    """
    n_pop, n = masks.shape
    cls = np.zeros(n, dtype=np.int32)
    members = np.zeros((1, n_pop), dtype=np.uint8)
    k = 1
    bits = 4
    while (1 << bits) < 4 * (limit + 1):
        bits += 1
    cap = 1 << bits
    code = np.zeros(n, dtype=np.uint64)
    for start in range(0, n_pop, 64):  # 64 populations at a time as the bits of one code
        stop = min(n_pop, start + 64)
        code[:] = 0
        for p in range(start, stop):
            row = masks[p]
            bit = np.uint64(1) << np.uint64(p - start)
            for i in range(n):
                code[i] |= np.uint64(row[i] != 0) * bit
        table_cls = np.full(cap, -1, dtype=np.int64)
        table_code = np.zeros(cap, dtype=np.uint64)
        table_new = np.zeros(cap, dtype=np.int32)
        new_members = np.zeros((limit + 1, n_pop), dtype=np.uint8)
        nk = 0
        last_c, last_code, last_new = -1, np.uint64(0), 0
        for i in range(n):
            c = cls[i]
            cd = code[i]
            if c == last_c and cd == last_code:
                cls[i] = last_new
                continue
            h = ((cd * np.uint64(0x9E3779B97F4A7C15)) ^ (np.uint64(c) * np.uint64(0xC2B2AE3D27D4EB4F)))
            slot = np.int64(h >> np.uint64(64 - bits))
            while True:
                if table_cls[slot] == -1:
                    if nk == limit:
                        return cls, members, -1
                    table_cls[slot] = c
                    table_code[slot] = cd
                    table_new[slot] = nk
                    new_members[nk, :] = members[c, :]
                    for p in range(start, stop):
                        new_members[nk, p] = (cd >> np.uint64(p - start)) & np.uint64(1)
                    nk += 1
                    break
                if table_cls[slot] == c and table_code[slot] == cd:
                    break
                slot = (slot + 1) & (cap - 1)
            last_c, last_code, last_new = c, cd, table_new[slot]
            cls[i] = last_new
        members = new_members[:nk].copy()
        k = nk
    return cls, members, k


@numba.njit(cache=True)
def class_positions(cls, k):  # pragma: no cover - compiled
    """Where each event goes when events are laid out class by class (stable within a class).

    Returns ``offsets`` (k + 1,) int64 (class c at ``offsets[c]:offsets[c + 1]``) and
    ``positions`` (n,) int64.
    """
    n = cls.shape[0]
    offsets = np.zeros(k + 1, dtype=np.int64)
    for i in range(n):
        offsets[cls[i] + 1] += 1
    for c in range(k):
        offsets[c + 1] += offsets[c]
    fill = offsets[:k].copy()
    positions = np.empty(n, dtype=np.int64)
    for i in range(n):
        c = cls[i]
        positions[i] = fill[c]
        fill[c] += 1
    return offsets, positions


@numba.njit(cache=True)
def scatter_columns(src, src_columns, dst_rows, start, positions, out):  # pragma: no cover - compiled
    """``out[dst_rows[t], positions[start + i]] = src[i, src_columns[t]]`` as float64, for every row i of src."""
    m = src.shape[0]
    where = positions[start:start + m]
    for t in range(src_columns.shape[0]):  # row by row: a few write streams at a time, not one per row and class
        row = out[dst_rows[t]]
        column = src_columns[t]
        for i in range(m):
            row[np.uint64(where[i])] = np.float64(src[i, column])  # unsigned: no negative-index wrap-around


@numba.njit(cache=True, inline="always")
def _two_sum_add(s, comp, x):  # pragma: no cover - compiled
    """One step of Neumaier's compensated sum."""
    t = s + x
    big = abs(s) >= abs(x)  # selects, not a branch: signs of mixed data are unpredictable
    a = s if big else x
    b = x if big else s
    comp += (a - t) + b
    return t, comp


_COARSE_FROM_FINE = 16384  # classes larger than this sum their 65,536 fine bins; smaller ones count in pass 1


@numba.njit(cache=True)
def _pass_one(v, lo, hi, hist, keys, f32, f32_bits, f64, f64_bits, coarse, with_coarse):  # pragma: no cover - compiled
    """Histogram, keys and running sums of one class's values v[lo:hi].

    ``with_coarse``: the 256-bin histogram of the key's top byte is counted here
    too (a small class; a large one sums its fine bins afterwards, which is cheaper).

    ``keys[j]`` receives the :func:`cytogate.batch._stats_kernel.float_key` of
    each value that is not NaN (pass 2 and the clean-up read them back).
    """
    n = 0
    s = 0.0
    comp = 0.0
    product = 1.0
    exponent = 0
    values = v[lo:hi]  # views indexed from 0: no negative-index wrap-around per access (15% of the kernel)
    class_keys = keys[lo:hi]
    for j in range(values.shape[0]):
        x = values[j]
        if x != x:
            continue
        key = float_key(x, f32, f32_bits)
        hist[key] += 1
        class_keys[j] = key
        if with_coarse:  # loop-invariant: compiled as two loops
            coarse[key >> 8] += 1
        n += 1
        s, comp = _two_sum_add(s, comp, x)
        before = product
        product *= positive_factor(x)  # positive values are counted in pass 2 (see positive_factor)
        if not (product < 1e150 and product > 1e-150):
            product, exponent = renormalise_product(product, exponent, before, x, f64, f64_bits)
    return n, s, comp, product, exponent


@numba.njit(cache=True)
def _find_bins(hist, coarse, classes, n_classes, ranks, bins, below, cp, fine):  # pragma: no cover - compiled
    """For each rank, the bin holding it in the union of ``classes`` and the count in lower bins.

    Sweeps of the population's coarse histogram (``cp``, 256; restarted only where
    a rank is below the one before), then the fine bins (``fine``, 256) of the
    coarse bin a rank falls in, summed again only when that coarse bin changes.
    """
    cp[:] = 0
    for t in range(n_classes):
        row = coarse[classes[t]]
        for j in range(256):
            cp[j] += row[j]
    big = 0
    base = 0  # events in coarse bins below ``big``
    current = -1
    for r in range(ranks.shape[0]):
        rank = ranks[r]
        if r > 0 and rank < ranks[r - 1]:  # the upper neighbour of one quantile can pass the next's lower
            big = 0
            base = 0
        while big < 255 and base + cp[big] <= rank:
            base += cp[big]
            big += 1
        if big != current:
            fine[:] = 0
            for t in range(n_classes):
                row = hist[classes[t]]
                for j in range(256):
                    fine[j] += row[(big << 8) + j]
            current = big
        small = 0
        count = base
        while small < 255 and count + fine[small] <= rank:
            count += fine[small]
            small += 1
        bins[r] = (big << 8) + small
        below[r] = count


@numba.njit(cache=True)
def _select_in_bin(picked, size, kk, f32, f32_bits, sub, count):  # pragma: no cover - compiled
    """The value of rank kk among picked[:size], the values of one 16-bit key bin (reordered in place).

    A large bin is split once more on the next 8 bits of the same order-preserving
    float32 code (monotone within a bin), and only the sub-bin holding rank kk
    is selected: a counting pass and a compaction instead of partitioning the
    whole bin.  ``sub`` (>= size uint8) and ``count`` (256) are scratch.
    """
    if size < 256:
        select_rank(picked, 0, size, kk)
        return picked[kk]
    count[:] = 0
    for j in range(size):
        s = np.uint8((float_code(picked[j], f32, f32_bits) >> np.uint32(8)) & np.uint32(255))
        sub[j] = s
        count[s] += 1
    below = 0
    s = 0
    while below + count[s] <= kk:
        below += count[s]
        s += 1
    m = 0
    for j in range(size):  # the sub-bin's values to the front, by swaps: picked[:size] keeps the bin's values
        if sub[j] == s:
            x = picked[j]
            picked[j] = picked[m]
            sub[j] = sub[m]
            picked[m] = x
            m += 1
    select_rank(picked, 0, m, kk - below)
    return picked[kk - below]


@numba.njit(cache=True)
def class_stats(values, offsets, members, hist, coarse, keys, gathered, picked):  # pragma: no cover - compiled
    """Statistics of every channel within every population, from values laid out class by class.

    Parameters
    ----------
    values : (n_channels, n) float64, each row in class order (see :func:`class_positions`)
    offsets : (K + 1,) int64
    members : (K, P) uint8, class c in population p
    hist : (K, 65536) int32 or int64; coarse : (K, 256) int64
        Histogram scratch, all zero on entry, left all zero (a small sample then
        clears only the bins it used)
    keys : (n,) uint16 scratch
    gathered, picked : (n,) float64 scratch

    Returns
    -------
    (P, n_channels, N_RESULTS) float64
        n, n_positive, p15.87, median, p84.13, mean, sd, geometric mean; NaN
        where there are too few values.
    """
    n_channels = values.shape[0]
    k = offsets.shape[0] - 1
    n_pop = members.shape[1]
    out = np.full((n_pop, n_channels, N_RESULTS), np.nan)
    # each population's classes
    pop_count = np.zeros(n_pop, dtype=np.int64)
    pop_classes = np.zeros((n_pop, max(k, 1)), dtype=np.int64)
    for p in range(n_pop):
        for c in range(k):
            if members[c, p]:
                pop_classes[p, pop_count[p]] = c
                pop_count[p] += 1
    f32 = np.empty(1, dtype=np.float32)
    f32_bits = f32.view(np.uint32)
    f64 = np.empty(1, dtype=np.float64)
    f64_bits = f64.view(np.uint64)
    c_n = np.zeros(k, dtype=np.int64)
    c_s = np.zeros(k)
    c_comp = np.zeros(k)
    c_mean = np.zeros(k)
    c_m2 = np.zeros(k)
    c_pos = np.zeros(k, dtype=np.int64)
    c_prod = np.ones(k)
    c_exp = np.zeros(k, dtype=np.int64)
    ranks = np.empty(6, dtype=np.int64)
    fracs = np.empty(3)
    sub = np.empty(values.shape[1], dtype=np.uint8)
    count = np.zeros(256, dtype=np.int64)
    cp = np.zeros(256, dtype=np.int64)
    fine = np.zeros(256, dtype=np.int64)
    # wanted bins: each key's slot (-1: not wanted), and per (slot, class) where its values go
    slot_of = np.full(65536, -1, dtype=np.int32)
    max_slots = 6 * n_pop
    slot_bin = np.zeros(max_slots, dtype=np.int64)
    pop_bins = np.zeros((n_pop, 6), dtype=np.int64)
    pop_below = np.zeros((n_pop, 6), dtype=np.int64)
    seg = np.zeros((max_slots, max(k, 1)), dtype=np.int64)
    fill = np.zeros((max_slots, max(k, 1)), dtype=np.int64)
    for ch in range(n_channels):
        v = values[ch]
        for c in range(k):
            lo, hi = offsets[c], offsets[c + 1]
            large = hi - lo > _COARSE_FROM_FINE
            n, s, comp, product, exponent = _pass_one(v, lo, hi, hist[c], keys, f32, f32_bits,
                                                      f64, f64_bits, coarse[c], not large)
            c_n[c], c_s[c], c_comp[c], c_prod[c], c_exp[c] = n, s, comp, product, exponent
            if large:  # the coarse histogram from the fine one (a small class counted it in pass 1)
                for b in range(256):
                    coarse[c, b] = hist[c, b << 8:(b + 1) << 8].sum()
            total = s + comp if math.isfinite(s) else s
            c_mean[c] = total / n if n > 0 else 0.0
        # the bins of each population's order statistics
        n_slots = 0
        for p in range(n_pop):
            n_p = 0
            for t in range(pop_count[p]):
                n_p += c_n[pop_classes[p, t]]
            if n_p == 0:
                continue
            quantile_ranks(n_p, ranks, fracs)
            _find_bins(hist, coarse, pop_classes[p], pop_count[p], ranks, pop_bins[p], pop_below[p], cp, fine)
            for r in range(6):
                b = pop_bins[p, r]
                if slot_of[b] < 0:
                    slot_of[b] = n_slots
                    slot_bin[n_slots] = b
                    n_slots += 1
        # where each (slot, class) group of values goes in ``gathered``
        place = 0
        for u in range(n_slots):
            b = slot_bin[u]
            for c in range(k):
                seg[u, c] = place
                fill[u, c] = place
                place += hist[c, b]
        # pass 2: sums of squares about each class's mean and the count of positive values
        # (vectorised), then the wanted values by key
        for c in range(k):
            mean = c_mean[c]
            m0 = m1 = 0.0
            n_pos = 0
            lo, hi = offsets[c], offsets[c + 1]
            class_values = v[lo:hi]
            class_size = hi - lo
            half = class_size // 2 * 2
            for j in range(0, half, 2):
                x0 = class_values[j]
                x1 = class_values[j + 1]
                d0 = x0 - mean
                d1 = x1 - mean
                m0 += d0 * d0 if x0 == x0 else 0.0
                m1 += d1 * d1 if x1 == x1 else 0.0
                n_pos += (x0 > 0.0) + (x1 > 0.0)
            if half < class_size:
                x0 = class_values[half]
                d0 = x0 - mean
                m0 += d0 * d0 if x0 == x0 else 0.0
                n_pos += x0 > 0.0
            c_m2[c] = m0 + m1
            c_pos[c] = n_pos
            if n_slots == 0:
                continue
            class_keys = keys[lo:hi]
            for j in range(class_size):
                u = slot_of[class_keys[j]]
                if u >= 0:
                    x = class_values[j]
                    if x == x:
                        gathered[fill[u, c]] = x
                        fill[u, c] += 1
        # per population: combine the classes, pick the order statistics
        for p in range(n_pop):
            n_p = 0
            npos_p = 0
            s = 0.0
            comp = 0.0
            prod = 1.0
            expo = 0
            for t in range(pop_count[p]):
                c = pop_classes[p, t]
                if c_n[c] == 0:
                    continue
                n_p += c_n[c]
                npos_p += c_pos[c]
                s, comp = _two_sum_add(s, comp, c_s[c])
                if math.isfinite(c_s[c]):
                    s, comp = _two_sum_add(s, comp, c_comp[c])
                if c_pos[c] > 0:
                    prod *= c_prod[c]
                    expo += c_exp[c]
                    prod, e = split_exponent(prod, f64, f64_bits)
                    expo += e
            row = out[p, ch]
            row[0] = n_p
            row[1] = npos_p
            if n_p == 0:
                continue
            total = s + comp if math.isfinite(s) else s
            mean = total / n_p
            m2 = 0.0
            for t in range(pop_count[p]):
                c = pop_classes[p, t]
                if c_n[c] == 0:
                    continue
                d = c_mean[c] - mean
                m2 += c_m2[c] + c_n[c] * (d * d)
            row[5] = mean
            row[6] = math.sqrt(m2 / (n_p - 1)) if n_p > 1 else np.nan
            row[7] = math.exp((math.log(prod) + expo * math.log(2.0)) / npos_p) if npos_p > 0 else np.nan
            quantile_ranks(n_p, ranks, fracs)
            picked_values = np.empty(6)
            last_bin = -1
            size = 0
            for r in range(6):
                b = pop_bins[p, r]
                if b != last_bin:  # copy this population's values of bin b, class by class
                    u = slot_of[b]
                    size = 0
                    for t in range(pop_count[p]):
                        c = pop_classes[p, t]
                        for j in range(seg[u, c], fill[u, c]):
                            picked[size] = gathered[j]
                            size += 1
                    last_bin = b
                kk = ranks[r] - pop_below[p, r]
                if r % 2 == 1 and ranks[r] == ranks[r - 1] + 1 and b == pop_bins[p, r - 1]:
                    # the upper neighbour of the rank just picked, in the same bin: that value
                    # again when it is tied, else the least value above it
                    lower = picked_values[r - 1]
                    least = np.inf
                    n_tied_or_below = 0
                    for j in range(size):
                        x = picked[j]
                        if x > lower and x < least:
                            least = x
                        n_tied_or_below += x <= lower
                    picked_values[r] = lower if n_tied_or_below > kk else least
                    continue
                picked_values[r] = _select_in_bin(picked, size, kk, f32, f32_bits, sub, count)
            for t in range(3):
                row[2 + t] = interpolate(picked_values[2 * t], picked_values[2 * t + 1], fracs[t])
        for u in range(n_slots):  # leave the tables clean for the next channel
            b = slot_bin[u]
            slot_of[b] = -1
        for c in range(k):  # and the histograms zero: bin by bin for a small class, whole for a large one
            coarse[c, :] = 0
            if offsets[c + 1] - offsets[c] > 8192:
                hist[c, :] = 0
            else:
                for j in range(offsets[c], offsets[c + 1]):
                    hist[c, keys[j]] = 0
    return out
