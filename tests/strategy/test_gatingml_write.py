"""Gating-ML writing: schema validity, names that are not XML ids, every gate kind, errors."""

from __future__ import annotations

import numpy as np
import pytest

from cytogate.errors import StrategyError
from cytogate.gates import (
    BooleanGate,
    Dimension,
    Divider,
    EllipsoidGate,
    PolygonGate,
    QuadrantGate,
    RatioDimension,
    RectangleGate,
)
from cytogate.strategy import Population, SpectrumMatrix, Strategy, TransformSpec, load_strategy
from cytogate.strategy.gatingml_write import save_gatingml, write_gatingml

LOGICLE = TransformSpec("lg", "logicle", (("t", 262144), ("w", 0.5), ("m", 4.5), ("a", 0)))
MATRIX = SpectrumMatrix("Spill1", ("FITC", "PE"), ("FL1-A", "FL2-A"), np.array([[1.0, 0.1], [0.2, 1.0]]))


def every_kind() -> Strategy:
    fsc, ssc = Dimension("FSC-A"), Dimension("SSC-A")
    cd3 = Dimension("CD3", "FCS", "lg")
    pe = Dimension("PE", "Spill1", "lg")
    ratio = RatioDimension("rat", "FL1-A", "FL2-A", 1.0, 0.0, -1.0, "uncompensated", "lg")
    div_a, div_b = Divider("a", cd3, (0.4,)), Divider("b", pe, (0.3, 0.6))
    quads = [Population(name, "/Cells", QuadrantGate("Quad", (div_a, div_b), pos)) for name, pos in [
        ("CD3+ PE lo", (("a", 0.9), ("b", 0.0))), ("CD3- PE mid", (("a", 0.0), ("b", 0.5))),
        ("PE hi", (("b", 0.9),))]]
    return Strategy((
        Population("Cells", "/", PolygonGate((fsc, ssc), ((0, 0), (10, 0), (10, 10), (5, 15), (0, 10)))),
        Population("Live", "/Cells", RectangleGate((cd3, pe, ratio), (0.1, None, 0.2), (None, 0.9, 0.8))),
        Population("Blob", "/Cells", EllipsoidGate((fsc, ssc, pe), (1, 2, 0.5), ((4, 1, 0), (1, 3, 0), (0, 0, 1)),
                                                   2.0)),
        *quads,
        Population("CD3+ PE lo", "/Cells/Live", RectangleGate((fsc,), (1.0,), (None,))),  # a name used twice
        Population("Either", "/Cells", BooleanGate("or", (("/Cells/Live", False), ("/Cells/CD3+ PE lo", True)))),
        Population("Not blob", "/", BooleanGate("not", (("/Cells/Blob", False),))),
    ), {"lg": LOGICLE}, {"Spill1": MATRIX})


def test_every_kind_round_trips_exactly():
    s = every_kind()
    text = write_gatingml(s)
    again = load_strategy(text)
    assert again.paths == s.paths
    assert again.to_dict() == s.to_dict()
    assert write_gatingml(again) == text


def test_written_documents_validate_against_the_gatingml_xsd(tmp_path):
    etree = pytest.importorskip("lxml.etree")
    resources = pytest.importorskip("flowkit._resources")  # FlowKit bundles the ISAC XSDs
    doc = etree.fromstring(write_gatingml(every_kind()).encode())
    assert resources.gml_schema.validate(etree.ElementTree(doc)), resources.gml_schema.error_log
    out = tmp_path / "s.xml"
    save_gatingml(every_kind(), out)
    assert load_strategy(out).paths == every_kind().paths


def test_names_that_are_not_xml_ids_are_kept():
    text = write_gatingml(every_kind())
    assert 'gating:id="CD3__PE_lo"' in text and 'name="CD3+ PE lo"' in text


def test_reference_ids_that_are_not_xml_ids_are_renamed_consistently():
    matrix = SpectrumMatrix("My spill", ("FITC", "PE"), ("FL1-A", "FL2-A"), MATRIX.matrix)
    xform = TransformSpec("1 logicle", "logicle", LOGICLE.params)
    s = Strategy((Population("A", "/", RectangleGate((Dimension("PE", "My spill", "1 logicle"),), (0.2,), (None,))),),
                 {"1 logicle": xform}, {"My spill": matrix})
    again = load_strategy(write_gatingml(s))
    dim = again.population("/A").gate.dimensions[0]
    assert (dim.compensation, dim.transform) == ("My_spill", "_1_logicle")
    assert again.matrices["My_spill"] == SpectrumMatrix("My_spill", matrix.fluorochromes, matrix.detectors,
                                                        matrix.matrix)
    assert again.transforms["_1_logicle"].params == xform.params


def test_quadrants_of_one_gate_are_written_as_one_quadrant_gate():
    text = write_gatingml(every_kind())
    assert text.count("<gating:QuadrantGate") == 1
    assert text.count("<gating:Quadrant ") == 3


def test_transforms_without_gatingml_form_and_data_driven_gates_are_refused():
    biex = TransformSpec("bx", "flowjo_biex", (("width", -10), ("negative", 0), ("positive", 4.4),
                                               ("max_value", 262144), ("channel_range", 4096)))
    s = Strategy((Population("A", "/", RectangleGate((Dimension("X", transform="bx"),), (0.1,), (None,))),),
                 {"bx": biex})
    with pytest.raises(StrategyError, match="no Gating-ML 2.0 form"):
        write_gatingml(s)
