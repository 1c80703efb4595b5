"""From decoded channel values to FCS scale values (docs/architecture.md, "Event values").

Per channel, in this order of precedence:

* the time channel (``$PnN`` "Time" in any case, or FCS 3.2 ``$PnTYPE Time``)
  is multiplied by ``$TIMESTEP`` when given; its ``$PnG`` is ignored (an
  amplifier gain on a clock makes no sense, yet instruments write one);
* ``$PnE f1,f2`` with f1 > 0 (log amplification): ``f2 * 10**(f1 * x / $PnR)``,
  f2 = 0 read as 1;
* otherwise linear: divided by ``$PnG`` when present and not 0 or 1.

These are the values FlowIO's ``as_array(preprocess=True)`` returns.
"""

from __future__ import annotations

from collections.abc import Mapping
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FcsError, FcsWarning
from .text import get_float, get_str

__all__ = ["ChannelScale", "channel_scales"]


@dataclass(frozen=True)
class ChannelScale:
    """The scaling of one channel; ``identity`` when it leaves values unchanged."""

    decades: float = 0.0
    log_zero: float = 1.0
    range: float = 0.0
    gain: float = 1.0
    timestep: float = 1.0

    @property
    def identity(self) -> bool:
        return self.decades == 0 and self.gain == 1.0 and self.timestep == 1.0

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Scale ``values`` (n_events,) float64 in place where possible; returns the result."""
        if self.decades > 0:
            # float_power goes through the C library's pow (correctly rounded with glibc);
            # np.power's SIMD loop is off by one ulp on ~5% of values, which would break
            # exact agreement with the published scale values (data1_preprocessed.npy).
            values = np.float_power(10.0, self.decades * values / self.range)
            if self.log_zero != 1.0:
                values *= self.log_zero
            return values
        if self.timestep != 1.0:
            values *= self.timestep
        if self.gain != 1.0:
            values /= self.gain
        return values


def _is_time(keywords: Mapping[str, str], n: int) -> bool:
    name = (get_str(keywords, f"$P{n}N") or "").lower()
    kind = (get_str(keywords, f"$P{n}TYPE") or "").lower()
    return name == "time" or kind == "time"


def channel_scales(keywords: Mapping[str, str], n_par: int, path: Path) -> tuple[ChannelScale, ...]:
    """The :class:`ChannelScale` of every parameter, from ``$PnE``, ``$PnG``, ``$PnR``, ``$TIMESTEP``.

    Raises
    ------
    FcsError
        Malformed ``$PnE``/``$PnG``/``$TIMESTEP``, or a log channel without a positive ``$PnR``.
    """
    scales = []
    for n in range(1, n_par + 1):
        if _is_time(keywords, n):
            scales.append(ChannelScale(timestep=_timestep(keywords, path)))
            continue
        decades, log_zero = _amplification(keywords, n, path)
        if decades > 0:
            pnr = get_float(keywords, f"$P{n}R", path)
            if pnr is None or pnr <= 0:
                raise FcsError(f"$P{n}E declares log amplification but $P{n}R is missing or not positive", path=path)
            scales.append(ChannelScale(decades=decades, log_zero=log_zero or 1.0, range=pnr))
            continue
        gain = get_float(keywords, f"$P{n}G", path, default=1.0)
        scales.append(ChannelScale(gain=1.0 if gain in (0.0, None) else gain))
    return tuple(scales)


def _timestep(keywords: Mapping[str, str], path: Path) -> float:
    """``$TIMESTEP``, read only when a time channel needs it.

    Anonymised exports overwrite it with junk (``xxxxxxxxx``); the time channel is
    then left unscaled with an :class:`FcsWarning` rather than losing the file.
    """
    try:
        timestep = get_float(keywords, "$TIMESTEP", path, default=1.0)
    except FcsError as exc:
        warnings.warn(f"{path}: {exc.message}; Time channel left unscaled", FcsWarning, stacklevel=5)
        return 1.0
    assert timestep is not None
    if timestep <= 0:
        warnings.warn(f"{path}: $TIMESTEP is {timestep}, not positive; Time channel left unscaled", FcsWarning, stacklevel=5)
        return 1.0
    return timestep


def _amplification(keywords: Mapping[str, str], n: int, path: Path) -> tuple[float, float]:
    value = get_str(keywords, f"$P{n}E")
    if value is None:
        return 0.0, 0.0
    parts = [p.strip() for p in value.split(",")]
    try:
        decades, log_zero = (float(p) for p in parts)
    except ValueError:
        raise FcsError(f"$P{n}E is {value!r}, expected 'f1,f2' (two numbers)", path=path) from None
    if not (decades >= 0 and log_zero >= 0):
        raise FcsError(f"$P{n}E is {value!r}; both numbers must be non-negative finite", path=path)
    return decades, log_zero
