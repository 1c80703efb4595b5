"""Reading FCS files: walk the data sets, parse HEADER and TEXT, build a :class:`Sample`.

Only HEADER and TEXT are read here; DATA is located from offsets and the file
size (never read) and decoded lazily by the sample.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FcsError, FcsWarning, MarkerError
from .decode import describe_format
from .header import HEADER_LENGTH, Header, parse_header
from .layout import locate_data
from .events import FileEvents
from .sample import Sample, unique_names
from .scaling import channel_scales
from ..compensation.keywords import spillover_from_keywords
from .text import get_int, get_str, parse_text

__all__ = ["read_fcs", "read_metadata"]

_log = logging.getLogger(__name__)
_MAX_TEXT = 256 * 1024 * 1024  # no real TEXT segment comes close; guards against absurd offsets
_MAX_DATASETS = 10_000


@dataclass(frozen=True)
class _DataSet:
    header: Header
    keywords: dict[str, str]


def _read_at(handle, start: int, size: int) -> bytes:
    try:
        handle.seek(start)
        return handle.read(size)
    except OSError as exc:  # e.g. EIO from a failing disk or a /proc file
        raise FcsError(f"cannot read: {exc.strerror or exc}", path=handle.name, offset=start) from None


def _read_dataset(handle, base: int, file_size: int, path: Path) -> _DataSet:
    header = parse_header(_read_at(handle, base, HEADER_LENGTH), path, base=base)
    start, end = header.text_start, header.text_end
    if start == 0 and end == 0:
        raise FcsError("HEADER gives no TEXT segment offsets", path=path, offset=base + 10)
    if start < base + HEADER_LENGTH or end < start:
        raise FcsError(f"TEXT segment offsets {start}-{end} are impossible", path=path, offset=base + 10)
    if start >= file_size:
        raise FcsError(f"TEXT segment starts at {start}, beyond the end of the file ({file_size} bytes)", path=path)
    if end >= file_size:
        raise FcsError(
            f"TEXT segment ends at {end}, beyond the end of the file ({file_size} bytes): file truncated",
            path=path,
            offset=start,
        )
    if end - start + 1 > _MAX_TEXT:
        raise FcsError(f"TEXT segment of {end - start + 1} bytes is implausibly large", path=path, offset=start)
    keywords = parse_text(_read_at(handle, start, end - start + 1), path, offset=start)
    _merge_supplemental(handle, header, keywords, file_size, path)
    return _DataSet(header, keywords)


def _merge_supplemental(handle, header: Header, keywords: dict[str, str], file_size: int, path: Path) -> None:
    try:
        begin = get_int(keywords, "$BEGINSTEXT", path, default=0) or 0
        end = get_int(keywords, "$ENDSTEXT", path, default=0) or 0
    except FcsError as exc:
        warnings.warn(f"{path}: {exc.message}; supplemental TEXT ignored", FcsWarning, stacklevel=4)
        return
    if begin == 0 and end == 0:
        return
    start, stop = header.base + begin, header.base + end
    if not (header.base + HEADER_LENGTH <= start <= stop < file_size) or stop - start + 1 > _MAX_TEXT:
        warnings.warn(f"{path}: supplemental TEXT offsets {begin}-{end} are invalid; ignored", FcsWarning, stacklevel=4)
        return
    if header.text_start <= start <= header.text_end:
        return  # some writers point $BEGINSTEXT at the primary TEXT itself
    raw = _read_at(handle, start, stop - start + 1)
    try:
        extra = parse_text(raw, path, offset=start)
    except FcsError as exc:
        # CyFlow files point $BEGINSTEXT at a ZIP archive of instrument settings: not keywords.
        _log.info("%s: supplemental TEXT is not keyword text (%s); ignored", path, exc.message)
        return
    for key, value in extra.items():
        keywords.setdefault(key, value)


def _walk(path: Path, dataset: int) -> tuple[_DataSet, int, int]:
    """The requested data set, the number of data sets and the file size."""
    if not isinstance(dataset, (int, np.integer)) or isinstance(dataset, bool) or dataset < 0:
        raise FcsError(f"dataset must be a non-negative integer, got {dataset!r}", path=path)
    if "\x00" in str(path):
        raise FcsError("file name contains a NUL byte", path=str(path).replace("\x00", "\\x00"))
    try:
        special = path.exists() and not path.is_file() and not path.is_dir()
    except OSError as exc:  # e.g. a name too long
        raise FcsError(f"unusable file name: {exc.strerror or exc}", path=path) from None
    if special:
        # Opening a FIFO blocks until someone writes to it; a device is no FCS file either.
        raise FcsError("not a regular file (a pipe, socket or device)", path=path)
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise FcsError("file not found", path=path) from None
    except IsADirectoryError:
        raise FcsError("is a directory, not an FCS file", path=path) from None
    except OSError as exc:
        raise FcsError(f"cannot open: {exc.strerror or exc}", path=path) from None
    with handle:
        file_size = os.fstat(handle.fileno()).st_size
        chosen: _DataSet | None = None
        base = 0
        count = 0
        while True:
            try:
                current = _read_dataset(handle, base, file_size, path)
            except FcsError as exc:
                if chosen is None:
                    raise
                # A broken later data set must not cost the one that was asked for.
                warnings.warn(f"{path}: data set {count} unreadable ({exc.message}); not counted", FcsWarning, stacklevel=3)
                break
            if count == dataset:
                chosen = current
            count += 1
            nxt = get_int(current.keywords, "$NEXTDATA", path, default=0) or 0
            if nxt == 0:
                break
            if base + nxt + HEADER_LENGTH > file_size or count >= _MAX_DATASETS:
                warnings.warn(
                    f"{path}: $NEXTDATA {nxt} of data set {count - 1} points beyond the file; "
                    f"reading {count} data set(s)",
                    FcsWarning,
                    stacklevel=3,
                )
                break
            try:
                peek = _read_at(handle, base + nxt, 6)
            except OSError:  # pragma: no cover - seek within a regular file
                break
            if not peek.startswith(b"FCS"):
                warnings.warn(
                    f"{path}: $NEXTDATA of data set {count - 1} does not point at an FCS HEADER; "
                    f"reading {count} data set(s)",
                    FcsWarning,
                    stacklevel=3,
                )
                break
            base += nxt
    if chosen is None:
        raise FcsError(f"data set {dataset} requested but the file has {count} (numbered from 0)", path=path)
    return chosen, count, file_size


def _channel_names(keywords: dict[str, str], n_par: int) -> tuple[list[str], list[str | None]]:
    names = [get_str(keywords, f"$P{n}N") or f"P{n}" for n in range(1, n_par + 1)]
    markers = [get_str(keywords, f"$P{n}S") for n in range(1, n_par + 1)]
    return names, markers


def _select(
    requested: Sequence[str | int] | None, names: tuple[str, ...], markers: list[str | None], path: Path
) -> tuple[int, ...]:
    if requested is None:
        return tuple(range(len(names)))
    if isinstance(requested, (str, int)):
        requested = [requested]
    probe = Sample(path, "", names, tuple(markers), {}, None, 0)
    try:
        indices = tuple(probe.channel_index(key) for key in requested)
    except MarkerError as exc:
        raise FcsError(exc.message, path=path) from None
    if len(set(indices)) != len(indices):
        raise FcsError(f"channels {list(requested)!r} select the same channel twice", path=path)
    return indices


def read_fcs(
    path: str | os.PathLike[str],
    *,
    dataset: int = 0,
    scale: bool = True,
    channels: Sequence[str | int] | None = None,
) -> Sample:
    """Read one data set of an FCS file (events decoded lazily on first use).

    Parameters
    ----------
    path : str or path-like
    dataset : int
        Which data set of a multi-data-set file (``$NEXTDATA`` chain), from 0.
    scale : bool
        True: FCS scale values (``$PnE`` log decoding, ``$PnG``, ``$TIMESTEP``);
        False: decoded values untouched (integers masked to ``$PnR``).
    channels : sequence of str or int, optional
        Keep only these channels (by ``$PnN``, ``$PnS`` or index), in this order.

    Returns
    -------
    Sample
        ``events`` (n_events, n_channels) is float32 when every selected channel
        is stored as float32 and its scaling is the identity, float64 otherwise.

    Raises
    ------
    FcsError
        Anything that makes the file unreadable, naming the file and the offset.
    """
    path = Path(path)
    data_set, n_datasets, file_size = _walk(path, dataset)
    keywords = data_set.keywords
    fmt = describe_format(keywords, path)
    location = locate_data(data_set.header, keywords, fmt, file_size, path)
    n_par = len(fmt.params)
    raw_names, raw_markers = _channel_names(keywords, n_par)
    names = unique_names(raw_names)
    indices = _select(channels, names, raw_markers, path)
    scales = None
    if scale:
        all_scales = channel_scales(keywords, n_par, path)
        scales = tuple(all_scales[i] for i in indices)
    float32 = all(fmt.params[i].kind == "F" for i in indices) and (
        scales is None or all(s.identity for s in scales)
    )
    dtype = np.dtype(np.float32 if float32 else np.float64)
    source = FileEvents(path, location.start, location.nbytes, location.n_events, fmt, indices, scales, dtype)
    return Sample(
        path=path,
        version=data_set.header.version,
        channels=tuple(names[i] for i in indices),
        markers=tuple(raw_markers[i] for i in indices),
        keywords=keywords,
        spillover=spillover_from_keywords(keywords, raw_names, path=path),
        n_events=location.n_events,
        n_datasets=n_datasets,
        dataset=dataset,
        scaled=scale,
        source=source,
    )


def read_metadata(path: str | os.PathLike[str], *, dataset: int = 0) -> Sample:
    """Read HEADER and TEXT only: the DATA segment is never touched.

    ``n_events`` is ``$TOT`` (or, when absent, derived from the DATA offsets);
    accessing ``events`` or ``column`` raises :class:`FcsError`.
    """
    path = Path(path)
    data_set, n_datasets, file_size = _walk(path, dataset)
    keywords = data_set.keywords
    n_par = get_int(keywords, "$PAR", path)
    if n_par is None:
        raise FcsError("required keyword $PAR is missing", path=path)
    if n_par > len(keywords):
        raise FcsError(f"$PAR is {n_par} but TEXT holds only {len(keywords)} keywords", path=path)
    n_events = get_int(keywords, "$TOT", path)
    if n_events is None:
        fmt = describe_format(keywords, path)
        n_events = locate_data(data_set.header, keywords, fmt, file_size, path).n_events
    raw_names, raw_markers = _channel_names(keywords, n_par)
    return Sample(
        path=path,
        version=data_set.header.version,
        channels=unique_names(raw_names),
        markers=tuple(raw_markers),
        keywords=keywords,
        spillover=spillover_from_keywords(keywords, raw_names, path=path),
        n_events=n_events,
        n_datasets=n_datasets,
        dataset=dataset,
        scaled=True,
    )
