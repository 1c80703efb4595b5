"""``cytogate validate STRATEGY [--fcs FILE ...]``: check a strategy, optionally against files.

A study file (``cytogate_study: 1``) is checked whole: its sheet's rows against
its panels, every strategy, the overrides, and every FCS file and follow
reference against its panel's strategy (channels only, no gating).  A marker
panel file (``cytogate_panel: 1``) is checked on its own.

Loads the strategy (YAML, Gating-ML or a FlowJo workspace, told apart by
content; every error names file, line, column and population) and prints its
tree.  With ``--fcs`` it also resolves every gate dimension in each file
($PnN, $PnS, then the strategy's marker aliases) and checks that the requested
compensation is possible, without gating; optional populations and dimensions
the file lacks are listed as what the run would skip there (a required channel
that is missing stays an error).  A workspace is checked sample by
sample (``--list`` lists its samples and groups; ``--sample`` shows one tree;
with ``--fcs`` each file is checked against its own sample's tree).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register"]


def register(subparsers: Any, formatter_class: type[argparse.HelpFormatter]) -> None:
    """Add the ``validate`` sub-command."""
    parser = subparsers.add_parser(
        "validate",
        help="check a strategy (YAML, Gating-ML, workspace), a study or a marker panel file",
        description=__doc__.split("\n\n", 1)[1],
        epilog="exit codes: 0 valid; 2 invalid (the message says file:line:column and population)",
        formatter_class=formatter_class,
    )
    parser.add_argument("strategy", metavar="STRATEGY",
                        help="cytogate YAML, Gating-ML 2.0, FlowJo workspace, study or marker panel file")
    parser.add_argument("--fcs", nargs="+", metavar="FILE", help="FCS files whose channels must fit")
    parser.add_argument("--sample", metavar="NAME|ID", help="FlowJo workspace: check and show this sample's tree")
    parser.add_argument("--list", action="store_true", help="FlowJo workspace: list its samples and groups")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from ..check import check_document

    report = check_document(args.strategy, args.fcs, sample=args.sample)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if report.get("kind") == "study":
        print(f"{args.strategy}: valid study {report['name']!r}: {report['files']} files in "
              f"{len(report['panels'])} panels, every file fits its panel's strategy")
        for p in report["panels"]:
            follow = f", follows {p['follow']}" if p["follow"] else ""
            print(f"  {p['panel']}: {p['files']} files, {p['strategy']} ({p['populations']} populations){follow}")
        return 0
    if report.get("kind") == "panel":
        print(f"{args.strategy}: valid marker panel: {len(report['markers'])} markers")
        return 0
    if "samples" in report:  # a whole workspace
        from .workspace_listing import workspace_lines

        lines = workspace_lines(report)
        if args.list:
            print("\n".join(lines))
        else:
            print(f"{lines[0]}: every sample's tree is valid")
        for f in report["files"]:
            ws = f["workspace_sample"]
            print(f"{f['file']}: sample {ws['name']} (by {ws['by']}); every dimension resolves")
        return 0
    pops = report["populations"]
    fitted = sum(p["data_driven"] for p in pops)
    print(f"{args.strategy}: valid {report['format']} strategy: {len(pops)} populations "
          f"({fitted} data-driven), {len(report['transforms'])} transforms, {len(report['matrices'])} matrices")
    for p in pops:
        depth = p["path"].count("/") - 1
        optional = " (optional)" if p.get("optional") else ""
        if p.get("optional_dimensions"):
            optional += f" (optional: {', '.join(p['optional_dimensions'])})"
        print(f"  {'  ' * depth}{p['path'].rsplit('/', 1)[-1]}: {p['gate']}{optional}")
    for f in report["files"]:
        skipped = f.get("skipped", [])
        print(f"{f['file']}: every required dimension resolves"
              + (f"; {len(skipped)} optional part(s) would be skipped" if skipped else ""))
        for name, channel in f["resolved"].items():
            print(f"  {name} -> {channel}")
        for s in skipped:
            print(f"  skip {s['population']} {s['parameter']}: {s['reason']}")
    return 0
