"""Study files: loading with located errors, one run over several panels, bad rows refused before running."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from batch_helpers import write_sample
from study_helpers import make_study

from cytogate.batch import BatchOptions, run_batch
from cytogate.cli import main
from cytogate.errors import SampleSheetError, StrategyError
from cytogate.strategy.study import is_study_text, load_study


def test_study_loads_with_paths_relative_to_it(tmp_path):
    study = load_study(make_study(tmp_path))
    assert study.panels == {"A": str(tmp_path / "strategies" / "a.xml"), "B": str(tmp_path / "strategies" / "b.xml")}
    assert study.samples == str(tmp_path / "samples.csv") and study.panel_column == "tube"
    assert study.name == "two tubes" and len(study.sha256) == 64


def test_study_is_told_from_content():
    assert is_study_text("# a comment\n\ncytogate_study: 1\n")
    assert not is_study_text("cytogate_strategy: 1\nname: cytogate_study\n")


@pytest.mark.parametrize("text, where, message", [
    ("cytogate_study: 2\nsamples: s.csv\npanels: {A: a.xml}\n", ":1:17", "unsupported cytogate_study version 2"),
    ("cytogate_study: 1\nsamples: samples.csv\npanels: {A: strategies/a.xml}\npanles: {}\n", ":4:1",
     "unknown key 'panles'"),
    ("cytogate_study: 1\nsamples: samples.csv\npanels:\n  A: strategies/a.xml\n  B: strategies/nope.xml\n",
     ":5:6", "strategy of panel 'B' 'strategies/nope.xml' not found"),
    ("cytogate_study: 1\nsamples: none.csv\npanels: {A: strategies/a.xml}\n", ":2:10", "sample sheet 'none.csv'"),
    ("cytogate_study: 1\nsamples: samples.csv\npanels: {A: strategies/a.xml}\nfollow: {C: samples.csv}\n",
     ":4:10", "follow names panel 'C', which is not in 'panels'"),
    ("cytogate_study: 1\npanels: {A: strategies/a.xml}\n", ":1:1", "a study needs 'samples'"),
])
def test_study_errors_name_line_and_column(tmp_path, text, where, message):
    make_study(tmp_path)
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(StrategyError) as info:
        load_study(tmp_path / "bad.yaml")
    assert f"bad.yaml{where}" in str(info.value) and message in str(info.value)


def test_study_run_gates_each_row_with_its_panel(tmp_path):
    result = run_batch(make_study(tmp_path), [], tmp_path / "out", options=BatchOptions(workers=1, progress=False))
    assert result.exit_code == 0
    counts = pd.read_csv(tmp_path / "out" / "counts.csv")
    assert "tube" not in counts.columns and set(counts["panel"]) == {"A", "B"}
    assert list(counts.columns[:11]) == ["sample", "file", "population", "name", "parent", "count", "parent_count",
                                         "freq_parent", "freq_total", "gate_source", "panel"]
    # the same events, gated by each panel's threshold: B (FL1 > 300) keeps at least what A (FL1 > 500) keeps
    single = {}
    for panel, strategy in (("A", "a.xml"), ("B", "b.xml")):
        alone = run_batch(tmp_path / "strategies" / strategy, [str(tmp_path / "fcs" / f"P00_{panel}.fcs")],
                          tmp_path / f"alone_{panel}", options=BatchOptions(workers=1, progress=False))
        single[panel] = pd.read_csv(alone.out / "counts.csv").set_index("population")["count"]
    for panel in ("A", "B"):
        got = counts[counts["sample"] == f"P00_{panel}"].set_index("population")["count"]
        assert got.to_dict() == single[panel].to_dict()
    stats = pd.read_parquet(tmp_path / "out" / "stats.parquet")
    assert list(stats.columns[:2]) == ["sample", "panel"]
    assert dict(stats.groupby("sample")["panel"].first()) == {f"P{i:02d}_{p}": p for i in range(3) for p in "AB"}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [(s["panel"], s["files"]) for s in manifest["strategies"]] == [("A", 3), ("B", 3)]
    assert {s["sha256"] for s in manifest["strategies"]} == {e["strategy_sha256"] for e in manifest["inputs"]}
    assert manifest["study"]["panel_column"] == "tube" and manifest["retried"] == []


def test_resumed_study_reuses_every_sample_and_writes_the_same_tables(tmp_path):
    study = make_study(tmp_path)
    run_batch(study, [], tmp_path / "out", options=BatchOptions(workers=1, progress=False))
    before = {n: (tmp_path / "out" / n).read_bytes() for n in ("counts.csv", "stats.parquet", "failures.csv")}
    again = run_batch(study, [], tmp_path / "out", options=BatchOptions(workers=1, progress=False))
    assert again.summary.cached == 6
    assert {n: (tmp_path / "out" / n).read_bytes() for n in before} == before
    # a changed panel strategy recomputes that panel's samples only
    (tmp_path / "strategies" / "b.xml").write_text((tmp_path / "strategies" / "b.xml").read_text()
                                                   .replace('gating:min="300.0"', 'gating:min="350.0"'))
    third = run_batch(study, [], tmp_path / "out", options=BatchOptions(workers=1, progress=False))
    assert {e["sample"] for e in third.manifest["inputs"] if e["reused"]} == {f"P{i:02d}_A" for i in range(3)}


@pytest.mark.parametrize("row, message", [
    ("fcs/extra.fcs,X,P00,Baseline,C", "panel 'C' is not one of the study's panels (A, B) (row 8, column tube)"),
    ("fcs/P00_A.fcs,X,P00,Baseline,A", "file 'fcs/P00_A.fcs' is listed twice (also row 2) (row 8, column file)"),
    ("fcs/gone.fcs,X,P00,Baseline,A", "file 'fcs/gone.fcs' not found (row 8, column file)"),
    ("fcs/extra.fcs,X,P00,Baseline,", "empty panel (row 8, column tube)"),
])
def test_bad_rows_are_one_error_before_anything_runs(tmp_path, capsys, row, message):
    study = make_study(tmp_path)
    write_sample(tmp_path / "fcs" / "extra.fcs", n=100)
    lines = (tmp_path / "samples.csv").read_text().splitlines() + [row]
    (tmp_path / "samples.csv").write_text("\n".join(lines) + "\n")
    code = main(["-q", "run", str(study), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "samples.csv: " + message in err, err
    assert not (tmp_path / "out").exists()


def test_study_refuses_inputs_and_a_missing_panel_column(tmp_path):
    study = make_study(tmp_path)
    with pytest.raises(Exception, match="names its own sample sheet"):
        run_batch(study, [str(tmp_path / "fcs")], tmp_path / "out")
    study.write_text(study.read_text().replace("panel_column: tube", "panel_column: panel"))
    with pytest.raises(SampleSheetError, match="no panel column 'panel'"):
        run_batch(study, [], tmp_path / "out")


def test_follow_references_are_relative_to_the_study(tmp_path):
    study = make_study(tmp_path, extra="follow: {A: fcs/P00_A.fcs}\n")  # runs: tests/follow/test_follow_study.py
    assert load_study(study).follow == {"A": str(tmp_path / "fcs" / "P00_A.fcs")}


def test_study_overrides_apply_to_the_named_sample_only(tmp_path):
    (tmp_path / "review.yaml").write_text(
        "cytogate_overrides: 1\noverrides:\n  - sample: P01_B\n    population: /Cells/Tcells\n"
        "    gate: {rectangle: {FL1-A: {min: 10000, compensation: none, transform: none}}}\n"
        "    reason: test\n    author: me\n    date: 2026-12-01\n")
    study = make_study(tmp_path, extra="overrides: review.yaml\n")
    result = run_batch(study, [], tmp_path / "out", options=BatchOptions(workers=1, progress=False))
    counts = pd.read_csv(tmp_path / "out" / "counts.csv").set_index(["sample", "population"])
    assert counts.loc[("P01_B", "/Cells/Tcells"), "count"] == 0
    assert counts.loc[("P01_B", "/Cells/Tcells"), "gate_source"] == "override"
    assert counts.loc[("P00_B", "/Cells/Tcells"), "count"] > 0
    assert result.manifest["overrides"]["applied"][0]["sample"] == "P01_B"
    from cytogate.report import build_report

    html = build_report(tmp_path / "out", out=tmp_path / "report.html", workers=1).read_text()  # panel B's tree
    assert "Tcells: gate overridden for this sample" in html and "re-gated counts differ" not in html
    (tmp_path / "review.yaml").write_text((tmp_path / "review.yaml").read_text().replace("P01_B", "P09_B"))
    with pytest.raises(StrategyError, match="review.yaml:3:5: override names sample 'P09_B', which is not in this study"):
        run_batch(study, [], tmp_path / "out2")


def test_validate_checks_a_whole_study(tmp_path, capsys):
    study = make_study(tmp_path)
    assert main(["validate", str(study)]) == 0
    assert "valid study 'two tubes': 6 files in 2 panels" in capsys.readouterr().out
    # a file whose channels do not fit its panel's strategy is named with its row
    from cytogate import write_fcs

    import numpy as np

    write_fcs(tmp_path / "fcs" / "P01_B.fcs", np.zeros((10, 2), dtype=np.float32), ["FSC-A", "Time"])
    assert main(["validate", str(study)]) == 2
    err = capsys.readouterr().err
    assert "P01_B.fcs: row 5 (panel B): " in err and "FL1-A" in err and err.count("\n") == 1


def test_validate_accepts_marker_panel_files(tmp_path, capsys):
    panel = tmp_path / "markers.yaml"
    panel.write_text("# synonyms\ncytogate_panel: 1\nmarkers:\n  CD268: [BAFF-R]\n  CD303: [BDCA-2]\n")
    assert main(["validate", str(panel)]) == 0
    assert "valid marker panel: 2 markers" in capsys.readouterr().out
    panel.write_text("cytogate_panel: 1\nmarkers:\n  CD268: [BAFF-R]\n  CD303: [BAFF-R]\n")
    assert main(["validate", str(panel)]) == 2
    assert "markers.yaml:4:" in capsys.readouterr().err


def test_change_reads_a_study_table_by_panel(tmp_path):
    from cytogate.longitudinal.analysis import ChangeSettings, run_change_analysis

    rows = ["file,sample,subject,arm,visit,tube"]
    for subject, arm in (("P00", "Placebo"), ("P01", "Placebo"), ("P02", "Drug"), ("P03", "Drug")):
        for visit in ("Baseline", "Week 4"):
            for panel in ("A", "B"):
                rows.append(f"fcs/{subject}_{visit[:2]}_{panel}.fcs,{subject}_{visit[:2]}_{panel},{subject},{arm},"
                            f"{visit},{panel}")
    make_study(tmp_path, per_panel=0)
    for row in rows[1:]:
        write_sample(tmp_path / row.split(",")[0], n=2000, seed=len(row))
    (tmp_path / "samples.csv").write_text("\n".join(rows) + "\n")
    run_batch(tmp_path / "study.yaml", [], tmp_path / "out", options=BatchOptions(workers=1, progress=False))
    settings = ChangeSettings(subject="subject", arm="arm", visit="visit", value="count", control="Placebo",
                              baseline="Baseline", by=("population",), model="wilcoxon", figures=False)
    # the same population paths in both tubes: analysed per panel, never pooled
    outputs = run_change_analysis(tmp_path / "out" / "counts.csv", settings)
    assert list(outputs.summary.columns[:2]) == ["panel", "population"]
    assert set(outputs.summary["panel"]) == {"A", "B"} and any("2 panels" in n for n in outputs.notes)
    assert len(outputs.contrasts) == 2 * 3  # per panel x population, one post-baseline visit


def test_report_regates_each_sample_with_its_panels_strategy(tmp_path):
    from cytogate.report.build import build_report

    study = make_study(tmp_path, per_panel=2)
    run_batch(study, [], tmp_path / "out", options=BatchOptions(workers=1, progress=False))
    html = build_report(tmp_path / "out", max_samples_with_plots=4, max_files_for_drift=0, workers=1).read_text()
    # panel B's threshold differs from A's: re-gating B's files with A's strategy would flag every one
    assert "re-gated counts differ" not in html and "gate plots skipped" not in html
    assert "P00_A" in html and "P00_B" in html and "two tubes (A, B)" in html
