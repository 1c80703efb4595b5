"""Gate specifications: frozen dataclasses, one per kind (listed in :mod:`.registry`).

Every gate kind implements one small interface (:class:`GateSpec`) so that the
engine, the Gating-ML reader/writer and the YAML format never branch on the
type of a gate:

* ``evaluate(values, refs) -> mask``: ``values`` is ``(n_dims, m)`` float64, the
  gate's dimensions on the ``m`` parent events; ``refs`` maps each referenced
  population path to its boolean membership over the same ``m`` events (used by
  boolean gates only);
* ``box()``: ``(lo, hi)`` when the gate is an axis-aligned box (so the engine may
  map its bounds back through a monotone transform), else None;
* ``needs_fit`` / ``fit(values) -> GateSpec``: data-driven gates fit a static
  gate on each file's parent events; the engine records the fitted gate;
* ``to_dict()`` / ``from_dict()`` (plain data, for YAML) and ``describe()``.

Semantics of boundaries and NaN are those of :mod:`cytogate.gates.kernels`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..errors import GateError
from . import kernels
from .dimensions import AnyDimension, dimension_from_dict

__all__ = [
    "GateSpec",
    "RectangleGate",
    "PolygonGate",
    "EllipsoidGate",
    "Divider",
    "QuadrantGate",
    "BooleanGate",
]

def _bound(value: Any) -> float | None:
    return None if value is None else float(value)


class GateSpec:
    """Interface of every gate kind (see the module docstring)."""

    kind: ClassVar[str] = ""
    needs_fit: ClassVar[bool] = False
    dimensions: tuple[AnyDimension, ...]  # the axes the gate reads, in order

    @property
    def references(self) -> tuple[str, ...]:
        """Population paths whose membership this gate reads (boolean gates)."""
        return ()

    def evaluate(self, values: np.ndarray, refs: Mapping[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def box(self) -> tuple[np.ndarray, np.ndarray] | None:
        return None

    def evaluate_rows(self, matrix: np.ndarray, rows: np.ndarray, columns: tuple[int, ...]) -> np.ndarray | None:
        """Optional fast path when every dimension is a plain channel of an event matrix.

        ``matrix`` is ``(n_events, n_channels)``, ``rows`` the event indices (empty =
        all events, never an empty selection), ``columns`` the channel of each
        dimension.  Returns the same mask as :meth:`evaluate`, or None when the
        kind has no such path.
        """
        return None

    def fit(self, values: np.ndarray) -> GateSpec:
        """Static gate fitted on one file's parent events (data-driven kinds only)."""
        raise GateError(f"{self.kind} gates are static and cannot be fitted")

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateSpec:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def _dims_dict(self) -> list[dict[str, Any]]:
        return [d.to_dict() for d in self.dimensions]


@dataclass(frozen=True)
class RectangleGate(GateSpec):
    """Range (1-D) or n-D rectangle: ``min <= v < max`` per dimension; None = open."""

    kind: ClassVar[str] = "rectangle"
    dimensions: tuple[AnyDimension, ...]
    mins: tuple[float | None, ...]
    maxs: tuple[float | None, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "dimensions", tuple(self.dimensions))
        mins = tuple(_bound(v) for v in self.mins)
        maxs = tuple(_bound(v) for v in self.maxs)
        n = len(self.dimensions)
        if n == 0 or len(mins) != n or len(maxs) != n:
            raise GateError(f"rectangle gate needs one (min, max) per dimension, got {n} dimensions, "
                            f"{len(mins)} mins and {len(maxs)} maxs")
        for dim, lo, hi in zip(self.dimensions, mins, maxs):
            if lo is None and hi is None:
                raise GateError(f"rectangle dimension {dim.label!r} has neither min nor max")
            if any(v is not None and np.isnan(v) for v in (lo, hi)):
                raise GateError(f"rectangle dimension {dim.label!r} has a NaN bound")
            if lo is not None and hi is not None and not lo < hi:
                raise GateError(f"rectangle dimension {dim.label!r}: min {lo} is not below max {hi}")
        object.__setattr__(self, "mins", mins)
        object.__setattr__(self, "maxs", maxs)

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        lo = np.array([-np.inf if v is None else v for v in self.mins], dtype=np.float64)
        hi = np.array([np.inf if v is None else v for v in self.maxs], dtype=np.float64)
        return lo, hi

    def evaluate(self, values: np.ndarray, refs: Mapping[str, np.ndarray]) -> np.ndarray:
        lo, hi = self.box()
        return kernels.rectangle_mask(values, lo, hi)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "dimensions": self._dims_dict(), "mins": list(self.mins), "maxs": list(self.maxs)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RectangleGate:
        return cls(tuple(dimension_from_dict(d) for d in data["dimensions"]), tuple(data["mins"]), tuple(data["maxs"]))

    def describe(self) -> str:
        parts = []
        for dim, lo, hi in zip(self.dimensions, self.mins, self.maxs):
            parts.append(f"{'-inf' if lo is None else lo} <= {dim.label} < {'inf' if hi is None else hi}")
        return ("range " if len(parts) == 1 else "rectangle ") + " and ".join(parts)


@dataclass(frozen=True)
class PolygonGate(GateSpec):
    """2-D polygon, any vertex count, even-odd fill rule (non-simple polygons allowed)."""

    kind: ClassVar[str] = "polygon"
    dimensions: tuple[AnyDimension, ...]
    vertices: tuple[tuple[float, float], ...]
    _vx: np.ndarray = field(init=False, repr=False, compare=False)
    _vy: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dimensions", tuple(self.dimensions))
        if len(self.dimensions) != 2:
            raise GateError(f"polygon gate needs exactly 2 dimensions, got {len(self.dimensions)}")
        try:
            verts = tuple((float(x), float(y)) for x, y in self.vertices)
        except (TypeError, ValueError):
            raise GateError("polygon vertices must be pairs of numbers") from None
        if len(verts) < 3:
            raise GateError(f"polygon gate needs at least 3 vertices, got {len(verts)}")
        if not np.all(np.isfinite(verts)):
            raise GateError("polygon vertices must be finite")
        arr = np.array(verts, dtype=np.float64)
        # A polygon on one line contains no event: refuse it here, for every format, rather than
        # count zero events silently (a self-crossing bow tie has zero signed area but is not flat).
        distinct = len(set(verts))
        if distinct < 3:
            raise GateError(f"polygon has no area: it needs at least 3 distinct vertices, got {distinct}")
        if np.linalg.matrix_rank(arr - arr.mean(axis=0), tol=1e-12 * max(1.0, float(np.abs(arr).max()))) < 2:
            raise GateError("polygon has no area: its vertices lie on one line")
        object.__setattr__(self, "vertices", verts)
        object.__setattr__(self, "_vx", np.ascontiguousarray(arr[:, 0]))
        object.__setattr__(self, "_vy", np.ascontiguousarray(arr[:, 1]))

    def evaluate(self, values: np.ndarray, refs: Mapping[str, np.ndarray]) -> np.ndarray:
        return kernels.polygon_mask(values[0], values[1], self._vx, self._vy)

    def evaluate_rows(self, matrix: np.ndarray, rows: np.ndarray, columns: tuple[int, ...]) -> np.ndarray:
        return kernels.polygon_mask_rows(matrix, rows, columns[0], columns[1], self._vx, self._vy)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "dimensions": self._dims_dict(), "vertices": [list(v) for v in self.vertices]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolygonGate:
        return cls(tuple(dimension_from_dict(d) for d in data["dimensions"]), tuple(map(tuple, data["vertices"])))

    def describe(self) -> str:
        x, y = self.dimensions
        return f"polygon on {x.label} x {y.label} with {len(self.vertices)} vertices"


@dataclass(frozen=True)
class EllipsoidGate(GateSpec):
    """Ellipse (2-D) or ellipsoid (n-D): ``(v-mean)ᵀ inv(cov) (v-mean) <= distance_sq``."""

    kind: ClassVar[str] = "ellipsoid"
    dimensions: tuple[AnyDimension, ...]
    mean: tuple[float, ...]
    covariance: tuple[tuple[float, ...], ...]
    distance_sq: float
    _mean: np.ndarray = field(init=False, repr=False, compare=False)
    _inv: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dimensions", tuple(self.dimensions))
        n = len(self.dimensions)
        mean = np.asarray(self.mean, dtype=np.float64)
        cov = np.asarray(self.covariance, dtype=np.float64)
        if n < 2 or mean.shape != (n,) or cov.shape != (n, n):
            raise GateError(f"ellipsoid gate with {n} dimensions needs a mean of {n} and a {n}x{n} covariance; "
                            f"got {mean.shape} and {cov.shape}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(cov))):
            raise GateError("ellipsoid mean and covariance must be finite")
        if not float(self.distance_sq) > 0:
            raise GateError(f"ellipsoid distance² must be positive, got {self.distance_sq}")
        try:
            inv = np.linalg.inv(cov)
        except np.linalg.LinAlgError:
            raise GateError(f"ellipsoid covariance matrix is singular: {cov.tolist()}") from None
        object.__setattr__(self, "mean", tuple(mean.tolist()))
        object.__setattr__(self, "covariance", tuple(tuple(r) for r in cov.tolist()))
        object.__setattr__(self, "distance_sq", float(self.distance_sq))
        object.__setattr__(self, "_mean", mean)
        object.__setattr__(self, "_inv", np.ascontiguousarray(inv))

    def evaluate(self, values: np.ndarray, refs: Mapping[str, np.ndarray]) -> np.ndarray:
        return kernels.ellipsoid_mask(values, self._mean, self._inv, self.distance_sq)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "dimensions": self._dims_dict(), "mean": list(self.mean),
                "covariance": [list(r) for r in self.covariance], "distance_sq": self.distance_sq}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EllipsoidGate:
        return cls(tuple(dimension_from_dict(d) for d in data["dimensions"]), tuple(data["mean"]),
                   tuple(map(tuple, data["covariance"])), data["distance_sq"])

    def describe(self) -> str:
        labels = " x ".join(d.label for d in self.dimensions)
        return f"{'ellipse' if len(self.dimensions) == 2 else 'ellipsoid'} on {labels}, distance² {self.distance_sq}"


@dataclass(frozen=True)
class Divider:
    """A quadrant-gate divider: one dimension cut at one or more values."""

    id: str
    dimension: AnyDimension
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        vals = tuple(sorted(float(v) for v in self.values))
        if not vals or not np.all(np.isfinite(vals)):
            raise GateError(f"quadrant divider {self.id!r} needs at least one finite value")
        object.__setattr__(self, "values", vals)

    def interval(self, location: float) -> tuple[float | None, float | None]:
        """The ``[lo, hi)`` cell of this divider that contains ``location``."""
        lo = max((v for v in self.values if v <= location), default=None)
        hi = min((v for v in self.values if v > location), default=None)
        return lo, hi

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "dimension": self.dimension.to_dict(), "values": list(self.values)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Divider:
        return cls(data["id"], dimension_from_dict(data["dimension"]), tuple(data["values"]))


@dataclass(frozen=True)
class QuadrantGate(GateSpec):
    """One quadrant of a Gating-ML quadrant gate: a box cut out by the dividers.

    ``group`` is the quadrant gate's id and ``dividers`` all its dividers (shared
    by the sibling quadrants, so the writer can reassemble the quadrant gate);
    ``positions`` gives, per divider used, a location inside the quadrant.
    Dividers a quadrant does not mention do not restrict it.  Each cell is
    ``[divider value, next divider value)`` like a rectangle.
    """

    kind: ClassVar[str] = "quadrant"
    group: str
    dividers: tuple[Divider, ...]
    positions: tuple[tuple[str, float], ...]
    dimensions: tuple[AnyDimension, ...] = field(init=False)
    _lo: np.ndarray = field(init=False, repr=False, compare=False)
    _hi: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id = {d.id: d for d in self.dividers}
        if len(by_id) != len(self.dividers):
            raise GateError(f"quadrant gate {self.group!r} has duplicate divider ids")
        positions = tuple((str(ref), float(loc)) for ref, loc in self.positions)
        if not positions:
            raise GateError(f"a quadrant of {self.group!r} has no position")
        dims, lo, hi = [], [], []
        for ref, loc in positions:
            if ref not in by_id:
                raise GateError(f"quadrant of {self.group!r} refers to unknown divider {ref!r}; "
                                f"dividers: {', '.join(by_id)}")
            a, b = by_id[ref].interval(loc)
            dims.append(by_id[ref].dimension)
            lo.append(-np.inf if a is None else a)
            hi.append(np.inf if b is None else b)
        object.__setattr__(self, "dividers", tuple(self.dividers))
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "dimensions", tuple(dims))
        object.__setattr__(self, "_lo", np.array(lo, dtype=np.float64))
        object.__setattr__(self, "_hi", np.array(hi, dtype=np.float64))

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        return self._lo.copy(), self._hi.copy()

    def evaluate(self, values: np.ndarray, refs: Mapping[str, np.ndarray]) -> np.ndarray:
        return kernels.rectangle_mask(values, self._lo, self._hi)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "group": self.group, "dividers": [d.to_dict() for d in self.dividers],
                "positions": [list(p) for p in self.positions]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuadrantGate:
        return cls(data["group"], tuple(Divider.from_dict(d) for d in data["dividers"]),
                   tuple(map(tuple, data["positions"])))

    def describe(self) -> str:
        parts = [f"{lo} <= {d.label} < {hi}" for d, lo, hi in zip(self.dimensions, self._lo, self._hi)]
        return f"quadrant of {self.group}: " + " and ".join(parts)


_BOOLEAN_OPS = ("and", "or", "not")


@dataclass(frozen=True)
class BooleanGate(GateSpec):
    """``and`` / ``or`` / ``not`` over other populations, each optionally complemented.

    ``operands`` holds ``(population path, complement)`` pairs; ``not`` takes one
    operand.  Evaluated on the parent's events from the operands' memberships.
    """

    kind: ClassVar[str] = "boolean"
    op: str
    operands: tuple[tuple[str, bool], ...]
    dimensions: tuple[AnyDimension, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        if self.op not in _BOOLEAN_OPS:
            raise GateError(f"boolean gate operator must be one of {', '.join(_BOOLEAN_OPS)}, got {self.op!r}")
        operands = tuple((str(p), bool(c)) for p, c in self.operands)
        if self.op == "not" and len(operands) != 1:
            raise GateError(f"a 'not' gate takes exactly one operand, got {len(operands)}")
        if self.op != "not" and len(operands) < 2:
            raise GateError(f"an '{self.op}' gate needs at least two operands, got {len(operands)}")
        object.__setattr__(self, "operands", operands)

    @property
    def references(self) -> tuple[str, ...]:
        return tuple(p for p, _ in self.operands)

    def evaluate(self, values: np.ndarray, refs: Mapping[str, np.ndarray]) -> np.ndarray:
        masks = [~refs[p] if comp else refs[p] for p, comp in self.operands]
        if self.op == "not":
            return ~masks[0]
        out = masks[0].copy()
        combine = np.logical_and if self.op == "and" else np.logical_or
        for m in masks[1:]:
            combine(out, m, out=out)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "op": self.op, "operands": [{"ref": p, "complement": c} for p, c in self.operands]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BooleanGate:
        return cls(data["op"], tuple((o["ref"], o.get("complement", False)) for o in data["operands"]))

    def describe(self) -> str:
        terms = [f"not {p}" if c else p for p, c in self.operands]
        return f"not {terms[0]}" if self.op == "not" else f" {self.op} ".join(terms)
