"""`cytogate run` contract: exit codes, one-line errors, nothing written on bad input, summary."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from batch_helpers import make_inputs, write_strategy

from cytogate.cli import main


@pytest.fixture()
def setup(tmp_path):
    return write_strategy(tmp_path), make_inputs(tmp_path / "fcs", count=3, n=2000)


def test_success_outputs_and_manifest(tmp_path, setup, capsys, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="cytogate.batch")
    strategy, files = setup
    out = tmp_path / "out"
    assert main(["run", str(strategy), str(tmp_path / "fcs" / "*.fcs"), "--out", str(out), "--workers", "2",
                 "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "3 files: 3 done (0 reused from an earlier run), 0 failed; 6,000 events" in err
    assert "[3/3]" in caplog.text  # plain log lines when not on a terminal
    for name in ("counts.csv", "counts.parquet", "stats.parquet", "failures.csv", "manifest.json"):
        assert (out / name).is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["schema"] == 2 and manifest["strategy"]["sha256"] and "<gating:Gating-ML" in \
        manifest["strategy"]["text"]
    assert manifest["strategy"]["path"] == str(strategy.resolve())
    entry = manifest["inputs"][0]
    assert set(entry) >= {"path", "sha256", "status", "n_events", "seconds"}
    import hashlib

    assert entry["sha256"] == hashlib.sha256(files[0].read_bytes()).hexdigest()
    assert manifest["started"] <= manifest["finished"]
    assert pd.read_csv(out / "failures.csv").empty


@pytest.mark.parametrize("args, message", [
    (["{s}", "{d}/nope.fcs"], "input not found"),
    (["{s}", "{d}/*.xyz"], "no file matches this pattern"),
    (["{s}"], "no inputs"),
    (["{d}/missing.xml", "{d}/fcs"], "missing.xml"),
    (["{s}", "{d}/fcs", "--samples", "{d}/none.csv"], "sample sheet not found"),
    (["{s}", "{d}/fcs", "--workers", "0"], "--workers must be at least 1"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, setup, capsys, args, message):
    strategy, _ = setup
    out = tmp_path / "out"
    argv = ["run", *[a.format(s=strategy, d=tmp_path) for a in args], "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_failed_input_exit_3(tmp_path, setup, capsys):
    strategy, _ = setup
    (tmp_path / "fcs" / "zz_bad.fcs").write_bytes(b"\0" * 100)
    assert main(["-q", "run", str(strategy), str(tmp_path / "fcs"), "--out", str(tmp_path / "out")]) == 3
    assert "1 input(s) failed" in capsys.readouterr().err
    assert pd.read_csv(tmp_path / "out" / "failures.csv")["sample"].tolist() == ["zz_bad"]


def test_samples_sheet_without_inputs_and_stats_scale(tmp_path, setup):
    strategy, _ = setup
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("file,sample,arm\nfcs/s00.fcs,A,placebo\nfcs/s02.fcs,B,drug\n")
    out = tmp_path / "out"
    assert main(["-q", "run", str(strategy), "--samples", str(sheet), "--out", str(out),
                 "--stats-scale", "compensated", "--membership"]) == 0
    counts = pd.read_csv(out / "counts.csv")
    assert counts.groupby("sample")["arm"].first().to_dict() == {"A": "placebo", "B": "drug"}
    assert set(pd.read_parquet(out / "stats.parquet")["scale"]) == {"compensated"}
    assert sorted(p.name for p in (out / "membership").iterdir()) == ["A.parquet", "B.parquet"]


def test_progress_bar_on_request(tmp_path, setup, capsys):
    strategy, _ = setup
    assert main(["run", str(strategy), str(tmp_path / "fcs"), "--out", str(tmp_path / "o"), "--workers", "1",
                 "--progress"]) == 0
    err = capsys.readouterr().err
    assert "3/3" in err and "file/s" in err and "M ev/s" in err
