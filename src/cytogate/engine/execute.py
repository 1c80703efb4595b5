"""Execute a compiled plan on one sample (or one block of it): :class:`Execution`.

Execution walks populations in dependency order.  Each population's events
are kept as an index array into the file (None = all events); a gate sees only
its parent's events.  Dimension values are computed once per (dimension,
parent) and shared by sibling gates.  Boxes (ranges, rectangles, quadrants) on
a monotone transform are not transformed event by event: their bounds are
mapped back to scale units once and only the events in a thin band around each
mapped bound are transformed and compared exactly, so the result is identical
to the brute-force path (``Execution(brute_force=True)``, the oracle).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import CytogateError, GateError
from ..gates import kernels
from ..gates.dimensions import AnyDimension
from ..gates.specs import GateSpec
from ..strategy.tree import Strategy
from .compile import MONOTONE_KINDS, Base, Plan, SampleLike, compile_plan

__all__ = ["Execution", "fit_static", "population_errors", "brute_force_masks"]

_ALL_ROWS = np.empty(0, dtype=np.int64)
_RELEASED = np.empty(0, dtype=np.int64)  # placeholder for an index no child needs any more
_CHUNK = 1 << 16  # events per chunk: 512 kB of float64 per dimension, cache-friendly


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

    def _base_values(self, base: Base, idx: np.ndarray | None) -> np.ndarray:
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

    def values_into(self, dim: AnyDimension, idx: np.ndarray | None, out: np.ndarray) -> None:
        """:meth:`values` of ``dim`` on the events ``idx`` (None = all), written into ``out`` (never cached).

        The transform writes straight into ``out`` (a pass's table of values for the fits).
        """
        recipe = self.plan.recipes[dim]
        base = self._base_values(recipe.base, idx)
        if recipe.transform_id is None:
            out[:] = base
        else:
            self.plan.transforms[recipe.transform_id].apply_into(base, out)

    def stacked(self, dims: tuple[AnyDimension, ...], idx: np.ndarray | None, owner: str | None) -> np.ndarray:
        """``(n_dims, m)`` float64 values of ``dims`` on ``owner``'s events."""
        m = self.n_events if idx is None else len(idx)
        out = np.empty((len(dims), m), dtype=np.float64)
        for k, d in enumerate(dims):
            out[k] = self.values(d, idx, owner)
        return out

    def provide(self, dim: AnyDimension, owner: str, values: np.ndarray) -> None:
        """Take ``dim``'s values on ``owner``'s events as computed elsewhere (the pass that fitted a gate on them).

        They must be what :meth:`values` returns; gates read them instead of computing them again.
        """
        recipe = self.plan.recipes[dim]
        what = ("base", recipe.base) if recipe.transform_id is None else (recipe.base, recipe.transform_id)
        self._values[(what, owner)] = values

    def _provided(self, dim: AnyDimension, owner: str) -> bool:
        recipe = self.plan.recipes[dim]
        what = ("base", recipe.base) if recipe.transform_id is None else (recipe.base, recipe.transform_id)
        return (what, owner) in self._values

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
        """True when nothing the gate reads is shared with a sibling or held already: evaluate it in row chunks.

        Chunks bound the temporary float64 values to ``_CHUNK`` events per dimension
        instead of the whole parent; shared values are computed whole and cached.
        """
        if not gate.dimensions or gate.references or self._matrix() is None:
            return False
        if self.plan.raw_columns(gate) is not None and type(gate).evaluate_rows is not GateSpec.evaluate_rows:
            return False  # reads the matrix directly, no temporaries to bound
        return not any((parent, d) in self.plan.shared or self._provided(d, parent) for d in gate.dimensions)

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


def brute_force_masks(strategy: Strategy, sample: SampleLike) -> dict[str, np.ndarray]:
    """Reference path for tests: every dimension transformed event by event, no bound mapping."""
    return Execution(compile_plan(strategy, sample), sample, brute_force=True).run().masks
