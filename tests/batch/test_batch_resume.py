"""Resume: finished samples are reused only when strategy, file and options are unchanged."""

from __future__ import annotations

import json

import pytest
from batch_helpers import make_inputs, write_sample, write_strategy

from cytogate.batch import BatchOptions, run_batch
from cytogate.batch.lock import OutputLock
from cytogate.atomic import write_text
from cytogate.errors import BatchError

FINAL = ("counts.csv", "counts.parquet", "stats.parquet", "failures.csv")


def _run(strategy, inputs, out, **options):
    options.setdefault("workers", 1)
    options.setdefault("progress", False)
    return run_batch(strategy, [str(p) for p in inputs], out, options=BatchOptions(**options))


def _reused(result):
    return {e["sample"] for e in result.manifest["inputs"] if e.get("reused")}


@pytest.fixture()
def setup(tmp_path):
    return write_strategy(tmp_path), make_inputs(tmp_path / "fcs", count=3, n=3000)


def test_second_run_reuses_everything_and_writes_identical_tables(tmp_path, setup):
    strategy, files = setup
    first = _run(strategy, files, tmp_path / "a")
    assert _reused(first) == set()
    before = {name: (tmp_path / "a" / name).read_bytes() for name in FINAL}
    second = _run(strategy, files, tmp_path / "a")
    assert _reused(second) == {"s00", "s01", "s02"}
    assert {name: (tmp_path / "a" / name).read_bytes() for name in FINAL} == before
    _run(strategy, files, tmp_path / "b", workers=2)
    assert {name: (tmp_path / "b" / name).read_bytes() for name in FINAL} == before


def test_changed_strategy_is_recomputed(tmp_path, setup):
    strategy, files = setup
    _run(strategy, files, tmp_path / "out")
    write_strategy(tmp_path, t_min=600.0)
    second = _run(strategy, files, tmp_path / "out")
    assert _reused(second) == set()


def test_changed_file_is_recomputed_even_with_same_size_and_mtime(tmp_path, setup):
    import os

    strategy, files = setup
    _run(strategy, files, tmp_path / "out")
    stat = files[1].stat()
    write_sample(files[1], n=3000, seed=99)  # same size, other events
    os.utime(files[1], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert files[1].stat().st_size == stat.st_size
    second = _run(strategy, files, tmp_path / "out")
    assert _reused(second) == {"s00", "s02"}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["inputs"][1]["status"] == "ok" and not manifest["inputs"][1]["reused"]


def test_changed_options_and_force_recompute(tmp_path, setup):
    strategy, files = setup
    _run(strategy, files, tmp_path / "out")
    assert _reused(_run(strategy, files, tmp_path / "out", stats_scale="raw")) == set()
    assert _reused(_run(strategy, files, tmp_path / "out", stats_scale="raw")) == {"s00", "s01", "s02"}
    assert _reused(_run(strategy, files, tmp_path / "out", stats_scale="raw", force=True)) == set()


def test_corrupt_cache_entry_is_recomputed_and_stale_temporaries_removed(tmp_path, setup):
    strategy, files = setup
    out = tmp_path / "out"
    _run(strategy, files, out)
    (out / ".cytogate" / "samples" / "s01.json").write_text('{"cache_schema": 1, "sample": "s01", "ke')
    (out / ".counts.csv.tmp-123-abcd").write_text("partial")
    second = _run(strategy, files, out)
    assert _reused(second) == {"s00", "s02"}
    assert not list(out.rglob("*.tmp-*"))


def test_lock_names_the_holder(tmp_path, setup):
    strategy, files = setup
    out = tmp_path / "out"
    with OutputLock(out):
        with pytest.raises(BatchError, match=r"in use by another cytogate run \(pid \d+ on "):
            _run(strategy, files, out)
    assert _run(strategy, files, out).exit_code == 0  # released


def test_atomic_write_replaces_whole_files(tmp_path):
    target = tmp_path / "x.txt"
    write_text(target, "old")
    write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]
