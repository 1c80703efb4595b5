"""cytogate's YAML strategy format (``cytogate_strategy: 1``): load and validate.

A strategy reads top to bottom like a gating diagram::

    cytogate_strategy: 1
    name: B cells
    markers: {CD268: [CD268, BAFF-R, BAFFR]}     # aliases, or `panel: panel.yaml`
    compensation: file                           # $SPILLOVER / SPILL of each file
    transform: {logicle: {T: 262144, W: 0.5, M: 4.5, A: 0}}   # default for markers
    populations:
      Cells:    {polygon: {x: FSC-A, y: SSC-A, vertices: [[3e4, 5e3], [1.6e5, 5e3], [1.6e5, 9e4]]}}
      Singlets: {parent: Cells, singlet: {area: FSC-A, height: FSC-H}}
      B cells:  {parent: Singlets, rectangle: {CD3: {max: 0.4}, CD19: {min: density_valley}}}

Population keys are ids (unique in the file); ``name:`` may give a different
display name (paths are built from names).  Each population has exactly one gate
key; the gate kinds are the registry :data:`YAML_GATES` (see
:mod:`cytogate.strategy.yaml_gates`).  Defaults (``compensation``,
``transform``, ``scatter_transform``, ``marker_transforms``) apply to every gate
dimension and can be overridden per gate or per dimension.

Errors are :class:`~cytogate.errors.StrategyError` with ``file:line:column`` and
the population path; nothing in the file is executed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..compensation.files import spillover_from_file
from ..errors import CytogateError
from ..gates.dimensions import FCS, UNCOMPENSATED, AnyDimension, Dimension, RatioDimension
from ..qc import QcSpec
from . import panels
from .tree import ROOT, Population, SpectrumMatrix, Strategy, TransformSpec, join_path
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
    load_located,
    matrix,
)
from .yaml_follow import follow_spec
from .yaml_gates import YAML_GATES, parse_population

__all__ = ["FORMAT_VERSION", "TOP_KEYS", "TRANSFORM_KINDS", "load_yaml_strategy", "Builder", "is_scatter"]

FORMAT_VERSION = 1

# (strategy text, source) -> its located document, as Builder.for_strategy reads it (only read, never changed)
_LOCATED: dict[tuple[str, str], Any] = {}

def _remember_located(text: str, src: str, doc: Any) -> Any:
    if len(_LOCATED) >= 8:
        _LOCATED.pop(next(iter(_LOCATED)))
    _LOCATED[(text, src)] = doc
    return doc


TOP_KEYS = (
    "cytogate_strategy", "name", "description", "references", "panel", "markers", "compensation",
    "spillover", "transforms", "transform", "scatter_transform", "marker_transforms", "ratios", "qc",
    "follow", "overrides", "populations",
)

# YAML transform names -> cytogate.transforms kinds (the kinds themselves are accepted too)
TRANSFORM_KINDS = {
    "linear": "flin", "flin": "flin", "log": "flog", "flog": "flog", "asinh": "fasinh", "fasinh": "fasinh",
    "logicle": "logicle", "hyperlog": "hyperlog", "biex": "flowjo_biex", "flowjo_biex": "flowjo_biex",
    "flowjo_log": "flowjo_log",
}
# Friendly name a kind is written back as.
KIND_NAMES = {"flin": "linear", "flog": "log", "fasinh": "asinh", "logicle": "logicle", "hyperlog": "hyperlog",
              "flowjo_biex": "biex", "flowjo_log": "flowjo_log"}
_IDENTITY = ("none", "scale", "linear")
_MATRIX_FILE = re.compile(r"\.(csv|tsv|txt|mtx|comp|compmatrix)$", re.IGNORECASE)
_COMPENSATION_WORDS = {"file": FCS, "fcs": FCS, "none": UNCOMPENSATED, "uncompensated": UNCOMPENSATED}
_SCATTER = re.compile(r"^(fsc|ssc|fs|ss)([-_ ]?[ahw]|[-_ ]?(int|lin|log|peak|area|height|width))?$|^time$",
                      re.IGNORECASE)


def is_scatter(name: str) -> bool:
    """True for scatter and time channel names (FSC-A, SSC-H, FS INT, Time), which get scatter defaults."""
    return bool(_SCATTER.match(name.strip()))


@dataclass
class Builder:
    """State shared while translating one YAML document into a :class:`Strategy`."""

    source: str
    base_dir: Path
    compensation: str = FCS
    transform: str | None = None
    scatter_transform: str | None = None
    marker_transforms: dict[str, str | None] = field(default_factory=dict)
    transforms: dict[str, TransformSpec] = field(default_factory=dict)
    matrices: dict[str, SpectrumMatrix] = field(default_factory=dict)
    ratios: dict[str, LocMap] = field(default_factory=dict)
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _inline: dict[tuple[str, tuple[tuple[str, float], ...]], str] = field(default_factory=dict)

    @classmethod
    def for_strategy(cls, strategy: Strategy) -> Builder:
        """A builder that reads gates as ``strategy``'s own: its defaults, transforms and matrices.

        Used for gates written outside the strategy (per-sample overrides).  A YAML
        strategy's top-level defaults are read again from its text; other formats
        have none (dimensions are then uncompensated and untransformed unless said).
        """
        src = strategy.source or "<strategy>"
        b = cls(source=src, base_dir=Path(src).resolve().parent if strategy.source else Path.cwd(),
                compensation=UNCOMPENSATED)
        if strategy.format == "yaml" and strategy.source_text:
            b.compensation = FCS
            doc = _LOCATED.get((strategy.source_text, src))  # read when the strategy was loaded
            if doc is None:
                doc = _remember_located(strategy.source_text, src, load_located(strategy.source_text, source=src))
            if isinstance(doc, LocMap):
                _defaults(doc, b, Ctx(src).at(doc.mark))
        b.transforms.update(strategy.transforms)
        b.matrices.update(strategy.matrices)
        for tid, spec in strategy.transforms.items():
            b._inline.setdefault((spec.kind, spec.params), tid)
        return b

    # -- transforms ------------------------------------------------------------------
    def _make_transform(self, tid: str, spec: Any, ctx: Ctx) -> TransformSpec:
        spec = as_mapping(spec, ctx, f"transform {tid!r}")
        if len(spec) != 1:
            ctx.fail(f"transform {tid!r} must have one kind ({', '.join(sorted(TRANSFORM_KINDS))}) "
                     f"with its parameters, e.g. {{logicle: {{T: 262144, W: 0.5, M: 4.5, A: 0}}}}")
        (word, params), = spec.items()
        kind = TRANSFORM_KINDS.get(str(word).lower())
        if kind is None:
            ctx.at(spec.key_marks[word]).fail(f"unknown transform kind {word!r}"
                                              f"{did_you_mean(word, TRANSFORM_KINDS)}")
        pctx = ctx.at(spec.where(word))
        params = as_mapping(params, pctx, f"parameters of {word}")
        values = tuple((str(k).lower(), as_number(v, pctx.at(params.where(k)), f"{word} parameter {k}"))
                       for k, v in params.items())
        made = TransformSpec(tid, kind, values)
        try:
            made.build()
        except CytogateError as exc:
            pctx.fail(f"invalid {word} transform: {exc.message}")
        except TypeError as exc:
            pctx.fail(f"invalid parameters for {word} transform: {exc}")
        return made

    def define_transforms(self, data: Any, ctx: Ctx) -> None:
        for tid, spec in as_mapping(data, ctx, "transforms").items():
            if tid.lower() in _IDENTITY:
                ctx.at(data.key_marks[tid]).fail(f"{tid!r} is reserved (it means no transform)")
            self.transforms[tid] = self._make_transform(tid, spec, ctx.at(data.where(tid)))

    def transform_ref(self, value: Any, ctx: Ctx) -> str | None:
        """Id of the transform ``value`` denotes (a name, ``none``, or an inline spec); None = scale values."""
        if value is None:
            return None
        if isinstance(value, str):
            if value.lower() in _IDENTITY:
                return None
            if value in self.transforms:
                return value
            hint = did_you_mean(value, self.transforms)
            if value.lower() in TRANSFORM_KINDS:
                ctx.fail(f"transform {value!r} needs parameters, e.g. {{{value}: {{...}}}}, or define it under "
                         f"'transforms:'")
            ctx.fail(f"unknown transform {value!r}{hint}; defined: {', '.join(self.transforms) or 'none'}")
        made = self._make_transform("inline", value, ctx)
        key = (made.kind, made.params)
        if key not in self._inline:
            n = 1 + sum(1 for k in self._inline if k[0] == made.kind)
            tid = f"{KIND_NAMES.get(made.kind, made.kind)}_{n}"
            while tid in self.transforms:
                n += 1
                tid = f"{KIND_NAMES.get(made.kind, made.kind)}_{n}"
            self._inline[key] = tid
            self.transforms[tid] = TransformSpec(tid, made.kind, made.params)
        return self._inline[key]

    # -- compensation ----------------------------------------------------------------
    def define_matrices(self, data: Any, ctx: Ctx) -> None:
        for mid, spec in as_mapping(data, ctx, "spillover").items():
            mctx = ctx.at(data.where(mid))
            spec = as_mapping(spec, mctx, f"spillover matrix {mid!r}")
            check_keys(spec, ("channels", "fluorochromes", "detectors", "matrix", "inverted_already"), mctx,
                       f"spillover matrix {mid!r}")
            if "channels" in spec:
                detectors = fluor = [as_string(c, mctx, "channel") for c in as_sequence(spec["channels"], mctx,
                                                                                    "channels")]
            else:
                if "detectors" not in spec:
                    mctx.fail(f"spillover matrix {mid!r} needs 'channels' (square) or 'fluorochromes' and "
                              f"'detectors'")
                detectors = [as_string(c, mctx, "detector") for c in as_sequence(spec["detectors"], mctx, "detectors")]
                fluor = [as_string(c, mctx, "fluorochrome")
                         for c in as_sequence(spec.get("fluorochromes", LocList(detectors)), mctx, "fluorochromes")]
            if "matrix" not in spec:
                mctx.fail(f"spillover matrix {mid!r} has no 'matrix'")
            rows = matrix(spec["matrix"], mctx.at(spec.where("matrix")), f"matrix of {mid!r}",
                          (len(fluor), len(detectors)))
            try:
                self.matrices[mid] = SpectrumMatrix(mid, tuple(fluor), tuple(detectors), np.array(rows),
                                                    bool(spec.get("inverted_already", False)))
            except CytogateError as exc:
                mctx.fail(exc.message)

    def compensation_ref(self, value: Any, ctx: Ctx) -> str:
        text = as_string(value, ctx, "compensation")
        if text.lower() in _COMPENSATION_WORDS:
            return _COMPENSATION_WORDS[text.lower()]
        if text in self.matrices:
            return text
        if _MATRIX_FILE.search(text) or "/" in text or "\\" in text:
            return self.matrix_file(text, ctx)
        choices = ["file", "none", *self.matrices]
        ctx.fail(f"unknown compensation {text!r}{did_you_mean(text, choices)}; use one of {', '.join(choices)} "
                 f"or the path of a CSV/TSV spillover matrix")

    def matrix_file(self, text: str, ctx: Ctx) -> str:
        """Id of the square spillover matrix read from ``text`` (a path relative to the strategy)."""
        path = Path(text)
        path = path if path.is_absolute() else self.base_dir / path
        try:
            spill = spillover_from_file(path)
        except CytogateError as exc:
            ctx.fail(f"compensation matrix {text!r}: {exc.message}")
        mid = text
        if mid not in self.matrices:
            self.matrices[mid] = SpectrumMatrix(mid, spill.channels, spill.channels, spill.matrix)
        return mid

    # -- dimensions ------------------------------------------------------------------
    def dimension(self, value: Any, ctx: Ctx, *, compensation: str | None = None, transform: Any = "default",
                  linear: bool = False) -> AnyDimension:
        """A gate dimension from a name or ``{name, compensation, transform}``.

        ``compensation`` / ``transform`` are the gate-level overrides; ``linear``
        makes the default "no transform, uncompensated" (singlet pulses).
        """
        if isinstance(value, LocMap):
            check_keys(value, ("name", "compensation", "transform"), ctx, "dimension")
            if "name" not in value:
                ctx.fail("a dimension mapping needs 'name'")
            name = as_string(value["name"], ctx.at(value.where("name")), "dimension name")
            if "compensation" in value:
                compensation = self.compensation_ref(value["compensation"], ctx.at(value.where("compensation")))
            if "transform" in value:
                transform = value["transform"]
                ctx = ctx.at(value.where("transform"))
        else:
            name = as_string(value, ctx, "dimension name")
        if transform == "default":
            if linear:
                tid = None
            elif name in self.marker_transforms:
                tid = self.marker_transforms[name]
            else:
                tid = self.scatter_transform if is_scatter(name) else self.transform
        else:
            tid = self.transform_ref(transform, ctx)
        if compensation is None:
            compensation = UNCOMPENSATED if (linear or is_scatter(name)) else self.compensation
        if name in self.ratios:
            spec = self.ratios[name]
            return RatioDimension(name, spec["numerator"], spec["denominator"], spec.get("A", 1.0),
                                  spec.get("B", 0.0), spec.get("C", 0.0), compensation, tid)
        return Dimension(name, compensation, tid)

    def define_ratios(self, data: Any, ctx: Ctx) -> None:
        for rid, spec in as_mapping(data, ctx, "ratios").items():
            rctx = ctx.at(data.where(rid))
            spec = as_mapping(spec, rctx, f"ratio {rid!r}")
            check_keys(spec, ("numerator", "denominator", "A", "B", "C"), rctx, f"ratio {rid!r}")
            for key in ("numerator", "denominator"):
                if key not in spec:
                    rctx.fail(f"ratio {rid!r} needs {key!r}")
                as_string(spec[key], rctx.at(spec.where(key)), key)
            for key in ("A", "B", "C"):
                if key in spec:
                    as_number(spec[key], rctx.at(spec.where(key)), f"ratio {rid!r} {key}")
            self.ratios[rid] = spec


def _defaults(doc: LocMap, b: Builder, ctx: Ctx) -> None:
    if "spillover" in doc:
        b.define_matrices(doc["spillover"], ctx.at(doc.where("spillover")))
    if "compensation" in doc:
        b.compensation = b.compensation_ref(doc["compensation"], ctx.at(doc.where("compensation")))
    if "ratios" in doc:
        b.define_ratios(doc["ratios"], ctx.at(doc.where("ratios")))
    if "transforms" in doc:
        b.define_transforms(doc["transforms"], ctx.at(doc.where("transforms")))
    if "transform" in doc:
        b.transform = b.transform_ref(doc["transform"], ctx.at(doc.where("transform")))
    if "scatter_transform" in doc:
        b.scatter_transform = b.transform_ref(doc["scatter_transform"], ctx.at(doc.where("scatter_transform")))
    if "marker_transforms" in doc:
        table = as_mapping(doc["marker_transforms"], ctx.at(doc.where("marker_transforms")), "marker_transforms")
        for name, spec in table.items():
            b.marker_transforms[name] = b.transform_ref(spec, ctx.at(table.where(name)))


def _aliases(doc: LocMap, b: Builder, ctx: Ctx) -> None:
    if "panel" in doc:
        refs = doc["panel"]
        pctx = ctx.at(doc.where("panel"))
        for ref in (refs if isinstance(refs, LocList) else [refs]):
            if ref == "standard":  # the built-in table of common synonyms
                panels.merge(b.aliases, panels.STANDARD_ALIASES, where="standard panel")
                continue
            path = Path(as_string(ref, pctx, "panel"))
            path = path if path.is_absolute() else b.base_dir / path
            if not path.is_file():
                pctx.fail(f"panel file {str(path)!r} not found")
            panels.merge(b.aliases, panels.load_panel(path), where=str(path))
    if "markers" in doc:
        mctx = ctx.at(doc.where("markers"))
        table = panels.parse_alias_table(as_mapping(doc["markers"], mctx, "markers"), mctx)
        panels.merge(b.aliases, table, where=ctx.source)


def load_yaml_strategy(text: str, *, source: str | os.PathLike[str] | None = None) -> Strategy:
    """Load and validate a ``cytogate_strategy: 1`` YAML document.

    Parameters
    ----------
    text : str
        The YAML text.
    source : str or path-like, optional
        Its file (for messages and to find ``panel:`` files relative to it).

    Returns
    -------
    Strategy
        ``format="yaml"``; the marker alias groups in ``strategy.aliases`` (every name -> its group).

    Raises
    ------
    StrategyError
        Any problem, with ``file:line:column`` and the population path.
    """
    src = "<string>" if source is None else str(source)
    ctx = Ctx(src)
    doc = load_located(text, source=src)
    doc = as_mapping(doc, ctx, "a strategy file")
    _remember_located(text, src, doc)
    ctx = ctx.at(doc.mark)
    check_keys(doc, TOP_KEYS, ctx, "the strategy")
    if "cytogate_strategy" not in doc:
        ctx.fail("not a cytogate strategy: the first key must be 'cytogate_strategy: 1'")
    version = doc["cytogate_strategy"]
    if version != FORMAT_VERSION or isinstance(version, bool):
        ctx.at(doc.where("cytogate_strategy")).fail(
            f"unsupported cytogate_strategy version {version!r}; this cytogate reads version {FORMAT_VERSION}")
    base_dir = Path(src).resolve().parent if source is not None else Path.cwd()
    b = Builder(source=src, base_dir=base_dir)
    _defaults(doc, b, ctx)
    _aliases(doc, b, ctx)
    if "populations" not in doc:
        ctx.fail("the strategy has no 'populations'")
    pops = as_mapping(doc["populations"], ctx.at(doc.where("populations")), "populations")
    if not pops:
        ctx.at(pops.mark).fail("'populations' is empty")
    entries: dict[str, ParsedPopulation] = {}
    tentative = _tentative_paths(pops)
    for key, spec in pops.items():
        pctx = ctx.at(pops.key_marks[key]).inside(tentative[key])
        for entry in parse_population(key, spec, pctx, b, YAML_GATES):
            if entry.key in entries:
                first = entries[entry.key].ctx.mark
                entry.ctx.fail(f"population id {entry.key!r} is defined twice (first at line "
                               f"{first.line if first else '?'})")
            entries[entry.key] = entry
    strategy_pops = _link(entries)
    qc = _qc_step(doc, ctx) if "qc" in doc else None
    follow = follow_spec(doc, entries, ctx, base_dir)
    overrides = None
    if "overrides" in doc:  # a cytogate_overrides file, relative to this one; `--overrides FILE` replaces it
        path = Path(as_string(doc["overrides"], ctx.at(doc.where("overrides")), "overrides"))
        overrides = str(path if path.is_absolute() else base_dir / path)
    try:
        return Strategy(tuple(strategy_pops), b.transforms, b.matrices, source_text=text, source=src,
                        format="yaml", aliases=panels.expand(b.aliases), qc=qc, follow=follow, overrides=overrides)
    except CytogateError as exc:
        ctx.fail(exc.message)


def _qc_step(doc: LocMap, ctx: Ctx) -> QcSpec:
    """The optional acquisition-QC step: ``qc: flag``, ``qc: remove`` or a mapping of settings."""
    qctx = ctx.at(doc.where("qc"))
    try:
        return QcSpec.from_mapping(doc["qc"])
    except CytogateError as exc:
        qctx.fail(f"qc: {exc.message}")
    except (TypeError, ValueError) as exc:
        qctx.fail(f"qc: invalid setting ({exc})")


def _tentative_paths(pops: LocMap) -> dict[str, str]:
    """Population paths from the raw ``parent`` / ``name`` fields, for error messages only.

    Walks each parent chain iteratively; a chain that loops, names an unknown
    parent or is deeper than 100 levels is shown as ``/.../<known part>``.
    """
    out: dict[str, str] = {}

    def name_of(key: str) -> str:
        spec = pops.get(key)
        return str(spec.get("name", key) if isinstance(spec, LocMap) else key).replace("/", "_")

    for key in pops:
        chain: list[str] = []
        cur, prefix = key, ""
        while True:
            if cur in out:
                prefix = out[cur]
                break
            if cur in chain or len(chain) > 100:
                prefix = "/..."
                break
            chain.append(cur)
            spec = pops.get(cur)
            parent = spec.get("parent") if isinstance(spec, LocMap) else None
            if parent in (None, ROOT) or not isinstance(parent, str):
                break
            if parent not in pops:
                prefix = f"/.../{parent}"
                break
            cur = parent
        for k in reversed(chain):
            prefix = f"{prefix}/{name_of(k)}"
            out[k] = prefix
    return out


def _link(entries: dict[str, ParsedPopulation]) -> list[Population]:
    """Resolve parents and boolean references to paths; detect missing ones and cycles."""
    for entry in entries.values():
        if entry.parent is not None and entry.parent not in entries and entry.parent != ROOT:
            entry.parent_ctx.fail(f"parent {entry.parent!r} is not a population{did_you_mean(entry.parent, entries)}")
        for ref, rctx in entry.refs:
            if ref not in entries:
                rctx.fail(f"boolean gate refers to unknown population {ref!r}{did_you_mean(ref, entries)}")
    # cycles through parents and boolean references (iterative depth-first search: chains may be long)
    def deps(key: str) -> Iterator[str]:
        entry = entries[key]
        return iter(([entry.parent] if entry.parent not in (None, ROOT) else []) + [r for r, _ in entry.refs])

    done: set[str] = set()
    for start in entries:
        if start in done:
            continue
        trail, on_trail, stack = [start], {start}, [deps(start)]
        while stack:
            dep = next(stack[-1], None)
            if dep is None:
                on_trail.discard(trail[-1])
                done.add(trail.pop())
                stack.pop()
            elif dep in on_trail:
                cycle = " -> ".join((*trail[trail.index(dep):], dep))
                entries[dep].ctx.fail(f"populations depend on each other in a cycle: {cycle}")
            elif dep not in done:
                trail.append(dep)
                on_trail.add(dep)
                stack.append(deps(dep))

    def path_of(key: str) -> str:
        chain = []
        while not entries[key].path:
            chain.append(key)
            parent = entries[key].parent
            if parent in (None, ROOT):
                break
            key = parent
        for k in reversed(chain):
            parent = entries[k].parent
            entries[k].path = join_path(ROOT if parent in (None, ROOT) else entries[parent].path, entries[k].name)
        return entries[chain[0]].path if chain else entries[key].path

    seen: dict[str, str] = {}
    out = []
    for key, entry in entries.items():
        path = path_of(key)
        if path in seen:
            entry.ctx.fail(f"population path {path!r} is defined twice (by {seen[path]!r} and {key!r}); "
                           f"give one a different name")
        seen[path] = key
    for entry in entries.values():
        gate = entry.gate
        if callable(gate):  # boolean gates: built once references are paths
            gate = gate({r: path_of(r) for r, _ in entry.refs})
        parent = ROOT if entry.parent in (None, ROOT) else path_of(entry.parent)
        try:
            out.append(Population(entry.name, parent, gate, entry.optional, entry.optional_dimensions))
        except CytogateError as exc:
            entry.ctx.inside(entry.path).fail(exc.message)
    return out
