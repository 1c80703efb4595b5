"""The engine: results, frequencies, compensation, mapped bounds, data-driven hook, plan cache."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

import cytogate
from cytogate.errors import CompensationError, GateError, MarkerError
from cytogate.fcs import Sample
from cytogate.gates import (
    BooleanGate,
    Dimension,
    GateSpec,
    PolygonGate,
    RectangleGate,
    register_gate,
)
from cytogate.engine.execute import Execution, brute_force_masks
from cytogate.engine.compile import compile_plan
from cytogate.compensation import Spillover
from cytogate.strategy import Population, SpectrumMatrix, Strategy, TransformSpec

RNG = np.random.default_rng(7)
CHANNELS = ["FSC-A", "SSC-A", "FL1-A", "FL2-A", "FL3-A"]
MARKERS = [None, None, "CD3", "CD19", "CD4"]


def make_sample(n=5000, spill=None, seed=0):
    rng = np.random.default_rng(seed)
    events = np.column_stack([
        rng.uniform(0, 1000, n), rng.uniform(0, 1000, n),
        rng.normal(500, 800, n), rng.normal(200, 600, n), rng.normal(0, 300, n),
    ])
    return Sample.from_arrays(events, CHANNELS, markers=MARKERS, spillover=spill, path="mem.fcs")


def strategy(*pops, transforms=(), matrices=()):
    return Strategy(tuple(pops), {t.id: t for t in transforms}, {m.id: m for m in matrices})


def rng_rect(dim, lo, hi):
    return RectangleGate((dim,), (lo,), (hi,))


# -- result shape ------------------------------------------------------------------------------
def test_counts_frame_columns_and_frequencies():
    s = make_sample()
    strat = strategy(
        Population("Cells", "/", rng_rect(Dimension("FSC-A"), 100, 900)),
        Population("Big", "/Cells", rng_rect(Dimension("SSC-A"), 500, None)),
        Population("None", "/Cells/Big", rng_rect(Dimension("SSC-A"), 5000, None)),
        Population("Empty", "/Cells/Big/None", rng_rect(Dimension("FSC-A"), None, 0)),
    )
    res = cytogate.gate(strat, s)
    c = res.counts
    assert list(c.columns) == ["sample", "file", "population", "name", "parent", "count", "parent_count",
                               "freq_parent", "freq_total"]
    assert c["population"].tolist() == ["/Cells", "/Cells/Big", "/Cells/Big/None", "/Cells/Big/None/Empty"]
    assert c["parent"].tolist() == ["/", "/Cells", "/Cells/Big", "/Cells/Big/None"]
    assert c["name"].tolist() == ["Cells", "Big", "None", "Empty"]
    fsc, ssc = s.column("FSC-A"), s.column("SSC-A")
    cells = (fsc >= 100) & (fsc < 900)
    big = cells & (ssc >= 500)
    assert c["count"].tolist() == [cells.sum(), big.sum(), 0, 0]
    assert c["parent_count"].tolist() == [5000, cells.sum(), big.sum(), 0]
    assert c.loc[0, "freq_parent"] == pytest.approx(cells.sum() / 5000)
    assert c.loc[1, "freq_total"] == pytest.approx(big.sum() / 5000)
    assert np.isnan(c.loc[3, "freq_parent"]) and c.loc[3, "freq_total"] == 0
    assert c["file"].iloc[0] == "mem.fcs" and res.n_events == 5000
    member = res.membership()
    assert list(member.columns) == c["population"].tolist()
    assert member.dtypes.eq(bool).all() and len(member) == 5000
    assert np.array_equal(member["/Cells/Big"].to_numpy(), big)


def test_nan_events_are_outside_every_gate_kind():
    events = np.array([[np.nan, 1.0], [1.0, np.nan], [1.0, 1.0]])
    s = Sample.from_arrays(events, ["A", "B"])
    a, b = Dimension("A"), Dimension("B")
    strat = strategy(
        Population("R", "/", RectangleGate((a, b), (None, None), (5.0, 5.0))),
        Population("P", "/", PolygonGate((a, b), ((0, 0), (5, 0), (5, 5), (0, 5)))),
        Population("N", "/", BooleanGate("not", (("/R", False),))),
    )
    res = cytogate.gate(strat, s)
    assert res.masks["/R"].tolist() == [False, False, True]
    assert res.masks["/P"].tolist() == [False, False, True]
    assert res.masks["/N"].tolist() == [True, True, False]


# -- markers and compensation ---------------------------------------------------------------------
def test_dimensions_resolve_markers_and_report_missing_ones():
    s = make_sample()
    res = cytogate.gate(strategy(Population("T", "/", rng_rect(Dimension("CD3"), 0, None))), s)
    assert res.masks["/T"].sum() == (s.column("FL1-A") >= 0).sum()
    with pytest.raises(MarkerError, match=r"mem.fcs: .*CD268.*population /B\)"):
        cytogate.gate(strategy(Population("B", "/", rng_rect(Dimension("CD268"), 0, None))), s)


def test_fcs_compensation_uses_the_file_spillover_and_only_needed_columns():
    matrix = np.array([[1.0, 0.2, 0.0], [0.1, 1.0, 0.05], [0.0, 0.3, 1.0]])
    spill = Spillover(matrix, ("FL1-A", "FL2-A", "FL3-A"))
    s = make_sample(spill=spill)
    raw = np.column_stack([s.column(c) for c in ("FL1-A", "FL2-A", "FL3-A")])
    comp = raw @ np.linalg.inv(matrix)
    strat = strategy(
        Population("P", "/", rng_rect(Dimension("CD19", "FCS"), 100, 700)),
        Population("U", "/", rng_rect(Dimension("CD19"), 100, 700)),
        Population("S", "/", rng_rect(Dimension("FSC-A", "FCS"), 100, 700)),  # not in the matrix
    )
    res = cytogate.gate(strat, s)
    assert np.array_equal(res.masks["/P"], (comp[:, 1] >= 100) & (comp[:, 1] < 700))
    assert np.array_equal(res.masks["/U"], (raw[:, 1] >= 100) & (raw[:, 1] < 700))
    fsc = s.column("FSC-A")
    assert np.array_equal(res.masks["/S"], (fsc >= 100) & (fsc < 700))
    plan = compile_plan(strat, s)
    assert plan.channels_read == (0, 2, 3, 4)  # SSC-A is never read


def test_spectrum_matrix_by_fluorochrome_and_missing_detector():
    m = SpectrumMatrix("M", ("FITC", "PE"), ("FL1-A", "FL2-A"), np.array([[1.0, 0.25], [0.1, 1.0]]))
    s = make_sample()
    strat = strategy(Population("PE+", "/", rng_rect(Dimension("PE", "M"), 0, None)), matrices=[m])
    raw = np.column_stack([s.column("FL1-A"), s.column("FL2-A")])
    expected = (raw @ np.linalg.inv(m.matrix))[:, 1] >= 0
    assert np.array_equal(cytogate.gate(strat, s).masks["/PE+"], expected)
    bad = SpectrumMatrix("M", ("FITC", "PE"), ("FL1-A", "FL9-A"), np.eye(2))
    with pytest.raises(CompensationError, match="FL9-A"):
        cytogate.gate(strategy(Population("X", "/", rng_rect(Dimension("PE", "M"), 0, None)), matrices=[bad]), s)


# -- mapped bounds are exact ----------------------------------------------------------------------
TRANSFORMS = [
    TransformSpec("lg", "logicle", (("t", 262144), ("w", 0.5), ("m", 4.5), ("a", 0))),
    TransformSpec("hl", "hyperlog", (("t", 10000), ("w", 1), ("m", 4.5), ("a", 0))),
    TransformSpec("as", "fasinh", (("t", 10000), ("m", 4), ("a", 1))),
    TransformSpec("li", "flin", (("t", 10000), ("a", 500))),
    TransformSpec("lo", "flog", (("t", 10000), ("m", 5))),
]


@pytest.mark.parametrize("spec", TRANSFORMS, ids=lambda t: t.kind)
def test_mapped_bounds_equal_brute_force_even_on_the_boundary(spec):
    t = spec.build()
    lo, hi = 0.31, 0.62
    edges = t.inverse(np.array([lo, hi]))
    near = np.concatenate([edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf),
                           edges * (1 + 1e-12), edges * (1 - 1e-12)])
    x = np.concatenate([RNG.normal(0, 3000, 4000), near, [np.nan, np.inf, -np.inf]])
    s = Sample.from_arrays(np.column_stack([x, x[::-1]]), ["A", "B"])
    dim_a, dim_b = Dimension("A", transform=spec.id), Dimension("B", transform=spec.id)
    strat = strategy(
        Population("R", "/", RectangleGate((dim_a, dim_b), (lo, None), (hi, 0.8))),
        Population("S", "/R", RectangleGate((dim_a,), (0.4,), (None,))),
        transforms=[spec],
    )
    res = cytogate.gate(strat, s)
    brute = brute_force_masks(strat, s)
    y_a, y_b = t.apply(x), t.apply(x[::-1])
    expected = (y_a >= lo) & (y_a < hi) & (y_b < 0.8)
    assert np.array_equal(brute["/R"], expected)
    assert np.array_equal(res.masks["/R"], expected)
    assert np.array_equal(res.masks["/R/S"], brute["/R/S"])


# -- boolean gates on parents -------------------------------------------------------------------
def test_boolean_gate_is_evaluated_on_its_parent_events():
    s = make_sample()
    a, b = Dimension("FSC-A"), Dimension("SSC-A")
    strat = strategy(
        Population("Left", "/", rng_rect(a, None, 500)),
        Population("Low", "/", rng_rect(b, None, 500)),
        Population("Either", "/Left", BooleanGate("or", (("/Low", False), ("/Left", True)))),
    )
    res = cytogate.gate(strat, s)
    assert np.array_equal(res.masks["/Left/Either"], res.masks["/Left"] & res.masks["/Low"])


# -- data-driven hook -------------------------------------------------------------------------------
@register_gate
@dataclass(frozen=True)
class _MedianThreshold(GateSpec):
    """Test-only data-driven gate: events at or above the parent's median."""

    kind: ClassVar[str] = "test_median_threshold"
    needs_fit: ClassVar[bool] = True
    dimensions: tuple[Any, ...]

    def fit(self, values):
        return RectangleGate(self.dimensions, (float(np.median(values[0])),), (None,))

    def to_dict(self):
        return {"kind": self.kind, "dimensions": [d.to_dict() for d in self.dimensions]}

    def describe(self):
        return "median threshold"


def test_data_driven_gate_is_fitted_on_parent_events_and_recorded():
    s = make_sample()
    fsc = Dimension("FSC-A")
    strat = strategy(
        Population("Half", "/", rng_rect(fsc, None, 500)),
        Population("Upper", "/Half", _MedianThreshold((fsc,))),
    )
    res = cytogate.gate(strat, s)
    values = s.column("FSC-A")
    parent = values[values < 500]
    median = float(np.median(parent))
    assert res.fitted == {"/Half/Upper": RectangleGate((fsc,), (median,), (None,)).to_dict()}
    assert np.array_equal(res.masks["/Half/Upper"], (values < 500) & (values >= median))
    static = res.fitted_strategy()
    assert static.population("/Half/Upper").gate == RectangleGate((fsc,), (median,), (None,))
    assert not any(p.gate.needs_fit for p in static.populations)
    again = cytogate.gate(static, s)
    assert again.fitted == {} and np.array_equal(again.masks["/Half/Upper"], res.masks["/Half/Upper"])


def test_fit_returning_a_data_driven_gate_is_an_error():
    @dataclass(frozen=True)
    class Loop(_MedianThreshold):
        def fit(self, values):
            return self

    s = make_sample()
    with pytest.raises(GateError, match="another data-driven gate"):
        cytogate.gate(strategy(Population("L", "/", Loop((Dimension("FSC-A"),)))), s)


# -- plan cache ------------------------------------------------------------------------------------
def test_plan_is_cached_per_strategy_and_layout():
    strat = strategy(Population("R", "/", rng_rect(Dimension("CD3"), 0, None)))
    s1, s2 = make_sample(seed=1), make_sample(seed=2)
    assert compile_plan(strat, s1) is compile_plan(strat, s2)
    other = Sample.from_arrays(np.zeros((2, 2)), ["X", "FL1-A"], markers=[None, "CD3"])
    plan = compile_plan(strat, other)
    assert plan is not compile_plan(strat, s1)
    assert plan.channels_read == (1,)
    assert isinstance(cytogate.gate(strat, other).counts, pd.DataFrame)


class _ColumnsOnly:
    """A sample exposing single columns only (no event matrix): the other read path."""

    decoded = False

    def __init__(self, sample):
        # many unread channels: the plan then reads single columns instead of the whole matrix
        self._s = sample
        self.channels = tuple(sample.channels) + tuple(f"X{i}" for i in range(40))
        self.markers = tuple(sample.markers) + (None,) * 40
        self.spillover = sample.spillover
        self.n_events, self.name, self.path = sample.n_events, "cols", None
        self.columns_read = set()

    @property
    def events(self):
        raise AssertionError("the column path must not decode the whole matrix")

    def column(self, key):
        self.columns_read.add(key)
        return self._s.column(key)

    def blocks(self, n_rows=1 << 16, *, digest=None):
        raise AssertionError("not streamed")


def test_matrix_and_column_read_paths_agree():
    matrix = np.array([[1.0, 0.2, 0.0], [0.1, 1.0, 0.05], [0.0, 0.3, 1.0]])
    s = make_sample(spill=Spillover(matrix, ("FL1-A", "FL2-A", "FL3-A")))
    lg = TRANSFORMS[0]
    strat = strategy(
        Population("P", "/", PolygonGate((Dimension("FSC-A"), Dimension("SSC-A")),
                                         ((100, 100), (900, 150), (700, 900)))),
        Population("A", "/P", RectangleGate((Dimension("CD3", "FCS", "lg"), Dimension("CD19", "FCS", "lg")),
                                            (0.2, None), (None, 0.6))),
        Population("B", "/P", RectangleGate((Dimension("CD4", "FCS", "lg"),), (0.1,), (0.7,))),
        transforms=[lg],
    )
    via_matrix = cytogate.gate(strat, s)
    columns_only = _ColumnsOnly(s)
    via_columns = Execution(compile_plan(strat, columns_only), columns_only).run()
    assert columns_only.columns_read  # read column by column, never as a matrix
    for path in strat.paths:
        assert np.array_equal(via_matrix.masks[path], via_columns.masks[path]), path
    assert via_matrix.masks["/P/A"].sum() > 0


# -- cytogate run ------------------------------------------------------------------------------
def _two_files(tmp_path, same_name):
    from cytogate.fcs import write_fcs
    from cytogate.strategy.gatingml_write import save_gatingml

    s = make_sample(n=800)
    events = np.column_stack([s.column(c) for c in CHANNELS])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    files = [tmp_path / "a" / "tube.fcs", tmp_path / "b" / ("tube.fcs" if same_name else "tube2.fcs")]
    for f in files:
        write_fcs(f, events, CHANNELS, markers=MARKERS)
    strat = strategy(
        Population("Cells", "/", rng_rect(Dimension("FSC-A"), 100, 900)),
        Population("CD3+", "/Cells", rng_rect(Dimension("CD3"), 0, None)),
    )
    gml = tmp_path / "s.xml"
    save_gatingml(strat, gml)
    return s, strat, gml, files


def test_cli_run_writes_counts_and_membership(tmp_path):
    from cytogate.cli import main

    s, strat, gml, files = _two_files(tmp_path, same_name=False)
    out = tmp_path / "out"
    assert main(["-q", "run", str(gml), *map(str, files), "--out", str(out), "--membership"]) == 0
    counts = pd.read_csv(out / "counts.csv")
    assert list(counts.columns[:9]) == ["sample", "file", "population", "name", "parent", "count",
                                        "parent_count", "freq_parent", "freq_total"]
    assert len(counts) == 4 and sorted(counts["population"]) == ["/Cells", "/Cells", "/Cells/CD3+", "/Cells/CD3+"]
    expected = cytogate.gate(strat, s).counts.set_index("population")["count"]
    for _, row in counts.iterrows():
        assert row["count"] == expected[row["population"]]
    member = pd.read_parquet(out / "membership" / "tube.parquet")
    assert list(member.columns) == ["/Cells", "/Cells/CD3+"]
    assert np.array_equal(member["/Cells/CD3+"].to_numpy(), cytogate.gate(strat, s).masks["/Cells/CD3+"])


def test_cli_run_bad_inputs_exit_2_with_one_line(tmp_path, capsys):
    from cytogate.cli import main

    bad = tmp_path / "bad.xml"
    bad.write_text("<gating:Gating-ML")
    assert main(["run", str(bad), "x.fcs", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cytogate: error:") and "bad.xml" in err and "\n" not in err
    assert not (tmp_path / "o" / "counts.csv").exists()


def test_empty_sample_gives_zero_counts_and_nan_frequencies():
    s = Sample.from_arrays(np.zeros((0, 5)), CHANNELS, markers=MARKERS)
    strat = strategy(
        Population("P", "/", PolygonGate((Dimension("FSC-A"), Dimension("SSC-A")), ((0, 0), (1, 0), (1, 1)))),
        Population("R", "/P", rng_rect(Dimension("CD3"), 0, None)),
    )
    c = cytogate.gate(strat, s).counts
    assert c["count"].tolist() == [0, 0] and c["parent_count"].tolist() == [0, 0]
    assert c["freq_parent"].isna().all() and c["freq_total"].isna().all()
