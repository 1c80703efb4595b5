"""Fuzz worker process (a script, not a test module): reads one FCS path per stdin line.

For each path it runs ``read_metadata`` and ``read_fcs`` (decoding every event,
scaled and, separately, column by column unscaled) and answers one JSON line:
the outcome (``ok``, ``fcs_error``, ``bug`` for any other exception, ``warning``
for a warning that is not a cytogate warning), the seconds taken and the
``tracemalloc`` peak in bytes.  The parent enforces the time limit by killing
this process, so a hang cannot stall the suite.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
import tracemalloc
import warnings

# Results go to the original stdout; anything the library might print goes to stderr.
_OUT = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
sys.stdout = sys.stderr

# A guard for the machine, not the measured bound: no case may take more than this.
_LIMIT = int(os.environ.get("CYTOGATE_FUZZ_DATA_LIMIT", str(3 << 30)))
resource.setrlimit(resource.RLIMIT_DATA, (_LIMIT, _LIMIT))

from cytogate.errors import CytogateWarning, FcsError  # noqa: E402
from cytogate.fcs import read_fcs, read_metadata  # noqa: E402


def _exercise(path: str) -> int:
    """Every read path; returns the bytes of the largest decoded event matrix."""
    meta = read_metadata(path)
    _ = (meta.channels, meta.markers, meta.n_events, meta.spillover)
    sample = read_fcs(path)
    events = sample.events
    out = events.nbytes
    del events, sample
    raw = read_fcs(path, scale=False)
    for index in range(min(len(raw.channels), 4)):
        raw.column(index)
    return out


def run_case(path: str) -> dict:
    if path.startswith("sleep:"):  # the harness's own self-test of its time limit
        time.sleep(float(path[6:]))
    tracemalloc.reset_peak()
    baseline, _ = tracemalloc.get_traced_memory()
    start = time.perf_counter()
    outcome, detail, out_bytes = "ok", "", 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out_bytes = _exercise(path)
        except FcsError as exc:
            outcome, detail = "fcs_error", str(exc)
            if path not in detail:
                outcome, detail = "bug", f"FcsError does not name the file: {detail}"
        except BaseException as exc:  # noqa: BLE001 - every other exception is a finding
            outcome = "bug"
            detail = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
    foreign = [w for w in caught if not issubclass(w.category, CytogateWarning)]
    if outcome != "bug" and foreign:
        w = foreign[0]
        outcome, detail = "warning", f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})"
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    return {"outcome": outcome, "detail": detail[:4000], "seconds": elapsed, "peak": peak - baseline,
            "out_bytes": out_bytes, "size": os.path.getsize(path)}


def _warm_up() -> None:
    """Load lazily imported kernels once, so one-time import and JIT costs are not charged to a case."""
    import numpy as np

    from cytogate.fcs._bits import unpack_bits

    unpack_bits(np.zeros(4, dtype=np.uint8), 2, 12, 0, 7)


def main() -> None:
    _warm_up()
    tracemalloc.start()
    for line in sys.stdin:
        path = line.rstrip("\n")
        if not path:
            continue
        _OUT.write(json.dumps(run_case(path)) + "\n")


if __name__ == "__main__":
    main()
