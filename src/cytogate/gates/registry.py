"""Every gate kind cytogate knows, in one explicit table.

A kind string (``"rectangle"``, ``"singlet"``, ...) maps to the module and class
that implement it.  Classes are imported on first use, so reading a static
strategy never loads the data-driven gates' dependencies (scipy, scikit-learn).
Nothing registers itself on import: to add a built-in kind, add its row here
(and see docs/architecture.md, "Adding a gate kind"); code outside the package
(an extension, a test) calls :func:`register_gate` with its class.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import GateError

if TYPE_CHECKING:
    from .specs import GateSpec

__all__ = ["BUILT_IN_KINDS", "GATE_KINDS", "gate_class", "gate_from_dict", "register_gate"]

BUILT_IN_KINDS: dict[str, tuple[str, str]] = {
    "rectangle": ("cytogate.gates.specs", "RectangleGate"),
    "polygon": ("cytogate.gates.specs", "PolygonGate"),
    "ellipsoid": ("cytogate.gates.specs", "EllipsoidGate"),
    "quadrant": ("cytogate.gates.specs", "QuadrantGate"),
    "boolean": ("cytogate.gates.specs", "BooleanGate"),
    "adaptive_rectangle": ("cytogate.adaptive.specs", "AdaptiveRectangleGate"),
    "adaptive_quadrant": ("cytogate.adaptive.specs", "AdaptiveQuadrantGate"),
    "singlet": ("cytogate.adaptive.specs", "SingletGate"),
    "gmm": ("cytogate.adaptive.specs", "GmmGate"),
}

_REGISTERED: dict[str, type[GateSpec]] = {}


class _Kinds(Mapping[str, "type[GateSpec]"]):
    """Read-only view: kind string -> gate class (imported when looked up)."""

    def __getitem__(self, kind: str) -> type[GateSpec]:
        return gate_class(kind)

    def __iter__(self) -> Any:
        return iter([*BUILT_IN_KINDS, *(k for k in _REGISTERED if k not in BUILT_IN_KINDS)])

    def __len__(self) -> int:
        return len(set(BUILT_IN_KINDS) | set(_REGISTERED))


GATE_KINDS: Mapping[str, type[GateSpec]] = _Kinds()


def gate_class(kind: str) -> type[GateSpec]:
    """The class implementing ``kind``.

    Raises
    ------
    GateError
        No such kind; the message lists the known ones.
    """
    cls = _REGISTERED.get(kind)
    if cls is not None:
        return cls
    where = BUILT_IN_KINDS.get(kind)
    if where is None:
        raise GateError(f"unknown gate kind {kind!r}; known kinds: {', '.join(sorted(GATE_KINDS))}")
    cls = getattr(importlib.import_module(where[0]), where[1])
    if cls.kind != kind:  # pragma: no cover - the table and the class disagree
        raise GateError(f"{where[0]}.{where[1]} implements kind {cls.kind!r}, not {kind!r}")
    _REGISTERED[kind] = cls
    return cls


def register_gate(cls: type[GateSpec]) -> type[GateSpec]:
    """Make a gate class known by its ``kind`` string (for kinds defined outside cytogate)."""
    known = _REGISTERED.get(cls.kind)
    if (known is not None and known is not cls) or (known is None and cls.kind in BUILT_IN_KINDS):
        raise GateError(f"gate kind {cls.kind!r} is already registered")
    _REGISTERED[cls.kind] = cls
    return cls


def gate_from_dict(data: Mapping[str, Any]) -> GateSpec:
    """Build a gate from ``{"kind": ..., ...}`` as written by ``to_dict``."""
    return gate_class(str(data.get("kind"))).from_dict(data)
