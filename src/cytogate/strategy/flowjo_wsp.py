"""FlowJo workspace (``.wsp``) import: one sample's gating tree as a :class:`Strategy`.

A FlowJo 10 workspace is XML (parsed with defusedxml).  For the chosen sample it
holds the compensation matrix (``transforms:spilloverMatrix``: the ``Comp-``
prefixed parameters are compensated with it), one display transform per
parameter (``linear``, ``log``, ``biex``, ``logicle``, ``fasinh``) and the
population tree: ``Population`` nodes with Gating-ML gates, and ``AndNode`` /
``OrNode`` / ``NotNode`` boolean nodes whose ``Dependents`` are population paths.

Conversion rules (FlowJo stores coordinates in two different spaces):

* rectangle bounds and polygon vertices are raw data values; they are mapped
  through the parameter's transform so the YAML reads in display units and the
  polygon keeps the straight edges it was drawn with;
* ellipse foci and edge points are display coordinates on a 0..256 grid; they
  become an ellipse ``(x - c)ᵀ C⁻¹ (x - c) <= 1`` in transform units (grid / 256),
  or in raw units on a linear axis (FlowJo ``linear`` displays are not carried
  as transforms: an affine axis changes no rectangle, polygon or ellipse);
* FlowJo quadrants are four rectangles and stay rectangles.

FlowJo's own counts are returned beside the strategy so a caller can compare.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import numpy as np
from defusedxml import DefusedXmlException

from ..errors import CytogateError, StrategyError
from ..gates.dimensions import UNCOMPENSATED, Dimension
from ..gates.specs import BooleanGate, EllipsoidGate, GateSpec, PolygonGate, RectangleGate
from .tree import ROOT, Population, SpectrumMatrix, Strategy, TransformSpec, join_path

__all__ = ["WspSample", "WspImport", "import_sample", "list_wsp_samples", "parse_workspace_xml", "read_wsp",
           "sample_elements"]

log = logging.getLogger(__name__)

_NS = {
    "gating": "http://www.isac-net.org/std/Gating-ML/v2.0/gating",
    "transforms": "http://www.isac-net.org/std/Gating-ML/v2.0/transformations",
    "data-type": "http://www.isac-net.org/std/Gating-ML/v2.0/datatypes",
}
_ELLIPSE_GRID = 256.0  # FlowJo stores ellipse geometry on its 256-channel display grid
MAX_DEPTH = 1000  # population nesting; real workspaces stay below ~20, deeper is hostile or corrupt


def _a(el: Element, ns: str | None, name: str, default: Any = None) -> Any:
    key = f"{{{_NS[ns]}}}{name}" if ns else name
    value = el.get(key)
    if value is None and ns:
        value = el.get(name)  # some FlowJo versions omit the prefix
    return default if value is None else value


def _local(el: Element) -> str:
    return el.tag.rsplit("}", 1)[-1]


def _number(text: str | None, what: str, source: str, population: str | None = None) -> float:
    """``float(text)``, refusing absent, non-numeric and non-finite attribute values with a StrategyError."""
    try:
        value = float(text)  # type: ignore[arg-type]  # None raises TypeError, reported below
    except (TypeError, ValueError):
        shown = "missing" if text is None else f"{text!r} is not a number"
        raise StrategyError(f"{what}: {shown}", path=source, population=population) from None
    if not np.isfinite(value):
        raise StrategyError(f"{what}: {text!r} is not finite", path=source, population=population)
    return value


def _count(el: Element, what: str, source: str, population: str | None = None) -> int:
    """FlowJo's event count of a node (-1 when absent)."""
    text = el.get("count")
    return -1 if text is None else int(_number(text, what, source, population))


@dataclass(frozen=True)
class WspSample:
    """A sample listed in a workspace."""

    id: str
    name: str
    uri: str
    count: int
    fil: str = ""  # the $FIL keyword FlowJo recorded for the file, when it did


@dataclass(frozen=True, eq=False)
class WspImport:
    """The result of importing one sample of a workspace.

    Attributes
    ----------
    strategy : Strategy
        The gating tree (``format="flowjo"``).
    sample : WspSample
    counts : dict of str to int
        FlowJo's event count per population path (-1 / 0: FlowJo did not compute it).
    notes : list of str
        Things that could not be carried over exactly.
    """

    strategy: Strategy
    sample: WspSample
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _parse(source: str | os.PathLike[str]) -> tuple[Element, str]:
    path = Path(source)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StrategyError(f"cannot read FlowJo workspace: {exc.strerror}", path=str(path)) from None
    return parse_workspace_xml(raw, str(path)), str(path)


def parse_workspace_xml(raw: bytes, source: str) -> Element:
    """The root ``<Workspace>`` element of a workspace's bytes (safe parsing, one-line errors)."""
    path = source
    try:
        root = SafeET.fromstring(raw)
    except DefusedXmlException as exc:
        raise StrategyError(f"unsafe XML refused ({type(exc).__name__})", path=str(path)) from None
    except SafeET.ParseError as exc:
        raise StrategyError(f"not well-formed XML: {exc}", path=str(path)) from None
    if _local(root) != "Workspace":
        raise StrategyError(f"not a FlowJo workspace (root element <{_local(root)}>)", path=str(path))
    return root


def _keyword(sample: Element, name: str) -> str:
    for keyword in sample.iter("Keyword"):
        if keyword.get("name", "").strip() == name:
            return keyword.get("value", "").strip()
    return ""


def sample_elements(root: Element, source: str) -> list[tuple[WspSample, Element]]:
    """Every ``<Sample>`` of a workspace (FlowJo 9 and 10 share this layout) with what identifies it."""
    out = []
    for sample in root.iter("Sample"):
        node = sample.find("SampleNode")
        data = sample.find("DataSet")
        if node is None:
            continue
        sid = ((data.get("sampleID") if data is not None else None) or node.get("sampleID")
               or sample.get("sampleID") or "")
        name = node.get("name", "")
        out.append((WspSample(sid, name, "" if data is None else data.get("uri", ""),
                              _count(node, f"event count of sample {name!r}", source), _keyword(sample, "$FIL")),
                    sample))
    return out


_samples = sample_elements


def list_wsp_samples(path: str | os.PathLike[str]) -> list[WspSample]:
    """The samples of a workspace, in file order."""
    root, source = _parse(path)
    return [s for s, _ in _samples(root, source)]


@dataclass
class _Ctx:
    source: str
    transforms: dict[str, TransformSpec] = field(default_factory=dict)
    by_param: dict[str, str] = field(default_factory=dict)  # parameter -> transform id
    linear: dict[str, tuple[float, float]] = field(default_factory=dict)  # parameter -> (min, max) of a linear axis
    built: dict[str, Any] = field(default_factory=dict)  # transform id -> transform object
    matrices: dict[str, SpectrumMatrix] = field(default_factory=dict)
    prefixes: list[tuple[str, str, str]] = field(default_factory=list)  # (prefix, suffix, matrix id)
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def fail(self, message: str, population: str | None = None) -> NoReturn:
        raise StrategyError(message, path=self.source, population=population)


_TRANSFORM_READERS = {
    # FlowJo element -> (cytogate kind, {cytogate parameter: (FlowJo attribute, default)})
    "linear": ("flin", {"t": ("maxRange", 262144.0), "a": ("minRange", 0.0)}),
    "log": ("flowjo_log", {"offset": ("offset", 1.0), "decades": ("decades", 4.5)}),
    "biex": ("flowjo_biex", {"width": ("width", -10.0), "negative": ("neg", 0.0), "positive": ("pos", 4.418539922),
                             "max_value": ("maxRange", 262144.0), "channel_range": ("length", 4096.0)}),
    "logicle": ("logicle", {"t": ("T", 262144.0), "w": ("W", 0.5), "m": ("M", 4.5), "a": ("A", 0.0)}),
    "fasinh": ("fasinh", {"t": ("T", 262144.0), "m": ("M", 4.5), "a": ("A", 0.0)}),
}


def _read_transforms(sample: Element, ctx: _Ctx) -> None:
    block = sample.find("Transformations")
    if block is None:
        return
    seen: dict[tuple[str, tuple[tuple[str, float], ...]], str] = {}
    for el in block:
        kind_name = _local(el)
        reader = _TRANSFORM_READERS.get(kind_name)
        param = el.find("data-type:parameter", _NS)
        if param is None:
            continue
        name = _a(param, "data-type", "name")
        if reader is None:
            ctx.notes.append(f"transform {kind_name!r} of {name!r} is not supported; values used untransformed")
            continue
        kind, attrs = reader
        params = tuple((key, _number(_a(el, "transforms", attr, default), f"transform {kind_name} of {name!r}, {attr}",
                                     ctx.source)) for key, (attr, default) in attrs.items())
        if kind == "flin":
            # A linear display changes nothing for rectangles and polygons (per-axis affine maps keep
            # straight edges), so gates stay in raw units; ellipses use the range to leave the grid.
            p = dict(params)
            ctx.linear[name] = (p["a"], p["t"])
            continue
        key = (kind, params)
        if key not in seen:
            tid = f"{kind_name}_{len([k for k in seen if k[0] == kind]) + 1}"
            spec = TransformSpec(tid, kind, params)
            try:
                ctx.built[tid] = spec.build()
            except CytogateError as exc:
                ctx.fail(f"transform {kind_name} of parameter {name!r}: {exc.message}")
            ctx.transforms[tid] = spec
            seen[key] = tid
        ctx.by_param[name] = seen[key]


def _matrix_id(name: str, taken: dict[str, SpectrumMatrix]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "flowjo_comp"
    mid, n = base, 2
    while mid in taken:
        mid, n = f"{base}_{n}", n + 1
    return mid


def _read_matrices(root: Element, sample: Element, ctx: _Ctx) -> None:
    # A sample's own matrix wins over workspace-level ones with the same prefix.
    elements = list(sample.findall("transforms:spilloverMatrix", _NS))
    matrices = root.find("Matrices")
    if matrices is not None:
        elements += matrices.findall("transforms:spilloverMatrix", _NS)
    for el in elements:
        prefix, suffix = el.get("prefix", "Comp-"), el.get("suffix", "")
        if any(p == prefix and s == suffix for p, s, _ in ctx.prefixes):
            continue
        params = [_a(p, "data-type", "name") for p in el.findall("data-type:parameters/data-type:parameter", _NS)]
        index = {p: i for i, p in enumerate(params)}
        m = np.eye(len(params))
        for row in el.findall("transforms:spillover", _NS):
            i = index.get(_a(row, "data-type", "parameter"))
            for coef in row.findall("transforms:coefficient", _NS):
                j = index.get(_a(coef, "data-type", "parameter"))
                if i is not None and j is not None:
                    m[i, j] = _number(_a(coef, "transforms", "value", 0.0),
                                      f"compensation matrix {el.get('name')!r}, coefficient", ctx.source)
        if not params:
            continue
        mid = _matrix_id(el.get("name", "flowjo_comp"), ctx.matrices)
        try:
            ctx.matrices[mid] = SpectrumMatrix(mid, tuple(params), tuple(params), m)
        except CytogateError as exc:
            ctx.fail(f"compensation matrix {el.get('name')!r}: {exc.message}")
        ctx.prefixes.append((prefix, suffix, mid))


def _dimension(name: str, ctx: _Ctx) -> Dimension:
    compensation, channel = UNCOMPENSATED, name
    for prefix, suffix, mid in ctx.prefixes:
        if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix):
            inner = name[len(prefix):len(name) - len(suffix) if suffix else None]
            if inner in ctx.matrices[mid].detectors:
                compensation, channel = mid, inner
                break
    tid = ctx.by_param.get(name, ctx.by_param.get(channel))
    return Dimension(channel, compensation, tid)


def _to_display(dim: Dimension, values: list[float | None], ctx: _Ctx) -> list[float | None]:
    if dim.transform is None:
        return values
    t = ctx.built[dim.transform]
    return [None if v is None else float(t.apply(np.array([float(v)]))[0]) for v in values]


def _coords(vertex: Element, n: int, path: str, ctx: _Ctx) -> list[float]:
    values = [_number(_a(c, "data-type", "value"), "vertex coordinate", ctx.source, path)
              for c in vertex.findall("gating:coordinate", _NS)]
    if len(values) != n:
        ctx.fail(f"a vertex has {len(values)} coordinate(s), expected {n}", path)
    return values


def _dimension_names(el: Element, path: str, ctx: _Ctx) -> list[str]:
    names = []
    for d in el.findall("gating:dimension", _NS):
        fcs = d.find("data-type:fcs-dimension", _NS)
        name = None if fcs is None else _a(fcs, "data-type", "name")
        if not name:
            ctx.fail(f"{_local(el)}: a gating:dimension has no fcs-dimension name", path)
        names.append(name)
    return names


def _gate(el: Element, path: str, ctx: _Ctx) -> GateSpec:
    kind = _local(el)
    names = _dimension_names(el, path, ctx)
    dims = [_dimension(n, ctx) for n in names]
    if el.get("eventsInside", "1") == "0":
        ctx.fail("gates with eventsInside=0 (outside the shape) are not supported", path)
    try:
        if kind == "RectangleGate":
            mins, maxs = [], []
            for d_el, dim in zip(el.findall("gating:dimension", _NS), dims):
                lo, hi = (None if (v := _a(d_el, "gating", b)) is None
                          else _number(v, f"{dim.name} {b}", ctx.source, path) for b in ("min", "max"))
                lo, hi = _to_display(dim, [lo, hi], ctx)
                mins.append(lo)
                maxs.append(hi)
            return RectangleGate(tuple(dims), tuple(mins), tuple(maxs))
        if kind == "PolygonGate":
            if len(dims) != 2:
                ctx.fail(f"FlowJo polygon needs 2 dimensions, found {len(dims)}", path)
            verts = [_coords(v, 2, path, ctx) for v in el.findall("gating:vertex", _NS)]
            xs = _to_display(dims[0], [v[0] for v in verts], ctx)
            ys = _to_display(dims[1], [v[1] for v in verts], ctx)
            return PolygonGate(tuple(dims), tuple((float(x), float(y)) for x, y in zip(xs, ys)))  # type: ignore[arg-type]  # vertices are never None
        if kind == "EllipsoidGate":
            return _ellipse(el, dims, names, path, ctx)
    except CytogateError as exc:
        ctx.fail(f"{kind}: {exc.message}", path)
    ctx.fail(f"FlowJo gate type {kind!r} is not supported", path)
    raise AssertionError  # unreachable


def _ellipse(el: Element, dims: list[Dimension], names: list[str], path: str, ctx: _Ctx) -> EllipsoidGate:
    if len(dims) != 2:
        ctx.fail("FlowJo ellipse needs 2 dimensions, 2 foci and 4 edge points", path)
    foci = [np.array(_coords(v, 2, path, ctx)) for v in el.findall("gating:foci/gating:vertex", _NS)]
    edge = [np.array(_coords(v, 2, path, ctx)) for v in el.findall("gating:edge/gating:vertex", _NS)]
    if len(foci) != 2 or len(edge) != 4:
        ctx.fail("FlowJo ellipse needs 2 dimensions, 2 foci and 4 edge points", path)
    # grid -> gate units: transform units (0..1) on a transformed axis, raw units on a linear one
    lows, spans = np.zeros(2), np.ones(2)
    for k, (dim, name) in enumerate(zip(dims, names)):
        if dim.transform is None:
            low, high = ctx.linear.get(name, ctx.linear.get(dim.name, (0.0, 262144.0)))
            lows[k], spans[k] = low, high - low
    # the axes are perpendicular on the grid, not in gate units when the two axes scale differently:
    # the ellipse is built on the grid and then scaled per axis
    centre = (foci[0] + foci[1]) / 2
    major = edge[0] - edge[1]
    a = np.linalg.norm(major) / 2
    b = np.linalg.norm(edge[2] - edge[3]) / 2
    if not (a > 0 and b > 0):
        ctx.fail("degenerate FlowJo ellipse (zero axis)", path)
    u = major / np.linalg.norm(major)
    v = np.array([-u[1], u[0]])
    scale = spans / _ELLIPSE_GRID
    centre = lows + scale * centre
    cov = np.outer(scale, scale) * (a * a * np.outer(u, u) + b * b * np.outer(v, v))
    return EllipsoidGate(tuple(dims), tuple(centre.tolist()), tuple(map(tuple, cov.tolist())), 1.0)


_BOOLEAN_NODES = {"AndNode": "and", "OrNode": "or", "NotNode": "not"}


def _safe_name(name: str, ctx: _Ctx) -> str:
    if "/" in name:
        ctx.notes.append(f"population name {name!r} contains '/', written with '∕'")
        return name.replace("/", "∕")
    return name


def _walk(top: Element, out: list[Population], ctx: _Ctx) -> None:
    """Append the populations under ``top`` in document (depth-first) order.

    Iterative, with an explicit stack of child iterators, so a deeply nested
    (hostile) workspace cannot exhaust the interpreter stack; nesting deeper
    than :data:`MAX_DEPTH` is refused.
    """
    stack = [(_children(top), ROOT)]
    while stack:
        children, parent = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            continue
        if len(stack) > MAX_DEPTH:
            ctx.fail(f"populations are nested more than {MAX_DEPTH} levels deep "
                     f"(at population {child.get('name', '')!r})")
        stack.append((_children(child), _population(child, parent, out, ctx)))


def _children(node: Element | None) -> Any:
    subs = None if node is None else node.find("Subpopulations")
    return iter(()) if subs is None else (c for c in subs if c.tag == "Population" or c.tag in _BOOLEAN_NODES)


def _population(child: Element, parent: str, out: list[Population], ctx: _Ctx) -> str:
    """Convert one ``Population`` or boolean node; returns its path."""
    tag = child.tag
    name = _safe_name(child.get("name", ""), ctx)
    if not name:
        ctx.fail("a FlowJo population has no name", parent)
    path = join_path(parent, name)
    if tag == "Population":
        gate_el = child.find("Gate")
        shape = None if gate_el is None else next(iter(gate_el), None)
        if shape is None:
            ctx.fail("population has no gate", path)
        gate = _gate(shape, path, ctx)
    else:
        refs = []
        for d in child.findall("Dependents/Dependent"):
            ref = _a(d, None, "name")
            if not ref:
                ctx.fail(f"{tag}: a Dependent has no name", path)
            refs.append("/" + ref.strip("/"))
        try:
            gate = BooleanGate(_BOOLEAN_NODES[tag], tuple((r, False) for r in refs))
        except CytogateError as exc:
            ctx.fail(f"{tag}: {exc.message}", path)
    out.append(Population(name, parent, gate))
    ctx.counts[path] = _count(child, "event count", ctx.source, path)
    return path


def read_wsp(path: str | os.PathLike[str], *, sample: str | int | None = None) -> WspImport:
    """Import one sample's gating tree from a FlowJo 10 workspace.

    Parameters
    ----------
    path : str or path-like
        The ``.wsp`` file.
    sample : str or int, optional
        Sample name (``$FIL`` as FlowJo shows it), sample id, or position (int);
        default the first sample.

    Returns
    -------
    WspImport
        Strategy, the sample, FlowJo's counts by path and conversion notes.

    Raises
    ------
    StrategyError
        Unsafe or malformed XML, unknown sample, unsupported gates.
    """
    root, source = _parse(path)
    samples = _samples(root, source)
    if not samples:
        raise StrategyError("workspace lists no samples", path=source)
    if sample is None:
        chosen = samples[0]
    elif isinstance(sample, int):
        if not 0 <= sample < len(samples):
            raise StrategyError(f"sample index {sample} out of range (0..{len(samples) - 1})", path=source)
        chosen = samples[sample]
    else:
        matches = [s for s in samples if sample in (s[0].name, s[0].id)]
        if not matches:
            names = ", ".join(s.name for s, _ in samples)
            raise StrategyError(f"no sample {sample!r} in the workspace; samples: {names}", path=source)
        chosen = matches[0]
    info, element = chosen
    return import_sample(root, element, info, source)


def import_sample(root: Element, element: Element, info: WspSample, source: str, *,
                  tree: Element | None = None) -> WspImport:
    """One FlowJo 10 ``<Sample>`` of an already parsed workspace as a strategy.

    ``tree`` is another node whose populations to read (a group's
    ``GroupNode``) with this sample's compensation and transforms.
    """
    ctx = _Ctx(source)
    _read_matrices(root, element, ctx)
    _read_transforms(element, ctx)
    populations: list[Population] = []
    node = element.find("SampleNode") if tree is None else tree
    if node is None:
        ctx.fail("the sample has no SampleNode (no gating tree)")
    _walk(node, populations, ctx)
    used_t = {d.transform for p in populations for d in p.gate.dimensions if d.transform}
    used_m = {d.compensation for p in populations for d in p.gate.dimensions}
    try:
        strategy = Strategy(tuple(populations), {k: v for k, v in ctx.transforms.items() if k in used_t},
                            {k: v for k, v in ctx.matrices.items() if k in used_m}, source=source, format="flowjo")
    except CytogateError as exc:
        raise StrategyError(f"FlowJo tree is inconsistent: {exc.message}", path=source) from None
    for note in ctx.notes:
        log.warning("%s: %s", source, note)
    return WspImport(strategy, info, ctx.counts, ctx.notes)
