"""The :class:`Sample`: one data set of an FCS file (or in-memory events) and its metadata.

Events are decoded lazily and cached.  :meth:`Sample.column` decodes a single
channel through a memory map without materialising the whole matrix, which is
what the gating engine uses; :attr:`Sample.events` decodes everything once.
Returned arrays are read-only so the cached values cannot be changed by accident
(``np.array(sample.events)`` gives a writable copy).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..channels import ChannelResolver
from ..errors import FcsError, MarkerError
from ..compensation.matrix import Spillover
from .events import ArrayEvents, EventSource, MetadataOnly

__all__ = ["Sample", "unique_names"]


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
        True: FCS scale values (docs/architecture.md, "Event values"); False: decoded values untouched.
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
    source: EventSource | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.markers) != len(self.channels):
            raise FcsError(f"{len(self.channels)} channels but {len(self.markers)} markers", path=self.path)
        if len(set(self.channels)) != len(self.channels):
            raise FcsError(f"channel names are not unique: {', '.join(self.channels)}", path=self.path)
        if self.source is None:
            object.__setattr__(self, "source", MetadataOnly(self.path))

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
            source=ArrayEvents(array),
        )

    @property
    def _source(self) -> EventSource:
        assert self.source is not None  # __post_init__ always sets one
        return self.source

    @cached_property
    def events(self) -> np.ndarray:
        """(n_events, n_channels) read-only array; decoded on first access and cached."""
        values = self._source.matrix()
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
        if self.decoded:
            return self.events[:, index]
        cached = self._columns.get(index)
        if cached is None:
            cached = self._source.column(index)
            if cached.flags.writeable:
                cached.setflags(write=False)
            self._columns[index] = cached
        return cached

    def channel_index(self, key: str | int) -> int:
        """Position of a channel given its index, ``$PnN`` (unique name) or ``$PnS`` marker.

        Names are resolved by :class:`cytogate.channels.ChannelResolver` (exact
        ``$PnN``, exact ``$PnS``, FlowJo ``Comp-``/``<...>`` names, unique
        case-insensitive matches), as gates and compensation resolve them.

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
        try:
            return ChannelResolver(self.channels, self.markers).index(str(key))
        except MarkerError as exc:
            raise MarkerError(exc.message, path=self.path) from None

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
        if self.decoded:  # already decoded: views, nothing read again
            if digest is not None:
                self.update_digest(digest)
            events = self.events
            for start in range(0, self.n_events, n_rows):
                yield start, events[start:start + n_rows]
            return
        yield from self._source.blocks(n_rows, digest)

    def update_digest(self, digest: Any) -> None:
        """Feed the bytes :meth:`sha256` hashes to ``digest.update`` (the file, or the events in memory)."""
        self._source.update_digest(digest)

    @property
    def decoded(self) -> bool:
        """True once the whole event matrix is in memory (then columns and blocks are views of it)."""
        return "events" in self.__dict__

    def sha256(self) -> str:
        """Hex SHA-256 of the file (of the events for in-memory samples)."""
        digest = hashlib.sha256()
        self.update_digest(digest)
        return digest.hexdigest()

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else "in memory"
        return f"Sample({self.name!r}, {self.n_events} events x {len(self.channels)} channels, {where})"
