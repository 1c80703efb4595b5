"""``cytogate convert SRC DST``: YAML <-> Gating-ML 2.0, and FlowJo .wsp -> YAML / Gating-ML.

The source's format is told from its content: cytogate YAML, Gating-ML 2.0, or
a FlowJo 10 / FlowJo 9 Mac workspace (one sample's tree, ``--sample`` to choose;
default the first).  The destination's from its extension: ``.yaml``/``.yml``
or ``.xml`` (Gating-ML 2.0).  Static gates convert losslessly;
data-driven gates have no Gating-ML form and are refused with a clear message.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from ..atomic import write_text
from ..errors import StrategyError

__all__ = ["register", "convert"]

log = logging.getLogger(__name__)

_YAML = (".yaml", ".yml")
_XML = (".xml",)
_WSP = (".wsp",)


def _kind(path: Path, *, source: bool) -> str:
    suffix = path.suffix.lower()
    if suffix in _YAML:
        return "yaml"
    if suffix in _XML:
        return "gatingml"
    if suffix in _WSP and source:
        return "wsp"
    allowed = ".yaml, .yml, .xml" + (", .wsp" if source else "")
    role = "source" if source else "destination"
    raise StrategyError(f"cannot tell the format of {role} {str(path)!r} from its extension; use {allowed}")


def convert(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, sample: str | None = None) -> Any:
    """Convert a strategy file; returns the :class:`~cytogate.strategy.Strategy` written.

    Parameters
    ----------
    src, dst : path
        Source (.yaml/.yml/.xml/.wsp) and destination (.yaml/.yml/.xml).
    sample : str, optional
        FlowJo sample name or id (default: the workspace's first sample).
    """
    from ..strategy import open_document
    from ..strategy.gatingml_write import write_gatingml
    from ..strategy.workspace import Workspace
    from ..strategy.yaml_write import strategy_to_yaml

    src, dst = Path(src), Path(dst)
    dst_kind = _kind(dst, source=False)
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
    if dst_kind == "yaml":
        text = strategy_to_yaml(strategy, header=header)
    else:
        text = write_gatingml(strategy)
    write_text(dst, text)
    return strategy


def register(subparsers: Any, formatter_class: type[argparse.HelpFormatter]) -> None:
    """Add the ``convert`` sub-command."""
    parser = subparsers.add_parser(
        "convert",
        help="convert strategies: YAML <-> Gating-ML 2.0, FlowJo workspace -> YAML",
        description=__doc__.split("\n\n", 1)[1],
        epilog="examples:\n  cytogate convert panel.yaml panel.xml\n  cytogate convert gates.xml gates.yaml\n"
               "  cytogate convert study.wsp study.yaml --sample 'donor 7.fcs'",
        formatter_class=formatter_class,
    )
    parser.add_argument("src", metavar="SRC", help="source: YAML, Gating-ML or FlowJo workspace (told by content)")
    parser.add_argument("dst", metavar="DST", help="destination (.yaml, .yml, .xml)")
    parser.add_argument("--sample", metavar="NAME|ID", help="FlowJo sample id or name (default: the first)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    strategy = convert(args.src, args.dst, sample=args.sample)
    print(f"{args.src} -> {args.dst}: {len(strategy.populations)} populations")
    return 0
