"""A FlowJo workspace as a whole: its samples, its groups and one strategy per sample.

:func:`open_workspace` parses a FlowJo 10 ``.wsp`` or a FlowJo 9 Mac XML
workspace once; :meth:`Workspace.strategy_for` turns one sample's tree into a
:class:`~cytogate.strategy.Strategy` (through :mod:`.flowjo_wsp` or
:mod:`.flowjo9`), with FlowJo's own counts beside it.  Which reader applies is
decided from the content (:func:`workspace_kind`), never from the file name.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element

from ..errors import StrategyError
from .flowjo9 import import_flowjo9_sample
from .flowjo_wsp import (
    WspImport,
    WspSample,
    import_sample,
    parse_workspace_xml,
    sample_elements,
)

__all__ = ["FLOWJO9", "FLOWJO10", "Workspace", "open_workspace", "workspace_kind"]

FLOWJO10 = "flowjo10"
FLOWJO9 = "flowjo9"
_PC_VERSIONS = ("1.6", "1.61")  # FlowJo 7-9 for Windows


def workspace_kind(root: Element, source: str) -> str:
    """``flowjo10`` or ``flowjo9`` for a parsed ``<Workspace>`` root.

    FlowJo 9 Mac workspaces are version 2.0 and gate with un-namespaced
    ``PolygonGate``/``BooleanGate`` elements; FlowJo 10 ones use Gating-ML 2.0
    elements under ``Gate``.
    """
    version = root.get("version", "").strip()
    if version in _PC_VERSIONS:
        raise StrategyError(f"FlowJo for Windows workspace (version {version}) is not supported: its gates use "
                            "display-scale coordinates cytogate cannot verify; open and save it in FlowJo 10",
                            path=source)
    if version == "2.0":
        return FLOWJO9
    for population in root.iter("Population"):
        if population.find("PolygonGate") is not None or population.find("BooleanGate") is not None:
            return FLOWJO9
        if population.find("Gate") is not None:
            return FLOWJO10
    return FLOWJO10


@dataclass(frozen=True, eq=False)
class Workspace:
    """A parsed workspace.

    Attributes
    ----------
    path : str
    kind : str
        ``flowjo10`` or ``flowjo9``.
    sha256 : str
        Of the workspace file's bytes (recorded in a run's manifest).
    samples : tuple of WspSample
        In file order.
    groups : dict of str to tuple of str
        Group name -> sample ids, in file order.
    """

    path: str
    kind: str
    sha256: str
    samples: tuple[WspSample, ...]
    groups: dict[str, tuple[str, ...]]
    _root: Element = field(repr=False)
    _elements: dict[str, Element] = field(repr=False)
    _imported: dict[str, WspImport] = field(default_factory=dict, repr=False)

    @property
    def format(self) -> str:
        return self.kind

    def sample(self, name_or_id: str) -> WspSample:
        """The sample with this id, else this name (``StrategyError`` naming the choices)."""
        for test in (lambda s: s.id == name_or_id, lambda s: s.name == name_or_id):
            found = [s for s in self.samples if test(s)]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise StrategyError(f"{len(found)} samples are called {name_or_id!r}; give the sample id "
                                    f"({', '.join(s.id for s in found)})", path=self.path)
        names = ", ".join(f"{s.name} (id {s.id})" for s in self.samples)
        raise StrategyError(f"no sample {name_or_id!r} in the workspace; samples: {names}", path=self.path)

    def group(self, name: str) -> tuple[WspSample, ...]:
        """The samples of a group, in file order."""
        if name not in self.groups:
            raise StrategyError(f"no group {name!r} in the workspace; groups: {', '.join(self.groups) or 'none'}",
                                path=self.path)
        ids = set(self.groups[name])
        return tuple(s for s in self.samples if s.id in ids)

    def strategy_for_group(self, name: str) -> WspImport:
        """A group's own gates (FlowJo's group template), read with its first sample's compensation and transforms.

        FlowJo's counts are left out: a group has none of its own.
        """
        members = self.group(name)
        tree = _group_tree(self, name)
        if tree is None:
            raise StrategyError(f"group {name!r} has no gates of its own; choose a sample's tree with --sample",
                                path=self.path)
        if not members:
            raise StrategyError(f"group {name!r} has no samples to take compensation and transforms from",
                                path=self.path)
        reader = import_flowjo9_sample if self.kind == FLOWJO9 else import_sample
        imported = reader(self._root, self._elements[members[0].id], members[0], self.path, tree=tree)
        return WspImport(imported.strategy, members[0], {}, imported.notes)

    def strategy_for(self, sample: WspSample | str) -> WspImport:
        """One sample's tree as a strategy, with FlowJo's counts (imported once, then remembered)."""
        info = sample if isinstance(sample, WspSample) else self.sample(sample)
        if info.id not in self._imported:
            element = self._elements[info.id]
            reader = import_flowjo9_sample if self.kind == FLOWJO9 else import_sample
            self._imported[info.id] = reader(self._root, element, info, self.path)
        return self._imported[info.id]


def _group_tree(workspace: Workspace, name: str) -> Element | None:
    for node in workspace._root.iter("GroupNode"):
        if node.get("name", "").strip() == name:
            subs = node.find("Subpopulations")
            if workspace.kind == FLOWJO9:
                return node if node.find("Population") is not None else None
            return node if subs is not None and len(subs) else None
    return None


def _groups(root: Element, known: set[str]) -> dict[str, tuple[str, ...]]:
    groups: dict[str, tuple[str, ...]] = {}
    for node in root.iter("GroupNode"):
        name = node.get("name", "").strip()
        if name and name not in groups:
            ids = [ref.get("sampleID", "") for ref in node.iter("SampleRef")]
            groups[name] = tuple(dict.fromkeys(i for i in ids if i in known))
    return groups


def open_workspace(path: str | os.PathLike[str], *, raw: bytes | None = None) -> Workspace:
    """Parse a FlowJo 10 or FlowJo 9 Mac workspace (``raw``: its bytes, when already read).

    Raises
    ------
    StrategyError
        Unreadable, unsafe or malformed XML, not a workspace, no samples.
    """
    source = str(path)
    if raw is None:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise StrategyError(f"cannot read FlowJo workspace: {exc.strerror}", path=source) from None
    root = parse_workspace_xml(raw, source)
    kind = workspace_kind(root, source)
    listed = sample_elements(root, source)
    if not listed:
        raise StrategyError("workspace lists no samples", path=source)
    samples, elements = [], {}
    for n, (info, element) in enumerate(listed):
        if not info.id or info.id in elements:  # FlowJo ids are unique; number the rest so each stays reachable
            info = WspSample(f"#{n + 1}", info.name, info.uri, info.count, info.fil)
        samples.append(info)
        elements[info.id] = element
    return Workspace(source, kind, hashlib.sha256(raw).hexdigest(), tuple(samples),
                     _groups(root, set(elements)), root, elements)
