"""Progress of a batch: a tqdm bar with files/s and events/s on a terminal, log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

__all__ = ["Progress", "Summary"]

log = logging.getLogger("cytogate.batch")


@dataclass(frozen=True)
class Summary:
    """Totals of one run."""

    files: int
    done: int
    cached: int
    failed: int
    events: int
    seconds: float

    def line(self) -> str:
        rate = self.events / self.seconds if self.seconds > 0 else 0.0
        return (f"{self.files} files: {self.done} done ({self.cached} reused from an earlier run), "
                f"{self.failed} failed; {self.events:,} events in {self.seconds:.2f} s "
                f"({rate:,.0f} events/s)")


class Progress:
    """Report completed samples.

    Parameters
    ----------
    total : int
        Number of inputs.
    bar : bool or None
        True: tqdm bar on ``stream``; False: one log line per file; None: a bar
        when ``stream`` is a terminal.
    stream : text stream, optional
        Where the bar goes (stderr by default).
    """

    def __init__(self, total: int, *, bar: bool | None = None, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.done = self.cached = self.failed = self.events = 0
        use_bar = bar if bar is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar: Any = None
        if use_bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="file", file=self.stream, dynamic_ncols=True, leave=True)

    def update(self, sample: str, *, events: int = 0, ok: bool = True, cached: bool = False,
               reason: str = "") -> None:
        """Record one finished sample."""
        if ok:
            self.done += 1
            self.cached += int(cached)
            self.events += int(events)
        else:
            self.failed += 1
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        if self._bar is not None:
            self._bar.set_postfix_str(f"{self.events / elapsed / 1e6:.1f} M ev/s, {self.failed} failed",
                                      refresh=False)
            self._bar.update(1)
            return
        position = self.done + self.failed
        if ok:
            how = "reused" if cached else f"{events:,} events"
            log.info("[%d/%d] %s: %s", position, self.total, sample, how)
        else:
            log.warning("[%d/%d] %s: failed: %s", position, self.total, sample, reason)

    def close(self) -> Summary:
        """Stop the bar and return the totals (the caller reports them)."""
        if self._bar is not None:
            self._bar.close()
        summary = Summary(self.total, self.done, self.cached, self.failed, self.events,
                          time.perf_counter() - self.started)
        return summary
