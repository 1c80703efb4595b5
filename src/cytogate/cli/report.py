"""``cytogate report DIR [--out FILE] [--change DIR]``: the self-contained HTML report of a run."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction, formatter_class: type[argparse.HelpFormatter]) -> None:
    """Add the ``report`` sub-command."""
    parser = subparsers.add_parser(
        "report",
        help="write a self-contained HTML report of a run",
        description="Write one HTML file (no network needed to view it) for the output folder of `cytogate run`: "
                    "provenance, a sortable and filterable table of counts and frequencies, failures, gate plots "
                    "per sample (thumbnails; click for full size), QC flags, outlier samples, the drift of "
                    "data-driven gates across files and, when present, the change-from-baseline analysis "
                    "(DIR/change or --change).  Gate plots re-read and re-gate the FCS files.",
        epilog="example: cytogate run panel.yaml fcs/ --samples sheet.csv --out run1 && cytogate report run1",
        formatter_class=formatter_class,
    )
    parser.add_argument("run_dir", metavar="DIR", help="output folder of `cytogate run`")
    parser.add_argument("--out", metavar="FILE", help="HTML file to write [default: DIR/report.html]")
    parser.add_argument("--change", metavar="DIR", help="output folder of `cytogate change` [default: DIR/change]")
    parser.add_argument("--max-plots", type=int, default=None, metavar="N",
                        help="samples whose gates are drawn (outliers and QC-flagged first) [default: 60]")
    parser.add_argument("--workers", type=int, metavar="N", help="processes drawing plots [default: CPUs]")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from ..errors import BatchError
    from ..report.build import DEFAULT_MAX_SAMPLES_WITH_PLOTS, build_report

    if args.max_plots is not None and args.max_plots < 0:
        raise BatchError(f"--max-plots must be 0 or more, not {args.max_plots}")
    if args.workers is not None and args.workers < 1:
        raise BatchError(f"--workers must be at least 1, not {args.workers}")
    path = build_report(args.run_dir, out=args.out, change_dir=args.change, workers=args.workers,
                        max_samples_with_plots=DEFAULT_MAX_SAMPLES_WITH_PLOTS if args.max_plots is None
                        else args.max_plots)
    size = path.stat().st_size
    print(f"cytogate report: wrote {path} ({size / 1e6:.1f} MB)", file=sys.stderr)
    return 0
