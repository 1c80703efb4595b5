"""Gate plots, hierarchy overview, drift plots and outlier detection."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from report_helpers import SAMPLE_FCS, STRATEGY

import cytogate
from cytogate.fcs import Sample
from cytogate.gates.dimensions import Dimension
from cytogate.gates.specs import BooleanGate, EllipsoidGate, PolygonGate, RectangleGate
from cytogate.report.drift import drift_key, drift_traces, plot_drift
from cytogate.report.gateplot import decade_ticks, ellipse_outline, gate_view, plot_gate, title_of
from cytogate.report.outliers import robust_outliers
from cytogate.report.overview import downsample, plot_hierarchy, render_panels
from cytogate.strategy import Population, Strategy, TransformSpec


@pytest.fixture(scope="module")
def gated():
    sample = cytogate.read_fcs(SAMPLE_FCS / "S001_BL.fcs")
    strategy = cytogate.load_strategy(STRATEGY)
    return strategy, sample, cytogate.gate(strategy, sample)


def test_view_shows_exactly_the_events_the_gate_saw(gated):
    _, sample, result = gated
    for path in result.strategy.paths:
        view = gate_view(result, sample, path, max_events=10**9)
        assert view.count == result.count(path)
        assert int(view.inside.sum()) == view.count, path  # the population lies inside what is drawn
        parent = result.strategy.by_path[path].parent
        assert view.parent_count == (result.n_events if parent == "/" else result.count(parent))
        if not view.prefilter:
            assert view.values.shape[1] == view.parent_count
            # the values are on the gate's own (compensated, transformed) scale
            mask = view.gate.evaluate(view.values, {})
            np.testing.assert_array_equal(mask, view.inside, err_msg=path)


def test_five_marker_rectangle_is_drawn_on_its_last_two_markers(gated):
    _, sample, result = gated
    path = next(p for p in result.strategy.paths if p.endswith("/pDC"))
    view = gate_view(result, sample, path)
    assert len(view.gate.dimensions) == 5 and view.drawn == (3, 4)
    assert re.search(r"CD3 < 0\.\d+", view.prefilter) and re.search(r"HLA-DR ≥ 0\.\d+", view.prefilter), view.prefilter
    assert view.axes[0].label.startswith("CD123 (") and "logicle" in view.axes[0].label


def test_data_driven_gate_is_drawn_as_fitted(gated):
    _, sample, result = gated
    path = next(p for p in result.strategy.paths if p.endswith("/T cells"))
    view = gate_view(result, sample, path)
    assert view.data_driven and view.gate.kind == "rectangle"
    assert view.gate.mins[0] == pytest.approx(result.fitted[path]["mins"][0])
    assert view.fits and "threshold" in view.fits[0]["params"]


def test_subsampling_keeps_true_counts(gated):
    _, sample, result = gated
    view = gate_view(result, sample, "/Cells", max_events=500)
    assert view.values.shape == (1, 500)
    assert view.plotted_fraction == pytest.approx(500 / result.n_events)
    assert view.count == result.count("/Cells")


def test_title_has_count_and_percent_of_parent(gated):
    _, sample, result = gated
    path = next(p for p in result.strategy.paths if p.endswith("/B cells"))
    view = gate_view(result, sample, path)
    pct = 100 * result.count(path) / result.count(view.parent)
    assert title_of(view) == f"B cells: {result.count(path):,} ({pct:.1f}% of Lymphocytes)"


def test_axis_labels_name_marker_and_detector(gated):
    _, sample, result = gated
    path = next(p for p in result.strategy.paths if p.endswith("/B cells"))
    fig = plot_gate(result, sample, path)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "CD3 (B710-A) comp., logicle"
    assert ax.get_ylabel() == "CD19 (R670-A) comp., logicle"
    assert "B cells:" in ax.get_title(loc="left")
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert "0" in labels and "10³" in labels  # decades in original units


def test_decade_ticks_sit_at_transformed_decades():
    t = TransformSpec("l", "logicle", (("t", 262144), ("w", 0.5), ("m", 4.5), ("a", 0))).build()
    pos, labels, minor = decade_ticks(t, -0.05, 1.0)
    assert labels[:2] == ["0", "10²"] or labels[0] in ("−10²", "0")
    value = {"0": 0.0, "10²": 1e2, "10³": 1e3, "10⁴": 1e4, "10⁵": 1e5, "−10²": -1e2, "−10³": -1e3}
    for p, lab in zip(pos, labels):
        assert p == pytest.approx(float(t.apply(np.array([value[lab]]))[0]))
    assert pos == sorted(pos) and np.min(np.diff(pos)) >= 0.07 * 1.05
    assert minor and all(-0.05 <= m <= 1.0 for m in minor)


def test_ellipse_outline_lies_on_the_gate_boundary():
    mean, cov, d2 = np.array([1.0, -2.0]), np.array([[2.0, 0.6], [0.6, 0.5]]), 3.0
    pts = ellipse_outline(mean, cov, d2)
    q = np.einsum("ni,ij,nj->n", pts - mean, np.linalg.inv(cov), pts - mean)
    np.testing.assert_allclose(q, d2, rtol=1e-9)


def _toy_strategy_and_sample():
    rng = np.random.default_rng(3)
    events = rng.normal(0, 1, size=(3000, 2)) * [1.0, 2.0]
    sample = Sample.from_arrays(events, ["A", "B"], markers=["CD1", None])
    dims = (Dimension("A"), Dimension("B"))
    pops = (
        Population("Poly", "/", PolygonGate(dims, ((-1, -1), (2, -1), (0, 3)))),
        Population("Ell", "/", EllipsoidGate(dims, (0.0, 0.0), ((1.0, 0.0), (0.0, 4.0)), 1.0)),
        Population("Box", "/", RectangleGate(dims, (0.0, None), (None, 1.0))),
        Population("Either", "/", BooleanGate("or", (("/Poly", False), ("/Ell", False)))),
    )
    return Strategy(pops), sample


def test_polygon_ellipse_open_box_and_boolean_are_drawn():
    from matplotlib.patches import Polygon, Rectangle

    strategy, sample = _toy_strategy_and_sample()
    result = cytogate.gate(strategy, sample)
    ax = plot_gate(result, sample, "/Poly").axes[0]
    polys = [p for p in ax.patches if isinstance(p, Polygon)]
    np.testing.assert_allclose(polys[0].get_xy()[:3], [[-1, -1], [2, -1], [0, 3]])
    assert ax.get_xlabel() == "CD1 (A)" and ax.get_ylabel() == "B"
    ax = plot_gate(result, sample, "/Ell").axes[0]
    assert any(len(line.get_xdata()) > 100 for line in ax.lines)  # the ellipse outline
    ax = plot_gate(result, sample, "/Box").axes[0]
    rect = next(p for p in ax.patches if isinstance(p, Rectangle))
    lo, hi = ax.get_xlim()
    assert rect.get_x() == 0.0 and rect.get_x() + rect.get_width() == pytest.approx(hi)  # open side clipped to view
    fig = plot_gate(result, sample, "/Either")
    assert not fig.axes[0].axison and "Either" in fig.axes[0].get_title(loc="left")
    with pytest.raises(cytogate.StrategyError):
        plot_gate(result, sample, "/Nope")


def test_few_events_give_a_dot_plot():
    strategy, sample = _toy_strategy_and_sample()
    small = Sample.from_arrays(np.asarray(sample.events)[:200], ["A", "B"])
    result = cytogate.gate(strategy, small)
    ax = plot_gate(result, small, "/Poly").axes[0]
    assert ax.collections and not ax.images
    result = cytogate.gate(strategy, sample)
    ax = plot_gate(result, sample, "/Poly").axes[0]
    assert ax.images  # a density


def test_overview_has_one_panel_per_gate_and_panels_are_pngs(gated):
    _, sample, result = gated
    pops = result.strategy.populations
    quadrant_gates = {(p.parent, p.gate.group) for p in pops if p.gate.kind in ("quadrant", "adaptive_quadrant")}
    n_quadrants = sum(p.gate.kind in ("quadrant", "adaptive_quadrant") for p in pops)
    assert quadrant_gates and n_quadrants > len(quadrant_gates)
    fig = plot_hierarchy(result, sample)
    visible = [a for a in fig.axes if a.get_visible()]
    assert len(visible) == len(pops) - n_quadrants + len(quadrant_gates)  # one panel per quadrant gate
    cd4 = next(a for a in visible if a.get_title(loc="left") == "CD4 T: 4 quadrants")
    labels = {t.get_text().split("\n")[0] for t in cd4.texts}
    assert {"CD4 Naive", "CD4 CM", "CD4 EM", "CD4 TEMRA"} <= labels
    fig = plot_hierarchy(result, sample, group_quadrants=False)
    assert len([a for a in fig.axes if a.get_visible()]) == len(pops)
    panels = render_panels(result, sample, paths=result.strategy.paths[:3], dpi=60, thumb_width=60)
    assert [p.path for p in panels] == list(result.strategy.paths[:3])
    for p in panels:
        full, thumb = imread(io.BytesIO(p.full)), imread(io.BytesIO(p.thumb))
        assert full.shape[1] > thumb.shape[1] >= 60 * 0.5
        assert full.std() > 0.05  # not blank
    assert downsample(np.zeros((10, 9, 3), np.uint8), 3).shape == (3, 3, 3)


def test_drift_traces_carry_each_files_fitted_threshold(gated):
    _, sample, result = gated
    traces = drift_traces(result, sample, max_events=1000)
    keys = {drift_key(t) for t in traces}
    t_cells = next(t for t in traces if t.path.endswith("/T cells"))
    assert t_cells.threshold == pytest.approx(result.fitted[t_cells.path]["mins"][0])
    assert t_cells.side == "min" and t_cells.dimension == "CD3" and t_cells.values.size <= 1000
    assert len(keys) == len(traces)
    other = cytogate.read_fcs(SAMPLE_FCS / "S003_W24.fcs")
    other_traces = drift_traces(cytogate.gate(result.strategy, other), other)
    same = [t for t in other_traces if drift_key(t) == drift_key(t_cells)]
    fig = plot_drift([t_cells, *same])
    assert "across 2 files" in fig.axes[0].get_title(loc="left")


def test_robust_outliers_flag_a_planted_outlier():
    rng = np.random.default_rng(0)
    n = 30
    freq = np.clip(rng.normal(0.10, 0.01, n), 0.01, 0.9)
    freq[7] = 0.45
    counts = pd.DataFrame({"sample": [f"s{i}" for i in range(n)], "population": "/A", "name": "A",
                           "parent_count": 10_000, "count": (freq * 10_000).round().astype(int)})
    counts["freq_parent"] = counts["count"] / counts["parent_count"]
    flagged = robust_outliers(counts)
    assert list(flagged["sample"]) == ["s7"] and flagged["robust_z"].iloc[0] > 3.5
    same = counts.assign(count=1000, freq_parent=0.1)
    assert robust_outliers(same).empty  # MAD 0: nothing to say
    assert robust_outliers(counts.head(3)).empty  # too few samples
