"""The 58-byte FCS HEADER: version and the byte offsets of TEXT, DATA and ANALYSIS.

Offsets are inclusive (first and last byte of a segment) and relative to the
start of the data set the HEADER belongs to (``$NEXTDATA`` chains data sets in
one file).  A field of blanks or zeros means "not given here": FCS 3.x files
larger than 99,999,999 bytes write zeros and carry the real DATA offsets in
TEXT as ``$BEGINDATA``/``$ENDDATA``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import FcsError

__all__ = ["Header", "HEADER_LENGTH", "parse_header"]

HEADER_LENGTH = 58
_KNOWN_VERSIONS = ("FCS1.0", "FCS2.0", "FCS3.0", "FCS3.1", "FCS3.2")


@dataclass(frozen=True)
class Header:
    """Parsed HEADER of one data set.

    All offsets are absolute file positions (the data set's own start already
    added); ``0`` pairs mean the field was blank or zero.
    """

    version: str
    base: int
    text_start: int
    text_end: int
    data_start: int
    data_end: int
    analysis_start: int
    analysis_end: int


def _field(raw: bytes, start: int, path: Path, base: int) -> int:
    chunk = raw[start : start + 8]
    text = chunk.decode("ascii", errors="replace").strip()
    if not text:
        return 0
    if not text.isdigit():
        raise FcsError(f"HEADER offset field {chunk!r} is not a number", path=path, offset=base + start)
    return int(text)


def parse_header(raw: bytes, path: Path, *, base: int = 0) -> Header:
    """Parse the HEADER bytes of the data set that starts at file position ``base``.

    Parameters
    ----------
    raw : bytes
        At least the first 58 bytes of the data set.
    path : Path
        For error messages.
    base : int
        File position of the data set (0 for the first).

    Raises
    ------
    FcsError
        Too short, not starting with ``FCSx.y``, or offsets that are not numbers.
    """
    if len(raw) < HEADER_LENGTH:
        raise FcsError(
            f"file too short for an FCS HEADER ({len(raw)} bytes from the data set start, need {HEADER_LENGTH})",
            path=path,
            offset=base,
        )
    version = raw[:6].decode("ascii", errors="replace")
    if not (version.startswith("FCS") and version[3:4].isdigit() and version[4:5] == "." and version[5:6].isdigit()):
        raise FcsError(f"not an FCS file: HEADER starts with {raw[:6]!r}, expected 'FCSx.y'", path=path, offset=base)
    if version not in _KNOWN_VERSIONS:
        raise FcsError(f"unsupported FCS version {version!r}", path=path, offset=base)
    values = [_field(raw, start, path, base) for start in (10, 18, 26, 34, 42, 50)]

    def absolute(first: int, last: int) -> tuple[int, int]:
        if first == 0 and last == 0:
            return 0, 0
        return base + first, base + last

    text = absolute(values[0], values[1])
    data = absolute(values[2], values[3])
    analysis = absolute(values[4], values[5])
    return Header(version, base, *text, *data, *analysis)
