"""Logicle: exact against flowutils (oracle) and the flowCore summaries in the corpus."""

from __future__ import annotations

import json
import math

import flowutils.transforms as fu
import numpy as np
import pytest
from conftest import corpus_path

from cytogate.transforms import AsinhTransform, LogicleTransform
from cytogate.transforms._biexp import solve_logicle_d

PARAMS = [
    (262144.0, 0.5, 4.5, 0.0),
    (262144.0, 1.0, 4.418539922, 0.0),  # the 8-colour FlowJo export
    (262144.0, 0.5, 4.5, 2.0),  # flowCore logicletGml2(A = 2)
    (10000.0, 0.5, 4.5, 0.0),  # Gating-ML compliance
    (10000.0, 1.0, 4.0, 0.5),
    (10000.0, 0.5, 4.5, -0.5),  # A = -W
    (1024.0, 2.0, 4.0, 0.0),  # W = M/2
]


def wide_range() -> np.ndarray:
    """Values over the whole range: far below -W decades, near zero, around and above T."""
    rng = np.random.default_rng(3)
    magnitudes = 10.0 ** rng.uniform(-9, 7.5, 40_000)
    return np.concatenate(
        [magnitudes, -magnitudes, rng.normal(0, 100, 10_000), [0.0, 5e-324, -5e-324, 1e-300, 262144.0, -262144.0]]
    )


def flowutils_logicle(x: np.ndarray, t: float, w: float, m: float, a: float) -> np.ndarray:
    return fu.logicle(x.reshape(-1, 1).copy(), [0], t=t, w=w, m=m, a=a).ravel()


@pytest.mark.parametrize("t,w,m,a", PARAMS)
def test_matches_flowutils_to_1e9(t: float, w: float, m: float, a: float) -> None:
    x = wide_range()
    y = LogicleTransform(t, w, m, a).apply(x)
    ref = flowutils_logicle(x, t, w, m, a)
    assert np.max(np.abs(y - ref)) <= 1e-9
    assert y.min() < -0.5  # the test really reaches far below zero


@pytest.mark.parametrize("t,w,m,a", PARAMS)
def test_table_matches_exact_solver(t: float, w: float, m: float, a: float) -> None:
    x = wide_range()
    tr = LogicleTransform(t, w, m, a)
    exact = np.empty_like(x)
    tr._core.forward_exact_into(x, exact)
    assert np.max(np.abs(tr.apply(x) - exact)) <= 1e-10


@pytest.mark.parametrize("t,w,m,a", PARAMS)
def test_every_table_piece_at_its_midpoint(t: float, w: float, m: float, a: float) -> None:
    """Hermite error peaks mid-piece: check the middle of every piece of the table."""
    tr = LogicleTransform(t, w, m, a)
    core = tr._core
    n_pieces = core._table.shape[0]
    starts = (np.arange(n_pieces + 1, dtype=np.int64) + core._key0) << 45  # bit patterns of piece starts
    edges = starts.view(np.float64)
    mid = np.concatenate([(edges[:-1] + edges[1:]) / 2, [core._small / 2, edges[-1] * 3]])  # + below/above table
    x = np.concatenate([mid, -mid])
    exact = np.empty_like(x)
    core.forward_exact_into(x, exact)
    assert np.max(np.abs(tr.apply(x) - exact)) <= 1e-10


@pytest.mark.parametrize("t,w,m,a", PARAMS)
def test_inverse_matches_flowutils(t: float, w: float, m: float, a: float) -> None:
    y = np.linspace(-0.5, 1.5, 20_001)
    x = LogicleTransform(t, w, m, a).inverse(y)
    ref = fu.logicle_inverse(y.reshape(-1, 1).copy(), [0], t=t, w=w, m=m, a=a).ravel()
    np.testing.assert_allclose(x, ref, rtol=1e-9, atol=1e-9)


def test_defining_points() -> None:
    t, w, m, a = 262144.0, 0.5, 4.5, 0.0
    tr = LogicleTransform(t, w, m, a)
    x1 = (w + a) / (m + a)
    assert tr.apply(0.0) == x1
    assert tr.apply(t) == pytest.approx(1.0, abs=1e-12)
    # point symmetry about zero
    x = np.array([0.1, 3.0, 250.0, 7e4])
    np.testing.assert_allclose(tr.apply(-x), 2 * x1 - tr.apply(x), rtol=0, atol=1e-12)


def test_logicle_d_equation() -> None:
    for b, w in [(10.36, 0.111), (4.6, 0.5), (20.0, 0.01), (10.0, 0.0)]:
        d = solve_logicle_d(b, w)
        assert 0 < d <= b
        if w > 0:
            assert 2 * (math.log(d) - math.log(b)) + w * (b + d) == pytest.approx(0.0, abs=1e-12)


def test_w_zero_is_fasinh() -> None:
    # Gating-ML: fasinh(T, M, A) is logicle(T, 0, M, A).
    x = wide_range()
    x = x[np.abs(x) < 1e12]
    np.testing.assert_allclose(
        LogicleTransform(10000.0, 0.0, 4.0, 1.0).apply(x), AsinhTransform(10000.0, 4.0, 1.0).apply(x),
        rtol=0, atol=1e-9,
    )


def _fl1h_060909_001() -> np.ndarray:
    import cytogate

    return np.asarray(cytogate.read_fcs(corpus_path("RGLab+flowCore/inst/extdata/compdata/data/060909.001")).column("FL1-H"))


def r_summary(values: np.ndarray) -> list[float]:
    """R's summary() as stored in expectResults: min, quartiles (type 7), mean, max to 4 significant digits."""
    q1, med, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    return [float(f"{v:.4g}") for v in (values.min(), q1, med, values.mean(), q3, values.max())]


@pytest.mark.corpus
def test_flowcore_logicle_summaries() -> None:
    truth = json.loads(corpus_path("truth/flowCore_expectResults_transform.json").read_text())
    y = LogicleTransform(t=262144.0, w=0.5, m=4.5, a=2.0).apply(_fl1h_060909_001())
    # logicletGml2("FL1-H", A = 2): the Gating-ML scale
    assert r_summary(y) == truth["logicleGml2"]["values"]
    # logicleTransform(a = 2): the same scale in decades (times M = 4.5)
    assert r_summary(4.5 * y) == truth["logicle"]["values"]
