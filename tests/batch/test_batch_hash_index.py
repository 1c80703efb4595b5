"""Remembered input hashes: reused only for the very file that was hashed, never when it may have changed."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from batch_helpers import make_inputs, write_strategy  # noqa: E402

from cytogate.batch import hash_index as hash_index_module  # noqa: E402
from cytogate.batch.driver import BatchOptions, run_batch  # noqa: E402
from cytogate.batch.hash_index import HashIndex, index_location  # noqa: E402
from cytogate.batch.file_identity import FileHash, file_signature  # noqa: E402
from cytogate.batch.prehash import HashAhead  # noqa: E402


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hashed(path: Path, sha256: str | None = None) -> FileHash:
    """A hash taken now of a file that has been quiet (since_ns after its last change)."""
    return FileHash(sha256 or _sha(path), file_signature(str(path)), time.time_ns() + 1)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_remembered_hash_is_returned_for_the_unchanged_file(tmp_path):
    data = _write(tmp_path / "a.fcs", b"x" * 1000)
    with HashIndex(tmp_path / "index.sqlite3", racy_seconds=0) as index:
        assert index.lookup(str(data)) is None
        assert index.remember([(str(data), _hashed(data))]) == 1
        found = index.lookup(str(data))
    assert found is not None and found.sha256 == _sha(data) and found.signature == file_signature(str(data))
    with HashIndex(tmp_path / "index.sqlite3") as reopened:  # persists across runs
        assert reopened.lookup(str(data)).sha256 == _sha(data)


def test_rewritten_content_with_the_old_mtime_is_not_reused(tmp_path):
    data = _write(tmp_path / "a.fcs", b"x" * 1000)
    with HashIndex(tmp_path / "index.sqlite3", racy_seconds=0) as index:
        index.remember([(str(data), _hashed(data))])
        st = data.stat()
        time.sleep(0.02)
        _write(data, b"y" * 1000)  # same size
        os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime set back: only ctime tells
        assert data.stat().st_mtime_ns == st.st_mtime_ns
        assert index.lookup(str(data)) is None


def test_a_replaced_file_is_not_reused(tmp_path):
    data = _write(tmp_path / "a.fcs", b"x" * 1000)
    with HashIndex(tmp_path / "index.sqlite3", racy_seconds=0) as index:
        index.remember([(str(data), _hashed(data))])
        other = _write(tmp_path / "b.fcs", b"z" * 1000)
        os.replace(other, data)
        assert index.lookup(str(data)) is None


def test_files_changed_just_before_hashing_are_not_remembered(tmp_path):
    data = _write(tmp_path / "a.fcs", b"x" * 1000)
    with HashIndex(tmp_path / "index.sqlite3") as index:  # default margin: the file is seconds old at most
        fresh = FileHash(_sha(data), file_signature(str(data)), time.time_ns())
        assert index.remember([(str(data), fresh)]) == 0
        assert index.remember([(str(data), FileHash(_sha(data), file_signature(str(data))))]) == 0  # no time
        assert index.lookup(str(data)) is None


def test_switched_off_and_unusable_indexes_remember_nothing(tmp_path, monkeypatch):
    data = _write(tmp_path / "a.fcs", b"x" * 1000)
    monkeypatch.setenv("CYTOGATE_HASH_INDEX", "off")
    assert index_location() is None
    with HashIndex() as off:
        assert not off.enabled and off.remember([(str(data), _hashed(data))]) == 0 and off.lookup(str(data)) is None
    garbage = _write(tmp_path / "garbage.sqlite3", b"not a database at all" * 100)
    with HashIndex(garbage, racy_seconds=0) as broken:
        assert broken.remember([(str(data), _hashed(data))]) == 0
        assert broken.lookup(str(data)) is None
    blocker = _write(tmp_path / "file", b"")
    assert not HashIndex(blocker / "index.sqlite3").enabled  # its folder cannot exist


def test_default_location_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.delenv("CYTOGATE_HASH_INDEX", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert index_location() == tmp_path / "cytogate" / "sha256-index.sqlite3"


def test_hash_ahead_takes_remembered_hashes_without_reading(tmp_path):
    location = tmp_path / "index.sqlite3"
    data = _write(tmp_path / "a.fcs", b"x" * 1000)
    with HashIndex(location, racy_seconds=0) as index:
        index.remember([(str(data), _hashed(data, "f" * 64))])  # a value hashing could never give
    ahead = HashAhead([str(data)], index=location)
    assert ahead.claim(str(data)).sha256 == "f" * 64
    ahead.stop()
    unindexed = HashAhead([str(data)], index=None)
    assert unindexed.claim(str(data)).sha256 == _sha(data)
    unindexed.stop()


def test_runs_reuse_hashes_of_unchanged_inputs_and_rehash_changed_ones(tmp_path, monkeypatch):
    location = tmp_path / "index.sqlite3"
    monkeypatch.setenv("CYTOGATE_HASH_INDEX", str(location))
    monkeypatch.setattr(hash_index_module, "RACY_SECONDS", 0.0)
    files = make_inputs(tmp_path / "in", count=3, n=1500)
    strategy = write_strategy(tmp_path)

    def manifest_hashes(out: str, **options: object) -> dict[str, str]:
        run_batch(strategy, [str(tmp_path / "in")], tmp_path / out, options=BatchOptions(workers=1, **options))
        manifest = json.loads((tmp_path / out / "manifest.json").read_text())
        return {Path(e["path"]).name: e["sha256"] for e in manifest["inputs"]}

    first = manifest_hashes("first")
    assert first == {p.name: _sha(p) for p in files}
    with sqlite3.connect(location) as db:  # every input remembered; mark them to see reuse
        assert db.execute("SELECT COUNT(*) FROM file_sha256").fetchone()[0] == 3
        db.execute("UPDATE file_sha256 SET sha256 = ?", ("e" * 64,))
    assert set(manifest_hashes("second").values()) == {"e" * 64}
    assert set(manifest_hashes("third", rehash=True).values()) == set(first.values())
    time.sleep(0.02)
    os.utime(files[1])  # any change to the file's metadata: hashed again
    again = manifest_hashes("fourth")
    assert again[files[1].name] == first[files[1].name]
    assert again[files[0].name] == again[files[2].name] == "e" * 64


@pytest.mark.parametrize("workers", [1, 2])
def test_hashes_computed_by_workers_are_remembered(tmp_path, monkeypatch, workers):
    location = tmp_path / "index.sqlite3"
    monkeypatch.setattr(hash_index_module, "RACY_SECONDS", 0.0)
    files = make_inputs(tmp_path / "in", count=3, n=1500)
    strategy = write_strategy(tmp_path)
    ahead = HashAhead([], index=None)  # nothing hashed ahead: every hash is computed while gating
    monkeypatch.setenv("CYTOGATE_HASH_INDEX", str(location))
    run_batch(strategy, [str(tmp_path / "in")], tmp_path / "out", options=BatchOptions(workers=workers),
              prehash=ahead)
    with HashIndex(location) as index:
        assert {p.name: index.lookup(str(p)).sha256 for p in files} == {p.name: _sha(p) for p in files}
