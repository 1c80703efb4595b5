"""Assemble the final tables of a run from its per-sample records.

Tables are built only from records that went through their JSON form (see
:mod:`cytogate.batch.resume`), so a resumed run and an uninterrupted one
produce the same bytes.  Rows follow the input order, then the strategy's
population order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .absolute import AbsoluteOptions, absolute_counts
from ..atomic import write_csv, write_parquet
from .fits import fits_table
from .resume import SampleRecord
from .samplesheet import SampleSheet
from .stats import STATS_COLUMNS

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


def qc_table(records: Sequence[SampleRecord]) -> pd.DataFrame:
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


def write_tables(out: Path, records: Sequence[SampleRecord], failures: Sequence[Mapping[str, str]], *,
                 metadata: Mapping[str, Mapping[str, Any]] | None, sheet: SampleSheet | None,
                 absolute: AbsoluteOptions, qc: bool, stats_scale: str = "compensated",
                 flowjo_counts: Mapping[str, Mapping[str, int]] | None = None,
                 panels: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Write counts.csv/.parquet, stats.parquet, failures.csv and (with QC) qc.csv atomically.

    ``flowjo_counts`` (sample -> population -> count, from a FlowJo workspace)
    adds the ``flowjo_count`` column; ``panels`` (sample -> panel, a study)
    adds ``panel`` to the statistics after ``sample`` (the counts take it from
    the sheet's metadata).
    """
    counts = counts_table(records, metadata, sheet, absolute)
    if flowjo_counts is not None:
        from .flowjo_counts import with_flowjo_counts

        counts = with_flowjo_counts(counts, flowjo_counts)
    written = {
        "counts.csv": write_csv(out / "counts.csv", counts),
        "counts.parquet": write_parquet(out / "counts.parquet", counts),
        "stats.parquet": write_parquet(out / "stats.parquet", _with_panels(stats_table(records), panels),
                                       metadata={"cytogate_stats_schema": str(STATS_SCHEMA),
                                                 "cytogate_stats_scale": stats_scale}),
        "fits.parquet": write_parquet(out / "fits.parquet", fits_table([row for r in records for row in r.fits])),
        "failures.csv": write_csv(out / "failures.csv", pd.DataFrame(list(failures), columns=list(FAILURE_COLUMNS))),
    }
    if qc:
        written["qc.csv"] = write_csv(out / "qc.csv", qc_table(records))
    return written
