"""Atomic file writes: nothing in the output folder is ever seen half-written.

Every file is written to a hidden temporary name in the same folder, flushed
and fsync'ed, then renamed over its final name (``os.replace`` is atomic on
POSIX and Windows), and the folder is fsync'ed so the rename survives a crash.
A run killed at any moment therefore leaves each output either absent, in its
previous complete state, or in its new complete state, plus at most some
``.*.tmp-*`` files that the next run removes.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import pandas as pd

from .errors import OutputError

__all__ = [
    "TMP_MARKER",
    "atomic_file",
    "atomic_write",
    "write_bytes",
    "write_text",
    "write_json",
    "write_csv",
    "write_parquet",
    "remove_stale_temporaries",
]

TMP_MARKER = ".tmp-"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A file written in pieces and published whole: its final name appears only when the block ends cleanly.

    Yields a binary file object open on a temporary name in the same folder.
    On any exception inside the block the temporary is removed and the
    previous version of the file, if any, is untouched.

    Raises
    ------
    OutputError
        The file cannot be written (an ``OSError`` inside the block included).
    """
    final = Path(path)
    tmp = final.with_name(f".{final.name}{TMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        handle = open(tmp, "wb")
    except OSError as exc:
        raise OutputError(f"cannot write output: {exc.strerror or exc}", path=final) from exc
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(f"cannot write output: {exc.strerror or exc}", path=final) from exc
        raise
    _fsync_dir(final.parent)


def atomic_write(path: str | os.PathLike[str], writer: Callable[[BinaryIO], object]) -> Path:
    """Write a file atomically.

    Parameters
    ----------
    path : str or path-like
        Final location; its folder is created if needed.
    writer : callable
        Called with a binary file object open on the temporary file.

    Raises
    ------
    OutputError
        The file cannot be written; any previous version of it is intact.
    """
    with atomic_file(path) as handle:
        writer(handle)
    return Path(path)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Atomically write bytes."""
    return atomic_write(path, lambda handle: handle.write(data))


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write UTF-8 text."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], document: Any) -> Path:
    """Atomically write a JSON document (NaN allowed, keys in insertion order)."""
    return write_text(path, json.dumps(document, indent=1, allow_nan=True) + "\n")


def write_csv(path: str | os.PathLike[str], table: pd.DataFrame) -> Path:
    """Atomically write a table as CSV (no index; floats with full precision)."""
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, lineterminator="\n")
    return write_text(path, buffer.getvalue())


def write_parquet(path: str | os.PathLike[str], table: pd.DataFrame, *, metadata: dict[str, str] | None = None) -> Path:
    """Atomically write a table as Parquet, with optional key/value file metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    if metadata:
        merged = dict(arrow.schema.metadata or {})
        merged.update({k.encode(): v.encode() for k, v in metadata.items()})
        arrow = arrow.replace_schema_metadata(merged)
    return atomic_write(path, lambda handle: pq.write_table(arrow, handle))


def remove_stale_temporaries(*folders: str | os.PathLike[str]) -> int:
    """Delete temporaries a killed run left directly in ``folders``; returns how many."""
    removed = 0
    for path in (p for folder in folders for p in Path(folder).glob(f".*{TMP_MARKER}*")):
        try:
            path.unlink()
            removed += 1
        except OSError:
            pass
    return removed
