"""Failures are isolated: a bad file becomes a row of failures.csv, the others complete."""

from __future__ import annotations

import json

import pandas as pd
from batch_helpers import make_inputs, write_strategy

from cytogate.batch import BatchOptions, run_batch
from conftest import corpus_path


def test_corrupt_and_incompatible_files_fail_alone(tmp_path):
    strategy = write_strategy(tmp_path)
    files = make_inputs(tmp_path / "fcs", count=3, n=2000)
    (tmp_path / "fcs" / "broken.fcs").write_bytes(b"FCS3.1    garbage")
    truncated = tmp_path / "fcs" / "truncated.fcs"
    truncated.write_bytes(files[0].read_bytes()[:3000])
    out = tmp_path / "out"
    for workers in (1, 2):
        result = run_batch(strategy, [str(tmp_path / "fcs")], out,
                           options=BatchOptions(workers=workers, progress=False, force=True))
        assert result.exit_code == 3
        failures = pd.read_csv(out / "failures.csv")
        assert list(failures.columns) == ["file", "sample", "stage", "reason"]
        assert sorted(failures["sample"]) == ["broken", "truncated"]
        assert set(failures["stage"]) == {"read"}
        assert all("\n" not in r and len(r) > 0 for r in failures["reason"])
        counts = pd.read_csv(out / "counts.csv")
        assert sorted(counts["sample"].unique()) == ["s00", "s01", "s02"]
        manifest = json.loads((out / "manifest.json").read_text())
        status = {e["sample"]: e["status"] for e in manifest["inputs"]}
        assert status == {"broken": "failed", "s00": "ok", "s01": "ok", "s02": "ok", "truncated": "failed"}


def test_missing_channel_is_a_gate_stage_failure(tmp_path):
    strategy = write_strategy(tmp_path)
    files = make_inputs(tmp_path / "fcs", count=1, n=1000)
    from cytogate import write_fcs

    other = write_fcs(tmp_path / "fcs" / "nofl1.fcs", [[1.0, 2.0]] * 10, ["FSC-A", "SSC-A"])
    result = run_batch(strategy, [str(files[0]), str(other)], tmp_path / "out",
                       options=BatchOptions(workers=1, progress=False))
    assert result.exit_code == 3
    (failure,) = result.failures
    assert failure["stage"] == "gate" and "FL1-A" in failure["reason"]


def test_corpus_corrupted_file_is_a_failure_row(tmp_path):
    bad = corpus_path("eyurtsev+fcsparser/fcsparser/tests/data/FlowCytometers/corrupted/corrupted.fcs")
    strategy = write_strategy(tmp_path)
    good = make_inputs(tmp_path / "fcs", count=1, n=1000)
    result = run_batch(strategy, [str(bad), str(good[0])], tmp_path / "out",
                       options=BatchOptions(workers=1, progress=False))
    assert result.exit_code == 3
    assert [f["sample"] for f in result.failures] == ["corrupted"]
