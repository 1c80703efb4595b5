"""Checking without gating: a strategy against FCS files, and any file ``cytogate validate`` accepts.

:func:`check_against` compiles a strategy against each file's channel layout,
as a run would, and returns a :class:`StrategyCheck`: per file, the channel
every gate dimension resolves to, the optional parts the run would skip there,
or the error that would stop it.  :meth:`StrategyCheck.findings` flattens that
into one list of :class:`Finding` (severity, where, message).

:func:`check_document` checks what a path holds, told apart by content: a
strategy (YAML, Gating-ML, or a FlowJo workspace sample by sample), a study
file (``cytogate_study: 1``: its sheet, panels and every file) or a marker
panel file (``cytogate_panel: 1``), and returns a JSON-ready report.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .errors import BatchError, CytogateError, StrategyError

if TYPE_CHECKING:
    from .fcs import Sample
    from .strategy import Strategy
    from .strategy.panel_gaps import Skipped

__all__ = ["Finding", "FileCheck", "StrategyCheck", "check_against", "check_document", "describe_strategy"]

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    """One thing a check found.

    ``severity`` is ``error`` (the file cannot be gated), ``warning`` (an
    optional part the run skips on that file) or ``info`` (a gate dimension
    and the channel it resolves to).  ``where`` is the file; ``population``
    and ``parameter`` name the part of the strategy when there is one.
    """

    severity: Severity
    where: str
    message: str
    population: str | None = None
    parameter: str | None = None


@dataclass(frozen=True)
class FileCheck:
    """A strategy checked against one file.

    ``resolved`` maps each gate dimension to its channel (``"YG586-A (BAFF-R)"``:
    ``$PnN`` then ``$PnS``); ``skipped`` lists the optional parts the run would
    skip; ``error`` is the problem that would stop the run on this file.
    """

    file: str
    resolved: Mapping[str, str]
    skipped: tuple[Skipped, ...] = ()
    error: CytogateError | OSError | None = None

    @property
    def ok(self) -> bool:
        """Whether the file can be gated."""
        return self.error is None

    def findings(self) -> list[Finding]:
        """What was found in this file: its error, the skipped parts, then every resolved dimension."""
        found = [] if self.error is None else [Finding("error", self.file, str(self.error))]
        found += [Finding("warning", self.file, f"skipped: {s.reason}", s.population, s.parameter)
                  for s in self.skipped]
        found += [Finding("info", self.file, f"{name} -> {channel}", parameter=name)
                  for name, channel in self.resolved.items()]
        return found

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``file``, ``resolved``, ``skipped`` (and ``error`` when there is one)."""
        report: dict[str, Any] = {
            "file": self.file, "resolved": dict(self.resolved),
            "skipped": [{"population": s.population, "parameter": s.parameter, "reason": s.reason}
                        for s in self.skipped],
        }
        if self.error is not None:
            report["error"] = str(self.error)
        return report


@dataclass(frozen=True)
class StrategyCheck:
    """A strategy checked against files, one :class:`FileCheck` each, in the order given."""

    strategy: Strategy
    files: tuple[FileCheck, ...]

    @property
    def ok(self) -> bool:
        """Whether every file can be gated."""
        return all(f.ok for f in self.files)

    def findings(self, *, at_least: Severity = "info") -> list[Finding]:
        """Every file's findings, keeping those of severity ``at_least`` or worse."""
        rank = {"info": 0, "warning": 1, "error": 2}
        return [f for check in self.files for f in check.findings() if rank[f.severity] >= rank[at_least]]

    def raise_first_error(self) -> None:
        """Raise the error of the first file that cannot be gated (nothing when every file can)."""
        for check in self.files:
            if check.error is not None:
                raise check.error


def _file_check(strategy: Strategy, sample: Sample | str | os.PathLike[str]) -> FileCheck:
    from .engine.compile import compile_plan
    from .fcs import read_fcs
    from .gates.dimensions import resolve_dimension
    from .strategy.panel_gaps import fit_to_panel

    where = str(sample if isinstance(sample, (str, os.PathLike)) else sample.path or "<in memory>")
    try:
        if isinstance(sample, (str, os.PathLike)):
            sample = read_fcs(sample)  # events decode lazily: only HEADER and TEXT are read here
        applied, skipped = fit_to_panel(strategy, sample)
        compile_plan(applied, sample)  # raises on any unresolvable required dimension or compensation
        aliases = strategy.aliases or None
        resolved = {}
        for name in sorted({n for _, d in applied.dimensions() for n in d.inputs}):
            index = resolve_dimension(name, sample, aliases)
            marker = sample.markers[index]
            resolved[name] = str(sample.channels[index]) + (f" ({marker})" if marker else "")
    except (CytogateError, OSError) as exc:
        return FileCheck(where, {}, (), exc)
    return FileCheck(where, resolved, skipped)


def check_against(strategy: Strategy | str | os.PathLike[str],
                  samples_or_paths: Iterable[Sample | str | os.PathLike[str]]) -> StrategyCheck:
    """Check, without gating, that ``strategy`` fits each sample (or FCS file) as a run would apply it.

    Every gate dimension is resolved (``$PnN``, ``$PnS``, then the strategy's
    marker aliases and panel file) and the requested compensation compiled;
    optional populations and dimensions a file lacks are what the run would
    skip there, a missing required channel is that file's error.  A problem in
    one file does not stop the others being checked.

    Raises
    ------
    StrategyError
        ``strategy`` is a path that does not hold a valid strategy.
    """
    from .strategy import Strategy, load_strategy

    if not isinstance(strategy, Strategy):
        strategy = load_strategy(strategy)
    return StrategyCheck(strategy, tuple(_file_check(strategy, s) for s in samples_or_paths))


def describe_strategy(strategy: Strategy, source: str | None = None) -> dict[str, Any]:
    """JSON-ready outline of a strategy: format, populations with their gates, transforms, matrices."""
    return {
        "strategy": strategy.source if source is None else source,
        "format": strategy.format,
        "populations": [
            {"path": p.path, "gate": p.gate.describe(), "data_driven": bool(p.gate.needs_fit),
             **({"optional": True} if p.optional else {}),
             **({"optional_dimensions": list(p.optional_dimensions)} if p.optional_dimensions else {})}
            for p in strategy.populations
        ],
        "transforms": sorted(strategy.transforms),
        "matrices": sorted(strategy.matrices),
        "files": [],
    }


def _checked_strategy(path: str, strategy: Strategy, fcs: Iterable[str]) -> dict[str, Any]:
    report = describe_strategy(strategy, path)
    check = check_against(strategy, fcs)
    check.raise_first_error()
    report["files"] = [f.to_dict() for f in check.files]
    return report


def _checked_workspace(path: str, workspace: Any, fcs: Iterable[str]) -> dict[str, Any]:
    from .batch.workspace_tasks import match_sample
    from .strategy.workspace_summary import describe_workspace

    report = describe_workspace(path)
    report.update(strategy=path, files=[])
    for file in fcs:
        info, rule = match_sample(workspace, file)
        if info is None:
            raise BatchError("matches no sample of the workspace (by $FIL, file name or URI)", path=file)
        checked = _checked_strategy(path, workspace.strategy_for(info).strategy, [file])["files"][0]
        report["files"].append({**checked, "workspace_sample": {"id": info.id, "name": info.name, "by": rule}})
    return report


def check_document(path: str, fcs: Iterable[str] | None = None, *, sample: str | None = None) -> dict[str, Any]:
    """Check what ``path`` holds, and its strategy's fit to ``fcs`` files; returns a JSON-ready report.

    A strategy gives :func:`describe_strategy` with ``files`` from
    :func:`check_against`; a FlowJo workspace is checked for the chosen
    ``sample``, or else sample by sample (``report["samples"]``), each file
    against its own sample's tree; a study (``kind: study``) is checked whole
    (:func:`cytogate.batch.study.check_study`); a marker panel file gives
    ``kind: panel`` and its ``markers``.

    Raises
    ------
    StrategyError, MarkerError, CompensationError, FcsError, BatchError
        The first problem found.
    """
    from .strategy import open_document
    from .strategy.panels import is_panel_file
    from .strategy.study import is_study_file
    from .strategy.workspace import Workspace

    files = list(fcs or [])
    if is_study_file(path) or is_panel_file(path):
        if files or sample is not None:
            raise BatchError("--fcs and --sample check a strategy; a study names its own files, a marker panel "
                             "none", path=path)
        return _checked_study(path) if is_study_file(path) else _checked_panel(path)
    document = open_document(path)
    if not isinstance(document, Workspace):
        if sample is not None:
            raise StrategyError("--sample chooses a sample of a FlowJo workspace", path=path)
        return _checked_strategy(path, document, files)
    if sample is not None:
        return _checked_strategy(path, document.strategy_for(sample).strategy, files)
    return _checked_workspace(path, document, files)


def _checked_study(path: str) -> dict[str, Any]:
    from .batch.study import check_study
    from .strategy.study import load_study

    return {"kind": "study", **check_study(load_study(path))}


def _checked_panel(path: str) -> dict[str, Any]:
    from .strategy.panels import load_panel

    markers: Mapping[str, tuple[str, ...]] = load_panel(path)
    return {"kind": "panel", "panel": path, "markers": {m: list(names) for m, names in markers.items()}}
