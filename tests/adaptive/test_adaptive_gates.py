"""Data-driven gate algorithms: they land where the data say, within bounds, or fall back visibly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cytogate.adaptive import (
    THRESHOLD_METHODS,
    density_valley,
    gmm_cluster,
    kde,
    quantile_threshold,
    singlet_band,
    tail_threshold,
    wedge_vertices,
)
from cytogate.errors import GateError


def _bimodal(rng, low=0.2, high=0.7, n_low=6000, n_high=3000, sd=0.05):
    return np.r_[rng.normal(low, sd, n_low), rng.normal(high, sd, n_high)]


@pytest.mark.parametrize("shift", [-0.1, 0.0, 0.15])
def test_density_valley_follows_shifted_modes(shift):
    rng = np.random.default_rng(7)
    x = _bimodal(rng, 0.2 + shift, 0.7 + shift)
    fit = density_valley(x, bounds=(0.0, 1.2), fallback=0.45)
    assert not fit.used_fallback
    # the valley of two equal-SD Gaussians (weights 2:1) lies right of the midpoint, well between modes
    assert 0.40 + shift < fit.params["threshold"] < 0.56 + shift
    lo_peak, hi_peak = fit.diagnostics["peaks"]
    assert abs(lo_peak - (0.2 + shift)) < 0.03 and abs(hi_peak - (0.7 + shift)) < 0.03


def test_density_valley_ignores_nan_and_inf():
    rng = np.random.default_rng(1)
    x = _bimodal(rng)
    dirty = np.r_[x, [np.nan] * 50, [np.inf, -np.inf]]
    assert density_valley(dirty).params == density_valley(x).params
    assert density_valley(dirty).n_events == x.size


def test_density_valley_one_mode_uses_fallback_and_says_why():
    x = np.random.default_rng(2).normal(0.5, 0.05, 5000)
    fit = density_valley(x, fallback=0.3)
    assert fit.used_fallback and fit.params["threshold"] == 0.3
    assert "mode" in fit.reason


def test_density_valley_bounds_exclude_valley():
    x = _bimodal(np.random.default_rng(3))
    fit = density_valley(x, bounds=(0.8, 1.0), fallback=0.9)
    assert fit.used_fallback and "bounds" in fit.reason


def test_density_valley_bounds_never_cut_at_their_edge():
    # the valley lies near 0.46: a window beside it holds no local minimum, so no fit
    x = _bimodal(np.random.default_rng(3))
    fit = density_valley(x, bounds=(0.3, 0.35), fallback=0.33)
    assert fit.used_fallback and fit.status == "fallback" and fit.confidence == 0.0
    assert "0.45" in fit.reason or "0.46" in fit.reason


def test_failed_fit_without_fallback_is_a_gate_error():
    with pytest.raises(GateError, match="no fallback"):
        density_valley(np.ones(10), what="/Cells/B")
    with pytest.raises(GateError, match="/Cells/B"):
        density_valley(np.ones(10), what="/Cells/B")


def test_too_few_events_fall_back():
    fit = density_valley(np.array([0.1, 0.9, np.nan]), fallback=0.5)
    assert fit.used_fallback and fit.n_events == 2


@pytest.mark.parametrize("bad", [(1.0, 0.0), (0.0, np.nan), ("a", 1)])
def test_bad_bounds_rejected(bad):
    with pytest.raises(GateError, match="bounds"):
        density_valley(np.zeros(100), bounds=bad)


def test_kde_integrates_to_one_and_peaks_at_mode():
    x = np.random.default_rng(4).normal(3.0, 0.5, 20000)
    est = kde(x)
    step = est.grid[1] - est.grid[0]
    assert est.density.sum() * step == pytest.approx(1.0, abs=0.01)
    assert est.grid[np.argmax(est.density)] == pytest.approx(3.0, abs=0.1)


def test_kde_is_the_binned_kernel_sum():
    """The compiled estimate equals a plain evaluation: histogram counts times the cut Gaussian, summed."""
    rng = np.random.default_rng(8)
    for trial in range(40):
        x = np.concatenate([rng.normal(rng.random() * 3, 0.05 + rng.random() * 0.4, int(rng.integers(3, 4000)))
                            for _ in range(int(rng.integers(1, 4)))])
        est = kde(x, adjust=float(rng.choice([0.5, 1.0, 2.0])), n_grid=int(rng.choice([64, 1024])))
        step = est.grid[1] - est.grid[0]
        edges = np.concatenate((est.grid - step / 2, [est.grid[-1] + step / 2]))
        counts = np.histogram(x, bins=edges)[0]
        half = int(np.ceil(4 * est.bandwidth / step))
        offsets = np.arange(-half, half + 1) * step
        kernel = np.exp(-0.5 * (offsets / est.bandwidth) ** 2)
        want = np.convolve(counts, kernel / kernel.sum(), mode="full")[half:half + counts.size] / (x.size * step)
        assert np.allclose(est.density, want, rtol=1e-9, atol=1e-12 * want.max()), trial
        assert np.all(est.density >= 0.0)


def test_valley_in_an_empty_stretch_is_its_middle():
    """Between two populations with nothing in between, the cut is the centre of the empty stretch."""
    rng = np.random.default_rng(9)
    x = np.concatenate([rng.uniform(0.10, 0.30, 5000), rng.uniform(0.70, 0.90, 5000)])
    est = kde(x, adjust=0.3)
    empty = est.grid[est.density == 0.0]
    empty = empty[(empty > 0.3) & (empty < 0.7)]
    assert empty.size > 50  # the kernel reaches 4 bandwidths, not across the gap
    fit = density_valley(x, bounds=(0.0, 1.0), adjust=0.3)
    middle = 0.5 * (empty.min() + empty.max())
    assert fit.params["threshold"] == pytest.approx(middle, abs=2 * (est.grid[1] - est.grid[0]))


def test_tail_threshold_right_and_left():
    x = np.random.default_rng(5).normal(0.3, 0.05, 20000)
    right = tail_threshold(x, fraction=0.01)
    left = tail_threshold(x, side="left", fraction=0.01)
    # a Gaussian falls to 1% of its height at 3.03 SD
    assert right.params["threshold"] == pytest.approx(0.3 + 3.03 * 0.05, abs=0.012)
    assert left.params["threshold"] == pytest.approx(0.3 - 3.03 * 0.05, abs=0.012)
    with pytest.raises(GateError, match="side"):
        tail_threshold(x, side="up")
    assert tail_threshold(x, bounds=(0.0, 0.2), fallback=0.25).used_fallback


def test_quantile_threshold_clips_and_records():
    x = np.arange(1001, dtype=float)
    assert quantile_threshold(x, q=0.9).params["threshold"] == pytest.approx(900.0)
    clipped = quantile_threshold(x, q=0.9, bounds=(0, 500))
    assert clipped.params["threshold"] == 500 and clipped.diagnostics["clipped"]
    assert quantile_threshold(np.array([np.nan]), q=0.5, fallback=1.0).used_fallback
    with pytest.raises(GateError):
        quantile_threshold(x, q=1.5)


def test_gmm_selects_component_by_rule():
    rng = np.random.default_rng(6)
    a = rng.normal([0.2, 0.5], 0.04, (6000, 2))
    b = rng.normal([0.7, 0.5], 0.04, (2000, 2))
    events = np.r_[a, b, [[np.nan, 0.1]]]
    high = gmm_cluster(events, select="highest", dimension=0)
    assert high.params["mean"][0] == pytest.approx(0.7, abs=0.01)
    assert high.params["distance_square"] == pytest.approx(5.991, abs=1e-3)  # chi2(0.95, 2)
    assert np.allclose(high.params["covariance"], np.diag([0.0016, 0.0016]), atol=3e-4)
    large = gmm_cluster(events, select="largest")
    assert large.params["mean"][0] == pytest.approx(0.2, abs=0.01)
    # deterministic: same file, same gate
    assert gmm_cluster(events, select="highest", dimension=0).params == high.params


def test_gmm_bounds_and_fallback():
    rng = np.random.default_rng(8)
    events = np.r_[rng.normal([0.2, 0.5], 0.04, (3000, 2)), rng.normal([0.7, 0.5], 0.04, (3000, 2))]
    fb = {"mean": [0.9, 0.9], "covariance": [[0.01, 0], [0, 0.01]]}
    fit = gmm_cluster(events, select="highest", dimension=0, bounds=[(0.0, 0.5), None], fallback=fb)
    assert fit.used_fallback and fit.params["mean"] == [0.9, 0.9]
    with pytest.raises(GateError, match="select"):
        gmm_cluster(events, select="best")
    with pytest.raises(GateError, match="no fallback"):
        gmm_cluster(events[:10])


def test_singlet_band_excludes_doublets():
    rng = np.random.default_rng(9)
    height = rng.uniform(2e4, 1.2e5, 9000)
    area = height * rng.normal(1.15, 0.03, height.size)
    d_height = rng.uniform(3e4, 1.3e5, 900)
    d_area = d_height * rng.normal(1.9, 0.1, d_height.size)
    fit = singlet_band(np.r_[area, d_area], np.r_[height, d_height], k=4.0)
    r = np.r_[area, d_area] / np.r_[height, d_height]
    inside = (r >= fit.params["ratio_low"]) & (r <= fit.params["ratio_high"])
    assert inside[:9000].mean() > 0.99 and inside[9000:].mean() < 0.01
    v = np.array(fit.params["vertices"])
    assert v.shape == (3, 2) and np.allclose(v[1, 0] / v[1, 1], fit.params["ratio_high"])


def test_singlet_fallback_and_validation():
    fit = singlet_band(np.ones(10), np.ones(10), fallback=(1.0, 1.5))
    assert fit.used_fallback and fit.params["ratio_high"] == 1.5
    with pytest.raises(GateError, match="1-D"):
        singlet_band(np.ones(3), np.ones(4))
    assert wedge_vertices(1.0, 2.0, 10.0) == [[0.0, 0.0], [10.0, 5.0], [10.0, 10.0]]


def test_fit_record_is_json_friendly():
    fit = gmm_cluster(np.random.default_rng(0).normal(size=(500, 2)), n_components=1)
    json.dumps(fit.to_dict())
    assert set(THRESHOLD_METHODS) == {"density_valley", "tail", "quantile", "mode_offset"}


# -- gate kinds: fit -> static gate, serialisation ---------------------------------------

from cytogate.adaptive import (  # noqa: E402
    AdaptiveQuadrantGate,
    AdaptiveRectangleGate,
    GmmGate,
    SingletGate,
    ThresholdRule,
)
from cytogate.adaptive.specs import AdaptiveDivider  # noqa: E402
from cytogate.gates import GATE_KINDS, Dimension, Divider, gate_from_dict  # noqa: E402


def _values(rng, n=6000):
    x = np.r_[rng.normal(0.2, 0.04, n // 2), rng.normal(0.7, 0.04, n // 2)]
    y = np.r_[rng.normal(0.3, 0.04, n // 4), rng.normal(0.8, 0.04, n // 4)][rng.permutation(n // 2)]
    y = np.r_[y, y]
    return np.vstack([x, y])


def test_adaptive_kinds_are_registered():
    assert {"adaptive_rectangle", "adaptive_quadrant", "singlet", "gmm"} <= set(GATE_KINDS)


def test_adaptive_rectangle_fits_and_round_trips():
    rule = ThresholdRule("density_valley", (("bounds", [0.3, 0.6]), ("fallback", 0.45)))
    gate = AdaptiveRectangleGate((Dimension("CD19"),), (rule,), (None,))
    assert gate.needs_fit and "density_valley" in gate.describe()
    fitted = gate.fit(_values(np.random.default_rng(1))[:1])
    assert fitted.kind == "rectangle" and 0.3 <= fitted.mins[0] <= 0.6 and fitted.maxs == (None,)
    record = fitted.to_dict()["fits"][0]
    assert record["method"] == "density_valley" and not record["used_fallback"]
    assert gate_from_dict(gate.to_dict()) == gate
    again = gate_from_dict(fitted.to_dict())  # the static gate reads back (without the records)
    assert again.kind == "rectangle" and again.mins == fitted.mins and again.dimensions == fitted.dimensions
    with pytest.raises(GateError, match="no data-driven bound"):
        AdaptiveRectangleGate((Dimension("CD19"),), (0.1,), (None,))
    with pytest.raises(GateError, match="unknown option"):
        ThresholdRule("quantile", (("q", 0.5), ("side", "left")))
    with pytest.raises(GateError, match="needs q"):
        ThresholdRule("quantile")


def test_adaptive_quadrant_fits_each_divider():
    dividers = (AdaptiveDivider("X", Dimension("X"), ThresholdRule("density_valley")),
                Divider("Y", Dimension("Y"), (0.5,)))
    gate = AdaptiveQuadrantGate("Q", dividers, (("X", 1), ("Y", 0)))
    values = _values(np.random.default_rng(2))
    fitted = gate.fit(values)
    lo, hi = fitted.box()
    assert 0.35 < lo[0] < 0.55 and hi[0] == np.inf and lo[1] == -np.inf and hi[1] == 0.5
    assert gate_from_dict(gate.to_dict()) == gate
    mask = gate.evaluate(values, {})
    assert mask.sum() == np.sum((values[0] >= lo[0]) & (values[1] < 0.5))


def test_singlet_and_gmm_kinds():
    rng = np.random.default_rng(3)
    h = rng.uniform(2e4, 1e5, 3000)
    a = h * rng.normal(1.2, 0.03, h.size)
    singlet = SingletGate((Dimension("FSC-A"), Dimension("FSC-H")), k=4, fallback=(1.0, 1.5))
    polygon = singlet.fit(np.vstack([a, h]))
    assert polygon.kind == "polygon" and polygon.evaluate(np.vstack([a, h]), {}).mean() > 0.99
    assert gate_from_dict(singlet.to_dict()) == singlet
    gmm = GmmGate((Dimension("X"), Dimension("Y")), components=4, select="highest", on="X")
    ellipse = gmm.fit(_values(rng))
    assert ellipse.kind == "ellipsoid" and ellipse.mean[0] == pytest.approx(0.7, abs=0.02)
    assert gate_from_dict(gmm.to_dict()) == gmm
    with pytest.raises(GateError, match="not one of its dimensions"):
        GmmGate((Dimension("X"), Dimension("Y")), on="Z")

