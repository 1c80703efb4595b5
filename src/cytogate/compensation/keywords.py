"""Spillover matrices stored in FCS keywords, as :class:`cytogate.compensation.Spillover`.

Looked up in this order (the first one present wins):

* ``$SPILLOVER`` (FCS 3.1), ``SPILL`` (BD FACSDiva), ``$SPILL``, ``SPILLOVER``, and
  ``$COMP`` when written the same way: ``n,name_1,...,name_n,m_11,m_12,...,m_nn``
  with rows the source detector.  A ``$COMP`` without names (``n`` followed by
  ``n*n`` numbers, FCS 3.0) applies to parameters 1..n.
* Beckman Coulter ``$DFCiTOj``: the percentage of the signal of fluorescence
  detector ``FLi`` that appears in detector ``FLj`` (checked on the Navios and
  FC500 files of the corpus: FITC→PE 13.4, PE→ECD 44.8, ECD→PC5.5 29.2), so the
  spillover matrix has 1 on the diagonal and ``value / 100`` at row i, column j.
  Detector ``FLi`` is a parameter whose ``$PnN`` is ``FLi`` followed by a
  non-digit (``FL1 Log``, ``FL1 INT LOG``, ``FL1-H``); when a detector is recorded
  twice (FC500: ``FL1 Log`` and ``FL1 Lin``), one family is used for all;
  detectors that no parameter names are left out.

A keyword that cannot be read as a matrix (the MACSQuant export writes the
channel names but no coefficients) gives ``None`` and an :class:`FcsWarning`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import CompensationError, FcsWarning
from .matrix import Spillover

__all__ = ["spillover_from_keywords"]

_MATRIX_KEYS = ("$SPILLOVER", "SPILL", "$SPILL", "SPILLOVER", "$COMP")
_DFC = re.compile(r"^\$DFC(\d+)TO(\d+)$")


def _warn(path: Path | None, message: str) -> None:
    where = f"{path}: " if path is not None else ""
    warnings.warn(f"{where}{message}; spillover ignored", FcsWarning, stacklevel=5)


def _parse_matrix(key: str, value: str, channels: Sequence[str], path: Path | None) -> Spillover | None:
    parts = [p.strip() for p in value.split(",")]
    try:
        n = int(float(parts[0]))
    except (ValueError, OverflowError):
        _warn(path, f"{key} does not start with a channel count ({value[:40]!r})")
        return None
    if n <= 0:
        return None
    rest = parts[1:]
    if len(rest) == n + n * n:
        names, numbers = rest[:n], rest[n:]
    elif key == "$COMP" and len(rest) == n * n and n <= len(channels):
        names, numbers = list(channels[:n]), rest
    else:
        _warn(path, f"{key} declares {n} channels but holds {len(rest)} fields, expected {n + n * n}")
        return None
    try:
        matrix = np.array([float(x) for x in numbers], dtype=np.float64).reshape(n, n)
    except ValueError:
        _warn(path, f"{key} holds a coefficient that is not a number")
        return None
    try:
        return Spillover(matrix, tuple(names), source=key)
    except CompensationError as exc:
        _warn(path, f"{key} is not a valid matrix ({exc})")
        return None


def _detector_parameters(channels: Sequence[str], detectors: Sequence[int]) -> dict[int, str]:
    """Map detector numbers to parameter names (``FL3`` -> ``FL3 Log``).

    FC500 files record each detector twice (``FL1 Log`` and ``FL1 Lin``); the
    parameters of one family (same text after ``FLi``) are used together, the
    family covering most detectors first, then the one appearing first.
    """
    families: dict[str, dict[int, tuple[int, str]]] = {}
    for position, name in enumerate(channels):
        match = re.match(r"^\s*FL(\d+)(?!\d)(.*)$", name, re.IGNORECASE)
        if match is None or int(match.group(1)) not in detectors:
            continue
        family = families.setdefault(match.group(2).strip().upper(), {})
        family.setdefault(int(match.group(1)), (position, name))
    if not families:
        return {}
    best = max(families.values(), key=lambda fam: (len(fam), -min(pos for pos, _ in fam.values())))
    return {detector: name for detector, (_, name) in best.items()}


def _parse_dfc(keywords: Mapping[str, str], channels: Sequence[str], path: Path | None) -> Spillover | None:
    entries: dict[tuple[int, int], float] = {}
    for key, value in keywords.items():
        match = _DFC.match(key)
        if match is None:
            continue
        try:
            entries[(int(match.group(1)), int(match.group(2)))] = float(value)
        except ValueError:
            _warn(path, f"{key} is {value!r}, not a number")
            return None
    if not entries:
        return None
    detectors = sorted({i for pair in entries for i in pair})
    by_detector = _detector_parameters(channels, detectors)
    mapped = [(d, by_detector[d]) for d in detectors if d in by_detector]
    if not mapped:
        _warn(path, "$DFCiTOj keywords name detectors FLi that no $PnN matches")
        return None
    index = {d: k for k, (d, _) in enumerate(mapped)}
    matrix = np.eye(len(mapped))
    for (i, j), percent in entries.items():
        if i != j and i in index and j in index:
            matrix[index[i], index[j]] = percent / 100.0
    try:
        return Spillover(matrix, tuple(name for _, name in mapped), source="$DFCiTOj")
    except CompensationError as exc:
        _warn(path, f"$DFCiTOj keywords do not form a valid matrix ({exc})")
        return None


def spillover_from_keywords(
    keywords: Mapping[str, str], channels: Sequence[str], *, path: Path | None = None
) -> Spillover | None:
    """The spillover matrix an FCS file carries, or None.

    Parameters
    ----------
    keywords : mapping
        TEXT keywords (upper-case keys).
    channels : sequence of str
        Raw ``$PnN`` names in parameter order (to name ``$COMP``/``$DFC`` matrices).
    path : Path, optional
        For warning messages.
    """
    for key in _MATRIX_KEYS:
        value = keywords.get(key)
        if value is not None and value.strip():
            return _parse_matrix(key, value, channels, path)
    return _parse_dfc(keywords, channels, path)
