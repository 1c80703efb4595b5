"""`cytogate.check_against` and `check_document`: a strategy checked against files without gating."""

from __future__ import annotations

import numpy as np
import pytest

import cytogate
from cytogate.errors import BatchError, MarkerError
from cytogate.fcs import read_fcs, write_fcs
from cytogate.strategy import load_strategy


def _fcs(path, channels, markers):
    write_fcs(path, np.ones((5, len(channels)), dtype=np.float32), channels, markers=markers)
    return path


@pytest.fixture
def panel_file(tmp_path):
    """A four-channel file: FSC-A, SSC-A, CD3 on B530-A, CD123 on R670-A (no FSC-H, no CD303)."""
    return _fcs(tmp_path / "s.fcs", ["FSC-A", "SSC-A", "B530-A", "R670-A"], [None, None, "CD3", "CD123"])


def test_a_fitting_file_resolves_every_dimension(tmp_path, panel_file):
    strategy = tmp_path / "s.yaml"
    strategy.write_text("cytogate_strategy: 1\ncompensation: none\npopulations:\n"
                        "  L: {rectangle: {FSC-A: {min: 0}, SSC-A: {min: 0}}}\n"
                        "  T: {parent: L, range: {CD3: {min: 1}}}\n")
    check = cytogate.check_against(strategy, [panel_file])
    assert check.ok and check.strategy.paths == load_strategy(strategy).paths
    (only,) = check.files
    assert only.file == str(panel_file) and only.error is None and only.skipped == ()
    assert dict(only.resolved) == {"CD3": "B530-A (CD3)", "FSC-A": "FSC-A", "SSC-A": "SSC-A"}
    assert check.findings(at_least="warning") == []
    assert {(f.severity, f.parameter, f.message) for f in check.findings()} == {
        ("info", "CD3", "CD3 -> B530-A (CD3)"), ("info", "FSC-A", "FSC-A -> FSC-A"),
        ("info", "SSC-A", "SSC-A -> SSC-A")}
    # a Sample in memory and a Strategy object are checked the same way
    in_memory = cytogate.check_against(load_strategy(strategy), [read_fcs(panel_file)])
    assert in_memory.files[0].resolved == only.resolved
    check.raise_first_error()  # nothing to raise


def test_a_missing_required_channel_is_that_files_error_only(tmp_path, panel_file):
    other = _fcs(tmp_path / "other.fcs", ["FSC-A", "B530-A"], [None, "CD8"])
    strategy = load_strategy("cytogate_strategy: 1\ncompensation: none\npopulations:\n"
                             "  T: {range: {CD3: {min: 1}}}\n")
    check = cytogate.check_against(strategy, [other, panel_file, tmp_path / "absent.fcs"])
    assert not check.ok
    assert [f.ok for f in check.files] == [False, True, False]  # the others are still checked
    assert isinstance(check.files[0].error, MarkerError) and "CD3" in str(check.files[0].error)
    assert check.files[1].resolved == {"CD3": "B530-A (CD3)"}
    errors = check.findings(at_least="error")
    assert [f.where for f in errors] == [str(other), str(tmp_path / "absent.fcs")]
    assert check.files[0].to_dict()["error"] == str(check.files[0].error)
    with pytest.raises(MarkerError, match="CD3"):
        check.raise_first_error()


def test_optional_parts_the_file_lacks_are_warnings(tmp_path, panel_file):
    strategy = load_strategy(
        "cytogate_strategy: 1\ncompensation: none\npopulations:\n"
        "  S: {optional: true, singlet: {area: FSC-A, height: FSC-H}}\n"
        "  P: {parent: S, rectangle: {CD3: {max: 1}, CD123: {min: 1}, CD303: {min: 1, optional: true}}}\n")
    check = cytogate.check_against(strategy, [panel_file])
    assert check.ok
    warnings = check.findings(at_least="warning")
    assert {(f.severity, f.population, f.parameter) for f in warnings} == {
        ("warning", "/S", "FSC-H"), ("warning", "/S/P", "CD303")}
    assert all(f.where == str(panel_file) and f.message.startswith("skipped: ") for f in warnings)
    assert "FSC-H" not in check.files[0].resolved and check.files[0].resolved["CD123"] == "R670-A (CD123)"
    assert check.files[0].to_dict()["skipped"][0].keys() == {"population", "parameter", "reason"}


def test_a_panel_file_maps_markers_to_the_files_labels(tmp_path):
    fcs = _fcs(tmp_path / "s.fcs", ["FSC-A", "YG586-A", "V450-A"], [None, "BAFF-R", "BDCA-2"])
    (tmp_path / "markers.yaml").write_text("cytogate_panel: 1\nmarkers:\n  CD268: [BAFF-R]\n  CD303: [BDCA-2]\n")
    body = "compensation: none\npopulations:\n  B: {range: {CD268: {min: 1}}}\n  P: {parent: B, range: {CD303: {min: 1}}}\n"
    strategy = tmp_path / "s.yaml"
    strategy.write_text("cytogate_strategy: 1\npanel: markers.yaml\n" + body)
    check = cytogate.check_against(strategy, [fcs])
    assert check.ok and check.files[0].resolved == {"CD268": "YG586-A (BAFF-R)", "CD303": "V450-A (BDCA-2)"}
    strategy.write_text("cytogate_strategy: 1\n" + body)  # without the panel the markers are unknown
    assert isinstance(cytogate.check_against(strategy, [fcs]).files[0].error, MarkerError)
    assert cytogate.check_document(str(tmp_path / "markers.yaml")) == {
        "kind": "panel", "panel": str(tmp_path / "markers.yaml"),
        "markers": {"CD268": ["CD268", "BAFF-R"], "CD303": ["CD303", "BDCA-2"]}}
    with pytest.raises(BatchError, match="a marker panel none"):
        cytogate.check_document(str(tmp_path / "markers.yaml"), [str(fcs)])


def test_check_document_outlines_a_strategy_and_its_files(tmp_path, panel_file):
    strategy = tmp_path / "s.yaml"
    strategy.write_text("cytogate_strategy: 1\ncompensation: none\npopulations:\n"
                        "  T: {range: {CD3: {min: 1}}}\n  M: {optional: true, parent: T, range: {CD303: {min: 1}}}\n")
    report = cytogate.check_document(str(strategy), [str(panel_file)])
    assert report["format"] == "yaml" and [p["path"] for p in report["populations"]] == ["/T", "/T/M"]
    assert report["populations"][1]["optional"] is True and "optional" not in report["populations"][0]
    assert report["files"] == [{"file": str(panel_file), "resolved": {"CD3": "B530-A (CD3)"},
                                "skipped": [{"population": "/T/M", "parameter": "CD303",
                                             "reason": report["files"][0]["skipped"][0]["reason"]}]}]
    assert "CD303" in report["files"][0]["skipped"][0]["reason"]
