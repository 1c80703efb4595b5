"""Write a :class:`~cytogate.strategy.Strategy` as a ``cytogate_strategy: 1`` YAML document.

Lossless for everything the tree holds: transforms and spectrum matrices by id,
per-dimension compensation and transform, ratio dimensions, every static gate
kind, quadrant groups (with their divider ids and cells), booleans with
complemented operands, and the data-driven kinds.  Reading the text back with
:func:`~cytogate.strategy.yaml_format.load_yaml_strategy` gives a strategy whose
gates are equal to the original's, so counts are identical.

The document states ``compensation: none`` and no default transform, so each
dimension spells out exactly what it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from ..errors import StrategyError
from ..gates.dimensions import FCS, UNCOMPENSATED, AnyDimension, RatioDimension
from .follow_settings import FollowSettings, FollowSpec
from .tree import ROOT, Strategy
from .yaml_format import FORMAT_VERSION, KIND_NAMES

__all__ = ["strategy_to_yaml", "strategy_to_document", "GATE_WRITERS"]


def _transform_doc(kind: str, params: dict[str, float]) -> dict[str, Any]:
    word = KIND_NAMES.get(kind, kind)
    return {word: {(k.upper() if len(k) == 1 else k): _num(v) for k, v in params.items()}}


def _num(value: float) -> float | int:
    value = float(value)
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _dimension(dim: AnyDimension) -> Any:
    name = dim.id if isinstance(dim, RatioDimension) else dim.name
    out: dict[str, Any] = {}
    if dim.compensation != UNCOMPENSATED:
        out["compensation"] = "file" if dim.compensation == FCS else dim.compensation
    if dim.transform is not None:
        out["transform"] = dim.transform
    return {"name": name, **out} if out else name


def _dim_extras(dim: AnyDimension) -> dict[str, Any]:
    d = _dimension(dim)
    return {} if isinstance(d, str) else {k: v for k, v in d.items() if k != "name"}


def _dim_key(dim: AnyDimension) -> str:
    return dim.id if isinstance(dim, RatioDimension) else dim.name


def _bound(value: Any) -> Any:
    if value is None or isinstance(value, (int, float)):
        return None if value is None else _num(value)
    return _rule_yaml(value.to_dict())  # a ThresholdRule


def _rule_yaml(rule: dict[str, Any]) -> Any:
    """A rule's plain dict in the YAML form ``{method: {options}}`` (nested rules too)."""
    method = rule.pop("method")
    body = {k: _rule_yaml(dict(v)) if isinstance(v, dict) and "method" in v else v for k, v in rule.items()}
    return {method: body} if body else method


def _rectangle(gate: Any, keys: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for dim, lo, hi in zip(gate.dimensions, gate.mins, gate.maxs):
        key = _dim_key(dim)
        if key in body:
            raise StrategyError(f"cannot write a rectangle with dimension {key!r} twice in YAML")
        entry: dict[str, Any] = {}
        if lo is not None:
            entry["min"] = _bound(lo)
        if hi is not None:
            entry["max"] = _bound(hi)
        body[key] = {**entry, **_dim_extras(dim)}
    return {"range" if len(body) == 1 else "rectangle": body}


def _polygon(gate: Any, keys: dict[str, str]) -> dict[str, Any]:
    x, y = gate.dimensions
    return {"polygon": {"x": _dimension(x), "y": _dimension(y),
                        "vertices": [[_num(a), _num(b)] for a, b in gate.vertices]}}


def _ellipsoid(gate: Any, keys: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"mean": [_num(v) for v in gate.mean],
                            "covariance": [[_num(v) for v in row] for row in gate.covariance],
                            "distance_square": _num(gate.distance_sq)}
    if len(gate.dimensions) == 2:
        x, y = gate.dimensions
        return {"ellipse": {"x": _dimension(x), "y": _dimension(y), **body}}
    return {"ellipsoid": {"dimensions": [_dimension(d) for d in gate.dimensions], **body}}


def _boolean(gate: Any, keys: dict[str, str]) -> dict[str, Any]:
    operands = [{"not": keys[p]} if comp else keys[p] for p, comp in gate.operands]
    return {gate.op: operands[0] if gate.op == "not" else operands}


def _singlet(gate: Any, keys: dict[str, str]) -> dict[str, Any]:
    area, height = gate.dimensions
    body: dict[str, Any] = {"area": _dimension(area), "height": _dimension(height), "k": _num(gate.k)}
    if gate.bounds is not None:
        body["bounds"] = [_num(v) for v in gate.bounds]
    if gate.fallback is not None:
        body["fallback"] = [_num(v) for v in gate.fallback]
    return {"singlet": body}


def _gmm(gate: Any, keys: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"dimensions": [_dimension(d) for d in gate.dimensions],
                            "components": gate.components, "select": gate.select}
    if gate.on is not None:
        body["on"] = gate.on
    body["coverage"] = _num(gate.coverage)
    if gate.bounds:
        body["bounds"] = {k: [_num(v) for v in b] for k, b in gate.bounds}
    if gate.fallback_mean is not None:
        body["fallback"] = {"mean": [_num(v) for v in gate.fallback_mean],
                            "covariance": [[_num(v) for v in r] for r in gate.fallback_covariance]}
    return {"gmm": body}


# gate kind -> writer of the YAML gate mapping (quadrants are grouped separately)
GATE_WRITERS: dict[str, Callable[[Any, dict[str, str]], dict[str, Any]]] = {
    "rectangle": _rectangle,
    "adaptive_rectangle": _rectangle,
    "polygon": _polygon,
    "ellipsoid": _ellipsoid,
    "boolean": _boolean,
    "singlet": _singlet,
    "gmm": _gmm,
}
QUADRANT_KINDS = ("quadrant", "adaptive_quadrant")


def _cell_index(values: tuple[float, ...], location: float) -> int:
    return sum(1 for v in values if v <= location)


def _group(gate: Any) -> str:
    """The quadrant group of a quadrant-kind gate (QUADRANT_KINDS all carry one)."""
    return str(gate.group)


def _quadrant_group(gates: list[tuple[str, Any]]) -> dict[str, Any]:
    """One ``quadrant:`` mapping from the quadrants (key, gate) of one group (static or adaptive quadrants)."""
    first = gates[0][1]
    dividers: dict[str, Any] = {}
    for d in first.dividers:
        extras = _dim_extras(d.dimension)
        if hasattr(d, "rule"):
            values: Any = _bound(d.rule)
        else:
            values = [_num(v) for v in d.values]
        entry = {"dimension": _dim_key(d.dimension), "values": values, **extras}
        dividers[d.id] = entry
    populations: dict[str, Any] = {}
    for key, gate in gates:
        if gate.kind == "adaptive_quadrant":
            cells = dict(gate.cells)
        else:
            by_id = {d.id: d for d in gate.dividers}
            cells = {ref: _cell_index(by_id[ref].values, loc) for ref, loc in gate.positions}
        populations[key] = cells
    return {"quadrant": {"dividers": dividers, "populations": populations}}


def _unique_keys(strategy: Strategy) -> dict[str, str]:
    """A YAML key per population path: the name, made unique with its parent's name when needed."""
    names: dict[str, int] = {}
    for p in strategy.populations:
        names[p.name] = names.get(p.name, 0) + 1
    keys: dict[str, str] = {}
    used: set[str] = set()
    groups = {_group(p.gate) for p in strategy.populations if p.gate.kind in QUADRANT_KINDS}
    for p in strategy.populations:
        key = p.name
        if names[p.name] > 1 or key in groups:
            parent_name = "root" if p.parent == ROOT else p.parent.rsplit("/", 1)[-1]
            key = f"{p.name} in {parent_name}"
        base, n = key, 2
        while key in used or key in groups:
            key, n = f"{base} #{n}", n + 1
        used.add(key)
        keys[p.path] = key
    return keys


def strategy_to_document(strategy: Strategy, *, name: str | None = None) -> dict[str, Any]:
    """The plain-data YAML document of a strategy."""
    doc: dict[str, Any] = {"cytogate_strategy": FORMAT_VERSION}
    if name:
        doc["name"] = name
    doc["compensation"] = "none"
    if strategy.aliases:
        groups = {g[0]: list(g[1:]) for g in strategy.aliases.values()}
        doc["markers"] = {k: v for k, v in groups.items() if v}
    if strategy.matrices:
        doc["spillover"] = {
            m.id: {"fluorochromes": list(m.fluorochromes), "detectors": list(m.detectors),
                   "matrix": [[_num(v) for v in row] for row in m.matrix.tolist()],
                   **({"inverted_already": True} if m.inverted_already else {})}
            for m in strategy.matrices.values()
        }
    ratios = {}
    for _, dim in strategy.dimensions():
        if isinstance(dim, RatioDimension):
            ratios[dim.id] = {"numerator": dim.numerator, "denominator": dim.denominator,
                              "A": _num(dim.a), "B": _num(dim.b), "C": _num(dim.c)}
    if ratios:
        doc["ratios"] = ratios
    if strategy.transforms:
        doc["transforms"] = {t.id: _transform_doc(t.kind, t.param_dict) for t in strategy.transforms.values()}
    follow = strategy.follow
    if follow is not None:
        top = {**({"reference": follow.reference} if follow.reference is not None else {}),
               **follow.differences(follow.settings, FollowSettings())}
        doc["follow"] = top
    keys = _unique_keys(strategy)
    pops: dict[str, Any] = {}
    grouped: dict[tuple[str, str], list[tuple[str, Any]]] = {}
    for p in strategy.populations:
        if p.gate.kind in QUADRANT_KINDS:
            grouped.setdefault((_group(p.gate), p.parent), []).append((keys[p.path], p.gate))
    written_groups: set[tuple[str, str]] = set()
    for p in strategy.populations:
        parent = {} if p.parent == ROOT else {"parent": keys[p.parent]}
        if p.gate.kind in QUADRANT_KINDS:
            group = (_group(p.gate), p.parent)
            if group in written_groups:
                continue
            written_groups.add(group)
            gkey = _group(p.gate) if _group(p.gate) not in pops else f"{_group(p.gate)} in {p.parent.rsplit('/', 1)[-1]}"
            pops[gkey] = {**parent, **_quadrant_group(grouped[group]), **_follow_entry(follow, p.path)}
            continue
        writer = GATE_WRITERS.get(p.gate.kind)
        if writer is None:
            raise StrategyError(f"gate kind {p.gate.kind!r} has no YAML form", population=p.path)
        entry: dict[str, Any] = dict(parent)
        if keys[p.path] != p.name:
            entry["name"] = p.name
        entry.update(writer(p.gate, keys))
        entry.update(_follow_entry(follow, p.path))
        pops[keys[p.path]] = entry
    doc["populations"] = pops
    return doc


def _follow_entry(follow: FollowSpec | None, path: str) -> dict[str, Any]:
    """A population's ``follow:`` key: false when pinned, its own settings, or nothing."""
    if follow is None or path not in follow.populations:
        return {}
    own = follow.populations[path]
    return {"follow": False if own is None else follow.differences(own)}


class _Dumper(yaml.SafeDumper):
    """Block style for structure, flow style for short lists of numbers."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> Any:
    # a list of scalars on one line; a list of rows (vertices, matrices) one row per line
    flat = all(isinstance(v, (int, float, str)) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


def _represent_dict(dumper: yaml.SafeDumper, data: dict[str, Any]) -> Any:
    flat = len(data) <= 4 and all(v is None or isinstance(v, (int, float, str)) for v in data.values())
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=flat and bool(data))


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(dict, _represent_dict)


def strategy_to_yaml(strategy: Strategy, *, name: str | None = None, header: str | None = None) -> str:
    """YAML text of a strategy (``cytogate_strategy: 1``).

    Parameters
    ----------
    strategy : Strategy
    name : str, optional
        Written as the document's ``name``.
    header : str, optional
        A comment placed on the first lines (e.g. where it was converted from).
    """
    text = yaml.dump(strategy_to_document(strategy, name=name), Dumper=_Dumper, sort_keys=False,
                     allow_unicode=True, width=100)
    if header:
        text = "".join(f"# {line}\n" for line in header.splitlines()) + text
    return text
