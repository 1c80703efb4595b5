"""``cytogate convert SRC DST``: YAML <-> Gating-ML 2.0, and FlowJo .wsp -> YAML / Gating-ML.

Formats are chosen by extension: ``.yaml``/``.yml`` (cytogate YAML), ``.xml``
(Gating-ML 2.0) and, as a source only, ``.wsp`` (FlowJo 10 workspace; one
sample's tree, ``--sample`` to choose).  Static gates convert losslessly;
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
    from ..strategy import load_strategy
    from ..strategy.flowjo_wsp import read_wsp
    from ..strategy.gatingml_write import write_gatingml
    from ..strategy.yaml_write import strategy_to_yaml

    src, dst = Path(src), Path(dst)
    src_kind, dst_kind = _kind(src, source=True), _kind(dst, source=False)
    if not src.is_file():
        raise StrategyError(f"strategy file not found: {src}")
    if sample is not None and src_kind != "wsp":
        raise StrategyError("--sample applies to FlowJo .wsp sources only")
    header = f"converted by cytogate from {src.name}"
    if src_kind == "wsp":
        imported = read_wsp(src, sample=sample)
        strategy = imported.strategy
        header += f" (FlowJo sample {imported.sample.name})"
        for note in imported.notes:
            header += f"\nnote: {note}"
    else:
        strategy = load_strategy(src)
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
        help="convert strategies: YAML <-> Gating-ML 2.0, FlowJo .wsp -> YAML",
        description=__doc__.split("\n\n", 1)[1],
        epilog="examples:\n  cytogate convert panel.yaml panel.xml\n  cytogate convert gates.xml gates.yaml\n"
               "  cytogate convert study.wsp study.yaml --sample 'donor 7.fcs'",
        formatter_class=formatter_class,
    )
    parser.add_argument("src", metavar="SRC", help="source strategy (.yaml, .yml, .xml, .wsp)")
    parser.add_argument("dst", metavar="DST", help="destination (.yaml, .yml, .xml)")
    parser.add_argument("--sample", metavar="NAME", help="FlowJo sample name or id (default: the first)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    strategy = convert(args.src, args.dst, sample=args.sample)
    print(f"{args.src} -> {args.dst}: {len(strategy.populations)} populations")
    return 0
