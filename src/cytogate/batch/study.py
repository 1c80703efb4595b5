"""A batch over a study file: every sheet row gated with its panel's strategy.

The study (:mod:`cytogate.strategy.study`) names a sample sheet, the column
that says each row's panel, and a strategy per panel.  Each row becomes a
:class:`~cytogate.batch.worker.SampleTask` carrying its panel's strategy (the
same per-file seam a FlowJo workspace run uses), so one pool or Dask cluster
gates every panel, resumes per sample and writes one set of tables.
Everything is checked here, before the output folder is touched: a row whose
panel is not in ``panels``, a file listed twice or missing (the sheet names
the row), a strategy that does not load, overrides that do not fit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import BatchError, CytogateError, SampleSheetError
from ..strategy.study import Study
from ..strategy.tree import Strategy
from .samplesheet import SampleSheet
from .worker import SampleTask

__all__ = ["PANEL_COLUMN", "StudyPlan", "add_study_to_manifest", "check_study", "plan_study"]

log = logging.getLogger("cytogate.batch")

#: The column of ``counts.csv`` (and ``stats.parquet``) naming each row's panel.
PANEL_COLUMN = "panel"


@dataclass(frozen=True)
class StudyPlan:
    """Tasks with their panels' strategies, the sheet as the outputs see it, and each sample's panel."""

    study: Study
    tasks: list[SampleTask]
    metadata: dict[str, dict[str, Any]]
    sheet: SampleSheet
    strategies: dict[str, Strategy]  # panel -> strategy
    panel_of: dict[str, str]  # sample -> panel
    overrides: Any = None  # the loaded overrides file, if the study names one
    per_sample: Mapping[str, Any] | None = None  # sample -> its resolved overrides

    @property
    def qc(self) -> Any:
        """The acquisition-QC step every panel's strategy agrees on (None when none has one)."""
        steps = {panel: s.qc for panel, s in self.strategies.items()}
        distinct = {repr(q) for q in steps.values()}
        if len(distinct) > 1:
            listed = ", ".join(f"{p}: {'none' if q is None else 'qc'}" for p, q in steps.items())
            raise BatchError(f"the panels' strategies declare different acquisition-QC steps ({listed}); "
                             "give one with --qc for the whole study", path=self.study.source)
        return next(iter(steps.values()))


def _panel_name(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _load_strategies(study: Study) -> dict[str, Strategy]:
    from ..strategy.documents import open_document

    strategies = {}
    for panel, path in study.panels.items():
        document = open_document(path)
        if not isinstance(document, Strategy):
            study.ctx(f"panels.{panel}").fail(
                f"panel {panel!r}: {path} is a FlowJo workspace; a study panel needs one strategy "
                "(convert one sample's tree with 'cytogate convert')")
        strategies[panel] = document
    return strategies


def _study_sheet(study: Study, sheet: SampleSheet) -> tuple[SampleSheet, dict[str, str]]:
    """The sheet with a ``panel`` column first among the metadata, and each sample's panel."""
    lower = {c.lower(): c for c in sheet.columns}
    column = lower.get(study.panel_column.lower())
    if column is None:
        raise SampleSheetError(f"the sample sheet has no panel column {study.panel_column!r} (the study's "
                               f"panel_column; columns: {', '.join(sheet.columns) or 'none'})", path=sheet.path)
    if column.lower() != PANEL_COLUMN and PANEL_COLUMN in lower:
        raise SampleSheetError(f"the sheet has a column {lower[PANEL_COLUMN]!r} besides the panel column "
                               f"{column!r}; the outputs' {PANEL_COLUMN!r} column names each row's panel: rename it",
                               path=sheet.path)
    panel_of: dict[str, str] = {}
    rows = []
    for row in sheet.rows:
        panel = _panel_name(row.metadata.get(column))
        if panel is None:
            raise SampleSheetError("empty panel", path=sheet.path, row=row.line, column=column)
        if panel not in study.panels:
            raise SampleSheetError(f"panel {panel!r} is not one of the study's panels ({', '.join(study.panels)})",
                                   path=sheet.path, row=row.line, column=column)
        panel_of[row.sample] = panel
        metadata = {PANEL_COLUMN: panel, **{c: v for c, v in row.metadata.items() if c != column}}
        rows.append(replace(row, metadata=metadata))
    columns = (PANEL_COLUMN, *(c for c in sheet.columns if c != column))
    dtypes = {PANEL_COLUMN: "object", **{c: t for c, t in sheet.dtypes.items() if c != column}}
    return SampleSheet(sheet.path, columns, tuple(rows), dtypes), panel_of


def plan_study(study: Study) -> StudyPlan:
    """Check the study's sheet against its panels and build the tasks, before anything runs.

    Raises
    ------
    SampleSheetError
        A missing, duplicated or unreadable file, a panel not in ``panels``, an
        empty panel cell (naming the sheet's row and column).
    StrategyError
        A panel's strategy or the overrides file does not load or fit.
    """
    strategies = _load_strategies(study)
    sheet, panel_of = _study_sheet(study, SampleSheet.read(study.samples))
    tasks = [SampleTask(i, row.sample, row.file, strategy=strategies[panel_of[row.sample]])
             for i, row in enumerate(sheet.rows)]
    reviewed, per_sample = None, None
    if study.overrides is not None:
        from ..strategy.overrides import load_overrides

        reviewed = load_overrides(study.overrides)
        per_sample = reviewed.resolve_each({s: strategies[p] for s, p in panel_of.items()}, run="this study")
    counts = {p: sum(1 for v in panel_of.values() if v == p) for p in study.panels}
    log.info("study %s: %s", study.name, ", ".join(f"{p}: {n} file(s)" for p, n in counts.items()))
    return StudyPlan(study, tasks, {row.sample: dict(row.metadata) for row in sheet.rows}, sheet, strategies,
                     panel_of, reviewed, per_sample)


def add_study_to_manifest(manifest: dict[str, Any], plan: StudyPlan) -> None:
    """Record the study, every panel's strategy with its hash, and each input's panel."""
    manifest["study"] = plan.study.manifest_entry()
    manifest["strategies"] = [
        {"panel": panel, "path": strategy.source, "sha256": strategy.sha256, "format": strategy.format,
         "files": sum(1 for p in plan.panel_of.values() if p == panel), "text": strategy.source_text}
        for panel, strategy in plan.strategies.items()]
    manifest["strategy"] = {"path": plan.study.source, "sha256": plan.study.sha256, "format": "study",
                            "text": None}
    for entry in manifest.get("inputs", []):
        panel = plan.panel_of.get(entry.get("sample"))
        if panel is not None:
            entry["panel"] = panel
            entry["strategy_sha256"] = plan.strategies[panel].sha256


def _fits(strategy: Strategy, path: str, what: str) -> None:
    """Every gate dimension of ``strategy`` resolves in ``path`` (HEADER and TEXT only)."""
    from ..fcs import read_metadata
    from ..engine.compile import compile_plan

    try:
        compile_plan(strategy, read_metadata(path))
    except CytogateError as exc:
        raise BatchError(f"{what}: {exc}", path=path) from None
    except OSError as exc:
        raise BatchError(f"{what}: cannot read: {exc.strerror}", path=path) from None


def check_study(study: Study) -> dict[str, Any]:
    """Check a study without gating: its sheet and panels as a run would, then every file against its panel.

    Each FCS file of the sheet (and each ``follow`` reference) is read up to
    its TEXT segment and every gate dimension of its panel's strategy resolved
    in it.  Returns a JSON-ready report.

    Raises
    ------
    CytogateError
        The first problem found, naming the row or the file.
    """
    plan = plan_study(study)
    rows = {row.sample: row for row in plan.sheet.rows}
    for task in plan.tasks:
        panel = plan.panel_of[task.sample]
        _fits(plan.strategies[panel], task.file, f"row {rows[task.sample].line} (panel {panel})")
    for panel, path in study.follow.items():
        _fits(plan.strategies[panel], path, f"follow reference of panel {panel}")
    return {
        "study": study.source, "name": study.name, "samples": study.samples, "panel_column": study.panel_column,
        "panels": [{"panel": p, "strategy": s.source, "sha256": s.sha256, "populations": len(s.populations),
                    "files": sum(1 for v in plan.panel_of.values() if v == p),
                    "follow": study.follow.get(p)} for p, s in plan.strategies.items()],
        "files": len(plan.tasks),
        "overrides": None if plan.overrides is None else {"path": plan.overrides.source,
                                                         "entries": len(plan.overrides.entries)},
    }
