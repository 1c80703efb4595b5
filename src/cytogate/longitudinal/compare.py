"""Comparisons with the control arm, per visit (and per ``by`` group).

Three methods, chosen by ``model``:

* ``"mmrm"`` (default for counts): one mixed model for repeated measures per
  ``by`` group on the post-baseline visits, ``log_value ~ log_baseline + ARM*VISIT``
  (``value ~ baseline + ARM*VISIT`` on the raw scale) with the control arm as
  reference, unstructured covariance by default; differences of LS means
  versus control per visit (see :mod:`cytogate.longitudinal.mmrm`).
* ``"ancova"``: per visit, ordinary least squares of the same model within
  the visit, ``log_value ~ 1 + log_baseline + arm``; the arm coefficient is the
  difference versus control with ``df = n - p``.
* ``"wilcoxon"``: per visit, the Wilcoxon rank-sum test of % change versus
  control and the Hodges–Lehmann shift with its CI (in percentage points).

On the log scale the estimate ``d`` is back-transformed: ``ratio = exp(d)``
and the placebo-adjusted ``pct_change = 100 · (exp(d) - 1)``, with the CI
transformed the same way.  On the raw scale (and for the rank test, where the
estimate already is a difference of % changes) ``ratio`` is NaN.

Rank statistics: :func:`hodges_lehmann` gives ``median(x_i - y_j)`` over all
pairs and the distribution-free CI ``[D_(k), D_(nm + 1 - k)]`` from the sorted
pairwise differences, ``k`` the largest integer with ``P(U <= k - 1) <= alpha/2``
under the null (Hollander & Wolfe).  The null distribution of U is exact when
there are no ties and both samples have fewer than 50 values (R's rule) and
normal with the tie-corrected variance otherwise; :func:`rank_sum_test` uses
``scipy.stats.mannwhitneyu`` with the same choice.  :func:`adjust_pvalues`
implements Holm's step-down and Benjamini–Hochberg's step-up adjustments.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DataQualityWarning, ModelError
from .baseline import require_columns

__all__ = [
    "CONTRAST_COLUMNS",
    "HodgesLehmann",
    "adjust_pvalues",
    "ancova",
    "compare_to_control",
    "hodges_lehmann",
    "mann_whitney_null",
    "rank_sum_test",
]

log = logging.getLogger(__name__)

Model = Literal["mmrm", "ancova", "wilcoxon"]
Scale = Literal["log", "raw"]

CONTRAST_COLUMNS = (
    "visit", "arm", "estimate", "se", "df", "ci_low", "ci_high", "p", "ratio", "pct_change",
    "pct_ci_low", "pct_ci_high", "p_adj", "method", "n_arm", "n_control", "t", "note",
)  # fmt: skip

EXACT_LIMIT = 50


def mann_whitney_null(n: int, m: int) -> np.ndarray:
    """Null probabilities ``(n·m + 1,)`` of the Mann–Whitney U for samples of sizes n and m, no ties.

    The counts are the coefficients of the Gaussian binomial ``[n+m choose n]_q``,
    built exactly with Python integers by multiplying ``(1 - q^(m+i)) / (1 - q^i)``
    for ``i = 1..n``.
    """
    size = n * m + 1
    c = [0] * size
    c[0] = 1
    for i in range(1, n + 1):
        step = m + i
        for k in range(size - 1, step - 1, -1):
            c[k] -= c[k - step]
        for k in range(i, size):  # division by (1 - q^i) as a power series
            c[k] += c[k - i]
    total = sum(c)
    return np.array([x / total for x in c], dtype=float)


@lru_cache(maxsize=256)
def _null_cdf(n: int, m: int) -> np.ndarray:
    # U's null distribution is symmetric in (n, m); cached because every visit × arm repeats sizes.
    cdf = np.cumsum(mann_whitney_null(n, m))
    cdf.flags.writeable = False
    return cdf


def _uses_exact(x: np.ndarray, y: np.ndarray) -> bool:
    pooled = np.concatenate([x, y])
    return len(x) < EXACT_LIMIT and len(y) < EXACT_LIMIT and np.unique(pooled).size == pooled.size


@dataclass(frozen=True)
class HodgesLehmann:
    """A Hodges–Lehmann shift estimate ``x - y`` with its confidence interval."""

    estimate: float
    ci_low: float
    ci_high: float
    exact: bool
    n_x: int
    n_y: int


def hodges_lehmann(x: np.ndarray, y: np.ndarray, *, alpha: float = 0.05) -> HodgesLehmann:
    """Hodges–Lehmann shift of ``x : (n,)`` relative to ``y : (m,)`` and its ``1 - alpha`` CI.

    NaN values are dropped.  With an empty sample every field is NaN.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    n, m = x.size, y.size
    if n == 0 or m == 0:
        return HodgesLehmann(np.nan, np.nan, np.nan, False, n, m)
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    estimate = float(np.median(diffs))
    nm = n * m
    exact = _uses_exact(x, y)
    if exact:
        cdf = _null_cdf(min(n, m), max(n, m))
        # k - 1 = number of U values u with P(U <= u) <= alpha/2
        k = int(np.searchsorted(cdf, alpha / 2 * (1 + 1e-12), side="right"))
    else:
        pooled = np.concatenate([x, y])
        _, ties = np.unique(pooled, return_counts=True)
        big_n = n + m
        var = nm / 12.0 * ((big_n + 1) - np.sum(ties**3 - ties) / (big_n * (big_n - 1)))
        z = stats.norm.ppf(1 - alpha / 2)
        k = int(np.floor(nm / 2.0 - z * np.sqrt(var)))
    if k < 1:  # samples too small for this confidence level
        return HodgesLehmann(estimate, -np.inf, np.inf, exact, n, m)
    return HodgesLehmann(estimate, float(diffs[k - 1]), float(diffs[nm - k]), exact, n, m)


def rank_sum_test(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided Wilcoxon rank-sum p value of ``x`` vs ``y`` (NaN dropped; NaN if a sample is empty)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if x.size == 0 or y.size == 0:
        return np.nan
    method = "exact" if _uses_exact(x, y) else "asymptotic"
    return float(stats.mannwhitneyu(x, y, alternative="two-sided", method=method).pvalue)


def adjust_pvalues(p: np.ndarray, method: Literal["holm", "bh"]) -> np.ndarray:
    """Holm or Benjamini–Hochberg adjusted p values ``(k,)``; NaN entries stay NaN and do not count."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    k = q.size
    if k == 0:
        return out
    order = np.argsort(q, kind="stable")
    ranked = q[order]
    if method == "holm":
        adj = np.maximum.accumulate((k - np.arange(k)) * ranked)
    elif method == "bh":
        adj = np.minimum.accumulate((k / np.arange(k, 0, -1)) * ranked[::-1])[::-1]
    else:
        raise ModelError(f"unknown p-value adjustment {method!r}; use holm or bh")
    res = np.empty(k)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


def ancova(
    response: np.ndarray,
    covariate: np.ndarray | None,
    group: np.ndarray,
    *,
    control: str,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """OLS ``response ~ 1 + covariate + group`` with ``control`` as the reference level.

    Parameters
    ----------
    response : (n,)
        Outcome; rows with a non-finite response or covariate are dropped.
    covariate : (n,) or None
        Covariate (e.g. log baseline); None for a one-way model.
    group : (n,)
        Arm labels.
    control : str
        Reference arm.
    alpha : float
        1 - confidence level.

    Returns
    -------
    DataFrame
        One row per non-control arm present: ``arm, estimate, se, df, t, p,
        ci_low, ci_high, n_arm, n_control, note``; statistics are NaN with a
        note when the model cannot be estimated (no control data, n <= p, or a
        rank-deficient design).
    """
    y = np.asarray(response, dtype=float)
    g = np.asarray(group).astype(str)
    ok = np.isfinite(y)
    if covariate is not None:
        cov = np.asarray(covariate, dtype=float)
        ok &= np.isfinite(cov)
    y, g = y[ok], g[ok]
    arms = [str(a) for a in dict.fromkeys(g) if a != str(control)]
    n_control = int(np.sum(g == str(control)))
    columns = [np.ones(y.size)] + ([cov[ok]] if covariate is not None else [])
    columns += [(g == a).astype(float) for a in arms]
    x = np.column_stack(columns) if y.size else np.empty((0, len(columns)))
    n, p = x.shape
    note = ""
    if n_control == 0:
        note = "no control-arm data at this visit"
    elif n <= p:
        note = f"too few observations ({n}) for {p} parameters"
    elif np.linalg.matrix_rank(x) < p:
        note = "design is rank deficient (covariate constant or collinear)"
    rows = []
    if note:
        for a in arms:
            rows.append({"arm": a, "n_arm": int(np.sum(g == a)), "n_control": n_control, "note": note})
        return pd.DataFrame(rows)
    # QR keeps the fit stable when the covariate is far from 0.
    q, r = np.linalg.qr(x)
    beta = np.linalg.solve(r, q.T @ y)
    resid = y - x @ beta
    dof = n - p
    sigma2 = float(resid @ resid) / dof
    r_inv = np.linalg.solve(r, np.eye(p))
    cov_beta = sigma2 * (r_inv @ r_inv.T)
    tcrit = stats.t.ppf(1 - alpha / 2, dof)
    first = p - len(arms)
    for j, a in enumerate(arms):
        est = float(beta[first + j])
        se = float(np.sqrt(cov_beta[first + j, first + j]))
        t = est / se if se > 0 else np.nan
        rows.append({
            "arm": a, "estimate": est, "se": se, "df": float(dof), "t": t,
            "p": float(2 * stats.t.sf(abs(t), dof)) if np.isfinite(t) else np.nan,
            "ci_low": est - tcrit * se, "ci_high": est + tcrit * se,
            "n_arm": int(np.sum(g == a)), "n_control": n_control, "note": "",
        })  # fmt: skip
    return pd.DataFrame(rows)


def _wilcoxon_rows(frame: pd.DataFrame, control: str, alpha: float) -> list[dict]:
    y = frame.loc[frame["arm"] == control, "pct_change"].to_numpy(dtype=float)
    rows = []
    for a in [str(a) for a in frame["arm"].unique() if a != control]:
        x = frame.loc[frame["arm"] == a, "pct_change"].to_numpy(dtype=float)
        hl = hodges_lehmann(x, y, alpha=alpha)
        kind = "exact" if hl.exact else "normal approx."
        rows.append({
            "arm": a, "estimate": hl.estimate, "ci_low": hl.ci_low, "ci_high": hl.ci_high,
            "p": rank_sum_test(x, y), "n_arm": hl.n_x, "n_control": hl.n_y,
            "method": f"Wilcoxon rank-sum on % change, Hodges-Lehmann shift ({kind})",
            "note": "" if hl.n_x and hl.n_y else "no data in one arm",
        })  # fmt: skip
    return rows


_CONTRAST = re.compile(r"^\s*(.*?)\s+-\s+(.*?)\s*$")


def _mmrm_rows(
    frame: pd.DataFrame, *, control: str, scale: Scale, cov: str, method: str, df: str, visits: list[str],
    alpha: float,
) -> list[dict]:
    try:
        from .mmrm import fit_mmrm
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelError("the MMRM engine is not available; use --model ancova or wilcoxon") from exc
    response, covariate = ("log_value", "log_baseline") if scale == "log" else ("value", "baseline")
    data = pd.DataFrame({
        response: frame[response].to_numpy(dtype=float),
        covariate: frame[covariate].to_numpy(dtype=float),
        "ARM": frame["arm"].astype(str).to_numpy(),
        "VISIT": pd.Categorical(frame["visit"].astype(str), categories=visits, ordered=True),
        "SUBJECT": frame["subject"].astype(str).to_numpy(),
    })  # fmt: skip
    data = data[np.isfinite(data[response]) & np.isfinite(data[covariate])]
    if data.empty or not (data["ARM"] == control).any():
        return []
    present = [v for v in visits if (data["VISIT"] == v).any()]
    data["VISIT"] = data["VISIT"].cat.set_categories(present, ordered=True)
    arms = [a for a in dict.fromkeys(data["ARM"]) if a != control]
    data["ARM"] = pd.Categorical(data["ARM"], categories=[control, *sorted(arms)])
    formula = f"{response} ~ {covariate} + ARM*VISIT"
    try:
        fit = fit_mmrm(
            data, formula, subject="SUBJECT", time="VISIT", cov=cov, method=method, df=df,
            reference={"ARM": control}, factors=["ARM", "VISIT"],
        )  # fmt: skip
        table = fit.contrasts(control={"ARM": control}, by="VISIT", alpha=alpha)
    except ModelError as exc:
        # One group that cannot be fitted (too few subjects, ...) must not sink the others.
        log.warning("MMRM not fitted for one group: %s", exc)
        return [{"visit": v, "arm": a, "method": f"MMRM {formula}", "note": f"not fitted: {exc}"}
                for v in present for a in arms]  # fmt: skip
    label = f"MMRM {formula}, covariance {fit.cov_structure}, {method.upper()}, {df} df"
    notes = "; ".join(str(n) for n in (fit.notes or []))
    counts = data.groupby(["VISIT", "ARM"], observed=True).size()
    rows = []
    for rec in table.to_dict("records"):
        match = _CONTRAST.match(str(rec["contrast"]))
        arm = match.group(1) if match else str(rec["contrast"])
        visit = str(rec["VISIT"])
        rows.append({
            "visit": visit, "arm": arm, "estimate": rec["estimate"], "se": rec["se"], "df": rec["df"],
            "t": rec["t"], "p": rec["p"], "ci_low": rec["ci_low"], "ci_high": rec["ci_high"],
            "n_arm": int(counts.get((visit, arm), 0)), "n_control": int(counts.get((visit, control), 0)),
            "method": label, "note": notes,
        })  # fmt: skip
    return rows


def compare_to_control(
    change: pd.DataFrame,
    *,
    control: str,
    by: Sequence[str] = (),
    model: Model = "mmrm",
    scale: Scale = "log",
    adjust: Literal["holm", "bh"] | None = None,
    family: Sequence[str] = (),
    alpha: float = 0.05,
    cov: str = "un",
    method: str = "reml",
    df: str = "satterthwaite",
) -> pd.DataFrame:
    """Compare each arm with the control arm at every post-baseline visit.

    Parameters
    ----------
    change : DataFrame
        A change table (:func:`~cytogate.longitudinal.change.change_from_baseline`).
    control : str
        Control arm label.
    by : sequence of str
        Groups analysed separately (e.g. ``population``).
    model : {"mmrm", "ancova", "wilcoxon"}
        See the module docstring.
    scale : {"log", "raw"}
        Analyse log value with log baseline as covariate, or value with baseline.
    adjust : {"holm", "bh"}, optional
        Multiplicity adjustment of ``p`` into ``p_adj`` (else ``p_adj = p``).
    family : sequence of str
        Columns defining adjustment families (default: the whole table is one family).
    alpha : float
        1 - confidence level (the MMRM reports 95% intervals).
    cov, method, df : str
        MMRM covariance structure, estimation method and degrees of freedom.

    Returns
    -------
    DataFrame
        ``by`` columns followed by :data:`CONTRAST_COLUMNS`.

    Raises
    ------
    ModelError
        Unknown model or scale, missing columns, control arm absent.
    """
    if model not in ("mmrm", "ancova", "wilcoxon"):
        raise ModelError(f"unknown model {model!r}; use mmrm, ancova or wilcoxon")
    if scale not in ("log", "raw"):
        raise ModelError(f"unknown scale {scale!r}; use log or raw")
    by = list(by)
    response, covariate = ("log_value", "log_baseline") if scale == "log" else ("value", "baseline")
    require_columns(change, [*by, "subject", "arm", "visit", "is_baseline", response, covariate, "pct_change"],
                    what="change table")  # fmt: skip
    arms = change["arm"].astype(str)
    if not (arms == str(control)).any():
        raise ModelError(f"control arm {control!r} not found in the arm column (arms: {sorted(arms.unique())})")
    control = str(control)
    if (arms == control).all():
        raise ModelError(f"no arm other than the control {control!r} in the arm column: nothing to compare")
    post = change.loc[~change["is_baseline"].astype(bool)].copy()
    if post.empty:
        raise ModelError("the change table has no post-baseline visit: nothing to compare")
    if scale == "log" and model != "wilcoxon" and "value" in change.columns:
        nonpositive = int((change["value"] <= 0).sum())
        if nonpositive:
            warnings.warn(
                f"{nonpositive} value(s) <= 0 have no logarithm and are left out of the {model} fit; "
                "state a limit-of-quantitation rule (--lloq) or use --scale raw",
                DataQualityWarning,
                stacklevel=2,
            )
    post["arm"] = post["arm"].astype(str)
    if isinstance(change["visit"].dtype, pd.CategoricalDtype):
        visits = [str(v) for v in change["visit"].cat.categories if (post["visit"] == v).any()]
    else:
        visits = list(dict.fromkeys(post["visit"].astype(str)))
    post["visit"] = post["visit"].astype(str)
    if isinstance(change["arm"].dtype, pd.CategoricalDtype):
        arm_order = [str(a) for a in change["arm"].cat.categories]
    else:
        arm_order = list(dict.fromkeys(arms))
    rows: list[dict] = []
    groups = post.groupby(by, sort=False, observed=True) if by else [((), post)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        keys = dict(zip(by, key))
        if model == "mmrm":
            rows += [{**keys, **r} for r in _mmrm_rows(group, control=control, scale=scale, cov=cov,
                                                       method=method, df=df, visits=visits, alpha=alpha)]  # fmt: skip
            continue
        for visit in visits:
            frame = group[group["visit"] == visit]
            if frame.empty:
                continue
            if model == "ancova":
                res = ancova(frame[response].to_numpy(), frame[covariate].to_numpy(), frame["arm"].to_numpy(),
                             control=control, alpha=alpha)  # fmt: skip
                label = f"ANCOVA {response} ~ {covariate} + arm (OLS within visit)"
                rows += [{**keys, "visit": visit, "method": label, **r} for r in res.to_dict("records")]
            else:
                rows += [{**keys, "visit": visit, **r} for r in _wilcoxon_rows(frame, control, alpha)]
    out = pd.DataFrame(rows, columns=list(dict.fromkeys([*by, *CONTRAST_COLUMNS])) if not rows else None)
    for col in CONTRAST_COLUMNS:
        if col not in out.columns:
            out[col] = "" if col in ("method", "note", "visit", "arm") else np.nan
    if model != "wilcoxon" and scale == "log":
        est = out["estimate"].to_numpy(dtype=float)
        out["ratio"] = np.exp(est)
        out["pct_change"] = 100.0 * np.expm1(est)
        out["pct_ci_low"] = 100.0 * np.expm1(out["ci_low"].to_numpy(dtype=float))
        out["pct_ci_high"] = 100.0 * np.expm1(out["ci_high"].to_numpy(dtype=float))
    elif model == "wilcoxon":
        out["pct_change"], out["pct_ci_low"], out["pct_ci_high"] = out["estimate"], out["ci_low"], out["ci_high"]
    out["p_adj"] = out["p"]
    if adjust is not None and len(out):
        if family:
            for _, idx in out.groupby(list(family), sort=False).groups.items():
                out.loc[idx, "p_adj"] = adjust_pvalues(out.loc[idx, "p"].to_numpy(dtype=float), adjust)
        else:
            out["p_adj"] = adjust_pvalues(out["p"].to_numpy(dtype=float), adjust)
        out["method"] = out["method"] + f"; p_adj {'Holm' if adjust == 'holm' else 'Benjamini-Hochberg'}"
    out = out[[*by, *CONTRAST_COLUMNS]]
    if len(out):
        v_rank = out["visit"].map({v: i for i, v in enumerate(visits)})
        a_rank = out["arm"].map({a: i for i, a in enumerate(arm_order)})
        out = out.assign(_v=v_rank, _a=a_rank).sort_values([*by, "_v", "_a"], kind="stable")
        out = out.drop(columns=["_v", "_a"])
    for col in ("n_arm", "n_control"):
        out[col] = out[col].fillna(0).astype(int)
    return out.reset_index(drop=True)
