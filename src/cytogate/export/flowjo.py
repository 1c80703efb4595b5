"""``cytogate export RUN_DIR OUT.wsp``: a batch run as a FlowJo 10 workspace.

Every sample the run gated is written with its file reference (``DataSet
uri``), its keywords, its compensation matrix, one display transform per
parameter and its gate tree *as applied to that sample*: the strategy's gates
with each data-driven fit and each reviewer override of that sample (recorded
in the run folder's ``gates.json``) written as that sample's own geometry.  A
reviewer opening the workspace in FlowJo sees the gates cytogate counted.

A study run (``cytogate run study.yaml``) gates each sample with its panel's
strategy; each sample is written with that strategy's tree, compensation and
transforms, and every panel becomes a FlowJo group of its samples beside
"All Samples".

The run folder must come from this cytogate's run format (``manifest.json``
the current schema with ``gates.json``); samples that failed in the run are left out and
listed in :attr:`WorkspaceExport.left_out`.  The file is written atomically.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ElementTree, SubElement, indent, register_namespace

from .._version import __version__
from ..batch.gate_record import GATES_FILE, GATES_SCHEMA
from ..batch.inputs import is_url
from ..atomic import write_bytes
from ..batch.driver import MANIFEST_SCHEMA
from ..gates.registry import gate_from_dict
from ..gates.specs import BooleanGate
from .flowjo_gates import (
    NS,
    ExportError,
    SampleLayout,
    boolean_element,
    display_parameters,
    gate_element,
    matrix_element,
    offer_displays,
    plan_displays,
    transform_element,
)

__all__ = ["RUN_MANIFEST_SCHEMA", "WorkspaceExport", "export_flowjo_workspace", "ExportError"]

#: The run-folder manifest schema this exporter reads.
RUN_MANIFEST_SCHEMA = MANIFEST_SCHEMA  # the run folder written by this version
_GROUP = "All Samples"
log = logging.getLogger(__name__)

for _prefix, _namespace in NS.items():
    register_namespace(_prefix, _namespace)


@dataclass(frozen=True)
class WorkspaceExport:
    """What :func:`export_flowjo_workspace` wrote."""

    path: Path
    samples: tuple[str, ...]
    left_out: tuple[dict[str, str], ...] = ()  # failed samples: sample, file, reason
    notes: tuple[str, ...] = field(default=())


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"not a cytogate run folder: {what} is missing", path=path) from None
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot read {what}: {exc}", path=path) from None


def _load_run_strategy(info: Mapping[str, Any], manifest_path: Path, what: str = "strategy") -> Any:
    """A strategy of the run, from the text the manifest recorded (it must hash as it did then)."""
    from ..strategy.gatingml_read import read_gatingml
    from ..strategy.yaml_format import load_yaml_strategy

    text, source = info.get("text"), info.get("path")
    if not text:
        raise ExportError(f"the manifest does not record the {what}'s text; run the strategy again with this "
                          "cytogate", path=manifest_path)
    loader = read_gatingml if text.lstrip("\ufeff \t\r\n").startswith("<") else load_yaml_strategy
    strategy = loader(text, source=source)
    if info.get("sha256") and strategy.sha256 != info["sha256"]:
        raise ExportError(f"the {what} no longer reads as it did in the run (its marker panel file changed?); "
                          "run it again", path=manifest_path)
    return strategy


def _run_strategies(manifest: Mapping[str, Any], manifest_path: Path) -> dict[str | None, Any]:
    """Each panel's strategy of a study run (by panel), else the run's one strategy (under None)."""
    if (manifest.get("strategy") or {}).get("format") != "study":
        return {None: _load_run_strategy(manifest.get("strategy") or {}, manifest_path)}
    return {str(entry["panel"]): _load_run_strategy(entry, manifest_path, f"strategy of panel {entry['panel']!r}")
            for entry in manifest.get("strategies") or []}


def _group(groups: Element, name: str, sample_ids: list[int]) -> None:
    """A FlowJo group: its name and the samples it holds (no gates of its own)."""
    node = SubElement(groups, "GroupNode")
    for key, value in (("name", name), ("annotation", ""), ("owningGroup", name)):
        node.set(key, value)
    group = SubElement(node, "Group")
    group.set("name", name)
    refs = SubElement(group, "SampleRefs")
    for sample_id in sample_ids:
        SubElement(refs, "SampleRef").set("sampleID", str(sample_id))


def _applied(strategy: Any, gates: Mapping[str, Any], sample: str, source: Path) -> Any:
    """The strategy as it was applied to one sample."""
    replaced = {}
    for path, entry in gates.items():
        if path not in strategy.by_path:
            raise ExportError(f"{GATES_FILE} names population {path!r} of sample {sample!r}, which the strategy "
                              f"does not have", path=source)
        replaced[path] = gate_from_dict(entry["gate"])
    pops = tuple(replace(p, gate=replaced[p.path]) if p.path in replaced else p for p in strategy.populations)
    applied = replace(strategy, populations=pops, source_text="")
    for pop in applied.populations:
        if pop.gate.needs_fit:
            raise ExportError(f"no fitted geometry of data-driven population {pop.path!r} is recorded for sample "
                              f"{sample!r}", path=source)
    return applied


def _read_sample(file: str) -> Any:
    from ..fcs import read_fcs

    if is_url(file):
        raise ExportError("remote inputs cannot be referenced by a FlowJo workspace; copy them locally and run "
                          "again", path=file)
    try:
        return read_fcs(file)
    except OSError as exc:
        raise ExportError(f"cannot read the run's input: {exc.strerror or exc}", path=file) from None


def _uri(file: str) -> str:
    return Path(file).resolve().as_uri()


def _counts(run_dir: Path) -> dict[tuple[str, str], int]:
    import csv

    out: dict[tuple[str, str], int] = {}
    path = run_dir / "counts.csv"
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                out[(row["sample"], row["population"])] = int(row["count"])
    except (OSError, KeyError, ValueError) as exc:
        raise ExportError(f"cannot read counts.csv: {exc}", path=path) from None
    return out


def _sample_element(parent: Element, sample_id: int, name: str, file: str, applied: Any, data: Any,
                    counts: Mapping[tuple[str, str], int], n_events: int, notes: list[str]) -> None:
    layout = SampleLayout(applied, data)
    # first the scales polygons and ellipses need, then any scale for boxes, so every parameter has one
    for pop in applied.populations:
        layout.population = pop.path
        plan_displays(pop.gate, layout)
    for pop in applied.populations:
        layout.population = pop.path
        offer_displays(pop.gate, layout)
    layout.population = ""

    el = SubElement(parent, "Sample")
    dataset = SubElement(el, "DataSet")
    dataset.set("uri", _uri(file))
    dataset.set("sampleID", str(sample_id))
    if layout.matrix is not None:
        detectors, rows = layout.matrix
        matrix_name = "Acquisition-defined" if layout.matrix_source == "FCS" else str(layout.matrix_source)
        matrix_element(el, matrix_name, detectors, rows)
        uncompensated = sorted(set(detectors) & (set(layout.displays) - layout.compensated))
        if uncompensated:
            notes.append(f"sample {name}: gates on uncompensated {', '.join(uncompensated)} beside a compensation "
                         f"matrix (FlowJo reads them uncompensated; FlowKit compensates them)")
    transforms = SubElement(el, "Transformations")
    for channel, (tid, names) in display_parameters(layout).items():
        spec = None if tid is None else applied.transforms[tid]
        for parameter in names:
            transform_element(transforms, parameter, spec, layout.range_of(channel))
    keywords = SubElement(el, "Keywords")
    for key, value in (getattr(data, "keywords", None) or {}).items():
        kw = SubElement(keywords, "Keyword")
        kw.set("name", str(key))
        kw.set("value", str(value))
    node = SubElement(el, "SampleNode")
    for key, value in (("name", name), ("annotation", ""), ("owningGroup", ""), ("sampleID", str(sample_id)),
                       ("count", str(n_events))):
        node.set(key, value)
    _tree(node, applied, name, sample_id, layout, counts)


def _tree(node: Element, applied: Any, name: str, sample_id: int, layout: SampleLayout,
          counts: Mapping[tuple[str, str], int]) -> None:
    holders: dict[str, Element] = {"/": node}
    ids = {pop.path: f"ID{sample_id}-{i + 1}" for i, pop in enumerate(applied.populations)}
    order = _tree_order(applied)
    for pop in order:
        layout.population = pop.path
        container = holders[pop.parent]
        subs = container.find("Subpopulations")
        if subs is None:
            subs = SubElement(container, "Subpopulations")
        count = counts.get((name, pop.path))
        if isinstance(pop.gate, BooleanGate):
            el = boolean_element(subs, pop.name, pop.gate, count, layout, pop.parent)
        else:
            el = SubElement(subs, "Population")
            for key, value in (("name", pop.name), ("annotation", ""), ("owningGroup", "")):
                el.set(key, value)
            if count is not None:
                el.set("count", str(count))
            gate_element(el, pop.gate, ids[pop.path], ids.get(pop.parent), layout)
        holders[pop.path] = el
    layout.population = ""


def _tree_order(strategy: Any) -> list[Any]:
    """Populations parent first, siblings in strategy order (FlowJo nests children in parents)."""
    out, seen = [], {"/"}
    pending = list(strategy.populations)
    while pending:
        ready = [p for p in pending if p.parent in seen]
        if not ready:  # pragma: no cover - a validated strategy always has a root
            raise ExportError("the population tree has no root")
        for p in ready:
            out.append(p)
            seen.add(p.path)
        pending = [p for p in pending if p.path not in seen]
    return out


def export_flowjo_workspace(run_dir: str | os.PathLike[str], out: str | os.PathLike[str]) -> WorkspaceExport:
    """Write the gates a batch run applied to every sample as a FlowJo 10 workspace.

    Parameters
    ----------
    run_dir : path-like
        A ``cytogate run`` output folder.
    out : path-like
        The ``.wsp`` file to write (atomically).

    Returns
    -------
    WorkspaceExport
        The file, the samples written and the failed samples left out.

    Raises
    ------
    ExportError
        Not a run folder, a run folder of another version, no sample to write,
        or a gate FlowJo cannot hold (named with its population).
    """
    run = Path(run_dir).expanduser().resolve()
    manifest_path = run / "manifest.json"
    manifest = _read_json(manifest_path, "manifest.json")
    if not isinstance(manifest, dict) or manifest.get("schema") != RUN_MANIFEST_SCHEMA:
        found = manifest.get("schema") if isinstance(manifest, dict) else None
        raise ExportError(f"run folder of another format (manifest schema {found!r}; this cytogate reads "
                          f"{RUN_MANIFEST_SCHEMA})", path=manifest_path)
    gates_path = run / GATES_FILE
    if not gates_path.is_file():
        raise ExportError(f"the run folder has no {GATES_FILE} (written by cytogate {manifest.get('cytogate')}, "
                          f"before runs recorded their gates); run it again with cytogate {__version__}",
                          path=run)
    gates_doc = _read_json(gates_path, GATES_FILE)
    if not isinstance(gates_doc, dict) or gates_doc.get("schema") != GATES_SCHEMA:
        raise ExportError(f"{GATES_FILE} of another format (schema {gates_doc.get('schema')!r}; this cytogate "
                          f"reads {GATES_SCHEMA})", path=gates_path)
    strategies = _run_strategies(manifest, manifest_path)
    counts = _counts(run)
    root = Element("Workspace")
    for key, value in (("version", "20.0"), ("flowJoVersion", "10.7.1"), ("curGroup", _GROUP),
                       ("creator", f"cytogate {__version__}")):
        root.set(key, value)
    SubElement(root, "Matrices")
    groups = SubElement(root, "Groups")
    sample_list = SubElement(root, "SampleList")
    written: list[str] = []
    by_panel: dict[str, list[int]] = {str(p): [] for p in strategies if p is not None}
    left_out: list[dict[str, str]] = []
    notes: list[str] = []
    for entry in manifest.get("inputs", []):
        sample, file = entry.get("sample", ""), entry.get("path", "")
        if entry.get("status") != "ok":
            left_out.append({"sample": sample, "file": file, "reason": str(entry.get("reason", "failed in the run"))})
            continue
        if sample not in gates_doc.get("samples", {}):
            raise ExportError(f"{GATES_FILE} has no record of sample {sample!r}", path=gates_path)
        panel = entry.get("panel") if None not in strategies else None
        if panel not in strategies:
            raise ExportError(f"the manifest gives sample {sample!r} panel {panel!r}, whose strategy it does not "
                              "record", path=manifest_path)
        applied = _applied(strategies[panel], gates_doc["samples"][sample], sample, gates_path)
        try:
            _sample_element(sample_list, len(written) + 1, sample, file, applied, _read_sample(file), counts,
                            int(entry.get("n_events_kept", entry.get("n_events", 0))), notes)
        except ExportError as exc:
            raise ExportError(f"sample {sample!r}: {exc.message}", path=exc.path or file, **exc.location) from None
        if entry.get("n_events_kept", entry.get("n_events")) != entry.get("n_events"):
            notes.append(f"sample {sample}: acquisition QC removed events before gating; FlowJo gates all of them")
        written.append(sample)
        if panel is not None:
            by_panel[panel].append(len(written))
    if not written:
        raise ExportError("no sample of the run succeeded; nothing to export", path=run)
    _group(groups, _GROUP, list(range(1, len(written) + 1)))
    for panel, sample_ids in by_panel.items():  # a study: one group per panel, as a FlowJo user would sort them
        if panel != _GROUP:
            _group(groups, panel, sample_ids)
    indent(root, space=" ")
    target = Path(out).expanduser()
    buffer = _serialise(root)
    write_bytes(target, buffer)
    for note in notes:
        log.warning("%s: %s", target, note)
    return WorkspaceExport(target.resolve(), tuple(written), tuple(left_out), tuple(notes))


def _serialise(root: Element) -> bytes:
    import io

    handle = io.BytesIO()
    ElementTree(root).write(handle, encoding="UTF-8", xml_declaration=True)
    return handle.getvalue()
