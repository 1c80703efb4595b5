"""Baseline values and visit windows.

Two derivations that turn sample rows into analysis visits:

* :func:`assign_visit_windows` maps each sample to an analysis visit from its
  study day.  Each window has a target day and inclusive bounds; within a
  subject (and ``by`` group) the sample nearest the target wins and a tie goes
  to the later sample.  Samples outside every window are not used, so an
  unscheduled sample counts only when it falls inside a window.
* :func:`derive_baseline` gives one baseline value per subject (and ``by``
  group): the value at a named visit, or the last non-missing value on or
  before study day 1 (the day of first dose; there is no day 0) within a
  look-back window.

Both work on any long table and name the offending column or value in the
:class:`~cytogate.errors.ModelError` they raise.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import ModelError

__all__ = ["VisitWindow", "assign_visit_windows", "derive_baseline", "require_columns"]

log = logging.getLogger(__name__)

BaselineMethod = Literal["visit", "last_before_day1"]


def require_columns(table: pd.DataFrame, columns: Sequence[str | None], *, what: str = "table") -> None:
    """Raise :class:`ModelError` naming the first column of ``columns`` missing from ``table``."""
    for column in columns:
        if column is not None and column not in table.columns:
            available = ", ".join(map(str, table.columns[:12]))
            raise ModelError(f"column {column!r} not found in the {what} (columns: {available})")


@dataclass(frozen=True)
class VisitWindow:
    """An analysis visit defined by a target study day and inclusive bounds.

    Parameters
    ----------
    label : str
        The analysis visit name (e.g. ``"Week 4"``).
    target_day : float
        The protocol day of the visit.
    lower, upper : float
        First and last study day inside the window (both inclusive).
    """

    label: str
    target_day: float
    lower: float
    upper: float

    def __post_init__(self) -> None:
        if not str(self.label):
            raise ModelError("a visit window needs a non-empty label")
        if not (self.lower <= self.target_day <= self.upper):
            raise ModelError(
                f"visit window {self.label!r}: need lower <= target_day <= upper, "
                f"got {self.lower} <= {self.target_day} <= {self.upper}"
            )

    @classmethod
    def around(cls, label: str, target_day: float, half_width: float) -> VisitWindow:
        """A symmetric window ``target_day ± half_width``."""
        return cls(label, target_day, target_day - half_width, target_day + half_width)

    @classmethod
    def from_mapping(cls, label: str, spec: dict) -> VisitWindow:
        """From an analysis-YAML entry ``{day: 28, window: [21, 35]}`` or ``{day: 28, half_width: 7}``."""
        try:
            day = float(spec["day"])
            if "window" in spec:
                lower, upper = (float(v) for v in spec["window"])
                return cls(str(label), day, lower, upper)
            return cls.around(str(label), day, float(spec.get("half_width", 0.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"visit window {label!r}: expected {{day: D, window: [LO, HI]}}, got {spec!r}") from exc

    def contains(self, day: np.ndarray) -> np.ndarray:
        """Boolean mask ``(n,)`` of days inside the window; NaN days are outside."""
        return (day >= self.lower) & (day <= self.upper)


def _check_windows(windows: Sequence[VisitWindow]) -> None:
    ordered = sorted(windows, key=lambda w: w.lower)
    labels = [w.label for w in windows]
    if len(set(labels)) != len(labels):
        raise ModelError(f"visit windows have duplicate labels: {labels}")
    for left, right in zip(ordered, ordered[1:]):
        if right.lower <= left.upper:
            # A sample may represent one visit only.
            raise ModelError(
                f"visit windows {left.label!r} [{left.lower}, {left.upper}] and "
                f"{right.label!r} [{right.lower}, {right.upper}] overlap"
            )


def assign_visit_windows(
    table: pd.DataFrame,
    windows: Sequence[VisitWindow],
    *,
    subject: str,
    day: str,
    by: Sequence[str] = (),
    value: str | None = None,
    visit: str = "visit",
) -> pd.DataFrame:
    """Map samples to analysis visits by study day.

    Parameters
    ----------
    table : DataFrame, (n_rows, ...)
        Long table with a subject column and a numeric study-day column.
    windows : sequence of VisitWindow
        Non-overlapping analysis windows.
    subject, day : str
        Column names.
    by : sequence of str
        Grouping columns (e.g. ``population``): selection is per subject and group.
    value : str, optional
        When given, rows whose value is missing are not eligible, so the nearest
        *non-missing* sample wins.
    visit : str
        Name of the output column holding the window label; an existing column
        of that name is kept as ``<visit>_nominal``.

    Returns
    -------
    DataFrame, (n_selected, ...)
        One row per subject × group × window that has an eligible sample, with
        the window label in ``visit`` and ``window_distance = day - target_day``.
        Nearest sample wins; at equal distance the later day wins; samples
        outside all windows (scheduled or not) are dropped.
    """
    require_columns(table, [subject, day, value, *by])
    if not windows:
        raise ModelError("no visit windows given")
    _check_windows(windows)
    days = pd.to_numeric(table[day], errors="coerce").to_numpy(dtype=float)
    eligible = np.isfinite(days)
    if value is not None:
        eligible &= pd.to_numeric(table[value], errors="coerce").notna().to_numpy()
    pieces = []
    for window in windows:
        inside = eligible & window.contains(days)
        if not inside.any():
            continue
        part = table.loc[inside].copy()
        distance = days[inside] - window.target_day
        part["window_distance"] = distance
        # Sort so the first row per group is the winner: nearest, then latest.
        part["_abs"] = np.abs(distance)
        part["_neg_day"] = -days[inside]
        part = part.sort_values(["_abs", "_neg_day"], kind="stable")
        part = part.drop_duplicates([subject, *by], keep="first")
        if visit in part.columns:
            part = part.rename(columns={visit: f"{visit}_nominal"})
        part[visit] = window.label
        pieces.append(part.drop(columns=["_abs", "_neg_day"]))
    if not pieces:
        raise ModelError(f"no sample falls inside any visit window (column {day!r})")
    out = pd.concat(pieces, ignore_index=True)
    dropped = int(eligible.sum()) - len(out)
    if dropped:
        log.info("visit windows: %d eligible sample rows not used (outside windows or not nearest)", dropped)
    return out


def derive_baseline(
    table: pd.DataFrame,
    *,
    subject: str,
    value: str,
    by: Sequence[str] = (),
    method: BaselineMethod = "visit",
    visit: str | None = None,
    baseline_visit: str | None = None,
    day: str | None = None,
    lookback: float = math.inf,
    carry: Sequence[str] = (),
) -> pd.DataFrame:
    """One baseline value per subject (and ``by`` group).

    Parameters
    ----------
    table : DataFrame, (n_rows, ...)
        Long table.
    subject, value : str
        Column names; ``value`` must be numeric.
    by : sequence of str
        Grouping columns; a baseline is derived per subject and group.
    method : {"visit", "last_before_day1"}
        ``"visit"``: the non-missing value at ``baseline_visit`` in column
        ``visit``.  ``"last_before_day1"``: the last non-missing value with
        ``1 - lookback <= day <= 1`` (study day 1 is the first dose day).
    visit, baseline_visit : str, optional
        Needed for ``method="visit"``.
    day : str, optional
        Study-day column; needed for ``"last_before_day1"``, reported as
        ``baseline_day`` when given.
    lookback : float
        Days before day 1 that still count as baseline (``inf``: any).
    carry : sequence of str
        Further columns copied from the chosen baseline row, as ``baseline_<name>``.

    Returns
    -------
    DataFrame, (n_subjects × n_groups, ...)
        Columns ``subject``-column, ``by`` columns, ``baseline`` and, when
        ``day`` is given, ``baseline_day``.  Subjects without an eligible value
        are absent.

    Raises
    ------
    ModelError
        Missing columns, no baseline for anyone, or two candidate baseline
        values for one subject on the same visit or day.
    """
    require_columns(table, [subject, value, visit, day, *by, *carry])
    values = pd.to_numeric(table[value], errors="coerce")
    keep = values.notna()
    if method == "visit":
        if visit is None or baseline_visit is None:
            raise ModelError("baseline method 'visit' needs the visit column and the baseline visit label")
        keep &= table[visit].astype(str) == str(baseline_visit)
        where = f"at visit {baseline_visit!r} (column {visit!r})"
    elif method == "last_before_day1":
        if day is None:
            raise ModelError("baseline method 'last_before_day1' needs a study-day column (--day)")
        days = pd.to_numeric(table[day], errors="coerce")
        keep &= (days <= 1) & (days >= 1 - lookback)
        where = f"on or before study day 1 (column {day!r}, look-back {lookback} days)"
    else:
        raise ModelError(f"unknown baseline method {method!r}; use 'visit' or 'last_before_day1'")
    columns = [subject, *by] + ([day] if day is not None else []) + [c for c in carry if c not in (subject, *by, day)]
    cand = table.loc[keep, columns].copy()
    cand["baseline"] = values[keep]
    if cand.empty:
        raise ModelError(f"no baseline value for any subject {where}")
    keys = [subject, *by]
    if method == "last_before_day1":
        cand["_day"] = pd.to_numeric(cand[day], errors="coerce")
        cand = cand.sort_values("_day", kind="stable")
        last = cand.groupby(keys, sort=False, dropna=False)["_day"].transform("max")
        cand = cand[cand["_day"] == last]
        cand = cand.drop(columns="_day")
    dup = cand.duplicated(keys, keep=False)
    if dup.any():
        first = cand.loc[dup].iloc[0]
        who = ", ".join(f"{k}={first[k]!r}" for k in keys)
        raise ModelError(f"more than one baseline value {where} for {who}")
    renames = {c: f"baseline_{c}" for c in carry}
    if day is not None:
        renames[day] = "baseline_day"
    cand = cand.rename(columns=renames)
    return cand.reset_index(drop=True)
