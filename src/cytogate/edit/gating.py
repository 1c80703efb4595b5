"""One sample held in memory and gated incrementally as the strategy is edited.

After an edit only the populations whose gate changed, and everything below or
referring to them, are evaluated again; the others keep their masks, and the
edited gate starts from its parent's kept events.  The gates run through the
project's own plan (:mod:`cytogate.engine.compile`), exactly as ``cytogate run`` gates
the file, so the counts shown are the counts a run writes.

Each dimension's values (compensated, and transformed) are computed once per
sample over all its events and kept (:class:`ValueCache`): a gate or a fit
then reads its parent's rows of them instead of compensating and transforming
again.  Both are elementwise, so the rows are the very numbers a run computes
on the parent's events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..gates.dimensions import AnyDimension
from ..engine.execute import Execution, population_errors
from ..engine.compile import compile_plan
from ..qc import QcSpec, acquisition_qc
from ..strategy.panel_gaps import fit_to_panel
from ..strategy.tree import Strategy

__all__ = ["CachedExecution", "SampleGating", "ValueCache", "changed_gates", "changed_populations",
           "definitions_changed", "load_sample"]


def load_sample(path: str | Path, qc: QcSpec | None) -> Any:
    """The FCS file's events in memory (cut to what acquisition QC keeps, as a run does)."""
    from ..fcs import Sample, read_fcs

    sample = read_fcs(path)
    if qc is not None:
        keep, _ = acquisition_qc(sample.events, list(sample.channels), qc)
        if not keep.all():
            sample = Sample.from_arrays(np.asarray(sample.events)[keep], sample.channels, markers=sample.markers,
                                        keywords=sample.keywords, spillover=sample.spillover, path=sample.path)
    _ = sample.events  # decoded once: every later gate reads the matrix
    return sample


def _same_gate(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # arrays inside a gate: compare their plain form
        return bool(a.to_dict() == b.to_dict())


def definitions_changed(old: Strategy | None, new: Strategy) -> bool:
    """True when what every gate reads may differ: transforms, matrices or marker aliases."""
    return old is None or old.transforms != new.transforms or old.matrices != new.matrices \
        or dict(old.aliases) != dict(new.aliases)


def changed_gates(old: Strategy | None, new: Strategy) -> set[str]:
    """Paths of ``new`` whose own gate or parent differs from ``old`` (all when the shared definitions differ)."""
    if old is None or definitions_changed(old, new):
        return set(new.paths)
    before = old.by_path
    return {p.path for p in new.populations
            if p.path not in before or before[p.path].parent != p.parent
            or not _same_gate(before[p.path].gate, p.gate)}


def changed_populations(old: Strategy | None, new: Strategy) -> set[str]:
    """Paths of ``new`` that may need gating again: changed gates and all that depend on them."""
    changed = changed_gates(old, new)
    for path in new.evaluation_order:  # dependencies come first
        pop = new.by_path[path]
        if pop.parent in changed or any(ref in changed for ref in pop.gate.references):
            changed.add(path)
    return changed


class ValueCache:
    """Values of dimensions over all events of one sample, by what they are computed from.

    Keyed by the recipe (raw channels and compensation weights) and the
    transformation's definition, so an edit that changes a matrix or a
    transform computes new values, and one that moves a gate reuses them.
    """

    def __init__(self) -> None:
        self.arrays: dict[Any, np.ndarray] = {}

    def clear(self) -> None:
        self.arrays.clear()

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())


@dataclass
class CachedExecution(Execution):
    """An :class:`~cytogate.engine.execute.Execution` that reads every dimension's values from a :class:`ValueCache`."""

    cache: ValueCache = field(default_factory=ValueCache)

    def _full(self, key: Any, compute: Any) -> np.ndarray:
        values = self.cache.arrays.get(key)
        if values is None:
            values = self.cache.arrays[key] = compute()
        return values

    def base_values(self, dim: AnyDimension, idx: np.ndarray | None, owner: str | None) -> np.ndarray:
        base = self.plan.recipes[dim].base
        full = self._full(("base", base), lambda: super(CachedExecution, self).base_values(dim, None, None))
        return full if idx is None else full[idx]

    def values(self, dim: AnyDimension, idx: np.ndarray | None, owner: str | None) -> np.ndarray:
        recipe = self.plan.recipes[dim]
        if recipe.transform_id is None:
            return self.base_values(dim, idx, owner)
        spec = self.plan.strategy.transforms[recipe.transform_id]
        full = self._full(("values", recipe.base, spec.kind, spec.params),
                          lambda: self.plan.transforms[recipe.transform_id].apply(self.base_values(dim, None, None)))
        return full if idx is None else full[idx]


@dataclass
class SampleGating:
    """Masks of every population of the current strategy on one sample."""

    path: Path
    sample: Any
    strategy: Strategy | None = None
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    fitted: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    cache: ValueCache = field(default_factory=ValueCache)

    @property
    def n_events(self) -> int:
        return int(self.sample.n_events)

    def update(self, strategy: Strategy) -> set[str]:
        """Gate what the change from the last strategy touched; returns the paths gated again.

        A population is gated again when its own gate changed or a population it
        depends on (its parent, a boolean reference) came out different; one whose
        inputs all came out the same keeps its mask (a moved fit bound that left the
        fitted cut in place re-gates nothing below it).  Optional parts the file lacks
        are dropped first, as a run drops them.
        """
        strategy = fit_to_panel(strategy, self.sample)[0]
        direct = changed_gates(self.strategy, strategy)
        if self.strategy is not None and definitions_changed(self.strategy, strategy):
            self.cache.clear()  # values of the old definitions are not read again
        ex = CachedExecution(compile_plan(strategy, self.sample), self.sample, cache=self.cache)
        old = {p: m for p, m in self.masks.items() if p in strategy.by_path}
        ex.masks = dict(old)
        ex.fitted = {p: f for p, f in self.fitted.items() if p in old}
        moved: set[str] = set()
        for path in strategy.evaluation_order:
            pop = strategy.by_path[path]
            inputs = {pop.parent, *pop.gate.references}
            if path not in direct and path in old and not inputs & moved:
                continue
            parent = pop.parent
            if parent != "/" and parent not in ex.indices:
                ex.indices[parent] = np.flatnonzero(ex.masks[parent])
            with population_errors(path, pop.gate):
                ex.evaluate(path, pop.gate, parent)
            if path not in old or not np.array_equal(old[path], ex.masks[path]):
                moved.add(path)
            if not pop.gate.needs_fit:
                ex.fitted.pop(path, None)
        self.strategy, self.masks, self.fitted = strategy, ex.masks, ex.fitted
        return moved

    def count(self, path: str) -> int:
        return self.n_events if path == "/" else int(np.count_nonzero(self.masks[path]))

    def values(self, dims: tuple[AnyDimension, ...], parent: str, strategy: Strategy | None = None) -> np.ndarray:
        """``(len(dims), m)`` values of ``dims`` (compensated and transformed as the gates see them) on
        ``parent``'s events; ``strategy`` (default: the current one) must contain the dimensions."""
        strategy = self.strategy if strategy is None else fit_to_panel(strategy, self.sample)[0]
        assert strategy is not None
        ex = CachedExecution(compile_plan(strategy, self.sample), self.sample, cache=self.cache)
        idx = None if parent == "/" else np.flatnonzero(self.masks[parent])
        return ex.stacked(dims, idx, "\0plot")
