"""From a run folder to one self-contained HTML file: :func:`build_report`.

Reads what ``cytogate run`` wrote (``manifest.json``, ``counts.parquet`` or
``counts.csv``, ``failures.csv``, ``qc.csv``, ``fits.parquet``), finds outlier samples, re-gates
a bounded number of samples to draw their gates (outliers and QC-flagged
samples first, then input order) and checks that the re-gated counts equal the
table's (a run that followed a reference is re-gated following it, and each
followed gate is drawn over its template's), draws the drift of every data-driven threshold across those files,
adds a change analysis when one exists (``DIR/change`` or ``change_dir``) and
writes the page (:mod:`.html`).  Samples are drawn in worker processes.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from ..atomic import write_text
from ..errors import BatchError, CytogateError
from .data import ReportData, SamplePlots
from .outliers import robust_outliers

__all__ = ["build_report", "ReportData", "SamplePlots", "DEFAULT_MAX_SAMPLES_WITH_PLOTS"]

log = logging.getLogger(__name__)

DEFAULT_MAX_SAMPLES_WITH_PLOTS = 60


def _read_table(run: Path, stem: str) -> pd.DataFrame | None:
    for suffix, reader in ((".parquet", pd.read_parquet), (".csv", pd.read_csv)):
        path = run / f"{stem}{suffix}"
        if path.is_file():
            try:
                return reader(path)
            except (ValueError, OSError) as exc:
                raise BatchError(f"cannot read {path.name}: {exc}", path=path) from exc
    return None


def _strategies(manifest: dict[str, Any]) -> Any:
    """``sample -> strategy`` for the run: the one strategy, or for a study each input's panel's."""
    panels = manifest.get("strategies")
    if not panels:
        strategy = _load_strategy(manifest.get("strategy") or {})
        return lambda sample: strategy
    loaded = {p["panel"]: _load_strategy(p) for p in panels}
    by_sample = {e["sample"]: loaded[e["panel"]] for e in manifest.get("inputs", []) if e.get("panel") in loaded}
    return by_sample.get


def _load_strategy(info: dict[str, Any]) -> Any:
    from ..strategy import load_strategy

    path, sha = info.get("path"), info.get("sha256")
    if path and Path(path).is_file():
        strategy = load_strategy(Path(path))
        if sha is None or strategy.sha256 == sha:
            return strategy
        log.warning("strategy %s changed since the run; using the text recorded in manifest.json", path)
    text = info.get("text")
    if text:
        return load_strategy(text)
    raise BatchError("manifest.json records no usable strategy (file moved and no text)")


def _follow_reference(info: dict[str, Any] | None, strategy: Any) -> Any:
    """The reference a followed run was gated with (its manifest ``follow`` block), prepared again.

    None when the run did not follow.

    Raises
    ------
    BatchError
        The reference file is gone or changed since the run.
    """
    if not info:
        return None
    from ..fcs import read_fcs
    from ..follow import FollowSettings, Reference

    path = info.get("reference")
    if not path or not Path(path).is_file():
        raise BatchError("the run followed a reference that is no longer there", path=path)
    settings = FollowSettings.from_mapping(info.get("settings") or {})
    per = {p: (None if s is False else FollowSettings.from_mapping(s))
           for p, s in (info.get("per_population") or {}).items()}
    reference = Reference(strategy, read_fcs(path), settings, per_population=per)
    if reference.sha256 != info.get("reference_sha256"):
        raise BatchError("the follow reference changed since the run", path=path)
    reference.sample = None  # what is sent to the drawing processes: the arrays only
    return reference


def _panel_references(manifest: dict[str, Any]) -> Any:
    """``sample -> reference`` for a study run: each followed panel's, prepared again (None: static panel)."""
    blocks = (manifest.get("follow") or {}).get("panels") or {}
    loaded = {p["panel"]: _load_strategy(p) for p in manifest.get("strategies") or [] if p["panel"] in blocks}
    prepared = {panel: _follow_reference(blocks[panel], strategy) for panel, strategy in loaded.items()}
    by_sample = {e["sample"]: prepared[e["panel"]] for e in manifest.get("inputs", []) if e.get("panel") in prepared}
    return by_sample.get


def _overrides(manifest: dict[str, Any], strategy_of: Any, notes: list[str]) -> dict[str, Any]:
    """The run's per-sample overrides (as ``manifest.json`` records them), each read against its sample's strategy."""
    import yaml

    from ..strategy.overrides import parse_overrides

    recorded = manifest.get("overrides") or {}
    applied = [{k: v for k, v in e.items() if k != "line"} for e in recorded.get("applied") or []]
    if not applied:
        return {}
    text = yaml.safe_dump({"cytogate_overrides": 1, "overrides": applied}, sort_keys=False)
    try:
        named = {str(e.get("sample")) for e in applied}
        return parse_overrides(text, source=str(recorded.get("path") or "manifest.json")).resolve_each(
            {s: strategy_of(s) for s in named if strategy_of(s) is not None})
    except CytogateError as exc:
        notes.append(f"overridden gates drawn as the template: {exc}")
        return {}


def _plot_one(job: tuple[Any, str, str, pd.DataFrame | None, bool, Any]) -> tuple[SamplePlots | None, list[Any]]:
    """Read and gate one sample; draw it when asked; its drift traces (runs in a worker process)."""
    from ..engine.stream import gate
    from ..fcs import read_fcs
    from .drift import drift_traces
    from .overview import render_panels

    strategy, sample_name, file, expected, draw, reference = job
    template = None
    if isinstance(strategy, tuple):  # (the template, this sample's overrides applied to it)
        template, strategy = strategy
    plots = SamplePlots(sample_name)
    try:
        sample = read_fcs(file)
        result = gate(strategy, sample) if reference is None else gate(strategy, sample, follow=reference)
        result = replace(result, sample=sample_name)
        traces = drift_traces(result, sample)
        if not draw:
            return None, traces
        plots.panels = render_panels(result, sample, template=template)
    except (CytogateError, OSError) as exc:
        if not draw:
            return None, []
        plots.error = f"cannot draw {sample_name}: {exc}"
        return plots, []
    for panel in plots.panels:
        plots.flags.extend(panel.flags)
    if expected is not None and len(expected):
        got = result.counts.set_index("population")["count"]
        want = expected.set_index("population")["count"]
        common = want.index.intersection(got.index)
        diff = [p for p in common if int(got[p]) != int(want[p])]
        if diff:
            plots.flags.append(f"re-gated counts differ from the table for {len(diff)} population(s), e.g. "
                               f"{diff[0]}: {int(got[diff[0]])} vs {int(want[diff[0]])} (file changed, or "
                               "events removed by acquisition QC)")
    return plots, traces


def _choose(counts: pd.DataFrame, manifest: dict[str, Any], outliers: pd.DataFrame, qc: pd.DataFrame | None,
            limit: int) -> list[tuple[str, str]]:
    """(sample, file) to draw: outliers, then QC-flagged, then input order; at most ``limit``."""
    files = {e["sample"]: e["path"] for e in manifest.get("inputs", []) if e.get("status") == "ok"}
    if not files and len(counts):
        files = dict(zip(counts["sample"], counts["file"]))
    order: list[str] = list(dict.fromkeys(outliers["sample"].astype(str))) if len(outliers) else []
    if qc is not None and len(qc):
        bad = qc[(qc.get("bad_bins_rate", 0) > 0) | (qc.get("bad_bins_signal", 0) > 0)]
        order += [str(s) for s in bad["sample"]]
    order += list(files)
    chosen: list[tuple[str, str]] = []
    for s in dict.fromkeys(order):
        if s in files and len(chosen) < limit:
            chosen.append((s, files[s]))
    return chosen


def _png(fig: Any, dpi: float = 90) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _change(change_dir: Path) -> tuple[dict[str, pd.DataFrame], list[tuple[str, bytes]]]:
    tables = {}
    for name in ("contrasts", "summary", "contrasts_by_subgroup", "summary_by_subgroup"):
        path = change_dir / f"{name}.csv"
        if path.is_file():
            tables[name] = pd.read_csv(path)
    figures = [(p.stem, p.read_bytes()) for p in sorted((change_dir / "figures").glob("*.png"))]
    return tables, figures


def build_report(run_dir: str | os.PathLike[str], *, out: str | os.PathLike[str] | None = None,
                 change_dir: str | os.PathLike[str] | None = None,
                 max_samples_with_plots: int = DEFAULT_MAX_SAMPLES_WITH_PLOTS,
                 max_files_for_drift: int = 48, workers: int | None = None) -> Path:
    """Write the self-contained HTML report of a ``cytogate run`` folder.

    Parameters
    ----------
    run_dir : path
        The ``--out`` folder of ``cytogate run`` (needs ``manifest.json`` and
        ``counts.parquet`` or ``counts.csv``).
    out : path, optional
        The HTML file (default ``run_dir/report.html``).
    change_dir : path, optional
        A ``cytogate change`` output folder (default ``run_dir/change`` when it exists).
    max_samples_with_plots : int
        Samples whose gates are drawn (the FCS files are re-read and re-gated);
        0 draws none.  The tables always cover every sample.
    max_files_for_drift : int
        Files whose data-driven thresholds are overlaid in the drift figures (the
        drawn samples, then input order); these are re-gated but not drawn.
    workers : int, optional
        Processes drawing samples (default: up to the number of CPUs).

    Returns
    -------
    Path
        The written HTML file.

    Raises
    ------
    BatchError
        ``run_dir`` is not a run folder.
    OutputError
        The report cannot be written.
    """
    from .html import render_html

    run = Path(run_dir)
    manifest_path = run / "manifest.json"
    if not manifest_path.is_file():
        raise BatchError("not a cytogate run folder (manifest.json missing)", path=run)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BatchError(f"cannot read manifest.json: {exc}", path=manifest_path) from exc
    counts = _read_table(run, "counts")
    if counts is None:
        raise BatchError("no counts.parquet or counts.csv in the run folder", path=run)
    failures = _read_table(run, "failures")
    qc = _read_table(run, "qc")
    fits = _read_table(run, "fits")
    outliers = robust_outliers(counts)
    notes: list[str] = []

    samples: list[SamplePlots] = []
    drift: list[tuple[str, bytes]] = []
    chosen = _choose(counts, manifest, outliers, qc, max(0, int(max_samples_with_plots)))
    strategy_of = single = None
    reference_of: Any = None  # sample -> the reference it followed (None: static gates)
    if chosen:
        try:
            strategy_of = _strategies(manifest)
            if not manifest.get("strategies"):  # one strategy
                single = strategy_of("")
                reference = _follow_reference(manifest.get("follow"), single)
                reference_of = dict.fromkeys(counts["sample"].unique(), reference).get
            else:  # a study: each followed panel's own reference
                reference_of = _panel_references(manifest)
        except CytogateError as exc:
            strategy_of = None
            notes.append(f"gate plots skipped: {exc}")
    if strategy_of is not None:
        by_sample = {s: g for s, g in counts.groupby("sample", sort=False)}
        reviewed = _overrides(manifest, strategy_of, notes)
        per_sample = {s: (strategy_of(s), o.apply(strategy_of(s))) for s, o in reviewed.items()}

        def planned(sample: str) -> Any:
            return per_sample.get(sample) or strategy_of(sample)

        jobs = [(planned(s), s, f, by_sample.get(s), True, reference_of(s)) for s, f in chosen]
        # more files for the drift overlays: gating without drawing is cheap
        drawn = {s for s, _ in chosen}
        extra = [(s, f) for s, f in _choose(counts, manifest, outliers.iloc[:0], None, max_files_for_drift)
                 if s not in drawn][:max(0, max_files_for_drift - len(chosen))]
        jobs += [(planned(s), s, f, None, False, reference_of(s)) for s, f in extra]
        jobs = [job for job in jobs if job[0] is not None]
        n_workers = max(1, min(len(jobs), workers or os.cpu_count() or 1))
        log.info("drawing the gates of %d sample(s) (and re-gating %d more for drift) with %d process(es)",
                 len(chosen), len(extra), n_workers)
        if n_workers > 1:
            from ..threads import process_context  # the batch runner's fork/forkserver choice

            with ProcessPoolExecutor(max_workers=n_workers, mp_context=process_context()) as pool:
                done = list(pool.map(_plot_one, jobs))
        else:
            done = [_plot_one(j) for j in jobs]
        groups: dict[tuple[str, str, str], list[Any]] = {}
        from .drift import drift_key, plot_drift

        for plots, traces in done:
            if plots is not None:
                samples.append(plots)
            for t in traces:
                groups.setdefault(drift_key(t), []).append(t)
        for key, traces in groups.items():
            if len(traces) >= 2:
                drift.append((f"{key[0]}: {key[2]} of {key[1]}", _png(plot_drift(traces), dpi=80)))
        n_total = counts["sample"].nunique()
        if n_total > len(chosen):
            notes.append(f"gate plots for {len(chosen)} of {n_total} samples (outliers and QC-flagged first); "
                         "rerun `cytogate report` with --max-plots to draw more")

    cdir = Path(change_dir) if change_dir is not None else run / "change"
    change_tables: dict[str, pd.DataFrame] = {}
    change_figures: list[tuple[str, bytes]] = []
    if change_dir is not None and not cdir.is_dir():
        raise BatchError("change analysis folder not found", path=cdir)
    if cdir.is_dir():
        change_tables, change_figures = _change(cdir)
    data = ReportData(run, manifest, counts, failures if failures is not None else pd.DataFrame(), qc, outliers,
                      samples, drift, cdir if cdir.is_dir() else None, change_tables, change_figures, notes,
                      strategy_name=_strategy_name(manifest), fits=fits)
    html = render_html(data)
    target = Path(out) if out is not None else run / "report.html"
    write_text(target, html)
    log.info("report written: %s (%.1f MB)", target, target.stat().st_size / 1e6)
    return target


def _strategy_name(manifest: dict[str, Any]) -> str:
    if manifest.get("study"):
        study = manifest["study"]
        return f"{study.get('name', '')} ({', '.join(p['panel'] for p in manifest.get('strategies', []))})"
    text = (manifest.get("strategy") or {}).get("text") or ""
    for line in text.splitlines():
        if line.startswith("name:"):
            return line.split(":", 1)[1].strip()
    path = (manifest.get("strategy") or {}).get("path")
    return Path(path).name if path else ""
