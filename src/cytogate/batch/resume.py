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
from typing import Any

import numpy as np
import pandas as pd

from .._version import __version__
from .outputs import write_json

__all__ = ["CACHE_SCHEMA", "SampleRecord", "ResultCache", "cache_key"]

CACHE_SCHEMA = 1


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


def _table_to_json(table: pd.DataFrame) -> dict[str, Any]:
    data = {}
    for col in table.columns:
        values = table[col].to_numpy()
        if values.dtype.kind == "f":
            data[col] = [None if np.isnan(v) else float(v) for v in values]
        elif values.dtype.kind in "iub":
            data[col] = values.tolist()
        else:
            data[col] = [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values]
    return {"columns": list(table.columns), "dtypes": [str(t) for t in table.dtypes], "data": data}


def _table_from_json(doc: dict[str, Any]) -> pd.DataFrame:
    columns = {}
    for col, dtype in zip(doc["columns"], doc["dtypes"]):
        values = doc["data"][col]
        if dtype.startswith(("float", "int", "uint", "bool")):
            columns[col] = np.array([np.nan if v is None else v for v in values], dtype=dtype)
        else:
            columns[col] = pd.Series(values, dtype=object)
    return pd.DataFrame(columns, columns=doc["columns"])


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

    def to_json(self) -> dict[str, Any]:
        return {
            "cache_schema": CACHE_SCHEMA,
            "sample": self.sample,
            "file": self.file,
            "key": self.key,
            "sha256": self.sha256,
            "n_events": int(self.n_events),
            "n_events_kept": int(self.n_events_kept),
            "qc": self.qc,
            "seconds": self.seconds,
            "counts": _table_to_json(self.counts),
            "stats": _table_to_json(self.stats),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SampleRecord:
        return cls(
            sample=doc["sample"], file=doc["file"], key=doc["key"], sha256=doc["sha256"],
            n_events=int(doc["n_events"]), n_events_kept=int(doc["n_events_kept"]),
            counts=_table_from_json(doc["counts"]), stats=_table_from_json(doc["stats"]),
            qc=doc.get("qc"), seconds=dict(doc.get("seconds") or {}),
        )


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

    def store(self, record: SampleRecord) -> None:
        """Atomically write one sample's result (its commit point)."""
        write_json(self.path(record.sample), record.to_json())
