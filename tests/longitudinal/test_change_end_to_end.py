"""A simulated iberdomide-like trial, scaled down, through run_change_analysis.

Four arms (placebo 20, 0.15 mg 10, 0.3 mg 18, 0.45 mg 20), visits at baseline
and weeks 4, 12 and 24, a counts.csv-shaped long table.  Each population's
count is lognormal per subject (a subject effect shared by all visits plus
visit noise) with a multiplicative dose effect that reaches its full size at
week 24: B cells and CD268+ B cells falling, pDCs falling, Tregs rising, with
the top-dose week-24 effects set to the published placebo-adjusted changes.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from cytogate.longitudinal.analysis import ChangeSettings, run_change_analysis

ARMS = {"Placebo": (20, 0.0), "0.15 mg": (10, 0.15), "0.3 mg": (18, 0.30), "0.45 mg": (20, 0.45)}
VISITS = {"Baseline": (1, 0.0), "Week 4": (29, 0.5), "Week 12": (85, 0.85), "Week 24": (169, 1.0)}
# population path -> (parent, baseline median count, top-dose week-24 fold change)
POPULATIONS = {
    "/Leukocytes/B cells": ("/Leukocytes", 900.0, 1 - 0.583),
    "/Leukocytes/B cells/CD268+ B": ("/Leukocytes/B cells", 700.0, 1 - 0.60),
    "/Leukocytes/pDC": ("/Leukocytes", 150.0, 1 - 0.739),
    "/Leukocytes/T cells/CD4 T/Tregs": ("/Leukocytes/T cells/CD4 T", 400.0, 1 + 1.049),
}
TOP = 0.45


def simulate_trial(seed: int = 2022) -> pd.DataFrame:
    """Counts-table rows for every subject × visit × population (plus the Leukocytes root)."""
    rng = np.random.default_rng(seed)
    rows = []
    for arm, (n, dose) in ARMS.items():
        for i in range(n):
            subject = f"{arm.replace(' ', '')}-{i:02d}"
            subject_effect = {p: rng.normal(0, 0.35) for p in POPULATIONS}
            for visit, (day, ramp) in VISITS.items():
                sample = f"{subject}_{visit.replace(' ', '')}"
                leukocytes = int(rng.normal(50_000, 2_000))
                counts = {}
                for pop, (_, median, fold) in POPULATIONS.items():
                    log_mu = np.log(median) + subject_effect[pop] + ramp * (dose / TOP) * np.log(fold)
                    counts[pop] = int(rng.poisson(np.exp(log_mu + rng.normal(0, 0.2))))
                counts["/Leukocytes"] = leukocytes
                for pop, count in counts.items():
                    parent = POPULATIONS[pop][0] if pop in POPULATIONS else "/"
                    parent_count = counts.get(parent, leukocytes * 2)
                    rows.append({
                        "sample": sample, "file": f"{sample}.fcs", "population": pop, "name": pop.rsplit("/", 1)[-1],
                        "parent": parent, "count": count, "parent_count": parent_count,
                        "freq_parent": count / parent_count, "freq_total": count / (leukocytes * 2),
                        "subject": subject, "arm": arm, "visit": visit, "day": day,
                    })  # fmt: skip
    return pd.DataFrame(rows)


def _settings(model: str, **extra) -> ChangeSettings:
    return ChangeSettings(
        subject="subject", arm="arm", visit="visit", value="count", baseline="Baseline", control="Placebo",
        by=("name",), day="day", model=model, where={"population": tuple(POPULATIONS)}, **extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def trial() -> pd.DataFrame:
    return simulate_trial()


@pytest.mark.parametrize("model", ["ancova", "mmrm"])
def test_top_dose_week24_effects_are_recovered(trial, model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a non-converged MMRM would warn
        out = run_change_analysis(trial, _settings(model))
    c = out.contrasts
    assert len(c) == 4 * 3 * 3  # populations × visits × non-control arms
    for pop, (_, _, fold) in POPULATIONS.items():
        name = pop.rsplit("/", 1)[-1]
        row = c[(c["name"] == name) & (c["visit"] == "Week 24") & (c["arm"] == "0.45 mg")].iloc[0]
        truth = 100 * (fold - 1)
        assert row["pct_ci_low"] < truth < row["pct_ci_high"], (name, truth, row.to_dict())
        assert row["p"] < 1e-3
        assert row["ratio"] == pytest.approx(np.exp(row["estimate"]))
    # placebo-adjusted change grows with dose for B cells at week 24
    b24 = c[(c["name"] == "B cells") & (c["visit"] == "Week 24")].set_index("arm")["estimate"]
    assert b24["0.45 mg"] < b24["0.3 mg"] < 0


def test_outputs_written_and_summaries_consistent(trial, tmp_path):
    out = run_change_analysis(trial, _settings("ancova", adjust="holm"), out_dir=tmp_path)
    for name in ("change.csv", "summary.csv", "contrasts.csv", "analysis.json"):
        assert (tmp_path / name).is_file()
    figures = sorted(p.name for p in (tmp_path / "figures").iterdir())
    for stem in ("pct_change_median_iqr", "ratio_over_time", "forest_Week_24", "spaghetti_B_cells"):
        assert f"{stem}.png" in figures and f"{stem}.svg" in figures
    assert (tmp_path / "figures" / "forest_Week_24.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "figures" / "ratio_over_time.svg").read_text().lstrip().startswith("<?xml")
    manifest = json.loads((tmp_path / "analysis.json").read_text())
    assert manifest["schema"] == "cytogate.change/1" and manifest["settings"]["model"] == "ancova"
    change = pd.read_csv(tmp_path / "change.csv")
    assert len(change) == sum(n for n, _ in ARMS.values()) * len(VISITS) * len(POPULATIONS)
    contrasts = pd.read_csv(tmp_path / "contrasts.csv")
    assert list(contrasts.columns[:3]) == ["name", "visit", "arm"]
    assert (contrasts["p_adj"] >= contrasts["p"]).all()
    s = out.summary
    pla = s[(s["name"] == "pDC") & (s["arm"] == "Placebo") & (s["visit"] == "Week 24")].iloc[0]
    top = s[(s["name"] == "pDC") & (s["arm"] == "0.45 mg") & (s["visit"] == "Week 24")].iloc[0]
    assert pla["value_n"] == 20 and top["value_n"] == 20
    assert top["pct_change_median"] < -50 < pla["pct_change_median"]
    assert top["gmr_ci_high"] < 0.5 < pla["gmr_ci_low"]


def test_wilcoxon_and_subgroups_on_the_trial(trial):
    from cytogate.longitudinal.subgroups import SubgroupRule

    rule = SubgroupRule(name="bcell_baseline", where={"name": "B cells"})
    out = run_change_analysis(trial, _settings("wilcoxon", subgroup=rule))
    row = out.contrasts.query("name == 'Tregs' and visit == 'Week 24' and arm == '0.45 mg'").iloc[0]
    assert row["estimate"] > 50 and row["p"] < 1e-3
    assert out.summary_by_subgroup is not None and out.contrasts_by_subgroup is not None
    assert set(out.summary_by_subgroup["bcell_baseline"].astype(str)) == {"low", "high"}
    assert any("bcell_baseline" in n for n in out.notes)
