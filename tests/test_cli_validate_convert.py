"""`cytogate validate` and `cytogate convert`: exit codes, messages, files written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import corpus_path

from cytogate.cli import main
from cytogate.fcs import write_fcs
from cytogate.strategy import load_strategy

STRATEGIES = Path(__file__).resolve().parent.parent / "gating_strategies"


def test_validate_ready_made(capsys):
    assert main(["validate", str(STRATEGIES / "lupus_pd.yaml")]) == 0
    out = capsys.readouterr().out
    assert "valid yaml strategy" in out and "Tregs:" in out and "data-driven" in out


def test_validate_reports_location(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cytogate_strategy: 1\npopulations:\n  A: {range: {X: {min: 1}}}\n  B: {parnet: A, range: {}}\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:4:7: unknown key 'parnet'" in err and "did you mean 'parent'" in err and "population /B" in err
    assert "Traceback" not in err


def test_validate_against_fcs(tmp_path, capsys):
    fcs = tmp_path / "s.fcs"
    write_fcs(fcs, np.ones((5, 3), dtype=np.float32), ["FSC-A", "FSC-H", "YG586-A"],
              markers=[None, None, "BAFF-R"])
    strategy = tmp_path / "s.yaml"
    strategy.write_text("cytogate_strategy: 1\npanel: standard\ncompensation: none\npopulations:\n"
                        "  A: {range: {CD268: {min: 1}}}\n")
    assert main(["validate", str(strategy), "--fcs", str(fcs), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["files"][0]["resolved"] == {"CD268": "YG586-A (BAFF-R)"}
    strategy.write_text("cytogate_strategy: 1\ncompensation: none\npopulations:\n  A: {range: {CD303: {min: 1}}}\n")
    assert main(["validate", str(strategy), "--fcs", str(fcs)]) == 2
    assert "CD303" in capsys.readouterr().err



def test_validate_says_what_a_file_would_skip(tmp_path, capsys):
    fcs = tmp_path / "s.fcs"
    write_fcs(fcs, np.ones((5, 4), dtype=np.float32), ["FSC-A", "SSC-A", "B530-A", "R670-A"],
              markers=[None, None, "CD3", "CD123"])
    strategy = tmp_path / "s.yaml"
    strategy.write_text("cytogate_strategy: 1\ncompensation: none\npopulations:\n"
                        "  S: {optional: true, singlet: {area: FSC-A, height: FSC-H}}\n"
                        "  P: {parent: S, rectangle: {CD3: {max: 1}, CD123: {min: 1}, CD303: {min: 1, optional: true}}}\n")
    assert main(["validate", str(strategy), "--fcs", str(fcs), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)["files"][0]
    assert {(s["population"], s["parameter"]) for s in found["skipped"]} == {("/S", "FSC-H"), ("/S/P", "CD303")}
    assert "FSC-H" not in found["resolved"] and found["resolved"]["CD123"] == "R670-A (CD123)"
    assert main(["validate", str(strategy), "--fcs", str(fcs)]) == 0
    out = capsys.readouterr().out
    assert "2 optional part(s) would be skipped" in out and "skip /S/P CD303" in out and "(optional: CD303)" in out
    strategy.write_text(strategy.read_text().replace("CD3: {max: 1}", "CD8: {max: 1}"))
    assert main(["validate", str(strategy), "--fcs", str(fcs)]) == 2  # a required channel stays an error
    assert "CD8" in capsys.readouterr().err

@pytest.mark.corpus
def test_convert_gatingml_yaml_gatingml(tmp_path, capsys):
    src = corpus_path("whitews+FlowKit/data/gate_ref/gml/gml_all_gates.xml")
    yaml_path, xml_path = tmp_path / "all.yaml", tmp_path / "all.xml"
    assert main(["convert", str(src), str(yaml_path)]) == 0
    assert yaml_path.read_text().startswith("# converted by cytogate from gml_all_gates.xml\ncytogate_strategy: 1")
    assert main(["convert", str(yaml_path), str(xml_path)]) == 0
    assert load_strategy(xml_path).paths == load_strategy(src).paths
    assert "populations" in capsys.readouterr().out


@pytest.mark.corpus
def test_convert_wsp(tmp_path):
    src = corpus_path("whitews+FlowKit/data/8_color_data_set/8_color_ICS.wsp")
    dst = tmp_path / "ics.yaml"
    assert main(["convert", str(src), str(dst), "--sample", "101_DEN084Y5_15_E05_010_clean.fcs"]) == 0
    assert "FlowJo sample 101_DEN084Y5_15_E05_010_clean.fcs" in dst.read_text()
    assert "/Time/Singlets/aAmine-/CD3+" in load_strategy(dst).paths


def test_convert_errors(tmp_path, capsys):
    src = tmp_path / "a.yaml"
    src.write_text("cytogate_strategy: 1\npopulations:\n  A: {range: {X: {min: {density_valley: {fallback: 1}}}}}\n")
    assert main(["convert", str(src), str(tmp_path / "a.txt")]) == 2
    assert "extension" in capsys.readouterr().err
    assert main(["convert", str(src), str(tmp_path / "a.xml")]) == 2
    assert "data-driven" in capsys.readouterr().err
    assert not (tmp_path / "a.xml").exists()
    assert main(["convert", str(tmp_path / "missing.yaml"), str(tmp_path / "b.yaml")]) == 2
    assert main(["convert", str(src), str(tmp_path / "b.yaml"), "--sample", "x"]) == 2


@pytest.mark.parametrize("command", ["convert", "report"])
def test_a_failed_write_keeps_the_previous_output(tmp_path, capsys, monkeypatch, command):
    """convert and report write through the atomic writer: a full disk leaves the old file whole."""
    import os

    src = tmp_path / "a.yaml"
    src.write_text("cytogate_strategy: 1\npopulations:\n  A: {range: {FSC-A: {min: 1}}}\n")
    if command == "convert":
        target, argv = tmp_path / "a.xml", ["convert", str(src), str(tmp_path / "a.xml")]
    else:
        from cytogate.batch import BatchOptions, run_batch

        fcs = tmp_path / "s.fcs"
        write_fcs(fcs, np.arange(20, dtype=np.float32).reshape(10, 2), ["FSC-A", "SSC-A"])
        run_batch(src, [str(fcs)], tmp_path / "run", options=BatchOptions(workers=1, progress=False))
        target, argv = tmp_path / "run" / "report.html", ["report", str(tmp_path / "run")]
    target.write_text("previous")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    assert main(argv) != 0
    assert target.read_text() == "previous"
    assert not [p for p in target.parent.iterdir() if ".tmp" in p.name]
    assert "No space left on device" in capsys.readouterr().err
