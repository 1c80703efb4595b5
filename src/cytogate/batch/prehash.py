"""Hash input files ahead of the workers, on a core that start-up leaves idle.

Every input's SHA-256 goes into ``manifest.json`` and the resume key.  While
a run starts (imports, strategy, numba's first kernel load: about a second of
work on one core), a background thread hashes the inputs in task order, so
that workers find most hashes ready and only gate.  The thread maps each file
and hashes it in large slices, during which ``hashlib`` releases the GIL, so
it runs beside the importing main thread instead of queueing for the GIL
after every small read.

A hash is handed out only with the file's identity (device, inode, size,
modification and status-change times in ns) taken before and after hashing; a
worker compares it with the file as it reads it and hashes in its own read
pass when anything changed.  Files hashed by an earlier run and unchanged
since are not read at all (:mod:`cytogate.batch.hash_index`).  This module
imports only the standard library: the command line starts it before loading
numpy, numba or pandas.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .file_identity import FileHash, file_signature

__all__ = ["HashAhead", "hash_file"]

_SLICE = 64 << 20  # bytes hashed per call: ~40 ms without the GIL, and a stop() is honoured between slices


def hash_file(path: str, stopping: Callable[[], bool] = lambda: False) -> FileHash | None:
    """A local file's hash with its identity; None if unreadable, changed while hashed, or ``stopping()``."""
    since = time.time_ns()
    before = file_signature(path)
    if before is None:
        return None  # missing or unreadable: the worker reports it
    digest = hashlib.sha256()
    try:
        with open(path, "rb", buffering=0) as handle:
            if before[2] > 0:
                # mapped, not copied; each slice is hashed without the GIL in one call, so a
                # background thread does not wait for a busy main thread between small chunks
                with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                    view = memoryview(mapped)
                    try:
                        for start in range(0, len(view), _SLICE):
                            if stopping():
                                return None
                            digest.update(view[start:start + _SLICE])
                    finally:
                        view.release()
    except (OSError, ValueError):
        return None
    return FileHash(digest.hexdigest(), before, since) if file_signature(path) == before else None


class HashAhead:
    """Hash local files in the background, in order; hand each hash out once it is ready.

    Parameters
    ----------
    paths : iterable of str
        Local files in the order the run will need them (URLs are skipped).
    index : path, True or None
        The hash index to consult and update (True: the default location, None:
        hash every file).

    Notes
    -----
    :meth:`claim` never hashes a file twice: a file not started yet is taken off
    the queue (the caller hashes it while reading), one in progress is waited
    for.  :meth:`stop` must be called before forking worker processes.
    """

    def __init__(self, paths: Iterable[str], index: str | os.PathLike[str] | bool | None = True) -> None:
        self._index_location = index
        self._computed: list[tuple[str, FileHash]] = []
        self._queue = [p for p in dict.fromkeys(paths) if "://" not in p]
        self._queue.reverse()  # pop() from the end = task order
        self._done: dict[str, FileHash] = {}
        self._current: str | None = None
        self._stopping = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="cytogate-hash-ahead", daemon=True)
        self._thread.start()

    # -- the background thread -----------------------------------------------------
    def _next(self) -> str | None:
        with self._changed:
            if self._stopping or not self._queue:
                self._current = None
                self._changed.notify_all()
                return None
            self._current = self._queue.pop()
            return self._current

    def _run(self) -> None:
        index: Any = False  # opened once the first file is taken: claim() waits for it meanwhile
        try:
            while (path := self._next()) is not None:
                if index is False:
                    index = self._open_index()
                result = index.lookup(path) if index else None
                if result is None:
                    result = self._hash(path)
                    if result is not None:
                        self._computed.append((path, result))
                with self._changed:
                    if result is not None:
                        self._done[path] = result
                    self._current = None
                    self._changed.notify_all()
        finally:
            if index:
                index.remember(self._computed)
                index.close()

    def _open_index(self) -> Any:
        if self._index_location is None or self._index_location is False:
            return None
        from .hash_index import HashIndex  # SQLite: opened in the thread that uses it

        index = HashIndex(self._index_location)
        return index if index.enabled else None

    def _hash(self, path: str) -> FileHash | None:
        # abandoned on stop(): the worker hashes this file while reading it
        return hash_file(path, stopping=lambda: self._stopping)

    # -- the run's side --------------------------------------------------------------
    def claim(self, path: str) -> FileHash | None:
        """The hash of ``path`` if it is (or is about to be) ready, else None and it is never hashed here."""
        with self._changed:
            while self._current == path:
                self._changed.wait()
            if path in self._queue:
                self._queue.remove(path)
                return None
            return self._done.get(path)

    def ready(self, path: str) -> FileHash | None:
        """The hash of ``path`` if already computed (never waits)."""
        with self._changed:
            return self._done.get(path)

    def stop(self) -> dict[str, FileHash]:
        """Stop hashing (the file in progress is abandoned) and return every finished hash."""
        with self._changed:
            self._stopping = True
        self._thread.join()
        with self._changed:
            return dict(self._done)
