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
only the values each fit needs (:func:`_fit_by_passes`), and the strategy,
static from then on, is streamed like any other.  Samples that cannot be read
in blocks are evaluated on whole columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
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


def _static_closure(strategy: Strategy) -> set[str]:
    """Populations computable without fitting anything: static gates whose dependencies all are."""
    static: set[str] = set()
    for path in strategy.evaluation_order:
        pop = strategy.by_path[path]
        deps = ({pop.parent} - {"/"}) | set(pop.gate.references)
        if not pop.gate.needs_fit and deps <= static:
            static.add(path)
    return static


def _fit_by_passes(strategy: Strategy, sample: Any, aliases: MarkerAliases | None
                   ) -> tuple[Strategy, dict[str, dict[str, Any]]]:
    """The strategy with every data-driven gate fitted, reading the sample block by block.

    Each pass streams the file once, gates it with the populations already
    static, and keeps only the values each next data-driven gate is fitted on
    (its dimensions on its parent's events, in event order: exactly what the
    whole-file evaluation hands to ``fit``).  A chain of k data-driven gates
    takes k passes; memory is one block plus those values.
    """
    current = strategy
    fitted: dict[str, dict[str, Any]] = {}
    while True:
        static = _static_closure(current)
        ready = [p for p in current.populations if p.gate.needs_fit and (p.parent == "/" or p.parent in static)]
        if not ready:
            return current, fitted
        wanted = static | {p.path for p in ready}
        passing = replace(current, populations=tuple(p for p in current.populations if p.path in wanted),
                          source_text="")
        plan = compile_plan(passing, sample, aliases)
        only = frozenset(static)
        chunks: dict[str, list[np.ndarray]] = {p.path: [] for p in ready}
        for _, events in sample.blocks(BLOCK_EVENTS, digest=None):
            ex = Execution(plan, _Block(sample, events)).run(only=only)
            for pop in ready:
                with population_errors(pop.path, pop.gate):
                    idx = None if pop.parent == "/" else np.flatnonzero(ex.masks[pop.parent])
                    chunks[pop.path].append(ex.stacked(pop.gate.dimensions, idx, None))  # not cached
        replaced = {}
        for pop in ready:
            with population_errors(pop.path, pop.gate):
                gate = fit_static(pop.gate, np.concatenate(chunks.pop(pop.path), axis=1), pop.path)
            fitted[pop.path] = gate.to_dict()
            replaced[pop.path] = gate
        current = replace(current, populations=tuple(replace(p, gate=replaced[p.path]) if p.path in replaced else p
                                                      for p in current.populations), source_text="")


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
        static, fitted = _fit_by_passes(strategy, sample, aliases)
        masks = _gate_blocks(compile_plan(static, sample, aliases), sample, digest)
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
