"""What a data-driven fit returns, and the shared input checks.

Every fitter in :mod:`cytogate.adaptive` returns an :class:`AdaptiveFit`: the
fitted parameters (a threshold, a ratio band, a cluster's mean and covariance),
whether the fallback was used and why, and how many events it saw.  The record
is plain data so a batch run can store it next to the counts and a reviewer can
see where each gate landed on each file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import GateError

__all__ = ["AdaptiveFit", "finite_values", "check_bounds", "FitFailed"]


class FitFailed(Exception):
    """Internal signal: the data do not support a fit; the caller uses the fallback."""


@dataclass(frozen=True)
class AdaptiveFit:
    """The outcome of fitting one data-driven gate to one file.

    Parameters
    ----------
    method : str
        Fitter name (``"density_valley"``, ``"gmm"``, ``"singlet"``, ``"tail"``, ``"quantile"``).
    params : mapping of str to Any
        Fitted parameters, JSON-friendly (floats and lists of floats).
    used_fallback : bool
        True when fitting failed and the declared fallback was used instead.
    reason : str
        Why the fallback was used (empty when it was not).
    n_events : int
        Finite events the fit saw.
    diagnostics : mapping of str to Any
        Extra facts for review (peak positions, bandwidth, component weights, ...).
    parameter : str
        Which parameter of the gate the fit set (``CD3.min``, ``divider.CD4``; empty
        where the fit sets the whole gate: singlet band, mixture component).
    confidence : float or None
        How clearly the data supported the fit, 0-1 (a valley's relative depth,
        how far a tail has fallen); 0 for a fallback, None where not measured.
    """

    method: str
    params: Mapping[str, Any]
    used_fallback: bool = False
    reason: str = ""
    n_events: int = 0
    diagnostics: Mapping[str, Any] = field(default_factory=dict)
    confidence: float | None = None
    parameter: str = ""

    @property
    def status(self) -> str:
        """``fitted`` when the gate follows the data, ``fallback`` when the declared fallback was used."""
        return "fallback" if self.used_fallback else "fitted"

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for manifests and JSON."""
        return {
            "method": self.method,
            "parameter": self.parameter,
            "params": _plain(self.params),
            "used_fallback": self.used_fallback,
            "status": self.status,
            "confidence": self.confidence,
            "reason": self.reason,
            "n_events": self.n_events,
            "diagnostics": _plain(self.diagnostics),
        }


_PLAIN_TYPES = frozenset({float, int, str, bool, type(None)})


def _plain(value: Any) -> Any:
    if type(value) in _PLAIN_TYPES:  # most diagnostics: nothing to convert
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if all(type(v) in _PLAIN_TYPES for v in value):  # peaks, masses, a window: copied as they are
            return list(value)
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


def finite_values(values: np.ndarray, *, what: str) -> np.ndarray:
    """1-D float64 ``values`` without NaN or infinities (the values themselves when all are finite).

    The fits only read the result, so values that are all finite are not copied.

    Parameters
    ----------
    values : (n_events,) array
    what : str
        Name used in error messages.
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise GateError(f"{what}: expected a 1-D array of event values, got shape {array.shape}")
    finite = np.isfinite(array)
    return array if finite.all() else array[finite]


def check_bounds(bounds: tuple[float, float] | None, *, what: str) -> tuple[float, float]:
    """Validate ``(low, high)`` bounds; ``None`` means unbounded."""
    if bounds is None:
        return (-np.inf, np.inf)
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise GateError(f"{what}: bounds must be two numbers [low, high], got {bounds!r}") from None
    if np.isnan(low) or np.isnan(high) or not low < high:
        raise GateError(f"{what}: bounds must satisfy low < high, got [{low}, {high}]")
    return (low, high)
