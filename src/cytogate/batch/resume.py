"""Per-sample result cache, so a killed or repeated run skips finished samples.

Each finished sample is one JSON file ``DIR/.cytogate/samples/<sample>.json``
written atomically; it is the sample's commit point (its membership file, when
asked for, is written before it).  The file carries a key: the SHA-256 of the
strategy's SHA-256, the input's SHA-256, the cytogate version and every option
that changes per-sample results.  A cached result is reused only when the key
recomputed for the current run is identical, so a changed strategy, file,
option or cytogate version is recomputed, never reused.  The final tables are
always assembled from these files, so a resumed run and an uninterrupted one
write the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # a record is built without pandas in workers; tables are made on demand
    import pandas as pd

from .._version import __version__
from ..atomic import write_json

__all__ = ["CACHE_SCHEMA", "SampleRecord", "SampleSummary", "ResultCache", "cache_key", "frame_document", "record_document", "table_document"]

#: Version of the per-sample result files and of what they hold; results cached under another
#: version are recomputed.  2: geometric means exact at extreme magnitudes, sums of squares in
#: four chains.  3: counts carry ``gate_source``; the gates applied to the sample are kept; per-sample
#: fit records (fits.parquet).  4: statistics on the scale the gates saw.  5: statistics in one pass
#: per channel over membership classes (means compensated sums; last bits of means and SDs move).
CACHE_SCHEMA = 5


def cache_key(strategy_sha256: str, input_sha256: str, options: dict[str, Any]) -> str:
    """The key a cached sample result must carry to be reused (hex SHA-256)."""
    document = {
        "cache_schema": CACHE_SCHEMA,
        "cytogate": __version__,
        "strategy": strategy_sha256,
        "input": input_sha256,
        "options": options,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def _column_to_json(values: Any, kind: str) -> list[Any]:
    """One column's values as JSON: NaN as null, numbers as numbers, anything else as text."""
    if kind == "f":  # converted as a whole: a scalar np.isnan per value costs a microsecond
        array = np.asarray(values, dtype=np.float64)
        listed: list[Any] = array.tolist()
        for i in np.flatnonzero(np.isnan(array)).tolist():
            listed[i] = None
        return listed
    if kind in "iub":
        if isinstance(values, np.ndarray) and values.dtype.kind in "iub":
            return values.tolist()
        return [v.item() if isinstance(v, np.generic) else v for v in values]
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]


def frame_document(table: pd.DataFrame) -> dict[str, Any]:
    return table_document(list(table.columns), [str(t) for t in table.dtypes],
                          {col: table[col].to_numpy() for col in table.columns})


def table_document(columns: Sequence[str], dtypes: Sequence[str], data: Mapping[str, Iterable[Any]]) -> dict[str, Any]:
    """The JSON form of a table (what :class:`SampleRecord` stores), built without pandas.

    ``dtypes`` are pandas dtype names; ``data`` maps each column to its values.
    """
    return {"columns": list(columns), "dtypes": list(dtypes),
            "data": {col: _column_to_json(data[col], np.dtype(dtype).kind) for col, dtype in zip(columns, dtypes)}}


def _table_from_json(doc: dict[str, Any]) -> pd.DataFrame:
    import pandas as pd

    columns = {}
    for col, dtype in zip(doc["columns"], doc["dtypes"]):
        values = doc["data"][col]
        if dtype.startswith(("float", "int", "uint", "bool")):
            columns[col] = np.array([np.nan if v is None else v for v in values], dtype=dtype)
        else:
            columns[col] = pd.Series(values, dtype=object)
    return pd.DataFrame(columns, columns=doc["columns"])


@dataclass(frozen=True)
class SampleSummary:
    """What the driver keeps of a finished sample while a run goes on: the manifest's facts, no tables.

    The tables stay in the sample's cached result until the run's tables are
    assembled from those files, so the driver's memory does not grow with
    the number of samples' rows.
    """

    sample: str
    file: str
    key: str
    sha256: str
    n_events: int
    n_events_kept: int
    qc: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> SampleSummary:
        """From a cached result document (:meth:`SampleRecord.to_json`)."""
        return cls(sample=doc["sample"], file=doc["file"], key=doc["key"], sha256=doc["sha256"],
                   n_events=int(doc["n_events"]), n_events_kept=int(doc["n_events_kept"]), qc=doc.get("qc"),
                   seconds=dict(doc.get("seconds") or {}))


@dataclass(frozen=True, eq=False)
class SampleRecord:
    """The finished result of one sample (what is cached and assembled).

    Parameters
    ----------
    sample, file : str
        Sample name and input path or URL.
    key : str
        Cache key (see :func:`cache_key`).
    sha256 : str
        SHA-256 of the input file.
    n_events, n_events_kept : int
        Events in the file, and after acquisition-QC removal.
    counts : DataFrame
        The engine's counts rows for this sample (``counts.csv`` columns).
    stats : DataFrame
        Intensity statistics rows (see :mod:`cytogate.batch.stats`).
    qc : dict or None
        Acquisition-QC report, when QC ran.
    seconds : dict
        Wall-clock seconds per stage (read, qc, gate, stats, total).
    gates : dict
        The gates applied where they differ from the strategy's static gate
        (see :mod:`cytogate.batch.gate_record`).
    """

    sample: str
    file: str
    key: str
    sha256: str
    n_events: int
    n_events_kept: int
    counts: pd.DataFrame
    stats: pd.DataFrame
    qc: dict[str, Any] | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    gates: dict[str, Any] = field(default_factory=dict)
    fits: list[dict[str, Any]] = field(default_factory=list)  # fits.parquet rows (cytogate.batch.fits)

    def to_json(self) -> dict[str, Any]:
        return record_document(sample=self.sample, file=self.file, key=self.key, sha256=self.sha256,
                               n_events=self.n_events, n_events_kept=self.n_events_kept,
                               counts=frame_document(self.counts), stats=frame_document(self.stats),
                               qc=self.qc, seconds=self.seconds, gates=self.gates, fits=self.fits)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SampleRecord:
        return cls(
            sample=doc["sample"], file=doc["file"], key=doc["key"], sha256=doc["sha256"],
            n_events=int(doc["n_events"]), n_events_kept=int(doc["n_events_kept"]),
            counts=_table_from_json(doc["counts"]), stats=_table_from_json(doc["stats"]),
            qc=doc.get("qc"), seconds=dict(doc.get("seconds") or {}), gates=dict(doc.get("gates") or {}),
            fits=list(doc.get("fits") or []),
        )

    @property
    def summary(self) -> SampleSummary:
        return SampleSummary(self.sample, self.file, self.key, self.sha256, self.n_events, self.n_events_kept,
                             self.qc, dict(self.seconds))


def record_document(*, sample: str, file: str, key: str, sha256: str, n_events: int, n_events_kept: int,
                    counts: dict[str, Any], stats: dict[str, Any], qc: dict[str, Any] | None,
                    seconds: dict[str, float], gates: dict[str, Any] | None = None,
                    fits: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """:meth:`SampleRecord.to_json` from tables already in JSON form (:func:`table_document`)."""
    return {
        "cache_schema": CACHE_SCHEMA,
        "sample": sample,
        "file": file,
        "key": key,
        "sha256": sha256,
        "n_events": int(n_events),
        "n_events_kept": int(n_events_kept),
        "qc": qc,
        "seconds": seconds,
        "gates": gates or {},
        "counts": counts,
        "stats": stats,
        "fits": list(fits or []),
    }


class ResultCache:
    """The per-sample result files of one output folder.

    Parameters
    ----------
    folder : path-like
        The run's output folder; results live in ``folder/.cytogate/samples``.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.root = Path(folder) / ".cytogate" / "samples"

    def path(self, sample: str) -> Path:
        return self.root / f"{sample}.json"

    def peek_key(self, sample: str) -> str | None:
        """The key of the cached result of ``sample``, or None when absent or unreadable."""
        record = self.load(sample)
        return None if record is None else record.key

    def load(self, sample: str, key: str | None = None) -> SampleRecord | None:
        """The cached result, or None when absent, unreadable or (given ``key``) stale."""
        try:
            with open(self.path(sample), encoding="utf-8") as handle:
                doc = json.load(handle)
            if doc.get("cache_schema") != CACHE_SCHEMA or doc.get("sample") != sample:
                return None
            if key is not None and doc.get("key") != key:
                return None
            return SampleRecord.from_json(doc)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, record: SampleRecord | dict[str, Any]) -> None:
        """Atomically write one sample's result (its commit point), a record or its JSON document."""
        document = record if isinstance(record, dict) else record.to_json()
        write_json(self.path(document["sample"]), document)
