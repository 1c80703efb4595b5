"""`cytogate run WORKSPACE FILES`: each file with its own sample's tree, FlowJo's counts beside cytogate's."""

from __future__ import annotations

import csv
import json
import re
import shutil

import pandas as pd
import pytest
from conftest import corpus_path
from flowjo9_fixtures import (
    SIZES_ONE,
    SIZES_TWO,
    expected_one,
    expected_two,
    two_sample_study,
    write_sample,
)

from cytogate.cli import main

REALDATA = "../shared/realdata/SofieVG+FlowSOM"


def _run(capsys, *args: str) -> tuple[int, str]:
    code = main(["run", *map(str, args), "--no-progress", "--workers", "1"])
    return code, capsys.readouterr().err


def _by_sample(out) -> dict[str, dict[str, tuple[int, int]]]:
    table = pd.read_csv(out / "counts.csv")
    found: dict[str, dict[str, tuple[int, int]]] = {}
    for row in table.itertuples():
        found.setdefault(row.sample, {})[row.population] = (int(row.count), int(row.flowjo_count))
    return found


def test_each_file_gated_with_its_own_sample(tmp_path, capsys):
    wsp, one, two = two_sample_study(tmp_path)
    out = tmp_path / "out"
    code, err = _run(capsys, wsp, one, two, "--out", out)
    assert code == 0, err
    counts = _by_sample(out)
    assert counts["tube1"] == {p: (n, n) for p, n in expected_one().items()}
    assert counts["tube2"] == {p: (n, n) for p, n in expected_two().items()}
    assert "9 of 9 population count(s) agree with FlowJo's within max(1%, 3 events)" in err
    manifest = json.loads((out / "manifest.json").read_text())
    entries = {e["sample"]: e for e in manifest["inputs"]}
    assert entries["tube1"]["workspace_sample"] == {"id": "1", "name": "tube1.fcs"}
    assert entries["tube2"]["workspace_sample"] == {"id": "2", "name": "tube2.fcs"}
    assert entries["tube1"]["strategy_sha256"] != entries["tube2"]["strategy_sha256"]
    assert manifest["strategy"]["format"] == "flowjo9" and len(manifest["strategy"]["sha256"]) == 64
    assert manifest["flowjo_agreement"]["agree"] == manifest["flowjo_agreement"]["compared"] == 9

    # a second run reuses both; changing one sample's gates in the workspace recomputes that sample only
    code, err = _run(capsys, wsp, one, two, "--out", out)
    assert code == 0 and "2 files: 2 done (2 reused" in err
    text = wsp.read_text().replace('<Vertex x="40000" y="10000"/>', '<Vertex x="39000" y="10000"/>')
    wsp.write_text(text)
    code, err = _run(capsys, wsp, one, two, "--out", out)
    assert code == 0 and "2 files: 2 done (1 reused" in err


def test_overrides_are_read_against_each_files_own_sample_tree(tmp_path, capsys):
    wsp, one, two = two_sample_study(tmp_path)
    reviewed = tmp_path / "review.yaml"
    reviewed.write_text(
        "cytogate_overrides: 1\noverrides:\n"
        "  - sample: tube2\n    population: /Lymph\n"
        "    gate: {rectangle: {FSC-A: {min: 20000, max: 80000}, SSC-A: {min: 10000, max: 50000}}}\n"
        "    reason: widened to tube1's Lymph gate\n    author: jdoe\n    date: 2026-12-01\n")
    out = tmp_path / "out"
    code, err = _run(capsys, wsp, one, two, "--out", out, "--overrides", reviewed)
    assert code == 0, err
    counts = _by_sample(out)
    assert counts["tube1"] == {p: (n, n) for p, n in expected_one().items()}  # not named: unchanged
    widened = SIZES_TWO["A"] + SIZES_TWO["B"] + SIZES_TWO["C"] + SIZES_TWO["E"]
    assert counts["tube2"]["/Lymph"] == (widened, expected_two()["/Lymph"])  # FlowJo's count stays beside
    assert counts["tube2"]["/Lymph/APC+"][0] == expected_two()["/Lymph/APC+"]
    sources = pd.read_csv(out / "counts.csv").set_index(["sample", "population"])["gate_source"]
    assert sources["tube2", "/Lymph"] == "override" and sources["tube1", "/Lymph"] != "override"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["overrides"]["applied"][0]["sample"] == "tube2"

    # tube1's tree has no /Lymph/Core on tube2: an override naming it there is an error, nothing run
    reviewed.write_text(reviewed.read_text().replace("population: /Lymph\n", "population: /Lymph/Core\n"))
    code, err = _run(capsys, wsp, one, two, "--out", tmp_path / "out2", "--overrides", reviewed)
    assert code == 2 and "/Lymph/Core" in err and not (tmp_path / "out2" / "counts.csv").exists()


def test_renamed_files_match_by_fil_and_missing_samples_are_noted(tmp_path, capsys):
    wsp, one, _ = two_sample_study(tmp_path)
    renamed = tmp_path / "renamed" / "day 3 tube A.fcs"
    renamed.parent.mkdir()
    shutil.copy(one, renamed)  # $FIL inside still says tube1.fcs
    out = tmp_path / "out"
    code, err = _run(capsys, wsp, renamed, renamed, "--out", out)  # listed twice: gated once
    assert code == 0, err
    assert "note: 1 workspace sample(s) had no input file and were not run: tube2.fcs" in err
    counts = _by_sample(out)
    assert list(counts) == ["day_3_tube_A"] and counts["day_3_tube_A"]["/Lymph/Tri"] == (SIZES_ONE["B"],) * 2


def test_file_name_then_uri_match_when_fil_is_absent(tmp_path, capsys):
    from flowjo9_fixtures import sample_xml, tree_one, workspace_xml

    by_name = write_sample(tmp_path / "tube1.fcs", SIZES_ONE, fil="")
    by_uri = write_sample(tmp_path / "acquired_b.fcs", SIZES_ONE, fil="")
    xml = workspace_xml([
        sample_xml("1", "tube1.fcs", 97, tree_one(SIZES_ONE)),
        sample_xml("2", "Specimen B", 97, tree_one(SIZES_ONE), uri="file:///D:/data/acquired%5Fb.fcs"),
    ])
    (tmp_path / "w.xml").write_text(xml)
    out = tmp_path / "out"
    code, err = _run(capsys, tmp_path / "w.xml", by_name, by_uri, "--out", out)
    assert code == 0, err
    entries = {e["sample"]: e["workspace_sample"]["id"] for e in json.loads((out / "manifest.json").read_text())["inputs"]}
    assert entries == {"tube1": "1", "acquired_b": "2"}


def test_files_matching_no_sample_stop_the_run_before_anything_is_written(tmp_path, capsys):
    wsp, one, _ = two_sample_study(tmp_path)
    stray = write_sample(tmp_path / "stray.fcs", SIZES_ONE, fil="other.fcs")
    out = tmp_path / "out"
    code, err = _run(capsys, wsp, one, stray, "--out", out)
    assert code == 2 and not out.exists()
    line = [x for x in err.splitlines() if x.startswith("cytogate: error:")]
    assert len(line) == 1 and "1 input(s) match no sample of the workspace" in line[0]
    assert str(stray) in line[0] and "tube1.fcs, tube2.fcs" in line[0]


def test_sample_or_group_applies_one_tree_to_every_file(tmp_path, capsys):
    wsp, one, two = two_sample_study(tmp_path)
    for flag in (["--sample", "2"], ["--sample", "tube2.fcs"], ["--group", "Second"]):
        out = tmp_path / ("out" + "".join(flag).replace("-", "_").replace(".", "_"))
        code, err = _run(capsys, wsp, one, two, "--out", out, *flag)
        assert code == 0, err
        table = pd.read_csv(out / "counts.csv")
        assert set(table["population"]) == set(expected_two())  # sample 2's tree for both files
        tube1 = table[table["sample"] == "tube1"].set_index("population")
        assert tube1["count"].to_dict() == {"/Lymph": SIZES_ONE["A"] + SIZES_ONE["B"] + SIZES_ONE["C"],
                                            "/Lymph/APC+": SIZES_ONE["A"] + SIZES_ONE["C"]}
        # FlowJo counted tube1 with its own tree, so there is nothing to compare it with
        assert tube1["flowjo_count"].isna().all()
        tube2 = table[table["sample"] == "tube2"]
        if flag[0] == "--sample":  # tube2's own tree: FlowJo's counts apply
            assert (tube2["flowjo_count"] == tube2["count"]).all() and "2 of 2 population count(s)" in err
        else:  # a group's template has no counts of its own
            assert tube2["flowjo_count"].isna().all() and "no FlowJo counts to compare" in err
        trees = {e["sample"]: e["workspace_tree"] for e in json.loads((out / "manifest.json").read_text())["inputs"]}
        assert trees == ({"tube1": "2", "tube2": "2"} if flag[0] == "--sample" else
                         {"tube1": "group:Second", "tube2": "group:Second"})
    code, err = _run(capsys, wsp, one, "--out", tmp_path / "bad", "--sample", "nope")
    assert code == 2 and "no sample 'nope' in the workspace" in err and not (tmp_path / "bad").exists()
    code, err = _run(capsys, wsp, one, "--out", tmp_path / "bad", "--group", "All Samples")
    assert code == 2 and "group 'All Samples' has no gates of its own" in err


def test_sample_flag_needs_a_workspace(tmp_path, capsys):
    wsp, one, _ = two_sample_study(tmp_path)
    strategy = tmp_path / "tube1.yaml"
    assert main(["convert", str(wsp), str(strategy), "--sample", "1"]) == 0  # convert keeps writing YAML
    capsys.readouterr()
    code, err = _run(capsys, strategy, one, "--out", tmp_path / "yaml_out")
    assert code == 0, err
    assert pd.read_csv(tmp_path / "yaml_out" / "counts.csv").set_index("population")["count"].to_dict() == \
        expected_one()
    code, err = _run(capsys, strategy, one, "--out", tmp_path / "out", "--sample", "1")
    assert code == 2 and "--sample and --group choose a tree from a FlowJo workspace" in err


FLOWJO10 = {
    "simple_diamond_example": ("test_data_diamond_01.fcs", ["simple_diamond_example_quad_gate.wsp",
                                                            "test_data_diamond_biex_rect.wsp",
                                                            "test_data_diamond_asinh_rect.wsp"]),
    "simple_line_example": ("data_set_simple_line_100.fcs", ["single_ellipse_51_events.wsp"]),
}


@pytest.mark.corpus
@pytest.mark.parametrize("folder,workspace", [(f, w) for f, (_, ws) in FLOWJO10.items() for w in ws])
def test_flowjo10_corpus_through_cytogate_run(tmp_path, capsys, folder, workspace):
    base = corpus_path(f"whitews+FlowKit/data/{folder}")
    out = tmp_path / "out"
    code, err = _run(capsys, base / workspace, base / FLOWJO10[folder][0], "--out", out)
    assert code == 0, err
    table = pd.read_csv(out / "counts.csv")
    stored = table.dropna(subset=["flowjo_count"])
    assert len(stored) and (stored["count"] == stored["flowjo_count"]).all()  # exact on the synthetic files
    n = len(stored)
    assert f"{n} of {n} population count(s) agree" in err


@pytest.mark.corpus
def test_real_flowjo10_workspace_within_half_a_percent(tmp_path, capsys):
    from conftest import ROOT

    base = ROOT / REALDATA
    if not (base / "inst/extdata/gating.wsp").exists():
        pytest.skip(f"real FlowJo workspace not found under {base} (shared realdata folder absent)")
    out = tmp_path / "out"
    code, err = _run(capsys, base / "inst/extdata/gating.wsp", base / "inst/extdata/68983.fcs", "--out", out)
    assert code == 0, err
    with open(base / "flowjo_counts.csv", newline="") as handle:
        truth = {r["population_path"]: int(r["count"]) for r in csv.DictReader(handle) if r["node_type"] == "Population"}
    table = pd.read_csv(out / "counts.csv").set_index("population")
    assert set(table.index) == set(truth)
    for path, flowjo in truth.items():
        assert table.loc[path, "flowjo_count"] == flowjo
        assert abs(table.loc[path, "count"] - flowjo) <= 0.005 * flowjo, path
    assert re.search(r"15 of 15 population count\(s\) agree", err)
