"""Whether numba kernels (transforms, compensation) may start threads in this process.

Logicle-family transforms and compensation run multi-threaded on large arrays. A batch run with
several worker processes already keeps every core busy, and numba's OpenMP
runtime cannot survive ``fork`` once started, so the batch runner switches
threads off around its pool (:func:`threads_disabled`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["PARALLEL_MIN", "threads_enabled", "set_threads", "threads_disabled", "use_parallel"]

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
