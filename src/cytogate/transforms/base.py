"""The transform contract, the registry by Gating-ML kind, and the factory.

Every transform maps FCS scale values ``x`` to display values ``y`` (the
Gating-ML "0–1 scale": the top of scale ``T`` maps to 1) and back.  All are
monotone non-decreasing, so a bound on a transformed axis can be mapped to raw
units once with :meth:`Transform.inverse`.

Conventions shared by every transform:

- ``apply``/``inverse`` accept any array-like of real numbers (any shape,
  float32 or float64, scalars too) and return a new float64 array of the same
  shape;
- NaN in gives NaN out; ``±inf`` maps to the limit of the function;
- no warnings are raised for values outside the mathematical domain (``flog`` of
  a non-positive value is NaN, of zero ``-inf``).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, ClassVar, TypeVar

import numpy as np

from ..errors import TransformError

__all__ = ["Transform", "REGISTRY", "register", "from_params"]

REGISTRY: dict[str, type[Transform]] = {}

_T = TypeVar("_T", bound="type[Transform]")


def register(cls: _T) -> _T:
    """Class decorator: record ``cls`` in :data:`REGISTRY` under ``cls.kind``."""
    kind = cls.kind
    if kind in REGISTRY and REGISTRY[kind] is not cls:
        raise TransformError(f"transform kind {kind!r} registered twice")
    REGISTRY[kind] = cls
    return cls


class Transform(ABC):
    """Base of every transform; subclasses are frozen dataclasses.

    Subclasses define ``kind`` (the Gating-ML element name, or ``flowjo_*``),
    their parameters as dataclass fields (lower-case Gating-ML names), validate
    them in ``__post_init__`` and implement :meth:`_forward_into` and
    :meth:`_inverse_into` on flat float arrays.
    """

    kind: ClassVar[str]

    # -- the public API --------------------------------------------------------------
    def apply(self, x: Any) -> np.ndarray:
        """Transform scale values to the display scale.

        Parameters
        ----------
        x : array-like, any shape
            FCS scale values.

        Returns
        -------
        ndarray of float64, same shape as ``x``
        """
        arr = _as_float_array(x)
        out = np.empty(arr.shape, dtype=np.float64)
        self._forward_into(arr.reshape(-1), out.reshape(-1))
        return out

    def apply_into(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Like :meth:`apply` but writes into ``out`` (float64, C-contiguous, same shape).

        ``out`` may be ``x`` itself when ``x`` is float64 and C-contiguous.
        """
        arr = _as_float_array(x)
        if not (isinstance(out, np.ndarray) and out.dtype == np.float64 and out.flags.c_contiguous):
            raise TransformError(f"{self.kind}: apply_into needs a C-contiguous float64 output array")
        if out.shape != arr.shape:
            raise TransformError(f"{self.kind}: output shape {out.shape} differs from input shape {arr.shape}")
        self._forward_into(arr.reshape(-1), out.reshape(-1))
        return out

    def inverse(self, y: Any) -> np.ndarray:
        """Map display values back to scale values (the inverse of :meth:`apply`).

        Parameters
        ----------
        y : array-like, any shape

        Returns
        -------
        ndarray of float64, same shape as ``y``
        """
        arr = _as_float_array(y)
        out = np.empty(arr.shape, dtype=np.float64)
        self._inverse_into(arr.reshape(-1), out.reshape(-1))
        return out

    def __call__(self, x: Any) -> np.ndarray:
        return self.apply(x)

    def __getstate__(self) -> dict[str, Any]:
        # Pickle the parameters only (cheap to ship to workers); tables are rebuilt lazily.
        return self.params()

    def params(self) -> dict[str, float]:
        """The parameters by field name, for serialisation (``from_params(kind, **params)``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]  # every subclass is a dataclass

    @classmethod
    def from_params(cls, **params: float) -> Transform:
        """Build from parameters whose names match the fields case-insensitively (``T`` = ``t``)."""
        fields = {f.name.lower(): f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]  # every subclass is a dataclass
        kwargs: dict[str, float] = {}
        for key, value in params.items():
            name = fields.get(str(key).lower())
            if name is None:
                raise TransformError(
                    f"{cls.kind}: unknown parameter {key!r} (expected {', '.join(fields.values())})"
                )
            kwargs[name] = value
        return cls(**kwargs)

    # -- for subclasses --------------------------------------------------------------
    @abstractmethod
    def _forward_into(self, x: np.ndarray, out: np.ndarray) -> None:
        """Forward transform of flat ``x`` (float32/float64) into flat float64 ``out``."""

    @abstractmethod
    def _inverse_into(self, y: np.ndarray, out: np.ndarray) -> None:
        """Inverse transform of flat ``y`` into flat float64 ``out``."""

    def _check_params(self, **constraints: bool) -> None:
        """Validate: every parameter is a finite real, then each named constraint holds."""
        for f in dataclasses.fields(self):  # type: ignore[arg-type]  # every subclass is a dataclass
            value = getattr(self, f.name)
            try:
                as_float = float(value)
            except (TypeError, ValueError):
                raise TransformError(f"{self.kind}: parameter {f.name}={value!r} is not a number") from None
            if not np.isfinite(as_float):
                raise TransformError(f"{self.kind}: parameter {f.name}={value!r} is not finite")
            object.__setattr__(self, f.name, as_float if f.type in ("float", float) else value)
        failed = [text for text, ok in constraints.items() if not ok]
        if failed:
            shown = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.params())
            raise TransformError(f"{self.kind}({shown}): parameters must satisfy {'; '.join(failed)}")


def from_params(kind: str, **params: float) -> Transform:
    """Build a transform from its kind and parameters.

    Parameters
    ----------
    kind : str
        A key of :data:`REGISTRY` (``"flin"``, ``"flog"``, ``"fasinh"``, ``"logicle"``,
        ``"hyperlog"``, ``"flowjo_biex"``, ``"flowjo_log"``).
    **params
        Parameters by name; case-insensitive (``T=`` and ``t=`` are the same).

    Raises
    ------
    TransformError
        Unknown kind or parameter, or parameters outside their domain.
    """
    cls = REGISTRY.get(kind)
    if cls is None:
        raise TransformError(f"unknown transform kind {kind!r} (known: {', '.join(sorted(REGISTRY))})")
    return cls.from_params(**params)


def _as_float_array(x: Any) -> np.ndarray:
    """``x`` as a float32 or float64 array without copying when it already is one."""
    arr = np.asarray(x)
    if arr.dtype == np.float64 or arr.dtype == np.float32:
        return arr
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64)
    raise TransformError(f"cannot transform values of dtype {arr.dtype}")
