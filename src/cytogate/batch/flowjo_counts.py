"""FlowJo's own counts beside cytogate's: the ``flowjo_count`` column and how many agree.

A workspace stores the event count FlowJo computed for every sample and
population.  A workspace run copies it into ``counts.csv`` and reports how
many populations agree within ``max(1%, 3 events)``: FlowJo evaluates
polygons on its display bins, so events lying on a gate edge can fall either
way (see docs/flowjo.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from .resume import SampleRecord

__all__ = ["FLOWJO_ABS_TOLERANCE", "FLOWJO_REL_TOLERANCE", "AgreementTally", "FlowJoAgreement", "flowjo_agreement",
           "with_flowjo_counts"]

#: A population agrees with FlowJo when ``|count - flowjo_count| <= max(REL * flowjo_count, ABS)``.
FLOWJO_REL_TOLERANCE = 0.01
FLOWJO_ABS_TOLERANCE = 3


def _tolerance(flowjo: int) -> float:
    return max(FLOWJO_REL_TOLERANCE * flowjo, FLOWJO_ABS_TOLERANCE)


@dataclass(frozen=True)
class FlowJoAgreement:
    """How a run's counts compare with the ones FlowJo stored."""

    compared: int
    agree: int
    worst: dict[str, Any] | None  # sample, population, count, flowjo_count of the largest relative difference

    def line(self) -> str:
        if not self.compared:
            return "no FlowJo counts to compare: FlowJo counted none of these files with the gates applied"
        text = (f"{self.agree} of {self.compared} population count(s) agree with FlowJo's within "
                f"max({FLOWJO_REL_TOLERANCE:.0%}, {FLOWJO_ABS_TOLERANCE} events)")
        if self.worst is not None and self.worst["count"] != self.worst["flowjo_count"]:
            w = self.worst
            text += (f"; largest difference {w['sample']} {w['population']}: {w['count']} vs FlowJo "
                     f"{w['flowjo_count']}")
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"compared": self.compared, "agree": self.agree, "relative_tolerance": FLOWJO_REL_TOLERANCE,
                "absolute_tolerance": FLOWJO_ABS_TOLERANCE, "worst": self.worst}


def with_flowjo_counts(table: pd.DataFrame, reference: Mapping[str, Mapping[str, int]]) -> pd.DataFrame:
    """``table`` (counts.csv rows) with a nullable ``flowjo_count`` column after ``count``."""
    import pandas as pd

    values = [reference.get(s, {}).get(p) for s, p in zip(table["sample"], table["population"])]
    table = table.copy()
    at = list(table.columns).index("count") + 1 if "count" in table.columns else len(table.columns)
    table.insert(at, "flowjo_count", pd.array(values, dtype="Int64"))
    return table


class AgreementTally:
    """:class:`FlowJoAgreement` counted one sample at a time, as the run's tables are assembled."""

    def __init__(self, reference: Mapping[str, Mapping[str, int]]) -> None:
        self.reference = reference
        self.compared = self.agree = 0
        self.worst: dict[str, Any] | None = None
        self.worst_score = -1.0

    def add(self, record: SampleRecord) -> None:
        stored = self.reference.get(record.sample, {})
        for population, count in zip(record.counts["population"], record.counts["count"]):
            flowjo = stored.get(population)
            if flowjo is None:
                continue
            self.compared += 1
            difference = abs(int(count) - flowjo)
            self.agree += difference <= _tolerance(flowjo)
            score = difference / _tolerance(flowjo)
            if score > self.worst_score:
                self.worst_score = score
                self.worst = {"sample": record.sample, "population": population, "count": int(count),
                              "flowjo_count": int(flowjo)}

    def agreement(self) -> FlowJoAgreement:
        return FlowJoAgreement(self.compared, self.agree, self.worst)


def flowjo_agreement(records: Iterable[SampleRecord], reference: Mapping[str, Mapping[str, int]]) -> FlowJoAgreement:
    """Compare every population FlowJo counted with the run's count."""
    tally = AgreementTally(reference)
    for record in records:
        tally.add(record)
    return tally.agreement()
