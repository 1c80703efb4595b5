"""Issue 6 end to end: FCS files of a simulated trial -> cytogate run -> change from
baseline; the simulated placebo-adjusted effects fall inside the model's 95% CIs."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from cytogate.batch import BatchOptions, run_batch
from cytogate.longitudinal import ChangeSettings, run_change_analysis
from cytogate.synth.trial import synthesize_trial

ROOT = Path(__file__).resolve().parent.parent
ARMS = {"Placebo": 6, "0.15 mg": 3, "0.3 mg": 6, "0.45 mg": 6}  # the iberdomide trial's arms, scaled down
POPULATIONS = ["B cells", "CD268+ B", "pDC", "Tregs"]
# the simulated effect on B cells applies to every B cell, CD268+ ones included
EFFECT_OF = {"B cells": "B cells", "CD268+ B": "B cells", "pDC": "pDC", "Tregs": "Tregs"}


@pytest.fixture(scope="module")
def contrasts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trial")
    trial = synthesize_trial(folder / "fcs", arms=ARMS, n_events=40_000, seed=11)
    batch = run_batch(ROOT / "gating_strategies" / "lupus_pd.yaml", [], folder / "run",
                      samples=folder / "fcs" / "samples.csv",
                      options=BatchOptions(workers=2, stats=False, progress=False))
    assert batch.exit_code == 0
    counts = pd.read_csv(folder / "run" / "counts.csv")
    settings = ChangeSettings(subject="subject", arm="arm", visit="visit", value="count", baseline="Baseline",
                              control="Placebo", by=("name",), where={"name": tuple(POPULATIONS)}, figures=False)
    outputs = run_change_analysis(counts, settings)
    return outputs.contrasts, trial.effects


@pytest.mark.parametrize("population", POPULATIONS)
def test_top_dose_effect_at_week_24_is_inside_the_ci(contrasts, population):
    table, effects = contrasts
    row = table[(table["name"] == population) & (table["arm"] == "0.45 mg") & (table["visit"] == "Week 24")]
    assert len(row) == 1
    row = row.iloc[0]
    simulated = 100.0 * (effects[EFFECT_OF[population]]["0.45 mg"] - 1.0)  # e.g. B cells -58.3 %
    assert row["pct_ci_low"] <= simulated <= row["pct_ci_high"], (population, simulated, row.to_dict())
    assert row["p"] < 0.001
    assert row["method"].startswith("MMRM")


def test_effects_grow_with_dose(contrasts):
    table, _ = contrasts
    week24 = table[table["visit"] == "Week 24"].set_index(["name", "arm"])["pct_change"]
    for population in POPULATIONS:
        by_dose = [week24[(population, arm)] for arm in ("0.15 mg", "0.3 mg", "0.45 mg")]
        assert all(math.isfinite(v) for v in by_dose)
        direction = 1 if population == "Tregs" else -1
        # the top dose moves furthest from placebo, in the simulated direction
        assert direction * by_dose[2] > max(0.0, direction * by_dose[0])
