"""An exclusive lock on an output folder, so two runs cannot interleave their writes.

The lock is an advisory ``flock`` on ``DIR/.cytogate/lock``; the kernel drops
it when the holder exits, even on SIGKILL, so a crashed run never leaves a
stale lock.  The holder writes its pid and host into the file so a second run
can say who holds it.  (On network filesystems without ``flock`` support the
lock may not be exclusive across machines; use a local or lock-aware folder.)
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from types import TracebackType

from ..errors import FolderInUseError, OutputError

__all__ = ["OutputLock"]

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]  # no fcntl on Windows: no lock taken


class OutputLock:
    """Context manager holding an exclusive lock on an output folder.

    Parameters
    ----------
    folder : path-like
        The run's output folder; ``folder/.cytogate/lock`` is created.

    Raises
    ------
    BatchError
        (on entering) another process holds the lock; the message names its pid.
    OutputError
        (on entering) the folder or its lock file cannot be created or written
        (full disk, read-only filesystem, permissions); nothing in it is changed.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / ".cytogate" / "lock"
        self.fd: int | None = None

    def acquire(self) -> OutputLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise self._unwritable(exc) from exc
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
                os.close(fd)
                who = f"pid {holder[0]} on {holder[1]}" if len(holder) >= 2 else "another process"
                raise FolderInUseError(
                    f"output folder is in use by another cytogate run ({who}); wait for it to finish "
                    "or choose another --out",
                    path=self.folder,
                ) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)  # also drops the flock
            raise self._unwritable(exc) from exc
        self.fd = fd
        return self

    def _unwritable(self, exc: OSError) -> OutputError:
        # A folder we cannot even lock cannot take the run's outputs either: say so before any work.
        return OutputError(f"cannot write to the output folder: {exc.strerror or exc}", path=self.folder)

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)
        finally:
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
