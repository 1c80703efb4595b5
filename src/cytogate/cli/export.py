"""``cytogate export RUN_DIR OUT.wsp``: a run's applied gates as a FlowJo 10 workspace."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction, formatter_class: type[argparse.HelpFormatter]) -> None:
    """Add the ``export`` sub-command."""
    parser = subparsers.add_parser(
        "export",
        help="write a run as a FlowJo 10 workspace (.wsp) for review",
        description="Write the output folder of `cytogate run` as a FlowJo 10 workspace: every sample with its "
                    "FCS file reference, compensation matrix, display transforms and gate tree, each sample's "
                    "gates as they were applied to it (data-driven fits and overrides as that sample's own "
                    "geometry).  A study run writes each sample with its own panel's strategy and one FlowJo "
                    "group per panel.  Samples that failed in the run are left out and listed.",
        epilog="example: cytogate run panel.yaml fcs/ --out run1 --overrides review.yaml && "
               "cytogate export run1 run1.wsp",
        formatter_class=formatter_class,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="output folder of `cytogate run`")
    parser.add_argument("out", metavar="OUT.wsp", help="workspace file to write")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from ..export import export_flowjo_workspace

    result = export_flowjo_workspace(args.run_dir, args.out)
    for failed in result.left_out:
        print(f"cytogate export: left out {failed['sample']} (failed in the run: {failed['reason']})",
              file=sys.stderr)
    if not args.quiet:
        print(f"cytogate export: wrote {result.path} ({len(result.samples)} sample(s))", file=sys.stderr)
    return 0
