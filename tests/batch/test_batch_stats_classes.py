"""The one-pass statistics (membership classes) against one kernel call per population.

Quantiles are exact order statistics either way, so medians, P15.87/P84.13 (hence
robust CVs), counts and positive counts must be bit for bit those of the
per-population kernel; sums (mean, SD, geometric mean) are accumulated in
another order and agree to rounding.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from batch_helpers import make_inputs, write_strategy

import cytogate
from cytogate.batch import stats
from cytogate.batch.stats import intensity_stats, sample_stats_columns, scaled_values


def _columns(rng: np.random.Generator, n: int) -> np.ndarray:
    ties = rng.integers(-3, 5, n).astype(np.float64)  # heavy ties, zeros and negatives
    wide = rng.lognormal(2.0, 3.0, n) * rng.choice([-1.0, 1.0], n, p=[0.3, 0.7])  # geo mean over the positives
    special = rng.normal(50.0, 20.0, n)
    special[rng.random(n) < 0.1] = np.nan
    special[rng.random(n) < 0.02] = np.inf
    special[rng.random(n) < 0.02] = -np.inf
    zeros = np.where(rng.random(n) < 0.5, 0.0, -0.0)  # two zeros that compare equal
    constant = np.full(n, 7.25)
    return np.column_stack([ties, wide, special, zeros, constant])


def _masks(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    a = rng.random(n) < 0.7
    b = a & (rng.random(n) < 0.5)
    c = rng.random(n) < 0.4  # overlaps a and b without nesting
    one = np.zeros(n, bool)
    one[rng.integers(0, n)] = True
    two = np.zeros(n, bool)
    two[rng.choice(n, min(2, n), replace=False)] = True
    return {"/A": a, "/A/B": b, "/C": c, "/A/B/C": b & c, "/empty": np.zeros(n, bool), "/one": one,
            "/two": two, "/odd": a & (np.arange(n) % 3 == 0)}


def _both(values, masks, monkeypatch):
    channels = [f"c{j}" for j in range(values.shape[1])]
    one_pass = intensity_stats(values, channels, masks, sample="s")
    with monkeypatch.context() as patch:
        patch.setattr(stats, "CLASS_LIMIT", 0)  # every population on its own
        per_population = intensity_stats(values, channels, masks, sample="s")
    return one_pass, per_population


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 9, 100, 4001, 200_001])  # the last: bins of >= 256 values
def test_one_pass_equals_per_population(n, dtype, monkeypatch):
    rng = np.random.default_rng(n)
    values = _columns(rng, n).astype(dtype)
    one_pass, per_population = _both(values, _masks(rng, n), monkeypatch)
    assert one_pass[["population", "channel"]].equals(per_population[["population", "channel"]])
    for name in ("n", "n_positive", "median", "robust_cv"):  # picked, not summed: identical bits
        np.testing.assert_array_equal(one_pass[name].to_numpy(), per_population[name].to_numpy(), err_msg=name)
        signs = np.signbit(one_pass[name].to_numpy(float)) == np.signbit(per_population[name].to_numpy(float))
        assert signs.all(), name
    for name in ("mean", "geo_mean", "cv"):
        np.testing.assert_allclose(one_pass[name], per_population[name], rtol=1e-12, atol=1e-300, err_msg=name)
    constant = one_pass[(one_pass.channel == "c4") & (one_pass.n > 1)]
    assert (constant["cv"] == 0.0).all() and (constant["mean"] == 7.25).all()


def test_more_classes_than_the_limit_are_measured_per_population(monkeypatch):
    rng = np.random.default_rng(3)
    n = 3000
    values = _columns(rng, n)
    masks = {f"/P{k}": rng.random(n) < 0.5 for k in range(9)}  # up to 512 classes
    one_pass, per_population = _both(values, masks, monkeypatch)
    with monkeypatch.context() as patch:
        patch.setattr(stats, "CLASS_LIMIT", 16)  # too few: falls back
        limited = intensity_stats(values, [f"c{j}" for j in range(values.shape[1])], masks, sample="s")
    for table in (one_pass, limited):
        np.testing.assert_array_equal(table["median"].to_numpy(), per_population["median"].to_numpy())
        np.testing.assert_array_equal(table["n"].to_numpy(), per_population["n"].to_numpy())


def test_means_are_compensated_sums():
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0.0, 1.0, 20001) * 10.0 ** rng.integers(-8, 9, 20001), [1e16, -1e16]])
    rng.shuffle(x)
    mask = rng.random(x.size) < 0.5
    table = intensity_stats(x[:, None], ["A"], {"/half": mask}, sample="s")
    for population, chosen in (("/", x), ("/half", x[mask])):
        row = table[table.population == population].iloc[0]
        exact = math.fsum(chosen) / chosen.size
        assert row["mean"] == pytest.approx(exact, rel=1e-14, abs=1e-14 * np.abs(chosen).max() / chosen.size)


@pytest.mark.parametrize("n_events", [3000, 40_000])  # one block, and blocks of stats._BLOCK events
@pytest.mark.parametrize("scale", ["raw", "compensated", "transformed"])
def test_streamed_statistics_equal_the_table_of_the_scaled_values(tmp_path, scale, n_events):
    assert n_events < stats._BLOCK or n_events > 2 * stats._BLOCK
    strategy = cytogate.load_strategy(write_strategy(tmp_path))
    sample = cytogate.read_fcs(make_inputs(tmp_path / "fcs", count=1, n=n_events)[0])
    masks = dict(cytogate.gate(strategy, sample).masks)
    channels = [str(c) for c in sample.channels]
    columns = sample_stats_columns(strategy, sample, scale, masks, name="s")
    values, labels = scaled_values(strategy, sample, scale, channels)
    table = intensity_stats(values, channels, masks, sample="s", markers=list(sample.markers), scale=labels)
    assert columns["population"] == table["population"].tolist() and columns["scale"] == table["scale"].tolist()
    for name in ("n", "n_positive", "median", "mean", "geo_mean", "cv", "robust_cv"):
        np.testing.assert_array_equal(np.asarray(columns[name]), table[name].to_numpy(), err_msg=name)


def test_positive_factor_is_the_value_when_positive_else_one():
    import numba

    from cytogate.batch._stats_kernel import positive_factor

    @numba.njit
    def factors(values):
        out = np.empty_like(values)
        for i in range(values.shape[0]):
            out[i] = positive_factor(values[i])
        return out

    values = np.array([2.5, 5e-324, 1e308, np.inf, 0.0, -0.0, -1e-300, -3.0, -np.inf, np.nan])
    expected = np.array([v if v > 0 else 1.0 for v in values])
    np.testing.assert_array_equal(factors(values), expected)
    assert not np.signbit(factors(np.array([-0.0])))[0]
