"""A fit is a valley or it is not a fit: each failure class falls back, says why and warns."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from cytogate.adaptive import density_valley, mode_offset_threshold, tail_threshold
from cytogate.adaptive.specs import ThresholdRule
from cytogate.errors import GateError


def _scatter(rng, lymph=0.798, mono=0.88, n=20000):
    """Log side scatter as on the instrument of the report: lymphocytes at 0.798, monocytes above."""
    return np.r_[rng.normal(lymph, 0.02, int(n * 0.75)), rng.normal(mono, 0.02, int(n * 0.25))]


def test_true_valley_outside_the_bounds_is_a_fallback_not_an_edge_fit(caplog):
    x = _scatter(np.random.default_rng(0))
    with caplog.at_level(logging.WARNING, logger="cytogate.adaptive"):
        fit = density_valley(x, bounds=(0.72, 0.80), fallback=0.765, what="/Live/Lymphocytes")
    assert fit.status == "fallback" and fit.params["threshold"] == 0.765 and fit.confidence == 0.0
    assert "no valley strictly inside bounds" in fit.reason
    assert "/Live/Lymphocytes" in caplog.text and "fallback 0.765" in caplog.text


def test_valley_located_by_mode_role_follows_the_instrument():
    for lymph, mono in ((0.798, 0.88), (0.70, 0.82), (0.85, 0.93)):
        x = _scatter(np.random.default_rng(1), lymph, mono)
        fit = density_valley(x, above_mode="lowest", mode_mass=0.2)
        assert fit.status == "fitted" and lymph + 0.02 < fit.params["threshold"] < mono - 0.02
        assert 0.3 < fit.confidence <= 1.0
        assert fit.diagnostics["masses"][0] == pytest.approx(0.75, abs=0.05)


def test_quantile_bounds_are_relative_to_the_parent():
    rng = np.random.default_rng(2)
    x = np.r_[rng.normal(0.1, 0.03, 1000), rng.normal(0.6, 0.05, 9000)]  # 10% debris
    assert 0.2 < density_valley(x, quantile_bounds=(0.0, 0.3)).params["threshold"] < 0.45
    assert density_valley(x, quantile_bounds=(0.5, 1.0), fallback=0.0).status == "fallback"


def test_shallow_valley_and_tiny_mode_are_no_fit():
    rng = np.random.default_rng(3)
    shoulder = np.r_[rng.normal(0.3, 0.08, 8000), rng.normal(0.5, 0.08, 4000)]  # overlapping: a dip at most
    fit = density_valley(shoulder, min_depth=0.5, fallback=0.4)
    assert fit.status == "fallback" and ("shallow" in fit.reason or "mode" in fit.reason)
    speck = np.r_[rng.normal(0.3, 0.03, 10000), rng.normal(0.8, 0.01, 30)]  # 0.3% of events
    fit = density_valley(speck, fallback=0.6)
    assert fit.status == "fallback" and "1 density mode" in fit.reason


def test_one_mode_marker_gets_a_tail_cut_through_otherwise():
    rng = np.random.default_rng(4)
    x = np.r_[rng.normal(0.3, 0.05, 9000), rng.normal(0.45, 0.08, 1000)]  # a shoulder of positives, no valley
    rule = ThresholdRule("density_valley", (("fallback", 0.45), ("otherwise", {"method": "tail", "fraction": 0.05})))
    fit = rule.fit(x, what="CD38")
    assert fit.status == "fitted" and fit.method == "tail" and "density_valley" in fit.reason
    cut = fit.params["threshold"]
    assert 0.4 < cut < 0.65 and np.mean(x > cut) < 0.12
    knee = tail_threshold(x, fraction=0.05, knee=True)
    assert 0.35 < knee.params["threshold"] < 0.7


def test_min_separation_tells_a_negative_mode_from_a_dim_one():
    rng = np.random.default_rng(8)
    bright = rng.normal(0.75, 0.04, 8000)
    negative = np.r_[bright, rng.normal(0.11, 0.05, 1000)]  # 1.4 decades and more below: not leukocytes
    dim = np.r_[bright, rng.normal(0.6, 0.02, 1000)]  # CD45-dim cells: a mode of their own, close by
    rule = {"below_mode": "largest", "min_mass": 0.03, "min_depth": 0.5, "min_separation": 0.3, "fallback": 0.0}
    fit = density_valley(negative, **rule)
    assert fit.status == "fitted" and 0.2 < fit.params["threshold"] < 0.55
    fit = density_valley(dim, **rule)
    assert fit.status == "fallback" and "apart" in fit.reason
    assert density_valley(dim, **{**rule, "min_separation": 0.0}).status == "fitted"  # the check decides


def test_tail_min_mass_walks_through_small_modes():
    rng = np.random.default_rng(9)
    x = np.r_[rng.normal(0.75, 0.04, 8000), rng.normal(0.6, 0.015, 1000)]  # a 11% mode on the left flank
    stops = tail_threshold(x, side="left", fraction=0.001, mode="largest", mode_mass=0.2)
    walks = tail_threshold(x, side="left", fraction=0.001, mode="largest", mode_mass=0.2, min_mass=0.2)
    assert 0.6 < stops.params["threshold"] < 0.7  # the valley before the small mode
    assert walks.params["threshold"] < 0.56 and np.mean(x >= walks.params["threshold"]) > 0.999
    with pytest.raises(GateError, match="min_mass"):
        tail_threshold(x, min_mass=1.0)


def test_rule_fallback_may_itself_be_relative():
    x = np.random.default_rng(5).normal(0.3, 0.05, 5000)
    rule = ThresholdRule.from_dict({"method": "density_valley",
                                    "fallback": {"method": "mode_offset", "spread": 3.0}})
    fit = rule.fit(x, what="Live/Dead")
    assert fit.status == "fallback" and fit.method == "mode_offset"
    assert fit.params["threshold"] == pytest.approx(0.3 + 3 * 0.05, abs=0.03)
    assert ThresholdRule.from_dict(rule.to_dict()) == rule


def test_mode_offset_and_its_bounds():
    x = np.random.default_rng(6).normal(2.0, 0.1, 5000)
    assert mode_offset_threshold(x, offset=0.5).params["threshold"] == pytest.approx(2.5, abs=0.02)
    assert mode_offset_threshold(x, spread=2, side="left").params["threshold"] == pytest.approx(1.8, abs=0.03)
    assert mode_offset_threshold(x, offset=0.5, bounds=(0, 2.2), fallback=1.0).status == "fallback"


def test_no_fallback_anywhere_is_an_error():
    rule = ThresholdRule.from_dict({"method": "density_valley", "otherwise": {"method": "quantile", "q": 0.5,
                                                                             "bounds": [5, 6]}})
    fit = rule.fit(np.random.default_rng(7).normal(0, 1, 1000), what="X")
    assert fit.status == "fitted" and fit.params["threshold"] == 5  # a clipped quantile still lands
    with pytest.raises(GateError, match="no fallback"):
        ThresholdRule("density_valley", (("otherwise", {"method": "tail", "bounds": [5, 6]}),)).fit(
            np.random.default_rng(7).normal(0, 1, 1000), what="X")


@pytest.mark.parametrize("bad, message", [
    ({"above_mode": "lowest", "below_mode": "highest"}, "not both"),
    ({"above_mode": "left"}, "mode role"),
    ({"quantile_bounds": (0.5, 0.2)}, "quantile_bounds"),
    ({"min_depth": 1.5}, "min_depth"),
    ({"min_separation": -0.1}, "min_separation"),
])
def test_bad_options_are_rejected(bad, message):
    with pytest.raises(GateError, match=message):
        density_valley(np.random.default_rng(0).normal(size=500), **bad)
