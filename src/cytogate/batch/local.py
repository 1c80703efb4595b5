"""Run samples on this machine: in-process for one worker, else a process pool.

The pool is sized to the cores this process may use and to the memory
available: each worker holds about one decoded file plus masks, estimated as
``MEMORY_PER_BYTE`` times the largest input file.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import replace

from ..threads import process_context, set_threads, threads_disabled
from .prehash import HashAhead
from .stats import sample_stats_columns
from .worker import RunConfig, SampleOutcome, SampleTask, process_sample, task_strategy, with_known_hashes

__all__ = ["MEMORY_PER_BYTE", "available_cores", "available_memory", "default_workers", "run_local"]

#: Peak bytes of worker memory per byte of FCS file (float64 copies, masks, statistics).
MEMORY_PER_BYTE = 4.0
_BASE_MEMORY = 300 << 20  # interpreter, numpy, numba, pandas


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def available_memory() -> int | None:
    """Bytes of memory available to new processes (Linux ``MemAvailable``), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def default_workers(n_tasks: int, largest_input: int) -> int:
    """Workers for ``n_tasks`` inputs whose largest file is ``largest_input`` bytes."""
    workers = min(available_cores(), max(n_tasks, 1))
    memory = available_memory()
    if memory is not None:
        per_worker = _BASE_MEMORY + MEMORY_PER_BYTE * largest_input
        workers = min(workers, max(1, int(0.8 * memory // per_worker)))
    return max(1, workers)


_CONFIG: RunConfig | None = None


def _init_worker(config: RunConfig, inherited_fds: Sequence[int]) -> None:
    global _CONFIG
    _CONFIG = config
    set_threads(False)  # the pool already uses every core; one thread per worker
    for fd in inherited_fds:  # forked children must not keep the output lock alive
        try:
            os.close(fd)
        except OSError:
            pass


def _run_in_worker(task: SampleTask) -> SampleOutcome:
    assert _CONFIG is not None
    return process_sample(task, _CONFIG)


_WARM_EVENTS = 256


def _warm(task: SampleTask, config: RunConfig) -> None:
    """Gate the first events of ``task``'s file in memory, and measure them when the run has statistics.

    The statistics kernels load from numba's cache here too (about 0.2 s), or each
    forked worker would pay that on its first file.  Best effort: errors are the
    worker's to report.
    """
    try:
        from ..fcs import Sample, read_fcs

        sample = read_fcs(task.file)
        events = next(sample.blocks(_WARM_EVENTS))[1]
        tiny = Sample.from_arrays(events[:_WARM_EVENTS], sample.channels, markers=sample.markers,
                                  spillover=sample.spillover)
        strategy = task_strategy(task, config)
        result = config.backend.gate(strategy, tiny)
        result.count_rows()
        if config.stats:
            sample_stats_columns(strategy, tiny, config.stats_scale, dict(result.masks), name=task.sample)
    except Exception:  # noqa: BLE001 - a bad first input fails in its worker, with its stage and reason
        pass


def run_local(tasks: Sequence[SampleTask], config: RunConfig, *, workers: int,
              close_fds: Sequence[int] = (), prehash: HashAhead | None = None) -> Iterator[SampleOutcome]:
    """Process tasks, yielding outcomes as they finish.

    Parameters
    ----------
    tasks : sequence of SampleTask
    config : RunConfig
    workers : int
        1 runs everything in this process (no start-up cost).
    close_fds : sequence of int
        Descriptors forked workers must close (the output folder lock).
    prehash : HashAhead, optional
        Inputs being hashed in the background: in this process it keeps running
        ahead of the gating; before a pool is forked it is stopped and the hashes
        it finished travel with the tasks.
    """
    if workers <= 1 or len(tasks) <= 1:
        with _frozen():  # see below: the collector need not walk start-up's objects again
            try:
                for task in tasks:
                    known = prehash.claim(task.file) if prehash is not None else None
                    yield process_sample(replace(task, known=known) if known is not None else task, config)
            finally:
                if prehash is not None:
                    prehash.stop()
        return
    context = process_context()
    # only forked children inherit our descriptors; elsewhere these numbers mean other files
    inherited = tuple(close_fds) if context.get_start_method() == "fork" else ()
    if context.get_start_method() == "fork":
        # Load the numba kernels here, once, on a few events of the first input: forked
        # workers inherit them instead of each paying numba's start-up (~0.5 s).
        # Single-threaded, so that this process stays safe to fork.
        with threads_disabled():
            _warm(tasks[0], config)
    if prehash is not None:  # no thread may run while the pool forks
        tasks = with_known_hashes(tasks, prehash.stop())
    with _frozen():
        yield from _run_pool(tasks, config, workers, context, inherited)


@contextmanager
def _frozen() -> Iterator[None]:
    """Objects existing now are skipped by the collector until the block ends.

    Forked workers then never walk (and so never copy) the pages of the million
    objects the imports created, and this process's collections during the run
    stay small.  Left alone when the embedding program froze objects itself.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _run_pool(tasks: Sequence[SampleTask], config: RunConfig, workers: int,
              context: multiprocessing.context.BaseContext, inherited: Sequence[int]) -> Iterator[SampleOutcome]:
    """Outcomes of ``tasks`` from a process pool; a file that kills its worker becomes a failure.

    When a worker dies (out of memory, a crash in native code, a kill), every
    task in flight fails with it.  Those tasks are then run again one at a
    time in a fresh single-worker pool, so only the file that kills a worker
    again is reported (stage ``worker``); the others finish normally.
    """
    queue = list(tasks)[::-1]  # pop() from the end: task order
    suspects: list[SampleTask] = []  # in flight when a worker died, to run alone (same order)
    while queue or suspects:
        alone = bool(suspects)
        source = suspects if alone else queue
        # A bounded number of tasks in flight, so outcomes stream back in order of completion
        # and finished results do not pile up here: two per worker when each carries a membership
        # table, more otherwise, so workers stay busy while this process loads pandas and commits.
        window = 1 if alone else (2 if config.membership else 8) * workers
        broken: list[SampleTask] = []
        with ProcessPoolExecutor(max_workers=1 if alone else min(workers, len(source)), mp_context=context,
                                 initializer=_init_worker, initargs=(config, inherited)) as pool:
            pending: dict[Future[SampleOutcome], SampleTask] = {}
            while (source or pending) and not broken:
                while source and len(pending) < window:
                    task = source.pop()
                    pending[pool.submit(_run_in_worker, task)] = task
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        broken.append(task)
                        continue
                    yield replace(outcome, retried=True) if alone else outcome
            broken += pending.values()  # failed with the pool, or never started
        if not broken:
            continue
        if alone:  # one task at a time: the task in flight killed its worker
            (culprit,) = broken
            yield SampleOutcome(culprit, stage="worker", reason="the worker process died while gating this file "
                                "(out of memory, a crash or a kill); run again to retry", retried=True)
        else:
            suspects.extend(sorted(broken, key=lambda t: t.index, reverse=True))
