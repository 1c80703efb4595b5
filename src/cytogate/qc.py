"""Acquisition QC: find time segments with an abnormal flow rate or drifting signal.

The idea behind flowAI and PeacoQC, in a deliberately simple and explainable
form.  The acquisition is cut into equal time bins (about ``events_per_bin``
events each, between ``min_bins`` and ``max_bins`` bins).  A bin is bad when

- its **flow rate** (events per time unit) is a robust outlier: ``|rate - median|
  > k_rate * 1.4826 * MAD`` over bins, with the MAD floored at ``min_rate_spread``
  of the median so a perfectly steady run does not flag noise; or
- the **median signal** of any checked channel in the bin is a robust outlier
  across bins by the same rule with ``k_signal`` (a clog, a bubble or a
  drifting laser shifts every event of a segment).

``mode="flag"`` only reports the bad segments; ``mode="remove"`` drops their
events before gating, so ``freq_total`` refers to the events kept (stated in
``qc.csv`` and ``manifest.json``).  Files without a Time channel are reported
as not checked.  NaN values are ignored in the medians.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .errors import StrategyError

__all__ = ["QcSpec", "acquisition_qc", "find_time_channel"]

_TIME = re.compile(r"^time$", re.IGNORECASE)
_SCATTER_OR_TIME = re.compile(r"^(time|event.*|[fs]sc.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class QcSpec:
    """Settings of the acquisition-QC step.

    Parameters
    ----------
    mode : {"flag", "remove"}
    time_channel : str or None
        None: the channel named ``Time`` (any case).
    channels : tuple of str or None
        Channels checked for drift; None: every channel but Time, scatter and event counters.
    events_per_bin, min_bins, max_bins : int
    k_rate, k_signal : float
        Robust z thresholds for flow rate and signal medians.
    min_rate_spread : float
        Floor of the rate spread as a fraction of the median rate.
    """

    mode: str = "flag"
    time_channel: str | None = None
    channels: tuple[str, ...] | None = None
    events_per_bin: int = 2000
    min_bins: int = 10
    max_bins: int = 500
    k_rate: float = 5.0
    k_signal: float = 6.0
    min_rate_spread: float = 0.05

    def __post_init__(self) -> None:
        if self.mode not in ("flag", "remove"):
            raise StrategyError(f"qc mode must be 'flag' or 'remove', not {self.mode!r}")
        if self.events_per_bin < 10 or not 2 <= self.min_bins <= self.max_bins:
            raise StrategyError("qc needs events_per_bin >= 10 and 2 <= min_bins <= max_bins")
        if min(self.k_rate, self.k_signal) <= 0 or self.min_rate_spread < 0:
            raise StrategyError("qc thresholds k_rate and k_signal must be > 0 and min_rate_spread >= 0")
        if self.channels is not None:
            object.__setattr__(self, "channels", tuple(str(c) for c in self.channels))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | str | None) -> QcSpec:
        """From a strategy's ``qc:`` entry: a mapping, or just the mode (``qc: remove``)."""
        if data is None or data is True:
            return cls()
        if isinstance(data, str):
            return cls(mode=data)
        if not isinstance(data, Mapping):
            raise StrategyError(f"qc must be a mapping or 'flag'/'remove', not {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise StrategyError(f"unknown qc settings {unknown}; known: {sorted(known)}")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["channels"] = None if self.channels is None else list(self.channels)
        return out


def find_time_channel(channels: Sequence[str], spec: QcSpec) -> str | None:
    if spec.time_channel is not None:
        return spec.time_channel if spec.time_channel in channels else None
    hits = [c for c in channels if _TIME.match(c)]
    return hits[0] if hits else None


def _robust_outliers(values: np.ndarray, k: float, floor: float = 0.0) -> np.ndarray:
    finite = np.isfinite(values)
    if finite.sum() < 3:
        return np.zeros(values.shape, dtype=bool)
    center = np.median(values[finite])
    spread = max(1.4826 * np.median(np.abs(values[finite] - center)), floor)
    if spread == 0:
        return np.zeros(values.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return finite & (np.abs(values - center) > k * spread)


def _segments(bad: np.ndarray, edges: np.ndarray) -> list[list[float]]:
    out: list[list[float]] = []
    for i in np.flatnonzero(bad):
        if out and out[-1][1] == edges[i]:
            out[-1][1] = float(edges[i + 1])
        else:
            out.append([float(edges[i]), float(edges[i + 1])])
    return out


def acquisition_qc(values: np.ndarray, channels: Sequence[str], spec: QcSpec) -> tuple[np.ndarray, dict[str, Any]]:
    """Find bad time segments of one acquisition.

    Parameters
    ----------
    values : (n_events, n_channels) array
        Event values (FCS scale), in acquisition order.
    channels : sequence of str, length n_channels
    spec : QcSpec

    Returns
    -------
    keep : (n_events,) bool array
        Events to keep: all True in ``flag`` mode or when nothing is bad.
    report : dict
        ``checked``, ``mode``, ``n_bins``, ``bad_bins_rate``, ``bad_bins_signal``,
        ``segments`` ([start, end) in Time units), ``events_flagged``, ``events_removed``.
    """
    channels = [str(c) for c in channels]
    n = values.shape[0]
    keep = np.ones(n, dtype=bool)
    report: dict[str, Any] = {"checked": False, "mode": spec.mode, "n_bins": 0, "bad_bins_rate": 0,
                              "bad_bins_signal": 0, "segments": [], "events_flagged": 0, "events_removed": 0}
    time_name = find_time_channel(channels, spec)
    if time_name is None:
        report["reason"] = "no Time channel"
        return keep, report
    time = np.asarray(values[:, channels.index(time_name)], dtype=np.float64)
    t0, t1 = np.nanmin(time) if n else 0.0, np.nanmax(time) if n else 0.0
    if n < 2 * spec.events_per_bin or not t1 > t0:
        report["reason"] = "too few events or no time span"
        return keep, report
    n_bins = int(np.clip(n // spec.events_per_bin, spec.min_bins, spec.max_bins))
    edges = np.linspace(t0, t1, n_bins + 1)
    which = np.clip(np.searchsorted(edges, time, side="right") - 1, 0, n_bins - 1)
    events = np.bincount(which, minlength=n_bins).astype(np.float64)
    rate_bad = _robust_outliers(events, spec.k_rate, spec.min_rate_spread * float(np.median(events)))

    checked = spec.channels if spec.channels is not None else tuple(c for c in channels if not _SCATTER_OR_TIME.match(c))
    order = np.argsort(which, kind="stable")
    starts = np.concatenate(([0], np.cumsum(events).astype(np.int64)))
    signal_bad = np.zeros(n_bins, dtype=bool)
    for name in checked:
        if name not in channels:
            continue
        column = np.asarray(values[:, channels.index(name)], dtype=np.float64)[order]
        medians = np.full(n_bins, np.nan)
        for b in range(n_bins):
            if events[b] >= 20:
                medians[b] = np.nanmedian(column[starts[b]:starts[b + 1]])
        signal_bad |= _robust_outliers(medians, spec.k_signal)
    bad = rate_bad | signal_bad
    flagged = bad[which]
    report.update(checked=True, n_bins=n_bins, bad_bins_rate=int(rate_bad.sum()),
                  bad_bins_signal=int((signal_bad & ~rate_bad).sum()), segments=_segments(bad, edges),
                  events_flagged=int(flagged.sum()), time_channel=time_name, channels=list(checked))
    if spec.mode == "remove":
        keep = ~flagged
        report["events_removed"] = int(flagged.sum())
    return keep, report
