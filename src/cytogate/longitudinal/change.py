"""The change-from-baseline table: one row per subject × group × visit.

Columns of the table :func:`change_from_baseline` returns (in this order):

``<by columns>``, ``subject``, ``arm``, ``visit`` (ordered categorical,
baseline first), ``day`` (when a day column is given), ``value``, ``baseline``,
``change = value - baseline``, ``pct_change = 100 · change / baseline``,
``pct_change_undefined`` (baseline is 0: ``pct_change`` is NaN, never
infinite), ``log_value``, ``log_baseline``, ``log_ratio = log(value / baseline)``
(natural log; NaN unless both are > 0), ``below_lloq``,
``baseline_below_lloq``, ``value_reported`` (the value before the LLOQ rule)
and ``is_baseline``, plus any ``keep`` columns.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import DataQualityWarning, ModelError
from .baseline import BaselineMethod, VisitWindow, assign_visit_windows, derive_baseline, require_columns

__all__ = ["LloqRule", "change_from_baseline", "natural_key", "order_visits", "order_arms"]

log = logging.getLogger(__name__)

LloqMode = Literal["half", "limit", "zero", "missing"]

RESERVED = (
    "subject", "arm", "visit", "day", "value", "baseline", "change", "pct_change",
    "pct_change_undefined", "log_value", "log_baseline", "log_ratio", "below_lloq",
    "baseline_below_lloq", "value_reported", "is_baseline",
)  # fmt: skip


@dataclass(frozen=True)
class LloqRule:
    """How values below a lower limit of quantitation are replaced.

    Parameters
    ----------
    limit : float
        The LLOQ; values strictly below it are "below the limit".
    mode : {"half", "limit", "zero", "missing"}
        Replacement: ``limit / 2`` (the usual LLOQ/2 rule), the limit itself,
        0, or missing (the row then drops out of every analysis).
    """

    limit: float
    mode: LloqMode = "half"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.limit) and self.limit > 0):
            raise ModelError(f"LLOQ must be a positive number, got {self.limit}")
        if self.mode not in ("half", "limit", "zero", "missing"):
            raise ModelError(f"unknown LLOQ rule {self.mode!r}; use half, limit, zero or missing")

    @property
    def replacement(self) -> float:
        return {"half": self.limit / 2, "limit": self.limit, "zero": 0.0, "missing": math.nan}[self.mode]

    def describe(self) -> str:
        """The rule in words, for output notes."""
        names = {"half": "LLOQ/2", "limit": "LLOQ", "zero": "0", "missing": "missing"}
        return f"values below LLOQ {self.limit:g} set to {names[self.mode]} ({self.replacement:g})"

    def apply(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(replaced, below)`` for ``values : (n,)``; NaN stays NaN and is not below."""
        values = np.asarray(values, dtype=float)
        below = values < self.limit  # NaN compares False
        return np.where(below, self.replacement, values), below


_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")


def natural_key(label: object) -> tuple:
    """Sort key that orders ``"Week 4" < "Week 12"`` and ``"0.15 mg" < "0.3 mg"``."""
    parts = _NUMBER.split(str(label))
    return tuple((0, float(p), "") if i % 2 else (1, 0.0, p.lower()) for i, p in enumerate(parts) if p != "")


def order_visits(
    labels: Iterable[object], *, baseline: object | None = None, days: pd.Series | None = None
) -> list[str]:
    """Visit labels in time order: baseline first, then by median study day (when ``days`` is
    given, indexed by label) else by :func:`natural_key`."""
    unique = list(dict.fromkeys(str(x) for x in labels))
    if days is not None:
        median = {str(k): v for k, v in days.items()}
        unique.sort(key=lambda x: (median.get(x, math.inf), natural_key(x)))
    else:
        unique.sort(key=natural_key)
    if baseline is not None and str(baseline) in unique:
        unique.remove(str(baseline))
        unique.insert(0, str(baseline))
    return unique


def order_arms(labels: Iterable[object], *, control: object | None = None) -> list[str]:
    """Arm labels: the control first, the others in :func:`natural_key` order."""
    unique = sorted(dict.fromkeys(str(x) for x in labels), key=natural_key)
    if control is not None and str(control) in unique:
        unique.remove(str(control))
        unique.insert(0, str(control))
    return unique


def _safe_log(x: np.ndarray) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    positive = x > 0
    out[positive] = np.log(x[positive])
    return out


def change_from_baseline(
    table: pd.DataFrame,
    *,
    subject: str,
    arm: str,
    visit: str,
    value: str,
    baseline: str | None = None,
    by: Sequence[str] = (),
    day: str | None = None,
    baseline_method: BaselineMethod = "visit",
    lookback: float = math.inf,
    windows: Sequence[VisitWindow] | None = None,
    lloq: LloqRule | None = None,
    visits: Sequence[str] | None = None,
    control: str | None = None,
    keep: Sequence[str] = (),
) -> pd.DataFrame:
    """Derive value, baseline, change, % change and log ratio per subject × group × visit.

    Parameters
    ----------
    table : DataFrame, (n_rows, ...)
        Long table (e.g. a cytogate ``counts.csv`` with sample-sheet columns).
    subject, arm, visit, value : str
        Input column names.
    baseline : str, optional
        Baseline visit label (needed for ``baseline_method="visit"``).
    by : sequence of str
        Grouping columns (typically ``population``).
    day : str, optional
        Study-day column; needed for windows and for ``"last_before_day1"``.
    baseline_method : {"visit", "last_before_day1"}
        See :func:`~cytogate.longitudinal.baseline.derive_baseline`.
    lookback : float
        Look-back in days for ``"last_before_day1"``.
    windows : sequence of VisitWindow, optional
        When given, analysis visits are assigned from ``day`` by these windows.
    lloq : LloqRule, optional
        Rule for values below a limit of quantitation (applied before the
        baseline is derived, so it covers baselines too).
    visits : sequence of str, optional
        Visit order; rows at other visits are dropped.  Default: baseline first,
        then by median day or natural label order.
    control : str, optional
        Control arm label; listed first in the arm order.
    keep : sequence of str
        Further columns to carry (e.g. a subgroup variable).

    Returns
    -------
    DataFrame, (n_subjects × n_groups × n_visits, ...)
        The columns listed in the module docstring.

    Raises
    ------
    ModelError
        Missing column, non-numeric value, duplicate rows for one subject,
        group and visit, a subject in two arms, or no baseline for anyone.
    """
    by = list(by)
    keep = [k for k in keep if k not in (subject, arm, visit, value, day, *by)]
    require_columns(table, [subject, arm, visit if windows is None else None, value, day, *by, *keep])
    clash = [c for c in by + keep if c in RESERVED]
    if clash:
        raise ModelError(f"column name {clash[0]!r} is reserved in the change table; rename it in the input")
    if windows is not None:
        if day is None:
            raise ModelError("visit windows need a study-day column (--day)")
        table = assign_visit_windows(table, windows, subject=subject, day=day, by=by, value=value, visit=visit)

    numeric = pd.to_numeric(table[value], errors="coerce")
    bad = numeric.isna() & table[value].notna()
    if bad.any():
        raise ModelError(f"column {value!r} has non-numeric value {table[value][bad].iloc[0]!r}")
    cols = {**{b: b for b in by}, subject: "subject", arm: "arm", visit: "visit"}
    if day is not None:
        cols[day] = "day"
    work = pd.DataFrame({new: table[old].to_numpy() for old, new in cols.items()})
    for k in keep:
        work[k] = table[k].to_numpy()
    for c in ("subject", "arm", "visit"):
        work[c] = work[c].astype(str)
    if day is not None:
        work["day"] = pd.to_numeric(work["day"], errors="coerce")
    reported = numeric.to_numpy(dtype=float)
    work["value_reported"] = reported
    if lloq is not None:
        work["value"], work["below_lloq"] = lloq.apply(reported)
    else:
        work["value"], work["below_lloq"] = reported, np.zeros(len(work), dtype=bool)

    arms_per_subject = work.groupby("subject")["arm"].nunique()
    if (arms_per_subject > 1).any():
        who = arms_per_subject.index[arms_per_subject > 1][0]
        raise ModelError(f"subject {who!r} appears in more than one arm (column {arm!r})")
    keys = [*by, "subject", "visit"]
    dup = work.duplicated(keys, keep=False)
    if dup.any():
        row = work.loc[dup].iloc[0]
        who = ", ".join(f"{k}={row[k]!r}" for k in keys)
        raise ModelError(f"more than one row for {who}; add the distinguishing column to --by")

    base = derive_baseline(
        work,
        subject="subject",
        value="value",
        by=by,
        method=baseline_method,
        visit="visit",
        baseline_visit=baseline,
        day="day" if day is not None else None,
        lookback=lookback,
        carry=["below_lloq"],
    )
    base = base.drop(columns=[c for c in ("baseline_day",) if c in base.columns])
    out = work.merge(base, on=["subject", *by], how="left")
    out["baseline_below_lloq"] = out["baseline_below_lloq"].eq(True).to_numpy()

    order = list(visits) if visits is not None else None
    if order is None:
        med = out.groupby("visit")["day"].median() if day is not None else None
        order = order_visits(out["visit"], baseline=baseline, days=med)
    unknown = ~out["visit"].isin(order)
    if unknown.any():
        log.info("dropping %d rows at visits not in the visit order: %s", int(unknown.sum()),
                 sorted(out.loc[unknown, "visit"].unique())[:5])
        out = out.loc[~unknown].copy()
    out["visit"] = pd.Categorical(out["visit"], categories=order, ordered=True)
    out["arm"] = pd.Categorical(out["arm"], categories=order_arms(out["arm"], control=control), ordered=True)

    v = out["value"].to_numpy(dtype=float)
    b = out["baseline"].to_numpy(dtype=float)
    out["change"] = v - b
    zero = b == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(zero, np.nan, 100.0 * (v - b) / b)
    out["pct_change"] = pct
    out["pct_change_undefined"] = zero
    out["log_value"] = _safe_log(v)
    out["log_baseline"] = _safe_log(b)
    out["log_ratio"] = out["log_value"] - out["log_baseline"]
    if baseline_method == "visit":
        out["is_baseline"] = (out["visit"] == str(baseline)).to_numpy()
    else:
        out["is_baseline"] = (out["day"] <= 1).to_numpy()

    n_zero = int(out.loc[zero, "subject"].nunique())
    if n_zero:
        warnings.warn(
            f"{n_zero} subject(s) have a baseline of 0: % change undefined (NaN, flagged in pct_change_undefined)",
            DataQualityWarning,
            stacklevel=2,
        )
    n_missing = int(out.loc[np.isnan(b), "subject"].nunique())
    if n_missing:
        log.info("%d subject(s) have no baseline value; their change is missing", n_missing)

    columns = [*by, "subject", "arm", "visit"] + (["day"] if day is not None else []) + [
        "value", "baseline", "change", "pct_change", "pct_change_undefined", "log_value", "log_baseline",
        "log_ratio", "below_lloq", "baseline_below_lloq", "value_reported", "is_baseline", *keep,
    ]  # fmt: skip
    out = out[columns].sort_values([*by, "arm", "subject", "visit"], kind="stable").reset_index(drop=True)
    return out
