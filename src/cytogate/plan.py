"""Compile a strategy against one channel layout, and execute it on a sample.

A :class:`Plan` is built once per (strategy, channel layout) and cached.  It
resolves every gate dimension to a *recipe*: which raw channels it reads, the
compensation (unmixing coefficients for the one output column it needs) and the
transform.  Nothing is computed for a column no gate reads, and compensation
computes only the requested output columns, never the whole matrix product.

Execution (:class:`Execution`) walks populations in dependency order.  Each
population's events are kept as an index array into the file (None = all
events); a gate sees only its parent's events.  Dimension values are computed
once per (dimension, parent) and shared by sibling gates.  Boxes (ranges,
rectangles, quadrants) on a monotone transform are not transformed event by
event: their bounds are mapped back to scale units once and only the events in
a thin band around each mapped bound are transformed and compared exactly, so
the result is identical to the brute-force path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .compensation.unmix import Compensator
from .errors import CompensationError, CytogateError, GateError, MarkerError, StrategyError
from .gates import kernels
from .gates.dimensions import FCS, UNCOMPENSATED, AnyDimension, Dimension, RatioDimension, resolve_dimension
from .gates.specs import GateSpec
from .strategy.panel_gaps import fit_to_panel
from .strategy.tree import Strategy

__all__ = ["Plan", "Execution", "compile_plan", "MONOTONE_KINDS", "SampleLike"]

# Transform kinds that are increasing and finite on the whole real line, so a
# bound maps back through the inverse exactly (up to the checked band).
MONOTONE_KINDS = frozenset({"flin", "fasinh", "logicle", "hyperlog", "flowjo_biex"})

# Half-width, in display units, of the band around a mapped bound inside which
# events are re-tested with the forward transform (transforms are accurate to
# far better than this, see cytogate.transforms).
_BAND = 1e-7
_ALL_ROWS = np.empty(0, dtype=np.int64)
_RELEASED = np.empty(0, dtype=np.int64)  # placeholder for an index no child needs any more
_CHUNK = 1 << 16  # events per chunk: 512 kB of float64 per dimension, cache-friendly


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


@dataclass(frozen=True)
class _Base:
    """Untransformed values of one dimension: sum_k coef_k * raw[channel_k] (or a ratio)."""

    channels: tuple[int, ...]
    coefs: tuple[float, ...] | None  # None: a single raw channel, uncompensated
    ratio: tuple[_Base, _Base, float, float, float] | None = None


@dataclass(frozen=True)
class _Recipe:
    base: _Base
    transform_id: str | None


@dataclass
class Plan:
    """Resolved recipes for every dimension of a strategy on one channel layout."""

    strategy: Strategy
    recipes: dict[AnyDimension, _Recipe]
    transforms: dict[str, Any]
    aliases: Mapping[str, str] | None = None
    compensated: dict[str, tuple[_Base, ...]] = field(default_factory=dict)  # parent -> bases its children read
    shared: frozenset[tuple[str, AnyDimension]] = frozenset()  # (parent, dim) read by more than one gate
    n_children: dict[str, int] = field(default_factory=dict)
    mapped_bounds: dict[tuple[str, float, float], Any] = field(default_factory=dict, repr=False)
    # sample column -> the recipe of the first gate dimension that reads that channel (strategy order)
    channel_recipes: dict[int, _Recipe] = field(default_factory=dict)

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

        def walk(b: _Base) -> None:
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
_BASE_BUILDERS: dict[type, Callable[[Any, Callable[[str, str], _Base]], _Base]] = {
    Dimension: lambda d, base_of: base_of(d.name, d.compensation),
    RatioDimension: lambda d, base_of: _Base((), None, (base_of(d.numerator, d.compensation),
                                                      base_of(d.denominator, d.compensation), d.a, d.b, d.c)),
}


def _weighted(channels: Any, weights: Any) -> _Base:
    """A compensated base with zero weights dropped and channels in increasing order.

    Every read path sums in this one order, so results never depend on which
    path (single column, fused block) computed them.
    """
    pairs = sorted((int(c), float(w)) for c, w in zip(channels, weights) if float(w) != 0.0)
    return _Base(tuple(c for c, _ in pairs), tuple(w for _, w in pairs))


_PLAN_CACHE: dict[tuple[int, str, tuple[Any, ...], Any], Plan] = {}
_PLAN_CACHE_MAX = 64


def compile_plan(strategy: Strategy, sample: SampleLike, aliases: Mapping[str, str] | None = None) -> Plan:
    """The plan of ``strategy`` for ``sample``'s channel layout (cached).

    Optional dimensions and populations whose channels the sample lacks are
    dropped first (:func:`~cytogate.strategy.panel_gaps.fit_to_panel`), as the
    engine drops them; ``plan.strategy`` is the strategy as it applies there.
    """
    strategy = fit_to_panel(strategy, sample, aliases)[0]
    if aliases is None and strategy.aliases:
        aliases = strategy.aliases  # type: ignore[assignment]  # the strategy's own marker panel
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


def _compile(strategy: Strategy, sample: SampleLike, aliases: Mapping[str, str] | None) -> Plan:
    channels = [str(c) for c in sample.channels]
    transforms: dict[str, Any] = {}
    recipes: dict[AnyDimension, _Recipe] = {}
    compensator: list[Compensator | None] = [None]  # built on first use

    def base_of(name: str, compensation: str, population: str) -> _Base:
        if compensation == UNCOMPENSATED:
            return _Base((resolve_dimension(name, sample, aliases),), None)
        if compensation == FCS:
            idx = resolve_dimension(name, sample, aliases)
            if sample.spillover is None:
                return _Base((idx,), None)  # Gating-ML: nothing to compensate with
            comp = compensator[0]
            if comp is None:
                comp = compensator[0] = Compensator(sample.spillover, channels)
            weights = comp.weights(idx)
            if weights is None:  # a channel outside the matrix is not changed by compensation
                return _Base((idx,), None)
            return _weighted(weights[0], weights[1])
        matrix = strategy.matrices[compensation]
        j = matrix.output_index(name)
        if j is None:
            # Not one of the matrix's fluorochromes/detectors: read it uncompensated.
            return _Base((resolve_dimension(name, sample, aliases),), None)
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
            raise type(exc)(exc.message, path=exc.path or getattr(sample, "path", None), population=path) from None
        if dim.transform is not None and dim.transform not in transforms:
            try:
                transforms[dim.transform] = strategy.transforms[dim.transform].build()
            except CytogateError as exc:
                raise StrategyError(f"transformation {dim.transform!r}: {exc.message}", path=strategy.source,
                                    population=path) from None
        recipes[dim] = _Recipe(base, dim.transform)
    compensated: dict[str, list[_Base]] = {}
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
    by_channel: dict[int, _Recipe] = {}
    for dim, recipe in recipes.items():
        column = _column_of(dim, strategy, sample, aliases)
        if column is not None and column not in by_channel:
            by_channel[column] = recipe
    return Plan(strategy, recipes, transforms, aliases, {k: tuple(v) for k, v in compensated.items()},
                shared, n_children, channel_recipes=by_channel)


def _column_of(dim: AnyDimension, strategy: Strategy, sample: SampleLike,
               aliases: Mapping[str, str] | None) -> int | None:
    """The sample column a plain dimension stands for (None for ratios and unmatched fluorochromes)."""
    if not isinstance(dim, Dimension):
        return None
    try:
        return resolve_dimension(dim.name, sample, aliases)
    except MarkerError:
        matrix = strategy.matrices.get(dim.compensation)
        j = None if matrix is None else matrix.output_index(dim.name)
        if j is None or len(matrix.detectors) != len(matrix.fluorochromes):  # type: ignore[union-attr]
            return None
        try:  # a square matrix's output j is its detector j
            return resolve_dimension(matrix.detectors[j], sample, aliases)  # type: ignore[union-attr]
        except MarkerError:
            return None


@dataclass
class Execution:
    """One run of a plan on one sample: memberships, fitted gates, shared values."""

    plan: Plan
    sample: SampleLike
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    indices: dict[str, np.ndarray | None] = field(default_factory=dict)
    fitted: dict[str, dict[str, Any]] = field(default_factory=dict)
    _raw: dict[int, np.ndarray] = field(default_factory=dict)
    _values: dict[tuple[Any, str | None], np.ndarray] = field(default_factory=dict)  # (what, owner population)
    _events: tuple[np.ndarray | None] | None = None
    out: Mapping[str, np.ndarray] | None = None  # where to write each population's mask (views of a whole file)
    brute_force: bool = False  # the oracle: transform every event instead of mapping box bounds back

    @property
    def n_events(self) -> int:
        return int(self.sample.n_events)

    # -- values ----------------------------------------------------------------------
    def _matrix(self) -> np.ndarray | None:
        """The sample's decoded event matrix when reading it whole is the cheaper way.

        Decoding the whole matrix once costs about as much as decoding a quarter of
        its columns one by one (strided reads), so the matrix is used when the plan
        reads more than that; otherwise single columns are decoded.
        """
        if self._events is None:
            events = None
            n_channels = len(self.sample.channels)
            if self.sample.decoded or 4 * len(self.plan.channels_read) > n_channels:
                events = np.asarray(self.sample.events)
                if events.ndim != 2 or events.dtype not in (np.float32, np.float64):
                    events = None
            self._events = (events,)
        return self._events[0]

    def _column(self, ch: int) -> np.ndarray:
        col = self._raw.get(ch)
        if col is None:
            col = np.asarray(self.sample.column(ch))
            self._raw[ch] = col
        return col

    def _base_values(self, base: _Base, idx: np.ndarray | None) -> np.ndarray:
        if base.ratio is not None:
            num_b, den_b, a, b, c = base.ratio
            num = self._base_values(num_b, idx)
            den = self._base_values(den_b, idx)
            with np.errstate(divide="ignore", invalid="ignore"):
                return a * (num - b) / (den - c)
        matrix = self._matrix()
        if idx is not None and idx.size == 0:
            return np.empty(0, dtype=np.float64)  # the kernels read an empty row list as "all rows"
        if matrix is not None:  # one fused pass over the rows of the event matrix
            weights = np.ones(1) if base.coefs is None else np.array(base.coefs, dtype=np.float64)
            rows = _ALL_ROWS if idx is None else idx
            return kernels.gather_weighted(matrix, rows, np.array(base.channels, dtype=np.int64), weights)
        if base.coefs is None:
            col = self._column(base.channels[0])
            return np.asarray(col if idx is None else col[idx], dtype=np.float64)
        m = self.n_events if idx is None else len(idx)
        out = np.zeros(m, dtype=np.float64)
        for ch, coef in zip(base.channels, base.coefs):
            if coef == 0.0:
                continue  # most spill coefficients are zero
            col = self._column(ch)
            # the product in float64 like gather_weighted (float32 * float would round to float32)
            out += np.multiply(col if idx is None else col[idx], coef, dtype=np.float64)
        return out

    def base_values(self, dim: AnyDimension, idx: np.ndarray | None, owner: str | None) -> np.ndarray:
        base = self.plan.recipes[dim].base
        key = (("base", base), owner)
        values = self._values.get(key)
        if values is None:
            # One pass per compensated output: a single float64 add chain per row is about
            # twice as fast as interleaving several outputs' chains in one fused pass.
            values = self._base_values(base, idx)
            if (owner, dim) in self.plan.shared:  # keep only what a sibling will read again
                self._values[key] = values
        return values

    def values(self, dim: AnyDimension, idx: np.ndarray | None, owner: str | None) -> np.ndarray:
        """Compensated and transformed values of ``dim`` on ``owner``'s events (cached)."""
        recipe = self.plan.recipes[dim]
        if recipe.transform_id is None:
            return self.base_values(dim, idx, owner)
        key = ((recipe.base, recipe.transform_id), owner)
        values = self._values.get(key)
        if values is None:
            values = self.plan.transforms[recipe.transform_id].apply(self.base_values(dim, idx, owner))
            if (owner, dim) in self.plan.shared:
                self._values[key] = values
        return values

    def stacked(self, dims: tuple[AnyDimension, ...], idx: np.ndarray | None, owner: str | None) -> np.ndarray:
        """``(n_dims, m)`` float64 values of ``dims`` on ``owner``'s events."""
        m = self.n_events if idx is None else len(idx)
        out = np.empty((len(dims), m), dtype=np.float64)
        for k, d in enumerate(dims):
            out[k] = self.values(d, idx, owner)
        return out

    def _release(self, owner: str | None) -> None:
        """Drop cached values and the event index of ``owner`` once its last child is done."""
        for key in [k for k in self._values if k[1] == owner]:
            del self._values[key]
        if owner in self.indices:
            self.indices[owner] = None if owner == "/" else _RELEASED

    # -- gates -----------------------------------------------------------------------
    def _box_mask(self, gate: GateSpec, lo: np.ndarray, hi: np.ndarray, idx: np.ndarray | None,
                  owner: str | None) -> np.ndarray:
        mask: np.ndarray | None = None
        for k, dim in enumerate(gate.dimensions):
            sub = self._interval(dim, float(lo[k]), float(hi[k]), idx, owner)
            mask = sub if mask is None else np.logical_and(mask, sub, out=mask)
        assert mask is not None
        return mask

    def _interval(self, dim: AnyDimension, lo: float, hi: float, idx: np.ndarray | None, owner: str | None) -> np.ndarray:
        recipe = self.plan.recipes[dim]
        tid = recipe.transform_id
        if tid is None:
            x = self.base_values(dim, idx, owner)
            return kernels.interval_mask_banded(x, lo, hi, -1.0, -1.0)[0]
        spec = self.plan.strategy.transforms[tid]
        transform = self.plan.transforms[tid]
        cached = self._values.get(((recipe.base, tid), owner))
        mapped = None if cached is not None or spec.kind not in MONOTONE_KINDS else self.plan.map_bounds(tid, lo, hi)
        if mapped is None or self.brute_force:  # transform every event
            y = self.values(dim, idx, owner)
            return kernels.interval_mask_banded(y, lo, hi, -1.0, -1.0)[0]
        raw_lo, raw_hi, tol_lo, tol_hi = mapped
        x = self.base_values(dim, idx, owner)
        mask, undecided = kernels.interval_mask_banded(x, raw_lo, raw_hi, tol_lo, tol_hi)
        if undecided.size:
            y = transform.apply(x[undecided])
            mask[undecided] = (y >= lo) & ((hi == np.inf) | (y < hi))
        return mask

    def _gate_mask(self, gate: GateSpec, idx: np.ndarray | None, owner: str | None) -> np.ndarray:
        """The gate on the events ``idx`` (None = all), as a mask over those events."""
        columns = self.plan.raw_columns(gate)
        matrix = self._matrix() if columns is not None else None
        if matrix is not None and columns is not None and (idx is None or idx.size):
            mask = gate.evaluate_rows(matrix, _ALL_ROWS if idx is None else idx, columns)
            if mask is not None:
                return mask
        box = gate.box()
        if box is not None:
            return self._box_mask(gate, box[0], box[1], idx, owner)
        values = self.stacked(gate.dimensions, idx, owner)
        refs = {p: (self.masks[p] if idx is None else self.masks[p][idx]) for p in gate.references}
        return np.asarray(gate.evaluate(values, refs), dtype=bool)

    def _chunkable(self, gate: GateSpec, parent: str) -> bool:
        """True when nothing the gate reads is shared with a sibling: evaluate it in row chunks.

        Chunks bound the temporary float64 values to ``_CHUNK`` events per dimension
        instead of the whole parent; shared values are computed whole and cached.
        """
        if not gate.dimensions or gate.references or self._matrix() is None:
            return False
        if self.plan.raw_columns(gate) is not None and type(gate).evaluate_rows is not GateSpec.evaluate_rows:
            return False  # reads the matrix directly, no temporaries to bound
        return not any((parent, d) in self.plan.shared for d in gate.dimensions)

    def evaluate(self, path: str, gate: GateSpec, parent: str) -> None:
        idx = self.indices[parent] if parent != "/" else None
        if gate.needs_fit:
            gate = fit_static(gate, self.stacked(gate.dimensions, idx, parent), path)
            self.fitted[path] = gate.to_dict()
        if self._chunkable(gate, parent):
            m = self.n_events if idx is None else len(idx)
            sub = np.empty(m, dtype=bool)
            for start in range(0, m, _CHUNK):
                stop = min(start + _CHUNK, m)
                rows = np.arange(start, stop, dtype=np.int64) if idx is None else idx[start:stop]
                sub[start:stop] = self._gate_mask(gate, rows, None)  # chunk values are never cached
        else:
            sub = self._gate_mask(gate, idx, parent)
        target = None if self.out is None else self.out[path]
        if idx is None:
            if target is not None:
                target[:] = sub
            self.masks[path] = sub
            self.indices[path] = np.flatnonzero(sub)
        else:
            full = np.empty(self.n_events, dtype=bool) if target is None else target
            self.indices[path] = kernels.select_subset(idx, sub, full)  # one pass: indices and mask
            self.masks[path] = full

    def run(self, only: frozenset[str] | None = None) -> Execution:
        """Evaluate every population (or those in ``only``, which must include their dependencies).

        With ``only``, nothing is released: the caller may still read any
        population's events and values of this sample.
        """
        strategy = self.plan.strategy
        remaining = dict(self.plan.n_children)
        for path in strategy.evaluation_order:
            pop = strategy.by_path[path]
            if only is not None:
                if path in only:
                    with population_errors(path, pop.gate):
                        self.evaluate(path, pop.gate, pop.parent)
                continue
            with population_errors(path, pop.gate):
                self.evaluate(path, pop.gate, pop.parent)
                remaining[pop.parent] -= 1
                if remaining[pop.parent] == 0:
                    self._release(pop.parent)
                if remaining.get(path, 0) == 0:
                    self._release(path)
        if only is not None:
            return self
        self._values.clear()
        self._raw.clear()
        self._events = None
        return self


def fit_static(gate: GateSpec, values: np.ndarray, path: str) -> GateSpec:
    """A data-driven gate fitted to ``values`` (its dimensions on its parent's events): a static gate."""
    fitted = gate.fit(values)
    if fitted.needs_fit:
        raise GateError(f"{gate.kind}.fit returned another data-driven gate", population=path)
    return fitted


@contextmanager
def population_errors(path: str, gate: GateSpec) -> Iterator[None]:
    """Errors raised while gating (or fitting) ``path`` name that population."""
    try:
        yield
    except CytogateError as exc:
        if "population" in exc.location:
            raise
        # e.g. a data-driven fit that fails: its message names the marker, add the population
        raise type(exc)(exc.message, path=exc.path, **exc.location, population=path) from exc
    except (ValueError, IndexError, FloatingPointError) as exc:
        raise GateError(f"cannot evaluate gate ({gate.describe()}): {exc}", population=path) from exc


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


def brute_force_masks(strategy: Strategy, sample: SampleLike) -> dict[str, np.ndarray]:
    """Reference path for tests: every dimension transformed event by event, no bound mapping."""
    return Execution(compile_plan(strategy, sample), sample, brute_force=True).run().masks
