import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cytogate.errors import ModelError
from cytogate.longitudinal.change import change_from_baseline
from cytogate.longitudinal.compare import (
    CONTRAST_COLUMNS,
    adjust_pvalues,
    ancova,
    compare_to_control,
    hodges_lehmann,
    mann_whitney_null,
    rank_sum_test,
)


def _brute_force_null(n, m):
    counts = np.zeros(n * m + 1)
    for xs in itertools.combinations(range(n + m), n):
        ranks_x = np.array(xs) + 1
        counts[int(ranks_x.sum() - n * (n + 1) / 2)] += 1
    return counts / counts.sum()


@pytest.mark.parametrize(("n", "m"), [(1, 1), (3, 4), (5, 2), (6, 6)])
def test_exact_null_distribution_matches_enumeration(n, m):
    np.testing.assert_allclose(mann_whitney_null(n, m), _brute_force_null(n, m), rtol=1e-12)


def test_hodges_lehmann_estimate_is_median_of_pairwise_differences():
    rng = np.random.default_rng(0)
    for n, m in ((5, 7), (8, 8), (60, 45)):
        x, y = rng.normal(1, 1, n), rng.normal(0, 1, m)
        hl = hodges_lehmann(x, y)
        diffs = [xi - yj for xi in x for yj in y]
        assert hl.estimate == pytest.approx(np.median(diffs), rel=1e-13)
        assert hl.ci_low <= hl.estimate <= hl.ci_high
        assert hl.exact == (n < 50 and m < 50)


def test_exact_hl_interval_inverts_the_exact_rank_sum_test():
    rng = np.random.default_rng(1)
    x, y = rng.normal(2, 1, 9), rng.normal(0, 1, 11)
    hl = hodges_lehmann(x, y)
    assert hl.exact
    eps = 1e-9

    def p_at(shift):
        return stats.mannwhitneyu(x - shift, y, method="exact").pvalue

    # inside the interval the exact test does not reject; just outside it does
    assert p_at(hl.ci_low + eps) > 0.05 and p_at(hl.ci_high - eps) > 0.05
    assert p_at(hl.ci_low - eps) <= 0.05 and p_at(hl.ci_high + eps) <= 0.05


def test_normal_approximation_interval_by_hand():
    rng = np.random.default_rng(2)
    x, y = np.round(rng.normal(1, 1, 60), 1), np.round(rng.normal(0, 1, 55), 1)  # rounding makes ties
    hl = hodges_lehmann(x, y)
    assert not hl.exact
    pooled = np.concatenate([x, y])
    _, t = np.unique(pooled, return_counts=True)
    n, m, big = 60, 55, 115
    var = n * m / 12 * ((big + 1) - np.sum(t**3 - t) / (big * (big - 1)))
    k = int(np.floor(n * m / 2 - stats.norm.ppf(0.975) * np.sqrt(var)))
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    assert (hl.ci_low, hl.ci_high) == (diffs[k - 1], diffs[n * m - k])


def test_hodges_lehmann_tiny_and_empty_samples():
    hl = hodges_lehmann(np.array([1.0, 2.0]), np.array([0.0]))
    assert hl.estimate == 1.5 and hl.ci_low == -np.inf and hl.ci_high == np.inf
    assert np.isnan(hodges_lehmann(np.array([]), np.array([1.0])).estimate)


def test_rank_sum_p_matches_scipy():
    x, y = np.array([1.1, 2.3, 3.5, 0.2]), np.array([0.1, -1.0, 0.4, 0.35, -0.2])
    assert rank_sum_test(x, y) == stats.mannwhitneyu(x, y, method="exact").pvalue
    xt, yt = np.array([1.0, 1.0, 2.0]), np.array([0.0, 1.0])
    assert rank_sum_test(xt, yt) == stats.mannwhitneyu(xt, yt, method="asymptotic").pvalue
    assert np.isnan(rank_sum_test(np.array([np.nan]), y))


@pytest.mark.parametrize(("ours", "theirs"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjustment_matches_statsmodels(ours, theirs):
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(4)
    p = np.concatenate([rng.uniform(0, 0.05, 6), rng.uniform(0, 1, 14), [0.02, 0.02]])
    np.testing.assert_allclose(adjust_pvalues(p, ours), multipletests(p, method=theirs)[1], rtol=1e-12)
    with_nan = np.array([0.01, np.nan, 0.04, 0.03])
    got = adjust_pvalues(with_nan, ours)
    assert np.isnan(got[1])
    np.testing.assert_allclose(got[[0, 2, 3]], multipletests(with_nan[[0, 2, 3]], method=theirs)[1])
    with pytest.raises(ModelError):
        adjust_pvalues(p, "bonferroni")  # type: ignore[arg-type]


def test_ancova_matches_statsmodels_ols():
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(5)
    n = 40
    arm = np.array(["P", "A", "B", "C"] * 10)
    base = rng.normal(5, 0.5, n)
    effect = {"P": 0.0, "A": -0.2, "B": -0.5, "C": 0.3}
    y = 1.0 + 0.8 * base + np.array([effect[a] for a in arm]) + rng.normal(0, 0.3, n)
    y[3] = np.nan  # dropped like statsmodels' missing='drop'
    res = ancova(y, base, arm, control="P").set_index("arm")
    frame = pd.DataFrame({"y": y, "base": base, "arm": arm})
    ols = smf.ols("y ~ base + C(arm, Treatment('P'))", data=frame).fit()
    ci = ols.conf_int()
    for a in ("A", "B", "C"):
        term = f"C(arm, Treatment('P'))[T.{a}]"
        assert res.loc[a, "estimate"] == pytest.approx(ols.params[term], rel=1e-10)
        assert res.loc[a, "se"] == pytest.approx(ols.bse[term], rel=1e-10)
        assert res.loc[a, "p"] == pytest.approx(ols.pvalues[term], rel=1e-8)
        assert res.loc[a, "df"] == ols.df_resid
        assert (res.loc[a, "ci_low"], res.loc[a, "ci_high"]) == pytest.approx(tuple(ci.loc[term]), rel=1e-10)
    assert res.loc["A", "n_control"] == 10 and res.loc["C", "n_arm"] == 9


def test_ancova_reports_inestimable_cells():
    res = ancova(np.array([1.0, 2.0]), np.array([1.0, 2.0]), np.array(["A", "A"]), control="P")
    assert res["note"].iloc[0] == "no control-arm data at this visit" and "estimate" not in res
    res = ancova(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]), np.array(["P", "A", "A"]), control="P")
    assert "too few observations" in res["note"].iloc[0]


def _change(seed=6, n=12, effect=-0.7):
    rng = np.random.default_rng(seed)
    rows = []
    for arm, eff in (("Placebo", 0.0), ("Low", effect / 2), ("High", effect)):
        for i in range(n):
            b = rng.normal(6, 0.5)
            rows.append((f"{arm}{i}", arm, "Baseline", np.exp(b)))
            for k, visit in enumerate(("Week 4", "Week 12"), start=1):
                rows.append((f"{arm}{i}", arm, visit, np.exp(0.5 + 0.9 * b + eff * k / 2 + rng.normal(0, 0.25))))
    t = pd.DataFrame(rows, columns=["s", "a", "v", "x"])
    return change_from_baseline(t, subject="s", arm="a", visit="v", value="x", baseline="Baseline", control="Placebo")


def test_compare_ancova_table_shape_and_back_transform():
    c = _change()
    out = compare_to_control(c, control="Placebo", model="ancova")
    assert list(out.columns) == list(CONTRAST_COLUMNS)
    assert out[["visit", "arm"]].values.tolist() == [
        ["Week 4", "High"], ["Week 4", "Low"], ["Week 12", "High"], ["Week 12", "Low"]]  # fmt: skip
    np.testing.assert_allclose(out["ratio"], np.exp(out["estimate"]))
    np.testing.assert_allclose(out["pct_change"], 100 * (np.exp(out["estimate"]) - 1))
    np.testing.assert_allclose(out["pct_ci_low"], 100 * (np.exp(out["ci_low"]) - 1))
    np.testing.assert_allclose(out["p_adj"], out["p"])
    # the per-visit numbers are the OLS of that visit
    w12 = c[c["visit"] == "Week 12"]
    direct = ancova(w12["log_value"].to_numpy(), w12["log_baseline"].to_numpy(), w12["arm"].astype(str).to_numpy(),
                    control="Placebo").set_index("arm")  # fmt: skip
    assert out.iloc[2]["estimate"] == direct.loc["High", "estimate"]
    high = out.iloc[2]
    assert abs(high["estimate"] - (-0.7)) < 3 * high["se"]  # simulated log effect at week 12


def test_compare_raw_scale_and_wilcoxon():
    c = _change()
    raw = compare_to_control(c, control="Placebo", model="ancova", scale="raw")
    assert raw["ratio"].isna().all() and raw["pct_change"].isna().all() and raw["estimate"].notna().all()
    wil = compare_to_control(c, control="Placebo", model="wilcoxon", adjust="bh")
    assert wil["se"].isna().all() and wil["ratio"].isna().all()
    assert (wil["pct_change"] == wil["estimate"]).all()
    assert wil["method"].str.contains("Hodges-Lehmann").all() and wil["method"].str.contains("Benjamini").all()
    w4 = c[c["visit"] == "Week 4"]
    x = w4.loc[w4["arm"] == "High", "pct_change"].to_numpy()
    y = w4.loc[w4["arm"] == "Placebo", "pct_change"].to_numpy()
    row = wil[(wil["visit"] == "Week 4") & (wil["arm"] == "High")].iloc[0]
    assert row["estimate"] == pytest.approx(np.median(np.subtract.outer(x, y)))
    assert row["p"] == pytest.approx(stats.mannwhitneyu(x, y, method="exact").pvalue)


def test_adjustment_families():
    c = _change()
    out = compare_to_control(c, control="Placebo", model="ancova", adjust="holm", family=["visit"])
    for _, part in out.groupby("visit"):
        np.testing.assert_allclose(part["p_adj"], adjust_pvalues(part["p"].to_numpy(), "holm"))
    whole = compare_to_control(c, control="Placebo", model="ancova", adjust="holm")
    np.testing.assert_allclose(whole["p_adj"], adjust_pvalues(whole["p"].to_numpy(), "holm"))


def test_compare_errors():
    c = _change()
    with pytest.raises(ModelError, match="control arm 'PBO' not found"):
        compare_to_control(c, control="PBO", model="ancova")
    with pytest.raises(ModelError, match="unknown model"):
        compare_to_control(c, control="Placebo", model="glm")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="unknown scale"):
        compare_to_control(c, control="Placebo", scale="sqrt")  # type: ignore[arg-type]


def test_mmrm_route_agrees_with_fit_mmrm_and_is_close_to_ancova():
    from cytogate.longitudinal.mmrm import fit_mmrm

    c = _change()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = compare_to_control(c, control="Placebo", model="mmrm")
    assert out["method"].str.startswith("MMRM log_value ~ log_baseline + ARM*VISIT").all()
    assert out[["visit", "arm"]].values.tolist()[0] == ["Week 4", "High"]
    post = c[~c["is_baseline"]]
    data = pd.DataFrame({"log_value": post["log_value"], "log_baseline": post["log_baseline"],
                         "ARM": post["arm"].astype(str), "VISIT": post["visit"].astype(str),
                         "SUBJECT": post["subject"]})  # fmt: skip
    fit = fit_mmrm(data, "log_value ~ log_baseline + ARM*VISIT", subject="SUBJECT", time="VISIT",
                   reference={"ARM": "Placebo"})  # fmt: skip
    ref = fit.contrasts(control={"ARM": "Placebo"}, by="VISIT")
    ref = ref.assign(arm=ref["contrast"].str.split(" - ").str[0]).set_index(["VISIT", "arm"])
    for row in out.itertuples():
        assert row.estimate == pytest.approx(ref.loc[(row.visit, row.arm), "estimate"], rel=1e-6)
        assert row.df == pytest.approx(ref.loc[(row.visit, row.arm), "df"], rel=1e-6)
    anc = compare_to_control(c, control="Placebo", model="ancova")
    assert np.all(np.abs(out["estimate"] - anc["estimate"]) < 0.5 * anc["se"])


def test_mmrm_group_that_cannot_be_fitted_gives_note_rows():
    c = _change()
    tiny = c[c["subject"].isin(["Placebo0", "High0"])].assign(pop="tiny")
    both = pd.concat([c.assign(pop="main"), tiny], ignore_index=True)
    for col in ("arm", "visit"):
        both[col] = pd.Categorical(both[col].astype(str), categories=c[col].cat.categories, ordered=True)
    out = compare_to_control(both, control="Placebo", by=["pop"], model="mmrm")
    bad = out[out["pop"] == "tiny"]
    assert len(bad) and bad["estimate"].isna().all() and bad["note"].str.startswith("not fitted").all()
    assert out.loc[out["pop"] == "main", "estimate"].notna().all()


def test_zero_values_on_the_log_scale_warn():
    from cytogate.errors import DataQualityWarning

    c = _change()
    c.loc[(c["visit"] == "Week 4") & (c["subject"] == "High0"), ["value", "log_value"]] = [0.0, np.nan]
    with pytest.warns(DataQualityWarning, match="1 value"):
        out = compare_to_control(c, control="Placebo", model="ancova")
    assert out.loc[(out["visit"] == "Week 4") & (out["arm"] == "High"), "n_arm"].iloc[0] == 11


def test_nothing_to_compare_is_a_model_error():
    c = _change()
    only_control = c[c["arm"] == "Placebo"]
    with pytest.raises(ModelError, match="no arm other than the control 'Placebo'"):
        compare_to_control(only_control, control="Placebo", model="ancova")
    with pytest.raises(ModelError, match="no post-baseline visit"):
        compare_to_control(c[c["is_baseline"]], control="Placebo", model="ancova")
