"""Panels with missing channels: optional gate dimensions and optional populations.

One strategy serves panels that stain a little differently.  A rectangle or
range dimension written ``optional: true`` is dropped from the gate on a file
that lacks its channel (pDC: CD303+ where it is stained); a population written
``optional: true`` passes its parent's events through on a file that lacks one
of its channels, so its children still gate (no FSC-H: no singlet gate, the
live gate applies to all cells).  A channel that is neither stays required: its
absence is a per-file error as before.

:func:`fit_to_panel` returns the strategy as it applies to one file's channels
and what was skipped, population by population, so the run records it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

from ..errors import MarkerError
from ..gates.dimensions import AnyDimension, RatioDimension, resolve_dimension
from ..gates.specs import GateSpec, RectangleGate
from .tree import Population, Strategy

__all__ = ["PassThroughGate", "Skipped", "fit_to_panel"]


@dataclass(frozen=True)
class PassThroughGate(GateSpec):
    """Every parent event: what an optional population becomes on a file lacking its channels."""

    kind: ClassVar[str] = "pass_through"
    reason: str = ""
    dimensions: tuple[AnyDimension, ...] = ()

    def evaluate(self, values: np.ndarray, refs: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.ones(values.shape[1], dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PassThroughGate:
        return cls(str(data.get("reason", "")))

    def describe(self) -> str:
        return f"all parent events ({self.reason})"


@dataclass(frozen=True)
class Skipped:
    """One part of a strategy not applied to a file: a dimension (``parameter``) or a whole population."""

    population: str
    parameter: str
    reason: str


_CACHE: dict[tuple[Any, ...], tuple[Strategy, tuple[Skipped, ...]]] = {}
_CACHE_MAX = 64


def _channel_names(dim: AnyDimension) -> tuple[str, ...]:
    if isinstance(dim, RatioDimension):
        return (dim.numerator, dim.denominator)
    return (dim.name,)


def _absent(dim: AnyDimension, sample: Any, aliases: Mapping[str, Any] | None) -> list[str]:
    """The channel names of ``dim`` this file lacks (an ambiguous name is not absent: it stays an error)."""
    missing = []
    for name in _channel_names(dim):
        try:
            resolve_dimension(name, sample, aliases)
        except MarkerError as exc:
            if "not found" in exc.message:
                missing.append(name)
    return missing


def _drop(gate: GateSpec, keep: list[int]) -> GateSpec:
    """A rectangle (static or data-driven) restricted to the dimensions ``keep``."""
    dims = tuple(gate.dimensions[i] for i in keep)
    mins = tuple(gate.mins[i] for i in keep)  # type: ignore[attr-defined]  # only rectangles reach here
    maxs = tuple(gate.maxs[i] for i in keep)  # type: ignore[attr-defined]  # only rectangles reach here
    if any(v is not None and not isinstance(v, (int, float)) for v in mins + maxs):  # threshold rules
        from ..adaptive.specs import AdaptiveRectangleGate  # scikit-learn loads only for data-driven gates

        return AdaptiveRectangleGate(dims, mins, maxs)
    return RectangleGate(dims, mins, maxs)


def _applied(pop: Population, sample: Any, aliases: Mapping[str, Any] | None) -> tuple[Population, list[Skipped]]:
    if pop.optional:
        missing = [name for dim in pop.gate.dimensions for name in _absent(dim, sample, aliases)]
        if missing:
            reason = f"{', '.join(missing)} not in this file: optional population passes its parent through"
            return replace(pop, gate=PassThroughGate(reason)), [Skipped(pop.path, ", ".join(missing), reason)]
    if not pop.optional_dimensions or pop.gate.kind not in ("rectangle", "adaptive_rectangle"):
        return pop, []
    keep, skipped = [], []
    for i, dim in enumerate(pop.gate.dimensions):
        missing = _absent(dim, sample, aliases) if dim.label in pop.optional_dimensions else []
        if missing:
            skipped.append(Skipped(pop.path, dim.label, f"{', '.join(missing)} not in this file: "
                                                        f"optional dimension dropped from the gate"))
        else:
            keep.append(i)
    if not skipped:
        return pop, []
    if not keep:
        return replace(pop, gate=PassThroughGate("every dimension is optional and absent")), skipped
    return replace(pop, gate=_drop(pop.gate, keep)), skipped


def fit_to_panel(strategy: Strategy, sample: Any, aliases: Mapping[str, Any] | None = None
                 ) -> tuple[Strategy, tuple[Skipped, ...]]:
    """The strategy as it applies to ``sample``'s channels, and what it skips there.

    Returns ``strategy`` itself when nothing is skipped (the common case: no
    optional parts, or a file with every channel), so plans stay cached.
    """
    if not any(p.optional or p.optional_dimensions for p in strategy.populations):
        return strategy, ()
    if aliases is None and strategy.aliases:
        aliases = strategy.aliases
    key = (id(strategy), strategy.sha256, tuple(str(c) for c in sample.channels),
           tuple("" if m is None else str(m) for m in sample.markers),
           None if not aliases else tuple(sorted((k, str(v)) for k, v in aliases.items())))
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    pops, skipped = [], []
    for pop in strategy.populations:
        applied, skips = _applied(pop, sample, aliases)
        pops.append(applied)
        skipped.extend(skips)
    out = (strategy, ()) if not skipped else (replace(strategy, populations=tuple(pops)), tuple(skipped))
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = out
    return out
