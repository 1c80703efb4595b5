"""cytogate.synth.trial: a simulated dose-ranging trial on disk."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cytogate.synth import SynthError
from cytogate.synth.trial import TOP_DOSE_EFFECTS, default_effects, synthesize_trial

ARMS = {"Placebo": 10, "0.15 mg": 10, "0.45 mg": 10}


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    out = tmp_path_factory.mktemp("trial")
    return synthesize_trial(
        out, arms=ARMS, visits=("Baseline", "Week 4", "Week 24"), days=(1, 29, 169), n_events=3000, seed=21
    )


def test_files_sheet_truth_and_design_are_written(trial):
    s = trial.samples
    assert len(s) == 30 * 3
    assert {"file", "sample", "subject", "arm", "dose_mg", "visit", "day", "site", "volume_ul", "beads_per_test",
            "wbc_per_ul"} <= set(s.columns)  # fmt: skip
    assert all((trial.out_dir / f).is_file() for f in s["file"])
    on_disk = pd.read_csv(trial.out_dir / "samples.csv")
    assert list(on_disk["file"]) == list(s["file"])
    assert s.groupby("arm")["subject"].nunique().to_dict() == ARMS
    truth = pd.read_csv(trial.out_dir / "truth.csv")
    assert {"file", "population", "path", "count", "per_ul", "effect"} <= set(truth.columns)
    assert set(truth["population"]) >= {"B cells", "CD268+ B", "pDC", "Tregs", "T cells", "Beads"}
    per_file = truth.pivot(index="file", columns="population", values="count")
    assert (per_file["Cells"] + per_file["Debris"] + per_file["Beads"] == 3000).all()
    design = json.loads((trial.out_dir / "trial.json").read_text())
    assert design["seed"] == 21 and design["effects"]["pDC"]["0.45 mg"] == pytest.approx(0.261)


def test_files_read_back_with_their_design_keywords(trial):
    from cytogate import read_fcs

    row = trial.samples.iloc[4]
    sample = read_fcs(trial.out_dir / row["file"])
    assert sample.n_events == 3000
    assert sample.keywords["SUBJECT"] == row["subject"] and sample.keywords["VISIT"] == row["visit"]
    assert "CD268" in list(sample.markers)


def test_same_seed_same_trial(tmp_path):
    kw = dict(arms={"Placebo": 1, "0.45 mg": 1}, visits=("Baseline", "Week 24"), days=(1, 169), n_events=1000)
    a = synthesize_trial(tmp_path / "a", seed=5, workers=1, **kw)
    b = synthesize_trial(tmp_path / "b", seed=5, workers=3, **kw)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    pd.testing.assert_frame_equal(a.samples, b.samples)
    for f in a.samples["file"]:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    c = synthesize_trial(tmp_path / "c", seed=6, **kw)
    assert not a.truth["count"].equals(c.truth["count"])


def _placebo_adjusted(truth: pd.DataFrame, value: str, population: str, visit: str) -> pd.Series:
    t = truth[truth["population"] == population]
    wide = t.pivot_table(index=["subject", "arm"], columns="visit", values=value).reset_index()
    wide["log_ratio"] = np.log((wide[visit] + 0.5) / (wide["Baseline"] + 0.5))
    means = wide.groupby("arm")["log_ratio"].agg(["mean", "var", "count"])
    se = np.sqrt(means["var"] / means["count"] + means.loc["Placebo", "var"] / means.loc["Placebo", "count"])
    return (means["mean"] - means.loc["Placebo", "mean"]), se


@pytest.mark.parametrize("population", ["B cells", "CD268+ B", "pDC", "Tregs"])
def test_truth_follows_the_specified_effects_on_average(trial, population):
    effect = TOP_DOSE_EFFECTS["B cells" if population == "CD268+ B" else population]
    # concentrations: no counting noise, only subject and visit variability
    diff, se = _placebo_adjusted(trial.truth, "per_ul", population, "Week 24")
    assert abs(diff["0.45 mg"] - np.log(effect)) < 4 * se["0.45 mg"]
    assert abs(diff["0.15 mg"] - np.log(effect) / 3) < 4 * se["0.15 mg"]
    if population != "pDC":  # ~6 pDC events per 3,000-event file: too few to test counts on
        diff, se = _placebo_adjusted(trial.truth, "count", population, "Week 24")
        assert abs(diff["0.45 mg"] - np.log(effect)) < 4 * se["0.45 mg"] + 0.1


def test_effect_onset_and_nesting_in_truth(trial):
    t = trial.truth.set_index(["arm", "visit", "population"]).sort_index()["effect"]
    top = t.loc[("0.45 mg", "Week 24", "B cells")].iloc[0]
    early = t.loc[("0.45 mg", "Week 4", "B cells")].iloc[0]
    base = t.loc[("0.45 mg", "Baseline", "B cells")].iloc[0]
    assert base == 1 and top == pytest.approx(TOP_DOSE_EFFECTS["B cells"])
    onset = (1 - np.exp(-28 / 28)) / (1 - np.exp(-168 / 28))
    assert early == pytest.approx(TOP_DOSE_EFFECTS["B cells"] ** onset)
    assert t.loc[("0.45 mg", "Week 24", "CD268+ B")].iloc[0] == pytest.approx(top)  # nested: falls with B
    assert (t.loc[("0.45 mg", "Week 24", "T cells")] == 1).all()  # only partly affected
    assert (t.loc[("Placebo", "Week 24", "pDC")] == 1).all()


def test_default_effects_are_log_linear_in_dose():
    eff = default_effects(["Placebo", "0.15 mg", "0.3 mg", "0.45 mg"])
    assert eff["Tregs"]["Placebo"] == 1.0
    assert eff["B cells"]["0.45 mg"] == pytest.approx(1 - 0.583)
    assert eff["pDC"]["0.3 mg"] == pytest.approx((1 - 0.739) ** (2 / 3))
    assert eff["Tregs"]["0.15 mg"] == pytest.approx(2.049 ** (1 / 3))


def test_bad_designs_are_refused(tmp_path):
    with pytest.raises(SynthError, match="cannot read a dose from arm 'Drug A'"):
        synthesize_trial(tmp_path, arms={"Placebo": 1, "Drug A": 1}, n_events=100)
    with pytest.raises(SynthError, match="not in the trial"):
        synthesize_trial(tmp_path, arms={"Placebo": 1}, effects={"B cells": {"0.3 mg": 0.5}}, n_events=100)
    with pytest.raises(SynthError, match="equal length"):
        synthesize_trial(tmp_path, visits=("Baseline", "Week 4"), days=(1,), n_events=100)
    with pytest.raises(SynthError, match="unknown population"):
        synthesize_trial(tmp_path, arms={"Placebo": 1}, effects={"Bcells": {"Placebo": 1}}, n_events=100)
    custom = synthesize_trial(tmp_path / "ok", arms={"Control": 1, "Drug A": 1}, effects={"pDC": {"Drug A": 0.5}},
                              visits=("Baseline",), days=(1,), n_events=200)  # fmt: skip
    assert custom.samples["dose_mg"].isna().sum() == 1  # "Drug A" has no dose in its name


def test_committed_sample_fcs_set_is_consistent():
    from cytogate import read_fcs
    from conftest import ROOT

    folder = ROOT / "sample_fcs"
    if not (folder / "samples.csv").is_file():
        pytest.skip("sample_fcs/ not present")
    sheet = pd.read_csv(folder / "samples.csv")
    truth = pd.read_csv(folder / "truth.csv")
    total = 0
    for f in sheet["file"]:
        path = folder / f
        total += path.stat().st_size
        sample = read_fcs(path)
        counts = truth[truth["file"] == f].set_index("population")["count"]
        assert counts["Cells"] + counts["Debris"] + counts["Beads"] == sample.n_events
        assert sample.keywords["CYTOGATE_SYNTH_PANEL"] == "lupus_pd"
    assert total < 10_000_000
    assert set(sheet["arm"]) == {"Placebo", "0.45 mg"} and sheet["subject"].nunique() >= 4
