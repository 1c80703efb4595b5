"""Turn the INPUT arguments of ``cytogate run`` into a sorted list of FCS inputs.

An input is a local file, a folder (searched recursively for FCS/LMD files), a
glob pattern (``plate*/**/*.fcs``) or an fsspec URL (``s3://bucket/run/*.fcs``,
``gcs://...``, ``https://...``).  URLs are kept as strings and opened with
fsspec by whichever process reads them (a Dask worker may see a bucket the
driver does not), so only glob URLs are expanded here.
"""

from __future__ import annotations

import glob
import hashlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import BatchError

__all__ = ["FCS_SUFFIXES", "InputFile", "expand_inputs", "is_url", "local_copy", "sha256_of"]

#: File name endings searched for inside folders (case-insensitive).
FCS_SUFFIXES = (".fcs", ".lmd")
_GLOB_CHARS = frozenset("*?[")
_HASH_BLOCK = 8 << 20


def is_url(text: str) -> bool:
    """True for an fsspec URL (``s3://``, ``https://`` ...); ``file://`` counts as local."""
    return "://" in text and not text.startswith("file://")


@dataclass(frozen=True)
class InputFile:
    """One input file.

    Parameters
    ----------
    path : str
        Absolute local path, or an fsspec URL.
    """

    path: str

    @property
    def name(self) -> str:
        """The file name without folders (what sample sheets are matched on)."""
        if is_url(self.path):
            return PurePosixPath(self.path.split("://", 1)[1]).name
        return os.path.basename(self.path)

    @property
    def stem(self) -> str:
        """The file name without its last suffix (the default sample name)."""
        name = self.name
        return name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name

    @classmethod
    def from_text(cls, text: str) -> InputFile:
        """An input from a path or URL as a user wrote it."""
        if text.startswith("file://"):
            text = text[len("file://") :]
        if is_url(text):
            return cls(text)
        return cls(str(Path(text).expanduser().resolve()))


def _is_fcs(name: str) -> bool:
    return name.lower().endswith(FCS_SUFFIXES)


def _expand_url(text: str) -> list[str]:
    if not any(ch in text for ch in _GLOB_CHARS):
        return [text]
    import fsspec  # optional: only URL globs need it on the driver

    fs, _, paths = fsspec.get_fs_token_paths(text)
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple) else fs.protocol
    return sorted(p if "://" in p else f"{protocol}://{p}" for p in paths)


def expand_inputs(items: Sequence[str | os.PathLike[str]]) -> list[InputFile]:
    """Expand files, folders, globs and URLs into unique inputs, in a stable order.

    Parameters
    ----------
    items : sequence of str or path-like
        What the user typed.  Folders are searched recursively for ``*.fcs`` and
        ``*.lmd``; explicit files are taken whatever their suffix.

    Returns
    -------
    list of InputFile
        In the order given; the files found in one folder or glob are sorted by path.

    Raises
    ------
    BatchError
        An item names nothing (missing path, glob without match, empty folder).
    """
    found: list[InputFile] = []
    for item in items:
        text = os.fspath(item)
        if is_url(text):
            urls = _expand_url(text)
            if not urls:
                raise BatchError("no file matches this URL pattern", path=text)
            found.extend(InputFile(u) for u in urls)
            continue
        path = Path(text).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and _is_fcs(p.name))
            if not files:
                raise BatchError("folder contains no .fcs or .lmd file", path=text)
            found.extend(InputFile.from_text(str(p)) for p in files)
        elif path.is_file():
            found.append(InputFile.from_text(text))
        elif any(ch in text for ch in _GLOB_CHARS):
            matches = sorted(p for p in glob.glob(os.path.expanduser(text), recursive=True) if os.path.isfile(p))
            if not matches:
                raise BatchError("no file matches this pattern", path=text)
            found.extend(InputFile.from_text(p) for p in matches)
        else:
            raise BatchError("input not found", path=text)
    unique: dict[str, InputFile] = {}
    for entry in found:
        unique.setdefault(entry.path, entry)
    return list(unique.values())


def sha256_of(path: str) -> str:
    """Hex SHA-256 of a local file or URL, read in blocks."""
    digest = hashlib.sha256()
    if is_url(path):
        import fsspec

        with fsspec.open(path, "rb") as handle:
            for block in iter(lambda: handle.read(_HASH_BLOCK), b""):
                digest.update(block)
        return digest.hexdigest()
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@contextmanager
def local_copy(path: str, *, hash_local: bool = True) -> Iterator[tuple[str, str | None]]:
    """Yield ``(local_path, sha256)`` for an input, downloading a URL to a temporary file.

    The temporary copy is hashed while it is written and removed afterwards.
    With ``hash_local=False`` a local file is not hashed here (``sha256`` is
    None): the caller hashes it while reading it.
    """
    if not is_url(path):
        yield path, sha256_of(path) if hash_local else None
        return
    import fsspec

    suffix = PurePosixPath(path.split("://", 1)[1]).suffix
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory(prefix="cytogate-") as tmp:
        local = os.path.join(tmp, f"input{suffix}")
        with fsspec.open(path, "rb") as src, open(local, "wb") as dst:
            for block in iter(lambda: src.read(_HASH_BLOCK), b""):
                digest.update(block)
                dst.write(block)
        yield local, digest.hexdigest()
