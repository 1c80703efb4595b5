"""Write a :class:`~cytogate.strategy.tree.Strategy` as Gating-ML 2.0 XML.

Each gate kind has a writer registered in :data:`GATE_WRITERS`; quadrants that
share a quadrant gate (same ``group`` and parent) are written back as one
``QuadrantGate``.  Gating-ML ids are the population names when these are valid
XML ids (the XSD types them ``xs:ID``); otherwise (spaces, ``+``, a name used
twice) the id is sanitised and the real name is kept in the gate's
``custom_info`` as ``<cytogate:population id=".." name=".."/>``, which the
reader restores.  Transformations that
Gating-ML 2.0 cannot express (FlowJo biex, FlowJo log) raise StrategyError.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_text
from ..errors import StrategyError
from ..gates.dimensions import AnyDimension, RatioDimension
from .gatingml_read import (
    NAME_TAG,
    NS_CYTOGATE,
    NS_DATATYPES,
    NS_GATING,
    NS_TRANSFORMS,
    TRANSFORM_KINDS,
)
from .tree import ROOT, Population, Strategy

__all__ = ["write_gatingml", "save_gatingml", "GATE_WRITERS", "UNSUPPORTED_KINDS"]

ET.register_namespace("gating", NS_GATING)
ET.register_namespace("transforms", NS_TRANSFORMS)
ET.register_namespace("data-type", NS_DATATYPES)
ET.register_namespace("cytogate", NS_CYTOGATE)

_KIND_TO_ELEMENT = {kind: (element, names) for element, (kind, names) in TRANSFORM_KINDS.items()}


def _g(tag: str) -> str:
    return f"{{{NS_GATING}}}{tag}"


def _t(tag: str) -> str:
    return f"{{{NS_TRANSFORMS}}}{tag}"


def _d(tag: str) -> str:
    return f"{{{NS_DATATYPES}}}{tag}"


def _num(value: float) -> str:
    return repr(float(value))


@dataclass
class _Ctx:
    strategy: Strategy
    ids: dict[str, str]  # population path -> Gating-ML id
    refs: dict[str, str]  # transformation / matrix / ratio id -> Gating-ML id
    taken: set[str]  # every xs:ID used so far (one namespace per document)
    quadrant_groups: dict[tuple[Any, ...], str] = field(default_factory=dict)

    def allocate(self, name: str) -> str:
        return _allocate(name, self.taken)

    def gate_element(self, root: ET.Element, tag: str, pop: Population, gate_id: str | None = None,
                     members: list[Population] | None = None) -> ET.Element:
        el = ET.SubElement(root, _g(tag), {_g("id"): gate_id or self.ids[pop.path]})
        if pop.parent != ROOT:
            el.set(_g("parent_id"), self.ids[pop.parent])
        renamed = [p for p in (members or [pop]) if self.ids[p.path] != p.name]
        if renamed:  # names that are not valid XML ids travel in custom_info
            info = ET.SubElement(el, _d("custom_info"))
            for p in renamed:
                ET.SubElement(info, NAME_TAG, {"id": self.ids[p.path], "name": p.name})
        return el

    def dimension(self, parent: ET.Element, dim: AnyDimension, tag: str = "dimension",
                  extra: dict[str, str] | None = None) -> ET.Element:
        attrs = {_g("compensation-ref"): self.refs.get(dim.compensation, dim.compensation)}
        if dim.transform is not None:
            attrs[_g("transformation-ref")] = self.refs[dim.transform]
        attrs.update(extra or {})
        el = ET.SubElement(parent, _g(tag), attrs)
        if isinstance(dim, RatioDimension):
            ET.SubElement(el, _d("new-dimension"), {_d("transformation-ref"): self.refs[dim.id]})
        else:
            ET.SubElement(el, _d("fcs-dimension"), {_d("name"): dim.name})
        return el


def _coordinate(parent: ET.Element, tag: str, value: float) -> None:
    ET.SubElement(parent, _g(tag), {_d("value"): _num(value)})


def _write_rectangle(root: ET.Element, pop: Population, ctx: _Ctx) -> None:
    gate: Any = pop.gate
    el = ctx.gate_element(root, "RectangleGate", pop)
    for dim, lo, hi in zip(gate.dimensions, gate.mins, gate.maxs):
        extra = {}
        if lo is not None:
            extra[_g("min")] = _num(lo)
        if hi is not None:
            extra[_g("max")] = _num(hi)
        ctx.dimension(el, dim, extra=extra)


def _write_polygon(root: ET.Element, pop: Population, ctx: _Ctx) -> None:
    gate: Any = pop.gate
    el = ctx.gate_element(root, "PolygonGate", pop)
    for dim in gate.dimensions:
        ctx.dimension(el, dim)
    for x, y in gate.vertices:
        vertex = ET.SubElement(el, _g("vertex"))
        _coordinate(vertex, "coordinate", x)
        _coordinate(vertex, "coordinate", y)


def _write_ellipsoid(root: ET.Element, pop: Population, ctx: _Ctx) -> None:
    gate: Any = pop.gate
    el = ctx.gate_element(root, "EllipsoidGate", pop)
    for dim in gate.dimensions:
        ctx.dimension(el, dim)
    mean = ET.SubElement(el, _g("mean"))
    for v in gate.mean:
        _coordinate(mean, "coordinate", v)
    cov = ET.SubElement(el, _g("covarianceMatrix"))
    for row in gate.covariance:
        row_el = ET.SubElement(cov, _g("row"))
        for v in row:
            _coordinate(row_el, "entry", v)
    ET.SubElement(el, _g("distanceSquare"), {_d("value"): _num(gate.distance_sq)})


def _write_quadrants(root: ET.Element, pop: Population, ctx: _Ctx) -> None:
    """Write the whole quadrant gate when its first quadrant comes up."""
    gate: Any = pop.gate
    key = (gate.group, pop.parent, gate.dividers)
    if key in ctx.quadrant_groups:
        return
    members = [p for p in ctx.strategy.populations if p.gate.kind == gate.kind and p.parent == pop.parent
               and (p.gate.group, p.gate.dividers) == (gate.group, gate.dividers)]  # type: ignore[attr-defined]  # same kind: quadrants
    gate_id = ctx.allocate(gate.group)
    divider_ids = {div.id: ctx.allocate(div.id) for div in gate.dividers}  # xs:ID: unique per document
    ctx.quadrant_groups[key] = gate_id
    el = ctx.gate_element(root, "QuadrantGate", pop, gate_id, members)
    for div in gate.dividers:
        div_el = ctx.dimension(el, div.dimension, "divider", {_g("id"): divider_ids[div.id]})
        for v in div.values:
            ET.SubElement(div_el, _g("value")).text = _num(v)
    for member in members:
        q = ET.SubElement(el, _g("Quadrant"), {_g("id"): ctx.ids[member.path]})
        for ref, loc in member.gate.positions:  # type: ignore[attr-defined]  # a quadrant of this gate
            ET.SubElement(q, _g("position"), {_g("divider_ref"): divider_ids[ref], _g("location"): _num(loc)})


def _write_boolean(root: ET.Element, pop: Population, ctx: _Ctx) -> None:
    gate: Any = pop.gate
    el = ctx.gate_element(root, "BooleanGate", pop)
    op = ET.SubElement(el, _g(gate.op))
    for ref, complement in gate.operands:
        attrs = {_g("ref"): ctx.ids[ref]}
        if complement:
            attrs[_g("use-as-complement")] = "true"
        ET.SubElement(op, _g("gateReference"), attrs)


GATE_WRITERS: dict[str, Callable[[ET.Element, Population, _Ctx], None]] = {
    "rectangle": _write_rectangle,
    "polygon": _write_polygon,
    "ellipsoid": _write_ellipsoid,
    "quadrant": _write_quadrants,
    "boolean": _write_boolean,
}

# Kinds Gating-ML 2.0 cannot express, and why (the writer refuses them by name).
UNSUPPORTED_KINDS: dict[str, str] = {
    kind: "data-driven: Gating-ML 2.0 has only static gates (write the fitted gates of one file instead)"
    for kind in ("adaptive_rectangle", "adaptive_quadrant", "singlet", "gmm")
}


_ID_OK = re.compile(r"[^A-Za-z0-9_.-]")


def _ncname(name: str) -> str:
    base = _ID_OK.sub("_", name)
    return base if base[:1].isalpha() or base[:1] == "_" else f"_{base}"


def _allocate(name: str, taken: set[str]) -> str:
    base = _ncname(name)
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _ids(strategy: Strategy, taken: set[str] | None = None) -> dict[str, str]:
    """Gating-ML ids (XML NCNames, unique) for every population path."""
    taken = set() if taken is None else taken
    return {p.path: _allocate(p.name, taken) for p in strategy.populations}


def write_gatingml(strategy: Strategy) -> str:
    """Gating-ML 2.0 text for ``strategy`` (transformations, matrices, then gates)."""
    root = ET.Element(_g("Gating-ML"))
    taken: set[str] = set()
    ids = _ids(strategy, taken)
    ratio_ids = sorted({d.id for _p, d in strategy.dimensions() if isinstance(d, RatioDimension)}
                       | {div.dimension.id for p in strategy.populations for div in getattr(p.gate, "dividers", ())
                          if isinstance(div.dimension, RatioDimension)})
    refs = {name: _allocate(name, taken) for name in [*strategy.transforms, *strategy.matrices, *ratio_ids]}
    ctx = _Ctx(strategy, ids, refs, taken)
    for spec in strategy.transforms.values():
        if spec.kind not in _KIND_TO_ELEMENT:
            raise StrategyError(f"transformation {spec.id!r} of kind {spec.kind!r} has no Gating-ML 2.0 form")
        element, names = _KIND_TO_ELEMENT[spec.kind]
        params = spec.param_dict
        el = ET.SubElement(root, _t("transformation"), {_t("id"): ctx.refs[spec.id]})
        ET.SubElement(el, _t(element), {_t(n): _num(params[n.lower()]) for n in names if n.lower() in params})
    ratios: dict[str, RatioDimension] = {}
    for _path, d in strategy.dimensions():
        if not isinstance(d, RatioDimension):
            continue
        known = ratios.setdefault(d.id, d)
        if (known.numerator, known.denominator, known.a, known.b, known.c) != (d.numerator, d.denominator,
                                                                               d.a, d.b, d.c):
            raise StrategyError(f"two different ratio dimensions share the id {d.id!r}")
    for pop in strategy.populations:  # quadrant dividers are dimensions too
        for div in getattr(pop.gate, "dividers", ()):
            if isinstance(div.dimension, RatioDimension):
                ratios.setdefault(div.dimension.id, div.dimension)
    for rid, d in ratios.items():
        el = ET.SubElement(root, _t("transformation"), {_t("id"): ctx.refs[rid]})
        fr = ET.SubElement(el, _t("fratio"), {_t("A"): _num(d.a), _t("B"): _num(d.b), _t("C"): _num(d.c)})
        ET.SubElement(fr, _d("fcs-dimension"), {_d("name"): d.numerator})
        ET.SubElement(fr, _d("fcs-dimension"), {_d("name"): d.denominator})
    for m in strategy.matrices.values():
        attrs = {_t("id"): ctx.refs[m.id]}
        if m.inverted_already:
            attrs[_t("matrix-inverted-already")] = "true"
        el = ET.SubElement(root, _t("spectrumMatrix"), attrs)
        for tag, names in (("fluorochromes", m.fluorochromes), ("detectors", m.detectors)):
            group = ET.SubElement(el, _t(tag))
            for n in names:
                ET.SubElement(group, _d("fcs-dimension"), {_d("name"): n})
        for row in m.matrix:
            spectrum = ET.SubElement(el, _t("spectrum"))
            for v in row:
                ET.SubElement(spectrum, _t("coefficient"), {_t("value"): _num(v)})
    for pop in strategy.populations:
        if pop.gate.needs_fit:
            raise StrategyError(f"population {pop.path!r} is data-driven ({pop.gate.kind}); "
                                + UNSUPPORTED_KINDS.get(pop.gate.kind, "Gating-ML 2.0 has only static gates"))
        writer = GATE_WRITERS.get(pop.gate.kind)
        if writer is None:
            raise StrategyError(f"gate kind {pop.gate.kind!r} of {pop.path!r} has no Gating-ML 2.0 form")
        writer(root, pop, ctx)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def save_gatingml(strategy: Strategy, path: str | Path) -> None:
    """Write :func:`write_gatingml` output to ``path`` atomically."""
    write_text(Path(path), write_gatingml(strategy))
