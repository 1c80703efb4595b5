"""Run samples on a Dask cluster (``cytogate run --scheduler tcp://HOST:PORT``).

Workers need cytogate installed and must be able to open each input: a path
on a filesystem they share, or an fsspec URL (``s3://``, ``gcs://``,
``https://`` ...) they have credentials for.  Results come back to this
process, which alone writes the output folder, so workers need no access to it.
When a worker is lost, Dask runs its tasks again elsewhere; the outcomes of
tasks it ran (in flight, or finished but not yet gathered) say ``retried``,
and the manifest lists them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from ..errors import EnvironmentFailure
from .prehash import HashAhead
from .worker import RunConfig, SampleOutcome, SampleTask, process_sample, with_known_hashes

__all__ = ["run_dask"]

log = logging.getLogger("cytogate.batch")


def run_dask(tasks: Sequence[SampleTask], config: RunConfig, *, address: str,
             timeout: float | None = None, prehash: HashAhead | None = None) -> Iterator[SampleOutcome]:
    """Process tasks on the Dask scheduler at ``address``, yielding outcomes as they finish.

    ``timeout`` (seconds) defaults to Dask's ``distributed.comm.timeouts.connect``.
    ``prehash`` keeps hashing inputs while ``distributed`` loads and connects; the
    hashes it finished go with the tasks (a worker uses one only if it sees the
    very same file: same device, inode, size and mtime).

    Raises
    ------
    BatchError
        ``distributed`` is not installed or the scheduler cannot be reached.
    """
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise EnvironmentFailure("--scheduler needs dask.distributed: pip install 'cytogate[dask]'") from None
    try:
        extra = {} if timeout is None else {"timeout": timeout}
        client = Client(address, set_as_default=False, **extra)
    except (OSError, TimeoutError) as exc:
        raise EnvironmentFailure(f"cannot reach Dask scheduler {address}: {exc}") from None
    try:
        shared = client.scatter(config, broadcast=True)
        if prehash is not None:
            tasks = with_known_hashes(tasks, prehash.stop())
        # keys of this run only: a rerun on the same scheduler must not share tasks, results or the
        # scheduler's record of tasks lost with a worker
        run = uuid.uuid4().hex[:12]
        futures = [client.submit(process_sample, task, shared, pure=False,
                                 key=f"cytogate-{task.index}-{task.sample}-{run}") for task in tasks]
        by_key = {future.key: task for future, task in zip(futures, tasks)}
        finished = as_completed(futures, loop=client.loop)
        # only the iterator holds the futures now: each result is released once yielded,
        # so neither the workers nor this process keep every finished sample
        del futures
        retried: set[Any] = set()  # grows: a lost-worker event the scheduler has since dropped still counts
        for batch in finished.batches():
            retried |= _retried(client, [future.key for future in batch], run)
            for future in batch:
                try:
                    outcome = future.result()
                except Exception as exc:  # the worker died (KilledWorker, out of memory ...)
                    first = str(exc).splitlines()[0] if str(exc) else ""
                    outcome = SampleOutcome(by_key[future.key], stage="worker",
                                            reason=f"{type(exc).__name__}: {first}".rstrip(": "))
                yield replace(outcome, retried=True) if future.key in retried else outcome
    finally:
        client.close()


def _suspicious(dask_scheduler: Any, keys: Sequence[Any], run: str = "") -> list[Any]:
    """(Runs on the scheduler.) The keys Dask runs more than once because a worker was lost.

    Two cases: the task was in flight on the lost worker (its ``suspicious``
    count), or it had finished there and its result went with the worker before
    this process gathered it (the worker's ``remove-worker`` event lists it; a
    worker retired on purpose is listed too, and its tasks in flight do run again).
    Besides ``keys``, every key of the run (ending ``-{run}``) the events list, so
    that one asked about later counts even when the scheduler has dropped the event.
    """
    tasks = dask_scheduler.tasks
    asked = set(keys)
    again = {key for key in asked if key in tasks and getattr(tasks[key], "suspicious", 0) > 0}
    ours = f"-{run}" if run else None
    for _, event in dask_scheduler.get_events("all"):
        if isinstance(event, dict) and event.get("action") == "remove-worker":
            for key in (*event.get("processing-tasks", ()), *event.get("lost-computed-tasks", ())):
                if key in asked or (ours and isinstance(key, str) and key.endswith(ours)):
                    again.add(key)
    return list(again)


def _retried(client: Any, keys: list[Any], run: str = "") -> set[Any]:
    """Which of ``keys`` (and other keys of ``run``) Dask ran again after losing a worker (empty when it cannot say)."""
    try:
        return set(client.run_on_scheduler(_suspicious, keys=keys, run=run))
    except Exception as exc:  # noqa: BLE001 - e.g. a remote scheduler without cytogate installed
        log.debug("cannot ask the scheduler which tasks were retried: %s", exc)
        return set()
