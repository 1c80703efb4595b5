"""Intensity statistics: definitions pinned against plain numpy, scales, NaN and zero handling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from batch_helpers import make_inputs, write_strategy

from cytogate.batch import BatchOptions, intensity_stats, run_batch
from cytogate.batch.stats import scaled_values


def test_definitions_match_numpy():
    rng = np.random.default_rng(1)
    values = np.column_stack([rng.lognormal(3, 1, 1001), rng.normal(0, 5, 1001)])
    mask = rng.random(1001) < 0.3
    table = intensity_stats(values, ["A", "B"], {"/P": mask}, sample="s", markers=["CD3", None])
    assert list(table["population"]) == ["/", "/", "/P", "/P"]
    row = table[(table.population == "/P") & (table.channel == "A")].iloc[0]
    x = values[mask, 0]
    assert row["n"] == mask.sum() and row["marker"] == "CD3"
    assert row["median"] == pytest.approx(np.median(x), rel=1e-12)
    assert row["mean"] == pytest.approx(x.mean(), rel=1e-12)
    assert row["geo_mean"] == pytest.approx(np.exp(np.log(x).mean()), rel=1e-12)
    p16, p84 = np.percentile(x, [15.87, 84.13])
    assert row["robust_cv"] == pytest.approx(100 * (p84 - p16) / 2 / np.median(x), rel=1e-12)
    b = table[(table.population == "/") & (table.channel == "B")].iloc[0]
    positive = values[:, 1][values[:, 1] > 0]
    assert b["n_positive"] == positive.size
    assert b["geo_mean"] == pytest.approx(np.exp(np.log(positive).mean()), rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 10, 31, 100, 1000])
def test_quickselect_quantiles_equal_numpy_with_ties(n):
    rng = np.random.default_rng(n)
    for values in (rng.normal(size=n), rng.integers(0, 4, size=n).astype(float), np.sort(rng.normal(size=n)),
                   np.sort(rng.normal(size=n))[::-1].copy(), np.full(n, 2.5)):
        for dtype in (np.float64, np.float32):
            x = values.astype(dtype)
            row = intensity_stats(x[:, None], ["A"], {}, sample="s").iloc[0]
            ref = x.astype(np.float64)
            p16, med, p84 = np.percentile(ref, [15.87, 50, 84.13])
            assert row["median"] == pytest.approx(med, rel=1e-12, abs=1e-12)
            expected_rcv = 100 * (p84 - p16) / 2 / med if med != 0 else np.nan
            assert row["robust_cv"] == pytest.approx(expected_rcv, rel=1e-9, abs=1e-9, nan_ok=True)
            assert row["mean"] == pytest.approx(ref.mean(), rel=1e-12, abs=1e-12)


def test_empty_population_nan_values_and_zero_mean():
    values = np.array([[1.0, 0.0], [np.nan, 0.0], [3.0, 0.0]])
    table = intensity_stats(values, ["A", "Z"], {"/none": np.zeros(3, bool)}, sample="s")
    a = table[(table.population == "/") & (table.channel == "A")].iloc[0]
    assert a["n"] == 2 and a["median"] == 2.0
    z = table[(table.population == "/") & (table.channel == "Z")].iloc[0]
    assert np.isnan(z["cv"]) and np.isnan(z["robust_cv"]) and np.isnan(z["geo_mean"])
    empty = table[table.population == "/none"]
    assert (empty["n"] == 0).all() and empty["median"].isna().all()


def test_compensated_scale_uses_the_file_spillover():
    from cytogate.fcs import Sample
    from cytogate.compensation import Spillover

    spill = Spillover(np.array([[1.0, 0.2], [0.1, 1.0]]), ("A", "B"))
    raw = np.array([[10.0, 5.0], [3.0, 7.0]])
    sample = Sample.from_arrays(raw, ["A", "B"], spillover=spill)
    got, labels = scaled_values(None, sample, "compensated", ["B", "A"])
    assert labels == ["compensated", "compensated"]
    expected = raw @ np.linalg.inv(spill.matrix)
    np.testing.assert_allclose(got, expected[:, [1, 0]], rtol=1e-12)
    np.testing.assert_array_equal(scaled_values(None, sample, "raw", ["A"])[0][:, 0], raw[:, 0])


def test_stats_parquet_from_a_run(tmp_path):
    strategy = write_strategy(tmp_path)
    files = make_inputs(tmp_path / "fcs", count=2, n=2000)
    run_batch(strategy, [str(f) for f in files], tmp_path / "out",
              options=BatchOptions(workers=1, progress=False))
    stats = pd.read_parquet(tmp_path / "out" / "stats.parquet")
    assert set(stats["population"]) == {"/", "/Cells", "/Cells/Tcells", "/Beads"}
    assert set(stats["scale"]) == {"compensated"}
    counts = pd.read_csv(tmp_path / "out" / "counts.csv")
    merged = stats[stats.channel == "FL1-A"].merge(counts, on=["sample", "population"])
    assert (merged["n"] == merged["count"]).all()
    t = stats[(stats.population == "/Cells/Tcells") & (stats.channel == "FL1-A")]
    assert (t["median"] > 500).all()


def test_quantiles_exact_where_float32_cannot_tell_values_apart():
    # the histogram bins by the value rounded to float32; values closer than that are still ordered exactly
    rng = np.random.default_rng(7)
    x = 1000.0 + rng.permutation(2001) * 1e-9  # 2001 distinct doubles, a handful of float32 values
    x = np.concatenate([x, -x[:500], [0.0, -0.0, 1e-310, -1e-310]])  # signs, zeros, subnormals
    table = intensity_stats(x[:, None], ["A"], {}, sample="s")
    row = table.iloc[0]
    assert row["median"] == np.median(x)
    p16, p84 = np.percentile(x, [15.87, 84.13])
    assert row["robust_cv"] == pytest.approx(100 * (p84 - p16) / 2 / np.median(x), rel=1e-12)


@pytest.mark.parametrize("class_limit", [128, 0], ids=["one pass", "per population"])
def test_geometric_mean_of_extreme_magnitudes(class_limit, monkeypatch):
    # the running product is renormalised by exact powers of two: no overflow, no underflow,
    # in the one-pass kernel and in the per-population kernel alike
    from cytogate.batch import stats

    monkeypatch.setattr(stats, "CLASS_LIMIT", class_limit)
    rng = np.random.default_rng(8)
    x = np.concatenate([10.0 ** rng.uniform(-300, 300, 5000), [5e-324, 1.7e308], -(10.0 ** rng.uniform(-5, 5, 50))])
    half = rng.random(x.size) < 0.5
    table = intensity_stats(x[:, None], ["A"], {"/half": half}, sample="s")
    for population, chosen in (("/", x), ("/half", x[half])):
        positive = chosen[chosen > 0]
        row = table[table.population == population].iloc[0]
        assert row["n_positive"] == positive.size
        assert row["geo_mean"] == pytest.approx(np.exp(np.log(positive).mean()), rel=1e-12)


def test_geometric_mean_with_infinity_is_infinite():
    for x in ([1.0, 2.0, np.inf], [np.inf], [3.0, np.inf, 1e-300, 1e300]):
        row = intensity_stats(np.array(x)[:, None], ["A"], {}, sample="s").iloc[0]
        assert row["geo_mean"] == np.inf, x


MIXED_XML = """<?xml version="1.0" encoding="UTF-8"?>
<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating"
    xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations"
    xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
  <transforms:spectrumMatrix transforms:id="own">
    <transforms:fluorochromes>
      <data-type:fcs-dimension data-type:name="FL1-A" /><data-type:fcs-dimension data-type:name="FL2-A" />
    </transforms:fluorochromes>
    <transforms:detectors>
      <data-type:fcs-dimension data-type:name="FL1-A" /><data-type:fcs-dimension data-type:name="FL2-A" />
    </transforms:detectors>
    <transforms:spectrum><transforms:coefficient transforms:value="1" />
      <transforms:coefficient transforms:value="0.3" /></transforms:spectrum>
    <transforms:spectrum><transforms:coefficient transforms:value="0.05" />
      <transforms:coefficient transforms:value="1" /></transforms:spectrum>
  </transforms:spectrumMatrix>
  <gating:RectangleGate gating:id="Cells">
    <gating:dimension gating:compensation-ref="uncompensated" gating:min="200" gating:max="800">
      <data-type:fcs-dimension data-type:name="FSC-A" />
    </gating:dimension>
  </gating:RectangleGate>
  <gating:RectangleGate gating:id="Pos" gating:parent_id="Cells">
    <gating:dimension gating:compensation-ref="own" gating:min="400">
      <data-type:fcs-dimension data-type:name="FL1-A" />
    </gating:dimension>
    <gating:dimension gating:compensation-ref="own" gating:min="-1e9">
      <data-type:fcs-dimension data-type:name="FL2-A" />
    </gating:dimension>
    <gating:dimension gating:compensation-ref="FCS" gating:min="-1e9">
      <data-type:fcs-dimension data-type:name="FL3-A" />
    </gating:dimension>
  </gating:RectangleGate>
</gating:Gating-ML>
"""


def test_default_scale_is_the_gates_own_compensation_with_the_file_spillover_elsewhere(tmp_path):
    """Held-out check: a strategy's own matrix for two detectors, the file's spillover for the rest."""
    from cytogate import write_fcs
    from cytogate.compensation import Spillover

    rng = np.random.default_rng(11)
    n = 3000
    events = np.column_stack([rng.uniform(0, 1000, n), rng.lognormal(6, 0.6, (n, 4)) * 1.0]).astype(np.float32)
    channels = ["FSC-A", "FL1-A", "FL2-A", "FL3-A", "FL4-A"]
    file_spill = np.array([[1.0, 0.2, 0.1, 0.0], [0.05, 1.0, 0.3, 0.02], [0.0, 0.1, 1.0, 0.25],
                           [0.01, 0.0, 0.15, 1.0]])
    spill = Spillover(file_spill, tuple(channels[1:]))
    write_fcs(tmp_path / "a.fcs", events, channels, spillover=spill)
    (tmp_path / "mixed.xml").write_text(MIXED_XML)
    out = tmp_path / "out"
    run_batch(tmp_path / "mixed.xml", [str(tmp_path / "a.fcs")], out, options=BatchOptions(workers=1, progress=False))
    stats = pd.read_parquet(out / "stats.parquet")
    raw = events.astype(np.float64)
    own = raw[:, 1:3] @ np.linalg.inv(np.array([[1.0, 0.3], [0.05, 1.0]]))
    by_file = raw[:, 1:] @ np.linalg.inv(file_spill)
    expected = {"FSC-A": raw[:, 0], "FL1-A": own[:, 0], "FL2-A": own[:, 1], "FL3-A": by_file[:, 2],
                "FL4-A": by_file[:, 3]}
    cells = (raw[:, 0] >= 200) & (raw[:, 0] < 800)
    pos = cells & (own[:, 0] >= 400)
    for population, mask in (("/", np.ones(n, bool)), ("/Cells", cells), ("/Cells/Pos", pos)):
        for channel, values in expected.items():
            row = stats[(stats.population == population) & (stats.channel == channel)].iloc[0]
            assert row["scale"] == "compensated"
            assert row["n"] == mask.sum()
            assert row["median"] == pytest.approx(np.median(values[mask]), rel=1e-9), (population, channel)
            assert row["mean"] == pytest.approx(values[mask].mean(), rel=1e-9), (population, channel)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["statistics"]["scale"] == "compensated" and manifest["options"]["stats_scale"] == "compensated"
    import pyarrow.parquet as pq

    meta = pq.read_schema(out / "stats.parquet").metadata
    assert meta[b"cytogate_stats_scale"] == b"compensated"
    # the raw scale is still there, on request
    run_batch(tmp_path / "mixed.xml", [str(tmp_path / "a.fcs")], tmp_path / "raw",
              options=BatchOptions(workers=1, progress=False, stats_scale="raw"))
    raw_stats = pd.read_parquet(tmp_path / "raw" / "stats.parquet")
    row = raw_stats[(raw_stats.population == "/") & (raw_stats.channel == "FL3-A")].iloc[0]
    assert row["scale"] == "raw" and row["median"] == pytest.approx(np.median(raw[:, 3]), rel=1e-9)


def test_transformed_scale_applies_each_gated_channel_s_own_transform():
    import cytogate
    from cytogate.engine.compile import compile_plan

    strategy = cytogate.load_strategy(Path(__file__).resolve().parents[2] / "gating_strategies" / "lupus_pd.yaml")
    sample = cytogate.read_fcs(Path(__file__).resolve().parents[2] / "sample_fcs" / "S001_BL.fcs")
    channels = list(sample.channels)
    compensated, _ = scaled_values(strategy, sample, "compensated", channels)
    compensated = compensated.copy()  # the next call reuses the buffer
    transformed, labels = scaled_values(strategy, sample, "transformed", channels)
    plan = compile_plan(strategy, sample)
    assert "transformed" in labels
    for j, label in enumerate(labels):
        recipe = plan.channel_recipes.get(j)
        if label == "transformed":
            expected = plan.transforms[recipe.transform_id].apply(compensated[:, j])
            np.testing.assert_array_equal(transformed[:, j], expected)
        else:
            np.testing.assert_array_equal(transformed[:, j], compensated[:, j])
