"""One sample's applied gates as FlowJo 10 workspace XML elements.

FlowJo keeps coordinates in two spaces, and so does this writer (the inverse
of :mod:`cytogate.strategy.flowjo_wsp`):

* rectangle bounds (ranges, rectangles, quadrant cells) and polygon vertices
  are raw data values: each display value is mapped back through the
  dimension's own transform.  A box on a monotone scale is the same set of
  events whatever scale displays it; a polygon's straight edges are straight
  only on its own scale, so a polygon's axes are displayed with the polygon's
  transforms;
* ellipses are foci and edge points on FlowJo's 0..256 display grid (transform
  units × 256, or the linear axis range mapped to 0..256).

Parameters are named as FlowJo names them: ``$PnN`` for uncompensated values,
``Comp-$PnN`` for values compensated with the sample's matrix (one per
sample, as in FlowJo).  Every FlowJo parameter gets one display transform.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, SubElement

import numpy as np

from ..errors import CytogateError
from ..gates.dimensions import FCS, UNCOMPENSATED, Dimension, resolve_dimension
from ..gates.specs import BooleanGate, EllipsoidGate, GateSpec, PolygonGate, QuadrantGate, RectangleGate

__all__ = ["NS", "COMP_PREFIX", "ExportError", "SampleLayout", "transform_element", "gate_element",
           "matrix_element"]

NS = {
    "gating": "http://www.isac-net.org/std/Gating-ML/v2.0/gating",
    "transforms": "http://www.isac-net.org/std/Gating-ML/v2.0/transformations",
    "data-type": "http://www.isac-net.org/std/Gating-ML/v2.0/datatypes",
}
COMP_PREFIX = "Comp-"
_GRID = 256.0  # FlowJo's ellipse display grid
_DEFAULT_RANGE = 262144.0


class ExportError(CytogateError, ValueError):
    """A run cannot be written as a FlowJo workspace (a gate FlowJo cannot hold, a missing record)."""


def _q(ns: str, name: str) -> str:
    return f"{{{NS[ns]}}}{name}"


def _num(value: float) -> str:
    return repr(float(value))


@dataclass
class SampleLayout:
    """How one sample's gate dimensions are named and displayed in FlowJo.

    Built from the sample's channels, markers and spillover and the strategy
    it was gated with; :meth:`parameter` names a dimension, :meth:`display`
    is each FlowJo parameter's transform.
    """

    strategy: Any
    sample: Any
    population: str = ""
    matrix: tuple[tuple[str, ...], np.ndarray] | None = None  # (detectors as $PnN, spillover rows)
    matrix_source: str | None = None  # "FCS" or a strategy matrix id
    displays: dict[str, str | None] = field(default_factory=dict)  # $PnN -> transform id (None: linear)
    fixed: dict[str, str] = field(default_factory=dict)  # $PnN -> population whose polygon/ellipse fixed it
    compensated: set[str] = field(default_factory=set)  # $PnN read compensated

    def fail(self, message: str) -> None:
        raise ExportError(message, population=self.population or None)

    def channel(self, name: str) -> str:
        index = resolve_dimension(name, self.sample, self.strategy.aliases or None)
        return str(self.sample.channels[index])

    def _use_matrix(self, source: str, detectors: tuple[str, ...], rows: np.ndarray) -> None:
        if self.matrix_source is not None and self.matrix_source != source:
            self.fail(f"gates read compensation {self.matrix_source!r} and {source!r}; a FlowJo sample has one "
                      f"compensation matrix")
        self.matrix_source, self.matrix = source, (detectors, rows)

    def parameter(self, dim: Any) -> str:
        """The FlowJo parameter name of a gate dimension (registers its compensation)."""
        if not isinstance(dim, Dimension):
            self.fail(f"dimension {dim.label!r} is a ratio; FlowJo workspaces cannot hold derived parameters")
        if dim.compensation == UNCOMPENSATED:
            return self.channel(dim.name)
        if dim.compensation == FCS:
            channel = self.channel(dim.name)
            spill = getattr(self.sample, "spillover", None)
            if spill is None:
                return channel
            detectors = tuple(self.channel(c) for c in spill.channels)
            if channel not in detectors:  # compensation leaves a channel outside the matrix unchanged
                return channel
            self._use_matrix(FCS, detectors, np.asarray(spill.matrix, dtype=np.float64))
            self.compensated.add(channel)
            return COMP_PREFIX + channel
        matrix = self.strategy.matrices[dim.compensation]
        j = matrix.output_index(dim.name)
        if j is None:
            return self.channel(dim.name)
        if len(matrix.fluorochromes) != len(matrix.detectors) or matrix.inverted_already:
            self.fail(f"spectrum matrix {matrix.id!r} is not a square spillover matrix; FlowJo cannot hold it")
        detectors = tuple(self.channel(d) for d in matrix.detectors)
        self._use_matrix(matrix.id, detectors, np.asarray(matrix.matrix, dtype=np.float64))
        self.compensated.add(detectors[j])
        return COMP_PREFIX + detectors[j]

    def require_display(self, dim: Any, what: str) -> None:
        """A polygon or ellipse axis: its parameter must be displayed with the dimension's own transform."""
        channel = self.channel(dim.name)
        if channel in self.fixed and self.displays[channel] != dim.transform:
            self.fail(f"{what} on {dim.label!r} uses transform {dim.transform!r}, but the polygon or ellipse of "
                      f"{self.fixed[channel]} shows {channel} with {self.displays[channel]!r}; a FlowJo parameter "
                      f"has one display scale")
        if dim.transform is not None and self.strategy.transforms[dim.transform].kind == "hyperlog":
            self.fail(f"{what} on {dim.label!r} is drawn on a hyperlog scale, which FlowJo does not have")
        self.displays[channel] = dim.transform
        self.fixed[channel] = self.population

    def offer_display(self, dim: Any) -> None:
        """A box axis: any monotone display shows the same events; prefer the dimension's own."""
        channel = self.channel(dim.name)
        if channel in self.displays:
            return
        tid = dim.transform
        if tid is not None and self.strategy.transforms[tid].kind == "hyperlog":
            tid = None
        self.displays[channel] = tid

    def range_of(self, channel: str) -> float:
        index = list(map(str, self.sample.channels)).index(channel)
        keywords = getattr(self.sample, "keywords", None) or {}
        try:
            value = float(keywords.get(f"$P{index + 1}R", _DEFAULT_RANGE))
        except (TypeError, ValueError):
            value = _DEFAULT_RANGE
        return value if value > 0 else _DEFAULT_RANGE


def _built(strategy: Any, tid: str | None) -> Any:
    return None if tid is None else strategy.transforms[tid].build()


def _to_raw(strategy: Any, tid: str | None, values: list[float]) -> list[float]:
    transform = _built(strategy, tid)
    if transform is None:
        return [float(v) for v in values]
    out = transform.inverse(np.asarray(values, dtype=np.float64))
    return [float(v) for v in np.atleast_1d(out)]


def transform_element(parent: Element, parameter: str, spec: Any, linear_max: float) -> Element:
    """``<transforms:KIND>`` for one parameter (``spec`` None: a linear axis up to ``linear_max``)."""
    def make(tag: str, **attrs: float | str) -> Element:
        el = SubElement(parent, _q("transforms", tag))
        for key, value in attrs.items():
            el.set(_q("transforms", key), value if isinstance(value, str) else _num(value))
        return el

    if spec is None:
        el = make("linear", minRange=0.0, maxRange=linear_max)
        el.set("gain", "1")
    else:
        p = spec.param_dict
        kind = spec.kind
        if kind == "flin":
            el = make("linear", minRange=-p.get("a", 0.0), maxRange=p["t"])
            el.set("gain", "1")
        elif kind == "logicle":
            el = make("logicle", length="256", T=p["t"], W=p["w"], M=p["m"], A=p["a"])
        elif kind == "fasinh":
            el = make("fasinh", length="256", maxRange=p["t"], T=p["t"], M=p["m"], A=p["a"], W=0.0)
        elif kind == "flog":
            el = make("log", offset=p["t"] / 10 ** p["m"], decades=p["m"])
        elif kind == "flowjo_log":
            el = make("log", offset=p["offset"], decades=p["decades"])
        elif kind == "flowjo_biex":
            el = make("biex", length="256", maxRange=p.get("max_value", _DEFAULT_RANGE), neg=p.get("negative", 0.0),
                      width=p.get("width", -10.0), pos=p.get("positive", 4.418540))
        else:
            raise ExportError(f"transform {spec.id!r} ({kind}) has no FlowJo equivalent")
    SubElement(el, _q("data-type", "parameter")).set(_q("data-type", "name"), parameter)
    return el


def matrix_element(parent: Element, name: str, detectors: tuple[str, ...], rows: np.ndarray) -> Element:
    """``<transforms:spilloverMatrix>``: row i is the spill of detector i into every detector."""
    el = SubElement(parent, _q("transforms", "spilloverMatrix"))
    for key, value in (("spectral", "0"), ("prefix", COMP_PREFIX), ("name", name), ("editable", "0"),
                       ("color", "#c0c0c0"), ("version", "FlowJo-10.7.1"), ("status", "FINALIZED"),
                       ("id", name), ("suffix", "")):
        el.set(key, value)
    params = SubElement(el, _q("data-type", "parameters"))
    for det in detectors:
        p = SubElement(params, _q("data-type", "parameter"))
        p.set(_q("data-type", "name"), det)
        p.set("userProvidedCompInfix", COMP_PREFIX + det)
    for i, det in enumerate(detectors):
        row = SubElement(el, _q("transforms", "spillover"))
        row.set(_q("data-type", "parameter"), det)
        row.set("userProvidedCompInfix", COMP_PREFIX + det)
        for j, other in enumerate(detectors):
            coef = SubElement(row, _q("transforms", "coefficient"))
            coef.set(_q("data-type", "parameter"), other)
            coef.set(_q("transforms", "value"), _num(rows[i, j]))
    return el


def _dimension(parent: Element, parameter: str, lo: float | None = None, hi: float | None = None) -> None:
    el = SubElement(parent, _q("gating", "dimension"))
    if lo is not None:
        el.set(_q("gating", "min"), _num(lo))
    if hi is not None:
        el.set(_q("gating", "max"), _num(hi))
    SubElement(el, _q("data-type", "fcs-dimension")).set(_q("data-type", "name"), parameter)


def plan_displays(gate: GateSpec, layout: SampleLayout) -> None:
    """First pass: the display scale polygons and ellipses need, and the compensation every axis reads."""
    for dim in gate.dimensions:
        layout.parameter(dim)
    if isinstance(gate, (PolygonGate, EllipsoidGate)):
        for dim in gate.dimensions:
            layout.require_display(dim, gate.kind)


def offer_displays(gate: GateSpec, layout: SampleLayout) -> None:
    for dim in gate.dimensions:
        layout.offer_display(dim)


def gate_element(parent: Element, gate: GateSpec, gate_id: str, parent_id: str | None, layout: SampleLayout
                 ) -> Element:
    """``<Gate><gating:KIND>`` of one population, in FlowJo's coordinate spaces."""
    holder = SubElement(parent, "Gate")
    holder.set(_q("gating", "id"), gate_id)
    if parent_id is not None:
        holder.set(_q("gating", "parent_id"), parent_id)
    strategy = layout.strategy
    if isinstance(gate, (RectangleGate, QuadrantGate)):
        lo, hi = gate.box()
        el = SubElement(holder, _q("gating", "RectangleGate"))
        el.set("percentX", "0")
        el.set("percentY", "0")
        for dim, a, b in zip(gate.dimensions, lo, hi):
            ends: list[float | None] = [None if not np.isfinite(a) else float(a), None if not np.isfinite(b) else float(b)]
            raw = _to_raw(strategy, dim.transform, [v for v in ends if v is not None])
            it = iter(raw)
            ends = [None if v is None else next(it) for v in ends]
            _dimension(el, layout.parameter(dim), ends[0], ends[1])
    elif isinstance(gate, PolygonGate):
        el = SubElement(holder, _q("gating", "PolygonGate"))
        el.set("quadID", "-1")
        el.set("gateResolution", "256")
        for dim in gate.dimensions:
            _dimension(el, layout.parameter(dim))
        xs = _to_raw(strategy, gate.dimensions[0].transform, [v[0] for v in gate.vertices])
        ys = _to_raw(strategy, gate.dimensions[1].transform, [v[1] for v in gate.vertices])
        for x, y in zip(xs, ys):
            if not (math.isfinite(x) and math.isfinite(y)):
                layout.fail("a polygon vertex lies outside its transform's range")
            vertex = SubElement(el, _q("gating", "vertex"))
            for value in (x, y):
                SubElement(vertex, _q("gating", "coordinate")).set(_q("data-type", "value"), _num(value))
    elif isinstance(gate, EllipsoidGate):
        el = _ellipse(holder, gate, layout)
    else:
        layout.fail(f"a {gate.kind} gate cannot be written as a FlowJo gate")
        raise AssertionError  # unreachable
    el.set(_q("gating", "id"), gate_id)
    if parent_id is not None:
        el.set(_q("gating", "parent_id"), parent_id)
    el.set("eventsInside", "1")
    return el


def _ellipse(holder: Element, gate: EllipsoidGate, layout: SampleLayout) -> Element:
    if len(gate.dimensions) != 2:
        layout.fail(f"a {len(gate.dimensions)}-dimensional ellipsoid cannot be written; FlowJo ellipses are 2-D")
    # gate units -> FlowJo's 0..256 grid: transform units x 256, or a linear axis' range
    low, span = np.zeros(2), np.ones(2)
    for k, dim in enumerate(gate.dimensions):
        if dim.transform is None:
            span[k] = layout.range_of(layout.channel(dim.name))
    scale = _GRID / span
    centre = (np.asarray(gate.mean) - low) * scale
    cov = np.asarray(gate.covariance) * np.outer(scale, scale) * gate.distance_sq
    values, vectors = np.linalg.eigh(cov)
    b, a = math.sqrt(max(values[0], 0.0)), math.sqrt(max(values[1], 0.0))
    u, v = vectors[:, 1], vectors[:, 0]
    if not (a > 0 and b > 0):
        layout.fail("degenerate ellipse (zero axis)")
    c = math.sqrt(max(a * a - b * b, 0.0))
    el = SubElement(holder, _q("gating", "EllipsoidGate"))
    for dim in gate.dimensions:
        _dimension(el, layout.parameter(dim))
    for tag, points in (("foci", (centre + c * u, centre - c * u)),
                        ("edge", (centre + a * u, centre - a * u, centre + b * v, centre - b * v))):
        group = SubElement(el, _q("gating", tag))
        for point in points:
            vertex = SubElement(group, _q("gating", "vertex"))
            for value in point:
                SubElement(vertex, _q("gating", "coordinate")).set(_q("data-type", "value"), _num(value))
    return el


def boolean_element(parent: Element, name: str, gate: BooleanGate, count: int | None, layout: SampleLayout,
                    parent_path: str = "/") -> Element:
    """``<AndNode>`` / ``<OrNode>`` / ``<NotNode>`` with its dependents as paths.

    FlowJo's boolean nodes name populations, not expressions, so a complemented
    operand (``and: [A, {not: B}]``) is written as a sibling ``NotNode`` named
    ``not B`` (the parent's events outside B, as cytogate evaluates it), which the
    node then names.
    """
    operands = [path.strip("/") if not complement else _complement_node(parent, path, parent_path)
                for path, complement in gate.operands]
    el = _boolean_node(parent, {"and": "AndNode", "or": "OrNode", "not": "NotNode"}[gate.op], name, operands)
    if count is not None:
        el.set("count", str(count))
    return el


def _boolean_node(parent: Element, tag: str, name: str, dependents: Sequence[str]) -> Element:
    el = SubElement(parent, tag)
    for key, value in (("name", name), ("annotation", ""), ("owningGroup", "")):
        el.set(key, value)
    deps = SubElement(el, "Dependents")
    for path in dependents:
        SubElement(deps, "Dependent").set("name", path)
    return el


def _complement_node(parent: Element, operand: str, parent_path: str) -> str:
    """A ``NotNode`` of ``operand`` beside the boolean gate (once per operand); its path."""
    name = "not " + operand.rstrip("/").rsplit("/", 1)[-1]
    taken = {child.get("name"): child for child in parent}
    while name in taken and not _is_complement_of(taken[name], operand):
        name += " (complement)"
    if name not in taken:
        _boolean_node(parent, "NotNode", name, [operand.strip("/")])
    return f"{parent_path.rstrip('/')}/{name}".strip("/")


def _is_complement_of(node: Element, operand: str) -> bool:
    deps = node.findall("Dependents/Dependent")
    return node.tag == "NotNode" and len(deps) == 1 and deps[0].get("name") == operand.strip("/")


def display_parameters(layout: SampleLayout) -> Mapping[str, tuple[str | None, list[str]]]:
    """``$PnN -> (transform id, FlowJo parameter names)`` to write under ``<Transformations>``."""
    out = {}
    for channel, tid in layout.displays.items():
        names = [channel] + ([COMP_PREFIX + channel] if channel in layout.compensated else [])
        out[channel] = (tid, names)
    return out
