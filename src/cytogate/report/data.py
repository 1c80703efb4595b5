"""What the HTML report shows, gathered by :mod:`.build` and rendered by :mod:`.html`."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["ReportData", "SamplePlots", "b64"]


@dataclass
class SamplePlots:
    """Gate pictures of one sample (PNG bytes) and what re-gating it found."""

    sample: str
    panels: list[Any] = field(default_factory=list)  # overview.PanelImage
    flags: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class ReportData:
    """Everything the HTML page shows (see :func:`cytogate.report.html.render_html`)."""

    run_dir: Path
    manifest: dict[str, Any]
    counts: pd.DataFrame
    failures: pd.DataFrame
    qc: pd.DataFrame | None
    outliers: pd.DataFrame
    samples: list[SamplePlots]
    drift: list[tuple[str, bytes]]
    change_dir: Path | None = None
    change_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    change_figures: list[tuple[str, bytes]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    strategy_name: str = ""
    fits: pd.DataFrame | None = None  # fits.parquet: where each data-driven gate landed, per sample


def b64(data: bytes) -> str:
    """Base64 text of bytes, for ``data:`` URLs."""
    return base64.b64encode(data).decode("ascii")
