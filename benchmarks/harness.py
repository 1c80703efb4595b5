"""Benchmark harness: side-by-side timings of cytogate and other tools, one fresh process per run.

Contract for benchmark modules
------------------------------
A module ``benchmarks/bench_<topic>.py`` exposes ``CASES``, a list of
:class:`Case` (or plain dicts with the same fields)::

    from harness import Case          # benchmarks/ is on sys.path when run by run.py

    def parse_cytogate(path: str) -> None:
        ...                            # a top-level function: do the work, return nothing

    CASES = [Case(operation="parse", tool="cytogate", function="parse_cytogate")]

* ``operation`` groups rows into one table; within it, ratios are against the
  row whose ``tool`` is ``"cytogate"``.
* ``function`` names a top-level function of the same module.  It receives the
  path (str) of an FCS 3.1 file with ``n`` events x 20 float32 parameters
  (``input="fcs"``, the default; files are generated once into
  ``benchmarks/_data/`` and reused), or the event count ``n`` itself
  (``input="size"``, for cases that build their own data).  Whatever it does is
  timed, so it must do the complete job (materialise and touch results, e.g.
  take a sum, so that lazy tools are not credited for work they skipped).
* ``setup`` optionally names another top-level function, called with the same
  argument before timing (not timed): import heavy libraries there rather than
  at module level, so that each tool's peak memory counts only its own imports.
* ``sizes`` limits the event counts a case runs at (default: all of 100k, 1M, 5M;
  ``--quick`` keeps only 100k).
* Optional ``TARGETS``: a list of ``(operation, tool, reference_tool, min_ratio)``;
  the harness reports whether ``speed(tool) / speed(reference_tool) >= min_ratio``
  at each size (e.g. ``("parse", "cytogate", "np.fromfile", 0.8)``).

How a case is measured
----------------------
Each repeat runs in a fresh Python process (``python harness.py --child ...``)
that imports the module (not timed), reads the input file once if there is one
so the page cache is warm, then times one call of the function with
``time.perf_counter``.  The process reports that time and its peak resident
memory (``VmHWM``, which includes the interpreter and imports), and the
peak above the post-import, post-setup baseline.  The table shows the median (and best)
time over the repeats (interleaved across tools), millions of events per second
from the median, the speed relative to cytogate
(tool speed / cytogate speed, so cytogate is 1.00 and >1 means faster than
cytogate) and the peak memory.  A failing tool is reported with its error and
does not stop the run.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "_data"
SIZES = (100_000, 1_000_000, 5_000_000)
N_PARAMETERS = 20
REFERENCE_TOOL = "cytogate"


@dataclasses.dataclass(frozen=True)
class Case:
    """One tool doing one operation (see the module docstring)."""

    operation: str
    tool: str
    function: str
    input: str = "fcs"
    sizes: tuple[int, ...] = SIZES
    repeats: int | None = None
    setup: str | None = None

    def __post_init__(self) -> None:
        if self.input not in ("fcs", "size"):
            raise ValueError(f"Case.input must be 'fcs' or 'size', got {self.input!r}")


@dataclasses.dataclass
class Result:
    """Measurements of one case at one size."""

    topic: str
    operation: str
    tool: str
    n_events: int
    seconds: list[float]
    peak_mb: float | None = None
    baseline_mb: float | None = None
    above_mb: float | None = None  # largest (peak - baseline) of one run: never mixes two runs
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None

    @property
    def best(self) -> float | None:
        return min(self.seconds) if self.seconds else None

    @property
    def mevents_per_s(self) -> float | None:
        m = self.median
        return None if not m else self.n_events / m / 1e6


def as_case(entry: Any) -> Case:
    """Accept a :class:`Case`, a dict of its fields, or a (operation, tool, function) tuple."""
    if isinstance(entry, Case):
        return entry
    if isinstance(entry, dict):
        fields = dict(entry)
        if "sizes" in fields:
            fields["sizes"] = tuple(fields["sizes"])
        return Case(**fields)
    if isinstance(entry, (tuple, list)) and len(entry) == 3:
        return Case(*entry)
    # Duck-typed descriptors from modules that do not import this file.
    names = ("operation", "tool", "function", "input", "sizes", "repeats", "setup")
    if all(hasattr(entry, n) for n in names[:3]):
        return Case(**{n: getattr(entry, n) for n in names if hasattr(entry, n)})
    raise TypeError(f"cannot read a benchmark case from {entry!r}")


# -- benchmark data ------------------------------------------------------------------------


def ensure_fcs(n_events: int, data_dir: Path = DATA_DIR) -> Path:
    """The n-event, 20-parameter float32 FCS 3.1 file, written once and reused."""
    import numpy as np

    from cytogate.fcs import write_fcs

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"bench_{n_events}x{N_PARAMETERS}.fcs"
    if path.exists():
        return path
    rng = np.random.default_rng(n_events)
    events = np.empty((n_events, N_PARAMETERS), dtype=np.float32)
    for start in range(0, n_events, 1_000_000):
        stop = min(n_events, start + 1_000_000)
        block = rng.lognormal(mean=7.0, sigma=1.5, size=(stop - start, N_PARAMETERS))
        events[start:stop] = np.minimum(block, 262143.0)
    names = ["FSC-A", "FSC-H", "SSC-A", "SSC-H"] + [f"FL{i}-A" for i in range(1, N_PARAMETERS - 4)] + ["Time"]
    events[:, -1] = np.arange(n_events, dtype=np.float32) / 100
    write_fcs(path, events, names, keywords={"$CYT": "cytogate benchmark"})
    return path


def warm(path: Path) -> None:
    """Read a file once so that timings see a warm page cache."""
    buffer = bytearray(1 << 20)  # small and reused: must not raise the measured peak memory
    with open(path, "rb", buffering=0) as handle:
        while handle.readinto(buffer):
            pass


# -- discovery -----------------------------------------------------------------------------


def load_module(path: Path) -> Any:
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def discover(only: Sequence[str] | None = None) -> dict[str, Path]:
    """``{topic: path}`` of every ``bench_<topic>.py`` (optionally only the named topics)."""
    found = {p.stem[len("bench_") :]: p for p in sorted(HERE.glob("bench_*.py"))}
    if only:
        missing = [t for t in only if t not in found]
        if missing:
            raise SystemExit(f"unknown benchmark topic(s): {', '.join(missing)}; known: {', '.join(found)}")
        found = {t: found[t] for t in only}
    return found


# -- running -------------------------------------------------------------------------------


def _peak_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    ``VmHWM`` from /proc where available: ``ru_maxrss`` survives ``exec`` on Linux and
    would report the parent's peak (the harness holding a freshly generated file).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024.0 if sys.platform != "darwin" else 1024.0**2)


def _reset_peak() -> None:
    """Make ``VmHWM`` restart from the current resident size (Linux >= 4.0; elsewhere a no-op)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def child(module_path: str, function: str, argument: str, kind: str, setup: str = "") -> None:
    """Body of the measuring subprocess: prints one JSON line."""
    module = load_module(Path(module_path))
    fn = getattr(module, function)
    arg: Any = argument if kind == "fcs" else int(argument)
    if setup:
        getattr(module, setup)(arg)
    if kind == "fcs":
        warm(Path(argument))
    _reset_peak()  # the peak of setup (e.g. generating the input) is not the case's
    baseline = _peak_mb()
    start = time.perf_counter()
    fn(arg)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mb": _peak_mb(), "baseline_mb": baseline}))


def run_once(topic: str, module_path: Path, case: Case, n_events: int, data_dir: Path, timeout: float, result: Result) -> None:
    """One fresh-process measurement of ``case``, appended to ``result`` (errors recorded, not raised)."""
    if result.error:
        return
    argument = str(ensure_fcs(n_events, data_dir)) if case.input == "fcs" else str(n_events)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(module_path), case.function, argument,
           case.input, case.setup or ""]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        result.error = f"timed out after {timeout:.0f} s"
        return
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        result.error = lines[-1][:200] if lines else f"exit code {proc.returncode}"
        return
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    result.seconds.append(data["seconds"])
    result.peak_mb = max(result.peak_mb or 0.0, data["peak_mb"])
    result.baseline_mb = data["baseline_mb"] if result.baseline_mb is None else min(result.baseline_mb, data["baseline_mb"])
    # a setup that generated the input raises one run's baseline and peak alike
    result.above_mb = max(result.above_mb or 0.0, data["peak_mb"] - data["baseline_mb"])


def run_all(
    topics: dict[str, Path],
    sizes: Sequence[int],
    repeats: int,
    data_dir: Path = DATA_DIR,
    tools: Sequence[str] | None = None,
    timeout: float = 900.0,
    log: Any = None,
) -> tuple[list[Result], list[tuple[str, str, str, float]], list[str]]:
    """Run every case of every topic; returns results, targets and notes (modules without CASES)."""
    results: list[Result] = []
    targets: list[tuple[str, str, str, float]] = []
    notes: list[str] = []
    for topic, path in topics.items():
        try:
            module = load_module(path)
        except Exception as exc:  # a broken module must not stop the other benchmarks
            notes.append(f"bench_{topic}.py could not be imported: {type(exc).__name__}: {exc}")
            continue
        cases = getattr(module, "CASES", None)
        if not cases:
            notes.append(f"bench_{topic}.py defines no CASES (run it standalone)")
            continue
        targets.extend(tuple(t) for t in getattr(module, "TARGETS", []))
        selected = [c for c in map(as_case, cases) if not tools or c.tool in tools]
        for n in sizes:
            here = [c for c in selected if n in c.sizes]
            rows = [Result(topic, c.operation, c.tool, n, []) for c in here]
            # Repeats are interleaved across tools so that load from other processes on the
            # machine affects every tool alike rather than whichever ran during a busy spell.
            for r in range(max((c.repeats or repeats for c in here), default=0)):
                for case, row in zip(here, rows):
                    if r < (case.repeats or repeats):
                        if log:
                            log(f"{topic}: {case.operation} / {case.tool} @ {n:,} events, run {r + 1}")
                        run_once(topic, path, case, n, data_dir, timeout, row)
            results.extend(rows)
    return results, targets, notes


# -- reporting -----------------------------------------------------------------------------


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _above(r: Result) -> float | None:
    return r.above_mb


def tables(results: Iterable[Result]) -> list[str]:
    """Markdown tables, one per (operation, size)."""
    groups: dict[tuple[str, str, int], list[Result]] = {}
    for r in results:
        groups.setdefault((r.topic, r.operation, r.n_events), []).append(r)
    lines: list[str] = []
    for (topic, operation, n), rows in groups.items():
        ref = next((r for r in rows if r.tool == REFERENCE_TOOL and r.median), None)
        lines.append(f"### {operation} ({topic}), {n:,} events x {N_PARAMETERS} parameters")
        lines.append("")
        lines.append("| tool | median s | best s | M events/s | speed vs cytogate | peak MB | peak above imports MB | note |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---|")
        for r in rows:
            ratio = None if ref is None or not r.median else ref.median / r.median
            lines.append(
                f"| {r.tool} | {_fmt(r.median, '.4f')} | {_fmt(r.best, '.4f')} | {_fmt(r.mevents_per_s, '.1f')} "
                f"| {_fmt(ratio, '.2f')} "
                f"| {_fmt(r.peak_mb, '.0f')} | {_fmt(_above(r), '.0f')} | {r.error or ''} |"
            )
        lines.append("")
    return lines


def check_targets(results: Sequence[Result], targets: Sequence[tuple[str, str, str, float]]) -> list[dict[str, Any]]:
    out = []
    for operation, tool, reference, minimum in targets:
        for n in sorted({r.n_events for r in results if r.operation == operation}):
            mine = next((r for r in results if (r.operation, r.tool, r.n_events) == (operation, tool, n)), None)
            ref = next((r for r in results if (r.operation, r.tool, r.n_events) == (operation, reference, n)), None)
            if mine is None or ref is None or not mine.median or not ref.median:
                continue
            ratio = ref.median / mine.median
            out.append({"operation": operation, "tool": tool, "reference": reference, "n_events": n,
                        "ratio": ratio, "target": minimum, "met": ratio >= minimum})
    return out


def write_reports(
    results: Sequence[Result], checked: Sequence[dict[str, Any]], notes: Sequence[str], out_dir: Path, meta: dict[str, Any]
) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "schema": 1,
        "meta": meta,
        "results": [
            {**dataclasses.asdict(r), "median_s": r.median, "best_s": r.best, "mevents_per_s": r.mevents_per_s}
            for r in results
        ],
        "targets": list(checked),
        "notes": list(notes),
    }
    json_path = out_dir / "latest.json"
    json_path.write_text(json.dumps(payload, indent=1))
    lines = ["# cytogate benchmarks", "", f"Run {meta.get('date', '')} on {meta.get('machine', '')}.", ""]
    lines += tables(results)
    if checked:
        lines += ["## Targets", "", "| operation | events | tool / reference | ratio | target | met |", "|---|---:|---|---:|---:|---|"]
        lines += [
            f"| {c['operation']} | {c['n_events']:,} | {c['tool']} / {c['reference']} | {c['ratio']:.2f} | "
            f"≥ {c['target']} | {'yes' if c['met'] else 'NO'} |"
            for c in checked
        ]
        lines.append("")
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    md_path = out_dir / "latest.md"
    md_path.write_text("\n".join(lines))
    return json_path, md_path


if __name__ == "__main__":
    if len(sys.argv) in (6, 7) and sys.argv[1] == "--child":
        child(*sys.argv[2:])
    else:
        raise SystemExit("harness.py is driven by run.py; see benchmarks/README.md")
