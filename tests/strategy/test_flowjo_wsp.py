"""FlowJo .wsp import: FlowJo's own counts reproduced exactly; 8-colour trees match FlowJo's paths."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import corpus_path

import cytogate
from cytogate.errors import StrategyError
from cytogate.gates import BooleanGate, EllipsoidGate, PolygonGate, RectangleGate
from cytogate.strategy.flowjo_wsp import list_wsp_samples, read_wsp
from cytogate.strategy.yaml_format import load_yaml_strategy
from cytogate.strategy.yaml_write import strategy_to_yaml

SIMPLE = "truth/flowjo_counts__FlowKit_simple_examples.csv"
EIGHT = "truth/flowjo_counts__FlowKit_8_color_NO_FCS.csv"
FOLDERS = {"simple_diamond_example": "test_data_diamond_01.fcs", "simple_line_example": "data_set_simple_line_100.fcs"}


def _rows(relative: str) -> list[dict[str, str]]:
    with open(corpus_path(relative), newline="") as handle:
        return list(csv.DictReader(handle))


def _simple_cases():
    import os

    from conftest import CORPUS

    path = CORPUS / SIMPLE
    if not path.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"corpus file {SIMPLE} not found"))]
    with open(path, newline="") as handle:
        names = sorted({r["workspace"] for r in csv.DictReader(handle)})
    return [n for n in names if os.path.splitext(n)[1] == ".wsp"]


def _folder_of(workspace: str) -> str:
    for folder in FOLDERS:
        if corpus_path(f"whitews+FlowKit/data/{folder}").joinpath(workspace).exists():
            return folder
    raise AssertionError(workspace)


@pytest.mark.corpus
@pytest.mark.parametrize("workspace", _simple_cases())
def test_flowjo_counts_reproduced_exactly(workspace):
    folder = _folder_of(workspace)
    imported = read_wsp(corpus_path(f"whitews+FlowKit/data/{folder}/{workspace}"))
    sample = cytogate.read_fcs(corpus_path(f"whitews+FlowKit/data/{folder}/{FOLDERS[folder]}"))
    result = cytogate.gate(imported.strategy, sample)
    rows = [r for r in _rows(SIMPLE) if r["workspace"] == workspace and r["node_type"] == "Population"]
    assert rows and {r["population_path"] for r in rows} == set(imported.strategy.paths)
    computed = 0
    for row in rows:
        flowjo = int(row["count"])
        assert imported.counts[row["population_path"]] == flowjo
        if flowjo > 0:  # -1 / 0: FlowJo did not compute this population
            assert result.count(row["population_path"]) == flowjo, row["population_path"]
            computed += 1
    # the converted YAML gives the same masks
    again = cytogate.gate(load_yaml_strategy(strategy_to_yaml(imported.strategy)), sample)
    for path in imported.strategy.paths:
        assert np.array_equal(result.masks[path], again.masks[path])
    assert computed or workspace.startswith("simple_poly_and_rect")


@pytest.mark.corpus
def test_line_polygon_counts_agree_with_workspace_names():
    # FlowJo stored no count for these, but the file names say what the gates hold
    imported = read_wsp(corpus_path("whitews+FlowKit/data/simple_line_example/simple_poly_and_rect_v2_poly50.wsp"))
    sample = cytogate.read_fcs(corpus_path("whitews+FlowKit/data/simple_line_example/data_set_simple_line_100.fcs"))
    assert cytogate.gate(imported.strategy, sample).count("/poly1") == 50


@pytest.mark.corpus
@pytest.mark.parametrize("workspace", ["8_color_ICS.wsp", "8_color_ICS_boolean_gate_testing.wsp",
                                       "reused_quad_gate_with_child.wsp"])
def test_eight_colour_trees_match_flowjo_paths(workspace):
    path = corpus_path(f"whitews+FlowKit/data/8_color_data_set/{workspace}")
    rows = [r for r in _rows(EIGHT) if r["workspace"] == workspace and r["node_type"] != "SampleNode"]
    samples = list_wsp_samples(path)
    assert samples
    for sample in samples:
        imported = read_wsp(path, sample=sample.name)
        truth = {r["population_path"]: int(r["count"]) for r in rows if r["sample_name"] == sample.name}
        assert set(imported.strategy.paths) == set(truth)
        assert {p: imported.counts[p] for p in truth} == truth
        back = load_yaml_strategy(strategy_to_yaml(imported.strategy))
        assert back.paths == imported.strategy.paths
        assert [p.gate for p in back.populations] == [p.gate for p in imported.strategy.populations]


@pytest.mark.corpus
def test_eight_colour_details():
    imported = read_wsp(corpus_path("whitews+FlowKit/data/8_color_data_set/8_color_ICS_boolean_gate_testing.wsp"))
    gates = {p.path: p.gate for p in imported.strategy.populations}
    cd4 = "/Time/Singlets/aAmine-/CD3+/CD4+"
    either = gates[f"{cd4}/CD107a+ or IFNg+"]
    assert isinstance(either, BooleanGate) and either.op == "or"
    assert either.operands == ((f"{cd4}/CD107a+", False), (f"{cd4}/IFNg+", False))
    assert gates[f"{cd4}/IL2+-"].op == "not"
    live = gates["/Time/Singlets/aAmine-"]
    assert isinstance(live, PolygonGate)
    x = live.dimensions[0]
    assert x.name == "Aqua Amine FLR-A" and x.compensation in imported.strategy.matrices
    assert imported.strategy.transforms[x.transform].kind == "logicle"
    assert isinstance(gates["/Time"], RectangleGate) and gates["/Time"].dimensions[0].transform is None


@pytest.mark.corpus
def test_ellipse_and_sample_selection():
    path = corpus_path("whitews+FlowKit/data/simple_line_example/single_ellipse_51_events.wsp")
    imported = read_wsp(path, sample=0)
    assert isinstance(imported.strategy.populations[0].gate, EllipsoidGate)
    assert imported.sample.name == "data_set_simple_line_100.fcs" and imported.sample.count == 100
    assert read_wsp(path, sample="1").sample.id == "1"
    with pytest.raises(StrategyError, match="no sample 'x'"):
        read_wsp(path, sample="x")
    with pytest.raises(StrategyError, match="out of range"):
        read_wsp(path, sample=5)


def test_malformed_and_unsafe_workspaces(tmp_path):
    bad = tmp_path / "bad.wsp"
    bad.write_text("<Workspace><unclosed></Workspace>")
    with pytest.raises(StrategyError, match="not well-formed"):
        read_wsp(bad)
    bomb = tmp_path / "bomb.wsp"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
                    "<Workspace>&b;</Workspace>")
    with pytest.raises(StrategyError, match="unsafe XML"):
        read_wsp(bomb)
    other = tmp_path / "other.wsp"
    other.write_text("<Gating-ML/>")
    with pytest.raises(StrategyError, match="not a FlowJo workspace"):
        read_wsp(other)
    empty = tmp_path / "empty.wsp"
    empty.write_text("<Workspace><SampleList/></Workspace>")
    with pytest.raises(StrategyError, match="no samples"):
        read_wsp(empty)
