"""Shared fixtures: the conformance corpus and small synthetic data."""

from __future__ import annotations

import atexit
import errno
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
CORPUS = Path(os.environ.get("CYTOGATE_CORPUS", _DEFAULT_CORPUS))

# Runs under test remember input hashes in a throw-away index, never the user's cache
# (the variable is inherited by the command-line runs the tests start).
if "CYTOGATE_HASH_INDEX" not in os.environ:
    _INDEX_DIR = tempfile.mkdtemp(prefix="cytogate-test-hash-index-")
    atexit.register(shutil.rmtree, _INDEX_DIR, True)
    os.environ["CYTOGATE_HASH_INDEX"] = os.path.join(_INDEX_DIR, "sha256-index.sqlite3")


def corpus_path(relative: str) -> Path:
    """Path of a corpus file; skips the calling test with a reason when it is absent."""
    path = CORPUS / relative
    if not path.exists():
        pytest.skip(
            f"conformance corpus file {relative} not found under {CORPUS} "
            "(set CYTOGATE_CORPUS to the shared corpus folder to run this test)"
        )
    return path


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"conformance corpus not found at {CORPUS} (set CYTOGATE_CORPUS to run corpus tests)")
    return CORPUS


class FullDiskFile:
    """A file object whose writes fail as on a full disk (wraps an open handle)."""

    def __init__(self, handle):  # type: ignore[no-untyped-def]
        self._handle = handle

    def write(self, data):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self._handle, name)

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc):  # type: ignore[no-untyped-def]
        self._handle.close()


def mount_tmpfs(where: Path, size: str) -> bool:
    """Mount a tmpfs of ``size`` at ``where`` (a real small disk); False where this cannot be done here."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    where.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True, timeout=30)
    return proc.returncode == 0


def unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def fill_disk(folder: Path, *, leave: int = 0, block: int = 64 << 10) -> Path:
    """Fill ``folder``'s disk but for about ``leave`` bytes; the filler file, to delete to free the space."""
    spare = folder / "spare.bin"
    if leave:
        spare.write_bytes(b"\1" * leave)
    filler = folder / "filler.bin"
    chunk = b"\0" * block
    # unbuffered: a block that did not fit is not left behind to fail again when the file closes
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    if leave:
        spare.unlink()
    return filler
