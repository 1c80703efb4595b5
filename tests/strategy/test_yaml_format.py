"""The YAML strategy format: every construct becomes the right gate, and runs."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import cytogate
from cytogate.adaptive.specs import AdaptiveQuadrantGate, AdaptiveRectangleGate, GmmGate, SingletGate, ThresholdRule
from cytogate.fcs import Sample
from cytogate.gates import FCS, UNCOMPENSATED, BooleanGate, EllipsoidGate, PolygonGate, QuadrantGate, RectangleGate
from cytogate.gates.dimensions import RatioDimension
from cytogate.strategy import load_strategy
from cytogate.strategy.yaml_format import is_scatter, load_yaml_strategy


def _load(text: str, **kw):
    return load_yaml_strategy(textwrap.dedent(text), **kw)


FULL = """\
cytogate_strategy: 1
name: everything
markers: {CD268: [BAFF-R, BAFFR]}
compensation: file
spillover:
  lab: {channels: [FL1, FL2], matrix: [[1, 0.1], [0.05, 1]]}
transforms:
  lg: {logicle: {T: 262144, W: 0.5, M: 4.5, A: 0}}
transform: lg
scatter_transform: none
marker_transforms: {CD45: {asinh: {T: 262144, M: 4.5, A: 0}}}
ratios:
  r1: {numerator: FL1, denominator: FL2, A: 2, B: 0, C: 1}
populations:
  Cells: {polygon: {x: FSC-A, y: SSC-A, vertices: [[3e4, 5e3], [1.6e5, 5e3], [1.6e5, 9e4], [3e4, 9e4]]}}
  Singlets: {parent: Cells, singlet: {area: FSC-A, height: FSC-H, k: 3.5, fallback: [1.0, 1.4]}}
  Leuk: {parent: Singlets, range: {CD45: {min: 0.3}}}
  Ell: {parent: Leuk, ellipse: {x: FL1, y: FL2, mean: [1, 2], covariance: [[1, 0], [0, 2]], distance_square: 4}}
  E3: {ellipsoid: {dimensions: [FL1, FL2, FL3], mean: [0, 0, 0], covariance: [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                   distance_square: 1}}
  B: {parent: Leuk, compensation: lab, transform: none, rectangle: {CD19: {min: 100}, CD3: [null, 50]}}
  BAFF: {parent: B, range: {CD268: {min: {density_valley: {bounds: [0.3, 0.7], fallback: 0.5}}}}}
  Rat: {range: {r1: {min: 0.5}}}
  Q:
    parent: Leuk
    quadrant:
      dividers: {CD4: 0.45, CD8: {tail: {fraction: 0.05, fallback: 0.4}}}
      populations: {CD4+CD8-: CD4 T, CD4-CD8+: CD8 T}
  Q3:
    quadrant:
      dividers: {D1: {dimension: FL1, values: [1, 2]}, D2: {dimension: FL2, values: 3, compensation: none}}
      populations: {mid-high: {D1: 1, D2: +}, low: {D1: 0}}
  Mono: {parent: Leuk, gmm: {dimensions: [CD14, CD16], components: 3, select: highest, on: CD14}}
  Both: {parent: Leuk, and: [CD4 T, {not: BAFF}]}
  Either: {or: [CD4 T, CD8 T]}
  Neither: {parent: Leuk, not: Either}
"""


@pytest.fixture(scope="module")
def full():
    return _load(FULL, source="full.yaml")


def test_paths_and_order(full):
    assert full.paths[:4] == ("/Cells", "/Cells/Singlets", "/Cells/Singlets/Leuk", "/Cells/Singlets/Leuk/Ell")
    assert "/Cells/Singlets/Leuk/CD4 T" in full.paths and "/Cells/Singlets/Leuk/FL1-FL2+" not in full.paths
    assert "/Cells/Singlets/Leuk/CD8 T" in full.paths
    assert full.format == "yaml" and full.source == "full.yaml"


def test_gate_kinds(full):
    g = {p.name: p.gate for p in full.populations}
    assert isinstance(g["Cells"], PolygonGate) and g["Cells"].vertices[0] == (30000.0, 5000.0)
    assert isinstance(g["Singlets"], SingletGate) and g["Singlets"].fallback == (1.0, 1.4)
    assert isinstance(g["Ell"], EllipsoidGate) and isinstance(g["E3"], EllipsoidGate)
    assert isinstance(g["B"], RectangleGate) and g["B"].mins == (100.0, None) and g["B"].maxs == (None, 50.0)
    assert isinstance(g["BAFF"], AdaptiveRectangleGate)
    assert g["BAFF"].mins[0] == ThresholdRule("density_valley", (("bounds", (0.3, 0.7)), ("fallback", 0.5)))
    assert isinstance(g["CD4 T"], AdaptiveQuadrantGate) and dict(g["CD4 T"].cells) == {"CD4": 1, "CD8": 0}
    assert isinstance(g["Mono"], GmmGate) and g["Mono"].components == 3
    assert isinstance(g["Both"], BooleanGate) and g["Both"].operands == (
        ("/Cells/Singlets/Leuk/CD4 T", False), ("/Cells/Singlets/Leuk/B/BAFF", True))
    assert g["Neither"].op == "not" and g["Either"].op == "or"


def test_quadrant_forms(full):
    quads = {p.name: p.gate for p in full.populations if isinstance(p.gate, QuadrantGate)}
    assert {"mid-high", "low"} <= set(quads)
    assert quads["mid-high"].box()[0].tolist() == [1.0, 3.0] and quads["mid-high"].box()[1].tolist() == [2.0, np.inf]
    assert quads["low"].box()[1].tolist() == [1.0]
    assert quads["low"].dimensions[0].name == "FL1"
    assert {d.id: d.dimension.compensation for d in quads["low"].dividers} == {"D1": FCS, "D2": UNCOMPENSATED}


def test_defaults_and_overrides(full):
    g = {p.name: p.gate for p in full.populations}
    fsc = g["Cells"].dimensions[0]
    assert fsc.compensation == UNCOMPENSATED and fsc.transform is None  # scatter defaults
    cd45 = g["Leuk"].dimensions[0]
    assert cd45.compensation == FCS and full.transforms[cd45.transform].kind == "fasinh"  # marker_transforms
    ell = g["Ell"].dimensions[0]
    assert ell.transform == "lg"  # the default transform
    b = g["B"].dimensions[0]
    assert b.compensation == "lab" and b.transform is None  # gate-level overrides
    assert isinstance(g["Rat"].dimensions[0], RatioDimension) and g["Rat"].dimensions[0].a == 2.0
    assert g["Singlets"].dimensions[0].transform is None  # singlets read linear pulses
    assert full.matrices["lab"].detectors == ("FL1", "FL2")


def test_aliases_resolve_markers_in_files():
    text = """\
    cytogate_strategy: 1
    markers: {CD268: [BAFF-R, BAFFR]}
    compensation: none
    populations:
      Pos: {range: {CD268: {min: 10}}}
    """
    strategy = _load(text)
    assert strategy.aliases["BAFF-R"] == ("CD268", "BAFF-R", "BAFFR")
    events = np.array([[5.0, 1.0], [20.0, 1.0], [30.0, 1.0]])
    sample = Sample.from_arrays(events, ["YG586-A", "B530-A"], markers=["BAFF-R", "CD3"])
    assert cytogate.gate(strategy, sample).masks["/Pos"].tolist() == [False, True, True]
    missing = Sample.from_arrays(events, ["YG586-A", "B530-A"], markers=["CD20", "CD3"])
    with pytest.raises(cytogate.MarkerError, match="YG586-A"):
        cytogate.gate(strategy, missing)


def test_panel_file_reference(tmp_path):
    (tmp_path / "panel.yaml").write_text("CD303: [BDCA-2, BDCA2]\n")
    (tmp_path / "s.yaml").write_text("cytogate_strategy: 1\npanel: panel.yaml\npopulations:\n"
                                     "  P: {range: {CD303: {min: 1}}}\n")
    strategy = load_strategy(tmp_path / "s.yaml")
    assert strategy.aliases["BDCA2"][0] == "CD303"
    standard = _load("cytogate_strategy: 1\npanel: standard\npopulations:\n  P: {range: {CD268: {min: 1}}}\n")
    assert "TNFRSF13C" in standard.aliases["CD268"]


def test_load_strategy_detects_yaml(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("cytogate_strategy: 1\npopulations:\n  A: {range: {FSC-A: {min: 3e4}}}\n")
    strategy = cytogate.load_strategy(str(path))
    assert strategy.populations[0].gate.mins == (30000.0,)  # YAML 1.1 would read 3e4 as text
    assert cytogate.load_strategy(path.read_text()).paths == ("/A",)


def test_display_name_differs_from_key():
    s = _load("""\
    cytogate_strategy: 1
    populations:
      a: {name: CD4+, range: {CD4: {min: 1}}}
      b: {name: CD4+, parent: c, range: {CD4: {min: 1}}}
      c: {range: {CD8: {min: 1}}}
    """)
    assert set(s.paths) == {"/CD4+", "/c", "/c/CD4+"}


def test_runs_with_data_driven_gates_and_records_fits():
    rng = np.random.default_rng(0)
    n = 4000
    fsc = rng.uniform(2e4, 1e5, n)
    fsch = fsc / rng.normal(1.2, 0.02, n)
    cd19 = np.r_[rng.normal(100, 30, n // 2), rng.normal(5000, 600, n // 2)]
    sample = Sample.from_arrays(np.c_[fsc, fsch, cd19], ["FSC-A", "FSC-H", "R670-A"], markers=[None, None, "CD19"])
    s = _load("""\
    cytogate_strategy: 1
    compensation: none
    populations:
      Singlets: {singlet: {area: FSC-A, height: FSC-H}}
      B: {parent: Singlets, range: {CD19: {min: {density_valley: {fallback: 1000}}}}}
    """)
    result = cytogate.gate(s, sample)
    fit = result.fitted["/Singlets/B"]["fits"][0]
    assert not fit["used_fallback"] and 500 < fit["params"]["threshold"] < 4000
    assert result.counts.set_index("population").loc["/Singlets/B", "count"] == pytest.approx(n // 2, abs=40)


@pytest.mark.parametrize("name,expected", [("FSC-A", True), ("SSC-H", True), ("FS INT", True), ("Time", True),
                                           ("FSC", True), ("FL1-H", False), ("CD3", False), ("SSC-Width", True)])
def test_is_scatter(name, expected):
    assert is_scatter(name) is expected


def test_design_sketch_loads():
    """The strategy sketched in DESIGN.md section 7 is valid as written."""
    s = _load("""\
    cytogate_strategy: 1
    name: Lupus PD panel — B cells, pDCs, T cells, Tregs
    markers:                      # aliases: one strategy, many instruments
      CD268: [CD268, BAFF-R, BAFFR]
      CD303: [CD303, BDCA-2, BDCA2]
    compensation: file            # $SPILLOVER / SPILL of each file
    transform: {logicle: {T: 262144, W: 0.5, M: 4.5, A: 0}}   # default for fluorescence
    scatter_transform: linear

    populations:
      Cells:      {polygon: {x: FSC-A, y: SSC-A, vertices: [[30e3, 5e3], [160e3, 5e3], [160e3, 90e3], [30e3, 90e3]]}}
      Singlets:   {parent: Cells, singlet: {area: FSC-A, height: FSC-H}}          # data-driven
      Live:       {parent: Singlets, range: {Viability: {max: density_valley}}}  # data-driven threshold
      Leukocytes: {parent: Live, range: {CD45: {min: 0.45}}}
      T cells:    {parent: Leukocytes, range: {CD3: {min: 0.45}}}
      CD4 T:      {parent: T cells, rectangle: {CD4: {min: 0.45}, CD8: {max: 0.43}}}
      Tregs:      {parent: CD4 T, rectangle: {CD25: {min: 0.5}, CD127: {max: 0.43}}}
      B cells:    {parent: Leukocytes, rectangle: {CD3: {max: 0.43}, CD19: {min: 0.45}}}
      CD268+ B:   {parent: B cells, range: {CD268: {min: density_valley}}}
      pDC:        {parent: Leukocytes, rectangle: {CD3: {max: 0.43}, CD19: {max: 0.43}, HLA-DR: {min: 0.5},
                                                   CD123: {min: 0.6}}}
      CD303+ pDC: {parent: pDC, range: {CD303: {min: 0.45}}}
    """)
    assert len(s.populations) == 11 and s.populations[0].gate.vertices[1] == (160000.0, 5000.0)
    assert s.populations[0].gate.dimensions[0].transform is None  # bare `linear` = scale values
    assert sum(p.gate.needs_fit for p in s.populations) == 3


def test_tail_and_quantile_rules():
    s = _load("""\
    cytogate_strategy: 1
    populations:
      hi: {range: {CD25: {min: {tail: {fraction: 0.02, side: right, bounds: [0.4, 0.8], fallback: 0.6}}}}}
      top: {range: {CD25: {min: {quantile: {q: 0.95}}}}}
    """)
    hi, top = (p.gate.mins[0] for p in s.populations)
    assert hi.method == "tail" and dict(hi.options)["side"] == "right"
    assert top.method == "quantile" and dict(top.options) == {"q": 0.95}
    values = np.random.default_rng(1).uniform(0, 1, (1, 10000))
    assert s.populations[1].gate.fit(values).mins[0] == pytest.approx(0.95, abs=0.01)


def test_compensation_from_a_csv_matrix_beside_the_strategy(tmp_path):
    from cytogate import gate
    from cytogate.fcs import Sample

    (tmp_path / "comp.csv").write_text("FL1-A,FL2-A\n1,0.5\n0,1\n")
    doc = ("cytogate_strategy: 1\nname: t\ncompensation: comp.csv\n"
           "populations:\n  Pos:\n    range: {FL2-A: {min: 10}}\n")
    (tmp_path / "s.yaml").write_text(doc)
    strategy = load_strategy(tmp_path / "s.yaml")
    raw = np.array([[100.0, 60.0], [100.0, 40.0]])  # compensated FL2 = FL2 - 0.5 * FL1: 10, -10
    sample = Sample.from_arrays(raw, ["FL1-A", "FL2-A"])
    assert gate(strategy, sample).count("/Pos") == 1
    first = strategy.sha256
    (tmp_path / "comp.csv").write_text("FL1-A,FL2-A\n1,0.2\n0,1\n")
    assert load_strategy(tmp_path / "s.yaml").sha256 != first  # editing the matrix file invalidates results


def test_compensation_path_that_cannot_be_read_names_the_line(tmp_path):
    (tmp_path / "s.yaml").write_text("cytogate_strategy: 1\nname: t\ncompensation: missing.csv\n"
                                     "populations:\n  Pos:\n    range: {FL2-A: {min: 10}}\n")
    with pytest.raises(cytogate.errors.StrategyError, match=r"s\.yaml:3.*missing\.csv"):
        load_strategy(tmp_path / "s.yaml")
