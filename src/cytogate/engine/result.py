"""What gating one sample gives: :class:`GatingResult`, and the count table's columns."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas loads only when a table is asked for: batch workers never need it
    import pandas as pd

from ..gates.registry import gate_from_dict
from ..strategy.panel_gaps import Skipped
from ..strategy.tree import Strategy

__all__ = ["GatingResult", "COUNT_COLUMNS", "COUNT_DTYPES"]

COUNT_COLUMNS = ("sample", "file", "population", "name", "parent", "count", "parent_count",
                 "freq_parent", "freq_total")
#: pandas dtype of each of :data:`COUNT_COLUMNS` in :attr:`GatingResult.counts`.
COUNT_DTYPES = ("object", "object", "object", "object", "object", "int64", "int64", "float64", "float64")


@dataclass(frozen=True, eq=False)
class GatingResult:
    """The outcome of gating one sample.

    Attributes
    ----------
    sample : str
        Sample name.
    file : str
        Path of the FCS file ('' when the sample was built in memory).
    n_events : int
        Events in the file (the root of every frequency).
    strategy : Strategy
    masks : dict of str to (n_events,) bool ndarray
        Membership per population path, over all events of the file.
    fitted : dict of str to dict
        Data-driven gates as fitted to this file, and static gates as followed onto
        it (``follow=``), by population path (plain dicts from the gate's ``to_dict``).
    follow : tuple of FollowedGate
        With ``follow=``: where each static gate landed, its status and confidence.
    skipped : tuple of Skipped
        Optional dimensions and populations not applied because this file lacks
        their channels (:mod:`cytogate.strategy.panel_gaps`).
    """

    sample: str
    file: str
    n_events: int
    strategy: Strategy
    masks: dict[str, np.ndarray]
    fitted: dict[str, dict[str, Any]] = field(default_factory=dict)
    follow: tuple[Any, ...] = ()
    skipped: tuple[Skipped, ...] = ()

    def count(self, path: str) -> int:
        return self.n_events if path == "/" else int(np.count_nonzero(self.masks[path]))

    def count_rows(self) -> list[tuple[Any, ...]]:
        """The rows of :attr:`counts` as plain tuples (no pandas needed)."""
        rows = []
        totals = {p: self.count(p) for p in self.masks}
        for pop in self.strategy.populations:
            count = totals[pop.path]
            parent_count = self.n_events if pop.parent == "/" else totals[pop.parent]
            rows.append((self.sample, self.file, pop.path, pop.name, pop.parent, count, parent_count,
                         count / parent_count if parent_count else np.nan,
                         count / self.n_events if self.n_events else np.nan))
        return rows

    @property
    def counts(self) -> pd.DataFrame:
        """One row per population (strategy order), columns ``COUNT_COLUMNS``.

        ``freq_parent = count / parent_count`` and ``freq_total = count / n_events``
        (fractions, not percent); NaN when the denominator is 0.
        """
        import pandas as pd

        frame = pd.DataFrame(self.count_rows(), columns=list(COUNT_COLUMNS))
        return frame.astype(dict(zip(COUNT_COLUMNS[5:], COUNT_DTYPES[5:])))

    def fitted_strategy(self) -> Strategy:
        """The strategy with every data-driven gate replaced by its fit on this file.

        Static, so it can be written as Gating-ML 2.0 or re-applied exactly.
        """
        pops = tuple(
            replace(p, gate=gate_from_dict(self.fitted[p.path])) if p.path in self.fitted else p
            for p in self.strategy.populations
        )
        return replace(self.strategy, populations=pops, source_text="")

    def membership(self) -> pd.DataFrame:
        """``(n_events, n_populations)`` boolean frame, one column per population path."""
        import pandas as pd

        return pd.DataFrame({p.path: self.masks[p.path] for p in self.strategy.populations}, copy=False)


