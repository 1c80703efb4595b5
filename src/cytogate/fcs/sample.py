"""The :class:`Sample`: one data set of an FCS file (or in-memory events) and its metadata.

Events are decoded lazily and cached.  :meth:`Sample.column` decodes a single
channel through a memory map without materialising the whole matrix, which is
what the gating engine uses; :attr:`Sample.events` decodes everything once.
Returned arrays are read-only so the cached values cannot be changed by accident
(``np.array(sample.events)`` gives a writable copy).
"""

from __future__ import annotations

import hashlib
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import FcsError, FcsWarning, MarkerError
from ..compensation.matrix import Spillover
from .decode import DataFormat, decode_column, read_uniform
from .scaling import ChannelScale

__all__ = ["Sample", "unique_names"]


class _EventSource(Protocol):
    """What a sample decodes its events from: a file, an array, or nothing (metadata only)."""

    def matrix(self) -> np.ndarray: ...

    def column(self, position: int) -> np.ndarray: ...

    def blocks(self, n_rows: int, digest: Any | None) -> Iterator[tuple[int, np.ndarray]]: ...

    def update_digest(self, digest: Any) -> None: ...


_COPY_BLOCK = 1 << 20  # bytes per read when only hashing


def unique_names(names: Sequence[str]) -> tuple[str, ...]:
    """Make channel names unique: the second ``FSC`` becomes ``FSC_2``, the third ``FSC_3``."""
    seen: set[str] = set()
    counts: dict[str, int] = {}
    result = []
    for name in names:
        if name not in seen:
            seen.add(name)
            counts.setdefault(name, 1)
            result.append(name)
            continue
        k = counts.get(name, 1)
        candidate = name
        while candidate in seen:
            k += 1
            candidate = f"{name}_{k}"
        counts[name] = k
        seen.add(candidate)
        result.append(candidate)
    return tuple(result)


class _FileEvents:
    """Decodes selected parameters of one DATA segment, optionally scaled.

    Holds no open file: each call maps the file and releases it, so thousands of
    samples do not exhaust file descriptors, and the object pickles.
    """

    def __init__(
        self,
        path: Path,
        start: int,
        nbytes: int,
        n_events: int,
        fmt: DataFormat,
        indices: tuple[int, ...],
        scales: tuple[ChannelScale, ...] | None,
        dtype: np.dtype,
    ) -> None:
        self.path, self.start, self.nbytes, self.n_events = path, start, nbytes, n_events
        self.fmt, self.indices, self.scales, self.dtype = fmt, indices, scales, dtype

    def _map(self) -> np.ndarray:
        try:
            return np.memmap(self.path, dtype=np.uint8, mode="r", offset=self.start, shape=(self.nbytes,))
        except (OSError, ValueError) as exc:
            raise FcsError(f"cannot map the DATA segment: {exc}", path=self.path, offset=self.start) from None

    def _finish(self, values: np.ndarray, position: int) -> np.ndarray:
        return self._scale(values.astype(self.dtype, copy=False), position)

    def _scale(self, values: np.ndarray, position: int) -> np.ndarray:
        """Scale one column; an absurd ``$PnE`` that overflows gives inf and an FcsWarning, not a numpy warning."""
        scale = None if self.scales is None else self.scales[position]
        if scale is None or scale.identity:
            return values
        with np.errstate(over="ignore"):
            values = scale.apply(values)
        if scale.decades > 0 and np.isinf(values).any():
            n = self.indices[position] + 1
            warnings.warn(
                f"{self.path}: log amplification $P{n}E ({scale.decades:g} decades over $P{n}R {scale.range:g}) "
                "overflows float64; those values are inf",
                FcsWarning,
                stacklevel=4,
            )
        return values

    # Corrupt float DATA can hold signalling-NaN bit patterns; converting them is not an error.
    @np.errstate(invalid="ignore")
    def column(self, position: int) -> np.ndarray:
        if self.n_events == 0:
            return np.empty(0, dtype=self.dtype)
        data = self._map()
        try:
            raw = decode_column(data, self.n_events, self.fmt, self.indices[position])
            return self._finish(raw, position)
        finally:
            del data

    @np.errstate(invalid="ignore")
    def matrix(self) -> np.ndarray:
        k = len(self.indices)
        if self.n_events == 0:
            return np.empty((0, k), dtype=self.dtype)
        everything = self.indices == tuple(range(len(self.fmt.params)))
        if everything and self.fmt.uniform_dtype() is not None:
            raw = read_uniform(self.path, self.start, self.n_events, self.fmt)
            out = raw if raw.dtype == self.dtype else raw.astype(self.dtype)
            del raw
            if self.scales is not None:
                for j, scale in enumerate(self.scales):
                    if not scale.identity:
                        out[:, j] = self._scale(out[:, j].copy(), j)
            return out
        out = np.empty((self.n_events, k), dtype=self.dtype)
        data = self._map()
        try:
            for j, index in enumerate(self.indices):
                out[:, j] = self._finish(decode_column(data, self.n_events, self.fmt, index), j)
        finally:
            del data
        return out

    def update_digest(self, digest: Any) -> None:
        """Feed every byte of the file, in order, to ``digest.update``."""
        buffer = bytearray(_COPY_BLOCK)
        view = memoryview(buffer)
        try:
            with open(self.path, "rb", buffering=0) as handle:
                while n := handle.readinto(buffer):
                    digest.update(view[:n])
        except OSError as exc:
            raise FcsError(f"cannot read: {exc.strerror or exc}", path=self.path) from None

    def _zero_copy(self) -> bool:
        """True when the stored bytes already are the events (native float32/64, every channel, unscaled)."""
        dtype = self.fmt.uniform_dtype()
        return (dtype is not None and dtype.isnative and dtype == self.dtype and self.fmt.params[0].kind != "I"
                and self.indices == tuple(range(len(self.fmt.params)))
                and (self.scales is None or all(s.identity for s in self.scales)))

    @np.errstate(invalid="ignore")
    def _decode_block(self, raw: np.ndarray, m: int, out: np.ndarray) -> np.ndarray:
        """Decode the ``m`` whole events held in the bytes ``raw`` into ``out[:m]`` (m, k)."""
        dtype = self.fmt.uniform_dtype()
        for j, index in enumerate(self.indices):
            if dtype is not None:
                column = raw.view(dtype)[index::len(self.fmt.params)].astype(dtype.newbyteorder("="))
                mask = self.fmt.params[index].mask
                if mask is not None:
                    column &= column.dtype.type(mask)
            else:
                column = decode_column(raw, m, self.fmt, index)
            out[:m, j] = self._finish(column, j)
        return out[:m]

    def blocks(self, n_rows: int, digest: Any | None) -> Iterator[tuple[int, np.ndarray]]:
        """Events in consecutive blocks of ``n_rows``, reading the file once from start to end.

        Blocks share one read buffer: each is valid only until the next is
        yielded.  With ``digest``, every byte of the file is fed to it in order
        (HEADER, TEXT, DATA as it is read, anything after).
        """
        if not self.fmt.byte_aligned:  # bit-packed events do not start on byte boundaries
            if digest is not None:
                self.update_digest(digest)
            whole = self.matrix()
            for start in range(0, self.n_events, n_rows):
                yield start, whole[start:start + n_rows]
            return
        per_event = self.fmt.bytes_per_event
        n_rows = max(1, min(n_rows, self.n_events))
        # Two read buffers: while the caller works on one block, a thread hashes it
        # (hashlib releases the GIL) and the next block is read into the other.
        raws = [np.empty(n_rows * per_event, dtype=np.uint8) for _ in range(2 if digest is not None else 1)]
        hashed: list[Future[None] | None] = [None] * len(raws)
        hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cytogate-hash") if digest is not None else None
        zero_copy = self._zero_copy()
        out = None if zero_copy else np.empty((n_rows, len(self.indices)), dtype=self.dtype)
        try:
            handle = open(self.path, "rb", buffering=0)
        except OSError as exc:
            if hasher is not None:
                hasher.shutdown()
            raise FcsError(f"cannot open: {exc.strerror or exc}", path=self.path) from None
        with handle:
            try:
                if digest is not None:  # HEADER and TEXT: hashed, not decoded
                    head = bytearray(min(_COPY_BLOCK, max(self.start, 1)))
                    left = self.start
                    while left > 0:
                        n = handle.readinto(memoryview(head)[:min(left, len(head))])
                        if not n:
                            break
                        digest.update(memoryview(head)[:n])
                        left -= n
                handle.seek(self.start)
                for number, start in enumerate(range(0, self.n_events, n_rows)):
                    slot = number % len(raws)
                    raw = raws[slot]
                    if hashed[slot] is not None:  # this buffer's previous block must be hashed first
                        hashed[slot].result()  # type: ignore[union-attr]
                    m = min(n_rows, self.n_events - start)
                    view = memoryview(raw)[:m * per_event]
                    got = 0
                    while got < len(view):
                        n = handle.readinto(view[got:])
                        if not n:
                            break
                        got += n
                    if got != len(view):
                        raise FcsError(f"DATA segment truncated: read {got} of {len(view)} bytes of events "
                                       f"{start}-{start + m}", path=self.path, offset=self.start + start * per_event)
                    if hasher is not None:
                        hashed[slot] = hasher.submit(digest.update, view)  # in order: one hashing thread
                    if out is None:  # float32/64 stored natively: the read buffer is the block
                        block = raw[:m * per_event].view(self.dtype).reshape(m, len(self.indices))
                    else:
                        block = self._decode_block(raw[:m * per_event], m, out)
                    block.setflags(write=False)  # a view of a shared buffer, like the read-only events
                    yield start, block
                if hasher is not None:
                    for future in hashed:
                        if future is not None:
                            future.result()
                    tail = raws[0]
                    while n := handle.readinto(tail):  # anything after the events
                        digest.update(memoryview(tail)[:n])
            except OSError as exc:
                raise FcsError(f"cannot read: {exc.strerror or exc}", path=self.path) from None
            finally:
                if hasher is not None:
                    hasher.shutdown(wait=True)


class _ArrayEvents:
    def __init__(self, events: np.ndarray) -> None:
        self.events = events

    def matrix(self) -> np.ndarray:
        return self.events

    def column(self, position: int) -> np.ndarray:
        return self.events[:, position]

    def blocks(self, n_rows: int, digest: Any | None) -> Iterator[tuple[int, np.ndarray]]:
        if digest is not None:
            self.update_digest(digest)
        for start in range(0, self.events.shape[0], max(1, n_rows)):
            yield start, self.events[start:start + n_rows]

    def update_digest(self, digest: Any) -> None:
        digest.update(np.ascontiguousarray(self.events).tobytes())


class _MetadataOnly:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def _fail(self) -> np.ndarray:
        raise FcsError("sample was read with read_metadata(); events are not available (use read_fcs)", path=self.path)

    def matrix(self) -> np.ndarray:
        return self._fail()

    def column(self, position: int) -> np.ndarray:
        return self._fail()

    def blocks(self, n_rows: int, digest: Any | None) -> Iterator[tuple[int, np.ndarray]]:
        return iter([(0, self._fail())])

    def update_digest(self, digest: Any) -> None:
        self._fail()


@dataclass(frozen=True, eq=False)
class Sample:
    """One data set: events plus the metadata needed to interpret them.

    Attributes
    ----------
    path : Path or None
        The FCS file (None for in-memory samples).
    version : str
        ``"FCS3.1"`` etc. (``""`` for in-memory samples).
    channels : tuple of str
        ``$PnN`` of the selected parameters, made unique (``FSC``, ``FSC_2``).
    markers : tuple of str or None
        ``$PnS`` (None where absent or blank).
    keywords : dict of str to str
        Every TEXT keyword of the data set, keys upper-cased, raw ``$PnN`` kept.
    spillover : Spillover or None
        From ``$SPILLOVER``/``SPILL``/``$SPILL``/``$COMP``/``$DFCiTOj``, named by ``$PnN``.
    n_events : int
    n_datasets : int
        Data sets in the file (``$NEXTDATA`` chain).
    dataset : int
        Which one this is (0-based).
    scaled : bool
        True: FCS scale values (DESIGN.md §4); False: decoded values untouched.
    """

    path: Path | None
    version: str
    channels: tuple[str, ...]
    markers: tuple[str | None, ...]
    keywords: dict[str, str]
    spillover: Spillover | None
    n_events: int
    n_datasets: int = 1
    dataset: int = 0
    scaled: bool = True
    source: _EventSource | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.markers) != len(self.channels):
            raise FcsError(f"{len(self.channels)} channels but {len(self.markers)} markers", path=self.path)
        if len(set(self.channels)) != len(self.channels):
            raise FcsError(f"channel names are not unique: {', '.join(self.channels)}", path=self.path)
        if self.source is None:
            object.__setattr__(self, "source", _MetadataOnly(self.path))

    # -- alternative constructors -------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        events: np.ndarray,
        channels: Sequence[str],
        *,
        markers: Sequence[str | None] | None = None,
        keywords: Mapping[str, str] | None = None,
        spillover: Spillover | None = None,
        path: str | Path | None = None,
    ) -> Sample:
        """A sample from an in-memory matrix ``events`` (n_events, n_channels).

        float32 stays float32, everything else becomes float64.  The keywords get
        ``$PAR``, ``$TOT``, ``$PnN`` and ``$PnS`` filled in from the arguments.
        """
        array = np.asarray(events)
        if array.ndim != 2:
            raise FcsError(f"events must be a 2-D array (n_events, n_channels), got shape {array.shape}")
        if array.dtype != np.float32:
            try:
                array = array.astype(np.float64)
            except (TypeError, ValueError):
                raise FcsError(f"events of dtype {array.dtype} are not numeric") from None
        names = tuple(str(c) for c in channels)
        if len(names) != array.shape[1]:
            raise FcsError(f"events have {array.shape[1]} columns but {len(names)} channel names were given")
        marks = tuple(None if m is None or not str(m).strip() else str(m) for m in (markers or [None] * len(names)))
        if len(marks) != len(names):
            raise FcsError(f"{len(names)} channels but {len(marks)} markers")
        array = np.array(array, copy=True)
        array.setflags(write=False)
        words = {str(k).upper(): str(v) for k, v in (keywords or {}).items()}
        words.update({"$PAR": str(len(names)), "$TOT": str(array.shape[0])})
        for n, (name, marker) in enumerate(zip(names, marks), start=1):
            words[f"$P{n}N"] = name
            if marker is not None:
                words[f"$P{n}S"] = marker
        return cls(
            path=None if path is None else Path(path),
            version="",
            channels=unique_names(names),
            markers=marks,
            keywords=words,
            spillover=spillover,
            n_events=int(array.shape[0]),
            source=_ArrayEvents(array),
        )

    @classmethod
    def from_fcs(cls, path: str | Path, **options: Any) -> Sample:
        """Same as :func:`cytogate.fcs.read_fcs`."""
        from .reader import read_fcs

        return read_fcs(path, **options)

    # -- events ---------------------------------------------------------------------
    @cached_property
    def events(self) -> np.ndarray:
        """(n_events, n_channels) read-only array; decoded on first access and cached."""
        values = self.source.matrix()
        if values.flags.writeable:
            values.setflags(write=False)
        return values

    @cached_property
    def _columns(self) -> dict[int, np.ndarray]:
        return {}

    def column(self, key: str | int) -> np.ndarray:
        """Values of one channel, (n_events,), read-only.

        Decodes only that channel (a strided read of a memory map) unless
        :attr:`events` is already decoded; cached per channel.
        """
        index = self.channel_index(key)
        if "events" in self.__dict__:
            return self.__dict__["events"][:, index]
        cached = self._columns.get(index)
        if cached is None:
            cached = self.source.column(index)
            if cached.flags.writeable:
                cached.setflags(write=False)
            self._columns[index] = cached
        return cached

    def channel_index(self, key: str | int) -> int:
        """Position of a channel given its index, ``$PnN`` (unique name) or ``$PnS`` marker.

        Exact matches are tried first ($PnN, then $PnS), then case-insensitive ones.

        Raises
        ------
        MarkerError
            Unknown or ambiguous key.
        """
        n = len(self.channels)
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if -n <= int(key) < n:
                return int(key) % n
            raise MarkerError(f"channel index {key} out of range for {n} channels", path=self.path)
        text = str(key)
        if text in self.channels:
            return self.channels.index(text)
        for candidates, what in ((self.markers, "marker"),):
            hits = [i for i, m in enumerate(candidates) if m == text]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise MarkerError(f"{what} {text!r} names several channels", path=self.path)
        folded = text.casefold()
        for candidates, what in ((self.channels, "channel"), (self.markers, "marker")):
            hits = [i for i, m in enumerate(candidates) if m is not None and m.casefold() == folded]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise MarkerError(f"{what} {text!r} matches several channels ignoring case", path=self.path)
        raise MarkerError(
            f"no channel or marker {text!r}; channels: {', '.join(self.channels)}", path=self.path
        )

    # -- identity -------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The sample name: the file stem (``$FIL`` is not trusted), else ``$FIL``'s stem, else 'sample'."""
        if self.path is not None:
            return self.path.stem
        fil = (self.keywords.get("$FIL") or "").strip()
        return Path(fil).stem if fil else "sample"

    def blocks(self, n_rows: int = 1 << 16, *, digest: Any | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Events in consecutive row blocks, reading a file once from start to end.

        Parameters
        ----------
        n_rows : int
            Events per block (the last block may be shorter).
        digest : hashlib hash object, optional
            Fed, in order, exactly the bytes :meth:`sha256` hashes (the whole
            file; the events of an in-memory sample), so a caller that needs
            both the events and the file's hash reads the file once.

        Yields
        ------
        (int, (m, n_channels) array)
            First event of the block and its values, scaled like :attr:`events`.
            Blocks may share one buffer: use each before asking for the next.
        """
        if n_rows < 1:
            raise ValueError(f"n_rows must be at least 1, not {n_rows}")
        if "events" in self.__dict__:  # already decoded: views, nothing read again
            if digest is not None:
                self.update_digest(digest)
            events = self.__dict__["events"]
            for start in range(0, self.n_events, n_rows):
                yield start, events[start:start + n_rows]
            return
        assert self.source is not None
        yield from self.source.blocks(n_rows, digest)

    def update_digest(self, digest: Any) -> None:
        """Feed the bytes :meth:`sha256` hashes to ``digest.update`` (the file, or the events in memory)."""
        if self.path is not None and self.source is not None and not isinstance(self.source, _ArrayEvents):
            if isinstance(self.source, _FileEvents):
                self.source.update_digest(digest)
                return
            try:
                with open(self.path, "rb") as handle:
                    for block in iter(lambda: handle.read(_COPY_BLOCK), b""):
                        digest.update(block)
            except OSError as exc:
                raise FcsError(f"cannot read: {exc.strerror or exc}", path=self.path) from None
        else:
            digest.update(np.ascontiguousarray(self.events).tobytes())

    def sha256(self) -> str:
        """Hex SHA-256 of the file (of the events for in-memory samples)."""
        digest = hashlib.sha256()
        self.update_digest(digest)
        return digest.hexdigest()

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else "in memory"
        return f"Sample({self.name!r}, {self.n_events} events x {len(self.channels)} channels, {where})"
