"""What a FlowJo workspace holds: its samples and groups, for ``cytogate info`` and ``cytogate validate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["describe_workspace", "is_workspace_file"]


def is_workspace_file(path: str) -> bool:
    """Whether ``path`` is a FlowJo workspace (by content; False when unreadable)."""
    from .documents import document_kind

    try:
        with open(path, "rb") as handle:
            head = handle.read(65536)
    except OSError:
        return False
    return document_kind(head) == "workspace"


def describe_workspace(path: str, *, check_trees: bool = True) -> dict[str, Any]:
    """Samples (id, name, $FIL, URI, FlowJo's event count, populations) and groups of a workspace.

    With ``check_trees`` every sample's tree is imported, so an unsupported
    gate raises :class:`~cytogate.errors.StrategyError` naming its population.
    """
    from .workspace import open_workspace

    workspace = open_workspace(path)
    samples = []
    for info in workspace.samples:
        entry: dict[str, Any] = {"id": info.id, "name": info.name, "fil": info.fil or None, "uri": info.uri or None,
                                 "flowjo_events": info.count if info.count >= 0 else None,
                                 "groups": [g for g, ids in workspace.groups.items() if info.id in ids]}
        if check_trees:
            imported = workspace.strategy_for(info)
            entry["populations"] = len(imported.strategy.populations)
            entry["notes"] = list(imported.notes)
        samples.append(entry)
    return {"path": str(Path(path)), "format": workspace.kind, "sha256": workspace.sha256, "samples": samples,
            "groups": {name: list(ids) for name, ids in workspace.groups.items()}}
