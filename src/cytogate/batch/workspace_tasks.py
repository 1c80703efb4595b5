"""A batch over a FlowJo workspace: each file gated with its own workspace sample's tree.

Each input is matched to one sample of the workspace by, in this order, the
file's ``$FIL`` keyword, its file name, then the workspace's data-set URI;
the first rule that singles out one sample decides.  Files that match no
sample are an error before anything runs; workspace samples without a file
are reported as notes.  ``sample=`` instead applies one sample's tree to
every file, ``group=`` a group's own gates (FlowJo's group template); FlowJo's
counts are then reported only for the file whose own sample that tree is.
"""

from __future__ import annotations

import logging
import os
import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlparse

from ..errors import BatchError, CytogateError
from ..strategy.flowjo_wsp import WspImport, WspSample
from ..strategy.workspace import Workspace
from .flowjo_counts import FlowJoAgreement
from .inputs import is_url
from .worker import SampleTask

__all__ = ["WorkspacePlan", "add_workspace_to_manifest", "assign_workspace_samples", "match_sample"]

log = logging.getLogger("cytogate.batch")


@dataclass(frozen=True)
class WorkspacePlan:
    """Tasks carrying their own strategy, FlowJo's counts by sample, and notes for the user."""

    tasks: list[SampleTask]
    flowjo_counts: dict[str, dict[str, int]]  # run sample name -> population path -> FlowJo's count
    samples: dict[str, WspSample]  # run sample name -> the file's workspace sample (else the tree's)
    notes: list[str]


def _fil_of(path: str) -> str:
    if is_url(path):
        return ""
    from ..fcs import read_metadata

    try:
        return read_metadata(path).keywords.get("$FIL", "").strip()
    except (CytogateError, OSError):
        return ""  # an unreadable file is matched by name here and fails, with its reason, when it is read


def _uri_name(uri: str) -> str:
    parsed = urlparse(uri)
    path = unquote(parsed.path if parsed.scheme else uri).replace("\\", "/")
    return posixpath.basename(path)


def match_sample(workspace: Workspace, path: str, *, fil_of: Callable[[str], str] = _fil_of
                 ) -> tuple[WspSample | None, str]:
    """The workspace sample an input belongs to, and the rule that matched (``$FIL``, ``name``, ``uri``).

    Raises
    ------
    BatchError
        When the deciding rule matches several samples.
    """
    name = posixpath.basename(path.replace("\\", "/")) if is_url(path) else os.path.basename(path)
    fil = fil_of(path)
    rules = (
        ("$FIL", lambda s: bool(fil) and fil in (s.fil, s.name)),
        ("name", lambda s: name in (s.name, s.fil)),
        ("uri", lambda s: bool(s.uri) and _uri_name(s.uri) == name),
    )
    for rule, test in rules:
        found = [s for s in workspace.samples if test(s)]
        if len(found) == 1:
            return found[0], rule
        if len(found) > 1:
            listed = ", ".join(f"{s.name} (id {s.id})" for s in found)
            raise BatchError(f"matches {len(found)} workspace samples by {rule} ({listed}); "
                             "choose one with --sample", path=path)
    return None, ""


def assign_workspace_samples(workspace: Workspace, tasks: Sequence[SampleTask], *, sample: str | None = None,
                             group: str | None = None, fil_of: Callable[[str], str] = _fil_of) -> WorkspacePlan:
    """Give every task its workspace sample's strategy.

    Raises
    ------
    BatchError
        Files matching no sample (all named, nothing run), ambiguous matches.
    StrategyError
        Unknown ``sample``/``group``, a tree that cannot be imported (naming the population).
    """
    if sample is not None and group is not None:
        raise BatchError("give --sample or --group, not both")
    fixed: WspImport | None = None  # one tree for every file
    if sample is not None:
        fixed = workspace.strategy_for(sample)
    elif group is not None:
        fixed = workspace.strategy_for_group(group)
    chosen: list[tuple[SampleTask, WspSample | None]] = []
    unmatched: list[str] = []
    for task in tasks:
        try:
            info, _ = match_sample(workspace, task.file, fil_of=fil_of)
        except BatchError:
            if fixed is None:
                raise
            info = None  # with one tree for all, an ambiguous match only loses FlowJo's count
        if info is None and fixed is None:
            unmatched.append(task.file)
        chosen.append((task, info))
    if unmatched:
        known = ", ".join(s.name for s in workspace.samples)
        raise BatchError(f"{len(unmatched)} input(s) match no sample of the workspace (by $FIL, file name or URI): "
                         f"{', '.join(unmatched)}; its samples are: {known}; or apply one tree to every file "
                         "with --sample or --group", path=workspace.path)
    planned, counts, samples = [], {}, {}
    for task, info in chosen:
        imported = fixed if fixed is not None else workspace.strategy_for(info)  # type: ignore[arg-type]  # info is None only with a fixed tree
        tree_id = imported.sample.id if group is None else f"group:{group}"
        planned.append(replace(task, strategy=imported.strategy, workspace_sample=tree_id))
        # FlowJo's counts describe a file only when they were computed with the tree applied to it
        if info is not None and group is None and info.id == imported.sample.id:
            counts[task.sample] = {p: c for p, c in imported.counts.items() if c >= 0}
        samples[task.sample] = imported.sample if info is None else info
    notes = []
    if fixed is None:
        used = {info.id for _, info in chosen if info is not None}
        missing = [s.name for s in workspace.samples if s.id not in used]
        if missing:
            notes.append(f"{len(missing)} workspace sample(s) had no input file and were not run: {', '.join(missing)}")
    for note in notes:
        log.info("%s", note)
    return WorkspacePlan(planned, counts, samples, notes)


def add_workspace_to_manifest(manifest: dict[str, Any], plan: WorkspacePlan, agreement: FlowJoAgreement) -> None:
    """Record, per input, the workspace sample and strategy it was gated with, and the FlowJo comparison."""
    by_sample = {t.sample: t for t in plan.tasks}
    for entry in manifest.get("inputs", []):
        task = by_sample.get(entry.get("sample"))
        info = plan.samples.get(entry.get("sample"))
        if task is None or info is None:
            continue
        entry["workspace_sample"] = {"id": info.id, "name": info.name}
        entry["workspace_tree"] = task.workspace_sample  # the sample id (or group:NAME) whose gates applied
        entry["strategy_sha256"] = getattr(task.strategy, "sha256", None)
    manifest["workspace"] = {"samples_matched": len(plan.samples), "notes": list(plan.notes)}
    manifest["flowjo_agreement"] = agreement.to_dict()
