"""Followed gates against the synthetic truth: drift recovered, no loss without drift, depletion guarded."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("SimpleITK", reason="template following needs the 'follow' extra")
pytest.importorskip("skimage", reason="template following needs the 'follow' extra")
from follow_helpers import EVENTS, TEMPLATE, as_sample, f1

import cytogate
from cytogate.synth import synthesize_sample
from cytogate.synth.sample import truth_membership


@pytest.fixture(scope="module")
def template():
    return cytogate.load_strategy(TEMPLATE)


@pytest.fixture(scope="module")
def reference_synthetic():
    return synthesize_sample("lupus_pd", EVENTS, seed=1)


@pytest.fixture(scope="module")
def reference(template, reference_synthetic):
    from cytogate.follow import Reference

    return Reference(template, as_sample(reference_synthetic))


# Markers moved by up to +-0.2 on the logicle scale (factor 10**(0.2 * 4.5) ~ 8 is 0.2) and
# scatter gains of 0.8-1.25.
DRIFTS = {
    "dim T, bright B, scatter down": "fsc=0.8,ssc=1.25,CD3=0.2,CD19=6,CD4=0.15,CD8=7,CD268=0.35,CD25=2.5",
    "bright T, dim B, scatter up": "fsc=1.25,ssc=0.8,CD3=7,CD19=0.2,CD4=6,CD8=0.15,CD268=4,CD127=0.3,Live/Dead=3",
    "moderate": "fsc=1.15,ssc=1.2,CD3=2,CD19=3,CD4=0.5,CD8=2,CD25=0.5,CD127=2",
}
# Sampling noise between two draws of the same gate: what "not worse" allows.
NOISE = 0.005


def _scores(template, reference, synthetic):
    sample = as_sample(synthetic)
    truth = truth_membership(synthetic)
    static = cytogate.gate(template, sample)
    followed = cytogate.gate(template, sample, follow=reference)
    out = {}
    for pop in template.populations:
        if pop.name in truth:
            out[pop.name] = (f1(static.masks[pop.path], truth[pop.name]),
                             f1(followed.masks[pop.path], truth[pop.name]))
    return out, followed


@pytest.mark.parametrize("drift", sorted(DRIFTS))
def test_followed_gates_recover_what_the_static_template_loses(template, reference, drift):
    scores, result = _scores(template, reference, synthesize_sample("lupus_pd", EVENTS, seed=11,
                                                                      shift=DRIFTS[drift]))
    lost = {name: s for name, (s, _) in scores.items() if s < 0.97}
    assert lost, "the drift must hurt the static template, or the test proves nothing"
    for name, (static, followed) in scores.items():
        assert followed >= static - NOISE, (name, static, followed)
        assert followed >= 0.97, (name, static, followed)
    assert all(g.status == "followed" for g in result.follow)


def test_undrifted_sample_is_never_gated_worse(template, reference):
    scores, _ = _scores(template, reference, synthesize_sample("lupus_pd", EVENTS, seed=7))
    for name, (static, followed) in scores.items():
        assert followed >= static - NOISE, (name, static, followed)


def test_depleted_population_stays_put_or_is_flagged(template, reference):
    synthetic = synthesize_sample("lupus_pd", EVENTS, seed=5, shift="fsc=1.1",
                                  frequencies={"B cells": 0.03})
    scores, result = _scores(template, reference, synthetic)
    gates = {g.path.rsplit("/", 1)[1]: g for g in result.follow}
    b_cells = gates["B cells"]
    if b_cells.status == "followed":  # moved with the whole parent's structure, not onto the T cells
        assert b_cells.gate.mins[1] == pytest.approx(b_cells.template.mins[1], abs=0.05)
        assert b_cells.gate.maxs[0] == pytest.approx(b_cells.template.maxs[0], abs=0.05)
    else:
        assert b_cells.status == "fallback" and b_cells.gate is b_cells.template
        assert "confidence" in b_cells.reason
    # whatever it did, the few B cells are still what it gates, and no T cell
    path = next(p.path for p in template.populations if p.name == "B cells")
    t_truth = truth_membership(synthetic)["T cells"]
    assert not np.any(result.masks[path] & t_truth)
    assert scores["T cells"][1] >= 0.99


def test_reference_onto_itself_is_the_identity(template, reference, reference_synthetic):
    sample = as_sample(reference_synthetic)
    static = cytogate.gate(template, sample)
    followed = cytogate.gate(template, sample, follow=reference)
    assert static.count_rows() == followed.count_rows()
    for record in followed.follow:
        assert record.status == "followed" and record.confidence == 1.0
        assert record.gate == record.template


def test_where_each_gate_landed_is_in_the_result(template, reference):
    sample = as_sample(synthesize_sample("lupus_pd", EVENTS, seed=11, shift=DRIFTS["moderate"]))
    result = cytogate.gate(template, sample, follow=reference)
    followed = [g for g in result.follow if g.status == "followed"]
    assert len(followed) == len(template.populations)
    for record in followed:
        assert result.fitted[record.path] == record.gate.to_dict()
        assert 0.0 <= record.confidence <= 1.0
    moved = result.fitted_strategy()  # the followed gates, static: re-applying them is exact
    again = cytogate.gate(moved, sample)
    assert again.count_rows() == result.count_rows()


def test_following_is_deterministic(template, reference_synthetic):
    from cytogate.follow import Reference

    sample = as_sample(synthesize_sample("lupus_pd", EVENTS, seed=11, shift=DRIFTS["moderate"]))
    one = cytogate.gate(template, sample, follow=Reference(template, as_sample(reference_synthetic)))
    two = cytogate.gate(template, sample, follow=Reference(template, as_sample(reference_synthetic)))
    assert [g.gate.to_dict() for g in one.follow] == [g.gate.to_dict() for g in two.follow]
    assert [g.confidence for g in one.follow] == [g.confidence for g in two.follow]
