"""One sample held in memory and gated incrementally as the strategy is edited.

After an edit only the populations whose gate changed, and everything below or
referring to them, are evaluated again; the others keep their masks, and the
edited gate starts from its parent's kept events.  The gates run through the
project's own plan (:mod:`cytogate.plan`), exactly as ``cytogate run`` gates
the file, so the counts shown are the counts a run writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..gates.dimensions import AnyDimension
from ..plan import Execution, compile_plan
from ..qc import QcSpec, acquisition_qc
from ..strategy.tree import Strategy

__all__ = ["SampleGating", "changed_populations", "load_sample"]


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


def changed_populations(old: Strategy | None, new: Strategy) -> set[str]:
    """Paths of ``new`` to evaluate again: changed gates or parents, and all that depend on them."""
    if old is None or old.transforms != new.transforms or old.matrices != new.matrices \
            or dict(old.aliases) != dict(new.aliases):
        return set(new.paths)
    before = old.by_path
    changed = {p.path for p in new.populations
               if p.path not in before or before[p.path].parent != p.parent
               or not _same_gate(before[p.path].gate, p.gate)}
    for path in new.evaluation_order:  # dependencies come first
        pop = new.by_path[path]
        if pop.parent in changed or any(ref in changed for ref in pop.gate.references):
            changed.add(path)
    return changed


@dataclass
class SampleGating:
    """Masks of every population of the current strategy on one sample."""

    path: Path
    sample: Any
    strategy: Strategy | None = None
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    fitted: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def n_events(self) -> int:
        return int(self.sample.n_events)

    def update(self, strategy: Strategy) -> set[str]:
        """Gate the populations the change from the last strategy touched; returns their paths."""
        redo = changed_populations(self.strategy, strategy)
        ex = Execution(compile_plan(strategy, self.sample), self.sample)
        kept = {p: m for p, m in self.masks.items() if p in strategy.by_path and p not in redo}
        ex.masks = dict(kept)
        ex.fitted = {p: f for p, f in self.fitted.items() if p in kept}
        for path in redo:  # the kept events of each re-gated population's parent
            parent = strategy.by_path[path].parent
            if parent != "/" and parent in kept and parent not in ex.indices:
                ex.indices[parent] = np.flatnonzero(kept[parent])
        ex.run(only=frozenset(redo))
        self.strategy, self.masks, self.fitted = strategy, ex.masks, ex.fitted
        return redo

    def count(self, path: str) -> int:
        return self.n_events if path == "/" else int(np.count_nonzero(self.masks[path]))

    def values(self, dims: tuple[AnyDimension, ...], parent: str, strategy: Strategy | None = None) -> np.ndarray:
        """``(len(dims), m)`` values of ``dims`` (compensated and transformed as the gates see them) on
        ``parent``'s events; ``strategy`` (default: the current one) must contain the dimensions."""
        strategy = self.strategy if strategy is None else strategy
        assert strategy is not None
        ex = Execution(compile_plan(strategy, self.sample), self.sample)
        idx = None if parent == "/" else np.flatnonzero(self.masks[parent])
        return ex.stacked(dims, idx, "\0plot")
