"""Hashing inputs ahead of the workers: same hashes, never stale, never twice."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from batch_helpers import make_inputs, write_strategy  # noqa: E402

from cytogate.batch import prehash as prehash_module  # noqa: E402
from cytogate.batch.driver import BatchOptions, run_batch  # noqa: E402
from cytogate.batch.file_identity import FileHash, file_signature  # noqa: E402
from cytogate.batch.prehash import HashAhead  # noqa: E402
from cytogate.batch.worker import RunConfig, SampleTask, process_sample  # noqa: E402


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_hashes_match_hashlib_including_empty_and_missing_files(tmp_path):
    files = make_inputs(tmp_path, count=3, n=2000)
    empty = tmp_path / "empty.fcs"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.fcs"
    ahead = HashAhead([str(p) for p in [*files, empty, missing]])
    done = {path: ahead.claim(str(path)) for path in [*files, empty]}
    assert ahead.claim(str(missing)) is None
    hashes = ahead.stop()
    for path, known in done.items():
        assert known is not None and known.sha256 == _sha(path)
        assert known.signature == file_signature(str(path)) and known.still_valid(str(path))
        assert hashes[str(path)] == known
    assert str(missing) not in hashes


def test_slices_cover_the_whole_file(tmp_path, monkeypatch):
    monkeypatch.setattr(prehash_module, "_SLICE", 1000)  # many slices, a partial last one
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(12_345))
    ahead = HashAhead([str(path)])
    assert ahead.claim(str(path)).sha256 == _sha(path)
    ahead.stop()


def test_urls_are_left_to_the_workers():
    ahead = HashAhead(["s3://bucket/a.fcs"])
    assert ahead.stop() == {}


def test_a_claimed_file_not_started_is_never_hashed_in_the_background(tmp_path, monkeypatch):
    files = [str(p) for p in make_inputs(tmp_path, count=3, n=500)]
    started = threading.Event()
    release = threading.Event()
    hashed: list[str] = []
    original = HashAhead._hash

    def slow_hash(self, path):
        hashed.append(path)
        started.set()
        release.wait(10)
        return original(self, path)

    monkeypatch.setattr(HashAhead, "_hash", slow_hash)
    ahead = HashAhead(files)
    assert started.wait(10)  # the first file is in progress
    assert ahead.claim(files[2]) is None  # not started: the caller hashes it itself
    release.set()
    assert ahead.claim(files[0]).sha256 == _sha(Path(files[0]))  # in progress: waited for
    ahead.stop()
    assert files[2] not in hashed and files[0] in hashed


def test_stop_abandons_the_file_in_progress(tmp_path, monkeypatch):
    monkeypatch.setattr(prehash_module, "_SLICE", 10)
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(2_000_000))  # 200,000 slices: still running when stopped
    ahead = HashAhead([str(path)])
    assert ahead.stop() == {}


def test_a_stale_hash_is_not_trusted(tmp_path):
    (path,) = make_inputs(tmp_path, count=1, n=1000)
    strategy = write_strategy(tmp_path)
    from cytogate import load_strategy

    config = RunConfig(load_strategy(strategy), stats=False)
    forged = FileHash("0" * 64, file_signature(str(path)))
    trusted = process_sample(SampleTask(0, "s", str(path), known=forged), config)
    assert trusted.ok and trusted.record.sha256 == "0" * 64  # same identity: used as is, not re-read
    stale = FileHash("0" * 64, (*forged.signature[:3], forged.signature[3] - 1, forged.signature[4]))  # older mtime
    fresh = process_sample(SampleTask(0, "s", str(path), known=stale), config)
    assert fresh.ok and fresh.record.sha256 == _sha(path)


def test_a_file_changed_while_gated_fails_cleanly(tmp_path):
    (path,) = make_inputs(tmp_path, count=1, n=1000)
    from cytogate import gate, load_strategy
    from cytogate.batch.worker import Backend

    def gate_then_touch(strategy, sample, *, digest=None):
        result = gate(strategy, sample, digest=digest)
        os.utime(path, ns=(0, 1))  # another program rewrote the file meanwhile
        return result

    config = RunConfig(load_strategy(write_strategy(tmp_path)), stats=False, backend=Backend(gate=gate_then_touch))
    known = FileHash(_sha(path), file_signature(str(path)))
    outcome = process_sample(SampleTask(0, "s", str(path), known=known), config)
    assert not outcome.ok and "changed while it was being gated" in outcome.reason


@pytest.mark.parametrize("workers", [1, 2])
def test_batch_manifest_hashes_are_the_files_hashes(tmp_path, workers):
    files = make_inputs(tmp_path / "in", count=4, n=3000)
    strategy = write_strategy(tmp_path)
    result = run_batch(strategy, [str(tmp_path / "in")], tmp_path / "out",
                       options=BatchOptions(workers=workers, stats=False, progress=False))
    assert result.exit_code == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert {e["path"]: e["sha256"] for e in manifest["inputs"]} == {str(p.resolve()): _sha(p) for p in files}
    # a file changed after the first run is recomputed on the next, with its new hash
    files[1].write_bytes(files[0].read_bytes())
    again = run_batch(strategy, [str(tmp_path / "in")], tmp_path / "out",
                      options=BatchOptions(workers=workers, stats=False, progress=False))
    entries = {e["path"]: e for e in again.manifest["inputs"]}
    assert entries[str(files[1].resolve())]["sha256"] == _sha(files[0])
    assert not entries[str(files[1].resolve())]["reused"] and entries[str(files[2].resolve())]["reused"]
