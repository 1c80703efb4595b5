"""DATA segment layout and decoding: from bytes to raw parameter values.

Handles ``$DATATYPE`` I (any width 1-64 bits: 8/16/32/64 through numpy views, 24
and other whole-byte widths by byte assembly, non-byte widths such as 10-bit
Beckman data by bit unpacking), F and D, FCS 3.2's per-parameter
``$PnDATATYPE``, ``$BYTEORD`` little, big and permuted forms, and masking of
integers to the power-of-two range of ``$PnR`` (instruments keep flag bits above
it).  Decoding one column reads only that column's bytes through a strided view
of a memory map; decoding everything of a uniform file is one ``readinto``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FcsError
from .text import get_float, get_int, get_str

__all__ = ["ParamFormat", "DataFormat", "describe_format", "decode_column", "read_uniform"]


@dataclass(frozen=True)
class ParamFormat:
    """How one parameter is stored.

    kind : ``"I"`` unsigned integer, ``"F"`` float32, ``"D"`` float64.
    bits : stored width.
    bit_offset : position of the parameter inside one event, in bits.
    mask : integer mask from ``$PnR`` (None: keep every bit).
    """

    kind: str
    bits: int
    bit_offset: int
    mask: int | None


@dataclass(frozen=True)
class DataFormat:
    """Storage layout of one event (all parameters) and the byte order."""

    params: tuple[ParamFormat, ...]
    significance: tuple[int, ...]  # significance (0 = least) of each stored byte of a word
    byteord: str

    @property
    def bits_per_event(self) -> int:
        return sum(p.bits for p in self.params)

    @property
    def byte_aligned(self) -> bool:
        return all(p.bits % 8 == 0 for p in self.params)

    @property
    def bytes_per_event(self) -> int:
        return self.bits_per_event // 8

    def nbytes(self, n_events: int) -> int:
        """Bytes the DATA segment needs for ``n_events`` events."""
        return (self.bits_per_event * n_events + 7) // 8

    @property
    def little(self) -> bool | None:
        """True little-endian, False big-endian, None a permuted order."""
        w = len(self.significance)
        if self.significance == tuple(range(w)):
            return True
        if self.significance == tuple(reversed(range(w))):
            return False
        return None

    def uniform_dtype(self) -> np.dtype | None:
        """The numpy dtype of every parameter when they all share one (the fast path)."""
        first = self.params[0]
        if first.bits not in (8, 16, 32, 64) or self.little is None and first.bits > 8:
            return None
        if any(p.kind != first.kind or p.bits != first.bits for p in self.params):
            return None
        return _numpy_dtype(first.kind, first.bits // 8, bool(self.little) or first.bits == 8)

    def native_float(self, index: int) -> bool:
        """Whether parameter ``index`` is float32 (kept as float32 when unscaled)."""
        return self.params[index].kind == "F"


def _numpy_dtype(kind: str, width: int, little: bool) -> np.dtype:
    code = "u" if kind == "I" else "f"
    return np.dtype(f"{'<' if little else '>'}{code}{width}")


def _parse_byteord(value: str | None, path: Path) -> tuple[int, ...]:
    if value is None:
        raise FcsError("required keyword $BYTEORD is missing", path=path)
    try:
        order = tuple(int(x) - 1 for x in value.replace(" ", "").split(","))
    except ValueError:
        raise FcsError(f"$BYTEORD {value!r} is not a list of byte numbers", path=path) from None
    if sorted(order) != list(range(len(order))) or len(order) not in (1, 2, 3, 4, 8):
        raise FcsError(f"$BYTEORD {value!r} is not a permutation of 1..n", path=path)
    return order


def range_mask(pnr: float | None, bits: int) -> int | None:
    """Mask keeping the power-of-two range of ``$PnR``: ``2**ceil(log2(PnR)) - 1``.

    None when ``$PnR`` is absent, at most 1, or the mask would keep every stored bit.
    """
    if pnr is None or pnr <= 1:
        return None
    r = math.ceil(pnr)
    mask = (1 << (r - 1).bit_length()) - 1
    if mask >= (1 << bits) - 1:
        return None
    return mask


def describe_format(keywords: Mapping[str, str], path: Path) -> DataFormat:
    """Read ``$PAR``, ``$DATATYPE``, ``$PnDATATYPE``, ``$PnB``, ``$PnR``, ``$BYTEORD``, ``$MODE``.

    Raises
    ------
    FcsError
        Missing or inconsistent keywords, or a mode/type cytogate cannot decode
        (ASCII data, histogram modes).
    """
    n_par = get_int(keywords, "$PAR", path)
    if n_par is None or n_par < 1:
        raise FcsError("required keyword $PAR is missing or zero", path=path)
    if n_par > len(keywords):
        # Every parameter needs at least $PnB and $PnN: an absurd $PAR cannot be real.
        raise FcsError(f"$PAR is {n_par} but TEXT holds only {len(keywords)} keywords", path=path)
    mode = (get_str(keywords, "$MODE") or "L").upper()
    if mode != "L":
        raise FcsError(f"$MODE {mode!r} (histogram data) is not supported; only list mode 'L'", path=path)
    datatype = (get_str(keywords, "$DATATYPE") or "").upper()
    if datatype not in ("I", "F", "D", "A"):
        raise FcsError(f"$DATATYPE {datatype or '(missing)'!r} is not one of I, F, D", path=path)
    significance = _parse_byteord(get_str(keywords, "$BYTEORD"), path)
    params: list[ParamFormat] = []
    offset = 0
    for n in range(1, n_par + 1):
        kind = (get_str(keywords, f"$P{n}DATATYPE") or datatype).upper()
        if kind == "A":
            raise FcsError(f"parameter {n}: ASCII ($DATATYPE A) data is not supported", path=path)
        if kind not in ("I", "F", "D"):
            raise FcsError(f"parameter {n}: data type {kind!r} is not one of I, F, D", path=path)
        bits_text = get_str(keywords, f"$P{n}B")
        if bits_text is None:
            raise FcsError(f"required keyword $P{n}B is missing", path=path)
        if bits_text == "*":
            raise FcsError(f"$P{n}B is '*' (delimited ASCII), which is not supported", path=path)
        bits = get_int(keywords, f"$P{n}B", path)
        assert bits is not None
        expected = {"F": 32, "D": 64}.get(kind)
        if expected is not None and bits != expected:
            raise FcsError(f"$P{n}B is {bits} but data type {kind} needs {expected} bits", path=path)
        if not 1 <= bits <= 64:
            raise FcsError(f"$P{n}B is {bits}; integer widths must be 1 to 64 bits", path=path)
        mask = range_mask(get_float(keywords, f"$P{n}R", path), bits) if kind == "I" else None
        params.append(ParamFormat(kind, bits, offset, mask))
        offset += bits
    fmt = DataFormat(tuple(params), significance, get_str(keywords, "$BYTEORD") or "")
    if fmt.little is None and fmt.byte_aligned:
        for n, p in enumerate(params, start=1):
            if p.bits > 8 and p.bits != 8 * len(significance):
                raise FcsError(
                    f"$BYTEORD {fmt.byteord!r} (a permuted order) does not fit the {p.bits}-bit $P{n}B",
                    path=path,
                )
    return fmt


def read_uniform(path: Path, start: int, n_events: int, fmt: DataFormat) -> np.ndarray:
    """Read the whole DATA segment of a uniform file with one ``readinto``.

    Returns
    -------
    (n_events, n_params) array in native byte order: float32/float64 for F/D,
    unsigned integers (masked to ``$PnR``) for I.

    Raises
    ------
    FcsError
        The file cannot be opened or read (e.g. deleted since it was parsed), or DATA is truncated.
    """
    dtype = fmt.uniform_dtype()
    assert dtype is not None
    native = dtype.newbyteorder("=")
    out = np.empty((n_events, len(fmt.params)), dtype=native)
    view = out.data.cast("B")
    # Unbuffered reads straight into the array; the first read stops at a page boundary of
    # the file so that the large one copies whole page-cache pages (as np.fromfile's does).
    head = min((-start) % 4096, out.nbytes)
    got = 0
    try:  # the file may have vanished or become unreadable since its TEXT was parsed
        with open(path, "rb", buffering=0) as handle:
            handle.seek(start)
            if head:
                got = handle.readinto(view[:head]) or 0
            while got < out.nbytes:
                chunk = handle.readinto(view[got:])
                if not chunk:
                    break
                got += chunk
    except OSError as exc:
        raise FcsError(f"cannot read the DATA segment: {exc.strerror or exc}", path=path, offset=start) from None
    if got != out.nbytes:
        raise FcsError(f"DATA segment truncated: read {got} of {out.nbytes} bytes", path=path, offset=start)
    if not dtype.isnative and dtype.itemsize > 1:
        out.byteswap(inplace=True)
    _apply_masks(out, fmt)
    return out


def _apply_masks(values: np.ndarray, fmt: DataFormat) -> None:
    masks = [p.mask for p in fmt.params]
    if all(m is None for m in masks):
        return
    full = np.array([(1 << p.bits) - 1 if m is None else m for p, m in zip(fmt.params, masks)], dtype=values.dtype)
    np.bitwise_and(values, full, out=values)


def decode_column(data: np.ndarray, n_events: int, fmt: DataFormat, index: int) -> np.ndarray:
    """Decode parameter ``index`` of every event.

    Parameters
    ----------
    data : (n_bytes,) uint8 array
        The DATA segment (usually a memory map); only this column's bytes are read.
    n_events : int
    fmt : DataFormat
    index : int
        0-based parameter index.

    Returns
    -------
    (n_events,) array: float32 (F), float64 (D) or uint64/native unsigned (I, masked).
    """
    param = fmt.params[index]
    if not fmt.byte_aligned or param.bit_offset % 8:
        raw = _unpack_bits(data, n_events, fmt.bits_per_event, param.bit_offset, param.bits)
        return raw if param.mask is None else raw & np.uint64(param.mask)
    stride = fmt.bytes_per_event
    width = param.bits // 8
    byte_offset = param.bit_offset // 8
    little = fmt.little
    if width in (1, 2, 4, 8) and (little is not None or width == 1):
        dtype = _numpy_dtype(param.kind, width, bool(little) or width == 1)
        view = np.ndarray((n_events,), dtype=dtype, buffer=data, offset=byte_offset, strides=(stride,))
        out = view.astype(dtype.newbyteorder("="))
    else:
        out = _assemble(data, n_events, stride, byte_offset, width, fmt, param.kind)
    if param.mask is not None:
        out &= out.dtype.type(param.mask)
    return out


def _significance(fmt: DataFormat, width: int) -> list[int]:
    little = fmt.little
    if little is True:
        return list(range(width))
    if little is False:
        return list(reversed(range(width)))
    if len(fmt.significance) != width:
        raise FcsError(f"$BYTEORD {fmt.byteord!r} does not fit a {width}-byte value")
    return list(fmt.significance)


def _assemble(
    data: np.ndarray, n_events: int, stride: int, byte_offset: int, width: int, fmt: DataFormat, kind: str
) -> np.ndarray:
    """Build values of odd byte widths (24-bit) or permuted byte orders byte by byte."""
    byte_view = np.ndarray((n_events, width), dtype=np.uint8, buffer=data, offset=byte_offset, strides=(stride, 1))
    order = _significance(fmt, width)
    value = np.zeros(n_events, dtype=np.uint64)
    for stored, sig in enumerate(order):
        value |= byte_view[:, stored].astype(np.uint64) << np.uint64(8 * sig)
    if kind == "F":
        return value.astype(np.uint32).view(np.float32)
    if kind == "D":
        return value.view(np.float64)
    return value


def _unpack_bits(data: np.ndarray, n_events: int, bits_per_event: int, bit_offset: int, width: int) -> np.ndarray:
    """Values of a bit-packed integer parameter.

    Packed DATA is read as one stream of bits, most significant bit first within
    each byte and each value (the only order FCS 2.0/3.x writers of packed data
    use); ``$BYTEORD`` does not apply.  No NaN can arise (integers only).
    """
    from ._bits import unpack_bits  # numba is imported only when packed data appear

    return unpack_bits(np.asarray(data, dtype=np.uint8), n_events, bits_per_event, bit_offset, width)

