"""Numba kernel for bit-packed integer DATA (widths that are not whole bytes)."""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["unpack_bits"]


@numba.njit(cache=True)
def unpack_bits(data, n_events, bits_per_event, bit_offset, width):
    """Extract one packed parameter of every event.

    Parameters
    ----------
    data : (n_bytes,) uint8
        DATA segment, at least ``ceil(n_events * bits_per_event / 8)`` bytes.
    n_events, bits_per_event, bit_offset, width : int
        Events, bits per event, the parameter's first bit inside an event, its width.

    Returns
    -------
    (n_events,) uint64
        Bits are taken most significant first, as one stream across byte
        boundaries.  Integers only, so there is no NaN case.
    """
    out = np.empty(n_events, dtype=np.uint64)
    for e in range(n_events):
        pos = e * bits_per_event + bit_offset
        value = np.uint64(0)
        for _ in range(width):
            byte = data[pos >> 3]
            bit = (byte >> (7 - (pos & 7))) & 1
            value = (value << np.uint64(1)) | np.uint64(bit)
            pos += 1
        out[e] = value
    return out
