"""Absolute counts (cells per µL) from counting beads or from a haematology count.

Two methods, tried in this order for each sample, the one used recorded on every row:

``beads`` (single platform)
    A known number of counting beads is added to a known volume of sample; the
    strategy gates the beads as a population.  For a population P::

        cells_per_ul = count(P) / count(beads) * beads_per_test / volume_ul

    Needs sheet columns ``beads_per_test`` and ``volume_ul`` and a bead population
    (``bead_population`` option, else the population named ``Beads``, any case).
``dual_platform``
    A white-cell (``wbc_per_ul``) or lymphocyte (``lymphocytes_per_ul``) count
    from a haematology analyser, scaled by the population's events relative to
    the matching reference population's (``Leukocytes``/``CD45+`` resp.
    ``Lymphocytes``)::

        cells_per_ul = wbc_per_ul * count(P) / count(reference)

    Both counts come from the same acquired volume, so the ratio of events is
    the ratio of concentrations.  Every population gated within the
    reference's parent gets a value: the reference, its descendants and its
    sibling branches, so B cells gated under a scatter ``Lymphocytes`` gate get
    one from a ``Leukocytes`` (CD45+) reference beside it.  Populations outside
    the reference's parent (debris, doublets, dead cells, or the ancestors
    themselves) hold events the haematology count does not measure and get
    none, and neither do the counting beads.

Rows without a usable method get NaN and method ``none``; the method column
names the reference, e.g. ``dual_platform:wbc_per_ul/Leukocytes``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AbsoluteOptions", "absolute_counts"]

_BEADS = re.compile(r"^(counting[ _-]?)?beads?$", re.IGNORECASE)
_LEUKOCYTES = re.compile(r"^(leukocytes?|leucocytes?|wbc|cd45\+?)$", re.IGNORECASE)
_LYMPHOCYTES = re.compile(r"^lymph(ocyte)?s?$", re.IGNORECASE)


@dataclass(frozen=True)
class AbsoluteOptions:
    """Which populations the absolute-count methods use (None: found by name)."""

    bead_population: str | None = None
    wbc_reference: str | None = None
    lymphocyte_reference: str | None = None


def _number(metadata: Mapping[str, Any], column: str) -> float | None:
    try:
        value = float(metadata.get(column))  # type: ignore[arg-type]  # None and text fail below
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def _find(paths: list[str], names: list[str], explicit: str | None, pattern: re.Pattern[str]) -> str | None:
    if explicit is not None:
        return explicit if explicit in paths else None
    hits = [p for p, n in zip(paths, names) if pattern.match(n)]
    return hits[0] if len(hits) == 1 else None


def _under(path: str, reference: str) -> bool:
    return path == reference or path.startswith(reference.rstrip("/") + "/")


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def absolute_counts(counts: pd.DataFrame, metadata: Mapping[str, Any],
                    options: AbsoluteOptions = AbsoluteOptions()) -> tuple[np.ndarray, np.ndarray]:
    """Cells per µL and the method for each row of one sample's counts.

    Parameters
    ----------
    counts : DataFrame
        One sample's rows (``population``, ``name``, ``count`` columns).
    metadata : mapping
        That sample's sheet row (``beads_per_test``, ``volume_ul``,
        ``wbc_per_ul``, ``lymphocytes_per_ul`` are used when present).
    options : AbsoluteOptions

    Returns
    -------
    cells_per_ul : (n_rows,) float64 array
    method : (n_rows,) object array of str
    """
    paths = counts["population"].astype(str).tolist()
    names = counts["name"].astype(str).tolist()
    count = counts["count"].to_numpy(dtype=np.float64)
    by_path = dict(zip(paths, count))
    n = len(paths)
    result = np.full(n, np.nan)
    method = np.array(["none"] * n, dtype=object)

    beads = _find(paths, names, options.bead_population, _BEADS)
    per_test, volume = _number(metadata, "beads_per_test"), _number(metadata, "volume_ul")
    if beads is not None and per_test is not None and volume is not None and by_path[beads] > 0:
        factor = per_test / (by_path[beads] * volume)
        for i, path in enumerate(paths):
            if not _under(path, beads):
                result[i], method[i] = count[i] * factor, "beads"
        return result, method

    for column, explicit, pattern in (("wbc_per_ul", options.wbc_reference, _LEUKOCYTES),
                                      ("lymphocytes_per_ul", options.lymphocyte_reference, _LYMPHOCYTES)):
        total = _number(metadata, column)
        reference = _find(paths, names, explicit, pattern)
        if total is None or reference is None or by_path[reference] <= 0:
            continue
        label = f"dual_platform:{column}{reference}"
        within = _parent(reference)
        for i, path in enumerate(paths):
            covered = path != within and _under(path, within)
            bead = beads is not None and _under(path, beads) and not _under(reference, beads)
            if covered and not bead:
                result[i], method[i] = total * count[i] / by_path[reference], label
        return result, method
    return result, method
