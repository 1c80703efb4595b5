"""Settings of template following, and the error it raises on bad input.

Distances are fractions of each gate axis's span (the range that holds the
parent's events on both the reference and the target), so one default works
on logicle axes (0..1) and on linear scatter axes (0..262144) alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..errors import StrategyError

#: Ways of registering two dimensions (the benchmark compares them; the first is the default).
METHODS = ("affine+tvl1", "affine+flow", "affine", "flow")

__all__ = ["FOLLOW_RULE", "METHODS", "SETTING_KEYS", "FollowError", "FollowSettings", "FollowSpec", "is_follow_row"]

#: The ``rule`` of every gate-record row (``fits.parquet``) written for a followed gate.
FOLLOW_RULE = "template following"


def is_follow_row(row: Mapping[str, Any]) -> bool:
    """True for a gate-record row written by template following (data-driven fits name their own rule)."""
    return row.get("rule") == FOLLOW_RULE


class FollowError(StrategyError):
    """Template following cannot be set up (bad settings, unusable reference)."""


@dataclass(frozen=True)
class FollowSettings:
    """How a static gate follows each sample.

    Attributes
    ----------
    max_displacement : float
        Largest move of any gate point, as a fraction of the axis span (0.25:
        a quarter of the axis).  Larger moves are clipped.
    stiffness : float
        Smoothing of the non-rigid step, as a fraction of the axis span (the
        Gaussian sigma applied to the displacement field); larger is stiffer.
        0 turns the non-rigid step off (affine only).
    min_confidence : float
        Below this confidence (0..1) the gate keeps its template geometry and
        the sample is flagged (status ``fallback``).
    bins : int
        Grid size of the density images (per axis) in two dimensions.
    bins_1d : int
        Grid size of one-dimensional densities.
    max_events : int
        Events of each parent used to build a density (a deterministic stride
        through the parent's events when it has more).
    method : str
        Two-dimensional registration: ``affine+tvl1`` (SimpleITK affine, then
        scikit-image TV-L1 optical flow; the default), ``affine+flow`` (iterative
        Lucas-Kanade flow instead), ``affine`` (SimpleITK only) or ``flow``
        (optical flow only).
    """

    max_displacement: float = 0.25
    stiffness: float = 0.06
    min_confidence: float = 0.5
    bins: int = 64
    bins_1d: int = 256
    max_events: int = 50_000
    method: str = "affine+tvl1"

    def __post_init__(self) -> None:
        checks = (
            ("max_displacement", 0.0 < self.max_displacement <= 1.0, "a fraction in (0, 1]"),
            ("stiffness", 0.0 <= self.stiffness <= 0.5, "a fraction in [0, 0.5]"),
            ("min_confidence", 0.0 <= self.min_confidence <= 1.0, "in [0, 1]"),
            ("bins", 16 <= self.bins <= 512, "an integer in [16, 512]"),
            ("bins_1d", 32 <= self.bins_1d <= 4096, "an integer in [32, 4096]"),
            ("max_events", self.max_events >= 1000, "an integer >= 1000"),
            ("method", self.method in METHODS, f"one of {', '.join(METHODS)}"),
        )
        for name, ok, what in checks:
            if not ok:
                raise FollowError(f"follow setting {name} must be {what}, got {getattr(self, name)!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base: FollowSettings | None = None) -> FollowSettings:
        """Settings from ``{name: value}`` on top of ``base`` (the defaults when None)."""
        base = base or cls()
        unknown = sorted(set(data) - set(SETTING_KEYS))
        if unknown:
            raise FollowError(f"unknown follow setting {unknown[0]!r}; settings: {', '.join(SETTING_KEYS)}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key == "method":
                values[key] = str(value)
                continue
            want = int if key in ("bins", "bins_1d", "max_events") else float
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (want is int and value != int(value)):
                raise FollowError(f"follow setting {key} must be a number, got {value!r}")
            values[key] = want(value)
        return replace(base, **values)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


SETTING_KEYS = tuple(f.name for f in fields(FollowSettings))


@dataclass(frozen=True)
class FollowSpec:
    """A strategy's ``follow:`` section: the reference file, default settings, per-population ones.

    ``populations`` maps a population path to its own settings, or to None
    for a gate pinned to its template (``follow: false``).
    """

    reference: str | None = None
    settings: FollowSettings = FollowSettings()
    populations: Mapping[str, FollowSettings | None] = field(default_factory=dict)

    def differences(self, settings: FollowSettings, base: FollowSettings | None = None) -> dict[str, Any]:
        """The settings of ``settings`` that differ from ``base`` (the strategy's when None)."""
        base = self.settings if base is None else base
        return {k: v for k, v in settings.to_dict().items() if getattr(base, k) != v}

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what :meth:`Strategy.to_dict` and the run manifest hold)."""
        return {"reference": self.reference, "settings": self.settings.to_dict(),
                "populations": {p: (False if s is None else s.to_dict()) for p, s in self.populations.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FollowSpec:
        """Inverse of :meth:`to_dict`."""
        settings = FollowSettings.from_mapping(data.get("settings") or {})
        populations = {str(p): (None if s is False or s is None else FollowSettings.from_mapping(s))
                       for p, s in (data.get("populations") or {}).items()}
        return cls(data.get("reference"), settings, populations)
