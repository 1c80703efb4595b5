"""Template following in a batch run (``cytogate run --follow REF.fcs`` or the strategy's ``follow:``).

:func:`resolve_follow` decides, before anything is written, whether the run
follows and with which reference: the ``--follow`` option (a per-run option,
so study files can set it per panel) wins over the strategy's
``follow: {reference: ...}``.  It reads and prepares the reference once, so a
reference lacking a channel the gates use, or a followed gate whose parent is
empty on it, is an error (exit 2) before the output folder is touched.

A :class:`FollowRun` travels to the workers with the run's configuration.  It
pickles without the prepared reference (a forked pool inherits it; a Dask
worker prepares it again from the file, once, and checks the file's hash),
so every worker gates with the very same reference arrays.  Its :meth:`key`
(reference SHA-256 and settings) is part of each sample's cache key.

A study (``cytogate_study: 1``) names a reference per panel:
:func:`resolve_panel_follows` prepares one :class:`FollowRun` per panel, each
with that panel's strategy, and :func:`panels_manifest` records them.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BatchError, CytogateError
from ..strategy.follow_settings import FollowError, FollowSpec
from .inputs import is_url

__all__ = ["FOLLOW_SCHEMA", "FollowRun", "follow_summary", "panels_manifest", "resolve_follow",
           "resolve_panel_follows"]

#: Version of the manifest's ``follow`` block.
FOLLOW_SCHEMA = 1


@dataclass(eq=False)
class FollowRun:
    """The reference and settings every sample of a run follows with.

    Parameters
    ----------
    path : str
        The reference file (absolute path or URL).
    sha256 : str
        Its SHA-256 (checked again wherever the reference is prepared).
    spec : FollowSpec
        Default settings and per-population ones (pins included).
    read : callable
        Reads the reference (the run backend's reader).
    """

    path: str
    sha256: str
    spec: FollowSpec
    read: Callable[[str], Any]
    _prepared: dict[str, Any] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_prepared"] = {}  # prepared again from the file where it is needed
        return state

    def key(self) -> dict[str, Any]:
        """What changes a followed sample's result: the reference's hash and every setting."""
        spec = self.spec.to_dict()
        return {"reference_sha256": self.sha256, "settings": spec["settings"], "per_population": spec["populations"]}

    def manifest(self) -> dict[str, Any]:
        return {"schema": FOLLOW_SCHEMA, "reference": self.path, **self.key()}

    def reference(self, strategy: Any, pinned: Iterable[str] = ()) -> Any:
        """The prepared :class:`cytogate.follow.Reference` for ``strategy`` (prepared once per process).

        ``pinned`` populations (a reviewer's corrected gates) keep the gate
        ``strategy`` gives them on this sample.
        """
        from ..follow import Reference

        base = self._prepared.get("base")
        if base is None:
            sample = self.read(self.path)
            base = Reference(strategy, sample, self.spec.settings, per_population=dict(self.spec.populations))
            if base.sha256 != self.sha256:
                raise BatchError("the follow reference changed during the run; run again", path=self.path)
            base.sample = None  # the arrays it keeps are all that targets need
            self._prepared["base"] = base
        pinned = tuple(pinned)
        if base.strategy is strategy and not pinned:
            return base
        variant = copy.copy(base)
        variant.strategy = strategy
        variant.per_population = {**dict(base.per_population or {}), **{p: None for p in pinned}}
        return variant


def _spec(strategy: Any) -> FollowSpec:
    spec = getattr(strategy, "follow", None)
    return spec if isinstance(spec, FollowSpec) else FollowSpec()


def resolve_follow(strategy: Any, option: str | os.PathLike[str] | None, *, disabled: bool = False,
                   read: Callable[[str], Any], base: Path | None = None) -> FollowRun | None:
    """The run's :class:`FollowRun`, or None when it does not follow.

    Parameters
    ----------
    strategy : Strategy
        The run's strategy (its ``follow`` section gives settings and, without
        ``option``, the reference).
    option : path-like, optional
        ``--follow REF.fcs`` (relative to the working directory).
    disabled : bool
        ``--no-follow``: gate with the static template even if the strategy names a reference.
    read : callable
        Reads an FCS file (the batch backend's reader).

    Raises
    ------
    FollowError
        The reference lacks a channel the gates use, or a followed gate's parent is empty on it.
    BatchError
        The reference file is missing or unreadable.
    """
    if disabled:
        return None
    spec = _spec(strategy)
    if option is not None:
        text = os.fspath(option)
        path = text if is_url(text) else str(Path(text).expanduser().resolve())
    elif spec.reference is not None:
        path = spec.reference
    else:
        return None
    if not is_url(path) and not os.path.isfile(path):
        where = "--follow" if option is not None else "the strategy's follow: reference"
        raise BatchError(f"{where}: reference file not found", path=path)
    from ..follow import Reference

    try:
        sample = read(path)
    except FollowError:
        raise
    except Exception as exc:  # noqa: BLE001 - an unreadable reference is bad input, reported once
        if isinstance(exc, BatchError) or getattr(exc, "exit_code", None) == 2:
            raise
        raise BatchError(f"cannot read the follow reference: {exc}", path=path) from None
    reference = Reference(strategy, sample, spec.settings, per_population=dict(spec.populations))
    run = FollowRun(path, reference.sha256, spec, read)
    reference.sample = None
    run._prepared["base"] = reference
    return run


def follow_summary(per_sample: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict[str, Any]:
    """Manifest counts of followed gates: per population, how many samples followed, fell back or were pinned."""
    populations: dict[str, dict[str, Any]] = {}
    totals = {"followed": 0, "fallback": 0, "template": 0}
    for sample, rows in per_sample.items():
        seen: dict[str, str] = {}
        for row in rows:
            seen.setdefault(row["population"], row["status"])
        for population, status in seen.items():
            entry = populations.setdefault(population, {"followed": 0, "fallback": 0, "template": 0,
                                                        "fallback_samples": []})
            entry[status] += 1
            totals[status] += 1
            if status == "fallback":
                entry["fallback_samples"].append(sample)
    return {"file": "fits.parquet", **totals, "gates": populations}


def resolve_panel_follows(references: Mapping[str, tuple[Any, str]], *, disabled: bool = False,
                          read: Callable[[str], Any]) -> dict[str, FollowRun]:
    """One :class:`FollowRun` per panel of a study, from ``{panel: (its strategy, its reference file)}``.

    Every reference is read and prepared before anything runs.

    Raises
    ------
    BatchError
        A reference cannot be read or prepared; the message names the panel.
    """
    if disabled:
        return {}
    runs: dict[str, FollowRun] = {}
    for panel, (strategy, path) in references.items():
        try:
            run = resolve_follow(strategy, path, read=read)
        except CytogateError as exc:
            raise BatchError(f"panel {panel!r}, follow reference: {exc.message}", path=exc.path or path,
                             **exc.location) from None
        if run is not None:
            runs[panel] = run
    return runs


def panels_manifest(runs: Mapping[str, FollowRun], panel_of: Mapping[str, str],
                    per_sample: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict[str, Any]:
    """The manifest's ``follow`` block of a study: totals, and per followed panel its reference, settings, counts."""
    panels: dict[str, Any] = {}
    totals = {"followed": 0, "fallback": 0, "template": 0}
    for panel, run in runs.items():
        summary = follow_summary({s: rows for s, rows in per_sample.items() if panel_of.get(s) == panel})
        panels[panel] = {**run.manifest(), **summary}
        for status in totals:
            totals[status] += summary[status]
    return {"schema": FOLLOW_SCHEMA, "file": "fits.parquet", **totals, "panels": panels}
