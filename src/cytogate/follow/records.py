"""Followed gates as rows of the run folder's gate record (``fits.parquet``).

One row per sample x population x gate parameter, in the shared shape:
``schema`` (1), ``sample``, ``population`` (path as in counts.csv), ``gate``
(kind), ``parameter`` (``CD3.min``, ``vertex3.x``, ``divider.CD4``,
``mean.CD19``, ``covariance.CD3.CD19``), ``value`` (where the gate landed
on this sample), ``template`` (the strategy's own value), ``status``,
``confidence``, ``reason`` and ``rule`` (:data:`FOLLOW_RULE`: how the row was made).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..gates.specs import (
    EllipsoidGate,
    GateSpec,
    PolygonGate,
    QuadrantGate,
    RectangleGate,
)
from ..strategy.follow_settings import FOLLOW_RULE, is_follow_row
from .core import FollowedGate

__all__ = ["FIT_COLUMNS", "FIT_DTYPES", "FIT_SCHEMA", "FOLLOW_RULE", "fit_rows", "gate_parameters", "is_follow_row"]

FIT_SCHEMA = 1
FIT_COLUMNS = ("schema", "sample", "population", "gate", "parameter", "value", "template", "status",
               "confidence", "reason", "rule")
FIT_DTYPES = ("int64", "object", "object", "object", "object", "float64", "float64", "object", "float64", "object",
              "object")



def gate_parameters(gate: GateSpec) -> list[tuple[str, float]]:
    """The named numbers that place a gate (open bounds are left out)."""
    out: list[tuple[str, float]] = []
    if isinstance(gate, RectangleGate):
        for dim, lo, hi in zip(gate.dimensions, gate.mins, gate.maxs):
            out += [(f"{dim.label}.{side}", v) for side, v in (("min", lo), ("max", hi)) if v is not None]
    elif isinstance(gate, PolygonGate):
        for k, (x, y) in enumerate(gate.vertices, start=1):
            out += [(f"vertex{k}.x", x), (f"vertex{k}.y", y)]
    elif isinstance(gate, EllipsoidGate):
        labels = [d.label for d in gate.dimensions]
        out += [(f"mean.{a}", m) for a, m in zip(labels, gate.mean)]
        out += [(f"covariance.{labels[i]}.{labels[j]}", gate.covariance[i][j])
                for i in range(len(labels)) for j in range(i, len(labels))]
    elif isinstance(gate, QuadrantGate):
        for divider in gate.dividers:
            suffix = [""] if len(divider.values) == 1 else [f"[{k}]" for k in range(len(divider.values))]
            out += [(f"divider.{divider.dimension.label}{s}", v) for s, v in zip(suffix, divider.values)]
    return [(name, float(value)) for name, value in out]


def fit_rows(sample: str, gates: Iterable[FollowedGate]) -> list[dict[str, Any]]:
    """The gate-record rows of one sample's followed gates."""
    rows = []
    for record in gates:
        template = dict(gate_parameters(record.template))
        for name, value in gate_parameters(record.gate):
            rows.append({"schema": FIT_SCHEMA, "sample": sample, "population": record.path,
                         "gate": record.template.kind, "parameter": name, "value": value,
                         "template": template.get(name), "status": record.status,
                         "confidence": record.confidence, "reason": record.reason, "rule": FOLLOW_RULE})
    return rows
