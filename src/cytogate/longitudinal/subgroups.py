"""Subgroups of subjects defined from baseline values.

A trial often splits patients by a baseline measurement (the iberdomide trial
by interferon-gene signature high or low).  :class:`SubgroupRule` says which
baseline value to use and where to cut: at a fixed cut-off or at the median of
the subjects' baseline values (one value per subject, all arms pooled).  A
value equal to the cut-off goes to the *high* group; a subject without a
baseline value gets no subgroup (missing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelError
from .baseline import require_columns

__all__ = ["SubgroupRule", "assign_subgroups"]


@dataclass(frozen=True)
class SubgroupRule:
    """How to split subjects into a low and a high subgroup.

    Parameters
    ----------
    name : str
        Name of the subgroup column added to the change table.
    column : str
        Column whose baseline value defines the split: ``"baseline"`` (the
        analysed value at baseline) or any column carried in the change table
        (e.g. an interferon score), read on the baseline rows.
    where : mapping, optional
        Row filter selecting one group, e.g. ``{"population": "B cells"}`` to
        split all populations by the subject's baseline B-cell value.
    cutoff : float or "median"
        Values ``>= cutoff`` are high.
    labels : (str, str)
        Labels of the low and the high group.
    """

    name: str = "subgroup"
    column: str = "baseline"
    where: Mapping[str, Any] = field(default_factory=dict)
    cutoff: float | str = "median"
    labels: tuple[str, str] = ("low", "high")

    def __post_init__(self) -> None:
        if isinstance(self.cutoff, str) and self.cutoff != "median":
            raise ModelError(f"subgroup {self.name!r}: cutoff must be a number or 'median', got {self.cutoff!r}")
        if len(self.labels) != 2 or self.labels[0] == self.labels[1]:
            raise ModelError(f"subgroup {self.name!r}: need two distinct labels, got {self.labels!r}")
        object.__setattr__(self, "where", dict(self.where))
        object.__setattr__(self, "labels", tuple(str(x) for x in self.labels))

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any]) -> SubgroupRule:
        """From an analysis-YAML ``subgroup:`` entry with the field names as keys."""
        unknown = set(spec) - {"name", "column", "where", "cutoff", "labels"}
        if unknown:
            raise ModelError(f"subgroup: unknown keys {sorted(unknown)}")
        kwargs = dict(spec)
        if "labels" in kwargs:
            kwargs["labels"] = tuple(kwargs["labels"])
        if "cutoff" in kwargs and not isinstance(kwargs["cutoff"], str):
            kwargs["cutoff"] = float(kwargs["cutoff"])
        return cls(**kwargs)


def assign_subgroups(change: pd.DataFrame, rule: SubgroupRule) -> tuple[pd.DataFrame, float]:
    """Add the subgroup column ``rule.name`` to a change table.

    Parameters
    ----------
    change : DataFrame
        A change table (one row per subject × group × visit, column ``subject``).
    rule : SubgroupRule
        The split.

    Returns
    -------
    (DataFrame, float)
        A copy of ``change`` with the subgroup column (ordered categorical,
        low then high) and the cut-off actually used.
    """
    require_columns(change, ["subject", rule.column, *rule.where], what="change table")
    if rule.name in change.columns:
        raise ModelError(f"subgroup name {rule.name!r} is already a column of the change table")
    rows = change
    if rule.column != "baseline" and "is_baseline" in change.columns:
        # A carried per-visit variable defines subgroups by its value at baseline.
        rows = rows[rows["is_baseline"].astype(bool)]
    for col, val in rule.where.items():
        rows = rows[rows[col].astype(str) == str(val)]
    if rows.empty:
        raise ModelError(f"subgroup {rule.name!r}: no rows match {rule.where}")
    varying = rows.groupby("subject", observed=True)[rule.column].nunique(dropna=True)
    if (varying > 1).any():
        raise ModelError(
            f"subgroup {rule.name!r}: column {rule.column!r} has several values for subject "
            f"{varying.index[varying > 1][0]!r}; select one group with 'where' (e.g. a population)"
        )
    per_subject = pd.to_numeric(rows.groupby("subject", observed=True)[rule.column].first(), errors="coerce")
    per_subject = per_subject.dropna()
    if per_subject.empty:
        raise ModelError(f"subgroup {rule.name!r}: no subject has a value in column {rule.column!r}")
    cutoff = float(np.median(per_subject)) if rule.cutoff == "median" else float(rule.cutoff)
    high = per_subject.to_numpy() >= cutoff
    label = pd.Series(np.where(high, rule.labels[1], rule.labels[0]), index=per_subject.index)
    out = change.copy()
    out[rule.name] = pd.Categorical(out["subject"].map(label), categories=list(rule.labels), ordered=True)
    return out, cutoff
