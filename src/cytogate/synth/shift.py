"""Per-sample shifts: instrument drift and staining changes.

Real samples acquired on different days or sites do not sit in the same
place: photomultiplier voltages drift (every event of a detector scales),
scatter settings change, and a new antibody lot or a shorter incubation dims
or brightens one stain (only the specific signal scales, not the
autofluorescence or the negatives).  A fixed gate drawn on one sample then
cuts through populations of another; a data-driven gate must follow them.

A :class:`Shift` multiplies:

* ``fsc`` / ``ssc`` — every FSC (area and height) / SSC value;
* ``fluorescence`` — every fluorescence detector (global voltage drift);
* ``detectors`` — single detectors by ``$PnN``, on top of ``fluorescence``;
* ``staining`` — the specific signal of single markers by ``$PnS``.

Detector gains also change the spillover matrix the lab would measure that
day (``S'[i, j] = S[i, j] · g[j] / g[i]``); a shifted sample carries that
matrix, so compensating with it still recovers the (gain-scaled) stain signals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from ..errors import SynthError
from .panels import Panel

__all__ = ["Shift"]


def _check_factor(what: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise SynthError(f"shift {what} must be a positive finite factor, got {value}")
    return value


@dataclass(frozen=True)
class Shift:
    """Multiplicative drift of one sample (1.0 everywhere = no shift).

    Parameters
    ----------
    fsc, ssc : float
        Scatter gains.
    fluorescence : float
        Gain of every fluorescence detector.
    detectors : mapping of detector name to float
        Extra gain of single detectors (``{"B530-A": 1.4}``).
    staining : mapping of marker to float
        Staining-intensity factor of single markers (``{"CD25": 0.5}``).
    """

    fsc: float = 1.0
    ssc: float = 1.0
    fluorescence: float = 1.0
    detectors: Mapping[str, float] = field(default_factory=dict)
    staining: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("fsc", "ssc", "fluorescence"):
            object.__setattr__(self, name, _check_factor(name, getattr(self, name)))
        for name in ("detectors", "staining"):
            values = {str(k): _check_factor(f"{name}[{k}]", v) for k, v in dict(getattr(self, name)).items()}
            object.__setattr__(self, name, MappingProxyType(values))

    def __reduce__(self) -> tuple[type[Shift], tuple[float, float, float, dict[str, float], dict[str, float]]]:
        # mapping proxies do not pickle; worker processes need shifts
        return (type(self), (self.fsc, self.ssc, self.fluorescence, dict(self.detectors), dict(self.staining)))

    @property
    def is_identity(self) -> bool:
        values = [self.fsc, self.ssc, self.fluorescence, *self.detectors.values(), *self.staining.values()]
        return all(v == 1.0 for v in values)

    @classmethod
    def random(cls, panel: Panel, rng: np.random.Generator | int | None = None, *, strength: float = 1.0) -> Shift:
        """A random drift of typical day-to-day size times ``strength``.

        At ``strength=1`` the lognormal SDs are 0.07 (FSC), 0.10 (SSC), 0.15
        (all fluorescence), 0.08 (each detector) and 0.12 (each stain): a
        sample then shifts by up to ~±30% in a channel, enough to move a
        population across a fixed gate drawn near its edge.
        """
        if strength < 0 or not np.isfinite(strength):
            raise SynthError(f"shift strength must be ≥ 0, got {strength}")
        rng = np.random.default_rng(rng)

        def draw(sd: float, size: int | None = None) -> np.ndarray:
            return np.exp(rng.normal(0.0, sd * strength, size))

        channels = panel.fluorescence_channels
        markers = [m for m in panel.markers if m != "Live/Dead"]
        return cls(
            fsc=float(draw(0.07)),
            ssc=float(draw(0.10)),
            fluorescence=float(draw(0.15)),
            detectors=dict(zip(channels, draw(0.08, len(channels)).tolist(), strict=True)),
            staining=dict(zip(markers, draw(0.12, len(markers)).tolist(), strict=True)),
        )

    @classmethod
    def parse(cls, text: str, panel: Panel, *, seed: int | None = None) -> Shift:
        """Parse ``"fsc=1.1,ssc=0.9,fluorescence=0.8,B530-A=1.3,CD25=0.5"``.

        Keys ``fsc``, ``ssc``, ``scatter`` (both), ``fluorescence``; a detector
        name (``$PnN``) sets that detector's gain; a marker (``$PnS``) its
        staining factor.  ``random`` or ``random=STRENGTH`` starts from
        :meth:`random` (seeded by ``seed``) and the other keys override it.
        """
        base: dict[str, object] = {"detectors": {}, "staining": {}}
        items = [item.strip() for item in text.split(",") if item.strip()]
        for item in items:
            key, sep, value = item.partition("=")
            key = key.strip()
            if key == "random":
                strength = float(value) if sep else 1.0
                rnd = cls.random(panel, seed, strength=strength)
                base = {"fsc": rnd.fsc, "ssc": rnd.ssc, "fluorescence": rnd.fluorescence,
                        "detectors": dict(rnd.detectors), "staining": dict(rnd.staining)}  # fmt: skip
        for item in items:
            key, sep, value = item.partition("=")
            key = key.strip()
            if key == "random":
                continue
            if not sep:
                raise SynthError(f"shift item {item!r} is not KEY=FACTOR")
            try:
                factor = float(value)
            except ValueError:
                raise SynthError(f"shift item {item!r}: {value!r} is not a number") from None
            if key in ("fsc", "ssc", "fluorescence"):
                base[key] = factor
            elif key == "scatter":
                base["fsc"] = base["ssc"] = factor
            elif key in panel.fluorescence_channels:
                base["detectors"][key] = factor  # type: ignore[index]  # a dict, set above
            elif key in panel.markers:
                base["staining"][key] = factor  # type: ignore[index]  # a dict, set above
            else:
                raise SynthError(
                    f"shift key {key!r} is neither fsc/ssc/scatter/fluorescence/random, a detector "
                    f"({', '.join(panel.fluorescence_channels)}) nor a marker ({', '.join(panel.markers)}) "
                    f"of panel {panel.name}"
                )
        return cls(**base)  # type: ignore[arg-type]  # keys and value types match the fields

    def detector_gains(self, panel: Panel) -> np.ndarray:
        """``(n_fl,)`` gain of each fluorescence detector of ``panel``."""
        unknown = set(self.detectors) - set(panel.fluorescence_channels)
        if unknown:
            raise SynthError(f"shift names detectors {sorted(unknown)} absent from panel {panel.name}")
        return np.array([self.fluorescence * self.detectors.get(c, 1.0) for c in panel.fluorescence_channels])

    def stain_factors(self, panel: Panel) -> np.ndarray:
        """``(n_fl,)`` staining factor of each marker of ``panel``, in detector order."""
        unknown = set(self.staining) - set(panel.markers)
        if unknown:
            raise SynthError(f"shift names markers {sorted(unknown)} absent from panel {panel.name}")
        return np.array([self.staining.get(m, 1.0) for m in panel.markers])

    def describe(self) -> str:
        """Compact text form, parseable by :meth:`parse`."""
        parts = [f"fsc={self.fsc:.4g}", f"ssc={self.ssc:.4g}", f"fluorescence={self.fluorescence:.4g}"]
        parts += [f"{k}={v:.4g}" for k, v in self.detectors.items() if v != 1.0]
        parts += [f"{k}={v:.4g}" for k, v in self.staining.items() if v != 1.0]
        return ",".join(parts)
