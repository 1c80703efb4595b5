"""The work done for one sample, wherever it runs (this process, a pool worker, a Dask worker).

read -> acquisition QC -> gate -> intensity statistics.  The file's SHA-256
(the resume key) is computed in the same pass that streams the events through
the gates when there is no QC step (the file is read once), else beforehand.
Every failure is caught and returned as a failed outcome naming the stage, so
one corrupt file never stops a batch.  Nothing here writes to the output
folder: the driver commits results, so workers on other machines need no
access to it and a killed worker leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..engine.result import COUNT_COLUMNS, COUNT_DTYPES
from ..errors import BatchError, CytogateError
from .fits import check_strict, fit_rows, gate_sources, override_rows
from .inputs import is_url, local_copy
from .file_identity import FileHash, file_signature
from ..qc import QcSpec, acquisition_qc
from .gate_record import applied_gates
from .resume import SampleRecord, cache_key, record_document, table_document
from .stats import STATS_COLUMNS, STATS_DTYPES, sample_stats_columns

if TYPE_CHECKING:  # workers return plain documents: pandas loads only for statistics or membership
    import pandas as pd

__all__ = ["Backend", "SampleTask", "RunConfig", "SampleOutcome", "process_sample", "strategy_key", "task_strategy",
           "with_known_hashes"]


def _read(path: str) -> Any:
    from .. import read_fcs

    return read_fcs(path)


def _gate(strategy: Any, sample: Any, *, digest: Any | None = None, follow: Any | None = None) -> Any:
    from .. import gate

    return gate(strategy, sample, digest=digest, follow=follow)


def _subset(sample: Any, keep: np.ndarray) -> Any:
    subset = getattr(sample, "subset", None)
    if subset is not None:
        return subset(keep)
    from ..fcs import Sample

    return Sample.from_arrays(np.asarray(sample.events)[keep], sample.channels, markers=sample.markers,
                              keywords=sample.keywords, spillover=sample.spillover, path=sample.path)


@dataclass(frozen=True)
class Backend:
    """How a sample is read, gated and cut to the events QC keeps (swappable for tests).

    ``gate(strategy, sample, *, digest=None)`` must feed ``digest`` the file's
    bytes (see :func:`cytogate.gate`) when it is given; on a run that follows a
    reference it is also given ``follow=`` (a prepared reference).
    """

    read: Callable[[str], Any] = _read
    gate: Callable[..., Any] = _gate
    subset: Callable[[Any, np.ndarray], Any] = _subset


@dataclass(frozen=True)
class SampleTask:
    """One input to process: position in the run, sample name and path or URL.

    ``known`` is the file's hash when the driver computed it ahead
    (:mod:`cytogate.batch.prehash`); it is used only while the file is unchanged.
    ``strategy`` is this file's own strategy when it has one (a FlowJo
    workspace's sample tree, ``workspace_sample`` its sample id); otherwise the
    run's strategy applies.
    """

    index: int
    sample: str
    file: str
    known: FileHash | None = None
    strategy: Any = None
    workspace_sample: str | None = None


def with_known_hashes(tasks: Iterable[SampleTask], hashes: Mapping[str, FileHash]) -> list[SampleTask]:
    """``tasks`` with the hashes computed ahead attached (by file)."""
    return [replace(t, known=hashes[t.file]) if t.file in hashes else t for t in tasks]


@dataclass(frozen=True, eq=False)
class RunConfig:
    """Everything a worker needs besides the task (sent once per worker)."""

    strategy: Any
    membership: bool = False
    stats_scale: str = "compensated"
    stats: bool = True
    qc: QcSpec | None = None
    backend: Backend = field(default_factory=Backend)
    strict_fits: bool = False
    # sample name -> its reviewed gates (cytogate.strategy.overrides.SampleOverrides)
    overrides: Mapping[str, Any] = field(default_factory=dict)
    # template following: the reference and settings (cytogate.batch.follow_run.FollowRun)
    follow: Any = None
    # a study's per-panel following: sample name -> its panel's FollowRun (samples absent: static)
    follow_by_sample: Mapping[str, Any] = field(default_factory=dict)
    _strategies: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _shared: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def shared(self, task: SampleTask) -> SampleTask:
        """``task`` with its own strategy replaced by the first equal one this process saw.

        Tasks arrive one by one, each with its own copy of (say) its panel's
        strategy; one object per strategy lets the plan cache, which holds plans
        by strategy identity, compile each strategy once per channel layout.
        """
        if task.strategy is None:
            return task
        first = self._shared.setdefault(strategy_key(task, self), task.strategy)
        return task if first is task.strategy else replace(task, strategy=first)

    def key_options(self, sample: str | None = None) -> dict[str, Any]:
        """The options that change a sample's result (part of the cache key), with its overrides if any."""
        options = {"membership": self.membership, "stats": self.stats, "stats_scale": self.stats_scale,
                   "qc": None if self.qc is None else self.qc.to_dict(),
                   **({"strict_fits": True} if self.strict_fits else {})}
        if sample is not None and sample in self.overrides:
            options["overrides"] = self.overrides[sample].key()
        follow = self.follow_for(sample)
        if follow is not None:
            options["follow"] = follow.key()
        return options

    def follow_for(self, sample: str | None) -> Any:
        """The FollowRun ``sample`` follows with: its panel's in a study, else the run's (None: static gates)."""
        if self.follow_by_sample:
            return self.follow_by_sample.get(sample) if sample is not None else None
        return self.follow

    def strategy_for(self, sample: str, base: Any = None) -> Any:
        """The strategy ``sample`` is gated with: ``base`` (else the run's), with that sample's overrides applied."""
        base = self.strategy if base is None else base
        if sample not in self.overrides:
            return base
        if sample not in self._strategies:  # kept: the plan cache holds plans by strategy identity
            self._strategies[sample] = self.overrides[sample].apply(base)
        return self._strategies[sample]


def task_strategy(task: SampleTask, config: RunConfig) -> Any:
    """The strategy that gates this task: its own, else the run's."""
    return config.strategy if task.strategy is None else task.strategy


def strategy_key(task: SampleTask, config: RunConfig) -> str:
    """The strategy part of a task's cache key: the strategy's SHA-256 and, for a workspace, the sample id."""
    sha256 = str(getattr(task_strategy(task, config), "sha256", ""))
    return sha256 if task.workspace_sample is None else f"{sha256}:workspace-sample:{task.workspace_sample}"


@dataclass(frozen=True, eq=False)
class SampleOutcome:
    """What a worker returns: a result to commit, or the stage and reason it failed.

    ``document`` is the result as the JSON document the driver commits
    (:meth:`SampleRecord.to_json`), built without pandas so that workers start
    gating before pandas has loaded anywhere.
    """

    task: SampleTask
    document: dict[str, Any] | None = None
    membership: pd.DataFrame | None = None
    stage: str = ""
    reason: str = ""
    seconds: float = 0.0
    hashed: FileHash | None = None  # a local file's hash computed here, with the file's identity
    retried: bool = False  # run again after the worker gating it was lost

    @property
    def ok(self) -> bool:
        return self.document is not None

    @property
    def record(self) -> SampleRecord | None:
        return None if self.document is None else SampleRecord.from_json(self.document)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    if isinstance(exc, CytogateError):
        return text[0] if text else type(exc).__name__
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _membership(masks: dict[str, np.ndarray], keep: np.ndarray | None, n_events: int) -> pd.DataFrame:
    import pandas as pd

    columns: dict[str, np.ndarray] = {}
    for path, mask in masks.items():
        mask = np.asarray(mask, dtype=bool)
        if keep is not None:
            full = np.zeros(n_events, dtype=bool)
            full[keep] = mask
            mask = full
        columns[path] = mask
    if keep is not None:
        columns["qc_kept"] = keep
    return pd.DataFrame(columns)


def process_sample(task: SampleTask, config: RunConfig) -> SampleOutcome:
    """Read, QC, gate and measure one sample; never raises for a bad input.

    Returns
    -------
    SampleOutcome
        ``record`` set on success; otherwise ``stage`` (``read``, ``qc``,
        ``gate``, ``stats``) and a one-line ``reason``.
    """
    started = time.perf_counter()
    task = config.shared(task)
    strategy = task_strategy(task, config)
    seconds: dict[str, float] = {}
    stage = "read"
    try:
        clock = time.perf_counter()
        known = task.known if task.known is not None and task.known.still_valid(task.file) else None
        since, before = time.time_ns(), (None if known is not None or is_url(task.file)
                                         else file_signature(task.file))
        with local_copy(task.file, hash_local=config.qc is not None and known is None) as (local, sha256):
            if known is not None:
                sha256 = known.sha256
            sample = config.backend.read(local)
            n_events = int(sample.n_events)
            seconds["read"] = time.perf_counter() - clock
            digest = hashlib.sha256() if sha256 is None else None

            stage, clock = "qc", time.perf_counter()
            keep, qc_report = None, None
            if config.qc is not None:
                keep, qc_report = acquisition_qc(sample.events, list(sample.channels), config.qc)
                if keep.all():
                    keep = None
                else:
                    sample = config.backend.subset(sample, keep)
            seconds["qc"] = time.perf_counter() - clock

            stage, clock = "gate", time.perf_counter()
            # the run's strategy or the task's own, with this sample's overrides if any
            strategy = config.strategy_for(task.sample, task.strategy)
            overridden = tuple(config.overrides[task.sample].gates) if task.sample in config.overrides else ()
            follow = config.follow_for(task.sample)
            if follow is not None:
                reference = follow.reference(strategy, pinned=overridden)
                result = config.backend.gate(strategy, sample, digest=digest, follow=reference)
            else:
                result = config.backend.gate(strategy, sample, digest=digest)
            if digest is not None:  # hashed while the events streamed through the gates
                sha256 = digest.hexdigest()
            # the hash (and, with data-driven gates, each of several reads) must describe one file
            if (before is not None and file_signature(task.file) != before) or (
                    known is not None and not known.still_valid(task.file)):
                raise BatchError("the file changed while it was being gated; run again", path=task.file)
            fits = fit_rows(result, task.sample) + override_rows(strategy, task.sample,
                                                                  config.overrides.get(task.sample))
            if config.strict_fits:
                check_strict(fits, task.file)
            rows = result.count_rows()
            columns = {name: [row[i] for row in rows] for i, name in enumerate(COUNT_COLUMNS)}
            columns["sample"], columns["file"] = [task.sample] * len(rows), [task.file] * len(rows)
            fitted = dict(getattr(result, "fitted", {}) or {})
            sources = {**gate_sources(result, fits), **{path: "override" for path in overridden}}
            columns["gate_source"] = [sources[row[2]] for row in rows]
            counts = table_document((*COUNT_COLUMNS, "gate_source"), (*COUNT_DTYPES, "object"), columns)
            moved = [g.path for g in getattr(result, "follow", ()) if g.status == "followed"]
            gates = applied_gates(strategy, fitted, overridden, moved)
            masks = dict(result.masks)
            seconds["gate"] = time.perf_counter() - clock

            stage, clock = "stats", time.perf_counter()
            if config.stats:  # one pass per channel for every population, no pandas in the worker
                columns = sample_stats_columns(strategy, sample, config.stats_scale, masks, name=task.sample)
                stats = table_document(STATS_COLUMNS, STATS_DTYPES, columns)
            else:
                stats = table_document(STATS_COLUMNS, ["object"] * len(STATS_COLUMNS), {c: [] for c in STATS_COLUMNS})
            membership = _membership(masks, keep, n_events) if config.membership else None
            seconds["stats"] = time.perf_counter() - clock
    except Exception as exc:  # isolate every failure to its file
        return SampleOutcome(task, stage=stage, reason=_reason(exc), seconds=time.perf_counter() - started)
    seconds["total"] = time.perf_counter() - started
    assert sha256 is not None  # known before, or hashed while the events streamed through the gates
    hashed = None
    if before is not None and file_signature(task.file) == before:
        hashed = FileHash(sha256, before, since)
    document = record_document(
        sample=task.sample, file=task.file,
        key=cache_key(strategy_key(task, config), sha256, config.key_options(task.sample)),
        sha256=sha256, n_events=n_events, n_events_kept=n_events if keep is None else int(keep.sum()),
        counts=counts, stats=stats, qc=qc_report, seconds={k: round(v, 6) for k, v in seconds.items()},
        gates=gates,
        fits=fits,
    )
    return SampleOutcome(task, document=document, membership=membership, seconds=seconds["total"], hashed=hashed)
