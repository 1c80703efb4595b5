"""What an FCS file holds, as a JSON-ready dictionary, without reading its events."""

from __future__ import annotations

import os
from typing import Any

__all__ = ["describe"]


def describe(path: str | os.PathLike[str], *, dataset: int = 0) -> dict[str, Any]:
    """Metadata of one data set of an FCS file: version, events, channels, spillover, keywords.

    Only the HEADER and TEXT segments are read (:func:`cytogate.fcs.read_metadata`),
    so this is instant on any file size.

    Raises
    ------
    FcsError
        The file cannot be read or its metadata are invalid.
    """
    from .reader import read_metadata

    sample = read_metadata(path, dataset=dataset)
    words = sample.keywords
    channels = []
    for n, (name, marker) in enumerate(zip(sample.channels, sample.markers), start=1):
        channels.append(
            {
                "index": n,
                "name": name,
                "raw_name": words.get(f"$P{n}N", "").strip() or name,
                "marker": marker,
                "bits": _clean(words.get(f"$P{n}B")),
                "range": _clean(words.get(f"$P{n}R")),
                "amplification": _clean(words.get(f"$P{n}E")),
                "gain": _clean(words.get(f"$P{n}G")),
            }
        )
    spill = sample.spillover
    return {
        "path": str(sample.path),
        "name": sample.name,
        "version": sample.version,
        "n_events": sample.n_events,
        "n_channels": len(sample.channels),
        "n_datasets": sample.n_datasets,
        "dataset": sample.dataset,
        "channels": channels,
        "spillover": None
        if spill is None
        else {
            "source": spill.source,
            "channels": list(spill.channels),
            "matrix": spill.matrix.tolist(),
            "identity": spill.is_identity,
        },
        "keywords": dict(words),
    }


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None
