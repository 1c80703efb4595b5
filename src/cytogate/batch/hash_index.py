"""SHA-256 of input files seen before, so a re-run does not hash them again.

Hashing is the largest part of a fast batch run's work (about 50 ms per 80 MB
file, as much as gating it).  Studies are gated again and again over the same
exports with a changed strategy, so the hash of each file is remembered by
path together with the file's full identity: device, inode, size and the
modification and status-change times in nanoseconds, the way version-control
and data-versioning tools index their working trees.  On POSIX file systems
any write to a file moves its status-change time (which, unlike the
modification time, cannot be set back), and a replaced file has a new inode,
so a remembered hash is used only for the very file that was hashed.  Where
status-change times cannot be trusted (some SMB/NTFS or FUSE mounts), run
with ``--rehash``.

One race remains: a write in the same clock tick as the recorded times.  A
hash is therefore remembered only when the file was last changed more than
``RACY_SECONDS`` before the hashing began; a file written just before a run
is hashed again next time, until it has been quiet long enough.

The index is a SQLite database in the user's cache folder
(``$XDG_CACHE_HOME/cytogate/sha256-index.sqlite3``), or where
``CYTOGATE_HASH_INDEX`` points; ``CYTOGATE_HASH_INDEX=off`` (or
``cytogate run --rehash``) hashes every input afresh.  It is a cache: when it
cannot be opened, read or written, runs go on and simply hash.  This module
imports only the standard library (it runs before numpy loads).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .file_identity import FileHash, file_signature

__all__ = ["RACY_SECONDS", "HashIndex", "index_location"]

log = logging.getLogger(__name__)

#: A hash is remembered only for files unchanged for this long before hashing began
#: (covers coarse timestamps: FAT's 2 s, network file systems' 1 s).
RACY_SECONDS = 3.0
_OFF = {"off", "0", "no", "false", "none"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS file_sha256 (
    path TEXT PRIMARY KEY,
    device INTEGER NOT NULL, inode INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL
)
"""


def index_location() -> Path | None:
    """Where the index lives, or None when it is switched off (``CYTOGATE_HASH_INDEX``)."""
    setting = os.environ.get("CYTOGATE_HASH_INDEX", "").strip()
    if setting.lower() in _OFF:
        return None
    if setting:
        return Path(setting).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cytogate" / "sha256-index.sqlite3"


class HashIndex:
    """Remembered SHA-256 of files, valid only while the file keeps its identity.

    Parameters
    ----------
    location : path, optional
        The database; default :func:`index_location`.  None (or a location that
        cannot be opened) gives an index that remembers nothing.
    racy_seconds : float, optional
        Default :data:`RACY_SECONDS`.

    Notes
    -----
    A SQLite connection belongs to the thread that opened it: open one index
    per thread.
    """

    def __init__(self, location: str | os.PathLike[str] | None | bool = True, *,
                 racy_seconds: float | None = None) -> None:
        self.racy_ns = int((RACY_SECONDS if racy_seconds is None else racy_seconds) * 1e9)
        self._db: Any = None
        where = index_location() if location is True else location
        if where is None or where is False:
            return
        try:
            import sqlite3

            Path(where).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(os.fspath(where), timeout=10.0)
            db.execute("PRAGMA journal_mode=WAL")  # readers never wait for a writing run
            db.execute("PRAGMA synchronous=NORMAL")  # a lost entry only means hashing again
            db.execute(_SCHEMA)
            db.commit()
            self._db = db
        except Exception as exc:  # noqa: BLE001 - a cache that fails is a cache that is off
            log.debug("hash index %s unusable (%s); inputs will be hashed", where, exc)

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def lookup(self, path: str) -> FileHash | None:
        """The remembered hash of ``path`` if the file is still exactly the one hashed, else None."""
        if self._db is None:
            return None
        signature = file_signature(path)
        if signature is None:
            return None
        try:
            row = self._db.execute(
                "SELECT device, inode, size, mtime_ns, ctime_ns, sha256 FROM file_sha256 WHERE path = ?",
                (os.path.abspath(path),)).fetchone()
        except Exception as exc:  # noqa: BLE001
            log.debug("hash index lookup failed (%s)", exc)
            return None
        if row is None or tuple(row[:5]) != signature:
            return None
        return FileHash(str(row[5]), signature)

    def remember(self, items: Iterable[tuple[str, FileHash]]) -> int:
        """Store hashes whose file was quiet long enough before hashing; returns how many were stored."""
        if self._db is None:
            return 0
        rows = []
        for path, known in items:
            sig = known.signature
            if len(sig) != 5 or known.since_ns <= 0 or max(sig[3], sig[4]) >= known.since_ns - self.racy_ns:
                continue  # changed too recently to rule out an unseen write in the same clock tick
            rows.append((os.path.abspath(path), *sig, known.sha256))
        if not rows:
            return 0
        try:
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO file_sha256 VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        except Exception as exc:  # noqa: BLE001
            log.debug("hash index not updated (%s)", exc)
            return 0
        return len(rows)

    def close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except Exception:  # noqa: BLE001  # pragma: no cover
                pass
            self._db = None

    def __enter__(self) -> HashIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
