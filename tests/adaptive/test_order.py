"""The bucketed order statistics and histogram return exactly numpy's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from cytogate.adaptive.order import median, order_statistics, percentile, quantile, uniform_histogram


def _samples() -> list[np.ndarray]:
    rng = np.random.default_rng(18)
    cytometry_like = np.concatenate([rng.normal(1.1, 0.05, 60_000), rng.uniform(0.5, 40, 3_000)])
    rng.shuffle(cytometry_like)
    return [
        rng.normal(size=20_001),                                   # odd length
        rng.normal(size=20_000),                                   # even length
        cytometry_like,                                            # a narrow peak and a long tail
        np.round(rng.normal(size=30_000), 1),                      # many ties
        np.concatenate([np.zeros(25_000), rng.uniform(size=10)]),  # almost all equal
        np.full(12_000, 3.25),                                     # all equal
        rng.lognormal(0, 3, size=40_000),                          # a crowded bucket split again
        np.concatenate([rng.normal(size=10_000), [-1e307, 1e307]]),  # a range too wide to bucket
        rng.normal(size=500),                                      # small: numpy's selection
        np.concatenate([np.zeros(9_000), rng.uniform(size=40)]),   # small with a crowded bucket
        rng.normal(size=300_001),                                  # beyond the one-call selection
        *(rng.normal(size=n) for n in (1, 2, 3, 8)),               # a handful of values
    ]


@pytest.mark.parametrize("x", _samples(), ids=lambda x: f"n{x.size}")
def test_median_percentile_quantile_equal_numpy(x):
    assert median(x) == np.median(x)
    p = [0.0, 0.05, 25.0, 50.0, 75.0, 99.95, 100.0]
    assert np.array_equal(percentile(x, p), np.percentile(x, p))
    q = np.array([0.0, 1e-4, 0.2, 0.5, 0.8, 0.9999, 1.0])
    assert np.array_equal(quantile(x, q), np.quantile(x, q))
    many = np.linspace(0.0, 1.0, 13)  # more than the scalar path takes
    assert np.array_equal(quantile(x, many), np.quantile(x, many))
    ranks = np.array([0, x.size // 3, x.size - 1])
    assert np.array_equal(order_statistics(x, ranks), np.sort(x)[ranks])


@pytest.mark.parametrize("x", _samples()[:7] + _samples()[8:], ids=lambda x: f"n{x.size}")
def test_uniform_histogram_equals_numpy(x):
    lo, hi = np.percentile(x, [1.0, 99.0])
    for bins, (a, b) in ((1024, (lo, hi)), (7, (float(x.min()), float(x.max()))), (256, (lo - 1.0, lo - 0.5))):
        counts, edges = uniform_histogram(x, bins, a, b)
        want_counts, want_edges = np.histogram(x, bins=bins, range=(a, b))
        assert np.array_equal(counts, want_counts) and np.array_equal(edges, want_edges)
        assert counts.dtype == want_counts.dtype


@pytest.mark.parametrize("bins, lo, hi", [(60, 0.1, 0.7), (1024, -3.7, 12.9), (1024, 0.2871, 0.9413)])
@pytest.mark.parametrize("repeats", [1, 40])  # a few thousand values and tens of thousands
def test_values_on_bin_edges_fall_as_in_numpy(repeats, bins, lo, hi):
    edges = np.linspace(lo, hi, bins + 1)
    x = np.concatenate([np.repeat(edges, 2 * repeats), np.nextafter(edges, -np.inf).repeat(repeats),
                        np.nextafter(edges, np.inf).repeat(repeats)])
    counts, _ = uniform_histogram(x, bins, lo, hi)
    assert np.array_equal(counts, np.histogram(x, bins=bins, range=(lo, hi))[0])


def test_quantiles_and_std_are_numpys_to_the_bit():
    """The density's probe summary in one compiled call: np.quantile and np.std exactly."""
    from cytogate.adaptive.order import quantiles_and_std

    rng = np.random.default_rng(17)
    q = np.true_divide(np.array([0.05, 25.0, 75.0, 99.95]), 100)
    for trial in range(600):
        n = int(rng.integers(1, 40_000 if trial % 10 else 300_000))
        kind = trial % 4
        if kind == 0:
            x = rng.normal(rng.random() * 4, 0.01 + rng.random(), n)
        elif kind == 1:  # ties
            x = np.round(rng.normal(size=n) * 4) / 4
        elif kind == 2:  # two modes far apart, a long tail
            x = np.concatenate([rng.normal(0, 0.1, n // 2), rng.lognormal(2, 1, n - n // 2)])
        else:
            x = rng.random(n) * 10.0 ** rng.integers(-6, 7)
        stride = int(rng.integers(1, 4))
        probe = x[::stride]
        found, spread = quantiles_and_std(probe, q)
        assert np.array_equal(found, np.quantile(probe, q)), (trial, n)
        assert spread == float(np.std(probe)), (trial, n)
