"""Gate dimensions: what a gate axis reads from a sample.

A dimension names a channel (``$PnN``) or a marker (``$PnS``), the compensation
it is read through (``"FCS"`` = the file's own spillover, ``"uncompensated"``,
or the id of a spectrum matrix defined in the strategy) and optionally the id
of a transformation.  A :class:`RatioDimension` is Gating-ML's ``fratio``
(``A · (x₁ − B) / (x₂ − C)``) used as a new dimension.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..channels import MarkerAliases, resolve_channel
from ..errors import GateError

__all__ = [
    "UNCOMPENSATED",
    "FCS",
    "Dimension",
    "RatioDimension",
    "resolve_dimension",
    "dimension_from_dict",
]

UNCOMPENSATED = "uncompensated"
FCS = "FCS"


class _SampleLike(Protocol):
    @property
    def channels(self) -> Any: ...

    @property
    def markers(self) -> Any: ...


@dataclass(frozen=True)
class Dimension:
    """One gate axis.

    Parameters
    ----------
    name : str
        Channel (``$PnN``), marker (``$PnS``), or a fluorochrome / detector of the
        spectrum matrix named by ``compensation``.
    compensation : str
        ``"FCS"``, ``"uncompensated"`` or a spectrum-matrix id.
    transform : str or None
        Id of a transformation defined in the strategy; None = scale values.
    """

    name: str
    compensation: str = UNCOMPENSATED
    transform: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise GateError(f"a gate dimension needs a non-empty channel or marker name, got {self.name!r}")
        if not self.compensation:
            raise GateError(f"dimension {self.name!r} has an empty compensation reference")

    @property
    def inputs(self) -> tuple[str, ...]:
        """Channel/marker names this dimension reads."""
        return (self.name,)

    @property
    def label(self) -> str:
        return self.name

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "compensation": self.compensation}
        if self.transform is not None:
            out["transform"] = self.transform
        return out


@dataclass(frozen=True)
class RatioDimension:
    """Gating-ML ``fratio`` new dimension: ``A · (numerator − B) / (denominator − C)``.

    Parameters
    ----------
    id : str
        The id of the ``fratio`` transformation (kept for writing Gating-ML back).
    numerator, denominator : str
        Channel or marker names.
    a, b, c : float
        The Gating-ML parameters A, B, C.
    compensation : str
        Applied to both inputs before the ratio.
    transform : str or None
        Transformation applied to the ratio (e.g. ``flog`` for a log-ratio).
    """

    id: str
    numerator: str
    denominator: str
    a: float = 1.0
    b: float = 0.0
    c: float = 0.0
    compensation: str = UNCOMPENSATED
    transform: str | None = None

    def __post_init__(self) -> None:
        if not self.numerator or not self.denominator:
            raise GateError(f"ratio dimension {self.id!r} needs two input channels")
        for field_name in ("a", "b", "c"):
            object.__setattr__(self, field_name, float(getattr(self, field_name)))

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.numerator, self.denominator)

    @property
    def name(self) -> str:
        return self.id

    @property
    def label(self) -> str:
        return f"{self.id}({self.numerator}/{self.denominator})"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ratio": self.id,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "a": self.a,
            "b": self.b,
            "c": self.c,
            "compensation": self.compensation,
        }
        if self.transform is not None:
            out["transform"] = self.transform
        return out


AnyDimension = Dimension | RatioDimension


def dimension_from_dict(data: Mapping[str, Any]) -> AnyDimension:
    """Inverse of ``to_dict`` of either dimension type."""
    if "ratio" in data:
        return RatioDimension(
            id=data["ratio"],
            numerator=data["numerator"],
            denominator=data["denominator"],
            a=data.get("a", 1.0),
            b=data.get("b", 0.0),
            c=data.get("c", 0.0),
            compensation=data.get("compensation", UNCOMPENSATED),
            transform=data.get("transform"),
        )
    return Dimension(
        name=data["name"], compensation=data.get("compensation", UNCOMPENSATED), transform=data.get("transform")
    )


def resolve_dimension(name: str, sample: _SampleLike, aliases: MarkerAliases | None = None) -> int:
    """Index of the channel a strategy name refers to in one sample.

    The rules are :mod:`cytogate.channels`' (``$PnN``, ``$PnS``, aliases,
    FlowJo ``Comp-``/``<...>`` names, a unique case-insensitive match).

    Raises
    ------
    MarkerError
        Name not found or ambiguous; the message lists what the file has.
    """
    return resolve_channel(name, sample, aliases)
