"""Where the DATA segment is: reconciling HEADER and TEXT offsets with the file size.

Neither source can be trusted blindly.  The corpus has a HEADER DATA start that
disagrees with ``$BEGINDATA`` (TEXT right), a HEADER DATA end beyond the end of
the file (TEXT right), ``$ENDDATA`` one byte past the segment (common: Accuri,
MACSQuant, Beckman), and large files whose HEADER holds zeros (TEXT the only
source).  The rule: the data need ``$TOT x bits per event`` bytes; among the
candidate (start, end) pairs -- HEADER, TEXT, and the two mixtures -- take the
first whose span matches that size (allowing the one extra byte) and fits in the
file; failing that, the first that starts inside the file and leaves room for
the data.  Every check happens before anything is allocated, so an absurd
``$TOT`` or ``$PAR`` fails fast.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import FcsError, FcsWarning
from .decode import DataFormat
from .header import HEADER_LENGTH, Header
from .text import get_int

__all__ = ["DataLocation", "locate_data"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataLocation:
    """The DATA segment chosen: absolute start, bytes to read, event count, which offsets."""

    start: int
    nbytes: int
    n_events: int
    source: str


def _candidates(header: Header, keywords: Mapping[str, str], path: Path) -> list[tuple[str, int, int]]:
    begin = get_int(keywords, "$BEGINDATA", path) or 0
    end = get_int(keywords, "$ENDDATA", path) or 0
    text = (header.base + begin, header.base + end) if (begin or end) else None
    head = (header.data_start, header.data_end) if (header.data_start or header.data_end) else None
    found: list[tuple[str, int, int]] = []
    if head is not None:
        found.append(("HEADER", *head))
    if text is not None and text != head:
        found.append(("TEXT", *text))
    if head is not None and text is not None:
        for label, pair in (("HEADER start/TEXT end", (head[0], text[1])), ("TEXT start/HEADER end", (text[0], head[1]))):
            if pair != head and pair != text:
                found.append((label, *pair))
    return found


def locate_data(
    header: Header, keywords: Mapping[str, str], fmt: DataFormat, file_size: int, path: Path
) -> DataLocation:
    """Choose the DATA segment of one data set.

    Raises
    ------
    FcsError
        No usable offsets, ``$TOT`` that cannot fit in the file, or a DATA segment
        that runs past the end of the file (truncated file).
    """
    candidates = _candidates(header, keywords, path)
    if get_int(keywords, "$TOT", path) == 0:
        return DataLocation(0, 0, 0, "none")
    if not candidates:
        raise FcsError("no DATA offsets: HEADER and $BEGINDATA/$ENDDATA are all zero", path=path)
    bits = fmt.bits_per_event
    lowest = header.base + HEADER_LENGTH
    tot = get_int(keywords, "$TOT", path)
    if tot is None:
        # FCS 2.0 may omit $TOT: as many whole events as the first plausible segment holds.
        for label, start, end in candidates:
            if lowest <= start < file_size and end >= start:
                span = min(end, file_size - 1) - start + 1
                n = span * 8 // bits
                _log.debug("%s: no $TOT; %d events from the %s DATA span", path, n, label)
                return DataLocation(start, fmt.nbytes(n), n, label)
        raise FcsError("no $TOT and no DATA offsets inside the file", path=path)

    need = fmt.nbytes(tot)
    if need > file_size:
        raise FcsError(
            f"$TOT {tot} x {len(fmt.params)} parameters need {need} bytes of DATA, "
            f"but the file has only {file_size} bytes",
            path=path,
        )
    fits = [(label, start, end) for label, start, end in candidates if lowest <= start and start + need <= file_size]
    for label, start, end in fits:
        if end - start + 1 in (need, need + 1) or (need == 0 and end <= start):
            if label != "HEADER" and any(c[0] == "HEADER" for c in candidates):
                warnings.warn(
                    f"{path}: HEADER DATA offsets disagree with $BEGINDATA/$ENDDATA; "
                    f"using the {label} offsets, which match $TOT x $PAR",
                    FcsWarning,
                    stacklevel=3,
                )
            return DataLocation(start, need, tot, label)
    for label, start, end in fits:
        if end - start + 1 >= need:
            _log.debug("%s: DATA span %d bytes longer than the %d needed", path, end - start + 1, need)
            return DataLocation(start, need, tot, label)
    if fits:
        label, start, end = fits[0]
        warnings.warn(
            f"{path}: DATA offsets ({label} {start}-{end}) span fewer bytes than $TOT x $PAR needs ({need}); "
            "reading the needed bytes from the start offset",
            FcsWarning,
            stacklevel=3,
        )
        return DataLocation(start, need, tot, label)
    label, start, end = candidates[0]
    raise FcsError(
        f"DATA segment truncated: {need} bytes needed from offset {start} but the file ends at {file_size}",
        path=path,
        offset=start,
    )
