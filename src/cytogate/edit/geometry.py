"""Checks the editor makes before a gate is written, and data-driven gates made static.

The strategy loader decides what a valid strategy is; these are the extra
refusals of an interactive editor (a polygon whose edges cross, a threshold
dragged off its axis), and the YAML of a data-driven gate frozen where it
landed on one sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["bound_values", "is_rule", "polygon_crossing", "static_gate"]


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(p1: Any, p2: Any, q1: Any, q2: Any) -> bool:
    """True when the segments properly intersect or touch (shared endpoints of neighbours excluded by the caller)."""
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    if ((d1 > 0) != (d2 > 0)) and d1 != 0 and d2 != 0 and ((d3 > 0) != (d4 > 0)) and d3 != 0 and d4 != 0:
        return True

    def on(a: Any, b: Any, c: Any, d: float) -> bool:
        return d == 0 and min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    return on(q1, q2, p1, d1) or on(q1, q2, p2, d2) or on(p1, p2, q1, d3) or on(p1, p2, q2, d4)


def polygon_crossing(vertices: list[list[float]]) -> tuple[int, int] | None:
    """1-based numbers of two edges of the closed polygon that cross, or None when it is simple."""
    pts = [(float(v[0]), float(v[1])) for v in vertices]
    n = len(pts)
    for i in range(n):
        a1, a2 = pts[i], pts[(i + 1) % n]
        for j in range(i + 1, n):
            if j == i or (j + 1) % n == i or j == (i + 1) % n:
                continue  # neighbours share a vertex
            if _segments_cross(a1, a2, pts[j], pts[(j + 1) % n]):
                return i + 1, j + 1
    return None


def is_rule(value: Any) -> bool:
    """True for a data-driven threshold as written (a method name or ``{method: {options}}``)."""
    return isinstance(value, str) or (isinstance(value, Mapping) and len(value) == 1
                                      and next(iter(value)) not in ("min", "max", "values", "dimension"))


def bound_values(gate: Mapping[str, Any]) -> list[tuple[str, str, float]]:
    """Static thresholds of a range, rectangle or quadrant gate as ``(dimension, what, value)``."""
    (kind, spec), = gate.items()
    out: list[tuple[str, str, float]] = []
    if kind in ("range", "rectangle") and isinstance(spec, Mapping):
        for dim, bounds in spec.items():
            pairs = (zip(("min", "max"), bounds) if isinstance(bounds, list)
                     else ((k, bounds.get(k)) for k in ("min", "max")) if isinstance(bounds, Mapping) else ())
            out += [(dim, what, float(v)) for what, v in pairs if isinstance(v, (int, float))
                    and not isinstance(v, bool)]
    elif kind == "quadrant" and isinstance(spec, Mapping):
        for did, value in (spec.get("dividers") or {}).items():
            values = value.get("values") if isinstance(value, Mapping) and not is_rule(value) else value
            for v in values if isinstance(values, list) else [values]:
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    out.append((str(did), "divider", float(v)))
    return out


def _freeze_bounds(bounds: Any, lo: float | None, hi: float | None) -> Any:
    if isinstance(bounds, list):
        return [lo if is_rule(bounds[0]) else bounds[0], hi if is_rule(bounds[1]) else bounds[1]]
    out = dict(bounds)
    for key, value in (("min", lo), ("max", hi)):
        if key in out and is_rule(out[key]):
            out[key] = value
    return out


def _rounded(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else float(f"{value:.{digits}g}")


def static_gate(gate: Mapping[str, Any], fitted: Mapping[str, Any]) -> dict[str, Any]:
    """The YAML gate ``{kind: value}`` with every data-driven part replaced by its fitted value.

    ``fitted`` is the fitted static gate's ``to_dict()`` on one sample.  Rules
    become numbers (6 significant digits); singlet and gmm gates become the
    polygon and ellipse(oid) they fitted.
    """
    (kind, spec), = gate.items()
    if kind in ("range", "rectangle"):
        mins, maxs = fitted["mins"], fitted["maxs"]
        frozen = {dim: _freeze_bounds(bounds, _rounded(mins[i]), _rounded(maxs[i]))
                  for i, (dim, bounds) in enumerate(spec.items())}
        return {kind: frozen}
    if kind == "quadrant":
        values = {d["id"]: d["values"] for d in fitted["dividers"]}
        dividers: dict[str, Any] = {}
        for did, value in spec["dividers"].items():
            if isinstance(value, Mapping) and not is_rule(value):
                inner = dict(value)
                if is_rule(inner.get("values")):
                    inner["values"] = _rounded(values[did][0])
                dividers[did] = inner
            else:
                dividers[did] = _rounded(values[did][0]) if is_rule(value) else value
        return {kind: {**spec, "dividers": dividers}}
    if kind == "singlet":
        verts = [[_rounded(x), _rounded(y)] for x, y in fitted["vertices"]]
        return {"polygon": {"x": spec["area"], "y": spec["height"], "vertices": verts}}
    if kind == "gmm":
        dims = spec["dimensions"]
        mean = [_rounded(v) for v in fitted["mean"]]
        cov = [[_rounded(v) for v in row] for row in fitted["covariance"]]
        dist = _rounded(fitted["distance_sq"])
        if len(dims) == 2:
            return {"ellipse": {"x": dims[0], "y": dims[1], "mean": mean, "covariance": cov, "distance_square": dist}}
        return {"ellipsoid": {"dimensions": list(dims), "mean": mean, "covariance": cov, "distance_square": dist}}
    return dict(gate)

