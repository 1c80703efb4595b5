"""intensity_stats against plain numpy, many overlapping populations at once."""

from __future__ import annotations

import numpy as np
import pytest

from cytogate.batch.stats import intensity_stats


def _numpy_row(x: np.ndarray) -> dict[str, float]:
    """The documented definitions, written with numpy only."""
    x = x.astype(np.float64)
    x = x[~np.isnan(x)]
    positive = x[x > 0]
    nan = float("nan")
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if x.size == 0:
            return {"n": 0, "n_positive": 0, "median": nan, "mean": nan, "geo_mean": nan, "cv": nan,
                    "robust_cv": nan}
        p16, med, p84 = np.percentile(x, [15.87, 50, 84.13])
        mean = float(np.mean(x))
        sd = float(np.std(x, ddof=1)) if x.size > 1 else nan
        geo = float(np.exp(np.mean(np.log(positive)))) if positive.size else nan
        return {"n": x.size, "n_positive": positive.size, "median": float(med), "mean": mean, "geo_mean": geo,
                "cv": 100.0 * sd / mean if x.size > 1 and mean != 0 else nan,
                "robust_cv": 100.0 * (p84 - p16) / 2.0 / med if med != 0 else nan}


def _populations(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Nested and overlapping masks, including an empty one and one of a single event."""
    a = rng.random(n) < 0.6
    b = a & (rng.random(n) < 0.5)
    c = rng.random(n) < 0.3  # overlaps a and b without nesting
    single = np.zeros(n, bool)
    single[n // 2] = True
    masks = {"/A": a, "/A/B": b, "/C": c, "/A/B/C": b & c, "/empty": np.zeros(n, bool), "/one": single}
    for k in range(6):
        masks[f"/A/R{k}"] = a & (rng.random(n) < 0.1 * (k + 1))
    return masks


def _columns(rng: np.random.Generator, n: int) -> np.ndarray:
    ties = rng.integers(-3, 40, n).astype(np.float64)  # heavy ties, zeros and negatives
    wide = rng.lognormal(3.0, 2.5, n) * rng.choice([-1.0, 1.0], n, p=[0.2, 0.8])
    special = rng.normal(100.0, 30.0, n)
    special[rng.random(n) < 0.05] = np.nan
    special[rng.random(n) < 0.01] = np.inf
    special[rng.random(n) < 0.01] = -np.inf
    nan_only_some = rng.normal(0.0, 1.0, n)
    nan_only_some[: n // 3] = np.nan
    return np.column_stack([ties, wide, special, nan_only_some])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 5_000])
def test_every_population_and_channel_equals_numpy(dtype, n):
    rng = np.random.default_rng(n)
    values = _columns(rng, n).astype(dtype)
    channels = ["ties", "wide", "special", "half_nan"]
    masks = _populations(rng, n)
    table = intensity_stats(values, channels, masks, sample="s")
    assert list(table["population"].unique()) == ["/", *masks]
    masks = {"/": np.ones(n, bool), **masks}
    for row in table.itertuples():
        want = _numpy_row(values[masks[row.population], channels.index(row.channel)])
        where = f"{row.population} {row.channel}"
        assert (row.n, row.n_positive) == (want["n"], want["n_positive"]), where
        # order statistics are picked, not summed: bit for bit equal to numpy
        np.testing.assert_array_equal(row.median, want["median"], err_msg=where)
        for name in ("mean", "geo_mean", "cv", "robust_cv"):
            np.testing.assert_allclose(getattr(row, name), want[name], rtol=1e-9, err_msg=f"{where} {name}")


def test_all_nan_channel_gives_zero_counts_and_nan_statistics():
    values = np.full((50, 1), np.nan)
    table = intensity_stats(values, ["x"], {"/half": np.arange(50) < 25}, sample="s")
    assert table["n"].tolist() == [0, 0]
    assert table[["median", "mean", "geo_mean", "cv", "robust_cv"]].isna().all().all()
