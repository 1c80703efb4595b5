"""FlowJo 9 (Mac) workspaces: every gate kind, transform and compensation, with hand-worked counts."""

from __future__ import annotations

import numpy as np
import pytest
from flowjo9_fixtures import (
    SIZES_ONE,
    expected_one,
    expected_two,
    polygon,
    population,
    sample_xml,
    tree_one,
    two_sample_study,
    workspace_xml,
    write_sample,
)

import cytogate
from cytogate.errors import StrategyError
from cytogate.gates.dimensions import FCS, UNCOMPENSATED
from cytogate.strategy import open_document
from cytogate.strategy.workspace import FLOWJO9, Workspace


def _counts(strategy, path) -> dict[str, int]:
    result = cytogate.gate(strategy, cytogate.read_fcs(path))
    return {p: result.count(p) for p in strategy.paths}


def test_each_sample_has_its_own_tree_and_hand_counts(tmp_path):
    wsp, one, two = two_sample_study(tmp_path)
    workspace = open_document(wsp)
    assert isinstance(workspace, Workspace) and workspace.kind == FLOWJO9
    assert [s.id for s in workspace.samples] == ["1", "2"]
    assert workspace.groups == {"All Samples": ("1", "2"), "Second": ("2",)}
    first, second = workspace.strategy_for("1"), workspace.strategy_for("tube2.fcs")
    assert first.counts == expected_one() and second.counts == expected_two()  # FlowJo's stored counts
    assert _counts(first.strategy, one) == expected_one()
    assert _counts(second.strategy, two) == expected_two()
    assert first.strategy.sha256 != second.strategy.sha256


def test_gate_kinds_and_conventions(tmp_path):
    wsp, _, _ = two_sample_study(tmp_path)
    strategy = open_document(wsp).strategy_for("1").strategy
    gates = {p.path: p.gate for p in strategy.populations}
    assert gates["/Lymph"].kind == "polygon" and gates["/Lymph/Core"].kind == "ellipsoid"
    assert gates["/Lymph/FITC+PE+"].kind == "rectangle" and len(gates["/Lymph/APC+"].dimensions) == 1
    assert gates["/Lymph/FP not APC"].operands == (("/Lymph/FITC+PE+", False), ("/Lymph/APC+", True))
    assert gates["/Lymph/Tri or APC"].op == "or"
    # scatter is linear (no transform, uncompensated); <FITC-A> is compensated with the workspace matrix
    fsc = gates["/Lymph"].dimensions[0]
    assert (fsc.name, fsc.compensation, fsc.transform) == ("FSC-A", UNCOMPENSATED, None)
    fitc = gates["/Lymph/Tri"].dimensions[0]
    assert fitc.name == "FITC-A" and fitc.compensation == "Comp_Matrix" and fitc.transform is not None
    # the triangle is drawn on the log display: its vertices are carried there, not kept in raw units
    vertices = np.array(gates["/Lymph/Tri"].vertices)
    assert vertices.max() < 1.0


def test_raw_space_reading_would_count_differently(tmp_path):
    """Guard the fixture: in raw units the triangle would also hold clusters A and E."""
    def in_raw_triangle(x: float, y: float) -> bool:  # legs on x = 10 and y = 10, hypotenuse x + y = 10010
        return x >= 10 and y >= 10 and x + y <= 10010

    assert in_raw_triangle(1000, 1000) and in_raw_triangle(100, 100)
    assert expected_one()["/Lymph/Tri"] == SIZES_ONE["B"]


def test_calibration_table_sets_the_biex_scale(tmp_path):
    one = write_sample(tmp_path / "tube1.fcs", SIZES_ONE, fil="tube1.fcs")
    table = ('<Table name="Comp Matrix &lt;PE-A&gt;" biexponentialDecades="4.2" biexponentialNegDecades="0.5" '
             'biexponentialWidth="-30">0,-200,2048,1000,4096,200000</Table>')
    xml = workspace_xml([sample_xml("1", "tube1.fcs", 97, tree_one(SIZES_ONE), fil="tube1.fcs")], tables=table)
    (tmp_path / "w.xml").write_text(xml)
    strategy = open_document(tmp_path / "w.xml").strategy_for("1").strategy
    by_channel = {d.name: strategy.transforms[d.transform].param_dict
                  for _, d in strategy.dimensions() if getattr(d, "transform", None)}
    assert by_channel["PE-A"] == {"positive": 4.2, "negative": 0.5, "width": -30.0, "max_value": 200000.0,
                                  "channel_range": 4096.0}
    assert by_channel["FITC-A"] == {"positive": 4.5, "negative": 0.0, "width": -10.0, "max_value": 262144.0,
                                    "channel_range": 4096.0}  # no table: FlowJo's defaults
    assert _counts(strategy, one) == expected_one()


def test_acquisition_defined_and_no_compensation(tmp_path):
    one = write_sample(tmp_path / "tube1.fcs", SIZES_ONE, fil="tube1.fcs", spill_keyword=True)
    acquisition = workspace_xml([sample_xml("1", "tube1.fcs", 97, tree_one(SIZES_ONE), compensation="-1")],
                                matrices="")
    (tmp_path / "acq.xml").write_text(acquisition)
    strategy = open_document(tmp_path / "acq.xml").strategy_for("1").strategy
    assert {d.compensation for _, d in strategy.dimensions() if d.name == "PE-A"} == {FCS}
    assert _counts(strategy, one) == expected_one()  # the file's own $SPILLOVER compensates
    none = workspace_xml([sample_xml("1", "tube1.fcs", 97, tree_one(SIZES_ONE), compensation="-2")], matrices="")
    (tmp_path / "none.xml").write_text(none)
    strategy = open_document(tmp_path / "none.xml").strategy_for("1").strategy
    assert {d.compensation for _, d in strategy.dimensions()} == {UNCOMPENSATED}


def _single(tmp_path, tree: str, **kwargs) -> str:
    path = tmp_path / "one.xml"
    path.write_text(workspace_xml([sample_xml("1", "tube1.fcs", 97, tree, **kwargs)]))
    return str(path)


def test_unsupported_gate_names_its_population(tmp_path):
    odd = ('<PolygonGate><ParameterNames/><Graph/><Spline xAxisName="FSC-A" yAxisName="SSC-A">'
           '<Polygon><Vertex x="1" y="1"/></Polygon></Spline></PolygonGate>')
    tree = population("Lymph", 1, polygon("FSC-A", "SSC-A", [(0, 0), (9, 0), (9, 9)]), population("Odd", 1, odd))
    workspace = open_document(_single(tmp_path, tree))
    with pytest.raises(StrategyError, match=r"one\.xml: FlowJo 9 gate type 'Spline' is not supported.*"
                                            r"population /Lymph/Odd"):
        workspace.strategy_for("1")


def test_negated_and_mixed_boolean_gates_are_refused(tmp_path):
    negated = polygon("FSC-A", "SSC-A", [(0, 0), (9, 0), (9, 9)]).replace('yAxisName="SSC-A"',
                                                                           'yAxisName="SSC-A" negated="1"')
    with pytest.raises(StrategyError, match=r"negated FlowJo 9 gates.*population /Out"):
        open_document(_single(tmp_path, population("Out", 1, negated))).strategy_for("1")
    mixed = ('<BooleanGate specification="G0&amp;G1|G2"><GatePaths><StringArray><String>/a</String>'
             "<String>/b</String><String>/c</String></StringArray></GatePaths></BooleanGate>")
    with pytest.raises(StrategyError, match=r"mixes operators.*population /Mixed"):
        open_document(_single(tmp_path, population("Mixed", 1, mixed))).strategy_for("1")


def test_compensated_parameter_missing_from_matrix(tmp_path):
    tree = population("X", 1, polygon("&lt;BV421-A&gt;", "SSC-A", [(0, 0), (9, 0), (9, 9)]))
    with pytest.raises(StrategyError, match=r"'<BV421-A>' is not in the sample's compensation matrix.*population /X"):
        open_document(_single(tmp_path, tree)).strategy_for("1")


def test_windows_workspace_is_refused_with_a_reason(tmp_path):
    path = tmp_path / "pc.xml"
    path.write_text(workspace_xml([sample_xml("1", "t.fcs", 1, "")], version="1.61"))
    with pytest.raises(StrategyError, match="FlowJo for Windows workspace \\(version 1.61\\) is not supported"):
        open_document(path)


def test_format_comes_from_content_not_the_name(tmp_path):
    wsp, _, _ = two_sample_study(tmp_path)
    renamed = tmp_path / "gates.yaml"
    renamed.write_bytes(wsp.read_bytes())
    assert open_document(renamed).kind == FLOWJO9
    other = tmp_path / "other.wsp"
    other.write_text("<?xml version='1.0'?><!-- c --><Experiment/>")
    with pytest.raises(StrategyError, match="root element <Experiment> is neither Gating-ML 2.0"):
        open_document(other)
    with pytest.raises(StrategyError, match="holds 2 samples; choose one with --sample"):
        cytogate.load_strategy(wsp)
