"""Held-out check: a generator and panel independent of cytogate's own synthetic samples.

Nothing here comes from :mod:`cytogate.synth`: a small generator of its own
(two scatter clusters, debris, doublets, four markers named ``mk1``..``mk4`` on
channels ``FL1-A``..``FL4-A``, no spillover), a template of eight static gates
(polygons, an ellipse, a rectangle, a quadrant, ranges) drawn on an undrifted
reference, and eight targets with scatter gain 0.8-1.25x and every marker
shifted by up to +-0.2 on the logicle scale.  Scored: F1 against the
generator's labels for 8 samples x 8 populations = 64 pairs.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("SimpleITK", reason="template following needs the 'follow' extra")
pytest.importorskip("skimage", reason="template following needs the 'follow' extra")
from follow_helpers import f1

import cytogate
from cytogate.fcs import Sample
from cytogate.follow import Reference
from cytogate.transforms import from_params

CHANNELS = ["FSC-A", "FSC-H", "SSC-A", "FL1-A", "FL2-A", "FL3-A", "FL4-A"]
MARKERS = [None, None, None, "mk1", "mk2", "mk3", "mk4"]
N_EVENTS = 30_000
LOGICLE = from_params("logicle", t=262144, w=0.5, m=4.5, a=0)

TEMPLATE = """
cytogate_strategy: 1
name: held-out panel
compensation: none
transform: {logicle: {T: 262144, W: 0.5, M: 4.5, A: 0}}
scatter_transform: none
populations:
  Cells:
    polygon: {x: FSC-A, y: SSC-A, vertices: [[30000, 0], [250000, 0], [250000, 250000], [30000, 250000]]}
  Singlets:
    parent: Cells
    polygon: {x: FSC-A, y: FSC-H, vertices: [[0, 0], [250000, 175000], [250000, 245000], [0, 40000]]}
  Small:
    parent: Singlets
    ellipse: {x: FSC-A, y: SSC-A, mean: [62000, 30000], covariance: [[5.0e7, 0], [0, 2.6e7]], distance_square: 9}
  Large:
    parent: Singlets
    rectangle: {FSC-A: {min: 106000, max: 178000}, SSC-A: {min: 80000, max: 152000}}
  Split:
    parent: Small
    quadrant:
      dividers: {mk1: 0.43, mk2: 0.43}
      populations: {mk1+mk2-: P1, mk1-mk2+: P2}
  P1a:
    parent: P1
    range: {mk3: {min: 0.455}}
  L4:
    parent: Large
    range: {mk4: {min: 0.47}}
"""
SCORED = ("Cells", "Singlets", "Small", "Large", "P1", "P2", "P1a", "L4")


def _logicle_values(rng, centre, sd, n):
    return rng.normal(centre, sd, n)


def generate(seed: int, *, gain: float = 1.0, shifts=(0.0, 0.0, 0.0, 0.0)):
    """Events (scale values) and per-event labels of one sample; drift is applied after the labels."""
    rng = np.random.default_rng(seed)
    n = N_EVENTS
    kind = rng.choice(["debris", "small", "large"], size=n, p=[0.08, 0.62, 0.30])
    doublet = (kind != "debris") & (rng.random(n) < 0.07)
    fsc = np.where(kind == "small", rng.normal(62000, 7000, n), rng.normal(140000, 14000, n))
    ssc = np.where(kind == "small", rng.normal(30000, 5000, n), rng.normal(115000, 14000, n))
    fsc = np.where(kind == "debris", rng.uniform(2000, 22000, n), fsc)
    ssc = np.where(kind == "debris", rng.uniform(500, 60000, n), ssc)
    fsc_h = fsc * np.where(doublet, rng.normal(0.5, 0.03, n), rng.normal(0.84, 0.025, n))
    fsc = np.where(doublet, fsc * 1.35, fsc)
    # markers on the logicle scale: small cells split into mk1+ (P1), mk2+ (P2) and double negatives
    sub = rng.choice(["P1", "P2", "DN"], size=n, p=[0.45, 0.35, 0.20])
    mk1 = np.where(sub == "P1", 0.62, 0.25) + rng.normal(0, 0.05, n)
    mk2 = np.where(sub == "P2", 0.61, 0.26) + rng.normal(0, 0.05, n)
    p1a = (sub == "P1") & (rng.random(n) < 0.4)
    mk3 = np.where(p1a, 0.64, 0.27) + rng.normal(0, 0.05, n)
    l4 = (kind == "large") & (rng.random(n) < 0.55)
    mk4 = np.where(l4, 0.66, 0.28) + rng.normal(0, 0.05, n)
    small = kind == "small"
    marker_scale = np.column_stack([mk1, mk2, mk3, mk4]) + np.asarray(shifts)[None, :]
    raw = np.column_stack([fsc * gain, fsc_h * gain, ssc * gain, LOGICLE.inverse(marker_scale)])
    cells = kind != "debris"
    singlets = cells & ~doublet
    truth = {
        "Cells": cells, "Singlets": singlets, "Small": singlets & small, "Large": singlets & (kind == "large"),
        "P1": singlets & small & (sub == "P1"), "P2": singlets & small & (sub == "P2"),
        "P1a": singlets & small & p1a, "L4": singlets & l4,
    }
    return Sample.from_arrays(raw.astype(np.float32), CHANNELS, markers=MARKERS), truth


def _drifts(count=8, seed=2024):
    rng = np.random.default_rng(seed)
    return [(float(rng.uniform(0.8, 1.25)), tuple(float(v) for v in rng.uniform(-0.2, 0.2, 4)))
            for _ in range(count)]


@pytest.fixture(scope="module")
def scores():
    strategy = cytogate.load_strategy(TEMPLATE)
    reference = Reference(strategy, generate(1)[0])
    by_path = {p.name: p.path for p in strategy.populations}
    static, followed = {}, {}
    for k, (gain, shifts) in enumerate(_drifts()):
        sample, truth = generate(100 + k, gain=gain, shifts=shifts)
        plain = cytogate.gate(strategy, sample)
        moved = cytogate.gate(strategy, sample, follow=reference)
        for name in SCORED:
            static[(k, name)] = f1(plain.masks[by_path[name]], truth[name])
            followed[(k, name)] = f1(moved.masks[by_path[name]], truth[name])
    return static, followed


def test_the_drift_hurts_the_static_template(scores):
    static, _ = scores
    assert sum(v < 0.95 for v in static.values()) >= 10  # else the check below proves nothing


def test_followed_gates_meet_the_held_out_targets(scores):
    static, followed = scores
    values = np.array(list(followed.values()))
    assert len(values) == 64
    assert np.median(values) >= 0.97
    assert int(np.sum(values < 0.95)) <= 2
    assert values.min() >= 0.90


def test_no_population_is_worse_than_the_static_template(scores):
    static, followed = scores
    for name in SCORED:
        s = np.mean([v for (k, n), v in static.items() if n == name])
        f = np.mean([v for (k, n), v in followed.items() if n == name])
        assert f >= s - 0.005, (name, s, f)
