"""``run_batch``: gate many files into one output folder, resumably.

Order of work, chosen so that bad input never leaves anything half-written:
load the strategy, expand the inputs and read the sample sheet (any problem is
an error before the output folder is touched); lock the folder; reuse every
cached sample whose key still matches; process the rest locally or on Dask,
committing each sample atomically as it finishes and handing it to the tables
in input order (:mod:`cytogate.batch.table_feed`: the driver keeps a small
summary per sample, not its tables); publish the tables; write
``manifest.json`` last.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import EXIT_OK, EXIT_PARTIAL, BatchError
from .absolute import AbsoluteOptions
from .fits import FitsTally
from .follow_run import FollowRun, follow_summary, panels_manifest, resolve_follow, resolve_panel_follows
from ..strategy.follow_settings import is_follow_row
from .inputs import expand_inputs, is_url, sha256_of
from .local import default_workers, run_local
from .lock import OutputLock
from ..atomic import remove_stale_temporaries, write_json, write_parquet
from .hash_index import HashIndex
from .file_identity import FileHash
from .prehash import HashAhead, hash_file
from .progress import Progress, Summary
from ..qc import QcSpec
from .resume import ResultCache, SampleRecord, SampleSummary, cache_key
from .samplesheet import SampleSheet, SheetRow, safe_sample_name
from .stats import SCALES
from .worker import Backend, RunConfig, SampleOutcome, SampleTask, strategy_key
from .flowjo_counts import AgreementTally, FlowJoAgreement
from .workspace_tasks import WorkspacePlan, add_workspace_to_manifest, assign_workspace_samples
from .study import StudyPlan, add_study_to_manifest, plan_study
from .table_feed import TableFeed
from ..strategy.study import Study, is_study_file, load_study
from ..strategy.workspace import Workspace

__all__ = ["MANIFEST_SCHEMA", "BatchOptions", "BatchResult", "plan_tasks", "run_batch"]

STATS_SCALE_MEANING = {
    "compensated": "values the gates saw: each channel compensated as its gates compensate it, "
                   "channels no gate reads with the file's own spillover",
    "raw": "FCS scale values, uncompensated",
    "transformed": "compensated as the gates, then each gated channel on its gate's transform",
}
MANIFEST_SCHEMA = 2  # 2: statistics default to the gates' compensated values; "statistics" block
log = logging.getLogger("cytogate.batch")


@dataclass(frozen=True)
class BatchOptions:
    """Options of a batch run (the ``cytogate run`` flags).

    Parameters
    ----------
    workers : int or None
        Local worker processes; None sizes the pool to cores and memory.
    scheduler : str or None
        Dask scheduler address (``tcp://host:8786``); overrides ``workers``.
    membership : bool
        Also write ``membership/<sample>.parquet``.
    stats_scale : {"raw", "compensated", "transformed"}
    stats : bool
        Compute intensity statistics (``stats.parquet`` is written either way).
    force : bool
        Recompute every sample even when a cached result matches.
    qc : QcSpec or None
        Acquisition QC; overrides the strategy's ``qc`` step when given.
    absolute : AbsoluteOptions
    progress : bool or None
        Progress bar (None: when stderr is a terminal).
    rehash : bool
        Hash every input afresh instead of using hashes remembered from earlier
        runs (:mod:`cytogate.batch.hash_index`); nothing is remembered either.
    overrides : path-like or None
        A ``cytogate_overrides: 1`` file of per-sample gate corrections
        (:mod:`cytogate.strategy.overrides`); only the samples it names change.
    sample, group : str or None
        With a FlowJo workspace: apply this sample's (name or id) or this
        group's tree to every file instead of each file's own sample.
    strict_fits : bool
        A sample on which a data-driven gate fell back is a failed sample.
    follow : path-like or None
        Template following: every static gate follows each sample from this
        reference file (the file the gates were drawn on); None uses the
        strategy's ``follow: {reference: ...}`` if any (:mod:`cytogate.batch.follow_run`).
    no_follow : bool
        Gate with the static template even when the strategy names a reference.
    """

    workers: int | None = None
    scheduler: str | None = None
    membership: bool = False
    stats_scale: str = "compensated"
    stats: bool = True
    force: bool = False
    qc: QcSpec | None = None
    absolute: AbsoluteOptions = field(default_factory=AbsoluteOptions)
    progress: bool | None = None
    rehash: bool = False
    overrides: str | os.PathLike[str] | None = None
    sample: str | None = None
    group: str | None = None
    strict_fits: bool = False
    follow: str | os.PathLike[str] | None = None
    no_follow: bool = False

    def __post_init__(self) -> None:
        if self.stats_scale not in SCALES:
            raise BatchError(f"unknown stats scale {self.stats_scale!r}; choose one of {', '.join(SCALES)}")
        if self.workers is not None and self.workers < 1:
            raise BatchError(f"--workers must be at least 1, not {self.workers}")
        if self.follow is not None and self.no_follow:
            raise BatchError("--follow and --no-follow contradict each other")


@dataclass(frozen=True)
class BatchResult:
    """What a run produced."""

    out: Path
    summary: Summary
    failures: tuple[dict[str, str], ...]
    manifest: dict[str, Any]
    flowjo: FlowJoAgreement | None = None  # workspace runs: agreement with FlowJo's stored counts
    notes: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """0 when every input succeeded, 3 when some failed (docs/architecture.md, "Errors and exit codes")."""
        return EXIT_PARTIAL if self.failures else EXIT_OK


def plan_tasks(inputs: Sequence[str | os.PathLike[str]], samples: str | os.PathLike[str] | None
               ) -> tuple[list[SampleTask], dict[str, dict[str, Any]], SampleSheet | None]:
    """Tasks (input order), sheet metadata by sample, and the sheet.

    Raises
    ------
    BatchError, SampleSheetError
        No inputs, inputs not found, unmatched sheet rows, clashing sample names.
    """
    sheet = SampleSheet.read(samples) if samples is not None else None
    if inputs:
        found = expand_inputs(inputs)
        rows = sheet.match(found) if sheet is not None else [
            SheetRow(0, entry.path, safe_sample_name(entry.stem)) for entry in found]
    elif sheet is not None:
        rows = list(sheet.rows)
    else:
        raise BatchError("no inputs: give FCS files, folders or globs, or --samples SHEET")
    seen: dict[str, str] = {}
    for row in rows:
        if row.sample in seen:
            raise BatchError(f"inputs {seen[row.sample]} and {row.file} would both be sample {row.sample!r}; "
                             "give a sample sheet with a 'sample' column to name them")
        seen[row.sample] = row.file
    tasks = [SampleTask(i, row.sample, row.file) for i, row in enumerate(rows)]
    return tasks, {row.sample: dict(row.metadata) for row in rows}, sheet


def _load_strategy(strategy: Any) -> Any:
    if isinstance(strategy, (str, os.PathLike)):
        from ..strategy import open_document

        if is_study_file(strategy):  # several panels, each with its own strategy
            return load_study(strategy)

        return open_document(strategy)  # a strategy, or a FlowJo workspace (one strategy per sample)
    return strategy


def _workspace_plan(strategy_obj: Any, tasks: list[SampleTask], options: BatchOptions) -> WorkspacePlan | None:
    if isinstance(strategy_obj, Workspace):
        return assign_workspace_samples(strategy_obj, tasks, sample=options.sample, group=options.group)
    if options.sample is not None or options.group is not None:
        raise BatchError("--sample and --group choose a tree from a FlowJo workspace; this strategy is "
                         f"{getattr(strategy_obj, 'format', 'not a workspace')}")
    return None


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def run_batch(strategy: Any, inputs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str], *,
              samples: str | os.PathLike[str] | None = None, options: BatchOptions = BatchOptions(),
              backend: Backend = Backend(), prehash: HashAhead | None = None) -> BatchResult:
    """Gate every input with ``strategy`` and write the run's tables into ``out``.

    Parameters
    ----------
    strategy : path-like, Strategy or Workspace
        A YAML, Gating-ML or FlowJo workspace file (told apart by content), or
        a loaded strategy (with ``sha256``) or workspace.  With a workspace each
        file is gated with its own sample's tree (``options.sample`` /
        ``options.group`` apply one tree to all) and ``counts.csv`` gains
        FlowJo's ``flowjo_count``.
    inputs : sequence of path-like or str
        Files, folders, globs or fsspec URLs; may be empty when ``samples`` is given.
    out : path-like
        Output folder (created; locked for the duration of the run).
    samples : path-like, optional
        Sample sheet (CSV, TSV or Excel).
    options : BatchOptions
    backend : Backend
        Reader and engine (tests swap in fakes).
    prehash : HashAhead, optional
        The inputs' hashing, already started by the caller (the command line
        starts it before its heavy imports); started here otherwise.  Stopped
        before this returns.

    Returns
    -------
    BatchResult
        ``exit_code`` is 3 when some inputs failed (listed in ``failures.csv``).

    Raises
    ------
    CytogateError
        Bad strategy, inputs or sheet (before anything is written), a locked
        output folder, or an output that cannot be written.
    """
    started_at, clock = _now(), time.perf_counter()
    strategy_obj = _load_strategy(strategy)  # a bad strategy is reported first, whatever the inputs
    if isinstance(strategy_obj, Study):
        study = _study_plan(strategy_obj, inputs, samples, options)
        panel_follow = resolve_panel_follows(  # a bad reference: an error now, naming its panel
            {p: (study.strategies[p], ref) for p, ref in study.study.follow.items()},
            disabled=options.no_follow, read=backend.read)
        if prehash is None:
            prehash = HashAhead((t.file for t in study.tasks), index=None if options.rehash else True)
        try:
            return _run(strategy, None, study.tasks, study.metadata, study.sheet, out, options, backend, prehash,
                        started_at, clock, (study.overrides, dict(study.per_sample or {})), study=study,
                        panel_follow=panel_follow)
        finally:
            prehash.stop()
    tasks, metadata, sheet = plan_tasks(inputs, samples)
    workspace = _workspace_plan(strategy_obj, tasks, options)  # files matching no sample: an error now
    if workspace is not None:
        tasks = workspace.tasks
    reviewed, per_sample = None, {}
    named = getattr(strategy_obj, "overrides", None)  # the strategy's `overrides:`; the option replaces it
    if named is not None and options.overrides is not None:
        log.warning("--overrides %s replaces the strategy's overrides file %s", options.overrides, named)
    if options.overrides is None and named is not None:
        options = replace(options, overrides=named)
    if options.overrides is not None:  # checked against the strategy and samples before anything is written
        from ..strategy.overrides import load_overrides

        reviewed = load_overrides(options.overrides)
        if workspace is not None:  # each file's override is read against its own workspace sample's tree
            per_sample = reviewed.resolve_each({t.sample: t.strategy for t in tasks})
        else:
            per_sample = reviewed.resolve(strategy_obj, [t.sample for t in tasks])
    follow = _follow_run(strategy_obj, workspace, options, backend)  # a bad reference: an error now
    if prehash is None:  # hash while numba loads its kernels
        prehash = HashAhead((t.file for t in tasks), index=None if options.rehash else True)
    try:
        return _run(strategy, strategy_obj, tasks, metadata, sheet, out, options, backend, prehash, started_at,
                    clock, (reviewed, per_sample), workspace, follow)
    finally:
        prehash.stop()


def _follow_run(strategy_obj: Any, workspace: WorkspacePlan | None, options: BatchOptions,
                backend: Backend) -> FollowRun | None:
    if workspace is not None:
        if options.follow is not None:
            raise BatchError("--follow moves one strategy's gates; a FlowJo workspace run gates each file with its "
                             "own sample's tree (convert the template sample first: cytogate convert)")
        return None
    return resolve_follow(strategy_obj, options.follow, disabled=options.no_follow, read=backend.read)


def _study_plan(study: Study, inputs: Sequence[Any], samples: Any, options: BatchOptions) -> StudyPlan:
    if inputs or samples is not None:
        raise BatchError("a study file names its own sample sheet; give no inputs or --samples with it",
                         path=study.source)
    if options.sample is not None or options.group is not None:
        raise BatchError("--sample and --group choose a tree from a FlowJo workspace, not from a study",
                         path=study.source)
    if options.follow is not None:
        raise BatchError("--follow moves one strategy's gates; a study names each panel's reference in its "
                         "'follow: {PANEL: REF.fcs}'", path=study.source)
    if options.overrides is not None:  # the command line's file replaces the study's own
        study = replace(study, overrides=str(Path(options.overrides).resolve()))
    return plan_study(study)


def _known_hash(prehash: HashAhead, path: str) -> tuple[FileHash | None, bool]:
    """The hash of an input (None if unreadable or changing), and whether it was computed here.

    A hash from the background hashing or the index is used only while the
    file is still the one it describes.
    """
    known = prehash.claim(path)
    if known is not None and known.still_valid(path):
        return known, False
    known = hash_file(path)
    return known, known is not None


def _run(strategy: Any, strategy_obj: Any, tasks: list[SampleTask], metadata: dict[str, dict[str, Any]],
         sheet: SampleSheet | None, out: str | os.PathLike[str], options: BatchOptions, backend: Backend,
         prehash: HashAhead, started_at: str, clock: float, review: tuple[Any, dict[str, Any]],
         workspace: WorkspacePlan | None = None, follow: FollowRun | None = None,
         study: StudyPlan | None = None, panel_follow: Mapping[str, FollowRun] | None = None) -> BatchResult:
    qc = options.qc
    step = study.qc if study is not None and qc is None else getattr(strategy_obj, "qc", None)
    if qc is None and step is not None:
        qc = step if isinstance(step, QcSpec) else QcSpec.from_mapping(step)
    # a workspace's or study's tasks carry their own strategies; the document itself stays with the driver
    config = RunConfig(None if workspace is not None else strategy_obj, membership=options.membership,
                       stats_scale=options.stats_scale, stats=options.stats, qc=qc, backend=backend,
                       overrides=review[1], strict_fits=options.strict_fits, follow=follow,
                       follow_by_sample={s: panel_follow[p] for s, p in study.panel_of.items() if p in panel_follow}
                       if study is not None and panel_follow else {})
    out_dir = Path(out).expanduser().resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise BatchError("--out exists and is not a folder", path=out_dir)

    with OutputLock(out_dir) as lock:
        cache = ResultCache(out_dir)
        stale = remove_stale_temporaries(out_dir, out_dir / "membership", cache.root)
        if stale:
            log.info("removed %d temporary file(s) left by an interrupted run", stale)
        progress = Progress(len(tasks), bar=options.progress)
        records: dict[str, SampleSummary] = {}  # small facts only: the tables stay in the cache
        failures: dict[str, dict[str, str]] = {}
        reused: set[str] = set()
        pending: list[SampleTask] = []
        hashed: list[tuple[str, FileHash]] = []  # hashes computed here and by workers, for the index
        for task in tasks:
            known = None
            record = None if options.force else cache.load(task.sample)
            if record is not None and record.file == task.file and (
                    not options.membership or (out_dir / "membership" / f"{task.sample}.parquet").is_file()):
                sha256 = None
                if is_url(task.file):
                    try:
                        sha256 = sha256_of(task.file)
                    except OSError:
                        pass
                else:  # None when unreadable or changing: then it is recomputed, not reused
                    known, computed = _known_hash(prehash, task.file)
                    sha256 = None if known is None else known.sha256
                    if computed and known is not None:
                        hashed.append((task.file, known))
                if sha256 is not None and cache_key(strategy_key(task, config), sha256,
                                                    config.key_options(task.sample)) == record.key:
                    records[task.sample] = record.summary
                    reused.add(task.sample)
                    progress.update(task.sample, events=record.n_events, cached=True)
                    continue
            pending.append(task if known is None else replace(task, known=known))
        if reused:
            log.info("reusing %d sample(s) finished by an earlier run with the same strategy, files and options",
                     len(reused))

        if options.scheduler:
            from .dask_runner import run_dask

            outcomes = run_dask(pending, config, address=options.scheduler, prehash=prehash)
            runner = f"dask {options.scheduler}"
        else:
            workers = options.workers or default_workers(len(pending), max(map(_size, (t.file for t in pending)),
                                                                            default=0))
            outcomes = run_local(pending, config, workers=workers, close_fds=[lock.fd] if lock.fd else [],
                                 prehash=prehash)
            runner = f"local, {min(workers, max(len(pending), 1))} worker(s)"
        retried: set[str] = set()
        tallies = _Tallies(None if workspace is None else workspace.flowjo_counts,
                           follow is not None or bool(panel_follow))

        def table_options() -> Any:
            from .assemble import TableOptions  # pandas: imported once the workers are busy

            return TableOptions(metadata, sheet, options.absolute, options.stats_scale,
                                None if workspace is None else workspace.flowjo_counts,
                                None if study is None else study.panel_of)

        # the tables are assembled as samples finish, in input order (published together at the end)
        with TableFeed([t.sample for t in tasks], cache, out_dir, table_options, tallies.add) as tables:
            for outcome in outcomes:
                if outcome.retried:
                    retried.add(outcome.task.sample)
                _commit(outcome, out_dir, cache, records, failures, options)
                progress.update(outcome.task.sample, events=outcome.document["n_events"] if outcome.ok
                                and outcome.document else 0, ok=outcome.ok, reason=outcome.reason)
                if outcome.hashed is not None and not options.scheduler:  # identities are this machine's
                    hashed.append((outcome.task.file, outcome.hashed))
                tables.finished(outcome.task.sample, outcome.document, records, failures)
            summary = progress.close()
            if hashed and not options.rehash:
                with HashIndex() as index:
                    index.remember(hashed)
            tables.finish(records, failures)

        from .assemble import write_side_tables

        ordered = [records[t.sample] for t in tasks if t.sample in records]
        failed = tuple(failures[t.sample] for t in tasks if t.sample in failures)
        write_side_tables(out_dir, failed, ordered, qc=qc is not None)
        flowjo = None if tallies.flowjo is None else tallies.flowjo.agreement()
        manifest = _manifest(strategy, strategy_obj, tasks, records, failures, reused, options, qc, sheet,
                             runner, started_at, time.perf_counter() - clock, summary, tallies.fits.summary())
        manifest["overrides"] = None if review[0] is None else review[0].manifest_entry()
        if follow is not None:
            manifest["follow"] = {**follow.manifest(), **follow_summary(tallies.followed or {})}
        if study is not None and panel_follow:
            manifest["follow"] = panels_manifest(panel_follow, study.panel_of, tallies.followed or {})
        if workspace is not None and flowjo is not None:
            add_workspace_to_manifest(manifest, workspace, flowjo)
        if study is not None:
            add_study_to_manifest(manifest, study)
        manifest["retried"] = [t.sample for t in tasks if t.sample in retried]  # after a lost worker
        for entry in manifest["inputs"]:
            if entry["sample"] in retried:
                entry["retried"] = True
        write_json(out_dir / "manifest.json", manifest)
    return BatchResult(out_dir, summary, failed, manifest, flowjo, tuple(workspace.notes) if workspace else ())


class _Tallies:
    """The manifest's per-run counts, gathered as the tables are assembled (one sample at a time)."""

    def __init__(self, flowjo_counts: dict[str, dict[str, int]] | None, follow: bool) -> None:
        self.fits = FitsTally()
        self.flowjo = None if flowjo_counts is None else AgreementTally(flowjo_counts)
        # per sample, each followed gate's status (what follow_summary reads), not the whole rows
        self.followed: dict[str, list[dict[str, Any]]] | None = {} if follow else None

    def add(self, record: SampleRecord) -> None:
        self.fits.add(record.sample, record.fits)
        if self.flowjo is not None:
            self.flowjo.add(record)
        if self.followed is not None:
            first: dict[str, str] = {}
            for row in record.fits:
                if is_follow_row(row):
                    first.setdefault(row["population"], row["status"])
            self.followed[record.sample] = [{"population": p, "status": s} for p, s in first.items()]


def _commit(outcome: SampleOutcome, out_dir: Path, cache: ResultCache, records: dict[str, SampleSummary],
            failures: dict[str, dict[str, str]], options: BatchOptions) -> None:
    task = outcome.task
    if outcome.document is None:
        failures[task.sample] = {"file": task.file, "sample": task.sample, "stage": outcome.stage,
                                 "reason": outcome.reason}
        return
    if options.membership and outcome.membership is not None:
        write_parquet(out_dir / "membership" / f"{task.sample}.parquet", outcome.membership)
    cache.store(outcome.document)
    # the tables are assembled from the committed file, as a resumed run would read them back
    records[task.sample] = SampleSummary.from_json(outcome.document)


def _manifest(strategy_arg: Any, strategy: Any, tasks: Sequence[SampleTask], records: dict[str, SampleSummary],
              failures: dict[str, dict[str, str]], reused: set[str], options: BatchOptions, qc: QcSpec | None,
              sheet: SampleSheet | None, runner: str, started_at: str, seconds: float,
              summary: Summary, fits: dict[str, Any]) -> dict[str, Any]:
    entries = []
    for task in tasks:
        record, failure = records.get(task.sample), failures.get(task.sample)
        entry: dict[str, Any] = {"path": task.file, "sample": task.sample}
        if record is not None:
            entry.update(status="ok", reused=task.sample in reused, sha256=record.sha256,
                         n_events=record.n_events, n_events_kept=record.n_events_kept, seconds=record.seconds)
            if record.qc is not None:
                entry["qc"] = record.qc
        elif failure is not None:
            entry.update(status="failed", stage=failure["stage"], reason=failure["reason"])
        entries.append(entry)
    path = os.fspath(strategy_arg) if isinstance(strategy_arg, (str, os.PathLike)) else getattr(strategy, "source", None)
    return {
        "schema": MANIFEST_SCHEMA,
        "cytogate": __version__,
        "python": platform.python_version(),
        "started": started_at,
        "finished": _now(),
        "seconds": round(seconds, 3),
        "runner": runner,
        "strategy": {"path": None if path is None else str(Path(path).resolve()),
                     "sha256": getattr(strategy, "sha256", None),
                     "format": getattr(strategy, "format", None),
                     "text": getattr(strategy, "source_text", None)},
        "sample_sheet": None if sheet is None else {"path": sheet.path, "sha256": sha256_of(sheet.path)},
        "options": {"membership": options.membership, "stats": options.stats, "stats_scale": options.stats_scale,
                    "force": options.force, "strict_fits": options.strict_fits,
                    "follow": None if options.follow is None else os.fspath(options.follow),
                    "no_follow": options.no_follow, "workers": options.workers, "scheduler": options.scheduler,
                    "qc": None if qc is None else qc.to_dict(),
                    "absolute": {"bead_population": options.absolute.bead_population,
                                 "wbc_reference": options.absolute.wbc_reference,
                                 "lymphocyte_reference": options.absolute.lymphocyte_reference}},
        "statistics": {"computed": options.stats, "scale": options.stats_scale,
                       "meaning": STATS_SCALE_MEANING[options.stats_scale]},
        "fits": fits,
        "totals": {"files": summary.files, "ok": summary.done, "reused": summary.cached, "failed": summary.failed,
                   "events": summary.events},
        "inputs": entries,
    }
