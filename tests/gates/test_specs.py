"""Gate specs: validation, registry, dict round trip, description, dimension resolution."""

from __future__ import annotations

import numpy as np
import pytest

from cytogate.errors import GateError, MarkerError
from cytogate.fcs import Sample
from cytogate.gates import (
    GATE_KINDS,
    BooleanGate,
    Dimension,
    Divider,
    EllipsoidGate,
    PolygonGate,
    QuadrantGate,
    RatioDimension,
    RectangleGate,
    gate_from_dict,
    resolve_dimension,
)

X = Dimension("FSC-A")
Y = Dimension("SSC-A", "FCS", "logicle1")


def _examples():
    div_x = Divider("dx", X, (1.0,))
    div_y = Divider("dy", RatioDimension("r1", "FL1", "FL2", 2.0, 0.0, -1.0), (0.5, 2.0))
    return [
        RectangleGate((X, Y), (0.0, None), (10.0, 0.5)),
        PolygonGate((X, Y), ((0, 0), (1, 0), (1, 1))),
        EllipsoidGate((X, Y, Dimension("FL1")), (0, 0, 0), ((1, 0, 0), (0, 2, 0), (0, 0, 3)), 1.5),
        QuadrantGate("Q", (div_x, div_y), (("dx", 5.0), ("dy", 1.0))),
        BooleanGate("and", (("/A", False), ("/B", True))),
        BooleanGate("not", (("/A", False),)),
    ]


def test_every_builtin_kind_is_registered():
    assert {"rectangle", "polygon", "ellipsoid", "quadrant", "boolean"} <= set(GATE_KINDS)


@pytest.mark.parametrize("gate", _examples(), ids=lambda g: g.kind)
def test_dict_round_trip_and_description(gate):
    again = gate_from_dict(gate.to_dict())
    assert again == gate
    assert again.to_dict() == gate.to_dict()
    assert isinstance(gate.describe(), str) and gate.describe()


def test_unknown_kind_lists_known_kinds():
    with pytest.raises(GateError, match="rectangle"):
        gate_from_dict({"kind": "hexagon"})


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: RectangleGate((X,), (None,), (None,)), "neither min nor max"),
        (lambda: RectangleGate((X,), (2.0,), (1.0,)), "not below"),
        (lambda: RectangleGate((X, Y), (0.0,), (1.0,)), "one"),
        (lambda: PolygonGate((X, Y), ((0, 0), (1, 1))), "at least 3"),
        (lambda: PolygonGate((X,), ((0, 0), (1, 1), (1, 0))), "exactly 2"),
        (lambda: PolygonGate((X, Y), ((0, 0), (1, np.nan), (1, 0))), "finite"),
        (lambda: EllipsoidGate((X, Y), (0, 0), ((1, 1), (1, 1)), 1.0), "singular"),
        (lambda: EllipsoidGate((X, Y), (0, 0), ((1, 0), (0, 1)), 0.0), "positive"),
        (lambda: BooleanGate("xor", (("/A", False), ("/B", False))), "one of"),
        (lambda: BooleanGate("not", (("/A", False), ("/B", False))), "exactly one"),
        (lambda: BooleanGate("and", (("/A", False),)), "at least two"),
        (lambda: QuadrantGate("Q", (Divider("d", X, (1.0,)),), (("zz", 0.0),)), "unknown divider"),
        (lambda: Divider("d", X, ()), "at least one"),
        (lambda: Dimension(""), "non-empty"),
    ],
)
def test_invalid_gates_raise_gate_error(build, match):
    with pytest.raises(GateError, match=match):
        build()


def test_quadrant_cells_are_half_open_like_rectangles():
    div = Divider("d", X, (2.0, 1.0))  # values are sorted
    low = QuadrantGate("Q", (div,), (("d", 0.0),))
    mid = QuadrantGate("Q", (div,), (("d", 1.0),))  # a location on a divider belongs to the cell above
    high = QuadrantGate("Q", (div,), (("d", 9.0),))
    values = np.array([[0.5, 1.0, 1.5, 2.0, np.nan]])
    assert low.evaluate(values, {}).tolist() == [True, False, False, False, False]
    assert mid.evaluate(values, {}).tolist() == [False, True, True, False, False]
    assert high.evaluate(values, {}).tolist() == [False, False, False, True, False]


def test_boolean_gate_semantics():
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    refs = {"/A": a, "/B": b}
    empty = np.empty((0, 4))
    assert BooleanGate("and", (("/A", False), ("/B", False))).evaluate(empty, refs).tolist() == [1, 0, 0, 0]
    assert BooleanGate("or", (("/A", False), ("/B", True))).evaluate(empty, refs).tolist() == [1, 1, 0, 1]
    assert BooleanGate("not", (("/A", False),)).evaluate(empty, refs).tolist() == [0, 0, 1, 1]
    assert a.tolist() == [True, True, False, False]  # operands untouched


def test_static_gates_cannot_be_fitted():
    with pytest.raises(GateError, match="static"):
        _examples()[0].fit(np.zeros((2, 3)))


# -- resolve_dimension -----------------------------------------------------------------------
@pytest.fixture
def sample():
    return Sample.from_arrays(np.zeros((3, 4)), ["FSC-A", "FL1-A", "FL2-A", "FL3-A"],
                              markers=[None, "CD3", "cd19", "CD3"])


def test_resolution_order_channel_then_marker_then_alias(sample):
    assert resolve_dimension("FL1-A", sample) == 1
    assert resolve_dimension("cd19", sample) == 2
    assert resolve_dimension("CD19", sample) == 2  # unique case-insensitive match
    assert resolve_dimension("BAFF-R", sample, {"BAFF-R": "cd19"}) == 2


def test_ambiguous_and_missing_markers_list_what_the_file_has(sample):
    with pytest.raises(MarkerError, match="several channels: FL1-A, FL3-A"):
        resolve_dimension("CD3", sample)
    with pytest.raises(MarkerError, match=r"CD268.*FL1-A \(CD3\)"):
        resolve_dimension("CD268", sample)



def test_gate_from_dict_finds_data_driven_kinds_without_importing_adaptive_first(tmp_path):
    import json
    import subprocess
    import sys

    from cytogate.strategy import load_strategy

    strategy = load_strategy(
        "cytogate_strategy: 1\npopulations:\n  Singlets: {singlet: {area: FSC-A, height: FSC-H}}\n"
    )
    saved = tmp_path / "strategy.json"
    saved.write_text(json.dumps(strategy.to_dict()))
    # A fresh interpreter, so nothing has imported cytogate.adaptive yet.
    code = (
        "import json, sys\n"
        "from cytogate.strategy.tree import Strategy\n"
        "assert 'cytogate.adaptive' not in sys.modules\n"
        f"s = Strategy.from_dict(json.load(open({str(saved)!r})))\n"
        "print(type(s.populations[0].gate).__name__)\n"
    )
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "SingletGate"


@pytest.mark.parametrize("vertices", [[(0, 0), (1, 1), (2, 2)], [(0, 0), (1, 0), (2, 0), (3, 0)], [(1, 1)] * 4])
def test_degenerate_polygons_are_refused_in_every_format(vertices):
    from cytogate.gates import Dimension, PolygonGate
    from cytogate.strategy import load_strategy

    with pytest.raises(GateError, match="no area"):
        PolygonGate((Dimension("A"), Dimension("B")), tuple(vertices))
    text = ("cytogate_strategy: 1\npopulations:\n  P: {polygon: {x: A, y: B, vertices: "
            + str([list(v) for v in vertices]) + "}}\n")
    from cytogate.errors import StrategyError

    with pytest.raises(StrategyError, match=r"3:.*no area"):
        load_strategy(text)
