"""Data-driven gating against its static template: ``lupus_pd`` fitted per file vs the same gates frozen.

The data-driven strategy is the ready-made ``lupus_pd`` (26 fitted parameters:
density valleys, tails, a singlet band, chained seven deep).  Its static template is the
same strategy with every fitted gate replaced by its fit on one reference file
(synthetic ``lupus_pd`` seed 1, 1M events): the same populations, the same gate
kinds and dimensions, nothing fitted, so the difference is the cost of fitting.
Files are synthetic ``lupus_pd`` samples (18 float32 channels, ``$SPILLOVER``),
written once into ``benchmarks/_data/adaptive/``; each timed call reads and gates
them in-process, single-threaded as a batch worker does (``read_fcs`` + ``gate`` +
``.counts``, the work of ``cytogate run --no-stats``).

Cases (issue 16: fitting may cost at most 2x the static template, and peak
memory on a 5M-event file at most 1.5x the file):

- ``1 file x 1M events``: one drifted 1M-event file (seed 2);
- ``100 files x 20k events``: the per-file fixed cost of fitting (run at the 1M
  size slot of ``run.py``; the function ignores the size);
- ``5M events``: one 5M-event file (360 MB); the table's "peak above imports"
  column is the memory growth to compare with the file size.

Run standalone for the in-process comparison (interleaved, medians) and the
per-stage breakdown of one 1M and one 20k file:
``python benchmarks/bench_adaptive.py [--repeats 7] [--memory]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import DATA_DIR, Case, Result, run_once  # noqa: E402

STRATEGY = HERE.parent / "src" / "cytogate" / "gating_strategies" / "lupus_pd.yaml"
FOLDER = DATA_DIR / "adaptive"
N_SMALL_FILES = 100
SMALL_EVENTS = 20_000
_STATE: dict[str, Any] = {}


def _synthetic(name: str, n_events: int, seed: int) -> Path:
    from cytogate.synth import synthesize_sample

    FOLDER.mkdir(parents=True, exist_ok=True)
    path = FOLDER / f"{name}.fcs"
    if not path.exists():
        synthesize_sample("lupus_pd", n_events, seed=seed, shift="random" if seed > 1 else None).write(path)
    return path


def small_files() -> list[Path]:
    """The 100 drifted 20k-event files (seeds 100-199)."""
    return [_synthetic(f"small_{seed}", SMALL_EVENTS, seed) for seed in range(100, 100 + N_SMALL_FILES)]


def strategies() -> tuple[Any, Any]:
    """``lupus_pd`` and its static template (every fit frozen at its value on the reference file)."""
    from dataclasses import replace

    import cytogate
    from cytogate.gates.registry import gate_from_dict

    adaptive = cytogate.load_strategy(STRATEGY)
    fits = cytogate.gate(adaptive, cytogate.read_fcs(_synthetic("reference_1000000", 1_000_000, 1))).fitted
    frozen = {path: gate_from_dict(fit) for path, fit in fits.items()}
    static = replace(adaptive, populations=tuple(replace(p, gate=frozen.get(p.path, p.gate))
                                                 for p in adaptive.populations), source_text="")
    return adaptive, static


def _gate(strategy: Any, path: Path) -> None:
    import cytogate

    counts = cytogate.gate(strategy, cytogate.read_fcs(path)).counts
    assert int(counts["count"].iloc[0]) > 0


def _setup(files: list[Path]) -> None:
    from cytogate.threads import set_threads

    set_threads(False)  # as a batch worker runs
    adaptive, static = strategies()
    _STATE.update(files=files, adaptive=adaptive, static=static)
    _gate(adaptive, small_files()[0])  # numba kernels loaded, not timed
    _gate(static, small_files()[0])


def setup_one(n_events: int) -> None:
    _setup([_synthetic(f"target_{n_events}", n_events, 2)])


def setup_many(n_events: int) -> None:
    _setup(small_files())


def static_template(n_events: int) -> None:
    for path in _STATE["files"]:
        _gate(_STATE["static"], path)


def lupus_pd(n_events: int) -> None:
    for path in _STATE["files"]:
        _gate(_STATE["adaptive"], path)


ONE = "lupus_pd vs static template, 1 file"
MANY = f"lupus_pd vs static template, {N_SMALL_FILES} files x 20k events"
CASES = [
    Case(ONE, "cytogate", "static_template", input="size", sizes=(1_000_000, 5_000_000), setup="setup_one"),
    Case(ONE, "cytogate lupus_pd", "lupus_pd", input="size", sizes=(1_000_000, 5_000_000), setup="setup_one"),
    Case(MANY, "cytogate", "static_template", input="size", sizes=(1_000_000,), setup="setup_many"),
    Case(MANY, "cytogate lupus_pd", "lupus_pd", input="size", sizes=(1_000_000,), setup="setup_many"),
]
# fitting may cost at most 2x the static template: speed ratio >= 1/2
TARGETS = [(ONE, "cytogate lupus_pd", "cytogate", 0.5), (MANY, "cytogate lupus_pd", "cytogate", 0.5)]


def _interleaved(cases: dict[str, Any], repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):  # interleaved, so both see the same machine load
        for name, function in cases.items():
            clock = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - clock)
    return times


def stages(path: Path, adaptive: Any, static: Any, repeats: int) -> dict[str, float]:
    """Median seconds of each stage of gating one file (the fits timed inside the data-driven run)."""
    import numpy as np

    import cytogate
    from cytogate.engine import stream

    fit_seconds: list[float] = []
    fit_static = stream.fit_static

    def timed_fit(*args: Any) -> Any:  # the engine's own fit, timed
        clock = time.perf_counter()
        try:
            return fit_static(*args)
        finally:
            fit_seconds[-1] += time.perf_counter() - clock

    def adaptive_run() -> None:
        fit_seconds.append(0.0)
        stream.fit_static = timed_fit
        try:
            _gate(adaptive, path)
        finally:
            stream.fit_static = fit_static

    times = _interleaved({
        "page cache read (np.fromfile, the physical limit)": lambda: np.fromfile(path, dtype=np.uint8).shape,
        "read_fcs + events decoded": lambda: np.asarray(cytogate.read_fcs(path).events).shape,
        "static template: read + gate + counts": lambda: _gate(static, path),
        "lupus_pd: read + fit passes + gate + counts": adaptive_run,
    }, repeats)
    out = {k: statistics.median(v) for k, v in times.items()}
    out["lupus_pd: of which the fits"] = statistics.median(fit_seconds[1:] or fit_seconds)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--memory", action="store_true", help="also the 5M-event peak memory (fresh processes)")
    args = parser.parse_args(argv)
    setup_many(0)
    adaptive, static = _STATE["adaptive"], _STATE["static"]
    big = _synthetic("target_1000000", 1_000_000, 2)
    for label, files in (("1 file x 1M events", [big]), (f"{N_SMALL_FILES} files x 20k events", small_files())):
        times = _interleaved({"static": lambda: [_gate(static, p) for p in files],
                              "lupus_pd": lambda: [_gate(adaptive, p) for p in files]}, args.repeats)
        med = {k: statistics.median(v) for k, v in times.items()}
        best = {k: min(v) for k, v in times.items()}
        print(f"{label}: static median {med['static']:.3f} s (best {best['static']:.3f}), lupus_pd median "
              f"{med['lupus_pd']:.3f} s (best {best['lupus_pd']:.3f}): {med['lupus_pd'] / med['static']:.2f}x "
              f"median, {best['lupus_pd'] / best['static']:.2f}x best", flush=True)
    for label, path in (("1M events", big), ("20k events", small_files()[0])):
        print(f"stages, one file of {label} (medians of {args.repeats}):")
        for stage, seconds in stages(path, adaptive, static, args.repeats).items():
            print(f"  {stage:52s} {seconds * 1000:8.2f} ms")
    if args.memory:
        file_mb = _synthetic("target_5000000", 5_000_000, 2).stat().st_size / 2**20
        for tool, function in (("static", "static_template"), ("lupus_pd", "lupus_pd")):
            row = Result("adaptive", ONE, tool, 5_000_000, [])
            run_once("adaptive", Path(__file__), Case(ONE, tool, function, input="size", setup="setup_one"),
                     5_000_000, DATA_DIR, 900.0, row)
            grown = row.above_mb or float("nan")
            print(f"5M events, {tool}: {row.median or float('nan'):.2f} s, peak {row.peak_mb or float('nan'):.0f} MB, "
                  f"growth {grown:.0f} MB = {grown / file_mb:.2f}x the file ({file_mb:.0f} MB) {row.error or ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
