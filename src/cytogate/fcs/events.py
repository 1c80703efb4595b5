"""Where a sample's events come from: a file (memory-mapped or streamed), an array, or nothing.

Every source answers the same four questions (:class:`EventSource`): the whole
decoded matrix, one decoded column, blocks of decoded rows (optionally feeding
a SHA-256 of the file's bytes as they stream past), and the digest of the
bytes alone.  :class:`cytogate.fcs.Sample` delegates to one of them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import FcsError, FcsWarning
from .decode import DataFormat, decode_column, read_uniform
from .scaling import ChannelScale

__all__ = ["ArrayEvents", "EventSource", "FileEvents", "MetadataOnly", "hash_file"]


def hash_file(path: Path, digest: Any) -> None:
    """Feed every byte of the file at ``path``, in order, to ``digest.update``."""
    buffer = bytearray(_COPY_BLOCK)
    view = memoryview(buffer)
    try:
        with open(path, "rb", buffering=0) as handle:
            while n := handle.readinto(buffer):
                digest.update(view[:n])
    except OSError as exc:
        raise FcsError(f"cannot read: {exc.strerror or exc}", path=path) from None


class EventSource(Protocol):
    """What a sample decodes its events from: a file, an array, or nothing (metadata only)."""

    def matrix(self) -> np.ndarray: ...

    def column(self, position: int) -> np.ndarray: ...

    def blocks(self, n_rows: int, digest: Any | None) -> Iterator[tuple[int, np.ndarray]]: ...

    def update_digest(self, digest: Any) -> None: ...


_COPY_BLOCK = 1 << 20  # bytes per read when only hashing


class FileEvents:
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
        hash_file(self.path, digest)

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
                    pending = hashed[slot]
                    if pending is not None:  # this buffer's previous block must be hashed first
                        pending.result()
                    m = min(n_rows, self.n_events - start)
                    view = raw.data[:m * per_event]
                    got = 0
                    while got < len(view):
                        n = handle.readinto(view[got:])
                        if not n:
                            break
                        got += n
                    if got != len(view):
                        raise FcsError(f"DATA segment truncated: read {got} of {len(view)} bytes of events "
                                       f"{start}-{start + m}", path=self.path, offset=self.start + start * per_event)
                    if hasher is not None and digest is not None:
                        hashed[slot] = hasher.submit(digest.update, view)  # in order: one hashing thread
                    if out is None:  # float32/64 stored natively: the read buffer is the block
                        block = raw[:m * per_event].view(self.dtype).reshape(m, len(self.indices))
                    else:
                        block = self._decode_block(raw[:m * per_event], m, out)
                    block.setflags(write=False)  # a view of a shared buffer, like the read-only events
                    yield start, block
                if hasher is not None and digest is not None:
                    for future in hashed:
                        if future is not None:
                            future.result()
                    tail = raws[0]
                    while n := handle.readinto(tail.data):  # anything after the events
                        digest.update(tail.data[:n])
            except OSError as exc:
                raise FcsError(f"cannot read: {exc.strerror or exc}", path=self.path) from None
            finally:
                if hasher is not None:
                    hasher.shutdown(wait=True)


class ArrayEvents:
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


class MetadataOnly:
    """A sample read with ``read_metadata``: no events, but the file can still be hashed."""

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
        if self.path is None:
            self._fail()
        else:
            hash_file(self.path, digest)
