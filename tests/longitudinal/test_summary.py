import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cytogate.errors import ModelError
from cytogate.longitudinal.change import change_from_baseline
from cytogate.longitudinal.subgroups import SubgroupRule, assign_subgroups
from cytogate.longitudinal.summary import STATISTICS, describe, geometric_mean_ratio, summarize_change


def _trial(seed=3, n=9):
    rng = np.random.default_rng(seed)
    rows = []
    for arm, shift in (("Placebo", 0.0), ("Drug", -0.5)):
        for i in range(n):
            base = rng.lognormal(5, 0.4)
            for pop, scale in (("B", 1.0), ("T", 3.0)):
                rows.append((f"{arm}{i}", arm, "BL", pop, base * scale))
                for visit in ("W4", "W12"):
                    rows.append((f"{arm}{i}", arm, visit, pop, base * scale * np.exp(shift + rng.normal(0, 0.3))))
    t = pd.DataFrame(rows, columns=["s", "a", "v", "pop", "x"])
    return change_from_baseline(t, subject="s", arm="a", visit="v", value="x", baseline="BL", by=["pop"],
                                control="Placebo")  # fmt: skip


def test_describe_matches_numpy_by_hand():
    x = np.array([4.0, 1.0, np.nan, 3.0, 2.0])
    d = describe(x)
    assert d["n"] == 4 and d["mean"] == 2.5 and d["median"] == 2.5
    assert d["sd"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert d["se"] == pytest.approx(d["sd"] / 2)
    assert (d["q1"], d["q3"], d["min"], d["max"]) == (1.75, 3.25, 1.0, 4.0)
    single = describe(np.array([7.0]))
    assert single["n"] == 1 and single["mean"] == 7.0 and np.isnan(single["sd"])
    assert describe(np.array([np.nan]))["n"] == 0


def test_summary_cells_match_numpy():
    c = _trial()
    s = summarize_change(c, by=["pop"])
    assert len(s) == 2 * 2 * 3  # pop x arm x visit
    assert list(s.columns[:3]) == ["pop", "arm", "visit"]
    for (pop, arm, visit), cell in c.groupby(["pop", "arm", "visit"], observed=True):
        row = s[(s["pop"] == pop) & (s["arm"] == arm) & (s["visit"] == visit)].iloc[0]
        for var in ("value", "change", "pct_change"):
            x = cell[var].to_numpy()
            assert row[f"{var}_n"] == len(x)
            assert row[f"{var}_mean"] == pytest.approx(np.mean(x))
            assert row[f"{var}_sd"] == pytest.approx(np.std(x, ddof=1), nan_ok=True)
            assert row[f"{var}_median"] == pytest.approx(np.median(x))
            assert row[f"{var}_q1"] == pytest.approx(np.percentile(x, 25))
            assert row[f"{var}_q3"] == pytest.approx(np.percentile(x, 75))
            assert (row[f"{var}_min"], row[f"{var}_max"]) == (x.min(), x.max())
    assert set(f"value_{k}" for k in STATISTICS) <= set(s.columns)


def test_geometric_mean_ratio_ci_by_hand():
    ratios = np.array([0.5, 0.8, 0.4, 1.0, 0.6])
    g = geometric_mean_ratio(np.log(ratios))
    logs = np.log(ratios)
    half = stats.t.ppf(0.975, 4) * logs.std(ddof=1) / np.sqrt(5)
    assert g["gmr_n"] == 5
    assert g["gmr"] == pytest.approx(np.prod(ratios) ** (1 / 5))
    assert g["gmr_ci_low"] == pytest.approx(np.exp(logs.mean() - half))
    assert g["gmr_ci_high"] == pytest.approx(np.exp(logs.mean() + half))
    assert np.isnan(geometric_mean_ratio(np.array([0.1]))["gmr_ci_low"])
    assert geometric_mean_ratio(np.array([np.nan, np.inf]))["gmr_n"] == 0


def test_summary_gmr_uses_log_ratio_and_baseline_gmr_is_one():
    c = _trial()
    s = summarize_change(c, by=["pop"])
    base = s[s["visit"] == "BL"]
    assert np.allclose(base["gmr"], 1.0)
    row = s[(s["pop"] == "B") & (s["arm"] == "Drug") & (s["visit"] == "W12")].iloc[0]
    cell = c[(c["pop"] == "B") & (c["arm"] == "Drug") & (c["visit"] == "W12")]
    assert row["gmr"] == pytest.approx(np.exp(cell["log_ratio"].mean()))
    assert row["gmr_ci_low"] < row["gmr"] < row["gmr_ci_high"]


def test_summary_with_subgroup_and_bad_alpha():
    c, cutoff = assign_subgroups(_trial(), SubgroupRule(name="bbase", where={"pop": "B"}))
    s = summarize_change(c, by=["pop"], subgroup="bbase")
    assert list(s.columns[:4]) == ["pop", "bbase", "arm", "visit"]
    assert s.groupby("bbase", observed=True)["value_n"].sum().sum() == len(c)
    with pytest.raises(ModelError, match="alpha"):
        summarize_change(c, alpha=1.5)


def test_subgroup_median_split_ties_go_high():
    c = pd.DataFrame({"subject": list("abcd"), "baseline": [1.0, 2.0, 3.0, 4.0], "score": [5, 5, 7, np.nan]})
    out, cutoff = assign_subgroups(c, SubgroupRule())
    assert cutoff == 2.5
    assert out["subgroup"].astype(str).tolist() == ["low", "low", "high", "high"]
    rule = SubgroupRule(name="ifn", column="score", cutoff=5.0, labels=("IFN-low", "IFN-high"))
    out, cutoff = assign_subgroups(c, rule)
    assert cutoff == 5.0
    assert out["ifn"].astype(str).tolist()[:3] == ["IFN-high", "IFN-high", "IFN-high"]
    assert pd.isna(out["ifn"].iloc[3])  # no value: no subgroup
    out, cutoff = assign_subgroups(c, SubgroupRule(name="m", column="score"))
    assert cutoff == 5.0 and out["m"].astype(str).tolist()[:3] == ["high", "high", "high"]


def test_subgroup_needs_one_value_per_subject():
    c = _trial()
    with pytest.raises(ModelError, match="several values for subject"):
        assign_subgroups(c, SubgroupRule())  # baseline differs between populations
    with pytest.raises(ModelError, match="cutoff"):
        SubgroupRule(cutoff="mean")
    with pytest.raises(ModelError, match="no rows match"):
        assign_subgroups(c, SubgroupRule(where={"pop": "NK"}))
    rule = SubgroupRule.from_mapping({"name": "x", "where": {"pop": "B"}, "cutoff": 100, "labels": ["lo", "hi"]})
    assert rule.cutoff == 100.0 and rule.labels == ("lo", "hi")


def test_subgroup_from_a_carried_column_uses_its_baseline_value():
    t = pd.DataFrame({
        "s": ["a", "a", "b", "b", "c", "c"], "arm": ["P"] * 6, "v": ["BL", "W4"] * 3,
        "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "ifn": [10.0, 0.0, 1.0, 50.0, 20.0, 20.0],
    })  # fmt: skip
    c = change_from_baseline(t, subject="s", arm="arm", visit="v", value="x", baseline="BL", keep=["ifn"])
    out, cutoff = assign_subgroups(c, SubgroupRule(name="ifn_group", column="ifn", cutoff="median"))
    assert cutoff == 10.0  # median of the baseline scores 10, 1, 20 (not of the week-4 values)
    groups = out.drop_duplicates("subject").set_index("subject")["ifn_group"].astype(str).to_dict()
    assert groups == {"a": "high", "b": "low", "c": "high"}
