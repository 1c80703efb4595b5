"""The population tree: a gating strategy independent of its file format.

A :class:`Strategy` is a tuple of :class:`Population` (each a path, a parent
path and a gate) plus the transformations and spectrum matrices its gate
dimensions refer to by id.  Paths are ``/``-separated from the root with a
leading ``/`` (``/Cells/Singlets``); top-level populations have parent ``/``.
Boolean gates refer to other populations by path.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ..compensation.matrix import SpectrumMatrix
from ..errors import StrategyError
from ..gates.dimensions import FCS, UNCOMPENSATED, AnyDimension
from ..gates.registry import gate_from_dict
from ..gates.specs import GateSpec
from ..qc import QcSpec
from .follow_settings import FollowSpec

__all__ = ["ROOT", "Population", "TransformSpec", "SpectrumMatrix", "Strategy", "join_path"]

ROOT = "/"


def join_path(parent: str, name: str) -> str:
    """Path of population ``name`` under ``parent`` (``/`` is the root)."""
    if "/" in name:
        raise StrategyError(f"population name {name!r} must not contain '/'")
    return f"/{name}" if parent == ROOT else f"{parent}/{name}"


@dataclass(frozen=True)
class Population:
    """One node of the tree: ``path`` = parent path + ``/`` + ``name``.

    ``optional`` populations pass their parent's events through on a file that
    lacks one of their channels; ``optional_dimensions`` (dimension labels) are
    dropped from the gate on such a file (see :mod:`cytogate.strategy.panel_gaps`).
    """

    name: str
    parent: str
    gate: GateSpec
    optional: bool = False
    optional_dimensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise StrategyError("a population needs a non-empty name")
        if not self.parent.startswith("/"):
            raise StrategyError(f"parent path {self.parent!r} of {self.name!r} must start with '/'")
        join_path(self.parent, self.name)

    @property
    def path(self) -> str:
        return join_path(self.parent, self.name)


@dataclass(frozen=True)
class TransformSpec:
    """A named transformation: kind (``logicle``, ``flin`` ...) and Gating-ML parameters.

    Parameter names are the lower-case Gating-ML ones (``t, w, m, a``).  The
    numerical implementation lives in :mod:`cytogate.transforms`; ``build()``
    asks it for the transform object.
    """

    id: str
    kind: str
    params: tuple[tuple[str, float], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple((str(k).lower(), float(v)) for k, v in self.params))

    @property
    def param_dict(self) -> dict[str, float]:
        return dict(self.params)

    def build(self) -> Any:
        """The :mod:`cytogate.transforms` object (``apply``/``inverse``)."""
        transforms = importlib.import_module("cytogate.transforms")
        try:
            factory = getattr(transforms, "from_params", None)
            if factory is not None:
                return factory(self.kind, **self.param_dict)
            return transforms.REGISTRY[self.kind](**self.param_dict)
        except KeyError:
            raise StrategyError(f"transformation {self.id!r}: unknown kind {self.kind!r}") from None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, **self.param_dict}


@dataclass(frozen=True, eq=False)
class Strategy:
    """A validated population tree.

    Parameters
    ----------
    populations : tuple of Population
        Every population; order is kept for output (parents need not come first).
    transforms : mapping id -> TransformSpec
    matrices : mapping id -> SpectrumMatrix
    source_text : str
        The text it was loaded from (empty when built in code); ``sha256`` hashes it.
    source : str or None
        Path it was loaded from, for messages.
    format : str
        ``"gatingml"``, ``"yaml"`` or ``"python"``.
    """

    populations: tuple[Population, ...]
    transforms: Mapping[str, TransformSpec] = field(default_factory=dict)
    matrices: Mapping[str, SpectrumMatrix] = field(default_factory=dict)
    source_text: str = ""
    source: str | None = None
    format: str = "python"
    # marker name -> all its synonyms (YAML ``markers:`` / ``panel:``); used when resolving dimensions
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # optional acquisition-QC step run before gating (YAML ``qc:``)
    qc: QcSpec | None = None
    # template following (YAML ``follow:``): the reference file and settings, per-population pins
    follow: FollowSpec | None = None
    # per-sample overrides file named by the strategy (YAML ``overrides:``), resolved against its folder
    overrides: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "populations", tuple(self.populations))
        object.__setattr__(self, "transforms", dict(self.transforms))
        object.__setattr__(self, "matrices", dict(self.matrices))
        self._validate()

    # -- structure -----------------------------------------------------------------
    @cached_property
    def by_path(self) -> dict[str, Population]:
        return {p.path: p for p in self.populations}

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(p.path for p in self.populations)

    def population(self, path: str) -> Population:
        try:
            return self.by_path[path]
        except KeyError:
            raise StrategyError(f"no population {path!r}; populations: {', '.join(self.paths)}",
                                path=self.source) from None

    def children(self, path: str) -> tuple[Population, ...]:
        return tuple(p for p in self.populations if p.parent == path)

    def dimensions(self) -> Iterator[tuple[str, AnyDimension]]:
        """Every (population path, dimension) pair."""
        for p in self.populations:
            for d in p.gate.dimensions:
                yield p.path, d

    @cached_property
    def evaluation_order(self) -> tuple[str, ...]:
        """Paths ordered so that parents and boolean operands come before their users."""
        deps = {p.path: ({p.parent} - {ROOT}) | set(p.gate.references) for p in self.populations}
        order: list[str] = []
        done: set[str] = set()
        # iterative post-order depth-first search: a parent chain may be thousands of levels long
        for p in self.populations:
            if p.path in done:
                continue
            trail, on_trail, stack = [p.path], {p.path}, [iter(sorted(deps[p.path]))]
            while stack:
                dep = next(stack[-1], None)
                if dep is None:
                    path = trail.pop()
                    on_trail.discard(path)
                    done.add(path)
                    order.append(path)
                    stack.pop()
                elif dep in on_trail:
                    cycle = " -> ".join((*trail[trail.index(dep):], dep))
                    raise StrategyError(f"populations depend on each other in a cycle: {cycle}", path=self.source)
                elif dep not in done:
                    trail.append(dep)
                    on_trail.add(dep)
                    stack.append(iter(sorted(deps[dep])))
        return tuple(order)

    @cached_property
    def sha256(self) -> str:
        """Hash of the source text (or of the canonical dict when built in code).

        Marker aliases and compensation matrices are hashed too: they may come
        from a separate panel or CSV file, and editing that file changes the
        values a gate reads.
        """
        text = self.source_text or json.dumps(self.to_dict(), sort_keys=True)
        if self.aliases:
            aliases = {str(k): [str(v) for v in vs] for k, vs in self.aliases.items()}
            text += "\n# aliases " + json.dumps(aliases, sort_keys=True)
        if self.source_text and self.matrices:  # a matrix may come from a CSV file beside the strategy
            matrices = {k: m.matrix.tolist() for k, m in sorted(self.matrices.items())}
            text += "\n# matrices " + json.dumps(matrices, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "populations": [{"name": p.name, "parent": p.parent, "gate": p.gate.to_dict(),
                             **({"optional": True} if p.optional else {}),
                             **({"optional_dimensions": list(p.optional_dimensions)} if p.optional_dimensions else {})}
                            for p in self.populations],
            "transforms": [t.to_dict() for t in self.transforms.values()],
            "matrices": [m.to_dict() for m in self.matrices.values()],
            **({"qc": self.qc.to_dict()} if self.qc is not None else {}),
            **({"follow": self.follow.to_dict()} if self.follow is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source_text: str = "", source: str | None = None,
                  format: str = "python") -> Strategy:
        """Inverse of :meth:`to_dict`."""
        pops = tuple(Population(p["name"], p["parent"], gate_from_dict(p["gate"]), bool(p.get("optional", False)),
                                tuple(p.get("optional_dimensions", ()))) for p in data["populations"])
        transforms = {}
        for t in data.get("transforms", []):
            params = {k: v for k, v in t.items() if k not in ("id", "kind")}
            transforms[t["id"]] = TransformSpec(t["id"], t["kind"], tuple(params.items()))
        matrices = {m["id"]: SpectrumMatrix(m["id"], tuple(m["fluorochromes"]), tuple(m["detectors"]),
                                            np.asarray(m["matrix"]), bool(m.get("inverted_already", False)))
                    for m in data.get("matrices", [])}
        qc = QcSpec.from_mapping(data["qc"]) if data.get("qc") is not None else None
        follow = FollowSpec.from_dict(data["follow"]) if data.get("follow") is not None else None
        return cls(pops, transforms, matrices, source_text=source_text, source=source, format=format, qc=qc,
                   follow=follow)

    # -- validation ----------------------------------------------------------------
    def _validate(self) -> None:
        seen: set[str] = set()
        for p in self.populations:
            if p.path in seen:
                raise StrategyError(f"population {p.path!r} is defined twice", path=self.source)
            seen.add(p.path)
        for p in self.populations:
            if p.parent != ROOT and p.parent not in seen:
                raise StrategyError(f"parent {p.parent!r} of {p.name!r} is not a population",
                                    path=self.source, population=p.path)
            for ref in p.gate.references:
                if ref not in seen:
                    raise StrategyError(f"boolean gate refers to unknown population {ref!r}",
                                        path=self.source, population=p.path)
            for d in p.gate.dimensions:
                if d.compensation not in (FCS, UNCOMPENSATED) and d.compensation not in self.matrices:
                    raise StrategyError(f"dimension {d.label!r} refers to unknown spectrum matrix "
                                        f"{d.compensation!r}", path=self.source, population=p.path)
                if d.transform is not None and d.transform not in self.transforms:
                    raise StrategyError(f"dimension {d.label!r} refers to unknown transformation "
                                        f"{d.transform!r}", path=self.source, population=p.path)
        if self.follow is not None:
            for path in self.follow.populations:
                if path not in seen:
                    raise StrategyError(f"follow settings for unknown population {path!r}", path=self.source)
        _ = self.evaluation_order  # raises on cycles
