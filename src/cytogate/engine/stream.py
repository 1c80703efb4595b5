"""Strategy + sample -> result: masks, counts and frequencies per population.

No file or network I/O happens here: the caller reads the sample (see
:func:`cytogate.read_fcs`) and writes the outputs.  The work is planned once per
strategy and channel layout (:mod:`cytogate.engine.compile`).

A strategy without data-driven gates is evaluated block by block: every gate
is a function of one event's values, so gating consecutive blocks of events
and joining the masks is exactly the same as gating the whole file, while the
memory in use stays one block of events plus the masks (the file is read once,
as a stream, never decoded whole).  Data-driven gates need their parent's whole
distribution: they are fitted first, from passes over the blocks that keep
only the values each fit needs, each population gated in the first pass
after its gate is static (:func:`_gate_with_fits`).  Samples that cannot be read
in blocks are evaluated on whole columns.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..channels import MarkerAliases
from ..strategy.panel_gaps import fit_to_panel
from ..strategy.tree import Strategy
from .compile import SampleLike, compile_plan
from .execute import Execution, fit_static, population_errors
from .result import GatingResult

__all__ = ["gate", "BLOCK_EVENTS"]

#: Events per block of the streaming evaluation: 5 MB of float32 x 20 channels,
#: small enough to stay in cache while every gate runs on it.
BLOCK_EVENTS = 1 << 16

def _sample_name(sample: Any) -> str:
    name = getattr(sample, "name", None)
    return "" if name is None else str(name)


class _Block:
    """A block of a sample's events, seen by the plan as a sample of its own."""

    def __init__(self, sample: SampleLike, events: np.ndarray) -> None:
        self.channels = sample.channels
        self.markers = sample.markers
        self.spillover = sample.spillover
        self.path = sample.path
        self.n_events = int(events.shape[0])
        self.events = events
        self.decoded = True  # the plan reads this matrix directly

    def column(self, key: int | str) -> np.ndarray:
        return self.events[:, int(key)]

    def update_digest(self, digest: Any) -> None:
        digest.update(np.ascontiguousarray(self.events).data)  # the events in memory, as ArrayEvents hashes them

    def blocks(self, n_rows: int = BLOCK_EVENTS, *, digest: Any | None = None) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, self.n_events, max(1, n_rows)):
            yield start, self.events[start:start + n_rows]


def streamable(strategy: Strategy, sample: SampleLike) -> bool:
    """True when the strategy can run block by block on this sample (no gate needs whole columns)."""
    if int(sample.n_events) == 0:
        return False
    return not any(pop.gate.needs_fit for pop in strategy.populations)


def _computable(strategy: Strategy, gates: Mapping[str, Any], done: set[str]) -> list[str]:
    """Populations not yet gated whose gate is static and whose dependencies are gated (or will be first)."""
    now: list[str] = []
    known = done | {"/"}
    for path in strategy.evaluation_order:
        pop = strategy.by_path[path]
        gate = gates[path]
        if path not in done and not gate.needs_fit and pop.parent in known and set(gate.references) <= known:
            now.append(path)
            known.add(path)
    return now


def _gate_with_fits(strategy: Strategy, sample: Any, aliases: MarkerAliases | None, digest: Any | None
                    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
    """Masks of every population and the fit of every data-driven gate, reading the sample block by block.

    Each pass streams the file once: it gates the populations that have become
    static (their masks are written into the whole file's, and kept: no
    population is gated twice) and keeps only the values each data-driven gate
    ready now is fitted on (its dimensions on its parent's events, in event
    order: exactly what the whole-file evaluation hands to ``fit``; gates
    fitted on the same values share one copy).  A chain of k data-driven gates
    takes k + 1 passes; memory is one block, the masks and those values.  A
    fitted gate keeps its dimensions, so the one plan serves every pass.
    """
    from ..adaptive.density import shared_densities  # loaded with the data-driven gates, not by static runs

    plan = compile_plan(strategy, sample, aliases)
    strategy = plan.strategy
    n = int(sample.n_events)
    masks = {path: np.empty(n, dtype=bool) for path in strategy.evaluation_order}
    gates: dict[str, Any] = {p.path: p.gate for p in strategy.populations}
    fitted: dict[str, dict[str, Any]] = {}
    done: set[str] = set()
    blocks, whole = None, None
    provided: dict[tuple[str, Any], tuple[np.ndarray, list[int]]] = {}  # the last fits' values, block offsets
    if n <= BLOCK_EVENTS:  # one block: read once, and one execution keeps its values from pass to pass
        blocks = list(sample.blocks(BLOCK_EVENTS, digest=digest))
        digest = None
        whole = Execution(plan, _Block(sample, blocks[0][1]), out=masks)
    while len(done) < len(gates):
        now = _computable(strategy, gates, done)
        known = done | set(now) | {"/"}
        ready = [p for p in strategy.populations if gates[p.path].needs_fit and p.parent in known]
        if not now and not ready:  # pragma: no cover - the strategy tree guarantees progress
            raise ValueError("data-driven gates depend on one another in a cycle")
        # values each fit needs, one row per (parent, dimension): fits on the same values share them
        rows: dict[tuple[str, Any], Any] = {}  # (parent, dimension) -> the first population fitted on it
        for pop in ready:
            for dim in gates[pop.path].dimensions:
                rows.setdefault((pop.parent, dim), pop)
        chunks: dict[tuple[str, Any], list[np.ndarray]] = {row: [] for row in rows}
        # populations gated in earlier passes that this pass reads as parents or references
        seeded = {p for path in now for p in (strategy.by_path[path].parent, *gates[path].references)}
        seeded = (seeded | {p.parent for p in ready}) & done
        source = blocks if blocks is not None else sample.blocks(BLOCK_EVENTS, digest=digest)
        for number, (start, events) in enumerate(source):
            if whole is not None:
                ex = whole
            else:
                stop = start + events.shape[0]
                ex = Execution(plan, _Block(sample, events), out={p: masks[p][start:stop] for p in now})
                for p in seeded:
                    ex.masks[p] = masks[p][start:stop]
                    ex.indices[p] = np.flatnonzero(ex.masks[p])
            for (parent, dim), (values, offsets) in provided.items():  # the fitted gates read their fit's values
                ex.provide(dim, parent, values[offsets[number]:offsets[number + 1]])
            for path in now:
                gate = gates[path]
                with population_errors(path, gate):
                    ex.evaluate(path, gate, strategy.by_path[path].parent)
            for (parent, dim), pop in rows.items():
                with population_errors(pop.path, gates[pop.path]):
                    idx = None if parent == "/" else ex.indices[parent]
                    chunks[(parent, dim)].append(ex.stacked((dim,), idx, None)[0])  # not cached
        digest = None  # the first pass read every byte
        done.update(now)
        fit_inputs, joined = _fit_values(ready, gates, chunks)
        provided = {row: (joined[row], [0, *np.cumsum([part.size for part in chunks[row]]).tolist()])
                    for row in joined}
        chunks.clear()
        with shared_densities():  # gates fitted on the same values estimate their density once
            for pop in ready:
                with population_errors(pop.path, gates[pop.path]):
                    gate = fit_static(gates[pop.path], fit_inputs[pop.path], pop.path)
                fitted[pop.path] = gate.to_dict()
                gates[pop.path] = gate
    return masks, fitted


def _fit_values(ready: list[Any], gates: Mapping[str, Any], chunks: Mapping[tuple[str, Any], list[np.ndarray]]
                ) -> tuple[dict[str, np.ndarray], dict[tuple[str, Any], np.ndarray]]:
    """Each ready gate's ``(n_dims, n_events)`` values joined from the blocks' chunks, and each (parent, dimension) row.

    The chunks are joined straight into the array a fit reads; gates on the same
    dimensions of one parent share that array, a one-dimensional gate reads a row
    another gate's array holds.
    """
    out: dict[str, np.ndarray] = {}
    rows: dict[tuple[str, Any], np.ndarray] = {}
    by_dims: dict[tuple[str, Any], np.ndarray] = {}
    for pop in ready:
        dims = gates[pop.path].dimensions
        key = (pop.parent, dims)
        if key not in by_dims:
            if len(dims) == 1 and (pop.parent, dims[0]) in rows:
                by_dims[key] = rows[(pop.parent, dims[0])][np.newaxis]  # a view
            else:
                m = sum(part.size for part in chunks[(pop.parent, dims[0])])
                joined = by_dims[key] = np.empty((len(dims), m), dtype=np.float64)
                for j, dim in enumerate(dims):
                    row = (pop.parent, dim)
                    if row in rows:
                        joined[j] = rows[row]
                    else:
                        np.concatenate(chunks[row], out=joined[j])
                        rows[row] = joined[j]
        out[pop.path] = by_dims[key]
    return out, rows


def _gate_blocks(plan: Any, sample: Any, digest: Any | None) -> dict[str, np.ndarray]:
    """Masks over all events, from the plan run on consecutive blocks of events."""
    n = int(sample.n_events)
    masks = {path: np.empty(n, dtype=bool) for path in plan.strategy.evaluation_order}  # as the whole path
    seen = 0
    for start, events in sample.blocks(BLOCK_EVENTS, digest=digest):
        stop = start + events.shape[0]
        # each population's mask is written straight into its slice of the whole file's
        Execution(plan, _Block(sample, events), out={p: m[start:stop] for p, m in masks.items()}).run()
        seen = stop
    if seen != n:  # pragma: no cover - a source yielding fewer events than it announced
        raise ValueError(f"the sample yielded {seen} of its {n} events")
    return masks


def gate(strategy: Strategy, sample: SampleLike, *, aliases: MarkerAliases | None = None,
         digest: Any | None = None, follow: Any | None = None) -> GatingResult:
    """Gate one sample with a strategy.

    Parameters
    ----------
    strategy : Strategy
        From :func:`cytogate.load_strategy`.
    sample : Sample
        From :func:`cytogate.read_fcs` or ``Sample.from_arrays``; values are FCS
        scale values ``(n_events, n_channels)``.
    aliases : mapping, optional
        Extra marker names: alias -> channel or marker.
    digest : hashlib hash object, optional
        Fed exactly the bytes ``sample.sha256()`` hashes (the whole file), in the
        same pass that reads the events when the strategy is static, so a caller
        that records the file's hash reads the file once.
    follow : Sample or cytogate.follow.Reference, optional
        The file the static gates were drawn on: every static gate is registered
        onto this sample's own data first (see :mod:`cytogate.follow`).

    Returns
    -------
    GatingResult

    Raises
    ------
    MarkerError
        A dimension names a channel/marker the sample lacks.
    CompensationError
        A compensation the strategy asks for cannot be done on this sample.
    FollowError
        ``follow``: the reference lacks a channel the gates use, or a followed
        gate's parent is empty on it.
    """
    whole, (strategy, skipped) = strategy, fit_to_panel(strategy, sample, aliases)
    followed: tuple[Any, ...] = ()
    if follow is not None:
        # the registration libraries load only when following
        from ..follow import follow_gates

        outcome = follow_gates(strategy, follow, sample, aliases=aliases)
        strategy, followed = outcome.strategy, outcome.gates
    fitted: dict[str, dict[str, Any]] = {}
    if streamable(strategy, sample):
        masks = _gate_blocks(compile_plan(strategy, sample, aliases), sample, digest)
    elif int(sample.n_events) > 0:  # data-driven gates: fitted first
        masks, fitted = _gate_with_fits(strategy, sample, aliases, digest)
    else:
        ex = Execution(compile_plan(strategy, sample, aliases), sample).run()
        masks, fitted = ex.masks, ex.fitted
        if digest is not None:
            sample.update_digest(digest)
    path = sample.path
    moved = {g.path: g.gate.to_dict() for g in followed if g.status == "followed"}
    return GatingResult(
        sample=_sample_name(sample),
        file="" if path is None else str(path),
        n_events=int(sample.n_events),
        strategy=whole,
        masks=masks,
        fitted={**moved, **fitted},
        follow=followed,
        skipped=skipped,
    )
