"""Compile a strategy against one channel layout: the :class:`Plan`.

A :class:`Plan` is built once per (strategy, channel layout) and cached.  It
resolves every gate dimension to a *recipe*: which raw channels it reads, the
compensation (unmixing coefficients for the one output column it needs) and the
transform.  Nothing is computed for a column no gate reads, and compensation
computes only the requested output columns, never the whole matrix product.
:class:`SampleLike` is the event-source protocol every reader of a plan uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..channels import MarkerAliases
from ..compensation.unmix import Compensator
from ..errors import CompensationError, CytogateError, MarkerError, StrategyError
from ..gates.dimensions import FCS, UNCOMPENSATED, AnyDimension, Dimension, RatioDimension, resolve_dimension
from ..gates.specs import GateSpec
from ..strategy.panel_gaps import fit_to_panel
from ..strategy.tree import Strategy

__all__ = ["Plan", "Base", "Recipe", "compile_plan", "MONOTONE_KINDS", "SampleLike"]

# Transform kinds that are increasing and finite on the whole real line, so a
# bound maps back through the inverse exactly (up to the checked band).
MONOTONE_KINDS = frozenset({"flin", "fasinh", "logicle", "hyperlog", "flowjo_biex"})

# Half-width, in display units, of the band around a mapped bound inside which
# events are re-tested with the forward transform (transforms are accurate to
# far better than this, see cytogate.transforms).
_BAND = 1e-7


class SampleLike(Protocol):
    """What the engine reads a sample through (:class:`cytogate.fcs.Sample` and a block of one).

    ``decoded`` is True when ``events`` is already in memory (reading it costs
    nothing); otherwise the plan decides between the whole matrix and single
    columns by how many channels it reads.
    """

    @property
    def channels(self) -> Any: ...

    @property
    def markers(self) -> Any: ...

    @property
    def spillover(self) -> Any: ...

    @property
    def n_events(self) -> int: ...

    @property
    def path(self) -> Any: ...

    @property
    def events(self) -> np.ndarray: ...

    @property
    def decoded(self) -> bool: ...

    def column(self, key: int | str) -> np.ndarray: ...

    def blocks(self, n_rows: int = ..., *, digest: Any | None = None) -> Iterator[tuple[int, np.ndarray]]: ...

    def update_digest(self, digest: Any) -> None: ...


@dataclass(frozen=True)
class Base:
    """Untransformed values of one dimension: sum_k coef_k * raw[channel_k] (or a ratio)."""

    channels: tuple[int, ...]
    coefs: tuple[float, ...] | None  # None: a single raw channel, uncompensated
    ratio: tuple[Base, Base, float, float, float] | None = None


@dataclass(frozen=True)
class Recipe:
    base: Base
    transform_id: str | None


@dataclass
class Plan:
    """Resolved recipes for every dimension of a strategy on one channel layout."""

    strategy: Strategy
    recipes: dict[AnyDimension, Recipe]
    transforms: dict[str, Any]
    aliases: MarkerAliases | None = None
    compensated: dict[str, tuple[Base, ...]] = field(default_factory=dict)  # parent -> bases its children read
    shared: frozenset[tuple[str, AnyDimension]] = frozenset()  # (parent, dim) read by more than one gate
    n_children: dict[str, int] = field(default_factory=dict)
    mapped_bounds: dict[tuple[str, float, float], Any] = field(default_factory=dict, repr=False)
    # sample column -> the recipe of the first gate dimension that reads that channel (strategy order)
    channel_recipes: dict[int, Recipe] = field(default_factory=dict)

    def map_bounds(self, transform_id: str, lo: float, hi: float) -> tuple[float, float, float, float] | None:
        """:func:`_map_bounds` of a transform's interval, computed once per plan (blocks reuse it)."""
        key = (transform_id, lo, hi)
        if key not in self.mapped_bounds:
            self.mapped_bounds[key] = _map_bounds(self.transforms[transform_id], lo, hi)
        return self.mapped_bounds[key]

    def raw_columns(self, gate: GateSpec) -> tuple[int, ...] | None:
        """Channel of each dimension when all are plain channels (no compensation, transform, ratio)."""
        out = []
        for d in gate.dimensions:
            r = self.recipes[d]
            if r.transform_id is not None or r.base.coefs is not None or r.base.ratio is not None:
                return None
            out.append(r.base.channels[0])
        return tuple(out) if out else None

    @property
    def channels_read(self) -> tuple[int, ...]:
        """Raw channel indices some gate reads (directly or through compensation)."""
        out: set[int] = set()

        def walk(b: Base) -> None:
            out.update(b.channels)
            if b.ratio is not None:
                walk(b.ratio[0])
                walk(b.ratio[1])

        for r in self.recipes.values():
            walk(r.base)
        return tuple(sorted(out))


def _layout_key(sample: SampleLike) -> tuple[Any, ...]:
    spill = sample.spillover
    spill_key = None if spill is None else (tuple(spill.channels), spill.matrix.tobytes())
    return (tuple(sample.channels), tuple("" if m is None else m for m in sample.markers), spill_key)


# How each dimension type turns into untransformed values, given ``base_of(name, compensation)``.
_BASE_BUILDERS: dict[type, Callable[[Any, Callable[[str, str], Base]], Base]] = {
    Dimension: lambda d, base_of: base_of(d.name, d.compensation),
    RatioDimension: lambda d, base_of: Base((), None, (base_of(d.numerator, d.compensation),
                                                      base_of(d.denominator, d.compensation), d.a, d.b, d.c)),
}


def _weighted(channels: Any, weights: Any) -> Base:
    """A compensated base with zero weights dropped and channels in increasing order.

    Every read path sums in this one order, so results never depend on which
    path (single column, fused block) computed them.
    """
    pairs = sorted((int(c), float(w)) for c, w in zip(channels, weights) if float(w) != 0.0)
    return Base(tuple(c for c, _ in pairs), tuple(w for _, w in pairs))


_PLAN_CACHE: dict[tuple[int, str, tuple[Any, ...], Any], Plan] = {}
_PLAN_CACHE_MAX = 64


def compile_plan(strategy: Strategy, sample: SampleLike, aliases: MarkerAliases | None = None) -> Plan:
    """The plan of ``strategy`` for ``sample``'s channel layout (cached).

    Optional dimensions and populations whose channels the sample lacks are
    dropped first (:func:`~cytogate.strategy.panel_gaps.fit_to_panel`), as the
    engine drops them; ``plan.strategy`` is the strategy as it applies there.
    """
    strategy = fit_to_panel(strategy, sample, aliases)[0]
    if aliases is None and strategy.aliases:
        aliases = strategy.aliases  # the strategy's own marker panel
    alias_key = None if not aliases else tuple(sorted(aliases.items()))
    key = (id(strategy), strategy.sha256, _layout_key(sample), alias_key)
    plan = _PLAN_CACHE.get(key)
    if plan is not None and plan.strategy is strategy:
        return plan
    plan = _compile(strategy, sample, aliases)
    if len(_PLAN_CACHE) >= _PLAN_CACHE_MAX:
        _PLAN_CACHE.pop(next(iter(_PLAN_CACHE)))
    _PLAN_CACHE[key] = plan
    return plan


def _compile(strategy: Strategy, sample: SampleLike, aliases: MarkerAliases | None) -> Plan:
    channels = [str(c) for c in sample.channels]
    transforms: dict[str, Any] = {}
    recipes: dict[AnyDimension, Recipe] = {}
    compensator: list[Compensator | None] = [None]  # built on first use

    def base_of(name: str, compensation: str, population: str) -> Base:
        if compensation == UNCOMPENSATED:
            return Base((resolve_dimension(name, sample, aliases),), None)
        if compensation == FCS:
            idx = resolve_dimension(name, sample, aliases)
            if sample.spillover is None:
                return Base((idx,), None)  # Gating-ML: nothing to compensate with
            comp = compensator[0]
            if comp is None:
                comp = compensator[0] = Compensator(sample.spillover, channels)
            weights = comp.weights(idx)
            if weights is None:  # a channel outside the matrix is not changed by compensation
                return Base((idx,), None)
            return _weighted(weights[0], weights[1])
        matrix = strategy.matrices[compensation]
        j = matrix.output_index(name)
        if j is None:
            # Not one of the matrix's fluorochromes/detectors: read it uncompensated.
            return Base((resolve_dimension(name, sample, aliases),), None)
        try:
            dets = tuple(resolve_dimension(d, sample, aliases) for d in matrix.detectors)
        except CytogateError as exc:
            raise CompensationError(f"spectrum matrix {matrix.id!r} names a detector the file lacks: {exc.message}",
                                    population=population) from None
        return _weighted(dets, matrix.unmixing[:, j])

    for path, dim in strategy.dimensions():
        if dim in recipes:
            continue
        try:
            build = _BASE_BUILDERS[type(dim)]
        except KeyError:
            raise StrategyError(f"unknown dimension type {type(dim).__name__}", population=path) from None
        try:
            base = build(dim, lambda name, comp: base_of(name, comp, path))
        except (MarkerError, CompensationError) as exc:
            if "population" in exc.location:
                raise
            # say which file and which population could not be resolved
            raise type(exc)(exc.message, path=exc.path or sample.path, population=path) from None
        if dim.transform is not None and dim.transform not in transforms:
            try:
                transforms[dim.transform] = strategy.transforms[dim.transform].build()
            except CytogateError as exc:
                raise StrategyError(f"transformation {dim.transform!r}: {exc.message}", path=strategy.source,
                                    population=path) from None
        recipes[dim] = Recipe(base, dim.transform)
    compensated: dict[str, list[Base]] = {}
    for pop in strategy.populations:
        for dim in pop.gate.dimensions:
            base = recipes[dim].base
            if base.coefs is not None and base not in compensated.setdefault(pop.parent, []):
                compensated[pop.parent].append(base)
    reads: dict[tuple[str, AnyDimension], int] = {}
    n_children: dict[str, int] = {}
    for pop in strategy.populations:
        n_children[pop.parent] = n_children.get(pop.parent, 0) + 1
        for dim in pop.gate.dimensions:
            reads[(pop.parent, dim)] = reads.get((pop.parent, dim), 0) + 1
    shared = frozenset(k for k, n in reads.items() if n > 1)
    by_channel: dict[int, Recipe] = {}
    for dim, recipe in recipes.items():
        column = _column_of(dim, strategy, sample, aliases)
        if column is not None and column not in by_channel:
            by_channel[column] = recipe
    return Plan(strategy, recipes, transforms, aliases, {k: tuple(v) for k, v in compensated.items()},
                shared, n_children, channel_recipes=by_channel)


def _column_of(dim: AnyDimension, strategy: Strategy, sample: SampleLike,
               aliases: MarkerAliases | None) -> int | None:
    """The sample column a plain dimension stands for (None for ratios and unmatched fluorochromes)."""
    if not isinstance(dim, Dimension):
        return None
    try:
        return resolve_dimension(dim.name, sample, aliases)
    except MarkerError:
        matrix = strategy.matrices.get(dim.compensation)
        j = None if matrix is None else matrix.output_index(dim.name)
        if matrix is None or j is None or len(matrix.detectors) != len(matrix.fluorochromes):
            return None
        try:  # a square matrix's output j is its detector j
            return resolve_dimension(matrix.detectors[j], sample, aliases)
        except MarkerError:
            return None


def _map_bounds(transform: Any, lo: float, hi: float) -> tuple[float, float, float, float] | None:
    """Bounds in scale units plus band half-widths, or None when mapping is unsafe."""
    out = []
    for bound in (lo, hi):
        if not np.isfinite(bound):
            out.append((bound, -1.0))
            continue
        xs = transform.inverse(np.array([bound - _BAND, bound, bound + _BAND]))
        if not np.all(np.isfinite(xs)) or not (xs[0] <= xs[1] <= xs[2]):
            return None
        tol = max(xs[1] - xs[0], xs[2] - xs[1]) + 1e-12 * abs(xs[1])
        out.append((float(xs[1]), float(tol)))
    (raw_lo, tol_lo), (raw_hi, tol_hi) = out
    return raw_lo, raw_hi, tol_lo, tol_hi


