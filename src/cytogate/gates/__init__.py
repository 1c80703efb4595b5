"""Gates: numba kernels, dimension specs and the registry of gate kinds."""

from __future__ import annotations

from .dimensions import FCS, UNCOMPENSATED, Dimension, RatioDimension, dimension_from_dict, resolve_dimension
from .registry import GATE_KINDS, gate_from_dict, register_gate
from .specs import (
    BooleanGate,
    Divider,
    EllipsoidGate,
    GateSpec,
    PolygonGate,
    QuadrantGate,
    RectangleGate,
)

__all__ = [
    "FCS",
    "UNCOMPENSATED",
    "Dimension",
    "RatioDimension",
    "dimension_from_dict",
    "resolve_dimension",
    "GATE_KINDS",
    "GateSpec",
    "RectangleGate",
    "PolygonGate",
    "EllipsoidGate",
    "Divider",
    "QuadrantGate",
    "BooleanGate",
    "gate_from_dict",
    "register_gate",
]
