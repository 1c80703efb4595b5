"""A FlowJo workspace's samples and groups as lines, for ``cytogate info`` and ``cytogate validate --list``."""

from __future__ import annotations

from typing import Any

__all__ = ["workspace_lines"]


def workspace_lines(report: dict[str, Any]) -> list[str]:
    """The human-readable listing of :func:`cytogate.strategy.workspace_summary.describe_workspace`'s report."""
    kind = {"flowjo10": "FlowJo 10 workspace", "flowjo9": "FlowJo 9 (Mac) workspace"}.get(report["format"],
                                                                                      report["format"])
    lines = [f"{report['path']}: {kind}, {len(report['samples'])} sample(s), {len(report['groups'])} group(s)"]
    lines.append("  samples")
    for s in report["samples"]:
        pops = f", {s['populations']} populations" if "populations" in s else ""
        events = "" if s["flowjo_events"] is None else f", {s['flowjo_events']:,} events"
        fil = f", $FIL {s['fil']}" if s["fil"] and s["fil"] != s["name"] else ""
        lines.append(f"    [{s['id']}] {s['name']}{fil}{events}{pops}")
    lines.append("  groups")
    for name, ids in report["groups"].items():
        lines.append(f"    {name}: {len(ids)} sample(s)" + (f" (ids {', '.join(ids)})" if ids else ""))
    return lines
