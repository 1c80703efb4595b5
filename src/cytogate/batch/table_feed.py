"""The run's tables assembled while the run goes on: finished samples handed over in input order.

Samples finish in about the order they were submitted.  Each one that is
next in input order goes to the tables (:class:`cytogate.batch.assemble.TableAssembler`)
as soon as it and every sample before it have finished; one that finishes
early is held (up to :data:`HELD_LIMIT` of them, then read back from its
committed result file when its turn comes).  So the driver's work on the
tables overlaps the gating, and its memory does not grow with the number of
samples.  The tables are opened on the first hand-over, once the workers
are busy, because that imports pandas.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import OutputError
from .resume import ResultCache, SampleRecord, SampleSummary

if TYPE_CHECKING:
    from .assemble import TableAssembler, TableOptions

__all__ = ["HELD_LIMIT", "TableFeed"]

#: Finished samples kept in memory while an earlier one is still running (about 0.15 MB each).
HELD_LIMIT = 32


class TableFeed:
    """Hands finished samples to the run's tables in input order.

    Parameters
    ----------
    order : sequence of str
        Every sample of the run, in input order.
    cache : ResultCache
        Where committed results are read back from.
    out : Path
        The output folder.
    options : callable
        Returns the :class:`TableOptions` (called once, when the tables open).
    observe : callable, optional
        Sees every record handed over (the manifest's tallies).
    """

    def __init__(self, order: Sequence[str], cache: ResultCache, out: Path, options: Callable[[], TableOptions],
                 observe: Callable[[SampleRecord], None] | None = None) -> None:
        self.order, self.cache, self.out = list(order), cache, out
        self.options, self.observe = options, observe
        self.cursor = 0
        self.held: dict[str, SampleRecord] = {}
        self.tables: TableAssembler | None = None

    def __enter__(self) -> TableFeed:
        return self

    def __exit__(self, *exc: Any) -> bool | None:
        if self.tables is not None:  # on an error the temporaries go; nothing is published
            return self.tables.__exit__(*exc)
        return None

    def finished(self, sample: str, document: Mapping[str, Any] | None, done: Mapping[str, SampleSummary],
                 failed: Mapping[str, Any]) -> None:
        """``sample`` finished (``document``: its committed result, None if it failed); hand over what is next."""
        next_up = self.cursor < len(self.order) and self.order[self.cursor] == sample
        if document is not None and (next_up or len(self.held) < HELD_LIMIT):
            self.held[sample] = SampleRecord.from_json(dict(document))
        self.advance(done, failed)

    def advance(self, done: Mapping[str, SampleSummary], failed: Mapping[str, Any]) -> None:
        """Hand over every sample from the cursor on whose turn has come (reused ones included)."""
        while self.cursor < len(self.order):
            sample = self.order[self.cursor]
            if sample in done:
                record = self.held.pop(sample, None) or self._reload(done[sample])
                self._open().add(record)
                if self.observe is not None:
                    self.observe(record)
            elif sample not in failed:
                return
            self.cursor += 1

    def finish(self, done: Mapping[str, SampleSummary], failed: Mapping[str, Any]) -> dict[str, Path]:
        """Hand over the rest and write the tables' last rows (published when the ``with`` block ends)."""
        self.advance(done, failed)
        if self.cursor < len(self.order):  # pragma: no cover - every sample is done or failed by now
            raise RuntimeError(f"sample {self.order[self.cursor]!r} neither finished nor failed")
        return self._open().finish()

    def _open(self) -> TableAssembler:
        if self.tables is None:
            from .assemble import TableAssembler  # pandas

            self.tables = TableAssembler(self.out, self.options()).__enter__()
        return self.tables

    def _reload(self, summary: SampleSummary) -> SampleRecord:
        record = self.cache.load(summary.sample, key=summary.key)
        if record is None:
            raise OutputError(f"the result of sample {summary.sample!r}, committed by this run, can no longer be "
                              "read; run again to recompute it", path=self.cache.path(summary.sample))
        return record
