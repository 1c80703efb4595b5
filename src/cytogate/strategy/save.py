"""Write a strategy to a file, and convert between strategy formats.

The destination's format comes from its extension (``.yaml``/``.yml``: cytogate
YAML; ``.xml``: Gating-ML 2.0); the source's from its content
(:func:`cytogate.strategy.open_document`), so a FlowJo workspace converts one
sample's tree.  Every write is atomic.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..atomic import write_text
from ..errors import StrategyError
from .tree import Strategy

__all__ = ["save_strategy", "convert_strategy", "format_of_destination"]

_YAML = (".yaml", ".yml")
_XML = (".xml",)


def format_of_destination(path: str | os.PathLike[str]) -> str:
    """``"yaml"`` or ``"gatingml"`` from a destination's extension (StrategyError otherwise)."""
    suffix = Path(path).suffix.lower()
    if suffix in _YAML:
        return "yaml"
    if suffix in _XML:
        return "gatingml"
    raise StrategyError(f"cannot tell the format of destination {str(path)!r} from its extension; "
                        "use .yaml, .yml or .xml")


def save_strategy(strategy: Strategy, path: str | os.PathLike[str], *, header: str | None = None) -> Path:
    """Write ``strategy`` atomically as YAML or Gating-ML 2.0 (by ``path``'s extension).

    ``header`` becomes leading comment lines of a YAML file.  Data-driven gates
    have no Gating-ML form and raise :class:`~cytogate.errors.StrategyError`.
    """
    if format_of_destination(path) == "yaml":
        from .yaml_write import strategy_to_yaml

        text = strategy_to_yaml(strategy, header=header)
    else:
        from .gatingml_write import write_gatingml

        text = write_gatingml(strategy)
    return write_text(path, text)


def convert_strategy(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                     sample: str | None = None) -> Strategy:
    """Convert a strategy file; returns the :class:`~cytogate.strategy.Strategy` written.

    Parameters
    ----------
    src : path
        YAML, Gating-ML 2.0 or a FlowJo workspace (told apart by content).
    dst : path
        ``.yaml``/``.yml`` or ``.xml``.
    sample : str, optional
        FlowJo sample name or id (default: the workspace's first sample).
    """
    from .documents import open_document
    from .workspace import Workspace

    src = Path(src)
    format_of_destination(dst)  # refuse a bad destination before reading anything
    if not src.is_file():
        raise StrategyError(f"strategy file not found: {src}")
    document = open_document(src)
    header = f"converted by cytogate from {src.name}"
    if isinstance(document, Workspace):
        imported = document.strategy_for(document.samples[0] if sample is None else sample)
        strategy = imported.strategy
        header += f" (FlowJo sample {imported.sample.name})"
        for note in imported.notes:
            header += f"\nnote: {note}"
    elif sample is not None:
        raise StrategyError("--sample applies to FlowJo workspace sources only", path=str(src))
    else:
        strategy = document
    save_strategy(strategy, dst, header=header)
    return strategy
