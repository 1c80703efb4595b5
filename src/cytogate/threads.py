"""Threads and processes: whether numba kernels may start threads here, and how to start workers.

Logicle-family transforms and compensation run multi-threaded on large arrays. A batch run with
several worker processes already keeps every core busy, and numba's OpenMP
runtime cannot survive ``fork`` once started, so the batch runner switches
threads off around its pool (:func:`threads_disabled`).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["PARALLEL_MIN", "numba_threads_started", "process_context", "set_threads", "threads_disabled",
           "threads_enabled", "use_parallel"]

#: Below this many values a serial loop is faster than starting threads.
PARALLEL_MIN = 1 << 15

_enabled = True


def threads_enabled() -> bool:
    return _enabled


def set_threads(enabled: bool) -> None:
    """Allow (True) or forbid (False) multi-threaded transform kernels in this process."""
    global _enabled
    _enabled = bool(enabled)


@contextmanager
def threads_disabled() -> Iterator[None]:
    """Run a block with single-threaded kernels, restoring the previous setting after."""
    previous = _enabled
    set_threads(False)
    try:
        yield
    finally:
        set_threads(previous)


def use_parallel(n_values: int) -> bool:
    """True when a kernel over ``n_values`` values should use its threaded variant."""
    return _enabled and n_values >= PARALLEL_MIN


def numba_threads_started() -> bool:
    """True once numba's threading runtime runs here (GNU OpenMP cannot survive fork)."""
    import numba

    try:
        return numba.threading_layer() not in ("workqueue", "tbb")
    except ValueError:  # not initialised: no parallel kernel has run in this process
        return False


def process_context() -> multiprocessing.context.BaseContext:
    """How to start worker processes here: fork while that is safe, else forkserver (spawn on Windows).

    fork starts in milliseconds, but only while this process has no numba
    threads; Python >= 3.12 warns when forking a threaded process, so newer
    interpreters use forkserver.
    """
    if sys.platform.startswith("linux") and sys.version_info < (3, 12) and not numba_threads_started():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if sys.platform != "win32" else "spawn")
