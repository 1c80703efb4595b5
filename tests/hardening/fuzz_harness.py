"""Runs fuzz cases in a worker subprocess under a time limit (a helper, not a test module).

One long-lived worker (``fuzz_worker.py``) reads the cases, so the import cost
is paid once; a case that exceeds the limit gets the worker killed and a new one
started, and is reported as ``timeout``; a worker that dies (segfault, abort)
reports ``crash``.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

_WORKER = Path(__file__).with_name("fuzz_worker.py")

#: Wall-clock limit of one case (a few seconds; generous for slow CI machines).
CASE_SECONDS = float(os.environ.get("CYTOGATE_FUZZ_SECONDS", "8"))
#: Peak traced memory allowed: this multiple of the file size plus of the decoded events, plus slack.
FILE_MULTIPLE = 4
OUTPUT_MULTIPLE = 3
SLACK_BYTES = 16 << 20


@dataclass
class CaseResult:
    label: str
    outcome: str
    detail: str = ""
    seconds: float = 0.0
    peak: int = 0
    out_bytes: int = 0
    size: int = 0

    @property
    def memory_bound(self) -> int:
        return FILE_MULTIPLE * self.size + OUTPUT_MULTIPLE * self.out_bytes + SLACK_BYTES

    def problem(self) -> str | None:
        """None when the case behaved (returned or raised FcsError in time, within memory)."""
        if self.outcome not in ("ok", "fcs_error"):
            return f"{self.label}: {self.outcome}: {self.detail}"
        if self.peak > self.memory_bound:
            return (f"{self.label}: peak memory {self.peak} bytes > bound {self.memory_bound} "
                    f"(file {self.size} bytes, decoded {self.out_bytes} bytes)")
        if self.out_bytes > 64 * max(self.size, 1):
            return f"{self.label}: decoded {self.out_bytes} bytes from a {self.size}-byte file"
        return None


class FuzzRunner:
    """Feeds files to a worker subprocess, one at a time, each under :data:`CASE_SECONDS`."""

    def __init__(self, workdir: Path, *, seconds: float = CASE_SECONDS) -> None:
        self.workdir = Path(workdir)
        self.seconds = seconds
        self.proc: subprocess.Popen | None = None
        self._stderr = tempfile.TemporaryFile()
        self.ran = 0

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ, PYTHONWARNINGS="default")
        return subprocess.Popen([sys.executable, str(_WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=self._stderr, env=env, bufsize=0)

    def _stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self._close_pipes()
            self.proc = None

    def _close_pipes(self) -> None:
        assert self.proc is not None
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self._close_pipes()
            self.proc = None
        self._stderr.close()

    def __enter__(self) -> FuzzRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_path(self, path: Path, label: str) -> CaseResult:
        if self.proc is None:
            self.proc = self._start()
            # The first case also pays for imports and numba cache loading.
            first_limit = self.seconds + 30
        else:
            first_limit = self.seconds
        self.ran += 1
        self.proc.stdin.write((str(path) + "\n").encode())
        line = self._read_line(first_limit)
        if line is None:
            self._stop()
            return CaseResult(label, "timeout", f"no answer within {first_limit:.0f} s")
        if not line:
            code = self.proc.wait()
            self._close_pipes()
            self.proc = None
            self._stderr.seek(0)
            tail = self._stderr.read()[-2000:].decode(errors="replace")
            self._stderr.seek(0)
            self._stderr.truncate()
            return CaseResult(label, "crash", f"worker exited with {code}: {tail}")
        data = json.loads(line)
        return CaseResult(label, **data)

    def _read_line(self, limit: float) -> bytes | None:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            deadline = time.monotonic() + limit
            while not buf.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(timeout=left):
                    return None
                chunk = os.read(fd, 65536)
                if not chunk:
                    return b""
                buf += chunk
        return buf

    def run_bytes(self, content: bytes, label: str) -> CaseResult:
        path = self.workdir / "case.fcs"
        path.write_bytes(content)
        return self.run_path(path, label)
