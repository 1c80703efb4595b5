"""Assemble the final tables of a run from its per-sample records.

Tables are built only from records that went through their JSON form (see
:mod:`cytogate.batch.resume`), handed over in input order as samples finish
(:mod:`cytogate.batch.table_feed`) and streamed into each file in batches
(:mod:`cytogate.batch.table_stream`), so a resumed run and an uninterrupted
one produce the same bytes and the driver's memory does not grow with the
number of samples.  Rows follow the input order, then the
strategy's population order.  :func:`counts_table` and :func:`stats_table`
build a table of any records in memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .absolute import AbsoluteOptions, absolute_counts
from ..atomic import atomic_file, write_csv
from .fits import fits_table
from .gate_record import GATES_FILE, GatesFileStream
from .resume import SampleRecord, SampleSummary
from .samplesheet import SampleSheet
from .stats import STATS_COLUMNS
from .table_stream import CsvStream, ParquetStream

__all__ = ["ASSEMBLY_BATCH", "COUNTS_COLUMNS", "FAILURE_COLUMNS", "QC_COLUMNS", "TableAssembler", "TableOptions",
           "counts_table", "stats_table", "write_side_tables", "write_tables"]

COUNTS_COLUMNS = ("sample", "file", "population", "name", "parent", "count", "parent_count",
                  "freq_parent", "freq_total")
FAILURE_COLUMNS = ("file", "sample", "stage", "reason")
QC_COLUMNS = ("sample", "file", "checked", "mode", "n_events", "n_events_kept", "n_bins", "bad_bins_rate",
              "bad_bins_signal", "events_flagged", "events_removed", "segments")


def _with_metadata(table: pd.DataFrame, metadata: Mapping[str, Any], sheet: SampleSheet) -> pd.DataFrame:
    for column in sheet.columns:
        values = pd.Series([metadata.get(column)] * len(table), index=table.index, dtype=object)
        dtype = sheet.dtypes.get(column, "object")
        try:
            table[column] = values.astype(dtype) if dtype != "object" else values
        except (TypeError, ValueError):
            table[column] = values
    return table


def counts_table(records: Sequence[SampleRecord], metadata: Mapping[str, Mapping[str, Any]] | None = None,
                 sheet: SampleSheet | None = None,
                 absolute: AbsoluteOptions = AbsoluteOptions()) -> pd.DataFrame:
    """The ``counts.csv`` table: engine columns, then sheet columns, then absolute counts.

    ``cells_per_ul`` and ``absolute_method`` are added when a sample sheet is given.
    """
    parts = []
    for record in records:
        table = record.counts.copy()
        extra = [c for c in table.columns if c not in COUNTS_COLUMNS]
        table = table[[c for c in COUNTS_COLUMNS if c in table.columns] + extra]
        if sheet is not None:
            meta = (metadata or {}).get(record.sample, {})
            table = _with_metadata(table, meta, sheet)
            per_ul, method = absolute_counts(table, meta, absolute)
            table["cells_per_ul"] = per_ul
            table["absolute_method"] = pd.Series(method, index=table.index, dtype=object)
        parts.append(table)
    if not parts:
        columns = list(COUNTS_COLUMNS) + (list(sheet.columns) + ["cells_per_ul", "absolute_method"] if sheet else [])
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)


def stats_table(records: Sequence[SampleRecord]) -> pd.DataFrame:
    parts = [r.stats for r in records if len(r.stats)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c not in ("sample", "population", "channel",
                                                                         "marker", "scale") else object)
                             for c in STATS_COLUMNS})
    return pd.concat(parts, ignore_index=True)


def qc_table(records: Sequence[SampleSummary | SampleRecord]) -> pd.DataFrame:
    rows = []
    for r in records:
        qc = r.qc or {}
        rows.append({"sample": r.sample, "file": r.file, "checked": bool(qc.get("checked", False)),
                     "mode": qc.get("mode", ""), "n_events": r.n_events, "n_events_kept": r.n_events_kept,
                     **{k: int(qc.get(k, 0)) for k in ("n_bins", "bad_bins_rate", "bad_bins_signal",
                                                       "events_flagged", "events_removed")},
                     "segments": json.dumps(qc.get("segments", []))})
    return pd.DataFrame(rows, columns=list(QC_COLUMNS))


def _with_panels(table: pd.DataFrame, panels: Mapping[str, str] | None) -> pd.DataFrame:
    if panels is None:
        return table
    table.insert(1, "panel", pd.Series([panels.get(s) for s in table["sample"]], index=table.index, dtype=object))
    return table


# 2: the default scale is the gates' compensated values; each row's ``scale`` says what it is
STATS_SCHEMA = 2
#: Samples whose tables are joined before they go to the files: few enough to stay small in memory,
#: enough that pandas' and Arrow's cost per call is paid once per batch, not once per sample.
ASSEMBLY_BATCH = 64


@dataclass(frozen=True)
class TableOptions:
    """What the run's tables add to each sample's rows (see :class:`TableAssembler`)."""

    metadata: Mapping[str, Mapping[str, Any]] | None = None
    sheet: SampleSheet | None = None
    absolute: AbsoluteOptions = AbsoluteOptions()
    stats_scale: str = "compensated"
    flowjo_counts: Mapping[str, Mapping[str, int]] | None = None  # a FlowJo workspace's: ``flowjo_count``
    panels: Mapping[str, str] | None = None  # sample -> panel, a study: ``panel`` in the statistics


_STREAMED = ("counts.csv", "counts.parquet", "stats.parquet", "fits.parquet", GATES_FILE)


class TableAssembler:
    """counts.csv/.parquet, stats.parquet, fits.parquet and gates.json, fed one finished sample at a time.

    Samples must come in input order.  Only :data:`ASSEMBLY_BATCH` samples'
    tables and one Parquet row group are held; every file appears whole when
    the ``with`` block ends after :meth:`finish`, or not at all.
    ``observe`` sees every record (the manifest's tallies).
    """

    def __init__(self, out: Path, options: TableOptions,
                 observe: Callable[[SampleRecord], None] | None = None) -> None:
        self.out, self.options, self.observe = out, options, observe
        self.files = ExitStack()
        self.batch: list[SampleRecord] = []

    def __enter__(self) -> TableAssembler:
        with ExitStack() as opening:  # a file that cannot be opened closes (and removes) the others
            handles = [opening.enter_context(atomic_file(self.out / name)) for name in _STREAMED]
            self.files = opening.pop_all()
        self.counts_csv = CsvStream(handles[0], "counts.csv")
        self.counts_parquet = ParquetStream(handles[1], "counts.parquet")
        self.stats = ParquetStream(handles[2], "stats.parquet", {"cytogate_stats_schema": str(STATS_SCHEMA),
                                                                 "cytogate_stats_scale": self.options.stats_scale})
        self.fits, self.gates = ParquetStream(handles[3], "fits.parquet"), GatesFileStream(handles[4])
        return self

    def __exit__(self, *exc: Any) -> bool | None:
        return self.files.__exit__(*exc)

    def add(self, record: SampleRecord) -> None:
        self.batch.append(record)
        if len(self.batch) >= ASSEMBLY_BATCH:
            self._flush()

    def finish(self) -> dict[str, Path]:
        self._flush()
        empty_counts = self._counts([])
        self.counts_csv.finish(empty_counts)
        self.counts_parquet.finish(empty_counts)
        self.stats.finish(_with_panels(stats_table([]), self.options.panels))
        self.fits.finish(fits_table([]))
        self.gates.finish()
        return {name: self.out / name for name in _STREAMED}

    def _counts(self, records: Sequence[SampleRecord]) -> pd.DataFrame:
        o = self.options
        table = counts_table(records, o.metadata, o.sheet, o.absolute)
        if o.flowjo_counts is None:
            return table
        from .flowjo_counts import with_flowjo_counts

        return with_flowjo_counts(table, o.flowjo_counts)

    def _flush(self) -> None:
        records, self.batch = self.batch, []
        if not records:
            return
        counts = self._counts(records)
        self.counts_csv.add(counts)
        self.counts_parquet.add(counts)
        if any(len(r.stats) for r in records):
            self.stats.add(_with_panels(stats_table(records), self.options.panels))
        rows = [row for r in records for row in r.fits]
        if rows:
            self.fits.add(fits_table(rows))
        for record in records:
            self.gates.add(record.sample, record.gates)
            if self.observe is not None:
                self.observe(record)


def write_side_tables(out: Path, failures: Sequence[Mapping[str, str]], samples: Sequence[SampleSummary], *,
                      qc: bool) -> dict[str, Path]:
    """failures.csv and (with QC) qc.csv: one small row per sample."""
    written = {"failures.csv": write_csv(out / "failures.csv", pd.DataFrame(list(failures),
                                                                            columns=list(FAILURE_COLUMNS)))}
    if qc:
        written["qc.csv"] = write_csv(out / "qc.csv", qc_table(samples))
    return written


def write_tables(out: Path, samples: Sequence[SampleSummary], load: Callable[[SampleSummary], SampleRecord],
                 failures: Sequence[Mapping[str, str]], options: TableOptions = TableOptions(), *, qc: bool = False,
                 observe: Callable[[SampleRecord], None] | None = None) -> dict[str, Path]:
    """Every table of a run from its finished samples (input order), ``load`` reading each one's result."""
    with TableAssembler(out, options, observe) as tables:
        for summary in samples:
            tables.add(load(summary))
        written = tables.finish()
    return {**written, **write_side_tables(out, failures, samples, qc=qc)}
