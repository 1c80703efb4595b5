"""MMRM unit tests on simulated data: likelihood, derivatives, structures, inference, fallback, errors, CLI."""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cytogate.cli import main
from cytogate.errors import ConvergenceWarning, ModelError
from cytogate.longitudinal import STRUCTURES, fit_mmrm, get_structure
from cytogate.longitudinal import reml
from cytogate.longitudinal.formula import Formula
from cytogate.longitudinal.covariance import _pacf_to_acf
from cytogate.longitudinal.lsmeans import kenward_roger_cov, kenward_roger_df, satterthwaite_df

TRUE_PHI = {
    "un": [4.0, 1.5, 3.0, 1.0, 1.2, 5.0, 0.5, 0.8, 2.0, 6.0],
    "cs": [1.5, 3.0],
    "ar1": [0.6, 4.0],
    "toep": [2.0, 1.0, 0.3, 4.0],
    "csh": [3.0, 4.0, 5.0, 6.0, 0.4],
    "ar1h": [3.0, 4.0, 5.0, 6.0, 0.6],
    "toeph": [3.0, 4.0, 5.0, 6.0, 0.5, 0.3, 0.1],
}


def simulate(
    sigma: np.ndarray, *, n_per_arm: int = 40, seed: int = 0, missing: float = 0.0, arms: tuple[str, ...] = ("PBO", "TRT")
) -> pd.DataFrame:
    """Long table: subjects x visits, arm effect growing over visits, covariate x, optional dropout."""
    rng = np.random.default_rng(seed)
    t = sigma.shape[0]
    rows = []
    for a, arm in enumerate(arms):
        for i in range(n_per_arm):
            errors = rng.multivariate_normal(np.zeros(t), sigma)
            x = rng.normal()
            sex = "F" if rng.random() < 0.4 else "M"
            for v in range(t):
                y = 10.0 + 0.8 * v + a * 0.5 * v + 1.5 * x + (sex == "F") * 0.7 + errors[v]
                if missing and v > 0 and rng.random() < missing:
                    y = np.nan
                rows.append({"id": f"{arm}{i:03d}", "arm": arm, "visit": f"V{v + 1}", "x": x, "sex": sex, "y": y})
    return pd.DataFrame(rows)


def true_sigma(cov: str, t: int = 4) -> np.ndarray:
    return get_structure(cov).sigma(np.array(TRUE_PHI[cov]), t).real


@cache
def _data(missing: float = 0.25, seed: int = 1) -> pd.DataFrame:
    return simulate(true_sigma("un"), n_per_arm=30, seed=seed, missing=missing)


# --- covariance structures ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(STRUCTURES))
def test_structures_are_positive_definite_for_any_theta(name: str) -> None:
    struct = get_structure(name)
    rng = np.random.default_rng(5)
    for t in (1, 2, 4, 6):
        n = struct.n_params(t)
        assert len(struct.param_names(t)) == n
        for _ in range(20):
            theta = rng.normal(scale=1.5, size=n)
            phi = struct.phi_from_theta(theta, t)
            assert phi.shape == (n,)
            sigma = struct.sigma(phi, t).real
            np.testing.assert_allclose(sigma, sigma.T)
            assert np.linalg.eigvalsh(sigma).min() > 0


@pytest.mark.parametrize("name", list(STRUCTURES))
def test_structure_derivatives_match_finite_differences(name: str) -> None:
    struct = get_structure(name)
    phi = np.array(TRUE_PHI[name], dtype=float)
    first = struct.dsigma(phi, 4)
    second = struct.d2sigma(phi, 4)
    for i in range(phi.size):
        h = 1e-6
        up, down = phi.copy(), phi.copy()
        up[i] += h
        down[i] -= h
        fd = (struct.sigma(up, 4).real - struct.sigma(down, 4).real) / (2 * h)
        np.testing.assert_allclose(first[i], fd, atol=1e-6)
        fd2 = (struct.dsigma(up, 4) - struct.dsigma(down, 4)) / (2 * h)
        if second is None:
            np.testing.assert_allclose(fd2, 0.0, atol=1e-6)
        else:
            np.testing.assert_allclose(second[:, i], fd2, atol=1e-4)


def test_sas_parameter_names() -> None:
    assert get_structure("un").param_names(3) == ["UN(1,1)", "UN(2,1)", "UN(2,2)", "UN(3,1)", "UN(3,2)", "UN(3,3)"]
    assert get_structure("cs").param_names(4) == ["CS", "Residual"]
    assert get_structure("AR(1)").param_names(4) == ["AR(1)", "Residual"]
    assert get_structure("toep").param_names(3) == ["TOEP(2)", "TOEP(3)", "Residual"]
    assert get_structure("ARH(1)").name == "ar1h" and get_structure("US").name == "un"
    with pytest.raises(ModelError, match="unknown covariance structure 'banded'"):
        get_structure("banded")


def test_fits_survive_pickling() -> None:
    import pickle

    fit = fit_mmrm(_data(), "y ~ x + arm*visit", subject="id", time="visit", cov="ar1h", df="kenward-roger")
    clone = pickle.loads(pickle.dumps(fit))
    pd.testing.assert_frame_equal(clone.contrasts({"arm": "PBO"}, by="visit"), fit.contrasts({"arm": "PBO"}, by="visit"))
    assert pickle.loads(pickle.dumps(get_structure("toeph"))) is get_structure("toeph")


def test_partial_autocorrelations_map_to_valid_autocorrelations() -> None:
    np.testing.assert_allclose(_pacf_to_acf(np.array([0.5, 0.0, 0.0])), [0.5, 0.25, 0.125])
    rng = np.random.default_rng(2)
    for _ in range(20):
        rho = _pacf_to_acf(rng.uniform(-0.99, 0.99, size=5))
        bands = np.concatenate([[1.0], rho])
        corr = bands[np.abs(np.subtract.outer(np.arange(6), np.arange(6)))]
        assert np.linalg.eigvalsh(corr).min() > 0


def test_ar1_uses_positions_of_ordered_levels() -> None:
    sigma = get_structure("ar1").sigma(np.array([0.5, 2.0]), 3).real
    np.testing.assert_allclose(sigma, 2.0 * np.array([[1, 0.5, 0.25], [0.5, 1, 0.5], [0.25, 0.5, 1]]))


# --- likelihood ------------------------------------------------------------------------------------


def _dense_neg2(fit, data: pd.DataFrame) -> tuple[float, float]:  # noqa: ANN001
    """-2 log-likelihood (ML) and -2 restricted log-likelihood from dense per-subject normals."""
    used = data.dropna(subset=["y"])
    sigma = fit.covariance.to_numpy()
    position = {str(v): i for i, v in enumerate(fit.times)}
    x = fit.design.build(used)[:, fit.keep]
    beta = fit.beta[fit.keep]
    ml = 0.0
    xtwx = np.zeros((x.shape[1], x.shape[1]))
    for _, rows in used.groupby("id").groups.items():
        sub = used.loc[rows]
        idx = [position[v] for v in sub["visit"]]
        s = sigma[np.ix_(idx, idx)]
        xs = x[used.index.get_indexer(rows)]
        ml -= 2 * stats.multivariate_normal(xs @ beta, s).logpdf(sub["y"].to_numpy())
        xtwx += xs.T @ np.linalg.solve(s, xs)
    reml = ml + np.linalg.slogdet(xtwx)[1] - x.shape[1] * np.log(2 * np.pi)
    return ml, reml


@pytest.mark.parametrize("cov", ["un", "ar1h", "toep"])
def test_neg2_loglik_matches_dense_normal_density_with_missing_visits(cov: str) -> None:
    data = _data()
    assert data["y"].isna().sum() > 20
    for method in ("ml", "reml"):
        fit = fit_mmrm(data, "y ~ x + sex + arm*visit", subject="id", time="visit", cov=cov, method=method)
        assert fit.converged
        ml, reml = _dense_neg2(fit, data)
        assert fit.neg2_loglik == pytest.approx(ml if method == "ml" else reml, rel=1e-10)


def test_reml_and_ml_differ_as_theory_says() -> None:
    data = _data()
    formula = "y ~ x + sex + arm*visit"
    reml = fit_mmrm(data, formula, subject="id", time="visit")
    ml = fit_mmrm(data, formula, subject="id", time="visit", method="ml")
    # ML variances are biased down relative to REML; fixed effects stay close.
    assert (np.diag(ml.covariance) < np.diag(reml.covariance)).all()
    np.testing.assert_allclose(ml.beta, reml.beta, atol=0.2)
    assert ml.aic == pytest.approx(ml.neg2_loglik + 2 * (10 + int(ml.keep.sum())))
    assert reml.aic == pytest.approx(reml.neg2_loglik + 2 * 10)
    # At the same covariance the two criteria differ by log|X'V^-1X| - p log(2 pi).
    held = fit_mmrm(data, formula, subject="id", time="visit", method="ml", cov_params=reml.phi)
    assert "held" in held.notes[-1]
    xtwx_logdet = -np.linalg.slogdet(reml.cov_beta)[1]
    p = int(reml.keep.sum())
    assert reml.neg2_loglik - held.neg2_loglik == pytest.approx(xtwx_logdet - p * np.log(2 * np.pi), rel=1e-9)


def _likelihood(cov: str, method: str) -> reml.Likelihood:
    data = _data()
    formula = Formula.parse("y ~ x + arm*visit")
    frame, x, _, times = reml.prepare_response(data, formula, "id", "visit", None, None)
    groups = reml.group_subjects(frame, x, "y", "id", "visit", times)
    return reml.Likelihood(groups, len(frame), len(times), get_structure(cov), method)


@pytest.mark.parametrize("cov", ["un", "ar1h", "toeph", "cs"])
@pytest.mark.parametrize("method", ["reml", "ml"])
def test_analytic_gradient_and_hessian(cov: str, method: str) -> None:
    lik = _likelihood(cov, method)
    phi = np.array(TRUE_PHI[cov], dtype=float)
    ev = lik.evaluate(phi, 2)
    for i in range(phi.size):
        h = 1e-5 * max(1.0, abs(phi[i]))
        up, down = phi.copy(), phi.copy()
        up[i] += h
        down[i] -= h
        hi, lo = lik.evaluate(up, 1), lik.evaluate(down, 1)
        assert ev.grad[i] == pytest.approx((hi.value - lo.value) / (2 * h), rel=1e-5, abs=1e-5)
        np.testing.assert_allclose(ev.hess[:, i], (hi.grad - lo.grad) / (2 * h), rtol=1e-4, atol=1e-4)


# --- each structure recovers a simulated covariance ---------------------------------------------


@pytest.mark.parametrize("cov", list(STRUCTURES))
def test_structure_recovers_simulated_covariance(cov: str) -> None:
    sigma = true_sigma(cov)
    data = simulate(sigma, n_per_arm=150, seed=11)
    fit = fit_mmrm(data, "y ~ x + sex + arm*visit", subject="id", time="visit", cov=cov)
    assert fit.converged and fit.cov_structure == cov and not fit.notes
    scale = np.sqrt(np.outer(np.diag(sigma), np.diag(sigma)))
    assert np.abs(fit.covariance.to_numpy() - sigma).max() <= 0.2 * scale.max()
    assert np.abs((fit.covariance.to_numpy() - sigma) / scale).max() < 0.15
    # Wald intervals of the natural parameters cover the truth (generous: 4 SE).
    se = np.sqrt(np.diag(fit.phi_cov))
    assert (np.abs(fit.phi - TRUE_PHI[cov]) <= 4 * se).all()


# --- inference -------------------------------------------------------------------------------------


@cache
def _balanced_fits():  # noqa: ANN202
    data = simulate(true_sigma("un"), n_per_arm=30, seed=3)
    sat = fit_mmrm(data, "y ~ arm*visit", subject="id", time="visit")
    kr = fit_mmrm(data, "y ~ arm*visit", subject="id", time="visit", df="kenward-roger")
    return sat, kr


def test_balanced_complete_data_df_is_exact_and_kr_equals_satterthwaite() -> None:
    sat, kr = _balanced_fits()
    ls_sat, ls_kr = sat.lsmeans("arm:visit"), kr.lsmeans("arm:visit")
    # Complete, balanced, saturated means: the exact t has n - groups = 58 df.
    np.testing.assert_allclose(ls_sat["df"], 58.0, atol=1e-3)
    np.testing.assert_allclose(ls_kr["df"], ls_sat["df"], rtol=1e-9)
    np.testing.assert_allclose(ls_kr["se"], ls_sat["se"], rtol=1e-7)
    np.testing.assert_allclose(kenward_roger_cov(kr), kr.cov_beta, atol=1e-10)
    # Cell means are plain sample means: se = sqrt(sigma_tt / n).
    var = np.diag(sat.covariance.to_numpy())
    expected = np.sqrt(np.repeat(var[None, :], 2, axis=0).ravel() / 30)
    np.testing.assert_allclose(ls_sat["se"], expected, rtol=1e-6)


def test_multi_df_tests_in_balanced_complete_data() -> None:
    sat, kr = _balanced_fits()
    # Satterthwaite: every direction has 58 df, so the combined df is 58 too.  Kenward-Roger
    # reproduces the exact Hotelling T^2 F for the within-subject tests: n - g - q + 1 = 56.
    for fit, expected in ((sat, [58, 58, 58]), (kr, [58, 56, 56])):
        table = fit.type3().set_index("effect")
        assert list(table.index) == ["arm", "visit", "arm:visit"]
        assert list(table["num_df"]) == [1, 3, 3]
        np.testing.assert_allclose(table["den_df"], expected, atol=1e-2)
    # Exact Hotelling T^2 for the visit effect (within-subject differences from V1, both arms pooled).
    data = simulate(true_sigma("un"), n_per_arm=30, seed=3)
    wide = data.pivot(index="id", columns="visit", values="y")
    diffs = wide[["V2", "V3", "V4"]].to_numpy() - wide[["V1"]].to_numpy()
    arm = np.array([i[:3] for i in wide.index])
    means = [diffs[arm == a].mean(axis=0) for a in ("PBO", "TRT")]
    pooled = sum(np.cov(diffs[arm == a], rowvar=False) * 29 for a in ("PBO", "TRT")) / 58
    avg = (means[0] + means[1]) / 2
    t2 = avg @ np.linalg.solve(pooled * (1 / 30 + 1 / 30) / 4, avg)
    exact_f = t2 * (58 - 3 + 1) / (58 * 3)
    assert kr.type3().set_index("effect").loc["visit", "F"] == pytest.approx(exact_f, rel=1e-5)
    # The arm main effect is the difference of arm LS means averaged over visits.
    diff = sat.contrasts({"arm": "PBO"})
    assert sat.type3().set_index("effect").loc["arm", "F"] == pytest.approx(diff["t"].iloc[0] ** 2, rel=1e-9)
    # Duplicate rows do not add numerator df.
    row = sat.design.row({"arm": "TRT"}) - sat.design.row({"arm": "PBO"})
    assert sat.ftest(np.vstack([row, 2 * row]))["num_df"] == 1


def test_kenward_roger_with_missing_data() -> None:
    data = _data()
    sat = fit_mmrm(data, "y ~ x + arm*visit", subject="id", time="visit", cov="ar1h")
    kr = fit_mmrm(data, "y ~ x + arm*visit", subject="id", time="visit", cov="ar1h", df="kenward-roger")
    a, b = sat.contrasts({"arm": "PBO"}, by="visit"), kr.contrasts({"arm": "PBO"}, by="visit")
    np.testing.assert_allclose(a["estimate"], b["estimate"])
    # One contrast: KR df equal Satterthwaite's; the adjusted SE is not smaller.
    np.testing.assert_allclose(b["df"], a["df"], rtol=1e-9)
    assert (b["se"] >= a["se"] * (1 - 1e-9)).all() and (b["se"] < 1.1 * a["se"]).all()
    # df stay between the residual df of one visit's between-subject comparison and the total.
    n_subjects = data["id"].nunique()
    assert ((b["df"] > n_subjects / 2) & (b["df"] < len(data.dropna()))).all()
    # Multi-row F test: positive df and a scale factor near 1.
    rows = np.array([kr.design.row({"arm": "TRT", "visit": v}) - kr.design.row({"arm": "PBO", "visit": v}) for v in kr.times])
    df, lam = kenward_roger_df(kr, rows[:, kr.keep])
    assert 20 < df < len(data) and 0.8 < lam <= 1.0 + 1e-9
    single = rows[0, kr.keep]
    assert kenward_roger_df(kr, single)[0] == pytest.approx(satterthwaite_df(kr, single), rel=1e-9)
    assert kenward_roger_df(kr, single)[1] == pytest.approx(1.0, abs=1e-9)


def test_random_intercept_matches_statsmodels_mixedlm() -> None:
    smf = pytest.importorskip("statsmodels.formula.api")
    data = simulate(true_sigma("cs"), n_per_arm=40, seed=7, missing=0.2).dropna(subset=["y"])
    fit = fit_mmrm(data, "y ~ x + arm*visit", subject="id", time="visit", cov="cs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oracle = smf.mixedlm("y ~ x + C(arm, Treatment('TRT'))*C(visit, Treatment('V4'))", data, groups=data["id"]).fit(reml=True)
    cs, residual = fit.phi
    assert cs == pytest.approx(float(oracle.cov_re.iloc[0, 0]), rel=1e-3)
    assert residual == pytest.approx(float(oracle.scale), rel=1e-3)
    assert fit.coef.set_index("term").loc["x", "estimate"] == pytest.approx(oracle.fe_params["x"], rel=1e-5)
    assert fit.coef.set_index("term").loc["x", "se"] == pytest.approx(oracle.bse_fe["x"], rel=1e-3)


def test_lsmeans_and_contrasts_tables() -> None:
    fit = fit_mmrm(_data(), "y ~ x + sex + arm*visit", subject="id", time="visit")
    ls = fit.lsmeans("arm:visit")
    assert list(ls.columns) == ["arm", "visit", "estimate", "se", "df", "t", "p", "ci_low", "ci_high"]
    assert len(ls) == 8
    diffs = fit.contrasts({"arm": "PBO"}, by="visit")
    assert list(diffs["contrast"]) == ["TRT - PBO"] * 4
    for _, row in diffs.iterrows():
        trt = ls[(ls["arm"] == "TRT") & (ls["visit"] == row["visit"])]["estimate"].iloc[0]
        pbo = ls[(ls["arm"] == "PBO") & (ls["visit"] == row["visit"])]["estimate"].iloc[0]
        assert row["estimate"] == pytest.approx(trt - pbo)
        half = stats.t.ppf(0.975, row["df"]) * row["se"]
        assert row["ci_low"] == pytest.approx(row["estimate"] - half)
        assert row["p"] == pytest.approx(2 * stats.t.sf(abs(row["t"]), row["df"]))
    # Simulated truth: TRT - PBO = 0.5 * (visit - 1); the CIs should hold it.
    truth = 0.5 * np.arange(4)
    assert ((diffs["ci_low"] < truth + 0.8) & (diffs["ci_high"] > truth - 0.8)).all()
    marginal = fit.contrasts({"arm": "PBO"})
    assert list(marginal.columns)[:2] == ["contrast", "estimate"]
    assert marginal["estimate"].iloc[0] == pytest.approx(diffs["estimate"].mean())
    wide = fit.lsmeans("arm", alpha=0.1)
    assert (wide["ci_high"] - wide["ci_low"] > 0).all()


def test_non_estimable_cell_gives_nan_and_note() -> None:
    data = _data(missing=0.0, seed=4)
    data = data[~((data["arm"] == "TRT") & (data["visit"] == "V4"))]
    fit = fit_mmrm(data, "y ~ arm*visit", subject="id", time="visit", reference={"arm": "PBO", "visit": "V1"})
    assert any("aliased" in note and "arm[TRT]:visit[V4]" in note for note in fit.notes)
    ls = fit.lsmeans("arm:visit").set_index(["arm", "visit"])
    assert np.isnan(ls.loc[("TRT", "V4"), "estimate"])
    assert np.isfinite(ls.drop(index=("TRT", "V4"))["estimate"]).all()
    assert np.isnan(fit.coef.set_index("term").loc["arm[TRT]:visit[V4]", "estimate"])


# --- fallback and errors ---------------------------------------------------------------------------


def test_fallback_when_unstructured_cannot_be_estimated() -> None:
    rng = np.random.default_rng(1)
    # Three subjects, four visits: the unstructured covariance has no interior maximum.
    rows = [
        {"id": f"S{s}", "visit": f"V{v}", "y": b + rng.normal()}
        for s, b in enumerate(rng.normal(size=3))
        for v in range(4)
    ]
    with pytest.warns(ConvergenceWarning, match="falling back"):
        fit = fit_mmrm(pd.DataFrame(rows), "y ~ 1", subject="id", time="visit", cov="un")
    assert fit.requested_structure == "un"
    assert fit.cov_structure in ("toeph", "ar1h", "cs")
    assert any("did not converge" in note and "fell back" in note for note in fit.notes)
    assert fit.converged
    assert np.isfinite(fit.coef["estimate"]).all()


def test_no_simpler_structure_left_is_flagged_not_hidden() -> None:
    rng = np.random.default_rng(0)
    # Constant within subject: the residual variance of compound symmetry goes to 0.
    rows = [
        {"id": f"S{s}", "arm": "A" if s < 5 else "B", "visit": f"V{v}", "y": b}
        for s, b in enumerate(rng.normal(size=10))
        for v in range(3)
    ]
    with pytest.warns(ConvergenceWarning, match="unreliable"):
        fit = fit_mmrm(pd.DataFrame(rows), "y ~ arm", subject="id", time="visit", cov="cs")
    assert not fit.converged and fit.cov_structure == "cs"
    assert "unreliable" in fit.notes[-1]
    assert fit.summary()["converged"] is False
    assert len(fit.lsmeans("arm")) == 2  # still tabulated, flagged by the note


def test_missing_response_and_covariate_rows_are_dropped() -> None:
    data = _data()
    data = data.copy()
    data.loc[3, "x"] = np.nan
    fit = fit_mmrm(data, "y ~ x + arm*visit", subject="id", time="visit")
    usable = data.dropna(subset=["y", "x"])
    assert fit.n_obs == len(usable)
    assert f"{len(data) - len(usable)} of {len(data)} rows not used" in fit.notes[0]


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"formula": "y ~ nope + arm"}, "'nope'"),
        ({"formula": "nope ~ arm"}, "'nope'"),
        ({"formula": "y ~ arm", "subject": "patient"}, "'patient'"),
        ({"formula": "y ~ arm", "time": "week"}, "'week'"),
        ({"formula": "arm ~ x"}, "not numeric"),
        ({"formula": "y ~ arm", "cov": "banded"}, "'banded'"),
        ({"formula": "y ~ arm", "method": "mom"}, "'mom'"),
        ({"formula": "y ~ arm", "df": "residual"}, "'residual'"),
        ({"formula": "y ~ arm", "cov_params": [1.0, 2.0]}, "10 values"),
    ],
)
def test_unusable_input_raises_model_error(kwargs: dict, fragment: str) -> None:
    args = {"subject": "id", "time": "visit", **kwargs}
    with pytest.raises(ModelError, match=fragment):
        fit_mmrm(_data(), **args)


def test_duplicate_visit_and_empty_table_errors() -> None:
    data = _data()
    dup = pd.concat([data, data.iloc[[5]]])
    with pytest.raises(ModelError, match=r"subject 'PBO001' has more than one row at visit"):
        fit_mmrm(dup, "y ~ arm", subject="id", time="visit")
    with pytest.raises(ModelError, match="no rows left"):
        fit_mmrm(data.assign(y=np.nan), "y ~ arm", subject="id", time="visit")
    fit = fit_mmrm(data, "y ~ arm", subject="id", time="visit", cov="cs")
    with pytest.raises(ModelError, match="'visit'.*not a factor"):
        fit.lsmeans("visit")
    with pytest.raises(ModelError, match="'HIGH'"):
        fit.contrasts({"arm": "HIGH"})


def test_numeric_visit_codes_and_factor_list() -> None:
    data = _data().assign(week=lambda d: d["visit"].str[1:].astype(int) * 4)
    fit = fit_mmrm(data, "y ~ x + arm*week", subject="id", time="week", factors=["week"], reference={"week": 4})
    assert fit.times == (4, 8, 12, 16)
    table = fit.contrasts({"arm": "PBO"}, by="week")
    assert list(table["week"]) == [4, 8, 12, 16]
    same = fit_mmrm(_data(), "y ~ x + arm*visit", subject="id", time="visit")
    np.testing.assert_allclose(table["estimate"], same.contrasts({"arm": "PBO"}, by="visit")["estimate"], rtol=1e-6)


# --- command line ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".tsv", ".parquet"])
def test_cli_writes_tables_and_fit_json(tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = _data()
    table = tmp_path / f"long{suffix}"
    if suffix == ".tsv":
        data.to_csv(table, sep="\t", index=False)
    else:
        data.to_parquet(table)
    out = tmp_path / "out"
    code = main(
        [
            "mmrm", str(table), "--formula", "y ~ x + sex + arm*visit", "--subject", "id", "--time", "visit",
            "--cov", "ar1h", "--df", "kenward-roger", "--lsmeans", "arm:visit", "--control", "arm=PBO",
            "--out", str(out),
        ]
    )
    assert code == 0
    assert "TRT - PBO" in capsys.readouterr().out
    contrasts = pd.read_csv(out / "contrasts.csv")
    assert list(contrasts.columns) == ["contrast", "visit", "estimate", "se", "df", "t", "p", "ci_low", "ci_high"]
    direct = fit_mmrm(data, "y ~ x + sex + arm*visit", subject="id", time="visit", cov="ar1h", df="kenward-roger")
    np.testing.assert_allclose(contrasts["estimate"], direct.contrasts({"arm": "PBO"}, by="visit")["estimate"], rtol=1e-6)
    lsmeans = pd.read_csv(out / "lsmeans.csv")
    assert list(lsmeans.columns[:2]) == ["arm", "visit"] and len(lsmeans) == 8
    info = json.loads((out / "fit.json").read_text())
    assert info["cov_structure"] == "ar1h" and info["df"] == "kenward-roger"
    assert set(info) >= {"neg2_loglik", "aic", "bic", "converged", "cov_params", "notes", "cytogate_version"}
    assert info["reference"]["arm"] == "PBO"  # --control sets the reference unless --reference says otherwise


def test_cli_bad_input_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "long.csv"
    _data().to_csv(table, index=False)
    code = main(["mmrm", str(table), "--formula", "y ~ dose", "--subject", "id", "--time", "visit", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "'dose'" in capsys.readouterr().err
    odd = tmp_path / "long.xlsx"
    odd.write_text("x")
    assert main(["mmrm", str(odd), "--formula", "y ~ arm", "--subject", "id", "--time", "visit", "--out", str(tmp_path / "o")]) == 2


def test_cli_help_teaches_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["mmrm", "--help"])
    text = capsys.readouterr().out
    assert "--control ARMCD=PBO" in text and "lsmeans.csv" in text and "toeph" in text
