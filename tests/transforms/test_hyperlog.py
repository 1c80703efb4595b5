"""Hyperlog: exact against flowutils (oracle) and flowCore's hyperlogGml2 summary."""

from __future__ import annotations

import json

import flowutils.transforms as fu
import numpy as np
import pytest
from conftest import corpus_path

from cytogate.transforms import HyperlogTransform

PARAMS = [
    (262144.0, 0.5, 4.5, 0.0),
    (10000.0, 1.0, 4.5, 0.0),  # Gating-ML compliance
    (262144.0, 0.5, 4.5, 2.0),
    (10000.0, 0.5, 4.5, -0.5),
    (1024.0, 2.0, 4.0, 0.0),
]


def wide_range() -> np.ndarray:
    rng = np.random.default_rng(5)
    magnitudes = 10.0 ** rng.uniform(-9, 7.5, 40_000)
    return np.concatenate([magnitudes, -magnitudes, rng.normal(0, 100, 10_000), [0.0, 1e-300, -1e-300]])


@pytest.mark.parametrize("t,w,m,a", PARAMS)
def test_matches_flowutils_to_1e9(t: float, w: float, m: float, a: float) -> None:
    x = wide_range()
    y = HyperlogTransform(t, w, m, a).apply(x)
    ref = fu.hyperlog(x.reshape(-1, 1).copy(), [0], t=t, w=w, m=m, a=a).ravel()
    assert np.max(np.abs(y - ref)) <= 1e-9
    assert y.min() < -0.5


@pytest.mark.parametrize("t,w,m,a", PARAMS)
def test_table_matches_exact_solver(t: float, w: float, m: float, a: float) -> None:
    x = wide_range()
    tr = HyperlogTransform(t, w, m, a)
    exact = np.empty_like(x)
    tr._core.forward_exact_into(x, exact)
    assert np.max(np.abs(tr.apply(x) - exact)) <= 1e-10


@pytest.mark.parametrize("t,w,m,a", PARAMS)
def test_inverse_matches_flowutils_and_definition(t: float, w: float, m: float, a: float) -> None:
    y = np.linspace(-0.5, 1.5, 20_001)
    x = HyperlogTransform(t, w, m, a).inverse(y)
    ref = fu.hyperlog_inverse(y.reshape(-1, 1).copy(), [0], t=t, w=w, m=m, a=a).ravel()
    np.testing.assert_allclose(x, ref, rtol=1e-9, atol=1e-9)
    # the Gating-ML definition written out: EH(y) = a e^(by) + c y - f above x1
    total = m + a
    wn, x2 = w / total, a / total
    x1, x0, b = x2 + wn, x2 + 2 * wn, total * np.log(10)
    ca = np.exp(b * x0) / wn
    fa = np.exp(b * x1) + ca * x1
    aa = t / (np.exp(b) + ca - fa)
    upper = y >= x1
    eh = aa * np.exp(b * y[upper]) + ca * aa * y[upper] - fa * aa
    np.testing.assert_allclose(x[upper], eh, rtol=1e-9, atol=1e-9 * t)


@pytest.mark.corpus
def test_flowcore_hyperlog_gml2_summary() -> None:
    import cytogate

    truth = json.loads(corpus_path("truth/flowCore_expectResults_transform.json").read_text())
    sample = cytogate.read_fcs(corpus_path("RGLab+flowCore/inst/extdata/compdata/data/060909.001"))
    y = HyperlogTransform(t=262144.0, w=0.5, m=4.5, a=0.0).apply(np.asarray(sample.column("FL1-H")))
    assert r_summary(y) == truth["hyperlogGml2"]["values"]


def r_summary(values: np.ndarray) -> list[float]:
    """R's summary() as stored in expectResults: min, quartiles (type 7), mean, max to 4 significant digits."""
    q1, med, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    return [float(f"{v:.4g}") for v in (values.min(), q1, med, values.mean(), q3, values.max())]
