"""Move a static gate's geometry with a registration of its parent's density.

Each mover gets the gate and the registrations of the gate's axes on its
parent (a plane for two-dimensional gates, one line per axis otherwise) and
returns the moved gate plus a confidence (0..1): how well the reference's
density matches the target's around the gate once registered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from ..gates.dimensions import AnyDimension
from ..gates.specs import (
    Divider,
    EllipsoidGate,
    GateSpec,
    PolygonGate,
    QuadrantGate,
    RectangleGate,
)

__all__ = ["MOVABLE_KINDS", "Line", "Plane", "line_dimensions", "move_gate", "uses_plane"]

MOVABLE_KINDS = frozenset({"polygon", "rectangle", "ellipsoid", "quadrant"})


class Plane(Protocol):
    """A registration of two axes, in data units."""

    identity: bool
    lo: np.ndarray  # (2,) grid edges, to stand in for open bounds
    hi: np.ndarray

    def points(self, points: np.ndarray) -> np.ndarray: ...

    def confidence(self, points: np.ndarray) -> float: ...


class Line(Protocol):
    """A registration of one axis, in data units."""

    identity: bool

    def landmark(self, value: float) -> tuple[float, float]: ...  # (moved value, local match)

    @property
    def scale(self) -> float: ...


def uses_plane(gate: GateSpec) -> bool:
    """True for gates registered on a plane (two dimensions), False for per-axis lines."""
    return gate.kind in ("polygon", "rectangle", "ellipsoid") and len(gate.dimensions) == 2


def line_dimensions(gate: GateSpec) -> tuple[AnyDimension, ...]:
    """The axes a per-axis gate needs a line registration of (a quadrant: its dividers' axes)."""
    if isinstance(gate, QuadrantGate):
        return tuple(dict.fromkeys(d.dimension for d in gate.dividers))
    return tuple(gate.dimensions)


def _finite(values: tuple[float | None, ...], fill: np.ndarray) -> np.ndarray:
    return np.array([fill[k] if v is None else v for k, v in enumerate(values)], dtype=np.float64)


def _rectangle_plane(gate: RectangleGate, plane: Plane) -> tuple[GateSpec, float]:
    lo, hi = _finite(gate.mins, plane.lo), _finite(gate.maxs, plane.hi)
    corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    moved = plane.points(corners)
    mins = (None if gate.mins[0] is None else float(moved[[0, 3], 0].mean()),
            None if gate.mins[1] is None else float(moved[[0, 1], 1].mean()))
    maxs = (None if gate.maxs[0] is None else float(moved[[1, 2], 0].mean()),
            None if gate.maxs[1] is None else float(moved[[2, 3], 1].mean()))
    return RectangleGate(gate.dimensions, mins, maxs), plane.confidence(corners)


def _polygon_plane(gate: PolygonGate, plane: Plane) -> tuple[GateSpec, float]:
    vertices = np.array(gate.vertices, dtype=np.float64)
    moved = plane.points(vertices)
    return PolygonGate(gate.dimensions, tuple(map(tuple, moved.tolist()))), plane.confidence(vertices)


def _ellipse_plane(gate: EllipsoidGate, plane: Plane) -> tuple[GateSpec, float]:
    mean = np.array(gate.mean)
    cov = np.array(gate.covariance)
    step = np.sqrt(np.diag(cov) * gate.distance_sq) / 4.0  # a quarter of the semi-axis: the local stretch
    probes = np.vstack([mean, mean + [step[0], 0.0], mean + [0.0, step[1]]])
    moved = plane.points(probes)
    jacobian = np.column_stack([(moved[1] - moved[0]) / step[0], (moved[2] - moved[0]) / step[1]])
    reach = np.sqrt(np.diag(cov) * gate.distance_sq)
    box = np.array([mean - reach, mean + reach, [mean[0] - reach[0], mean[1] + reach[1]],
                    [mean[0] + reach[0], mean[1] - reach[1]]])
    new_cov = jacobian @ cov @ jacobian.T
    return (EllipsoidGate(gate.dimensions, tuple(moved[0].tolist()), tuple(map(tuple, new_cov.tolist())),
                          gate.distance_sq), plane.confidence(box))


def _rectangle_lines(gate: RectangleGate, lines: Mapping[AnyDimension, Line]) -> tuple[GateSpec, float]:
    mins: list[float | None] = []
    maxs: list[float | None] = []
    scores: list[float] = []
    for dim, lo, hi in zip(gate.dimensions, gate.mins, gate.maxs):
        for bound, out in ((lo, mins), (hi, maxs)):
            if bound is None:
                out.append(None)
                continue
            value, score = lines[dim].landmark(bound)
            out.append(value)
            scores.append(score)
    return RectangleGate(gate.dimensions, tuple(mins), tuple(maxs)), min(scores)


def _ellipse_lines(gate: EllipsoidGate, lines: Mapping[AnyDimension, Line]) -> tuple[GateSpec, float]:
    moved = [lines[d].landmark(m) for d, m in zip(gate.dimensions, gate.mean)]
    scale = np.diag([lines[d].scale for d in gate.dimensions])
    cov = scale @ np.array(gate.covariance) @ scale
    return (EllipsoidGate(gate.dimensions, tuple(v for v, _ in moved), tuple(map(tuple, cov.tolist())),
                          gate.distance_sq), min(s for _, s in moved))


def _quadrant_lines(gate: QuadrantGate, lines: Mapping[AnyDimension, Line]) -> tuple[GateSpec, float]:
    dividers: list[Any] = []
    scores: list[float] = []
    cells: dict[Any, Any] = {}
    for divider in gate.dividers:
        moved = [lines[divider.dimension].landmark(v) for v in divider.values]
        scores.extend(s for _, s in moved)
        dividers.append(Divider(divider.id, divider.dimension, tuple(v for v, _ in moved)))
    by_id = {d.id: d for d in dividers}
    for ref, location in gate.positions:  # keep each quadrant in the same cell of its dividers
        old = next(d for d in gate.dividers if d.id == ref)
        cells[ref] = int(np.searchsorted(old.values, location, side="right"))
    positions = []
    for ref, _ in gate.positions:
        values, cell = by_id[ref].values, cells[ref]
        if len(set(values)) != len(values):
            raise ValueError(f"divider {ref!r} values collapsed")
        if cell == 0:
            location = values[0] - 1.0
        elif cell == len(values):
            location = values[-1] + 1.0
        else:
            location = (values[cell - 1] + values[cell]) / 2.0
        positions.append((ref, location))
    return QuadrantGate(gate.group, tuple(dividers), tuple(positions)), min(scores)


_PLANE_MOVERS: dict[str, Callable[[Any, Plane], tuple[GateSpec, float]]] = {
    "rectangle": _rectangle_plane, "polygon": _polygon_plane, "ellipsoid": _ellipse_plane,
}
_LINE_MOVERS: dict[str, Callable[[Any, Mapping[AnyDimension, Line]], tuple[GateSpec, float]]] = {
    "rectangle": _rectangle_lines, "ellipsoid": _ellipse_lines, "quadrant": _quadrant_lines,
}


def move_gate(gate: GateSpec, plane: Plane | None, lines: Mapping[AnyDimension, Line]) -> tuple[GateSpec, float]:
    """The gate moved by ``plane`` (two-dimensional gates) or ``lines`` (one per axis), and its confidence.

    Raises ValueError or GateError when the moved geometry is not a valid gate.
    """
    if plane is not None:
        if plane.identity:
            return gate, 1.0
        return _PLANE_MOVERS[gate.kind](gate, plane)
    if all(lines[d].identity for d in line_dimensions(gate)):
        return gate, 1.0
    moved, score = _LINE_MOVERS[gate.kind](gate, lines)
    return moved, float(max(0.0, min(1.0, score)))
