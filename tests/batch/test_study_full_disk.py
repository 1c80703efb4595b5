"""A study run whose output disk fills: exit 4 with one line, nothing half-written, and a rerun completes.

The disk fills either for real (a small tmpfs, where the tests run as root
and may mount) or by ``ENOSPC`` injected into the atomic writer at a chosen
file: a sample's result, a table being assembled, or the manifest.  After
space is freed, the same command finishes with the tables of an
uninterrupted run, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FullDiskFile, fill_disk, mount_tmpfs, unmount
from study_helpers import make_study

import cytogate.atomic as atomic
from cytogate.cli import main

TABLES = ("counts.csv", "counts.parquet", "stats.parquet", "fits.parquet", "gates.json", "failures.csv")


def _run(capsys: pytest.CaptureFixture[str], study: Path, out: Path) -> tuple[int, str]:
    code = main(["run", str(study), "--out", str(out), "--workers", "1", "--no-progress"])
    return code, capsys.readouterr().err


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("cytogate: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _no_temporaries(folder: Path) -> None:
    assert not [p for p in folder.rglob(f"*{atomic.TMP_MARKER}*")], "a half-written file was left behind"


def _same_tables(out: Path, reference: Path) -> None:
    for name in TABLES:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


@pytest.fixture
def study_and_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    study = make_study(tmp_path / "study", per_panel=4)
    code, err = _run(capsys, study, tmp_path / "reference")
    assert code == 0, err
    return study, tmp_path / "reference"


def _disk_fills_at(monkeypatch: pytest.MonkeyPatch, name: str, after: int = 0) -> None:
    """Every write to an output file called ``name`` (``results``: a sample's result) fails after ``after`` such files."""
    real_open, seen = open, [0]

    def full_disk_open(path, mode="r", *args, **kwargs):  # type: ignore[no-untyped-def]
        handle = real_open(path, mode, *args, **kwargs)
        target = Path(path)
        if "w" in mode and (target.parent.name == "samples" if name == "results" else
                            target.name.startswith(f".{name}")):
            seen[0] += 1
            if seen[0] > after:
                return FullDiskFile(handle)
        return handle

    monkeypatch.setattr(atomic, "open", full_disk_open, raising=False)


@pytest.mark.parametrize("name, after", [
    ("results", 3),          # mid-run: the fourth sample's result cannot be committed
    ("counts.parquet", 0),   # while the tables are assembled, after counts.csv was streamed
    ("stats.parquet", 0),
    ("gates.json", 0),
    ("manifest.json", 0),    # everything else written; the run's last file
])
def test_full_disk_exits_4_and_a_rerun_completes_with_identical_tables(
        tmp_path, capsys, monkeypatch, study_and_reference, name, after):
    study, reference = study_and_reference
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        _disk_fills_at(patch, name, after)
        code, err = _run(capsys, study, out)
    assert code == 4, err
    line = _one_error_line(err)
    assert "No space left on device" in line, line
    _no_temporaries(out)
    assert not (out / "manifest.json").exists()  # a run that did not finish never looks finished
    committed = len(list((out / ".cytogate" / "samples").glob("*.json")))
    if name == "results":
        assert committed == after
    else:  # the tables are written as samples finish: the run stops at the first write that fails
        assert 1 <= committed <= 8

    code, err = _run(capsys, study, out)  # space again: the same command
    assert code == 0, err
    _same_tables(out, reference)
    _no_temporaries(out)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "disk"
    if not mount_tmpfs(where, "4m"):
        pytest.skip("cannot mount a tmpfs here (needs root and mount); the injected-ENOSPC test covers this")
    try:
        yield where
    finally:
        unmount(where)


def test_real_disk_filling_during_a_study_run(small_disk, capsys, study_and_reference):
    study, reference = study_and_reference
    out = small_disk / "out"
    # room for the lock and a few samples' results, not for all eight and the tables
    sample_result = max(p.stat().st_size for p in (reference / ".cytogate" / "samples").glob("*.json"))
    filler = fill_disk(small_disk, block=4 << 10, leave=3 * (sample_result // 4096 + 1) * 4096 + 8192)
    code, err = _run(capsys, study, out)
    assert code == 4, err
    assert "No space left on device" in _one_error_line(err)
    _no_temporaries(out)
    assert not (out / "manifest.json").exists()
    committed = len(list((out / ".cytogate" / "samples").glob("*.json")))
    assert 1 <= committed < 8, committed  # the disk filled part way through the samples

    filler.unlink()
    code, err = _run(capsys, study, out)
    assert code == 0, err
    _same_tables(out, reference)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["totals"]["reused"] == committed  # what was committed before the disk filled is kept
