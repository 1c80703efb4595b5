"""Descriptive summaries of a change table by arm × visit (× groups × subgroup).

For each of ``value``, ``change`` and ``pct_change`` the summary gives
``<var>_n, _mean, _sd, _se, _median, _q1, _q3, _min, _max``: missing values are
left out, ``sd`` uses ``n - 1`` (NaN when n < 2), ``se = sd / sqrt(n)``, and the
quartiles use linear interpolation between order statistics (numpy's default,
Hyndman–Fan type 7, R's default; SAS's default PCTLDEF=5 can differ for small n).

The geometric mean ratio to baseline is ``gmr = exp(mean(log_ratio))`` over
subjects with a positive value and baseline (``gmr_n`` of them), with the
t-based 95% CI ``exp(mean ± t(0.975, n-1) · sd / sqrt(n))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ModelError
from .baseline import require_columns

__all__ = ["STATISTICS", "describe", "geometric_mean_ratio", "summarize_change"]

STATISTICS = ("n", "mean", "sd", "se", "median", "q1", "q3", "min", "max")


def describe(x: np.ndarray) -> dict[str, float]:
    """The :data:`STATISTICS` of ``x : (n,)``, NaN ignored; all NaN (n = 0) when empty."""
    x = np.asarray(x, dtype=float)
    x = x[~np.isnan(x)]
    n = x.size
    if n == 0:
        return {"n": 0, **{k: np.nan for k in STATISTICS[1:]}}
    sd = float(np.std(x, ddof=1)) if n > 1 else np.nan
    q1, median, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    return {
        "n": n,
        "mean": float(np.mean(x)),
        "sd": sd,
        "se": sd / np.sqrt(n),
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "min": float(x.min()),
        "max": float(x.max()),
    }


def geometric_mean_ratio(log_ratio: np.ndarray, *, alpha: float = 0.05) -> dict[str, float]:
    """Geometric mean ratio and its t-based ``1 - alpha`` CI from natural-log ratios ``(n,)``.

    Returns ``gmr_n``, ``gmr``, ``gmr_ci_low``, ``gmr_ci_high`` (CI NaN when n < 2).
    """
    x = np.asarray(log_ratio, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return {"gmr_n": 0, "gmr": np.nan, "gmr_ci_low": np.nan, "gmr_ci_high": np.nan}
    mean = float(np.mean(x))
    if n < 2:
        return {"gmr_n": n, "gmr": float(np.exp(mean)), "gmr_ci_low": np.nan, "gmr_ci_high": np.nan}
    half = stats.t.ppf(1 - alpha / 2, n - 1) * np.std(x, ddof=1) / np.sqrt(n)
    return {
        "gmr_n": n,
        "gmr": float(np.exp(mean)),
        "gmr_ci_low": float(np.exp(mean - half)),
        "gmr_ci_high": float(np.exp(mean + half)),
    }


def summarize_change(
    change: pd.DataFrame,
    *,
    by: Sequence[str] = (),
    subgroup: str | None = None,
    variables: Sequence[str] = ("value", "change", "pct_change"),
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Summaries per ``by`` × ``subgroup`` × arm × visit.

    Parameters
    ----------
    change : DataFrame
        A table from :func:`~cytogate.longitudinal.change.change_from_baseline`.
    by : sequence of str
        Grouping columns (e.g. ``population``).
    subgroup : str, optional
        A subgroup column (see :mod:`cytogate.longitudinal.subgroups`).
    variables : sequence of str
        Columns to describe.
    alpha : float
        1 - confidence level of the geometric-mean-ratio CI.

    Returns
    -------
    DataFrame, (n_cells, ...)
        Group columns, then ``<var>_<stat>`` for each variable and statistic,
        then ``gmr_n``, ``gmr``, ``gmr_ci_low``, ``gmr_ci_high``.
    """
    keys = [*by, *([subgroup] if subgroup else []), "arm", "visit"]
    require_columns(change, [*keys, *variables, "log_ratio"], what="change table")
    if not 0 < alpha < 1:
        raise ModelError(f"alpha must be in (0, 1), got {alpha}")
    rows = []
    for key, group in change.groupby(keys, observed=True, sort=True, dropna=False):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        for var in variables:
            for stat, val in describe(group[var].to_numpy()).items():
                row[f"{var}_{stat}"] = val
        row.update(geometric_mean_ratio(group["log_ratio"].to_numpy(), alpha=alpha))
        rows.append(row)
    columns = keys + [f"{v}_{s}" for v in variables for s in STATISTICS] + ["gmr_n", "gmr", "gmr_ci_low", "gmr_ci_high"]
    out = pd.DataFrame(rows, columns=columns)
    for var in variables:
        out[f"{var}_n"] = out[f"{var}_n"].astype(int)
    out["gmr_n"] = out["gmr_n"].astype(int)
    return out
