"""Public names of a package imported on first use, so that importing the package stays cheap.

The command line starts in 0.1 s and hashes inputs before numpy, numba or
pandas load; packages therefore list their public names with the module that
defines each (``"name": ".module"`` relative to the package, or an absolute
module) and hand the table to :func:`lazy_attributes`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, table: Mapping[str, str], also: Iterable[str] = ()
                    ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each name in ``table`` is imported when first asked for.

    ``also`` lists names the package defines itself, for ``dir()``.
    """
    listed = sorted({*table, *also})

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return listed

    return __getattr__, __dir__
