"""One call from a long table to the change-from-baseline deliverables.

:func:`run_change_analysis` is what ``cytogate change`` and the demo call: it
derives the change table, the summaries, the comparisons with control and the
figures, and (given ``out_dir``) writes ``change.csv``, ``summary.csv``,
``contrasts.csv``, ``figures/*.png|svg`` and ``analysis.json`` (the settings
and notes; ``schema: cytogate.change/1``).  With a subgroup rule it also writes
``summary_by_subgroup.csv`` and ``contrasts_by_subgroup.csv``.

An analysis YAML holds the same settings as :class:`ChangeSettings`::

    cytogate_analysis: 1
    subject: subject
    arm: arm
    visit: visit
    value: count
    baseline: Baseline
    control: Placebo
    by: [population]
    model: ancova            # mmrm | ancova | wilcoxon
    scale: log               # log | raw
    lloq: {limit: 5, rule: half}
    windows:                 # optional: analysis visits from study day
      Baseline: {day: 1, window: [-28, 1]}
      Week 4:   {day: 29, window: [22, 36]}
    subgroup: {name: bcell_base, where: {population: B cells}, cutoff: median}
    where: {population: [B cells, Tregs]}   # optional row filter
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ..atomic import write_csv, write_text
from ..errors import ModelError, OutputError
from .baseline import VisitWindow, require_columns
from .change import LloqRule, change_from_baseline
from .compare import compare_to_control
from .subgroups import SubgroupRule, assign_subgroups
from .summary import summarize_change

__all__ = ["ChangeOutputs", "ChangeSettings", "load_table", "run_change_analysis"]

log = logging.getLogger(__name__)

SCHEMA = "cytogate.change/1"


@dataclass(frozen=True)
class ChangeSettings:
    """Settings of a change-from-baseline analysis (see the module docstring for the YAML form).

    Column settings (``subject``, ``arm``, ``visit``, ``value``, ``day``, ``by``)
    name input columns; ``baseline`` and ``control`` are labels.
    """

    subject: str
    arm: str
    visit: str
    value: str
    control: str
    baseline: str | None = None
    by: tuple[str, ...] = ()
    model: str = "mmrm"
    scale: str = "log"
    day: str | None = None
    baseline_method: str = "visit"
    lookback: float = math.inf
    windows: tuple[VisitWindow, ...] = ()
    visits: tuple[str, ...] | None = None
    lloq: LloqRule | None = None
    subgroup: SubgroupRule | None = None
    where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    adjust: str | None = None
    adjust_family: tuple[str, ...] = ()
    alpha: float = 0.05
    cov: str = "un"
    method: str = "reml"
    df: str = "satterthwaite"
    forest_visit: str | None = None
    figures: bool = True
    formats: tuple[str, ...] = ("png", "svg")

    def __post_init__(self) -> None:
        for name in ("by", "windows", "adjust_family", "formats"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.visits is not None:
            object.__setattr__(self, "visits", tuple(str(v) for v in self.visits))
        object.__setattr__(self, "where", {str(k): tuple(str(x) for x in (v if isinstance(v, (list, tuple)) else [v]))
                                           for k, v in dict(self.where).items()})  # fmt: skip
        if self.model not in ("mmrm", "ancova", "wilcoxon"):
            raise ModelError(f"unknown model {self.model!r}; use mmrm, ancova or wilcoxon")
        if self.scale not in ("log", "raw"):
            raise ModelError(f"unknown scale {self.scale!r}; use log or raw")
        if self.baseline_method not in ("visit", "last_before_day1"):
            raise ModelError(f"unknown baseline method {self.baseline_method!r}; use visit or last_before_day1")
        if self.baseline_method == "visit" and not self.baseline:
            raise ModelError(
                "the baseline visit label is required (--baseline) unless baseline_method is last_before_day1"
            )
        if self.adjust not in (None, "holm", "bh"):
            raise ModelError(f"unknown p-value adjustment {self.adjust!r}; use holm or bh")
        if not 0 < self.alpha < 1:
            raise ModelError(f"alpha must be in (0, 1), got {self.alpha}")
        bad = [f for f in self.formats if f not in ("png", "svg", "pdf")]
        if bad:
            raise ModelError(f"unknown figure format {bad[0]!r}; use png, svg or pdf")

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any], **overrides: Any) -> ChangeSettings:
        """From a parsed analysis YAML; ``overrides`` that are not None win over the file."""
        spec = dict(spec)
        version = spec.pop("cytogate_analysis", 1)
        if version != 1:
            raise ModelError(f"unsupported cytogate_analysis version {version!r} (this cytogate reads 1)")
        spec.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ModelError(f"analysis settings: unknown keys {unknown}")
        if isinstance(spec.get("by"), str):
            spec["by"] = (spec["by"],)
        if isinstance(spec.get("windows"), Mapping):
            spec["windows"] = tuple(VisitWindow.from_mapping(k, v) for k, v in spec["windows"].items())
        if isinstance(spec.get("lloq"), Mapping):
            lloq = dict(spec["lloq"])
            spec["lloq"] = LloqRule(float(lloq.get("limit", math.nan)), str(lloq.get("rule", lloq.get("mode", "half"))))  # type: ignore[arg-type]  # LloqRule checks the mode
        elif isinstance(spec.get("lloq"), (int, float)):
            spec["lloq"] = LloqRule(float(spec["lloq"]))
        if isinstance(spec.get("subgroup"), Mapping):
            spec["subgroup"] = SubgroupRule.from_mapping(spec["subgroup"])
        for key in ("baseline", "control", "forest_visit"):
            if spec.get(key) is not None:
                spec[key] = str(spec[key])
        missing = [f.name for f in fields(cls) if f.name in ("subject", "arm", "visit", "value", "control")
                   and f.name not in spec]  # fmt: skip
        if missing:
            raise ModelError(f"analysis settings: missing {', '.join(missing)}")
        return cls(**spec)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> ChangeSettings:
        """Read an analysis YAML file (see the module docstring)."""
        path = Path(path)
        try:
            spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ModelError(f"invalid YAML: {getattr(exc, 'problem', exc)}", path=path,
                             line=None if mark is None else mark.line + 1) from exc  # fmt: skip
        if not isinstance(spec, Mapping):
            raise ModelError("an analysis YAML must be a mapping of settings", path=path)
        try:
            return cls.from_mapping(spec, **overrides)
        except ModelError as exc:
            raise ModelError(exc.message, path=path) from exc

    def describe(self) -> dict[str, Any]:
        """JSON-ready form of the settings."""
        out = asdict(self)
        out["lookback"] = None if math.isinf(self.lookback) else self.lookback
        out["lloq"] = None if self.lloq is None else {"limit": self.lloq.limit, "rule": self.lloq.mode,
                                                      "text": self.lloq.describe()}  # fmt: skip
        return out


@dataclass(frozen=True)
class ChangeOutputs:
    """Results of :func:`run_change_analysis`."""

    change: pd.DataFrame
    summary: pd.DataFrame
    contrasts: pd.DataFrame
    summary_by_subgroup: pd.DataFrame | None = None
    contrasts_by_subgroup: pd.DataFrame | None = None
    figures: tuple[Path, ...] = ()
    notes: tuple[str, ...] = ()


def load_table(path: str | Path) -> pd.DataFrame:
    """Read a long table: ``.parquet``, ``.tsv``/``.txt`` (tab) or CSV."""
    path = Path(path)
    if not path.is_file():
        raise ModelError("table not found", path=path)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        sep = "\t" if path.suffix.lower() in (".tsv", ".tab", ".txt") else ","
        return pd.read_csv(path, sep=sep)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise ModelError(f"cannot read the table: {exc}", path=path) from exc


def _filter(table: pd.DataFrame, where: Mapping[str, tuple[str, ...]]) -> pd.DataFrame:
    require_columns(table, list(where))
    for col, allowed in where.items():
        table = table[table[col].astype(str).isin(allowed)]
        if table.empty:
            raise ModelError(f"no rows left after keeping {col} in {list(allowed)}")
    return table


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    try:
        write_csv(path, frame)
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror or exc}", path=path) from exc


def run_change_analysis(
    table: pd.DataFrame | str | Path, settings: ChangeSettings, *, out_dir: str | Path | None = None
) -> ChangeOutputs:
    """Change from baseline, summaries, comparisons with control and figures.

    Parameters
    ----------
    table : DataFrame or path
        Long table (a cytogate ``counts.csv``/``counts.parquet`` or any table
        with subject, arm, visit and value columns).
    settings : ChangeSettings
        What to analyse and how.
    out_dir : path, optional
        When given, the tables, figures and ``analysis.json`` are written there
        (figures only if ``settings.figures``).

    Returns
    -------
    ChangeOutputs
    """
    if not isinstance(table, pd.DataFrame):
        table = load_table(table)
    table = _filter(table, settings.where) if settings.where else table
    panel_note = None
    if "panel" in table.columns and settings.by and "panel" not in settings.by and table["panel"].nunique() > 1:
        # a study's table: one population path or name may be measured in several tubes
        settings = replace(settings, by=("panel", *settings.by))
        panel_note = f"the table holds {table['panel'].nunique()} panels: each is analysed separately (by panel too)"
    s = settings
    keep = []
    if s.subgroup is not None and s.subgroup.column != "baseline":
        keep.append(s.subgroup.column)
    change = change_from_baseline(
        table, subject=s.subject, arm=s.arm, visit=s.visit, value=s.value, baseline=s.baseline, by=s.by,
        day=s.day, baseline_method=s.baseline_method,  # type: ignore[arg-type]  # checked in __post_init__
        lookback=s.lookback, windows=s.windows or None,
        lloq=s.lloq, visits=s.visits, control=s.control, keep=keep,
    )  # fmt: skip
    notes = [] if panel_note is None else [panel_note]
    if s.lloq is not None:
        notes.append(f"{s.lloq.describe()}: {int(change['below_lloq'].sum())} values affected")
    n_zero = int(change["pct_change_undefined"].sum())
    if n_zero:
        notes.append(f"{n_zero} rows with baseline 0: % change undefined (NaN)")
    compare: dict[str, Any] = dict(control=s.control, model=s.model, scale=s.scale, adjust=s.adjust, family=s.adjust_family,
                   alpha=s.alpha, cov=s.cov, method=s.method, df=s.df)  # fmt: skip
    summary = summarize_change(change, by=s.by, alpha=s.alpha)
    contrasts = compare_to_control(change, by=s.by, **compare)
    notes += sorted({n for n in contrasts["note"].astype(str) if n})
    sub_summary = sub_contrasts = None
    if s.subgroup is not None:
        change, cutoff = assign_subgroups(change, s.subgroup)
        notes.append(f"subgroup {s.subgroup.name}: {s.subgroup.column} >= {cutoff:g} is {s.subgroup.labels[1]}")
        sub_by = (*s.by, s.subgroup.name)
        sub_summary = summarize_change(change, by=s.by, subgroup=s.subgroup.name, alpha=s.alpha)
        sub_contrasts = compare_to_control(change, by=sub_by, **compare)
    figures: tuple[Path, ...] = ()
    if out_dir is not None:
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the output folder: {exc.strerror or exc}", path=out) from exc
        _write_csv(change, out / "change.csv")
        _write_csv(summary, out / "summary.csv")
        _write_csv(contrasts, out / "contrasts.csv")
        if sub_summary is not None and sub_contrasts is not None:
            _write_csv(sub_summary, out / "summary_by_subgroup.csv")
            _write_csv(sub_contrasts, out / "contrasts_by_subgroup.csv")
        if s.figures:
            from .plots import write_figures  # matplotlib only when figures are wanted

            figures = tuple(write_figures(change, summary, contrasts, out / "figures", by=s.by,
                                          forest_visit=s.forest_visit, formats=s.formats))  # fmt: skip
        manifest = {"schema": SCHEMA, "settings": s.describe(), "notes": notes,
                    "files": sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())}  # fmt: skip
        try:
            write_text(out / "analysis.json", json.dumps(manifest, indent=2, default=str))
        except OSError as exc:
            raise OutputError(f"cannot write: {exc.strerror or exc}", path=out / "analysis.json") from exc
    return ChangeOutputs(change, summary, contrasts, sub_summary, sub_contrasts, figures, tuple(notes))

