"""Assemble the final tables of a run from its per-sample records.

Tables are built only from the per-sample result files (see
:mod:`cytogate.batch.resume`), read back one at a time and streamed into
each table (:mod:`cytogate.batch.table_stream`), so a resumed run and an
uninterrupted one produce the same bytes and the driver's memory does not
grow with the number of samples.  Rows follow the input order, then the
strategy's population order.  :func:`counts_table` and :func:`stats_table`
build a table of any records in memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
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

__all__ = ["COUNTS_COLUMNS", "FAILURE_COLUMNS", "QC_COLUMNS", "counts_table", "stats_table", "write_tables"]

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


def write_tables(out: Path, samples: Sequence[SampleSummary], load: Callable[[SampleSummary], SampleRecord],
                 failures: Sequence[Mapping[str, str]], *, metadata: Mapping[str, Mapping[str, Any]] | None,
                 sheet: SampleSheet | None, absolute: AbsoluteOptions, qc: bool, stats_scale: str = "compensated",
                 flowjo_counts: Mapping[str, Mapping[str, int]] | None = None,
                 panels: Mapping[str, str] | None = None,
                 observe: Callable[[SampleRecord], None] | None = None) -> dict[str, Path]:
    """Write counts.csv/.parquet, stats.parquet, fits.parquet, gates.json, failures.csv and (with QC) qc.csv.

    One pass over ``samples`` (input order): ``load`` reads each sample's
    cached result, its rows go to every table, and ``observe`` sees it (for
    the manifest's tallies); only one sample's tables and one Parquet row
    group are in memory at a time.  Every file appears whole or not at all.
    ``flowjo_counts`` (sample -> population -> count, from a FlowJo workspace)
    adds the ``flowjo_count`` column; ``panels`` (sample -> panel, a study)
    adds ``panel`` to the statistics after ``sample`` (the counts take it from
    the sheet's metadata).
    """
    def with_flowjo(table: pd.DataFrame) -> pd.DataFrame:
        if flowjo_counts is None:
            return table
        from .flowjo_counts import with_flowjo_counts

        return with_flowjo_counts(table, flowjo_counts)

    names = ("counts.csv", "counts.parquet", "stats.parquet", "fits.parquet", GATES_FILE)
    with ExitStack() as files:
        handles = [files.enter_context(atomic_file(out / name)) for name in names]
        counts_csv, counts_parquet = CsvStream(handles[0], "counts.csv"), ParquetStream(handles[1], "counts.parquet")
        stats = ParquetStream(handles[2], "stats.parquet", {"cytogate_stats_schema": str(STATS_SCHEMA),
                                                            "cytogate_stats_scale": stats_scale})
        fits, gates = ParquetStream(handles[3], "fits.parquet"), GatesFileStream(handles[4])
        for summary in samples:
            record = load(summary)
            counts = with_flowjo(counts_table([record], metadata, sheet, absolute))
            counts_csv.add(counts)
            counts_parquet.add(counts)
            if len(record.stats):
                stats.add(_with_panels(record.stats, panels))
            if record.fits:
                fits.add(fits_table(record.fits))
            gates.add(record.sample, record.gates)
            if observe is not None:
                observe(record)
        empty_counts = with_flowjo(counts_table([], metadata, sheet, absolute))
        counts_csv.finish(empty_counts)
        counts_parquet.finish(empty_counts)
        stats.finish(_with_panels(stats_table([]), panels))
        fits.finish(fits_table([]))
        gates.finish()
    written = {name: out / name for name in names}
    written["failures.csv"] = write_csv(out / "failures.csv", pd.DataFrame(list(failures),
                                                                            columns=list(FAILURE_COLUMNS)))
    if qc:
        written["qc.csv"] = write_csv(out / "qc.csv", qc_table(samples))
    return written
