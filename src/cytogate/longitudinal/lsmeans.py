"""LS means, contrasts and their degrees of freedom for a fitted MMRM.

LS means follow SAS's rule: factors not named get equal weight over their
levels (not the observed proportions), numeric covariates sit at their mean
over the rows used.  A linear combination ``l' beta`` is reported with its
standard error, degrees of freedom, t, two-sided p and a ``1 - alpha``
confidence interval.

Degrees of freedom:

- **Satterthwaite**: ``df = 2 (l'Cl)^2 / (g' W g)`` with ``C = (X'V^-1X)^-1``,
  ``g_i = d(l'Cl)/d phi_i = l' C (X'W V_i W X) C l`` and ``W`` the inverse
  observed information of the covariance parameters ``phi``;
- **Kenward-Roger** (1997): the standard error comes from the bias-adjusted
  covariance ``C_A = C + 2 C [sum_ij W_ij (Q_ij - P_i C P_j - R_ij / 4)] C``
  (``P_i = -X'W V_i W X``, ``Q_ij = X'W V_i W V_j W X``,
  ``R_ij = X'W V_ij W X``, derivatives in SAS's natural parameters) and the
  degrees of freedom from the moment-matching formula; for a single contrast
  those coincide with Satterthwaite's.

Multi-row hypotheses (:func:`ftest`, :func:`type3`) use SAS's multi-df
Satterthwaite rule or the Kenward-Roger scaled F, which reproduces the exact
Hotelling T^2 test in balanced complete data.

Non-estimable combinations (weights not in the row space of ``X``) give NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import product
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ModelError

if TYPE_CHECKING:
    from .mmrm import MmrmFit

__all__ = [
    "lsmeans", "contrasts", "estimate_table", "ftest", "type3",
    "kenward_roger_cov", "kenward_roger_df", "satterthwaite_df",
]

_COLUMNS = ["estimate", "se", "df", "t", "p", "ci_low", "ci_high"]


def satterthwaite_df(fit: MmrmFit, weights: np.ndarray) -> float:
    """Satterthwaite df of ``weights @ beta_kept`` (``weights : (n_kept,)``)."""
    c, a, w = fit.cov_beta, fit.derivs["a"], fit.phi_cov
    if a is None:  # a failed fit has no derivatives
        return float("nan")
    cl = c @ weights
    variance = float(weights @ cl)
    grad = np.einsum("a,iab,b->i", cl, a, cl)
    denom = float(grad @ w @ grad)
    if not np.isfinite(denom) or denom <= 0 or variance <= 0:
        return float("nan")
    return 2.0 * variance**2 / denom


def kenward_roger_cov(fit: MmrmFit) -> np.ndarray:
    """Kenward-Roger bias-adjusted covariance of the kept coefficients ``(n_kept, n_kept)``."""
    if "kr_cov" in fit._cache:
        return fit._cache["kr_cov"]
    c, w, a = fit.cov_beta, fit.phi_cov, fit.derivs["a"]
    if a is None or not np.all(np.isfinite(w)):  # a failed fit has no usable derivatives
        return np.full_like(c, np.nan)
    q_sum, r_sum = fit.derivs["likelihood"].kr_terms(fit.phi, w)
    ca = np.matmul(c, a)
    # sum_ij W_ij (Q_ij - P_i C P_j - R_ij/4); P_i = -A_i so P_i C P_j = A_i C A_j
    inner = q_sum - np.einsum("ij,iac,jcb->ab", w, a, ca, optimize=True) - 0.25 * r_sum
    adjusted = c + 2.0 * c @ inner @ c
    adjusted = 0.5 * (adjusted + adjusted.T)
    fit._cache["kr_cov"] = adjusted
    return adjusted


def kenward_roger_df(fit: MmrmFit, weights: np.ndarray) -> tuple[float, float]:
    """Kenward-Roger denominator df and scale ``lambda`` for ``L : (q, n_kept)`` (or one row).

    Returns
    -------
    (df, lambda) : tuple of float
        ``lambda`` scales the Wald F statistic; it is 1 for a single contrast.
    """
    lmat = np.atleast_2d(weights)
    q = lmat.shape[0]
    c, a, w = fit.cov_beta, fit.derivs["a"], fit.phi_cov
    if a is None:
        return float("nan"), float("nan")
    try:
        middle = np.linalg.inv(lmat @ c @ lmat.T)
    except np.linalg.LinAlgError:
        return float("nan"), float("nan")
    theta = lmat.T @ middle @ lmat  # (p, p)
    # M_i = Theta C P_i C with P_i = -A_i; the signs cancel in the products below.
    m = np.matmul(np.matmul(theta @ c, a), c)
    tr_m = np.einsum("iaa->i", m)
    a1 = float(tr_m @ w @ tr_m)
    a2 = float(np.einsum("ij,iab,jba->", w, m, m))
    if not (np.isfinite(a1) and np.isfinite(a2)) or a2 <= 0:
        return float("nan"), float("nan")
    big_b = (a1 + 6.0 * a2) / (2.0 * q)
    g = ((q + 1.0) * a1 - (q + 4.0) * a2) / ((q + 2.0) * a2)
    denom = 3.0 * q + 2.0 * (1.0 - g)
    c1, c2, c3 = g / denom, (q - g) / denom, (q + 2.0 - g) / denom
    e_star = 1.0 / (1.0 - a2 / q)
    v_star = (2.0 / q) * (1.0 + c1 * big_b) / ((1.0 - c2 * big_b) ** 2 * (1.0 - c3 * big_b))
    rho = v_star / (2.0 * e_star**2)
    df = 4.0 + (q + 2.0) / (q * rho - 1.0)
    lam = df / (e_star * (df - 2.0))
    return float(df), float(lam)


def _estimable(fit: MmrmFit, rows: np.ndarray) -> np.ndarray:
    """Boolean ``(k,)``: each row of ``rows : (k, p)`` lies in the row space of the design."""
    if "projector" not in fit._cache:
        fit._cache["projector"] = np.linalg.pinv(fit.x) @ fit.x
    proj = fit._cache["projector"]
    resid = np.linalg.norm(rows - rows @ proj, axis=1)
    return resid <= 1e-6 * np.maximum(1.0, np.linalg.norm(rows, axis=1))


def estimate_table(fit: MmrmFit, rows: np.ndarray, *, alpha: float = 0.05, check: bool = False) -> pd.DataFrame:
    """Estimates of ``rows @ beta`` for ``rows : (k, n_columns)`` (all design columns).

    Returns a DataFrame with ``estimate, se, df, t, p, ci_low, ci_high``; rows
    that are not estimable (only tested when ``check``) or that weight an
    aliased column in the coefficient table give NaN.
    """
    if not 0 < alpha < 1:
        raise ModelError(f"alpha must be between 0 and 1, not {alpha}")
    rows = np.atleast_2d(np.asarray(rows, dtype=float))
    ok = _estimable(fit, rows) if check else np.abs(rows[:, ~fit.keep]).sum(axis=1) == 0
    kr = fit.df_method == "kenward-roger"
    cov = kenward_roger_cov(fit) if kr else fit.cov_beta
    beta = fit.beta[fit.keep]
    out = np.full((rows.shape[0], len(_COLUMNS)), np.nan)
    for i, row in enumerate(rows):
        if not ok[i]:
            continue
        weights = row[fit.keep]
        estimate = float(weights @ beta)
        variance = float(weights @ cov @ weights)
        se = float(np.sqrt(variance)) if variance > 0 else float("nan")
        df = kenward_roger_df(fit, weights)[0] if kr else satterthwaite_df(fit, weights)
        t = estimate / se
        if np.isfinite(df) and df > 0:
            p = float(2.0 * stats.t.sf(abs(t), df))
            half = float(stats.t.ppf(1.0 - alpha / 2.0, df)) * se
        else:
            p, half = float("nan"), float("nan")
        out[i] = [estimate, se, df, t, p, estimate - half, estimate + half]
    return pd.DataFrame(out, columns=_COLUMNS)


def _factor_list(fit: MmrmFit, spec: str | Sequence[str] | None, what: str) -> list[str]:
    if spec is None:
        return []
    names = [s.strip() for s in spec.replace("*", ":").split(":")] if isinstance(spec, str) else list(spec)
    for name in names:
        if name not in fit.design.levels:
            known = ", ".join(fit.design.levels) or "none"
            raise ModelError(f"{what} names {name!r}, which is not a factor of the model (factors: {known})")
    if len(set(names)) != len(names):
        raise ModelError(f"{what} repeats a factor: {spec!r}")
    return names


def lsmeans(fit: MmrmFit, spec: str | Sequence[str], *, alpha: float = 0.05) -> pd.DataFrame:
    """LS means for every combination of levels of the factors in ``spec``.

    Parameters
    ----------
    fit : MmrmFit
    spec : str or sequence of str
        ``"ARMCD:AVISIT"`` (or ``["ARMCD", "AVISIT"]``).
    alpha : float
        1 - confidence level of the intervals.

    Returns
    -------
    DataFrame
        One column per factor, then ``estimate, se, df, t, p, ci_low, ci_high``.
    """
    names = _factor_list(fit, spec, "lsmeans")
    if not names:
        raise ModelError("lsmeans needs at least one factor, e.g. 'ARMCD:AVISIT'")
    combos = list(product(*(fit.design.levels[n] for n in names)))
    rows = np.array([fit.design.row(dict(zip(names, combo))) for combo in combos])
    table = estimate_table(fit, rows, alpha=alpha, check=True)
    for j, name in enumerate(names):
        table.insert(j, name, [combo[j] for combo in combos])
    return table


def contrasts(
    fit: MmrmFit, control: Mapping[str, Any], by: str | Sequence[str] | None = None, *, alpha: float = 0.05
) -> pd.DataFrame:
    """Differences of LS means of each level of a factor from its control level.

    Parameters
    ----------
    fit : MmrmFit
    control : mapping
        One factor and its control level, e.g. ``{"ARMCD": "PBO"}``.
    by : str or sequence of str, optional
        Factors whose levels each get their own comparison (e.g. ``"AVISIT"``).
    alpha : float

    Returns
    -------
    DataFrame
        ``contrast`` (``"TRT - PBO"``), one column per ``by`` factor, then
        ``estimate, se, df, t, p, ci_low, ci_high``.
    """
    if len(control) != 1:
        raise ModelError(
            f"control must name exactly one factor and its level, e.g. {{'ARM': 'PBO'}}, not {dict(control)}"
        )
    (factor, level), = control.items()
    _factor_list(fit, [factor], "control")
    level = fit.design.match_level(factor, level)
    by_names = _factor_list(fit, by, "by")
    if factor in by_names:
        raise ModelError(f"factor {factor!r} cannot be both the control factor and a 'by' factor")
    rows, labels, by_values = [], [], []
    for combo in product(*(fit.design.levels[n] for n in by_names)):
        setting = dict(zip(by_names, combo))
        base = fit.design.row({**setting, factor: level})
        for other in fit.design.levels[factor]:
            if other == level:
                continue
            rows.append(fit.design.row({**setting, factor: other}) - base)
            labels.append(f"{other} - {level}")
            by_values.append(combo)
    if not rows:
        raise ModelError(f"factor {factor!r} has only the control level {level!r}: nothing to compare")
    table = estimate_table(fit, np.array(rows), alpha=alpha, check=True)
    table.insert(0, "contrast", labels)
    for j, name in enumerate(by_names):
        table.insert(1 + j, name, [v[j] for v in by_values])
    return table


def ftest(fit: MmrmFit, rows: np.ndarray) -> dict[str, float]:
    """Wald F test of ``rows @ beta = 0`` for ``rows : (q, n_columns)`` with the fit's df method.

    Satterthwaite (multi-df, as SAS): the contrast is rotated to the
    eigenvectors of ``L C L'``; each direction gets its own Satterthwaite df
    ``nu_m``, and ``E = sum nu_m / (nu_m - 2)`` gives ``df = 2E / (E - q)``.
    Kenward-Roger: ``F* = lambda F`` computed with the adjusted covariance and
    the Kenward-Roger denominator df.

    Returns
    -------
    dict
        ``num_df``, ``den_df``, ``F``, ``p`` (NaN when not estimable).
    """
    rows = np.atleast_2d(np.asarray(rows, dtype=float))
    nan = {"num_df": float(rows.shape[0]), "den_df": float("nan"), "F": float("nan"), "p": float("nan")}
    if not _estimable(fit, rows).all():
        return nan
    lmat = rows[:, fit.keep]
    # Drop linearly dependent rows: the test has rank(L) numerator df.
    u, s, vt = np.linalg.svd(lmat, full_matrices=False)
    rank = int((s > 1e-9 * max(s.max(initial=0.0), 1.0)).sum())
    if rank == 0:
        return nan
    lmat = vt[:rank] * s[:rank, None]
    est = lmat @ fit.beta[fit.keep]
    if fit.df_method == "kenward-roger":
        cov = kenward_roger_cov(fit)
        f_value = float(est @ np.linalg.solve(lmat @ cov @ lmat.T, est)) / rank
        den_df, lam = kenward_roger_df(fit, lmat)
        f_value *= lam
    else:
        middle = lmat @ fit.cov_beta @ lmat.T
        f_value = float(est @ np.linalg.solve(middle, est)) / rank
        values, vectors = np.linalg.eigh(middle)
        nus = np.array([satterthwaite_df(fit, vectors[:, m] @ lmat) for m in range(rank)])
        big_e = float(np.sum(nus[nus > 2] / (nus[nus > 2] - 2.0)))
        den_df = 2.0 * big_e / (big_e - rank) if big_e > rank else float("nan")
    p = float(stats.f.sf(f_value, rank, den_df)) if np.isfinite(den_df) and den_df > 0 else float("nan")
    return {"num_df": float(rank), "den_df": float(den_df), "F": float(f_value), "p": p}


def type3(fit: MmrmFit) -> pd.DataFrame:
    """Type 3 tests of each fixed-effect term (SAS's "Type 3 Tests of Fixed Effects").

    A term of factors is tested through its interaction contrasts of LS means
    (other factors weighted equally), which are SAS's Type 3 hypotheses when
    every cell is observed; a numeric covariate alone is tested by its
    coefficient.  Terms mixing covariates and factors are not supported (NaN).

    Returns
    -------
    DataFrame
        ``effect, num_df, den_df, F, p``.
    """
    design = fit.design
    out = []
    for term in design.formula.terms:
        names = term.variables
        if all(n in design.levels for n in names):
            rows = []
            for combo in product(*([lvl for lvl in design.levels[n] if lvl != design.reference[n]] for n in names)):
                row = np.zeros(len(design.column_names))
                for corners in product((True, False), repeat=len(names)):
                    setting = {n: (lvl if keep else design.reference[n]) for n, lvl, keep in zip(names, combo, corners)}
                    row += (-1.0) ** corners.count(False) * design.row(setting)
                rows.append(row)
            result = ftest(fit, np.array(rows))
        elif len(names) == 1:
            result = ftest(fit, np.eye(len(design.column_names))[[design.column_names.index(names[0])]])
        else:
            result = {"num_df": float("nan"), "den_df": float("nan"), "F": float("nan"), "p": float("nan")}
        out.append({"effect": term.label, **result})
    return pd.DataFrame(out, columns=["effect", "num_df", "den_df", "F", "p"])
