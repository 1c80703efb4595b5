"""Run samples on a Dask cluster (``cytogate run --scheduler tcp://HOST:PORT``).

Workers need cytogate installed and must be able to open each input: a path
on a filesystem they share, or an fsspec URL (``s3://``, ``gcs://``,
``https://`` ...) they have credentials for.  Results come back to this
process, which alone writes the output folder, so workers need no access to it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..errors import EnvironmentFailure
from .prehash import HashAhead
from .worker import RunConfig, SampleOutcome, SampleTask, process_sample, with_known_hashes

__all__ = ["run_dask"]


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
        futures = [client.submit(process_sample, task, shared, pure=False,
                                 key=f"cytogate-{task.index}-{task.sample}") for task in tasks]
        by_key = {future.key: task for future, task in zip(futures, tasks)}
        for future in as_completed(futures, loop=client.loop):
            try:
                outcome = future.result()
            except Exception as exc:  # the worker died (KilledWorker, out of memory ...)
                outcome = SampleOutcome(by_key[future.key], stage="worker",
                                        reason=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            yield outcome
    finally:
        client.close()
