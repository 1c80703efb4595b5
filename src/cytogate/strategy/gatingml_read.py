"""Read Gating-ML 2.0 XML into a :class:`~cytogate.strategy.tree.Strategy`.

XML is parsed with defusedxml: DTD entities, external references and entity
expansion are refused (StrategyError).  Gates are found anywhere in the
document (some exporters wrap them in extra elements).  Each gate element has a
reader registered by tag; a QuadrantGate yields one population per quadrant,
named by the quadrant id.  Population names are the gate ids unless cytogate's
writer stored the real name in ``custom_info``.  Paths follow ``parent_id``
chains; boolean operands are resolved from gate ids to population paths.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
import numpy as np
from defusedxml import DefusedXmlException

from ..errors import CytogateError, StrategyError
from ..gates.dimensions import UNCOMPENSATED, AnyDimension, Dimension, RatioDimension
from ..gates.specs import BooleanGate, Divider, EllipsoidGate, GateSpec, PolygonGate, QuadrantGate, RectangleGate
from .tree import ROOT, Population, SpectrumMatrix, Strategy, TransformSpec, join_path

__all__ = ["read_gatingml", "NS_GATING", "NS_TRANSFORMS", "NS_DATATYPES", "TRANSFORM_KINDS"]

NS_GATING = "http://www.isac-net.org/std/Gating-ML/v2.0/gating"
NS_TRANSFORMS = "http://www.isac-net.org/std/Gating-ML/v2.0/transformations"
NS_DATATYPES = "http://www.isac-net.org/std/Gating-ML/v2.0/datatypes"
# cytogate's extension inside custom_info: population names that are not valid XML ids
NS_CYTOGATE = "https://cytogate.org/gating-ml/1"
NAME_TAG = f"{{{NS_CYTOGATE}}}population"

# Gating-ML transformation element -> (cytogate.transforms kind, parameter names)
TRANSFORM_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "flin": ("flin", ("T", "A")),
    "flog": ("flog", ("T", "M")),
    "fasinh": ("fasinh", ("T", "M", "A")),
    "logicle": ("logicle", ("T", "W", "M", "A")),
    "hyperlog": ("hyperlog", ("T", "W", "M", "A")),
}


def _g(tag: str) -> str:
    return f"{{{NS_GATING}}}{tag}"


def _t(tag: str) -> str:
    return f"{{{NS_TRANSFORMS}}}{tag}"


def _d(tag: str) -> str:
    return f"{{{NS_DATATYPES}}}{tag}"


def _attr(el: Element, ns: str, name: str, default: Any = None) -> Any:
    """Namespaced attribute, falling back to the bare name some exporters write."""
    value = el.get(f"{{{ns}}}{name}")
    return el.get(name, default) if value is None else value


def _float(text: Any, what: str, where: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise StrategyError(f"{what} of {where} is not a number: {text!r}") from None
    return value


@dataclass
class _Context:
    source: str | None
    transforms: dict[str, TransformSpec]
    ratios: dict[str, tuple[float, float, float, str, str]]
    matrices: dict[str, SpectrumMatrix]

    def error(self, message: str, gate_id: str | None = None) -> StrategyError:
        return StrategyError(message, path=self.source, gate=gate_id)

    def dimension(self, el: Element, gate_id: str) -> AnyDimension:
        comp = _attr(el, NS_GATING, "compensation-ref", UNCOMPENSATED)
        xform = _attr(el, NS_GATING, "transformation-ref")
        fcs = el.find(_d("fcs-dimension"))
        if fcs is not None:
            name = _attr(fcs, NS_DATATYPES, "name")
            if not name:
                raise self.error("fcs-dimension without a name", gate_id)
            return Dimension(name, comp, xform)
        new = el.find(_d("new-dimension"))
        if new is not None:
            ref = _attr(new, NS_DATATYPES, "transformation-ref")
            if ref not in self.ratios:
                raise self.error(f"new-dimension refers to unknown fratio transformation {ref!r}", gate_id)
            a, b, c, num, den = self.ratios[ref]
            return RatioDimension(ref, num, den, a, b, c, comp, xform)
        raise self.error("dimension has neither fcs-dimension nor new-dimension", gate_id)


@dataclass
class _Entry:
    id: str
    name: str
    parent_id: str | None
    make: Callable[[dict[str, str]], GateSpec]  # gate id -> path map -> gate


def _rectangle(el: Element, gid: str, ctx: _Context) -> list[tuple[str, Callable[[dict[str, str]], GateSpec]]]:
    dims, mins, maxs = [], [], []
    for d in el.findall(_g("dimension")):
        dims.append(ctx.dimension(d, gid))
        lo, hi = _attr(d, NS_GATING, "min"), _attr(d, NS_GATING, "max")
        mins.append(None if lo is None else _float(lo, "min", gid))
        maxs.append(None if hi is None else _float(hi, "max", gid))
    gate = RectangleGate(tuple(dims), tuple(mins), tuple(maxs))
    return [(gid, lambda _ids: gate)]


def _coordinates(el: Element, gid: str) -> list[float]:
    return [_float(_attr(c, NS_DATATYPES, "value"), "coordinate", gid) for c in el.findall(_g("coordinate"))]


def _polygon(el: Element, gid: str, ctx: _Context) -> list[tuple[str, Callable[[dict[str, str]], GateSpec]]]:
    dims = tuple(ctx.dimension(d, gid) for d in el.findall(_g("dimension")))
    verts = []
    for v in el.findall(_g("vertex")):
        coords = _coordinates(v, gid)
        if len(coords) != 2:
            raise ctx.error(f"polygon vertex has {len(coords)} coordinates, expected 2", gid)
        verts.append((coords[0], coords[1]))
    gate = PolygonGate(dims, tuple(verts))
    return [(gid, lambda _ids: gate)]


def _ellipsoid(el: Element, gid: str, ctx: _Context) -> list[tuple[str, Callable[[dict[str, str]], GateSpec]]]:
    dims = tuple(ctx.dimension(d, gid) for d in el.findall(_g("dimension")))
    mean_el, cov_el, dist_el = el.find(_g("mean")), el.find(_g("covarianceMatrix")), el.find(_g("distanceSquare"))
    if mean_el is None or cov_el is None or dist_el is None:
        raise ctx.error("EllipsoidGate needs mean, covarianceMatrix and distanceSquare", gid)
    mean = tuple(_coordinates(mean_el, gid))
    cov = tuple(
        tuple(_float(_attr(e, NS_DATATYPES, "value"), "covariance entry", gid) for e in row.findall(_g("entry")))
        for row in cov_el.findall(_g("row"))
    )
    dist = _float(_attr(dist_el, NS_DATATYPES, "value"), "distanceSquare", gid)
    gate = EllipsoidGate(dims, mean, cov, dist)
    return [(gid, lambda _ids: gate)]


def _constant(gate: GateSpec) -> Callable[[dict[str, str]], GateSpec]:
    """A builder that needs no other gate's id (a quadrant's own gate)."""
    return lambda _ids: gate


def _quadrant(el: Element, gid: str, ctx: _Context) -> list[tuple[str, Callable[[dict[str, str]], GateSpec]]]:
    dividers = []
    for div in el.findall(_g("divider")):
        did = _attr(div, NS_GATING, "id")
        values = tuple(_float(v.text, "divider value", gid) for v in div.findall(_g("value")))
        dividers.append(Divider(did, ctx.dimension(div, gid), values))
    out: list[tuple[str, Callable[[dict[str, str]], GateSpec]]] = []
    for q in el.findall(_g("Quadrant")):
        qid = _attr(q, NS_GATING, "id")
        if not qid:
            raise ctx.error("Quadrant without an id", gid)
        positions: tuple[tuple[str, float], ...] = tuple((_attr(p, NS_GATING, "divider_ref"), _float(_attr(p, NS_GATING, "location"),
                                                                        "location", qid))
                          for p in q.findall(_g("position")))
        gate = QuadrantGate(gid, tuple(dividers), positions)
        out.append((qid, _constant(gate)))
    if not out:
        raise ctx.error("QuadrantGate defines no Quadrant", gid)
    return out


def _boolean(el: Element, gid: str, ctx: _Context) -> list[tuple[str, Callable[[dict[str, str]], GateSpec]]]:
    for op in ("and", "or", "not"):
        op_el = el.find(_g(op))
        if op_el is not None:
            break
    else:
        raise ctx.error("BooleanGate has no and/or/not element", gid)
    operands = []
    for ref in op_el.findall(_g("gateReference")):
        rid = _attr(ref, NS_GATING, "ref")
        comp = str(_attr(ref, NS_GATING, "use-as-complement", "false")).strip().lower() == "true"
        operands.append((rid, comp))

    def make(paths: dict[str, str]) -> GateSpec:
        resolved = []
        for rid, comp in operands:
            if rid not in paths:
                raise ctx.error(f"boolean gate refers to unknown gate {rid!r}", gid)
            resolved.append((paths[rid], comp))
        return BooleanGate(op, tuple(resolved))

    return [(gid, make)]


_GATE_READERS: dict[str, Callable[[Element, str, _Context], list[tuple[str, Callable[[dict[str, str]], GateSpec]]]]] = {
    _g("RectangleGate"): _rectangle,
    _g("PolygonGate"): _polygon,
    _g("EllipsoidGate"): _ellipsoid,
    _g("QuadrantGate"): _quadrant,
    _g("BooleanGate"): _boolean,
}


def _read_transform(el: Element, ctx: _Context) -> None:
    tid = _attr(el, NS_TRANSFORMS, "id")
    if not tid:
        raise ctx.error("transformation without an id")
    for child in el:
        local = child.tag.rsplit("}", 1)[-1]
        if local == "fratio":
            dims = [_attr(d, NS_DATATYPES, "name") for d in child.findall(_d("fcs-dimension"))]
            if len(dims) != 2:
                raise ctx.error(f"fratio transformation {tid!r} needs two fcs-dimensions, has {len(dims)}")
            abc = [_float(_attr(child, NS_TRANSFORMS, k, 0.0 if k != "A" else 1.0), k, tid) for k in "ABC"]
            ctx.ratios[tid] = (abc[0], abc[1], abc[2], dims[0], dims[1])
            return
        if local in TRANSFORM_KINDS:
            kind, names = TRANSFORM_KINDS[local]
            params = []
            for name in names:
                value = _attr(child, NS_TRANSFORMS, name)
                if value is None:
                    raise ctx.error(f"{local} transformation {tid!r} lacks parameter {name}")
                params.append((name.lower(), _float(value, name, tid)))
            ctx.transforms[tid] = TransformSpec(tid, kind, tuple(params))
            return
        if isinstance(child.tag, str) and child.tag.startswith("{"):
            raise ctx.error(f"transformation {tid!r}: unsupported kind {local!r}")
    raise ctx.error(f"transformation {tid!r} defines no transform")


def _read_matrix(el: Element, ctx: _Context) -> None:
    mid = _attr(el, NS_TRANSFORMS, "id")
    fl_el, det_el = el.find(_t("fluorochromes")), el.find(_t("detectors"))
    if not mid or fl_el is None or det_el is None:
        raise ctx.error("spectrumMatrix needs an id, fluorochromes and detectors")
    fl = tuple(_attr(d, NS_DATATYPES, "name") for d in fl_el.findall(_d("fcs-dimension")))
    det = tuple(_attr(d, NS_DATATYPES, "name") for d in det_el.findall(_d("fcs-dimension")))
    rows = [[_float(_attr(c, NS_TRANSFORMS, "value"), "coefficient", mid) for c in s.findall(_t("coefficient"))]
            for s in el.findall(_t("spectrum"))]
    if not rows or any(len(r) != len(det) for r in rows):
        raise ctx.error(f"spectrumMatrix {mid!r}: each spectrum needs {len(det)} coefficients")
    inverted = str(_attr(el, NS_TRANSFORMS, "matrix-inverted-already", "false")).strip().lower() == "true"
    ctx.matrices[mid] = SpectrumMatrix(mid, fl, det, np.array(rows), inverted)


def read_gatingml(text: str, *, source: str | None = None) -> Strategy:
    """Parse Gating-ML 2.0 text.

    Raises
    ------
    StrategyError
        Malformed or unsafe XML, unknown references, cycles, invalid gates.
    """
    try:
        root = SafeET.fromstring(text.encode("utf-8") if isinstance(text, str) else text)
    except DefusedXmlException as exc:
        raise StrategyError(f"refusing unsafe XML ({type(exc).__name__}): entities and external "
                            "references are not allowed in Gating-ML", path=source) from None
    except ParseError as exc:
        raise StrategyError(f"not well-formed XML: {exc}", path=source) from None
    ctx = _Context(source, {}, {}, {})
    elements = list(root.iter())
    for el in elements:
        if el.tag == _t("transformation"):
            _read_transform(el, ctx)
        elif el.tag == _t("spectrumMatrix"):
            _read_matrix(el, ctx)
    entries: list[_Entry] = []
    try:
        for el in elements:
            reader = _GATE_READERS.get(el.tag)
            if reader is None:
                continue
            gid = _attr(el, NS_GATING, "id")
            if not gid:
                raise ctx.error(f"{el.tag.rsplit('}', 1)[-1]} without an id")
            parent = _attr(el, NS_GATING, "parent_id")
            names = {n.get("id"): n.get("name") for n in el.iter(NAME_TAG) if n.get("id") and n.get("name")}
            for pid, make in reader(el, gid, ctx):
                entries.append(_Entry(pid, names.get(pid, pid), parent, make))
    except StrategyError as exc:
        if exc.path is None and source is not None:  # helpers such as _float do not know the file
            raise StrategyError(exc.message, path=source, **exc.location) from None
        raise
    except CytogateError as exc:  # GateError from a spec: say which gate
        raise StrategyError(str(exc), path=source) from None
    if not entries:
        raise StrategyError("no gates found (is this Gating-ML 2.0?)", path=source)
    by_id: dict[str, _Entry] = {}
    for e in entries:
        if e.id in by_id:
            raise StrategyError(f"gate id {e.id!r} is defined twice", path=source)
        by_id[e.id] = e
    paths: dict[str, str] = {}

    def path_of(gid: str) -> str:
        # iterative: walk up to a known path or the root, then fill in downwards (chains may be long)
        trail: list[str] = []
        while gid not in paths:
            if gid in trail:
                raise StrategyError(f"parent_id chain loops: {' -> '.join((*trail[trail.index(gid):], gid))}",
                                    path=source)
            trail.append(gid)
            e = by_id[gid]
            if e.parent_id is None:
                break
            if e.parent_id not in by_id:
                raise StrategyError(f"gate {gid!r} has unknown parent_id {e.parent_id!r}", path=source)
            gid = e.parent_id
        for child in reversed(trail):
            e = by_id[child]
            paths[child] = join_path(ROOT if e.parent_id is None else paths[e.parent_id], e.name)
        return paths[trail[0]] if trail else paths[gid]

    for e in entries:
        path_of(e.id)
    populations = []
    for e in entries:
        try:
            gate = e.make(paths)
        except StrategyError:
            raise
        except CytogateError as exc:
            raise StrategyError(str(exc), path=source, gate=e.id) from None
        parent = paths[e.parent_id] if e.parent_id is not None else ROOT
        populations.append(Population(e.name, parent, gate))
    return Strategy(tuple(populations), ctx.transforms, ctx.matrices, source_text=text, source=source,
                    format="gatingml")
