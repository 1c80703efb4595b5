"""flin, flog and fasinh against their Gating-ML 2.0 formulas, and flowCore's biexponential."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import corpus_path

from cytogate.transforms import AsinhTransform, LinearTransform, LogTransform

X = np.array([-1e4, -500.0, -1.0, 0.0, 1e-3, 1.0, 37.5, 500.0, 1e4, 2.6e5])


def test_flin_formula() -> None:
    tr = LinearTransform(t=10000.0, a=500.0)
    np.testing.assert_allclose(tr.apply(X), (X + 500.0) / 10500.0, rtol=1e-15, atol=1e-16)
    assert tr.apply(-500.0) == 0.0 and tr.apply(10000.0) == 1.0


def test_flog_formula_and_domain() -> None:
    tr = LogTransform(t=10000.0, m=5.0)
    positive = X[X > 0]
    np.testing.assert_allclose(tr.apply(positive), np.log10(positive / 10000.0) / 5.0 + 1.0, rtol=1e-14)
    y = tr.apply(np.array([-1.0, 0.0]))
    assert np.isnan(y[0]) and y[1] == -np.inf
    assert tr.apply(0.1) == pytest.approx(0.0)  # M decades below T
    np.testing.assert_allclose(tr.inverse([0.0, 0.5, 1.0]), [0.1, 10**1.5, 1e4], rtol=1e-14)


def test_fasinh_formula() -> None:
    t, m, a = 10000.0, 4.0, 1.0
    tr = AsinhTransform(t=t, m=m, a=a)
    ln10 = math.log(10)
    expected = (np.arcsinh(X * math.sinh(m * ln10) / t) + a * ln10) / ((m + a) * ln10)
    np.testing.assert_allclose(tr.apply(X), expected, rtol=1e-14, atol=1e-15)
    assert tr.apply(0.0) == pytest.approx(a / (m + a))


@pytest.mark.corpus
def test_flowcore_biexponential_summary() -> None:
    """flowCore's default biexponentialTransform (a=c=0.5, b=d=1) is asinh(x): fasinh rescaled."""
    import cytogate

    truth = json.loads(corpus_path("truth/flowCore_expectResults_transform.json").read_text())
    sample = cytogate.read_fcs(corpus_path("RGLab+flowCore/inst/extdata/compdata/data/060909.001"))
    m = 1.0
    tr = AsinhTransform(t=math.sinh(m * math.log(10)), m=m, a=0.0)  # y = asinh(x) / (M ln 10)
    y = tr.apply(np.asarray(sample.column("FL1-H"))) * m * math.log(10)
    assert r_summary(y) == truth["biexponential"]["values"]


def r_summary(values: np.ndarray) -> list[float]:
    """R's summary() as stored in expectResults: min, quartiles (type 7), mean, max to 4 significant digits."""
    q1, med, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    return [float(f"{v:.4g}") for v in (values.min(), q1, med, values.mean(), q3, values.max())]
