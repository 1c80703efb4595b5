"""Gate kinds of the YAML format: one parser per key, in the registry :data:`YAML_GATES`.

==============  ===========================================================================
key             written as
==============  ===========================================================================
``range``       ``{CD19: {min: 0.45}}`` — one dimension; ``min``/``max`` a number, ``null``
                or a data-driven threshold (``density_valley``, ``tail``, ``quantile``)
``rectangle``   the same with several dimensions (``CD3: {max: 0.4}, CD19: [0.45, null]``)
``polygon``     ``{x: FSC-A, y: SSC-A, vertices: [[x, y], ...]}`` (even-odd fill)
``ellipse``     ``{x, y, mean: [mx, my], covariance: [[..], [..]], distance_square: d}``
``ellipsoid``   ``{dimensions: [...], mean, covariance, distance_square}``
``quadrant``    ``{dividers: {CD4: 0.45, CD8: density_valley}, populations: {CD4+CD8-: CD4 T}}``
``and``/``or``  ``[A, B, {not: C}]`` — other populations (C complemented)
``not``         ``A``
``singlet``     ``{area: FSC-A, height: FSC-H, k: 4, bounds: [lo, hi], fallback: [lo, hi]}``
``gmm``         ``{dimensions: [CD14, CD16], components: 3, select: highest, on: CD14, ...}``
==============  ===========================================================================

A threshold rule is a method name or ``{method: {bounds: [lo, hi], fallback: x, ...}}``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ..adaptive.specs import (
    THRESHOLD_OPTIONS,
    AdaptiveDivider,
    AdaptiveQuadrantGate,
    AdaptiveRectangleGate,
    GmmGate,
    SingletGate,
    ThresholdRule,
)
from ..errors import CytogateError
from ..gates.specs import (
    BooleanGate,
    Divider,
    EllipsoidGate,
    GateSpec,
    PolygonGate,
    QuadrantGate,
    RectangleGate,
)
from .yaml_follow import population_follow
from .yaml_schema import (
    Ctx,
    LocList,
    LocMap,
    ParsedPopulation,
    as_mapping,
    as_number,
    as_sequence,
    as_string,
    check_keys,
    did_you_mean,
    matrix,
    numbers,
)

if TYPE_CHECKING:
    from .yaml_format import Builder

__all__ = ["YAML_GATES", "POPULATION_KEYS", "parse_population", "parse_rule", "quadrant_label"]

POPULATION_KEYS = ("parent", "name", "description", "compensation", "transform", "optional", "follow")

Parsed = list[tuple[str | None, str | None, Any, tuple[tuple[str, Ctx], ...]]]
GateParser = Callable[[Any, Ctx, "Builder", dict[str, Any], str], Parsed]  # spec, ctx, builder, overrides, key


_Built = TypeVar("_Built")


def _gate(make: Callable[[], _Built], ctx: Ctx) -> _Built:
    """Build a gate spec, turning its validation errors into located StrategyErrors."""
    try:
        return make()
    except CytogateError as exc:
        ctx.fail(exc.message)


def parse_rule(value: Any, ctx: Ctx) -> ThresholdRule | None:
    """A :class:`ThresholdRule` when ``value`` names one, else None (a plain number or null)."""
    if isinstance(value, str):
        if value not in THRESHOLD_OPTIONS:
            ctx.fail(f"unknown threshold {value!r}{did_you_mean(value, THRESHOLD_OPTIONS)}; give a number or one "
                     f"of {', '.join(THRESHOLD_OPTIONS)}")
        return _rule(value, (), ctx)
    if isinstance(value, LocMap) and len(value) == 1 and next(iter(value)) in THRESHOLD_OPTIONS:
        (method, opts), = value.items()
        octx = ctx.at(value.where(method))
        if opts is None:
            return _rule(method, (), octx)
        opts = as_mapping(opts, octx, f"options of {method}")
        allowed = ("bounds", "fallback", "min_events", "otherwise", *THRESHOLD_OPTIONS[method][1])
        check_keys(opts, allowed, octx, f"{method} options")
        items = []
        for k, v in opts.items():
            vctx = octx.at(opts.where(k))
            if k in ("bounds", "quantile_bounds"):
                v = _pair(v, vctx, k)
            elif k in ("side", "mode", "above_mode", "below_mode"):
                v = as_string(v, vctx, k)
            elif k == "knee":
                if not isinstance(v, bool):
                    vctx.fail(f"knee must be true or false, got {v!r}")
            elif k == "otherwise" or (k == "fallback" and isinstance(v, (str, LocMap))):
                v = parse_rule(v, vctx)
                if v is None:
                    vctx.fail(f"{k} must be a threshold rule ({', '.join(THRESHOLD_OPTIONS)})")
            else:
                v = as_number(v, vctx, k)
            items.append((k, v))
        return _rule(method, tuple(items), octx)
    if isinstance(value, LocMap):
        ctx.fail(f"a threshold must be a number, null or one of {', '.join(THRESHOLD_OPTIONS)} "
                 f"(optionally {{method: {{options}}}}), got keys {', '.join(value)}")
    return None


def _rule(method: str, options: tuple, ctx: Ctx) -> ThresholdRule:
    try:
        return ThresholdRule(method, options)
    except CytogateError as exc:
        ctx.fail(exc.message)


def _bound(value: Any, ctx: Ctx, what: str) -> float | ThresholdRule | None:
    if value is None:
        return None
    rule = parse_rule(value, ctx)
    return rule if rule is not None else as_number(value, ctx, what)


def _overrides(pop: LocMap, ctx: Ctx, b: Builder) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "compensation" in pop:
        out["compensation"] = b.compensation_ref(pop["compensation"], ctx.at(pop.where("compensation")))
    if "transform" in pop:  # resolved here so errors point at the `transform:` value
        out["transform"] = b.transform_ref(pop["transform"], ctx.at(pop.where("transform")))
    return out


def _dim(b: Builder, value: Any, ctx: Ctx, over: dict[str, Any], **extra: Any) -> Any:
    return b.dimension(value, ctx, compensation=over.get("compensation"),
                       transform=over.get("transform", "default"), **extra)


# -- static geometry -----------------------------------------------------------------


def _rectangle(spec: Any, ctx: Ctx, b: Builder, over: dict[str, Any], key: str = "", *, one: bool = False) -> Parsed:
    what = "range" if one else "rectangle"
    spec = as_mapping(spec, ctx, what)
    if not spec or (one and len(spec) != 1):
        ctx.fail(f"{what} needs {'exactly one dimension' if one else 'at least one dimension'}: "
                 f"{{CD19: {{min: 0.45}}}}")
    dims, mins, maxs = [], [], []
    for name, bounds in spec.items():
        dctx = ctx.at(spec.where(name))
        dim_over = dict(over)
        if isinstance(bounds, LocList):
            if len(bounds) != 2:
                dctx.fail(f"bounds of {name!r} must be [min, max] (null for open)")
            lo, hi = bounds
            lo_ctx, hi_ctx = dctx.at(bounds.where(0)), dctx.at(bounds.where(1))
        else:
            bounds = as_mapping(bounds, dctx, f"bounds of {name!r}")
            check_keys(bounds, ("min", "max", "compensation", "transform", "optional"), dctx, f"bounds of {name!r}")
            if not isinstance(bounds.get("optional", False), bool):
                dctx.at(bounds.where("optional")).fail(f"optional must be true or false, got {bounds['optional']!r}")
            lo, hi = bounds.get("min"), bounds.get("max")
            lo_ctx, hi_ctx = dctx.at(bounds.where("min")), dctx.at(bounds.where("max"))
            if "compensation" in bounds:
                dim_over["compensation"] = b.compensation_ref(bounds["compensation"],
                                                              dctx.at(bounds.where("compensation")))
            if "transform" in bounds:
                dim_over["transform"] = b.transform_ref(bounds["transform"], dctx.at(bounds.where("transform")))
        lo, hi = _bound(lo, lo_ctx, f"min of {name!r}"), _bound(hi, hi_ctx, f"max of {name!r}")
        if lo is None and hi is None:
            dctx.fail(f"{name!r} needs a min or a max")
        if isinstance(lo, float) and isinstance(hi, float) and not lo < hi:
            dctx.fail(f"min {lo} of {name!r} is not below max {hi}")
        dims.append(_dim(b, name, ctx.at(spec.key_marks[name]), dim_over))
        mins.append(lo)
        maxs.append(hi)
    adaptive = any(isinstance(v, ThresholdRule) for v in mins + maxs)
    cls = AdaptiveRectangleGate if adaptive else RectangleGate
    return [(None, None, _gate(lambda: cls(tuple(dims), tuple(mins), tuple(maxs)), ctx), ())]  # type: ignore[arg-type]  # cls takes rules when adaptive


def _range(spec: Any, ctx: Ctx, b: Builder, over: dict[str, Any], key: str = "") -> Parsed:
    return _rectangle(spec, ctx, b, over, one=True)


def _polygon(spec: Any, ctx: Ctx, b: Builder, over: dict[str, Any], key: str = "") -> Parsed:
    spec = as_mapping(spec, ctx, "polygon")
    check_keys(spec, ("x", "y", "vertices"), ctx, "polygon")
    for key in ("x", "y", "vertices"):
        if key not in spec:
            ctx.fail(f"polygon needs {key!r}")
    vctx = ctx.at(spec.where("vertices"))
    verts = matrix(spec["vertices"], vctx, "polygon vertices")
    if len(verts[0]) != 2:
        vctx.fail(f"polygon vertices must be [x, y] pairs, got rows of {len(verts[0])}")
    x = _dim(b, spec["x"], ctx.at(spec.where("x")), over)
    y = _dim(b, spec["y"], ctx.at(spec.where("y")), over)
    return [(None, None, _gate(lambda: PolygonGate((x, y), tuple((float(a), float(b)) for a, b in verts)), vctx), ())]


def _ellipsoid(spec: Any, ctx: Ctx, b: Builder, over: dict[str, Any], key: str = "", *, two: bool = False) -> Parsed:
    what = "ellipse" if two else "ellipsoid"
    spec = as_mapping(spec, ctx, what)
    dim_keys = ("x", "y") if two else ("dimensions",)
    check_keys(spec, (*dim_keys, "mean", "covariance", "distance_square"), ctx, what)
    for key in (*dim_keys, "mean", "covariance", "distance_square"):
        if key not in spec:
            ctx.fail(f"{what} needs {key!r}")
    if two:
        dims = [_dim(b, spec[k], ctx.at(spec.where(k)), over) for k in ("x", "y")]
    else:
        seq = as_sequence(spec["dimensions"], ctx.at(spec.where("dimensions")), "dimensions")
        dims = [_dim(b, v, ctx.at(seq.where(i)), over) for i, v in enumerate(seq)]
    n = len(dims)
    mean = numbers(spec["mean"], ctx.at(spec.where("mean")), "mean", n)
    cov = matrix(spec["covariance"], ctx.at(spec.where("covariance")), "covariance", (n, n))
    # Gating-ML allows any invertible matrix (its compliance set has an asymmetric one)
    if abs(np.linalg.det(np.array(cov))) == 0:
        ctx.at(spec.where("covariance")).fail("covariance matrix is singular")
    d2 = as_number(spec["distance_square"], ctx.at(spec.where("distance_square")), "distance_square")
    return [(None, None, _gate(lambda: EllipsoidGate(tuple(dims), tuple(mean), tuple(map(tuple, cov)), d2), ctx),
             ())]


def _ellipse(spec: Any, ctx: Ctx, b: Builder, over: dict[str, Any], key: str = "") -> Parsed:
    return _ellipsoid(spec, ctx, b, over, two=True)


# -- quadrants -------------------------------------------------------------------------


def quadrant_label(cells: dict[str, int], order: list[str]) -> str:
    """openCyto-style name of a quadrant: ``CD4+CD8-`` (single-cut dividers)."""
    return "".join(f"{d}{'+' if cells[d] else '-'}" for d in order if d in cells)


def _parse_label(label: str, ids: list[str]) -> dict[str, int] | None:
    """``CD4+CD8-`` -> {CD4: 1, CD8: 0} (ids may themselves contain '+'/'-')."""
    by_length = sorted(ids, key=len, reverse=True)

    def walk(i: int, seen: dict[str, int]) -> dict[str, int] | None:
        if i == len(label):
            return seen
        for d in by_length:
            if d not in seen and label.startswith(d, i) and i + len(d) < len(label) and label[i + len(d)] in "+-":
                found = walk(i + len(d) + 1, {**seen, d: int(label[i + len(d)] == "+")})
                if found is not None:
                    return found
        return None

    return walk(0, {})


def _quadrant(spec: Any, ctx: Ctx, b: Builder, over: dict[str, Any], group: str) -> Parsed:
    spec = as_mapping(spec, ctx, "quadrant")
    check_keys(spec, ("dividers", "populations"), ctx, "quadrant")
    if "dividers" not in spec:
        ctx.fail("quadrant needs 'dividers', e.g. {CD4: 0.45, CD8: density_valley}")
    dctx = ctx.at(spec.where("dividers"))
    raw = as_mapping(spec["dividers"], dctx, "dividers")
    if not raw:
        dctx.fail("quadrant needs at least one divider")
    dividers: list[Divider | AdaptiveDivider] = []
    cuts: dict[str, int] = {}
    for did, value in raw.items():
        vctx = dctx.at(raw.where(did))
        dim_name: Any = did
        dim_over = dict(over)
        if isinstance(value, LocMap) and not (len(value) == 1 and next(iter(value)) in THRESHOLD_OPTIONS):
            check_keys(value, ("dimension", "values", "compensation", "transform"), vctx, f"divider {did!r}")
            dim_name = value.get("dimension", did)
            if "compensation" in value:
                dim_over["compensation"] = b.compensation_ref(value["compensation"],
                                                              vctx.at(value.where("compensation")))
            if "transform" in value:
                dim_over["transform"] = b.transform_ref(value["transform"], vctx.at(value.where("transform")))
            if "values" not in value:
                vctx.fail(f"divider {did!r} needs 'values'")
            value, vctx = value["values"], vctx.at(value.where("values"))
        dim = _dim(b, dim_name, vctx, dim_over)
        rule = parse_rule(value, vctx) if not isinstance(value, LocList) else None
        if rule is not None:
            dividers.append(AdaptiveDivider(did, dim, rule))
            cuts[did] = 1
            continue
        vals = numbers(value, vctx, f"values of divider {did!r}") if isinstance(value, LocList) else \
            [as_number(value, vctx, f"divider {did!r}")]
        if not vals or len(set(vals)) != len(vals):
            vctx.fail(f"divider {did!r} needs distinct cut values")
        dividers.append(_gate(lambda: Divider(did, dim, tuple(vals)), vctx))
        cuts[did] = len(vals)
    ids = list(raw)
    wanted: list[tuple[str, dict[str, int], Ctx]] = []
    if "populations" in spec:
        pctx = ctx.at(spec.where("populations"))
        table = as_mapping(spec["populations"], pctx, "quadrant populations")
        for label, target in table.items():
            tctx = pctx.at(table.where(label))
            if isinstance(target, LocMap):  # general form: key -> {divider: cell index}
                check_keys(target, ids, tctx, f"cells of {label!r}")
                cells: dict[str, int] = {}
                for d, index in target.items():
                    if isinstance(index, str) and index in "+-" and len(index) == 1:
                        index = int(index == "+")
                    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= cuts[d]:
                        tctx.at(target.where(d)).fail(f"cell of divider {d!r} must be '+', '-' or an index "
                                                      f"0..{cuts[d]}, got {index!r}")
                    cells[d] = index
                if not cells:
                    tctx.fail(f"quadrant population {label!r} names no divider")
                wanted.append((label, cells, tctx))
            else:
                named = _parse_label(label, ids)
                if named is None:
                    pctx.at(table.key_marks[label]).fail(
                        f"quadrant label {label!r} is not made of dividers {', '.join(ids)} each followed by + or -")
                for d in named:
                    if cuts[d] != 1:
                        tctx.fail(f"divider {d!r} has {cuts[d]} cuts; name its cells by index, not +/-")
                wanted.append((as_string(target, tctx, "population id"), named, tctx))
    else:
        if any(n != 1 for n in cuts.values()):
            ctx.fail("quadrant with multi-cut dividers needs 'populations' naming each cell")
        for signs in itertools.product((1, 0), repeat=len(ids)):
            cells = dict(zip(ids, signs))
            wanted.append((quadrant_label(cells, ids), cells, ctx))
    adaptive = any(isinstance(d, AdaptiveDivider) for d in dividers)
    out: Parsed = []
    for key, cells, qctx in wanted:
        gate: GateSpec
        if adaptive:
            gate = _gate(lambda: AdaptiveQuadrantGate(group, tuple(dividers), tuple(cells.items())), qctx)
        else:
            by_id = {d.id: d for d in dividers if isinstance(d, Divider)}  # all of them: none is adaptive
            positions = []
            for d, index in cells.items():
                values = by_id[d].values
                positions.append((d, values[0] - max(1.0, abs(values[0])) if index == 0 else values[index - 1]))
            gate = _gate(lambda: QuadrantGate(group, tuple(by_id.values()), tuple(positions)), qctx)
        out.append((key, key, gate, ()))
    return out


# -- booleans --------------------------------------------------------------------------


def _boolean(op: str) -> GateParser:
    def parse(spec: Any, ctx: Ctx, b: Builder, over: dict[str, Any], key: str = "") -> Parsed:
        items = [spec] if op == "not" else list(as_sequence(spec, ctx, f"operands of {op!r}"))
        if op != "not" and len(items) < 2:
            ctx.fail(f"{op!r} needs at least two populations")
        operands: list[tuple[str, bool]] = []
        refs = []
        for i, item in enumerate(items):
            ictx = ctx.at(spec.where(i)) if isinstance(spec, LocList) else ctx
            complement = False
            if isinstance(item, LocMap):
                check_keys(item, ("not",), ictx, "boolean operand")
                item, complement = item["not"], True
            ref = as_string(item, ictx, "population")
            operands.append((ref, complement))
            refs.append((ref, ictx))

        def build(paths: dict[str, str]) -> GateSpec:
            return _gate(lambda: BooleanGate(op, tuple((paths[r], c) for r, c in operands)), ctx)

        return [(None, None, build, tuple(refs))]

    return parse


# -- data-driven -----------------------------------------------------------------------


def _pair(value: Any, ctx: Ctx, what: str) -> tuple[float, float]:
    lo, hi = numbers(value, ctx, what, 2)
    if not lo < hi:
        ctx.fail(f"{what} must be [low, high] with low < high")
    return (lo, hi)


def _singlet(spec: Any, ctx: Ctx, b: Builder, over: dict[str, Any], key: str = "") -> Parsed:
    spec = as_mapping(spec if spec is not None else LocMap(), ctx, "singlet")
    if not hasattr(spec, "mark"):
        spec.mark, spec.key_marks, spec.value_marks = ctx.mark, {}, {}
    check_keys(spec, ("area", "height", "k", "bounds", "fallback"), ctx, "singlet")
    area = b.dimension(spec.get("area", "FSC-A"), ctx.at(spec.where("area")), linear=True)
    height = b.dimension(spec.get("height", "FSC-H"), ctx.at(spec.where("height")), linear=True)
    k = as_number(spec.get("k", 4.0), ctx.at(spec.where("k")), "k")
    bounds = _pair(spec["bounds"], ctx.at(spec.where("bounds")), "bounds") if "bounds" in spec else None
    fallback = _pair(spec["fallback"], ctx.at(spec.where("fallback")), "fallback") if "fallback" in spec else None
    return [(None, None, _gate(lambda: SingletGate((area, height), k, bounds, fallback), ctx), ())]


def _gmm(spec: Any, ctx: Ctx, b: Builder, over: dict[str, Any], key: str = "") -> Parsed:
    spec = as_mapping(spec, ctx, "gmm")
    check_keys(spec, ("dimensions", "components", "select", "on", "coverage", "bounds", "fallback"), ctx, "gmm")
    if "dimensions" not in spec:
        ctx.fail("gmm needs 'dimensions' (at least two)")
    seq = as_sequence(spec["dimensions"], ctx.at(spec.where("dimensions")), "dimensions")
    dims = [_dim(b, v, ctx.at(seq.where(i)), over) for i, v in enumerate(seq)]
    components = spec.get("components", 2)
    if isinstance(components, bool) or not isinstance(components, int) or components < 1:
        ctx.at(spec.where("components")).fail(f"components must be a positive integer, got {components!r}")
    bounds = []
    if "bounds" in spec:
        bctx = ctx.at(spec.where("bounds"))
        table = as_mapping(spec["bounds"], bctx, "bounds")
        for k, v in table.items():
            bounds.append((k, _pair(v, bctx.at(table.where(k)), f"bounds of {k!r}")))
    mean = cov = None
    if "fallback" in spec:
        fctx = ctx.at(spec.where("fallback"))
        fb = as_mapping(spec["fallback"], fctx, "fallback")
        check_keys(fb, ("mean", "covariance"), fctx, "gmm fallback")
        if "mean" not in fb or "covariance" not in fb:
            fctx.fail("gmm fallback needs 'mean' and 'covariance'")
        mean = tuple(numbers(fb["mean"], fctx.at(fb.where("mean")), "fallback mean", len(dims)))
        cov = tuple(map(tuple, matrix(fb["covariance"], fctx.at(fb.where("covariance")), "fallback covariance",
                                      (len(dims), len(dims)))))
    select = as_string(spec.get("select", "highest"), ctx.at(spec.where("select")), "select")
    on = as_string(spec["on"], ctx.at(spec.where("on")), "on") if "on" in spec else None
    coverage = as_number(spec.get("coverage", 0.95), ctx.at(spec.where("coverage")), "coverage")
    return [(None, None, _gate(lambda: GmmGate(tuple(dims), components, select, on, coverage, tuple(bounds),
                                                mean, cov), ctx), ())]


YAML_GATES: dict[str, Any] = {
    "range": _range,
    "rectangle": _rectangle,
    "polygon": _polygon,
    "ellipse": _ellipse,
    "ellipsoid": _ellipsoid,
    "quadrant": _quadrant,
    "and": _boolean("and"),
    "or": _boolean("or"),
    "not": _boolean("not"),
    "singlet": _singlet,
    "gmm": _gmm,
}


def parse_population(key: str, spec: Any, ctx: Ctx, b: Builder, registry: dict[str, Any]) -> list[ParsedPopulation]:
    """The population(s) one ``populations:`` entry defines (a quadrant defines several)."""
    spec = as_mapping(spec, ctx, f"population {key!r}")
    allowed = (*POPULATION_KEYS, *registry)
    check_keys(spec, allowed, ctx, f"population {key!r}")
    kinds = [k for k in spec if k in registry]
    if not kinds:
        ctx.fail(f"population {key!r} has no gate; give one of: {', '.join(registry)}")
    if len(kinds) > 1:
        ctx.at(spec.key_marks[kinds[1]]).fail(f"population {key!r} has several gates ({', '.join(kinds)}); "
                                              f"use one per population")
    kind = kinds[0]
    parent = spec.get("parent")
    parent_ctx = ctx.at(spec.where("parent"))
    if parent is not None:
        parent = as_string(parent, parent_ctx, "parent")
    name = as_string(spec.get("name", key), ctx.at(spec.where("name")), "name")
    if "/" in name:
        ctx.at(spec.where("name")).fail(f"population name {name!r} must not contain '/'")
    if "description" in spec:
        as_string(spec["description"], ctx.at(spec.where("description")), "description")
    over = _overrides(spec, ctx, b)
    gctx = ctx.at(spec.where(kind))
    parser = registry[kind]
    made = parser(spec[kind], gctx, b, over, key)
    if kind == "quadrant" and "name" in spec:
        ctx.at(spec.key_marks["name"]).fail("a quadrant's key names the quadrant group; name its populations "
                                            "under quadrant.populations")
    optional = spec.get("optional", False)
    if not isinstance(optional, bool):
        ctx.at(spec.where("optional")).fail(f"optional must be true or false, got {optional!r}")
    optional_dims = _optional_dimensions(spec[kind], made) if kind in ("range", "rectangle") else ()
    follow = None
    if "follow" in spec:
        fctx = ctx.at(spec.where("follow"))
        follow = (population_follow(spec["follow"], fctx), fctx)
    entries = []
    for sub_key, sub_name, gate, refs in made:
        entries.append(ParsedPopulation(key=sub_key or key, name=sub_name or name, parent=parent, gate=gate,
                              ctx=ctx, parent_ctx=parent_ctx, refs=refs, optional=optional,
                              optional_dimensions=optional_dims, follow=follow))
    return entries


def _optional_dimensions(spec: LocMap, made: Parsed) -> tuple[str, ...]:
    """Labels of the rectangle dimensions written with ``optional: true`` (spec order = gate order)."""
    gate = made[0][2]
    return tuple(dim.label for dim, bounds in zip(gate.dimensions, spec.values())
                 if isinstance(bounds, LocMap) and bounds.get("optional") is True)
