"""``cytogate convert SRC DST``: YAML <-> Gating-ML 2.0, and FlowJo .wsp -> YAML / Gating-ML.

The source's format is told from its content: cytogate YAML, Gating-ML 2.0, or
a FlowJo 10 / FlowJo 9 Mac workspace (one sample's tree, ``--sample`` to choose;
default the first).  The destination's from its extension: ``.yaml``/``.yml``
or ``.xml`` (Gating-ML 2.0).  Static gates convert losslessly;
data-driven gates have no Gating-ML form and are refused with a clear message.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


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
    from ..strategy.save import convert_strategy  # the strategy modules load only when converting

    strategy = convert_strategy(args.src, args.dst, sample=args.sample)
    print(f"{args.src} -> {args.dst}: {len(strategy.populations)} populations")
    return 0
