"""Data-driven gate kinds: specs that fit a static gate on each file.

Each kind is listed in :data:`cytogate.gates.registry.BUILT_IN_KINDS` next to the static
ones and follows the same interface; ``needs_fit`` is True and ``fit(values)``
(``values`` is ``(n_dims, m)``, the gate's dimensions on the parent's ``m``
events) returns the static gate for that file:

=====================  ======================================  =====================
kind                   fitted on                               becomes
=====================  ======================================  =====================
``adaptive_rectangle`` each bound that is a :class:`ThresholdRule`  ``RectangleGate``
``adaptive_quadrant``  each divider that is a rule             ``QuadrantGate``
``singlet``            area / height ratio band                ``PolygonGate`` (wedge)
``gmm``                Gaussian mixture, one component         ``EllipsoidGate``
=====================  ======================================  =====================

The returned gate is a ``Fitted*`` subclass of the static kind whose ``fits``
holds the :class:`~cytogate.adaptive.AdaptiveFit` records (fitted values,
whether the fallback was used and why); its ``to_dict`` adds them under
``"fits"`` so a results manifest shows where every gate landed.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from ..errors import GateError
from ..gates.dimensions import AnyDimension, dimension_from_dict
from ..gates.specs import (
    Divider,
    EllipsoidGate,
    GateSpec,
    PolygonGate,
    QuadrantGate,
    RectangleGate,
)
from ._fit import AdaptiveFit
from .density import quantile_threshold, reuse
from .mixture import SELECT_RULES, gmm_cluster
from .singlet import singlet_band
from .tail import mode_offset_threshold, tail_threshold
from .valley import density_valley

log = logging.getLogger("cytogate.adaptive")

__all__ = [
    "THRESHOLD_OPTIONS",
    "ThresholdRule",
    "AdaptiveRectangleGate",
    "AdaptiveDivider",
    "AdaptiveQuadrantGate",
    "SingletGate",
    "GmmGate",
    "FittedRectangleGate",
    "FittedQuadrantGate",
    "FittedPolygonGate",
    "FittedEllipsoidGate",
]

# method -> (fitter, options it accepts besides bounds/fallback/min_events/otherwise)
THRESHOLD_OPTIONS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "density_valley": (density_valley, ("adjust", "min_prominence", "min_mass", "min_depth", "min_separation",
                                        "quantile_bounds",
                                        "above_mode", "below_mode", "mode_mass")),
    "tail": (tail_threshold, ("side", "fraction", "knee", "mode", "mode_mass", "min_mass", "adjust")),
    "quantile": (quantile_threshold, ("q",)),
    "mode_offset": (mode_offset_threshold, ("mode", "mode_mass", "offset", "spread", "side", "adjust")),
}
_COMMON = ("bounds", "fallback", "min_events", "otherwise")
_PAIRS = ("bounds", "quantile_bounds")
_NO_FIT = float("nan")  # fallback that marks "failed" without choosing a cut (never logged, never kept)


def _fits_dicts(fits: tuple[AdaptiveFit, ...]) -> list[dict[str, Any]]:
    return [f.to_dict() for f in fits]


@dataclass(frozen=True)
class ThresholdRule:
    """A threshold found in the data: ``method`` with its options.

    Parameters
    ----------
    method : str
        A key of :data:`THRESHOLD_OPTIONS`.
    options : tuple of (name, value)
        ``bounds`` ([low, high]), ``fallback`` (a number, or a rule used when the
        fit fails), ``otherwise`` (another rule tried first when the fit fails: a
        tail where a marker shows no valley; its success counts as fitted),
        ``min_events`` and the method's own options (see the fitters).
    """

    method: str
    options: tuple[tuple[str, Any], ...] = ()
    _description: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        if self.method not in THRESHOLD_OPTIONS:
            raise GateError(f"unknown threshold method {self.method!r}; known: {', '.join(THRESHOLD_OPTIONS)}")
        allowed = _COMMON + THRESHOLD_OPTIONS[self.method][1]
        opts = dict(self.options)
        for key in opts:
            if key not in allowed:
                raise GateError(f"{self.method}: unknown option {key!r}; allowed: {', '.join(allowed)}")
        if self.method == "quantile" and "q" not in opts:
            raise GateError("quantile threshold needs q (a quantile in [0, 1])")
        for key in _PAIRS:
            if opts.get(key) is not None:
                opts[key] = tuple(float(b) for b in opts[key])
        for key in ("fallback", "otherwise"):
            value = opts.get(key)
            if isinstance(value, Mapping):
                opts[key] = ThresholdRule.from_dict(value)
            elif value is not None and not isinstance(value, ThresholdRule):
                if key == "otherwise":
                    raise GateError(f"{self.method}: otherwise must be another threshold rule, got {value!r}")
                opts[key] = float(value)
        object.__setattr__(self, "options", tuple(sorted(opts.items())))
        # every fit record of the rule carries its description: work it out once
        described = ", ".join(f"{k}={v.describe() if isinstance(v, ThresholdRule) else v}" for k, v in self.options)
        object.__setattr__(self, "_description", f"{self.method}({described})")

    def fit(self, values: np.ndarray, *, what: str) -> AdaptiveFit:
        """Fit on one dimension's values (NaN ignored): the method, then ``otherwise``, then ``fallback``.

        Inside :func:`~cytogate.adaptive.density.shared_densities`, an equal rule already
        fitted on equal values gives its fit again (unless that one fell back: it warned).
        """
        return reuse(("rule", self), np.asarray(values), lambda: self._fit_once(values, what=what),
                     keep=lambda fit: not fit.used_fallback)

    def _fit_once(self, values: np.ndarray, *, what: str) -> AdaptiveFit:
        opts = dict(self.options)
        otherwise = opts.pop("otherwise", None)
        fallback = opts.get("fallback")
        if otherwise is None and not isinstance(fallback, ThresholdRule):
            return THRESHOLD_OPTIONS[self.method][0](values, what=what, **opts)
        opts["fallback"] = _NO_FIT
        first = THRESHOLD_OPTIONS[self.method][0](values, what=what, **opts)
        if not first.used_fallback:
            return first
        reasons = [f"{self.method}: {first.reason}"]
        if otherwise is not None:
            if fallback is None:  # the alternative's own fallback is the last resort
                fallback = dict(otherwise.options).get("fallback")
            probe = tuple(o for o in otherwise.options if o[0] != "fallback") + (("fallback", _NO_FIT),)
            second = replace(otherwise, options=probe).fit(values, what=what)
            if not second.used_fallback:
                return replace(second, reason="; ".join([*reasons, f"{second.method} used"]),
                               diagnostics={**second.diagnostics, "failed": self.method})
            reasons.append(f"{otherwise.method}: {second.reason}")
        if fallback is None:
            raise GateError(f"{what}: {'; '.join(reasons)}; no fallback is declared")
        if isinstance(fallback, ThresholdRule):
            last = fallback.fit(values, what=what)
            cut, method = float(last.params["threshold"]), last.method
        else:
            cut, method = float(fallback), self.method
        reason = "; ".join(reasons)
        if not np.isnan(cut):
            log.warning("%s: %s; fallback %.4g used", what, reason, cut)
        return AdaptiveFit(method=method, params={"threshold": cut}, used_fallback=True, reason=reason,
                           n_events=first.n_events, confidence=0.0)

    def to_dict(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            return v.to_dict() if isinstance(v, ThresholdRule) else list(v) if isinstance(v, tuple) else v

        return {"method": self.method, **{k: plain(v) for k, v in self.options}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThresholdRule:
        return cls(data["method"], tuple((k, v) for k, v in data.items() if k != "method"))

    def describe(self) -> str:
        return self._description


Bound = float | ThresholdRule | None


def _labelled(fit: AdaptiveFit, parameter: str, rule: ThresholdRule) -> AdaptiveFit:
    """The fit named after the gate parameter it set, with the rule and its numeric fallback (the template)."""
    fallback = dict(rule.options).get("fallback")
    diagnostics = {**fit.diagnostics, "rule": rule.describe(),
                   "template": fallback if isinstance(fallback, float) else None}
    return AdaptiveFit(method=fit.method, params=fit.params, used_fallback=fit.used_fallback, reason=fit.reason,
                       n_events=fit.n_events, diagnostics=diagnostics, confidence=fit.confidence, parameter=parameter)


def _bound_to_dict(value: Bound) -> Any:
    return value.to_dict() if isinstance(value, ThresholdRule) else value


def _bound_from_dict(value: Any) -> Bound:
    return ThresholdRule.from_dict(value) if isinstance(value, Mapping) else value


# -- fitted static gates: the static kind plus the fit records -----------------------


@dataclass(frozen=True)
class FittedRectangleGate(RectangleGate):
    """A :class:`RectangleGate` fitted on one file, with its fit records."""

    fits: tuple[AdaptiveFit, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "fits": _fits_dicts(self.fits)}


@dataclass(frozen=True)
class FittedQuadrantGate(QuadrantGate):
    """A :class:`QuadrantGate` fitted on one file, with its fit records."""

    fits: tuple[AdaptiveFit, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "fits": _fits_dicts(self.fits)}


@dataclass(frozen=True)
class FittedPolygonGate(PolygonGate):
    """A :class:`PolygonGate` fitted on one file, with its fit records."""

    fits: tuple[AdaptiveFit, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "fits": _fits_dicts(self.fits)}


@dataclass(frozen=True)
class FittedEllipsoidGate(EllipsoidGate):
    """An :class:`EllipsoidGate` fitted on one file, with its fit records."""

    fits: tuple[AdaptiveFit, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "fits": _fits_dicts(self.fits)}


class _Adaptive(GateSpec):
    needs_fit: ClassVar[bool] = True

    def evaluate(self, values: np.ndarray, refs: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.fit(values).evaluate(values, refs)


# -- rectangle / range with data-driven bounds ---------------------------------------


@dataclass(frozen=True)
class AdaptiveRectangleGate(_Adaptive):
    """Rectangle whose bounds may be :class:`ThresholdRule` s, fitted per file.

    Boundaries after fitting are those of :class:`RectangleGate` (``min <= v < max``).
    """

    kind: ClassVar[str] = "adaptive_rectangle"
    dimensions: tuple[AnyDimension, ...]
    mins: tuple[Bound, ...]
    maxs: tuple[Bound, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "dimensions", tuple(self.dimensions))
        mins = tuple(v if isinstance(v, ThresholdRule) or v is None else float(v) for v in self.mins)
        maxs = tuple(v if isinstance(v, ThresholdRule) or v is None else float(v) for v in self.maxs)
        if len(mins) != len(self.dimensions) or len(maxs) != len(self.dimensions) or not self.dimensions:
            raise GateError("adaptive rectangle needs one (min, max) per dimension")
        if not any(isinstance(v, ThresholdRule) for v in mins + maxs):
            raise GateError("adaptive rectangle has no data-driven bound; use a rectangle gate")
        for dim, lo, hi in zip(self.dimensions, mins, maxs):
            if lo is None and hi is None:
                raise GateError(f"rectangle dimension {dim.label!r} has neither min nor max")
        object.__setattr__(self, "mins", mins)
        object.__setattr__(self, "maxs", maxs)

    def fit(self, values: np.ndarray) -> FittedRectangleGate:
        fits: list[AdaptiveFit] = []

        def resolve(bound: Bound, row: int, side: str) -> float | None:
            if not isinstance(bound, ThresholdRule):
                return bound
            fit = bound.fit(values[row], what=f"{side} of {self.dimensions[row].label}")
            fits.append(_labelled(fit, f"{self.dimensions[row].label}.{side}", bound))
            return float(fit.params["threshold"])

        mins = [resolve(b, i, "min") for i, b in enumerate(self.mins)]
        maxs = [resolve(b, i, "max") for i, b in enumerate(self.maxs)]
        for i, (lo, hi) in enumerate(zip(mins, maxs)):
            if lo is not None and hi is not None and not lo < hi:
                raise GateError(f"fitted bounds of {self.dimensions[i].label!r} cross: min {lo:.4g} >= max {hi:.4g}")
        return FittedRectangleGate(self.dimensions, tuple(mins), tuple(maxs), fits=tuple(fits))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dimensions": self._dims_dict(),
            "mins": [_bound_to_dict(v) for v in self.mins],
            "maxs": [_bound_to_dict(v) for v in self.maxs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AdaptiveRectangleGate:
        return cls(
            tuple(dimension_from_dict(d) for d in data["dimensions"]),
            tuple(_bound_from_dict(v) for v in data["mins"]),
            tuple(_bound_from_dict(v) for v in data["maxs"]),
        )

    def describe(self) -> str:
        def text(v: Bound, default: str) -> str:
            return default if v is None else v.describe() if isinstance(v, ThresholdRule) else str(v)

        parts = [f"{text(lo, '-inf')} <= {d.label} < {text(hi, 'inf')}" for d, lo, hi in
                 zip(self.dimensions, self.mins, self.maxs)]
        return "data-driven range " + " and ".join(parts)


# -- quadrants with data-driven dividers -----------------------------------------------


@dataclass(frozen=True)
class AdaptiveDivider:
    """A quadrant divider whose single cut is found in the data."""

    id: str
    dimension: AnyDimension
    rule: ThresholdRule

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "dimension": self.dimension.to_dict(), "rule": self.rule.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AdaptiveDivider:
        return cls(data["id"], dimension_from_dict(data["dimension"]), ThresholdRule.from_dict(data["rule"]))


@dataclass(frozen=True)
class AdaptiveQuadrantGate(_Adaptive):
    """One quadrant whose dividers may be fitted per file.

    ``cells`` gives, per divider id, the cell index: 0 below the (first) cut, k at or
    above the k-th cut (static dividers may have several cuts, fitted ones have one).
    """

    kind: ClassVar[str] = "adaptive_quadrant"
    group: str
    dividers: tuple[Divider | AdaptiveDivider, ...]
    cells: tuple[tuple[str, int], ...]
    dimensions: tuple[AnyDimension, ...] = field(init=False)

    def __post_init__(self) -> None:
        by_id = {d.id: d for d in self.dividers}
        cells = tuple((str(k), int(v)) for k, v in self.cells)
        if not cells:
            raise GateError(f"a quadrant of {self.group!r} has no cell position")
        for ref, index in cells:
            if ref not in by_id:
                raise GateError(f"quadrant of {self.group!r} refers to unknown divider {ref!r}")
            divider = by_id[ref]
            n_cuts = len(divider.values) if isinstance(divider, Divider) else 1
            if not 0 <= index <= n_cuts:
                raise GateError(f"quadrant of {self.group!r}: cell {index} of divider {ref!r} "
                                f"is outside 0..{n_cuts}")
        if not any(isinstance(d, AdaptiveDivider) for d in self.dividers):
            raise GateError(f"adaptive quadrant {self.group!r} has no data-driven divider")
        object.__setattr__(self, "dividers", tuple(self.dividers))
        object.__setattr__(self, "cells", cells)
        object.__setattr__(self, "dimensions", tuple(by_id[ref].dimension for ref, _ in cells))

    def fit(self, values: np.ndarray) -> FittedQuadrantGate:
        rows = {ref: i for i, (ref, _) in enumerate(self.cells)}
        fits: list[AdaptiveFit] = []
        static: list[Divider] = []
        for d in self.dividers:
            if isinstance(d, Divider):
                static.append(d)
                continue
            if d.id not in rows:  # a divider this quadrant ignores: any cut will do
                raise GateError(f"quadrant of {self.group!r} does not use data-driven divider {d.id!r}")
            fit = d.rule.fit(values[rows[d.id]], what=f"divider {d.id} of {self.group}")
            fits.append(_labelled(fit, f"divider.{d.id}", d.rule))
            static.append(Divider(d.id, d.dimension, (float(fit.params["threshold"]),)))
        by_id = {d.id: d for d in static}
        positions = []
        for ref, index in self.cells:
            cuts = by_id[ref].values
            location = cuts[0] - max(1.0, abs(cuts[0])) if index == 0 else cuts[index - 1]
            positions.append((ref, location))
        return FittedQuadrantGate(self.group, tuple(static), tuple(positions), fits=tuple(fits))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "group": self.group,
            "dividers": [{**d.to_dict(), "adaptive": isinstance(d, AdaptiveDivider)} for d in self.dividers],
            "cells": [list(c) for c in self.cells],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AdaptiveQuadrantGate:
        dividers = tuple(
            AdaptiveDivider.from_dict(d) if d.get("adaptive") else Divider.from_dict(d) for d in data["dividers"]
        )
        return cls(data["group"], dividers, tuple(map(tuple, data["cells"])))

    def describe(self) -> str:
        return f"data-driven quadrant of {self.group}: " + ", ".join(f"{r}[{i}]" for r, i in self.cells)


# -- singlets ------------------------------------------------------------------------


@dataclass(frozen=True)
class SingletGate(_Adaptive):
    """Singlets: ``area / height`` within a robust band (see :mod:`cytogate.adaptive.singlet`).

    ``dimensions`` is ``(area, height)``, both untransformed pulse measurements.
    The fitted gate is a wedge polygon (even-odd polygon semantics).
    """

    kind: ClassVar[str] = "singlet"
    dimensions: tuple[AnyDimension, ...]
    k: float = 4.0
    bounds: tuple[float, float] | None = None
    fallback: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dimensions", tuple(self.dimensions))
        if len(self.dimensions) != 2:
            raise GateError(f"singlet gate needs (area, height), got {len(self.dimensions)} dimensions")
        if not float(self.k) > 0:
            raise GateError(f"singlet gate k must be positive, got {self.k}")
        object.__setattr__(self, "k", float(self.k))
        for name in ("bounds", "fallback"):
            value = getattr(self, name)
            if value is not None:
                pair = tuple(float(v) for v in value)
                if len(pair) != 2 or not pair[0] < pair[1]:
                    raise GateError(f"singlet gate {name} must be [low, high] with low < high, got {value}")
                object.__setattr__(self, name, pair)

    def fit(self, values: np.ndarray) -> FittedPolygonGate:
        fit = singlet_band(values[0], values[1], k=self.k, bounds=self.bounds, fallback=self.fallback,
                           what=f"singlet on {self.dimensions[0].label} / {self.dimensions[1].label}")
        return FittedPolygonGate(self.dimensions, tuple(map(tuple, fit.params["vertices"])), fits=(fit,))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "dimensions": self._dims_dict(), "k": self.k,
                "bounds": None if self.bounds is None else list(self.bounds),
                "fallback": None if self.fallback is None else list(self.fallback)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SingletGate:
        return cls(tuple(dimension_from_dict(d) for d in data["dimensions"]), data.get("k", 4.0),
                   data.get("bounds"), data.get("fallback"))

    def describe(self) -> str:
        a, h = self.dimensions
        return f"singlets: {a.label}/{h.label} within median +- {self.k} robust SD"


# -- Gaussian-mixture cluster ---------------------------------------------------------


@dataclass(frozen=True)
class GmmGate(_Adaptive):
    """The component of a Gaussian mixture chosen by ``select``, as an ellipsoid.

    ``on`` names the dimension (by label) used by ``highest`` / ``lowest``.
    ``bounds`` maps dimension labels to ``[low, high]`` for the chosen mean.
    """

    kind: ClassVar[str] = "gmm"
    dimensions: tuple[AnyDimension, ...]
    components: int = 2
    select: str = "highest"
    on: str | None = None
    coverage: float = 0.95
    bounds: tuple[tuple[str, tuple[float, float]], ...] = ()
    fallback_mean: tuple[float, ...] | None = None
    fallback_covariance: tuple[tuple[float, ...], ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "dimensions", tuple(self.dimensions))
        labels = [d.label for d in self.dimensions]
        if len(labels) < 2:
            raise GateError(f"gmm gate needs at least 2 dimensions (its gate is an ellipsoid), got {len(labels)}")
        if self.select not in SELECT_RULES:
            raise GateError(f"gmm select must be one of {', '.join(SELECT_RULES)}, got {self.select!r}")
        if SELECT_RULES[self.select][0]:
            on = self.on if self.on is not None else labels[0]
            if on not in labels:
                raise GateError(f"gmm 'on' {on!r} is not one of its dimensions: {', '.join(labels)}")
            object.__setattr__(self, "on", on)
        bounds = tuple((str(k), (float(v[0]), float(v[1]))) for k, v in self.bounds)
        for key, _ in bounds:
            if key not in labels:
                raise GateError(f"gmm bounds name {key!r}, not one of its dimensions: {', '.join(labels)}")
        object.__setattr__(self, "bounds", bounds)
        if (self.fallback_mean is None) != (self.fallback_covariance is None):
            raise GateError("gmm fallback needs both mean and covariance")
        if self.fallback_mean is not None:
            assert self.fallback_covariance is not None  # both or neither, checked above
            EllipsoidGate(self.dimensions, self.fallback_mean, self.fallback_covariance, 1.0)  # validates

    def fit(self, values: np.ndarray) -> FittedEllipsoidGate:
        labels = [d.label for d in self.dimensions]
        bounds = dict(self.bounds)
        fallback: dict[str, Any] | None = None
        if self.fallback_mean is not None:
            fallback = {"mean": self.fallback_mean, "covariance": self.fallback_covariance}
        fit = gmm_cluster(
            np.asarray(values, dtype=np.float64).T,
            n_components=self.components,
            select=self.select,
            dimension=labels.index(self.on) if self.on is not None else None,
            coverage=self.coverage,
            bounds=[bounds.get(label) for label in labels],
            fallback=fallback,
            what=f"gmm on {' x '.join(labels)}",
        )
        return FittedEllipsoidGate(self.dimensions, tuple(fit.params["mean"]),
                                   tuple(map(tuple, fit.params["covariance"])), fit.params["distance_square"],
                                   fits=(fit,))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "dimensions": self._dims_dict(), "components": self.components,
                "select": self.select, "on": self.on, "coverage": self.coverage,
                "bounds": {k: list(v) for k, v in self.bounds},
                "fallback_mean": None if self.fallback_mean is None else list(self.fallback_mean),
                "fallback_covariance": None if self.fallback_covariance is None
                else [list(r) for r in self.fallback_covariance]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GmmGate:
        return cls(tuple(dimension_from_dict(d) for d in data["dimensions"]), data.get("components", 2),
                   data.get("select", "highest"), data.get("on"), data.get("coverage", 0.95),
                   tuple((k, tuple(v)) for k, v in (data.get("bounds") or {}).items()),
                   None if data.get("fallback_mean") is None else tuple(data["fallback_mean"]),
                   None if data.get("fallback_covariance") is None
                   else tuple(map(tuple, data["fallback_covariance"])))

    def describe(self) -> str:
        which = f"{self.select} on {self.on}" if self.on else self.select
        return (f"gmm with {self.components} components on {' x '.join(d.label for d in self.dimensions)}, "
                f"{which} component, {self.coverage:.0%} ellipsoid")
