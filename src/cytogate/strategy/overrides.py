"""Per-sample gate overrides (``cytogate_overrides: 1``): a reviewer's corrections, with who, when and why.

::

    cytogate_overrides: 1
    overrides:
      - sample: S012_W24                                      # the sample name of counts.csv
        population: /Cells/Singlets/Live/Lymphocytes/B cells  # its path in counts.csv
        gate: {rectangle: {CD3: {max: 0.40}, CD19: {min: 0.50}}}   # a gate as in a strategy
        reason: CD19 dim on this tube; gate moved to the valley
        author: jdoe
        date: 2026-12-01

``gate`` is a gate mapping exactly as a strategy's population writes it (one
gate key); dimensions named like the overridden gate's own are read the same
way (its compensation and transform), others with the strategy's defaults.
``gate: template`` pins the strategy's own geometry for that sample: a static
gate as written, a data-driven gate at its ``fallback`` values.

An override replaces one population's gate on one sample: its descendants keep
their gates and are gated again on the changed parent.  Loading checks the
file's shape (errors name ``file:line:column``); :meth:`Overrides.resolve`
checks it against a strategy and the run's samples, so an override naming a
sample or population that does not exist is an error, never ignored.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import CytogateError, StrategyError
from ..gates.specs import GateSpec, QuadrantGate, RectangleGate
from .tree import Strategy
from .yaml_schema import Ctx, LocList, LocMap, Mark, did_you_mean, load_located

__all__ = ["OVERRIDES_VERSION", "TEMPLATE", "Override", "Overrides", "SampleOverrides", "load_overrides",
           "parse_overrides", "template_geometry"]

OVERRIDES_VERSION = 1
TEMPLATE = "template"
_TOP_KEYS = ("cytogate_overrides", "overrides")
_ENTRY_KEYS = ("sample", "population", "gate", "reason", "author", "date")
_REQUIRED = ("sample", "population", "gate", "reason", "author", "date")


@dataclass(frozen=True)
class Override:
    """One correction as written (the gate not yet read against a strategy)."""

    sample: str
    population: str
    gate: Any  # the gate mapping (LocMap) or TEMPLATE
    reason: str
    author: str
    date: str
    mark: Mark | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain form (for the manifest)."""
        return {"sample": self.sample, "population": self.population, "gate": _plain(self.gate),
                "reason": self.reason, "author": self.author, "date": self.date,
                "line": None if self.mark is None else self.mark.line}


@dataclass(frozen=True, eq=False)
class SampleOverrides:
    """The overrides of one sample, read against the strategy: population path -> gate."""

    gates: Mapping[str, GateSpec]
    entries: tuple[Override, ...]
    transforms: Mapping[str, Any] = field(default_factory=dict)

    def key(self) -> list[dict[str, Any]]:
        """What a cached result of this sample depends on (its gates' geometry)."""
        return [{"population": p, "gate": g.to_dict()} for p, g in sorted(self.gates.items())]

    def apply(self, strategy: Strategy) -> Strategy:
        """``strategy`` with these populations' gates replaced."""
        pops = tuple(replace(p, gate=self.gates[p.path]) if p.path in self.gates else p
                     for p in strategy.populations)
        return replace(strategy, populations=pops, transforms={**strategy.transforms, **self.transforms})


@dataclass(frozen=True, eq=False)
class Overrides:
    """A loaded overrides file."""

    entries: tuple[Override, ...]
    source: str
    sha256: str

    def resolve(self, strategy: Strategy, samples: Iterable[str]) -> dict[str, SampleOverrides]:
        """Read every override against ``strategy``; by sample name.

        Raises
        ------
        StrategyError
            A sample or population that does not exist, a population overridden
            twice for one sample, or a gate that is not valid there (with the
            overrides file's line and column).
        """
        from .yaml_format import Builder
        from .yaml_gates import YAML_GATES, parse_population

        known = list(samples)
        names = set(known)
        builder = Builder.for_strategy(strategy)
        before = set(builder.transforms)
        by_sample: dict[str, dict[str, GateSpec]] = {}
        entries: dict[str, list[Override]] = {}
        for entry in self.entries:
            ctx = Ctx(self.source, entry.mark, entry.population)
            if entry.sample not in names:
                ctx.fail(f"override names sample {entry.sample!r}, which is not in this run"
                         f"{did_you_mean(entry.sample, known)}")
            if entry.population not in strategy.by_path:
                ctx.fail(f"override names population {entry.population!r}, which the strategy does not have"
                         f"{did_you_mean(entry.population, strategy.paths)}")
            gates = by_sample.setdefault(entry.sample, {})
            if entry.population in gates:
                ctx.fail(f"population {entry.population!r} of sample {entry.sample!r} is overridden twice")
            template = strategy.by_path[entry.population].gate
            if entry.gate == TEMPLATE:
                try:
                    gates[entry.population] = template_geometry(template)
                except CytogateError as exc:
                    ctx.fail(exc.message)
            else:
                gates[entry.population] = _read_gate(entry, template, ctx, builder, YAML_GATES, parse_population)
            entries.setdefault(entry.sample, []).append(entry)
        new = {t: builder.transforms[t] for t in builder.transforms if t not in before}
        return {s: SampleOverrides(g, tuple(entries[s]), new) for s, g in by_sample.items()}

    def resolve_each(self, strategy_of: Mapping[str, Strategy], *, run: str = "this run"
                     ) -> dict[str, SampleOverrides]:
        """Read every override against its own sample's strategy (a study's panels, a workspace's samples).

        ``strategy_of`` maps each sample of the run to the strategy that gates
        it; samples sharing one strategy object are read together.

        Raises
        ------
        StrategyError
            As :meth:`resolve`; a sample that is not in ``strategy_of`` is named.
        """
        groups: dict[int, tuple[Strategy, list[str]]] = {}
        for sample, strategy in strategy_of.items():
            groups.setdefault(id(strategy), (strategy, []))[1].append(sample)
        group_of = {sample: key for key, (_, samples) in groups.items() for sample in samples}
        by_group: dict[int, list[Override]] = {}
        for entry in self.entries:
            if entry.sample not in group_of:
                Ctx(self.source, entry.mark, entry.population).fail(
                    f"override names sample {entry.sample!r}, which is not in {run}"
                    f"{did_you_mean(entry.sample, list(strategy_of))}")
            by_group.setdefault(group_of[entry.sample], []).append(entry)
        resolved: dict[str, SampleOverrides] = {}
        for key, entries in by_group.items():
            strategy, samples = groups[key]
            resolved.update(replace(self, entries=tuple(entries)).resolve(strategy, samples))
        return resolved

    def manifest_entry(self) -> dict[str, Any]:
        return {"path": self.source, "sha256": self.sha256, "applied": [e.to_dict() for e in self.entries]}


def _read_gate(entry: Override, template: GateSpec, ctx: Ctx, builder: Any, registry: Mapping[str, Any],
               parse_population: Any) -> GateSpec:
    gate_map = entry.gate
    kinds = [k for k in gate_map if k in registry]
    if len(gate_map) != 1 or len(kinds) != 1:
        ctx.at(gate_map.mark).fail(f"an override's gate is one gate key ({', '.join(registry)}) or 'template'")
    kind = kinds[0]
    if kind in ("quadrant", "and", "or", "not"):
        ctx.at(gate_map.mark).fail(f"a {kind} gate cannot override one population; give a rectangle, range, "
                                   f"polygon or ellipse")
    made = parse_population(entry.population.rsplit("/", 1)[-1], gate_map, ctx.at(gate_map.mark), builder,
                            dict(registry))
    gate = made[0].gate
    # dimensions named like the template's are read the same way (compensation, transform)
    by_name = {d.name: d for d in template.dimensions}
    dims = tuple(by_name.get(d.name, d) for d in gate.dimensions)
    if dims != tuple(gate.dimensions):
        gate = _with_dimensions(gate, dims)
    return gate


def _with_dimensions(gate: GateSpec, dims: tuple[Any, ...]) -> GateSpec:
    data = gate.to_dict()
    data["dimensions"] = [d.to_dict() for d in dims]
    from ..gates.registry import gate_from_dict

    return gate_from_dict(data)


def template_geometry(gate: GateSpec) -> GateSpec:
    """The strategy's own geometry of a gate: itself when static, a data-driven gate at its fallbacks.

    Raises
    ------
    StrategyError
        A data-driven gate without a fallback for every fitted value.
    """
    if not gate.needs_fit:
        return gate
    from ..adaptive.specs import AdaptiveDivider, AdaptiveQuadrantGate, AdaptiveRectangleGate, ThresholdRule
    from ..gates.specs import Divider

    def fallback(rule: ThresholdRule) -> float:
        value = dict(rule.options).get("fallback")
        if value is not None and not isinstance(value, (int, float)):
            raise StrategyError(f"'gate: template' cannot pin the data-driven {rule.method} threshold: its "
                                "fallback is itself located on the data; give the gate explicitly")
        if value is None:
            raise StrategyError(f"'gate: template' needs a fallback for the data-driven {rule.method} "
                                f"threshold; give the gate explicitly")
        return float(value)

    if isinstance(gate, AdaptiveRectangleGate):
        mins = tuple(fallback(v) if isinstance(v, ThresholdRule) else v for v in gate.mins)
        maxs = tuple(fallback(v) if isinstance(v, ThresholdRule) else v for v in gate.maxs)
        return RectangleGate(gate.dimensions, mins, maxs)
    if isinstance(gate, AdaptiveQuadrantGate):
        dividers = tuple(Divider(d.id, d.dimension, (fallback(d.rule),)) if isinstance(d, AdaptiveDivider) else d
                         for d in gate.dividers)
        by_id = {d.id: d for d in dividers}
        positions = []
        for ref, index in gate.cells:
            cuts = by_id[ref].values
            positions.append((ref, cuts[0] - max(1.0, abs(cuts[0])) if index == 0 else cuts[index - 1]))
        return QuadrantGate(gate.group, dividers, tuple(positions))
    raise StrategyError(f"a {gate.kind} gate has no template geometry; give the gate explicitly")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return value


def _text(value: Any, ctx: Ctx, what: str) -> str:
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if not isinstance(value, str) or not value.strip():
        ctx.fail(f"{what} must be non-empty text, got {value!r}")
    return value.strip()


def load_overrides(path: str | os.PathLike[str]) -> Overrides:
    """Load and check the shape of an overrides file.

    Raises
    ------
    StrategyError
        Unreadable file, wrong version, unknown or missing keys, bad values
        (``file:line:column``).
    """
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise StrategyError(f"cannot read overrides file: {exc.strerror}", path=source) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StrategyError(f"overrides file is not UTF-8 text (byte {exc.start})", path=source) from None
    return parse_overrides(text, source=source, sha256=hashlib.sha256(raw).hexdigest())


def parse_overrides(text: str, *, source: str, sha256: str | None = None) -> Overrides:
    """An overrides file's text, checked as :func:`load_overrides` checks the file (``sha256`` of the UTF-8 text
    unless given)."""
    if sha256 is None:
        sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    ctx = Ctx(source)
    doc = load_located(text, source=source)
    if not isinstance(doc, LocMap):
        ctx.fail("an overrides file is a mapping starting with 'cytogate_overrides: 1'")
    ctx = ctx.at(doc.mark)
    for key in doc:
        if key not in _TOP_KEYS:
            ctx.at(doc.key_marks[key]).fail(f"unknown key {key!r} in the overrides file{did_you_mean(key, _TOP_KEYS)}")
    version = doc.get("cytogate_overrides")
    if "cytogate_overrides" not in doc:
        ctx.fail("not a cytogate overrides file: the first key must be 'cytogate_overrides: 1'")
    if version != OVERRIDES_VERSION or isinstance(version, bool):
        ctx.at(doc.where("cytogate_overrides")).fail(
            f"unsupported cytogate_overrides version {version!r}; this cytogate reads version {OVERRIDES_VERSION}")
    items = doc.get("overrides")
    if not isinstance(items, LocList):
        ctx.at(doc.where("overrides")).fail("'overrides' must be a list of overrides")
    entries = []
    for i, item in enumerate(items):
        ictx = ctx.at(items.where(i))
        if not isinstance(item, LocMap):
            ictx.fail("each override is a mapping with sample, population, gate, reason, author and date")
        for key in item:
            if key not in _ENTRY_KEYS:
                ictx.at(item.key_marks[key]).fail(f"unknown key {key!r} in an override{did_you_mean(key, _ENTRY_KEYS)}")
        for key in _REQUIRED:
            if key not in item:
                ictx.fail(f"an override needs {key!r} (every change says who, when and why)")
        sample = _text(item["sample"], ictx.at(item.where("sample")), "sample")
        population = _text(item["population"], ictx.at(item.where("population")), "population")
        pctx = Ctx(source, item.mark, population)
        if not population.startswith("/"):
            pctx.at(item.where("population")).fail(f"population {population!r} must be its path from the root "
                                                   f"as in counts.csv (starting with '/')")
        gate = item["gate"]
        if gate != TEMPLATE and not isinstance(gate, LocMap):
            pctx.at(item.where("gate")).fail("gate must be a gate mapping, e.g. {range: {CD19: {min: 0.5}}}, "
                                             "or 'template'")
        date = item["date"]
        dctx = pctx.at(item.where("date"))
        if isinstance(date, str):
            try:
                date = _dt.date.fromisoformat(date.strip())
            except ValueError:
                dctx.fail(f"date {date!r} is not an ISO date (YYYY-MM-DD)")
        if not isinstance(date, (_dt.date, _dt.datetime)):
            dctx.fail(f"date {date!r} is not an ISO date (YYYY-MM-DD)")
        entries.append(Override(sample, population, gate, _text(item["reason"], pctx.at(item.where("reason")), "reason"),
                                _text(item["author"], pctx.at(item.where("author")), "author"), date.isoformat(),
                                item.mark))
    return Overrides(tuple(entries), source, sha256)

