"""FlowJo 9 (Mac) XML workspaces: one sample's gating tree as a :class:`Strategy`.

A FlowJo 9 Mac workspace (``<Workspace version="2.0">``) differs from a
FlowJo 10 one in every part that matters for gating; the conventions below
follow FlowJo's workspace files as R's flowWorkspace/CytoML reads them
(``macFlowJoWorkspace``) and are listed with their sources in docs/flowjo.md.

* **Samples** are ``SampleList/Sample`` with a ``SampleNode`` (name, count,
  ``compensationID``) and ``Keywords`` (``$FIL``); groups are
  ``Groups/GroupNode`` with ``SampleRef`` children.
* **Compensation**: ``compensationID`` ``-2`` or empty is none, ``-1`` the
  file's own acquisition matrix, ``n`` the n-th
  ``CompensationMatrices/CompensationMatrix`` (its ``Channel``/``ChannelValue``
  rows are the spillover matrix).  Compensated parameters are named with the
  matrix's prefix and suffix, usually ``<FITC-A>``.
* **Transforms** come from the ``Parameter`` nodes of the sample: ``log="1"``
  displays the channel on FlowJo's biexponential scale, whose decades, negative
  decades and width are those of the matching ``CalibrationTables/Table``
  (named ``"<matrix name> <channel>"``; its last entry gives the top of scale
  and the channel range), else FlowJo's defaults; other parameters are linear.
* **Gates** hold their coordinates as data values: ``PolygonGate`` wraps a
  ``Polygon``, ``PolyRect``, ``Ellipse`` or ``Range`` element naming its axes
  (``xAxisName``/``yAxisName``) with ``Vertex x= y=`` points.  Polygons keep the
  straight edges they were drawn with on the display scale, so vertices are
  mapped through the display transform; an ellipse's four points are its two
  conjugate diameters on that scale; a range's two points bound one axis.
  ``BooleanGate`` combines ``GatePaths`` by a ``specification`` such as
  ``G0&!G1``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, NoReturn
from xml.etree.ElementTree import Element

import numpy as np

from ..errors import CytogateError, StrategyError
from ..gates.dimensions import FCS, UNCOMPENSATED, Dimension
from ..gates.specs import (
    BooleanGate,
    EllipsoidGate,
    GateSpec,
    PolygonGate,
    RectangleGate,
)
from .flowjo_wsp import WspImport, WspSample
from .tree import ROOT, Population, SpectrumMatrix, Strategy, TransformSpec, join_path

__all__ = ["FLOWJO9_BIEX_DEFAULTS", "import_flowjo9_sample"]

log = logging.getLogger(__name__)

#: FlowJo's biexponential defaults when a workspace stores no calibration table for a channel.
FLOWJO9_BIEX_DEFAULTS = {"positive": 4.5, "negative": 0.0, "width": -10.0, "max_value": 262144.0,
                         "channel_range": 4096.0}
_SHAPES = ("Polygon", "PolyRect", "Ellipse", "Range")
MAX_DEPTH = 1000


@dataclass
class _Ctx:
    source: str
    prefix: str = ""
    suffix: str = ""
    compensation: str = UNCOMPENSATED
    detectors: frozenset[str] = frozenset()
    transforms: dict[str, TransformSpec] = field(default_factory=dict)
    by_channel: dict[str, str] = field(default_factory=dict)  # channel -> transform id
    built: dict[str, Any] = field(default_factory=dict)
    matrices: dict[str, SpectrumMatrix] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def fail(self, message: str, population: str | None = None) -> NoReturn:
        raise StrategyError(message, path=self.source, population=population)


def _number(text: str | None, what: str, ctx: _Ctx, population: str | None = None) -> float:
    try:
        value = float(text)  # type: ignore[arg-type]  # None raises TypeError, reported below
    except (TypeError, ValueError):
        shown = "missing" if text is None else f"{text!r} is not a number"
        ctx.fail(f"{what}: {shown}", population)
    if not np.isfinite(value):
        ctx.fail(f"{what}: {text!r} is not finite", population)
    return value


def _read_compensation(root: Element, node: Element, ctx: _Ctx) -> str:
    """Set the sample's compensation; returns the matrix name (for calibration tables)."""
    cid = node.get("compensationID", "").strip()
    if cid in ("", "-2"):
        if cid == "-2":
            ctx.prefix, ctx.suffix = "<", ">"
        return "none"
    if cid == "-1":  # acquisition-defined: the file's own spillover keyword
        ctx.prefix, ctx.suffix, ctx.compensation = "<", ">", FCS
        return "Acquisition-defined"
    matrices = root.findall("CompensationMatrices/CompensationMatrix")
    try:
        element = matrices[int(cid) - 1]
    except (ValueError, IndexError):
        ctx.fail(f"sample {node.get('name', '')!r}: compensationID {cid!r} names no CompensationMatrix "
                 f"(the workspace has {len(matrices)})")
    name = element.get("name", f"matrix {cid}")
    ctx.prefix, ctx.suffix = element.get("prefix", "<"), element.get("suffix", ">")
    rows = element.findall("Channel")
    fluors = [r.get("name", "") for r in rows]
    detectors = [v.get("name", "") for v in rows[0].findall("ChannelValue")] if rows else []
    if not fluors or any(not f for f in fluors) or any(not d for d in detectors):
        ctx.fail(f"compensation matrix {name!r}: channels without names")
    m = np.zeros((len(fluors), len(detectors)))
    for i, row in enumerate(rows):
        values = row.findall("ChannelValue")
        if [v.get("name", "") for v in values] != detectors:
            ctx.fail(f"compensation matrix {name!r}: row {fluors[i]!r} lists other detectors than the first row")
        for j, value in enumerate(values):
            m[i, j] = _number(value.get("value"), f"compensation matrix {name!r}, {fluors[i]} -> {detectors[j]}", ctx)
    mid = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "flowjo9_comp"
    try:
        ctx.matrices[mid] = SpectrumMatrix(mid, tuple(fluors), tuple(detectors), m)
    except CytogateError as exc:
        ctx.fail(f"compensation matrix {name!r}: {exc.message}")
    ctx.compensation, ctx.detectors = mid, frozenset(detectors)
    return name


def _table_params(table: Element | None, ctx: _Ctx) -> dict[str, float]:
    params = dict(FLOWJO9_BIEX_DEFAULTS)
    if table is None:
        return params
    what = f"calibration table {table.get('name', '')!r}"
    for key, attr in (("positive", "biexponentialDecades"), ("negative", "biexponentialNegDecades"),
                      ("width", "biexponentialWidth")):
        if table.get(attr) is not None:
            params[key] = _number(table.get(attr), f"{what}, {attr}", ctx)
    values = [v for v in re.split(r"[\s,]+", (table.text or "").strip()) if v]
    if len(values) >= 2:  # pairs of (channel, value): the last pair is the top of the scale
        params["channel_range"] = _number(values[-2], f"{what}, last channel", ctx)
        params["max_value"] = _number(values[-1], f"{what}, last value", ctx)
    return params


def _table_for(tables: list[Element], channel: str, matrix_name: str, index: str) -> Element | None:
    """The calibration table of a channel: ``"<matrix name> <channel>"``, else any table of that channel,
    else the generic table the parameter's ``calibrationIndex`` points at."""
    named: list[tuple[str, str, Element]] = []
    for table in tables:
        name = table.get("name", "")
        if "<" in name and name.rstrip().endswith(">"):
            group, _, inner = name.partition("<")
            named.append((group.strip(), inner.rstrip()[:-1].strip(), table))
    of_channel = [(g, t) for g, c, t in named if c == channel]
    for group, table in of_channel:
        if group == matrix_name or (matrix_name and matrix_name in group):
            return table
    if of_channel:
        return of_channel[0][1]
    if index.isdigit() and 0 < int(index) <= len(tables):
        return tables[int(index) - 1]
    return None


def _read_transforms(root: Element, node: Element, matrix_name: str, ctx: _Ctx) -> None:
    tables = list(root.findall("CalibrationTables/Table"))
    seen: dict[tuple[tuple[str, float], ...], str] = {}
    for parameter in node.findall("Parameter"):
        channel = parameter.get("name", "")
        if not channel or parameter.get("log", "0").strip() != "1":
            continue  # linear display: gates stay in data units
        table = _table_for(tables, channel, matrix_name, parameter.get("calibrationIndex", "0").strip())
        params = tuple(sorted(_table_params(table, ctx).items()))
        if params not in seen:
            tid = f"flowjo9_biex_{len(seen) + 1}"
            spec = TransformSpec(tid, "flowjo_biex", params)
            try:
                ctx.built[tid] = spec.build()
            except CytogateError as exc:
                ctx.fail(f"display transform of {channel!r}: {exc.message}")
            ctx.transforms[tid] = spec
            seen[params] = tid
        ctx.by_channel[channel] = seen[params]


def _dimension(name: str, ctx: _Ctx, path: str) -> Dimension:
    channel, compensation = name, UNCOMPENSATED
    if ctx.prefix and name.startswith(ctx.prefix) and name.endswith(ctx.suffix) and len(name) > len(ctx.prefix) + len(ctx.suffix):
        channel = name[len(ctx.prefix):len(name) - len(ctx.suffix) if ctx.suffix else None]
        compensation = ctx.compensation
        if compensation not in (UNCOMPENSATED, FCS) and channel not in ctx.detectors:
            ctx.fail(f"compensated parameter {name!r} is not in the sample's compensation matrix", path)
    elif not name:
        ctx.fail("a gate axis has no parameter name", path)
    return Dimension(channel, compensation, ctx.by_channel.get(channel))


def _display(dim: Dimension, values: list[float], ctx: _Ctx) -> list[float]:
    if dim.transform is None:
        return values
    return [float(v) for v in ctx.built[dim.transform].apply(np.asarray(values, dtype=float))]


def _shape_gate(gate_el: Element, path: str, ctx: _Ctx) -> GateSpec:
    shape = next((e for e in gate_el.iter() if e.tag in _SHAPES and e.get("xAxisName") is not None), None)
    if shape is None:
        named = [e.tag for e in gate_el.iter() if e.get("xAxisName") is not None]
        found = repr(named[0]) if named else f"(none of {', '.join(e.tag for e in gate_el) or 'nothing'})"
        ctx.fail(f"FlowJo 9 gate type {found} is not supported (supported: {', '.join(_SHAPES)}, BooleanGate)",
                 path)
    if shape.get("negated", "").strip() not in ("", "0"):
        ctx.fail("negated FlowJo 9 gates (events outside the shape) are not supported", path)
    names = [shape.get("xAxisName", "")] + ([shape.get("yAxisName", "")] if shape.get("yAxisName") else [])
    dims = [_dimension(n, ctx, path) for n in names]
    points = [(_number(v.get("x"), "vertex x", ctx, path), _number(v.get("y", "0"), "vertex y", ctx, path))
              for v in shape.iter("Vertex")]
    try:
        if shape.tag == "Range":
            if len(points) != 2:
                ctx.fail(f"FlowJo 9 range gate needs 2 points, found {len(points)}", path)
            (x0, y0), (x1, y1) = points
            lo, hi = (min(x0, x1), max(x0, x1)) if x0 != x1 else (min(y0, y1), max(y0, y1))
            lo, hi = _display(dims[0], [lo, hi], ctx)
            return RectangleGate((dims[0],), (lo,), (hi,))
        if len(dims) != 2:
            ctx.fail(f"FlowJo 9 {shape.tag} gate needs an x and a y axis", path)
        xs = _display(dims[0], [p[0] for p in points], ctx)
        ys = _display(dims[1], [p[1] for p in points], ctx)
        if shape.tag == "PolyRect":
            if len(points) < 2:
                ctx.fail("FlowJo 9 rectangle gate needs at least 2 points", path)
            return RectangleGate(tuple(dims), (min(xs), min(ys)), (max(xs), max(ys)))
        if shape.tag == "Polygon":
            return PolygonGate(tuple(dims), tuple(zip(xs, ys)))
        return _ellipse(dims, xs, ys, path, ctx)
    except CytogateError as exc:
        ctx.fail(f"FlowJo 9 {shape.tag} gate: {exc.message}", path)


def _ellipse(dims: list[Dimension], xs: list[float], ys: list[float], path: str, ctx: _Ctx) -> EllipsoidGate:
    if len(xs) != 4:
        ctx.fail(f"FlowJo 9 ellipse needs 4 points (two diameters), found {len(xs)}", path)
    pts = np.column_stack([xs, ys])
    centre = (pts[0] + pts[1]) / 2
    p, q = (pts[0] - pts[1]) / 2, (pts[2] - pts[3]) / 2
    cov = np.outer(p, p) + np.outer(q, q)  # conjugate semi-diameters: exact for any per-axis scaling
    if abs(np.linalg.det(cov)) <= 1e-12 * max(float(np.abs(cov).max()), 1e-300) ** 2:
        ctx.fail("degenerate FlowJo 9 ellipse (its diameters are parallel or empty)", path)
    return EllipsoidGate(tuple(dims), tuple(centre.tolist()), tuple(map(tuple, cov.tolist())), 1.0)


_TOKEN = re.compile(r"\s*(!?)\s*G(\d+)\s*")


def _boolean(gate_el: Element, parent: str, path: str, ctx: _Ctx) -> BooleanGate:
    spec = gate_el.get("specification", "").strip()
    refs = []
    for text_el in gate_el.iter():
        if text_el.tag in ("String", "QuotedString") and text_el.text is not None:
            ref = text_el.text.strip().strip('"').strip()
            refs.append("/" + ref.strip("/"))  # FlowJo writes gate paths from the sample's root
    ops = set(re.findall(r"[&|]", spec))
    if len(ops) > 1 or "(" in spec:
        ctx.fail(f"boolean specification {spec!r} mixes operators; only one of & or | per gate is supported", path)
    terms = re.split(r"[&|]", spec) if spec else []
    operands = []
    for term in terms:
        match = _TOKEN.fullmatch(term)
        if match is None or int(match.group(2)) >= len(refs):
            ctx.fail(f"boolean specification {spec!r}: cannot read term {term.strip()!r}", path)
        operands.append((refs[int(match.group(2))], match.group(1) == "!"))
    negated = gate_el.get("negated", "").strip() not in ("", "0")
    try:
        if len(operands) == 1:
            ref, complement = operands[0]
            if complement == negated:  # "G0" alone, or "!G0" negated: the referenced population itself
                return BooleanGate("and", ((ref, False), (ref, False)))
            return BooleanGate("not", ((ref, False),))
        if negated:
            ctx.fail("negated FlowJo 9 boolean gates over several populations are not supported", path)
        return BooleanGate("or" if ops == {"|"} else "and", tuple(operands))
    except CytogateError as exc:
        ctx.fail(f"BooleanGate: {exc.message}", path)


def _walk(top: Element, out: list[Population], ctx: _Ctx) -> None:
    stack = [(iter(top.findall("Population")), ROOT)]
    while stack:
        children, parent = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            continue
        if len(stack) > MAX_DEPTH:
            ctx.fail(f"populations are nested more than {MAX_DEPTH} levels deep")
        name = child.get("name", "").replace("/", "∕")
        if not name:
            ctx.fail("a FlowJo population has no name", parent)
        path = join_path(parent, name)
        boolean = child.find("BooleanGate")
        polygon = child.find("PolygonGate")
        if boolean is not None:
            gate: GateSpec = _boolean(boolean, parent, path, ctx)
        elif polygon is not None:
            gate = _shape_gate(polygon, path, ctx)
        else:
            found = sorted({e.tag for e in child if e.tag != "Population"})
            ctx.fail(f"population has no gate FlowJo 9 defines (found {', '.join(found) or 'nothing'})", path)
        out.append(Population(name, parent, gate))
        text = child.get("count")
        ctx.counts[path] = -1 if text is None else int(_number(text, "event count", ctx, path))
        stack.append((iter(child.findall("Population")), path))


def _resolve_references(populations: list[Population]) -> list[Population]:
    """Boolean operands written as a sibling's name rather than a path from the root: point them at the sibling."""
    paths = {p.path for p in populations}
    out = []
    for pop in populations:
        gate = pop.gate
        if isinstance(gate, BooleanGate) and any(ref not in paths for ref, _ in gate.operands):
            fixed = tuple((ref if ref in paths or join_path(pop.parent, ref.strip("/")) not in paths
                           else join_path(pop.parent, ref.strip("/")), complement) for ref, complement in gate.operands)
            pop = Population(pop.name, pop.parent, BooleanGate(gate.op, fixed))
        out.append(pop)
    return out


def import_flowjo9_sample(root: Element, element: Element, info: WspSample, source: str, *,
                          tree: Element | None = None) -> WspImport:
    """One ``<Sample>`` of a parsed FlowJo 9 Mac workspace as a strategy with FlowJo's counts.

    ``tree`` is another node whose populations to read (a group's
    ``GroupNode``) with this sample's compensation and transforms.

    Raises
    ------
    StrategyError
        Unknown compensation, unsupported or malformed gates (naming the population).
    """
    node = element.find("SampleNode")
    if node is None:
        raise StrategyError(f"sample {info.name!r} has no SampleNode", path=source)
    ctx = _Ctx(source)
    matrix_name = _read_compensation(root, node, ctx)
    _read_transforms(root, node, matrix_name, ctx)
    populations: list[Population] = []
    _walk(node if tree is None else tree, populations, ctx)
    populations = _resolve_references(populations)
    used_t = {d.transform for p in populations for d in p.gate.dimensions if d.transform}
    used_m = {d.compensation for p in populations for d in p.gate.dimensions}
    try:
        strategy = Strategy(tuple(populations), {k: v for k, v in ctx.transforms.items() if k in used_t},
                            {k: v for k, v in ctx.matrices.items() if k in used_m}, source=source, format="flowjo9")
    except CytogateError as exc:
        raise StrategyError(f"FlowJo 9 tree of sample {info.name!r} is inconsistent: {exc.message}",
                            path=source) from None
    for note in ctx.notes:
        log.warning("%s: %s", source, note)
    return WspImport(strategy, info, ctx.counts, ctx.notes)
