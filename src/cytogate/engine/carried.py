"""Values a pass has read, carried over: populations below fitted and gated in memory, without another pass.

A pass over the file (:mod:`cytogate.engine.stream`) collects each ready
data-driven gate's values on its parent's events, and also the values the
data-driven gates one level further down will need (and the static gates on
the way to them).  Once a gate is fitted it is evaluated here on the values held
for its parent, its events' values are kept for the populations below, and those
are fitted and gated in turn, so a chain of fitted gates costs one pass per two
levels instead of one per level.

Gating on held values is the engine's own evaluation of a gate whose values are
given (:class:`~cytogate.engine.execute.Execution` with provided values, which
equals its brute-force path): a box is ``lo <= v < hi`` per dimension on the
transformed values, any other gate its ``evaluate``.  Values keep the events'
order, so every fit sees exactly the array the whole-column evaluation gives it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..gates import kernels
from ..gates.specs import GateSpec
from ..strategy.tree import Strategy

__all__ = ["Carried", "mask_on_values", "look_ahead"]


def mask_on_values(gate: GateSpec, values: np.ndarray) -> np.ndarray:
    """The gate's mask on events whose ``(n_dims, m)`` values are given, as the engine evaluates it."""
    box = gate.box()
    if box is None:
        return np.asarray(gate.evaluate(values, {}), dtype=bool)
    mask: np.ndarray | None = None
    for k in range(len(gate.dimensions)):
        sub = kernels.interval_mask_banded(values[k], float(box[0][k]), float(box[1][k]), -1.0, -1.0)[0]
        mask = sub if mask is None else np.logical_and(mask, sub, out=mask)
    assert mask is not None
    return mask


def look_ahead(strategy: Strategy, gates: Mapping[str, GateSpec], path: str, *, everything: bool = False
               ) -> list[Any]:
    """Dimensions the gates right below ``path`` read, down to the first data-driven gate of each branch.

    Those of the data-driven gates reached and the static gates on the way; with
    ``everything``, of every gate below, data-driven or not.  Only along gates
    without references (those cannot be gated on held values).
    """
    dims: list[Any] = []

    def walk(parent: str) -> bool:
        found = False
        for child in strategy.children(parent):
            gate = gates[child.path]
            if gate.references:
                continue
            below = walk(child.path) if everything or not gate.needs_fit else False
            if gate.needs_fit or below or everything:
                dims.extend(d for d in gate.dimensions if d not in dims)
                found = True
        return found

    if not gates[path].references:
        walk(path)
    return dims


class Carried:
    """Values held per population (a table: its dimensions and their ``(k, m)`` values on its events).

    Parameters
    ----------
    strategy : Strategy
        The strategy as it applies to the sample (its plan's).
    masks : mapping of str to (n_events,) bool
        The whole file's masks, written for the populations gated here.
    """

    def __init__(self, strategy: Strategy, masks: Mapping[str, np.ndarray]) -> None:
        self.strategy = strategy
        self.masks = masks
        self.tables: dict[str, tuple[list[Any], np.ndarray]] = {}
        self.indices: dict[str, np.ndarray] = {}  # events of populations gated here, while a child may need them
        self.gathered: dict[tuple[str, tuple[Any, ...]], np.ndarray] = {}
        self.rows: dict[str, dict[Any, int]] = {}  # population -> row of each dimension in its table
        self.children: dict[str, list[str]] = {}
        for pop in strategy.populations:
            self.children.setdefault(pop.parent, []).append(pop.path)
        below: dict[str, set[Any]] = {}
        for path in reversed(strategy.evaluation_order):  # children before parents
            pop = strategy.by_path[path]
            dims = below.setdefault(pop.parent, set())
            dims.update(pop.gate.dimensions)
            dims.update(below.get(path, ()))
        self.below = below  # population -> dimensions some gate under it reads

    def held(self, population: str) -> list[Any]:
        """The dimensions held for ``population`` (the first rows of the table a pass adds to)."""
        return list(self.tables[population][0]) if population in self.tables else []

    def hold(self, population: str, dims: list[Any], values: np.ndarray) -> None:
        """Take ``values`` of ``dims`` on ``population``'s events: rows after those of :meth:`held`, which are copied in.

        ``values`` is ``(len(held) + len(dims), m)``; its first rows are filled here.
        """
        held = self.held(population)
        if held:
            table = self.tables[population][1]
            if table.shape[1] != values.shape[1]:  # pragma: no cover - both are the population's events
                raise ValueError(f"{population}: held values of {table.shape[1]} and {values.shape[1]} events")
            values[:len(held)] = table
        self._set(population, held + list(dims), values)
        self.gathered = {k: v for k, v in self.gathered.items() if k[0] != population}

    def _set(self, population: str, dims: list[Any], values: np.ndarray) -> None:
        self.tables[population] = (dims, values)
        self.rows[population] = {d: k for k, d in enumerate(dims)}

    def holds(self, population: str, dims: tuple[Any, ...]) -> bool:
        held = self.tables.get(population)
        return held is not None and all(d in self.rows[population] for d in dims)

    def values(self, population: str, dims: tuple[Any, ...]) -> np.ndarray:
        """``(len(dims), m)`` values of ``dims`` on ``population``'s events (a view when they are held in a row)."""
        table = self.tables[population][1]
        position = self.rows[population]
        rows = [position[d] for d in dims]
        if rows == list(range(rows[0], rows[0] + len(rows))):
            return table[rows[0]:rows[0] + len(rows)]
        key = (population, dims)
        if key not in self.gathered:  # a fit and then its gate read the same rows
            self.gathered[key] = table[rows]
        return self.gathered[key]

    def events(self, population: str) -> np.ndarray | None:
        """Indices of ``population``'s events (None: all)."""
        if population == "/":
            return None
        idx = self.indices.get(population)
        return np.flatnonzero(self.masks[population]) if idx is None else idx

    def gate(self, path: str, gate: GateSpec) -> None:
        """Gate ``path`` on the values held for its parent; keep its events' values the gates below read."""
        parent = self.strategy.by_path[path].parent
        inside = mask_on_values(gate, self.values(parent, tuple(gate.dimensions)))
        held, table = self.tables[parent]
        below = self.below.get(path, ())
        wanted = [k for k, d in enumerate(held) if d in below]
        idx = self.events(parent)
        # numpy's own steps: its large arrays are allocated on huge pages, so writing them first costs less
        positions = np.flatnonzero(inside)  # among the parent's events
        full = self.masks[path]
        if idx is None:
            full[:] = inside
            kept = positions
        else:
            kept = idx[positions]
            full[:] = False
            full[kept] = True
        if path in self.children:  # its children's events are read from these
            self.indices[path] = kept
        if wanted:
            rows = np.empty((len(wanted), positions.size), dtype=np.float64)
            for j, k in enumerate(wanted):
                np.take(table[k], positions, out=rows[j])
            self._set(path, [held[k] for k in wanted], rows)

    def release(self, done: set[str]) -> None:
        """Drop what is held for populations whose children are all gated."""
        for path in [*self.tables, *self.indices]:
            if all(child in done for child in self.children.get(path, ())):
                self.tables.pop(path, None)
                self.rows.pop(path, None)
                self.indices.pop(path, None)
        self.gathered = {k: v for k, v in self.gathered.items() if k[0] in self.tables}
