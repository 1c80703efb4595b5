"""Writing FCS 3.1 files: list mode, float32 (or float64) little-endian.

Values are written as they are given: a sample's *scale* values.  So that
reading the file back gives the same numbers, the writer owns every keyword
that changes how DATA is interpreted -- ``$PnB``, ``$PnE`` (always ``0,0``),
``$PnG`` (never written), ``$PnDATATYPE``, ``$TIMESTEP`` (dropped: time is
already scaled), ``$DATATYPE``, ``$BYTEORD``, the offsets -- and ignores those
keys in ``keywords``.  Everything else is copied.  The file is written to a
temporary file in the same folder and renamed into place, so a reader never
sees half a file.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import FcsError, FcsWarning, OutputError
from ..compensation.matrix import Spillover
from .header import HEADER_LENGTH

__all__ = ["write_fcs"]

# TEXT delimiters, in order of preference: the first that occurs in no keyword or value is used,
# so nothing needs escaping (a value that *starts* with an escaped delimiter is ambiguous in FCS).
# Whitespace and NUL are never used: readers strip them as padding after the last delimiter.
_DELIMS = "/|\\!~^#@&%`" + "".join(map(chr, [0x0C, *range(0x1C, 0x20), *range(0x01, 0x09), *range(0x0E, 0x1C)]))
_HEADER_LIMIT = 99_999_999
_STRUCTURAL = {
    "$BEGINANALYSIS", "$ENDANALYSIS", "$BEGINSTEXT", "$ENDSTEXT", "$BEGINDATA", "$ENDDATA",
    "$BYTEORD", "$DATATYPE", "$MODE", "$NEXTDATA", "$PAR", "$TOT", "$TIMESTEP",
}
_SPILL_KEYS = {"$SPILLOVER", "SPILL", "$SPILL", "SPILLOVER", "$COMP"}
_PARAM_OWNED = re.compile(r"^\$P(\d+)(B|E|G|N|S|DATATYPE)$")
_PARAM_ANY = re.compile(r"^\$P(\d+)[A-Z]+$")
_PARAM_RANGE = re.compile(r"^\$P\d+R$")
_DFC = re.compile(r"^\$DFC\d+TO\d+$")
_CHUNK_ROWS = 1 << 20



def _spillover_value(spillover: Spillover) -> str:
    for name in spillover.channels:
        if "," in name:
            raise FcsError(f"spillover channel name {name!r} contains a comma and cannot be written to $SPILLOVER")
    numbers = ",".join(repr(float(v)) for v in spillover.matrix.ravel())
    return f"{len(spillover.channels)},{','.join(spillover.channels)},{numbers}"


def _default_range(column: np.ndarray) -> str:
    finite = column[np.isfinite(column)]
    top = float(finite.max()) if finite.size else 1.0
    return str(max(1, math.ceil(top)))


def _delimiter(pairs: list[tuple[str, str]]) -> tuple[str, bool]:
    """The TEXT delimiter for ``pairs`` and whether it must be escaped (doubled) inside them.

    Raises
    ------
    FcsError
        Every candidate occurs in a keyword or starts a value (a doubled
        delimiter there cannot be told from the end of the keyword).
    """
    used = set().union(*(set(k) | set(v) for k, v in pairs))
    for delim in _DELIMS:
        if delim not in used:
            return delim, False
    # Escaping works inside values but not in keywords (readers refuse a delimiter there) nor at a value's start.
    forbidden = set().union(*(set(k) for k, _ in pairs)) | {v[:1] for _, v in pairs}
    for delim in _DELIMS:
        if delim not in forbidden:
            return delim, True
    raise FcsError("the keywords and values use every possible TEXT delimiter; cannot write them")


def _text_segment(pairs: list[tuple[str, str]]) -> bytes:
    delim, escape = _delimiter(pairs)
    if escape:  # FCS 3.1: a delimiter inside a keyword or value is written twice
        pairs = [(k.replace(delim, delim * 2), v.replace(delim, delim * 2)) for k, v in pairs]
    body = "".join(f"{k}{delim}{v}{delim}" for k, v in pairs)
    return (delim + body).encode("utf-8")


def _keyword_pairs(
    events: np.ndarray,
    names: Sequence[str],
    markers: Sequence[str | None],
    keywords: Mapping[str, str],
    spillover: Spillover | None,
    kind: str,
) -> list[tuple[str, str]]:
    n_events, n_par = events.shape
    user = {str(k).strip().upper(): str(v) for k, v in keywords.items()}
    pairs: list[tuple[str, str]] = [
        ("$BYTEORD", "1,2,3,4"),
        ("$DATATYPE", kind),
        ("$MODE", "L"),
        ("$NEXTDATA", "0"),
        ("$PAR", str(n_par)),
        ("$TOT", str(n_events)),
    ]
    for n in range(1, n_par + 1):
        pairs.append((f"$P{n}N", names[n - 1]))
        pairs.append((f"$P{n}B", "32" if kind == "F" else "64"))
        pairs.append((f"$P{n}E", "0,0"))
        pnr = (user.get(f"$P{n}R") or "").strip() or _default_range(events[:, n - 1])
        pairs.append((f"$P{n}R", pnr))
        marker = markers[n - 1]
        if marker is not None and str(marker).strip():
            pairs.append((f"$P{n}S", str(marker)))
    if spillover is not None:
        pairs.append(("$SPILLOVER", _spillover_value(spillover)))
    for key, value in user.items():
        if key in _STRUCTURAL or _PARAM_OWNED.match(key) or _PARAM_RANGE.match(key):
            continue
        param = _PARAM_ANY.match(key)
        if param is not None and int(param.group(1)) > n_par:
            continue  # describes a parameter that is not written
        if spillover is not None and (key in _SPILL_KEYS or _DFC.match(key)):
            continue
        if not key or not value.strip():
            warnings.warn(f"keyword {key!r} has an empty value, which FCS 3.1 forbids; not written", FcsWarning, stacklevel=4)
            continue
        pairs.append((key, value))
    return pairs


def _layout(pairs: list[tuple[str, str]], nbytes: int) -> tuple[bytes, bytes]:
    """HEADER and TEXT with consistent offsets (the TEXT length depends on them)."""
    begin = end = 0
    for _ in range(10):
        offsets = [
            ("$BEGINANALYSIS", "0"), ("$ENDANALYSIS", "0"), ("$BEGINSTEXT", "0"), ("$ENDSTEXT", "0"),
            ("$BEGINDATA", str(begin)), ("$ENDDATA", str(end)),
        ]
        text = _text_segment(offsets + pairs)
        text_end = HEADER_LENGTH + len(text) - 1
        new_begin = text_end + 1 if nbytes else 0
        new_end = new_begin + nbytes - 1 if nbytes else 0
        if (new_begin, new_end) == (begin, end):
            break
        begin, end = new_begin, new_end
    if text_end > _HEADER_LIMIT:
        raise FcsError(f"TEXT segment of {len(text)} bytes is too large for an FCS HEADER")
    in_header = end <= _HEADER_LIMIT
    fields = [HEADER_LENGTH, text_end, begin if in_header else 0, end if in_header else 0, 0, 0]
    header = ("FCS3.1    " + "".join(f"{v:>8d}" for v in fields)).encode("ascii")
    assert len(header) == HEADER_LENGTH
    return header, text


def write_fcs(
    path: str | os.PathLike[str],
    events: np.ndarray,
    channels: Sequence[str],
    *,
    markers: Sequence[str | None] | None = None,
    keywords: Mapping[str, str] | None = None,
    spillover: Spillover | None = None,
    datatype: str = "F",
) -> Path:
    """Write ``events`` (n_events, n_channels) as an FCS 3.1 file.

    Parameters
    ----------
    path : str or path-like
        Destination; replaced atomically if it exists.
    events : (n_events, n_channels) array
        Values to store (scale values: ``$PnE`` is written as ``0,0`` and no ``$PnG``).
    channels : sequence of str
        ``$PnN`` names (must be unique).
    markers : sequence of str or None, optional
        ``$PnS`` names; None or blank entries are omitted.
    keywords : mapping, optional
        Extra TEXT keywords; keys that define the DATA layout are ignored (see module doc).
    spillover : Spillover, optional
        Written as ``$SPILLOVER`` (replacing any spillover keyword in ``keywords``).
    datatype : {"F", "D"}
        float32 (default; exact for float32 input) or float64.

    Returns
    -------
    Path
        The written file.  Offsets beyond 99,999,999 bytes are written as zeros
        in the HEADER and given in ``$BEGINDATA``/``$ENDDATA`` (FCS 3.1).
    """
    path = Path(path)
    kind = str(datatype).upper()
    if kind not in ("F", "D"):
        raise FcsError(f"datatype must be 'F' or 'D', got {datatype!r}", path=path)
    array = np.asarray(events)
    if array.ndim != 2:
        raise FcsError(f"events must be 2-D (n_events, n_channels), got shape {array.shape}", path=path)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise FcsError(f"events of dtype {array.dtype} are not numeric", path=path)
    names = [str(c) for c in channels]
    if len(names) != array.shape[1]:
        raise FcsError(f"events have {array.shape[1]} columns but {len(names)} channel names", path=path)
    if len(set(names)) != len(names):
        raise FcsError(f"channel names must be unique: {', '.join(names)}", path=path)
    if any(not n.strip() for n in names):
        raise FcsError("channel names must not be empty", path=path)
    marks = list(markers) if markers is not None else [None] * len(names)
    if len(marks) != len(names):
        raise FcsError(f"{len(names)} channels but {len(marks)} markers", path=path)
    dtype = np.dtype("<f4" if kind == "F" else "<f8")
    pairs = _keyword_pairs(array, names, marks, keywords or {}, spillover, kind)
    nbytes = array.shape[0] * array.shape[1] * dtype.itemsize
    header, text = _layout(pairs, nbytes)

    folder = path.parent if str(path.parent) else Path(".")
    try:
        handle = tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    except OSError as exc:
        raise OutputError(f"cannot create a file in {folder}: {exc.strerror or exc}", path=path) from None
    tmp = Path(handle.name)
    try:
        with handle:
            handle.write(header)
            handle.write(text)
            for first in range(0, array.shape[0], _CHUNK_ROWS):
                block = np.ascontiguousarray(array[first : first + _CHUNK_ROWS], dtype=dtype)
                handle.write(block.data.cast("B"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a data file is meant to be shared
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write FCS file: {exc.strerror or exc}", path=path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
