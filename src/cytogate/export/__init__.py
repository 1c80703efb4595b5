"""Writing a finished run in other tools' formats (a FlowJo 10 workspace)."""

from __future__ import annotations

from .flowjo import WorkspaceExport, export_flowjo_workspace
from .flowjo_gates import ExportError

__all__ = ["ExportError", "WorkspaceExport", "export_flowjo_workspace"]
