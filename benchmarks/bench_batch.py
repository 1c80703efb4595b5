"""Batch runs through the command line: ``cytogate run`` on many 1M-event files vs FlowKit's Session.

The files are those of the 6-gate benchmark (``bench_gating.make_events``:
1M events x 20 float32 channels, FCS 3.1 with ``$SPILLOVER``), one per seed,
and the strategy is that benchmark's 6-gate hierarchy written once as
Gating-ML 2.0; both tools read the same files and the same XML.

Each timed call does the complete job from a cold interpreter:

- ``cytogate`` rows run ``python -m cytogate run STRATEGY DIR --out NEW_DIR`` in
  a subprocess (start-up, imports, numba cache loading, process pool, every
  input's SHA-256 for the manifest, all outputs written atomically): 2 workers
  counts only (``--no-stats``, the same work FlowKit does), 2 workers with the
  default intensity statistics, 1 worker, and a Dask ``LocalCluster`` (2 worker
  processes on loopback, started in the untimed setup, as a running cluster
  would be);
- the untimed setup runs cytogate once, which loads numba's cache and leaves
  the inputs' hashes in the hash index, as any earlier run over the same
  exports would; the ``--rehash`` rows hash every input afresh (a first run
  over new files);
- ``flowkit`` builds a ``Session`` from the Gating-ML, adds the samples, runs
  ``analyze_samples()`` (its default multiprocessing) and takes the report.

Counts of cytogate and FlowKit are compared in :func:`compare_counts` (run
standalone: ``python benchmarks/bench_batch.py [--files N] [--skip-flowkit]``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import DATA_DIR, Case, warm  # noqa: E402

N_FILES = int(os.environ.get("CYTOGATE_BENCH_FILES", "20"))
SIZES = (1_000_000,)
_CLUSTER: Any = None


def batch_inputs(n_events: int, n_files: int = N_FILES, data_dir: Path = DATA_DIR) -> tuple[Path, Path]:
    """Folder of ``n_files`` FCS files and the Gating-ML strategy, generated once and reused."""
    import numpy as np

    from bench_gating import CHANNELS, FLUOR, MARKERS, make_events, make_strategy, spillover_matrix
    from cytogate.fcs import write_fcs
    from cytogate.compensation import Spillover
    from cytogate.strategy.gatingml_write import save_gatingml

    folder = data_dir / f"batch_{n_events}"
    files = folder / "fcs"
    files.mkdir(parents=True, exist_ok=True)
    spill = Spillover(spillover_matrix(len(FLUOR)), tuple(FLUOR), source="bench")
    for seed in range(n_files):
        path = files / f"sample_{seed:03d}.fcs"
        if not path.exists():
            write_fcs(path, make_events(n_events, seed=seed).astype(np.float32), CHANNELS, markers=MARKERS,
                      spillover=spill)
    for extra in sorted(files.glob("*.fcs"))[n_files:]:
        extra.unlink()
    gml = folder / "six_gates.xml"
    if not gml.exists():
        save_gatingml(make_strategy(), gml)
    for path in files.glob("*.fcs"):
        warm(path)
    return files, gml


def _paths(n_events: int, data_dir: Path = DATA_DIR) -> tuple[Path, Path]:
    """The inputs :func:`batch_inputs` wrote (called inside timed runs: reads nothing)."""
    folder = data_dir / f"batch_{n_events}"
    return folder / "fcs", folder / "six_gates.xml"


def _cli(n_events: int, *extra: str) -> None:
    files, gml = _paths(n_events)
    out = Path(tempfile.mkdtemp(prefix="cytogate-bench-"))
    try:
        done = subprocess.run([sys.executable, "-m", "cytogate", "-q", "run", str(gml), str(files), "--out",
                               str(out / "run"), "--no-progress", *extra], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"cytogate run exited {done.returncode}: {done.stderr.strip()[-500:]}")
        with open(out / "run" / "counts.csv") as handle:  # touch the result
            assert sum(1 for _ in handle) > N_FILES
    finally:
        shutil.rmtree(out, ignore_errors=True)


def setup(n_events: int) -> None:
    batch_inputs(n_events)
    _cli(n_events, "--workers", "1", "--no-stats")  # numba cache and page cache warm, not timed


def cytogate_2_workers(n_events: int) -> None:
    _cli(n_events, "--workers", "2", "--no-stats")


def cytogate_2_workers_stats(n_events: int) -> None:
    _cli(n_events, "--workers", "2")


def cytogate_2_workers_rehash(n_events: int) -> None:
    _cli(n_events, "--workers", "2", "--no-stats", "--rehash")


def cytogate_1_worker(n_events: int) -> None:
    _cli(n_events, "--workers", "1", "--no-stats")


def cytogate_1_worker_stats(n_events: int) -> None:
    _cli(n_events, "--workers", "1")


def setup_cluster(n_events: int) -> None:
    global _CLUSTER
    setup(n_events)
    from distributed import LocalCluster

    _CLUSTER = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address=None, silence_logs=40)


def cytogate_local_cluster(n_events: int) -> None:
    _cli(n_events, "--scheduler", _CLUSTER.scheduler_address, "--no-stats")


def cytogate_local_cluster_stats(n_events: int) -> None:
    _cli(n_events, "--scheduler", _CLUSTER.scheduler_address)


def setup_flowkit(n_events: int) -> None:
    batch_inputs(n_events)
    import flowkit  # noqa: F401  (import cost is not FlowKit's analysis time)


def _flowkit_report(files: Path, gml: Path) -> Any:
    import flowkit as fk

    session = fk.Session(gating_strategy=str(gml))
    session.add_samples([fk.Sample(str(p)) for p in sorted(files.glob("*.fcs"))])
    session.analyze_samples()
    return session.get_analysis_report()


def flowkit_session(n_events: int) -> None:
    files, gml = _paths(n_events)
    report = _flowkit_report(files, gml)
    assert int(report["count"].sum()) > 0


def compare_counts(cytogate_counts: Path, report: Any) -> dict[str, Any]:
    """Compare every (sample, gate) count of a cytogate ``counts.csv`` with a FlowKit report."""
    import pandas as pd

    from bench_gating import _gml_id

    ours = pd.read_csv(cytogate_counts)
    column = "sample" if "sample" in report.columns else "sample_id"
    theirs = {(str(r[column]).rsplit(".", 1)[0], str(r["gate_name"])): int(r["count"])
              for _, r in report.iterrows()}
    mismatches = [(r.sample, r.name, r.count, theirs.get((r.sample, _gml_id(r.name))))
                  for r in ours.itertuples() if theirs.get((r.sample, _gml_id(r.name))) != r.count]
    return {"rows": len(ours), "n_mismatches": len(mismatches), "first_mismatches": mismatches[:5]}


OPERATION = f"batch CLI, {N_FILES} files x 1M events, start-up included"
CASES = [
    Case(OPERATION, "cytogate", "cytogate_2_workers", input="size", sizes=SIZES, setup="setup"),
    Case(OPERATION, "cytogate --rehash", "cytogate_2_workers_rehash", input="size", sizes=SIZES, setup="setup"),
    Case(OPERATION, "cytogate +stats", "cytogate_2_workers_stats", input="size", sizes=SIZES, setup="setup"),
    Case(OPERATION, "cytogate 1 worker", "cytogate_1_worker", input="size", sizes=SIZES, setup="setup"),
    Case(OPERATION, "cytogate 1 worker +stats", "cytogate_1_worker_stats", input="size", sizes=SIZES,
         setup="setup"),
    Case(OPERATION, "cytogate LocalCluster", "cytogate_local_cluster", input="size", sizes=SIZES,
         setup="setup_cluster"),
    Case(OPERATION, "cytogate LocalCluster +stats", "cytogate_local_cluster_stats", input="size", sizes=SIZES,
         setup="setup_cluster"),
    Case(OPERATION, "flowkit Session", "flowkit_session", input="size", sizes=SIZES, repeats=1,
         setup="setup_flowkit"),
]
TARGETS = [(OPERATION, "cytogate", "flowkit Session", 30.0)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-flowkit", action="store_true")
    parser.add_argument("--skip-cluster", action="store_true")
    args = parser.parse_args(argv)
    setup(args.events)
    rows: dict[str, float] = {}

    def report(label: str, seconds: float, best: float | None = None) -> None:
        rows[label] = seconds
        print(f"{label}: {seconds:.2f} s" + ("" if best is None else f" median, {best:.2f} s best"), flush=True)

    def time_each(cases: list[tuple[str, Any]]) -> None:
        for label, function in cases:
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                function(args.events)
                times.append(time.perf_counter() - start)
            report(label, statistics.median(times), min(times))

    time_each([("cytogate 2 workers", cytogate_2_workers),
               ("cytogate 2 workers --rehash", cytogate_2_workers_rehash),
               ("cytogate 2 workers +stats", cytogate_2_workers_stats),
               ("cytogate 1 worker", cytogate_1_worker),
               ("cytogate 1 worker +stats", cytogate_1_worker_stats)])
    if not args.skip_cluster:
        setup_cluster(args.events)
        time_each([("cytogate LocalCluster (2 procs)", cytogate_local_cluster),
                   ("cytogate LocalCluster (2 procs) +stats", cytogate_local_cluster_stats)])
        _CLUSTER.close()
    if not args.skip_flowkit:
        setup_flowkit(args.events)
        files, gml = batch_inputs(args.events)
        start = time.perf_counter()
        theirs = _flowkit_report(files, gml)
        report("flowkit Session", time.perf_counter() - start)
        for label in ("cytogate 2 workers", "cytogate 2 workers --rehash"):
            print(f"ratio flowkit / {label}: {rows['flowkit Session'] / rows[label]:.1f}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "cytogate", "-q", "run", str(gml), str(files), "--out", tmp,
                            "--no-stats"], check=True)
            print(json.dumps(compare_counts(Path(tmp) / "counts.csv", theirs), default=str), flush=True)
    print(json.dumps({"files": N_FILES, "events_per_file": args.events, "seconds": rows}, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    sys.exit(main())
