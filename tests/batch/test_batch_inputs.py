"""Inputs: files, folders, globs and fsspec URLs; progress lines; worker sizing."""

from __future__ import annotations

import pandas as pd
import pytest
from batch_helpers import make_inputs, write_strategy

from cytogate.batch import BatchOptions, expand_inputs, run_batch
from cytogate.batch.local import default_workers
from cytogate.errors import BatchError


def test_files_folders_globs_deduplicated_in_order(tmp_path):
    files = make_inputs(tmp_path / "a", count=2, n=100)
    nested = tmp_path / "b" / "deep"
    nested.mkdir(parents=True)
    (nested / "x.LMD").write_bytes(files[0].read_bytes())
    (nested / "notes.txt").write_text("ignored")
    found = expand_inputs([str(files[1]), str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "*/s0*.fcs")])
    assert [f.path for f in found] == [str(files[1].resolve()), str(files[0].resolve()),
                                       str((nested / "x.LMD").resolve())]
    assert found[2].name == "x.LMD" and found[2].stem == "x"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BatchError, match="no .fcs or .lmd"):
        expand_inputs([str(empty)])


def test_fsspec_urls_are_read_by_the_worker(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    files = make_inputs(tmp_path / "fcs", count=2, n=1500)
    memory = fsspec.filesystem("memory")
    for f in files:
        memory.pipe(f"/cytogate-test/{f.name}", f.read_bytes())
    try:
        found = expand_inputs(["memory://cytogate-test/*.fcs"])
        assert [f.name for f in found] == ["s00.fcs", "s01.fcs"]
        strategy = write_strategy(tmp_path)
        result = run_batch(strategy, ["memory://cytogate-test/*.fcs"], tmp_path / "out",
                           options=BatchOptions(workers=1, progress=False))
        local = run_batch(strategy, [str(f) for f in files], tmp_path / "local",
                          options=BatchOptions(workers=1, progress=False))
        assert result.exit_code == 0
        ours = pd.read_csv(tmp_path / "out" / "counts.csv")
        assert ours["file"].str.startswith("memory://").all()
        assert ours["count"].tolist() == pd.read_csv(tmp_path / "local" / "counts.csv")["count"].tolist()
        assert [e["sha256"] for e in result.manifest["inputs"]] == [e["sha256"] for e in local.manifest["inputs"]]
    finally:
        memory.rm("/cytogate-test", recursive=True)


def test_default_workers_respects_cores_tasks_and_memory(monkeypatch):
    import cytogate.batch.local as local

    monkeypatch.setattr(local, "available_cores", lambda: 8)
    monkeypatch.setattr(local, "available_memory", lambda: 4 << 30)
    assert default_workers(3, 1 << 20) == 3
    assert default_workers(100, 1 << 20) == 8
    assert default_workers(100, 400 << 20) == 1  # 4 GB free, ~1.9 GB per 400 MB file
    monkeypatch.setattr(local, "available_memory", lambda: None)
    assert default_workers(100, 400 << 20) == 8
