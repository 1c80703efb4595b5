"""``cytogate info FILE... [--json]``: what an FCS file holds, without reading its events.

Uses :func:`cytogate.fcs.describe` (HEADER and TEXT only), so the DATA segment is never read
(instant on a 5 GB file).  With several files, a bad one is reported on stderr
and the others are still described; the exit code is then 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import EXIT_BAD_INPUT, EXIT_OK, CytogateError
from .workspace_listing import workspace_lines

__all__ = ["register"]


# Keywords worth showing by default (when present), in this order.
_SELECTED = (
    "$CYT", "$CYTSN", "$SYS", "$SRC", "$FIL", "$DATE", "$BTIM", "$ETIM", "$OP", "$INST",
    "$DATATYPE", "$BYTEORD", "$MODE", "$TIMESTEP", "$VOL", "$PROJ", "$SMNO", "TUBE NAME", "EXPERIMENT NAME",
)


def register(subparsers: Any, formatter_class: type[argparse.HelpFormatter]) -> None:
    """Add the ``info`` sub-command."""
    parser = subparsers.add_parser(
        "info",
        help="describe FCS files (version, events, channels, markers, spillover, keywords) or FlowJo workspaces",
        description=(
            "Describe FCS files from their HEADER and TEXT segments (the event data are not read).\n"
            "Exit code 2 when any file cannot be read; the others are still described."
        ),
        formatter_class=formatter_class,
    )
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="FCS (or LMD) files, or FlowJo workspaces (their samples and groups)")
    parser.add_argument("--json", action="store_true", help="print a JSON list, one object per file")
    parser.add_argument("--dataset", type=int, default=0, help="data set of multi-data-set files (from 0)")
    parser.add_argument("--keywords", action="store_true", help="list every TEXT keyword, not a selection")
    parser.set_defaults(handler=run)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def _human(info: dict[str, Any], all_keywords: bool) -> str:
    lines = [info["path"]]
    sets = f"data set {info['dataset'] + 1} of {info['n_datasets']}"
    lines.append(f"  version   {info['version']}  ({sets})")
    lines.append(f"  events    {info['n_events']:,}")
    lines.append(f"  channels  {info['n_channels']}")
    rows = [["#", "$PnN", "$PnS", "$PnB", "$PnR", "$PnE", "$PnG"]]
    for ch in info["channels"]:
        rows.append(
            [str(ch["index"]), ch["name"], ch["marker"] or "-", ch["bits"] or "-", ch["range"] or "-",
             ch["amplification"] or "-", ch["gain"] or "-"]
        )
    lines.extend("  " + line for line in _table(rows))
    spill = info["spillover"]
    if spill is None:
        lines.append("  spillover none")
    else:
        kind = " (identity)" if spill["identity"] else ""
        lines.append(f"  spillover {spill['source']}, {len(spill['channels'])} channels{kind}: {', '.join(spill['channels'])}")
    words = info["keywords"]
    keys = sorted(words) if all_keywords else [k for k in _SELECTED if words.get(k, "").strip()]
    if keys:
        lines.append("  keywords")
        width = max(len(k) for k in keys)
        lines.extend(f"    {k.ljust(width)}  {words[k].strip()}" for k in keys)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Describe every file; return 2 if any failed."""
    from ..fcs.summary import describe  # the FCS reader loads only when describing
    from ..strategy.workspace_summary import describe_workspace, is_workspace_file

    described: list[dict[str, Any]] = []
    failed = 0
    for path in args.files:
        try:
            if is_workspace_file(path):  # a FlowJo workspace: its samples and groups
                report = describe_workspace(path, check_trees=False)
                described.append(report)
                if not args.json:
                    print("\n".join(workspace_lines(report)))
                continue
            described.append(describe(path, dataset=args.dataset))
        except CytogateError as exc:
            failed += 1
            print(f"cytogate: error: {exc}", file=sys.stderr)
            if args.json:
                described.append({"path": path, "error": str(exc)})
            continue
        if not args.json:
            if len(described) - 1 > 0 or failed:
                print()
            print(_human(described[-1], args.keywords))
    if args.json:
        json.dump(described, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    return EXIT_BAD_INPUT if failed else EXIT_OK
