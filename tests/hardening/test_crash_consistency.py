"""A full disk and an unwritable output folder: a clear error (exit 2, OutputError), earlier results intact.

(The SIGKILL-and-resume test is the batch engineer's, in tests/batch/test_batch_kill.py.)

The full disk is real where the test runs as root and can mount a small tmpfs;
everywhere, ``ENOSPC`` is also injected into the atomic writer.  In both, a
second run that cannot write must leave every file of the first run
byte-identical and no temporary file behind, and a later run with space again
must finish and agree with an uninterrupted run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import FullDiskFile, fill_disk, mount_tmpfs, unmount
from hostile_inputs import small_fcs

import cytogate.atomic as outputs
from cytogate.batch import BatchOptions, run_batch
from cytogate.cli import main
from cytogate.errors import OutputError

STRATEGY = ("cytogate_strategy: 1\nname: crash\npopulations:\n"
            "  Cells: {rectangle: {FSC-A: {min: 100}}}\n"
            "  Bright: {parent: Cells, rectangle: {FL1-A: {min: 500}}}\n")


def _files(folder: Path) -> dict[str, bytes]:
    """Every regular file under ``folder`` except the lock file, by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock")}


def _assert_intact(before: dict[str, bytes], folder: Path) -> None:
    """Every earlier file is byte-identical and no temporary is left (new complete files may appear)."""
    after = _files(folder)
    changed = sorted(name for name, content in before.items() if after.get(name) != content)
    assert not changed, f"a failed run changed or removed earlier results: {changed}"
    assert not _temporaries(folder)


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(f"*{outputs.TMP_MARKER}*")]


def _setup(root: Path, n_files: int = 3) -> tuple[Path, list[Path]]:
    strategy = root / "strategy.yaml"
    strategy.write_text(STRATEGY)
    data = root / "data"
    data.mkdir()
    return strategy, [small_fcs(data / f"s{i}.fcs", n=2000, seed=i) for i in range(n_files)]


def _cli(capsys, *args: object) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def _counts_equal(a: Path, b: Path) -> None:
    left = pd.read_csv(a / "counts.csv").sort_values(["sample", "population"]).reset_index(drop=True)
    right = pd.read_csv(b / "counts.csv").sort_values(["sample", "population"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right)


def test_injected_full_disk_is_output_error_and_earlier_results_survive(tmp_path, capsys, monkeypatch):
    strategy, inputs = _setup(tmp_path)
    out = tmp_path / "out"
    first = run_batch(strategy, inputs[:2], out, options=BatchOptions(workers=1, progress=False))
    assert first.exit_code == 0
    before = _files(out)

    real_open = open

    def full_disk_open(path, mode="r", *args, **kwargs):  # type: ignore[no-untyped-def]
        handle = real_open(path, mode, *args, **kwargs)
        return FullDiskFile(handle) if "w" in mode else handle

    monkeypatch.setattr(outputs, "open", full_disk_open, raising=False)
    with pytest.raises(OutputError, match="No space left on device"):
        run_batch(strategy, inputs, out, options=BatchOptions(workers=1, progress=False, force=True))
    code, err = _cli(capsys, "run", strategy, *inputs, "--out", out, "--workers", "1", "--force", "--no-progress")
    assert code == 4, err
    assert "No space left on device" in err and "Traceback" not in err
    _assert_intact(before, out)

    monkeypatch.undo()
    again = run_batch(strategy, inputs, out, options=BatchOptions(workers=1, progress=False))
    assert again.exit_code == 0
    reference = tmp_path / "reference"
    run_batch(strategy, inputs, reference, options=BatchOptions(workers=1, progress=False))
    _counts_equal(out, reference)


@pytest.fixture
def small_disk(tmp_path):
    where = tmp_path / "disk"
    if not mount_tmpfs(where, "8m"):
        pytest.skip("cannot mount a tmpfs here (needs root and mount); the injected-ENOSPC test covers this")
    try:
        yield where
    finally:
        unmount(where)


def test_real_full_disk_exits_2_and_keeps_earlier_results(tmp_path, small_disk, capsys):
    strategy, inputs = _setup(tmp_path, n_files=4)
    out = small_disk / "out"
    args = ("run", strategy, *inputs, "--out", out, "--workers", "1", "--no-progress", "--membership")
    code, err = _cli(capsys, "run", strategy, *inputs[:2], "--out", out, "--workers", "1", "--no-progress")
    assert code == 0, err
    before = _files(out)

    # Nearly full: the lock can be taken, the outputs cannot be written.
    spare = small_disk / "spare.bin"
    spare.write_bytes(b"\1" * (8 << 10))
    filler = fill_disk(small_disk)
    spare.unlink()
    code, err = _cli(capsys, *args)
    assert code == 4, err
    lines = [line for line in err.splitlines() if line.startswith("cytogate: error:")]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "Traceback" not in err, err
    _assert_intact(before, out)

    # Space again: the run finishes and agrees with an uninterrupted one.
    filler.unlink()
    code, err = _cli(capsys, *args)
    assert code == 0, err
    reference = tmp_path / "reference"
    run_batch(strategy, inputs, reference, options=BatchOptions(workers=1, progress=False, membership=True))
    _counts_equal(out, reference)

    # Completely full (not even the lock file can be written), with a forced recomputation.
    before = _files(out)
    filler = fill_disk(small_disk)
    code, err = _cli(capsys, *args, "--force")
    _assert_intact(before, out)
    assert "Traceback" not in err
    filler.unlink()
    assert code == 4, err
    assert "No space left on device" in err


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder this process cannot write: a read-only tmpfs as root, else chmod 0o555."""
    where = tmp_path / "ro"
    if os.geteuid() == 0:
        if not mount_tmpfs(where, "8m"):
            pytest.skip("running as root without mount: permissions cannot make a folder unwritable")
        try:
            yield where, lambda: subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True, timeout=30)
        finally:
            unmount(where)
    else:
        where.mkdir()
        try:
            yield where, lambda: where.chmod(0o555) or [p.chmod(0o555) for p in where.rglob("*") if p.is_dir()]
        finally:
            for p in [where, *where.rglob("*")]:
                if p.is_dir():
                    p.chmod(0o755)


def test_unwritable_output_folder_is_a_clear_error(tmp_path, read_only_folder, capsys):
    where, make_read_only = read_only_folder
    strategy, inputs = _setup(tmp_path, n_files=2)
    out = where / "out"
    code, err = _cli(capsys, "run", strategy, inputs[0], "--out", out, "--workers", "1", "--no-progress")
    assert code == 0, err
    before = _files(out)
    make_read_only()
    code, err = _cli(capsys, "run", strategy, *inputs, "--out", out, "--workers", "1", "--no-progress")
    _assert_intact(before, out)
    assert "Traceback" not in err
    assert code == 4, err
    lines = [line for line in err.splitlines() if line.startswith("cytogate: error:")]
    assert len(lines) == 1 and str(out) in lines[0], err
    # A fresh output folder that cannot even be created: the same clear error.
    code, err = _cli(capsys, "run", strategy, inputs[0], "--out", where / "new", "--workers", "1", "--no-progress")
    assert code == 4 and "Traceback" not in err, err
