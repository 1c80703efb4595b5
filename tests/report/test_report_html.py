"""The HTML run report: contents, self-containment, on-demand sample data, CLI."""

from __future__ import annotations

import base64
import json
import re

import pandas as pd
import pytest
from report_helpers import shared_run

from cytogate.cli import main
from cytogate.errors import BatchError
from cytogate.report import build_report
from cytogate.report.outliers import robust_outliers


@pytest.fixture(scope="module")
def run_dir():
    return shared_run()


@pytest.fixture(scope="module")
def report(run_dir, tmp_path_factory):
    path = build_report(run_dir, out=tmp_path_factory.mktemp("report_html") / "report.html",
                        max_samples_with_plots=3, workers=1)
    return path, path.read_text(encoding="utf-8")


def _json_block(text: str, block_id: str):
    match = re.search(rf"<script type='application/json' id='{block_id}'>(.*?)</script>", text, re.S)
    assert match, block_id
    return json.loads(match.group(1).replace("<\\/", "</"))


def test_report_is_self_contained(report):
    path, text = report
    assert text.startswith("<!DOCTYPE html>")
    # nothing is fetched: no external scripts, styles, images or fonts
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", text)
    assert "@import" not in text and "url(http" not in text
    assert "<script src" not in text and "<link" not in text


def test_provenance_comes_from_the_manifest(report, run_dir):
    _, text = report
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["strategy"]["sha256"] in text
    for entry in manifest["inputs"]:
        assert entry["sha256"] in text  # input checksums
    assert manifest["cytogate"] in text and manifest["python"] in text


def test_counts_table_has_every_row_and_percentages(report, run_dir):
    _, text = report
    tables = _json_block(text, "tables")
    counts = pd.read_parquet(run_dir / "counts.parquet")
    spec = tables["counts"]
    keys = [c["key"] for c in spec["columns"]]
    assert len(spec["rows"]) == len(counts)
    assert {"sample", "arm", "visit", "count", "freq_parent", "population"} <= set(keys)
    row = dict(zip(keys, spec["rows"][1]))
    assert row["count"] == counts["count"].iloc[1]
    assert row["freq_parent"] == pytest.approx(100 * counts["freq_parent"].iloc[1])


def test_sample_plots_are_embedded_per_sample_and_decodable(report, run_dir):
    _, text = report
    index = _json_block(text, "sample-index")
    assert len(index) == 3
    manifest = json.loads((run_dir / "manifest.json").read_text())
    outliers = robust_outliers(pd.read_parquet(run_dir / "counts.parquet"))
    expected = list(dict.fromkeys([*outliers["sample"], *(i["sample"] for i in manifest["inputs"])]))[:3]
    assert [e["sample"] for e in index] == expected  # outlier samples first, then input order
    block = _json_block(text, index[0]["block"])
    counts = pd.read_parquet(run_dir / "counts.parquet")
    assert len(block["panels"]) == counts["population"].nunique()
    for panel in block["panels"]:
        for key in ("thumb", "full"):
            assert base64.b64decode(panel[key])[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(panel["thumb"]) < len(panel["full"])
    # images are not in the DOM until a sample is opened: only inside JSON blocks
    assert "<img alt='" not in text.split("id='drift'")[0]
    assert "gate plots for 3 of 8 samples" in text


def test_change_analysis_and_drift_are_included(report, run_dir):
    _, text = report
    tables = _json_block(text, "tables")
    contrasts = pd.read_csv(run_dir / "change" / "contrasts.csv")
    assert len(tables["change-contrasts"]["rows"]) == len(contrasts)
    for png in (run_dir / "change" / "figures").glob("*.png"):
        assert base64.b64encode(png.read_bytes()).decode()[:200] in text
    assert "figure class='drift'" in text  # data-driven thresholds across the drawn files


def test_report_without_change_or_plots(run_dir, tmp_path):
    out = build_report(run_dir, out=tmp_path / "r.html", max_samples_with_plots=0,
                       change_dir=run_dir / "change")
    text = out.read_text()
    assert _json_block(text, "sample-index") == []
    with pytest.raises(BatchError, match="change analysis folder not found"):
        build_report(run_dir, out=tmp_path / "r2.html", change_dir=tmp_path / "none", max_samples_with_plots=0)


def test_outliers_and_failures_are_listed(run_dir, tmp_path):
    # a copy of the run with one planted outlier and one failure
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("manifest.json", "failures.csv"):
        (copy / name).write_bytes((run_dir / name).read_bytes())
    counts = pd.read_parquet(run_dir / "counts.parquet")
    tregs = counts["name"] == "Tregs"
    planted = tregs & (counts["sample"] == counts["sample"].iloc[0])
    counts.loc[planted, "count"] = counts.loc[planted, "parent_count"] // 2
    counts.loc[planted, "freq_parent"] = counts.loc[planted, "count"] / counts.loc[planted, "parent_count"]
    counts.to_parquet(copy / "counts.parquet")
    pd.DataFrame([{"file": "broken.fcs", "sample": "broken", "stage": "read", "reason": "not an FCS file"}]
                 ).to_csv(copy / "failures.csv", index=False)
    text = build_report(copy, max_samples_with_plots=3, workers=1).read_text()
    tables = _json_block(text, "tables")
    keys = [c["key"] for c in tables["outliers"]["columns"]]
    rows = [dict(zip(keys, r)) for r in tables["outliers"]["rows"]]
    planted_row = next(r for r in rows if r["sample"] == counts["sample"].iloc[0] and r["name"] == "Tregs")
    assert planted_row["robust_z"] > 3.5
    assert tables["failures"]["rows"] == [["broken.fcs", "broken", "read", "not an FCS file"]]
    index = _json_block(text, "sample-index")
    assert index[0]["sample"] in {r["sample"] for r in rows}  # outliers are drawn first
    entry = next(e for e in index if e["sample"] == counts["sample"].iloc[0])
    block = _json_block(text, entry["block"])
    assert any("re-gated counts differ" in f for f in block["flags"])  # the table no longer matches the file
    assert "Failures (1)" in text


def test_not_a_run_folder(tmp_path):
    with pytest.raises(BatchError, match="manifest.json missing"):
        build_report(tmp_path)


def test_cli_report(run_dir, tmp_path, capsys):
    out = tmp_path / "cli.html"
    assert main(["report", str(run_dir), "--out", str(out), "--max-plots", "1", "--workers", "1"]) == 0
    assert out.is_file()
    assert re.search(r"wrote .*cli\.html \(\d+\.\d MB\)", capsys.readouterr().err)
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "manifest.json missing" in capsys.readouterr().err
    assert main(["report", str(run_dir), "--max-plots", "-1"]) == 2
