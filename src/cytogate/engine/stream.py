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
from .carried import Carried, look_ahead
from .execute import Execution, fit_static, population_errors
from .result import GatingResult

__all__ = ["gate", "BLOCK_EVENTS"]

#: Events per block of the streaming evaluation: 5 MB of float32 x 20 channels,
#: small enough to stay in cache while every gate runs on it.
BLOCK_EVENTS = 1 << 16

#: At most this many float64 values per event of the file are carried between passes
#: (32 bytes an event; the file holds 4 bytes per channel), unless the fits need more.
_CARRIED_ROWS = 4


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
    population is gated twice) and keeps only the values the data-driven gates
    ready now are fitted on (their dimensions on their parent's events, in event
    order: exactly what the whole-file evaluation hands to ``fit``), plus (in a
    file of more than one block) those the data-driven gates one level further
    down read.  Between passes, gates are
    fitted and gated in memory on those values (:mod:`cytogate.engine.carried`),
    so a chain of k data-driven gates takes about k / 2 + 1 passes; memory is one
    block, the masks and the values held.  A fitted gate keeps its dimensions, so
    the one plan serves every pass.
    """
    plan = compile_plan(strategy, sample, aliases)
    strategy = plan.strategy
    n = int(sample.n_events)
    masks = {path: np.empty(n, dtype=bool) for path in strategy.evaluation_order}
    gates: dict[str, Any] = {p.path: p.gate for p in strategy.populations}
    fitted: dict[str, dict[str, Any]] = {}
    done: set[str] = set()
    carried = Carried(strategy, masks)
    blocks, whole = None, None
    if n <= BLOCK_EVENTS:  # one block: read once, and one execution keeps its values from pass to pass
        blocks = list(sample.blocks(BLOCK_EVENTS, digest=digest))
        digest = None
        whole = Execution(plan, _Block(sample, blocks[0][1]), out=masks)
    while True:
        _fit_and_gate_held(strategy, gates, carried, done, fitted)
        if len(done) == len(gates):
            break
        now = _computable(strategy, gates, done)
        known = done | set(now) | {"/"}
        ready = [p for p in strategy.populations if gates[p.path].needs_fit and p.parent in known]
        if not now and not ready:  # pragma: no cover - the strategy tree guarantees progress
            raise ValueError("data-driven gates depend on one another in a cycle")
        # values each fit needs on its parent's events, and those the fits one level down will need
        # (:mod:`cytogate.engine.carried`), one row per (parent, dimension), written block by block
        wanted = _pass_rows(strategy, gates, ready, done, carried, masks, n)
        # each parent's table: the rows it holds (copied in after the pass), then this pass's
        buffers = {parent: (dims, np.empty((len(carried.held(parent)) + len(dims),
                                            _bound(strategy, parent, done, masks, n))), [0])
                   for parent, dims in wanted.items() if dims}
        # populations gated earlier that this pass reads as parents or references
        seeded = {p for path in now for p in (strategy.by_path[path].parent, *gates[path].references)}
        seeded = (seeded | set(buffers)) & done
        source = blocks if blocks is not None else sample.blocks(BLOCK_EVENTS, digest=digest)
        for start, events in source:
            if whole is not None:
                ex = whole
                for p in seeded - set(ex.indices):
                    ex.masks[p] = masks[p]
                    ex.indices[p] = carried.events(p)
            else:
                stop = start + events.shape[0]
                ex = Execution(plan, _Block(sample, events), out={p: masks[p][start:stop] for p in now})
                for p in seeded:
                    ex.masks[p] = masks[p][start:stop]
                    ex.indices[p] = np.flatnonzero(ex.masks[p])
            for path in now:
                gate = gates[path]
                with population_errors(path, gate):
                    ex.evaluate(path, gate, strategy.by_path[path].parent)
            for parent, (dims, table, filled) in buffers.items():
                idx = None if parent == "/" else ex.indices[parent]
                size = ex.n_events if idx is None else idx.size
                first = table.shape[0] - len(dims)
                for k, dim in enumerate(dims):
                    ex.values_into(dim, idx, table[first + k, filled[0]:filled[0] + size])
                filled[0] += size
        digest = None  # the first pass read every byte
        done.update(now)
        for parent, (dims, table, filled) in buffers.items():
            carried.hold(parent, dims, table[:, :filled[0]])
    return masks, _in_pass_order(strategy, fitted)


def _pass_rows(strategy: Strategy, gates: Mapping[str, Any], ready: list[Any], done: set[str], carried: Carried,
               masks: Mapping[str, np.ndarray], n: int) -> dict[str, list[Any]]:
    """Per parent of a ready gate, the dimensions a pass computes on its events (those held already left out).

    The ready gates' own dimensions, and (when the file is more than one block)
    those every gate below them reads, so that all of them are fitted and gated
    from held values with no further pass.  When that would carry more than
    ``_CARRIED_ROWS`` float64 values per event of the file, those of the gates one
    data-driven level below; else only the ready gates' own dimensions.
    """
    own = {pop.path: list(gates[pop.path].dimensions) for pop in ready}
    options: tuple[dict[str, list[Any]], ...] = (own,)
    if n > BLOCK_EVENTS:  # a one-block file is in memory: another pass costs no read
        # widest first: every value the gates below read (no further pass for them), else those
        # of the next data-driven level, else the ready gates' own
        options = tuple({pop.path: own[pop.path] + look_ahead(strategy, gates, pop.path, everything=every)
                         for pop in ready} for every in (True, False)) + (own,)
    bounds = {pop.parent: _bound(strategy, pop.parent, done, masks, n) for pop in ready}
    for choice in options:
        wanted: dict[str, list[Any]] = {}
        for pop in ready:
            row = wanted.setdefault(pop.parent, [])
            row.extend(d for d in choice[pop.path] if d not in row and not carried.holds(pop.parent, (d,)))
        if sum(bounds[parent] * len(dims) for parent, dims in wanted.items()) <= _CARRIED_ROWS * n:
            break
    return wanted


def _in_pass_order(strategy: Strategy, fitted: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The fits ordered as one pass per level of data-driven gates gives them (the order results have always had).

    By the pass a fit happens in (the most data-driven gates on any chain of parents
    and boolean operands above it), then in the strategy's order.
    """
    above: dict[str, int] = {}
    known: dict[str, int] = {"/": 0}  # passes before a population's mask is known
    for path in strategy.evaluation_order:  # parents and operands first
        pop = strategy.by_path[path]
        above[path] = max(known.get(d, 0) for d in (pop.parent, *pop.gate.references))
        known[path] = above[path] + pop.gate.needs_fit
    position = {pop.path: k for k, pop in enumerate(strategy.populations)}
    return {path: fitted[path] for path in sorted(fitted, key=lambda p: (above[p], position[p]))}


def _fit_and_gate_held(strategy: Strategy, gates: dict[str, Any], carried: Carried, done: set[str],
                       fitted: dict[str, dict[str, Any]]) -> None:
    """Fit and gate, in memory, every population whose parent is gated and holds the values its gate reads.

    In evaluation order (parents first), again until nothing more can be done: a
    fit can give the values the fits below it read.
    """
    from ..adaptive.density import shared_densities  # loaded with the data-driven gates, not by static runs

    with shared_densities():  # gates fitted on the same values estimate their density once
        progress = True
        while progress:
            progress = False
            for path in strategy.evaluation_order:
                if path in done:
                    continue
                parent, gate = strategy.by_path[path].parent, gates[path]
                if parent != "/" and parent not in done:
                    continue
                dims = tuple(gate.dimensions)
                if not dims or not carried.holds(parent, dims) or (gate.references and not gate.needs_fit):
                    continue
                with population_errors(path, gate):
                    if gate.needs_fit:
                        gate = gates[path] = fit_static(gate, carried.values(parent, dims), path)
                        fitted[path] = gate.to_dict()
                        progress = True
                    if not gate.references:  # a gate reading other populations is gated in a pass
                        carried.gate(path, gate)
                        done.add(path)
                        carried.release(done)  # what no gate left reads, as soon as possible
                        progress = True
    carried.release(done)


def _bound(strategy: Strategy, parent: str, done: set[str], masks: Mapping[str, np.ndarray], n: int) -> int:
    """At least as many events as ``parent`` holds: its own count once gated, else its nearest gated ancestor's."""
    while parent != "/" and parent not in done:
        parent = strategy.by_path[parent].parent
    return n if parent == "/" else int(np.count_nonzero(masks[parent]))


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
