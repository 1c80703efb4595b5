"""A local file's identity, and a SHA-256 tied to the identity of the file it was computed on.

Standard library only: the command line uses it before numpy, numba or pandas load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["FileHash", "Signature", "file_signature"]


Signature = tuple[int, int, int, int, int]


def file_signature(path: str) -> Signature | None:
    """``(device, inode, size, mtime_ns, ctime_ns)`` of a local file, or None when it cannot be read.

    Taken from the opened file: on NFS, opening revalidates the attributes a
    plain ``stat`` may serve from a cache up to a minute old.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block
    except OSError:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True)
class FileHash:
    """A file's SHA-256 and the identity of the file that was hashed.

    ``since_ns`` is the wall-clock time (ns) at which hashing began, 0 when
    unknown; the hash index uses it to rule out writes it could not see.
    """

    sha256: str
    signature: Signature
    since_ns: int = 0

    def still_valid(self, path: str) -> bool:
        """True when ``path`` is still the file that was hashed (same identity and mtime)."""
        return file_signature(path) == self.signature
