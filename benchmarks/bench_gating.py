"""The 6-gate hierarchy, file -> counts, cytogate against FlowKit's Session, side by side.

Hierarchy (issue 3): Lymphocytes polygon on FSC-A/SSC-A -> Singlets polygon on
FSC-A/FSC-H -> B cells rectangle on logicle CD3/CD19 -> CD268+ range on logicle
CD268; Singlets -> T cells range on logicle CD3 -> CD4+ rectangle on logicle
CD4/CD8.  Fluorescence is compensated with the file's ``$SPILLOVER``.  The
strategy is written once as Gating-ML 2.0 by cytogate's writer and both tools
read that same file.

Cases:

- ``hierarchy``: 1M events x 20 float32 channels (FCS 3.1, written with
  ``cytogate.write_fcs``), page cache warm; cytogate = ``read_fcs`` + ``gate`` +
  ``.counts`` (best of ``repeats`` after a warm-up), FlowKit = ``Session`` with
  the Gating-ML + ``Sample`` + ``analyze_samples`` + report (one run, it is slow).
  The counts of both tools are compared population by population.  Wall and
  CPU time are both reported: on a shared machine the CPU-time ratio is the
  steadier of the two (FlowKit runs once for ~15 s while cytogate's best of
  several sub-second runs can land in a quiet moment).
- ``memory``: peak resident memory of a fresh process that reads and gates a 5M
  event file, against the file size.  Reported twice: the whole process, and
  over the baseline of a ready process (cytogate, numpy, pandas, numba imported
  and every kernel loaded by gating a 2000-event sample first).

Run standalone: ``python benchmarks/bench_gating.py [--events N] [--memory-events N]
[--repeats R] [--skip-flowkit]``; the ``bench_*`` functions return plain dicts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

try:  # run by benchmarks/run.py (benchmarks/ on sys.path) or standalone
    from harness import Case
except ImportError:  # pragma: no cover
    Case = dict  # type: ignore[misc,assignment]

# cytogate and FlowKit are imported inside functions: the harness charges each
# tool's child process only with its own imports.

SCATTER = ["FSC-A", "FSC-H", "FSC-W", "SSC-A", "SSC-H", "SSC-W"]
FLUOR = [f"FL{i}-A" for i in range(1, 14)]
CHANNELS = SCATTER + FLUOR + ["Time"]  # 20 channels
MARKERS = [None] * 6 + ["CD3", "CD19", "CD268", "CD4", "CD8", "CD14", "CD16", "CD56", "HLA-DR", "CD123",
                        "CD25", "CD127", "CD45"] + [None]
CD3, CD19, CD268, CD4, CD8 = "FL1-A", "FL2-A", "FL3-A", "FL4-A", "FL5-A"
LOGICLE = (("t", 262144.0), ("w", 0.5), ("m", 4.5), ("a", 0.0))
DATA_DIR = Path(__file__).resolve().parent / "_data"


def spillover_matrix(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = np.eye(n)
    for i in range(n - 1):  # spill mostly into the neighbouring detectors
        m[i, i + 1] = rng.uniform(0.02, 0.2)
        m[i + 1, i] = rng.uniform(0.0, 0.05)
    m[rng.random((n, n)) < 0.1] += 0.01
    np.fill_diagonal(m, 1.0)
    return m


def make_events(n_events: int, seed: int = 0) -> np.ndarray:
    """(n_events, 20) float32 scale values with a lymphocyte cluster, doublets and marker populations."""
    rng = np.random.default_rng(seed)
    n = n_events
    lymph = rng.random(n) < 0.55
    fsc_a = np.where(lymph, rng.normal(60000, 9000, n), rng.uniform(5000, 250000, n))
    ssc_a = np.where(lymph, rng.normal(25000, 6000, n), rng.uniform(2000, 250000, n))
    doublet = rng.random(n) < 0.1
    fsc_h = fsc_a * np.where(doublet, rng.normal(0.5, 0.05, n), rng.normal(0.85, 0.03, n))
    true = np.empty((n, len(FLUOR)))
    for k in range(len(FLUOR)):
        pos = rng.random(n) < 0.3
        true[:, k] = np.where(pos, rng.lognormal(np.log(8000), 0.6, n), rng.normal(0, 150, n))
    t_cell = lymph & (rng.random(n) < 0.6)
    b_cell = lymph & ~t_cell & (rng.random(n) < 0.4)
    true[:, 0] = np.where(t_cell, rng.lognormal(np.log(20000), 0.4, n), rng.normal(0, 120, n))
    true[:, 1] = np.where(b_cell, rng.lognormal(np.log(15000), 0.4, n), rng.normal(0, 120, n))
    cd4 = t_cell & (rng.random(n) < 0.65)
    true[:, 3] = np.where(cd4, rng.lognormal(np.log(12000), 0.5, n), rng.normal(0, 150, n))
    true[:, 4] = np.where(t_cell & ~cd4, rng.lognormal(np.log(12000), 0.5, n), rng.normal(0, 150, n))
    observed = true @ spillover_matrix(len(FLUOR))
    events = np.column_stack([
        fsc_a, fsc_h, fsc_a / np.maximum(fsc_h, 1) * 1000, ssc_a, ssc_a * 0.9, rng.normal(1000, 50, n),
        observed, np.sort(rng.uniform(0, 3600, n)),
    ])
    return np.clip(events, -1000, 262143).astype(np.float32)


def make_strategy() -> Any:
    """The 6-gate hierarchy as a cytogate Strategy (written to Gating-ML for both tools)."""
    from cytogate.gates import Dimension, PolygonGate, RectangleGate
    from cytogate.strategy import Population, Strategy, TransformSpec

    def fl(channel: str) -> Dimension:
        return Dimension(channel, "FCS", "logicle")

    fsc_a, fsc_h, ssc_a = Dimension("FSC-A"), Dimension("FSC-H"), Dimension("SSC-A")
    pops = (
        Population("Lymphocytes", "/", PolygonGate((fsc_a, ssc_a), (
            (30000, 5000), (95000, 5000), (105000, 40000), (80000, 55000), (35000, 45000)))),
        Population("Singlets", "/Lymphocytes", PolygonGate((fsc_a, fsc_h), (
            (20000, 14000), (120000, 90000), (120000, 115000), (20000, 22000)))),
        Population("B cells", "/Lymphocytes/Singlets", RectangleGate((fl(CD3), fl(CD19)), (None, 0.45),
                                                                      (0.43, None))),
        Population("CD268+", "/Lymphocytes/Singlets/B cells", RectangleGate((fl(CD268),), (0.5,), (None,))),
        Population("T cells", "/Lymphocytes/Singlets", RectangleGate((fl(CD3),), (0.5,), (None,))),
        Population("CD4+", "/Lymphocytes/Singlets/T cells", RectangleGate((fl(CD4), fl(CD8)), (0.5, None),
                                                                          (None, 0.45))),
    )
    return Strategy(pops, {"logicle": TransformSpec("logicle", "logicle", LOGICLE)})


def write_inputs(folder: Path, n_events: int) -> tuple[Path, Path]:
    """Write the FCS file and the Gating-ML strategy (once); returns their paths."""
    from cytogate.fcs import write_fcs
    from cytogate.compensation import Spillover
    from cytogate.strategy.gatingml_write import save_gatingml

    folder.mkdir(parents=True, exist_ok=True)
    fcs = folder / f"gating_{n_events}.fcs"
    if not fcs.exists():
        spill = Spillover(spillover_matrix(len(FLUOR)), tuple(FLUOR), source="bench")
        write_fcs(fcs, make_events(n_events), CHANNELS, markers=MARKERS, spillover=spill)
    gml = folder / "six_gates.xml"
    # Population names with spaces/'+' are fine as Gating-ML ids.
    save_gatingml(make_strategy(), gml)
    return fcs, gml


def _cytogate_counts(gml: Path, fcs: Path) -> dict[str, int]:
    import cytogate

    strategy = cytogate.load_strategy(gml)
    table = cytogate.gate(strategy, cytogate.read_fcs(fcs)).counts
    return dict(zip(table["name"], table["count"].astype(int)))


def _gml_id(name: str) -> str:
    """The Gating-ML id the writer gives a population name (FlowKit reports ids)."""
    from cytogate.strategy import Population, Strategy
    from cytogate.strategy.gatingml_write import _ids

    return _ids(Strategy((Population(name, "/", make_strategy().populations[0].gate),)))[f"/{name}"]


def _flowkit_counts(gml: Path, fcs: Path) -> dict[str, int]:
    import flowkit as fk

    session = fk.Session(gating_strategy=str(gml))
    session.add_samples(fk.Sample(str(fcs)))
    session.analyze_samples(use_mp=False)
    report = session.get_analysis_report()
    return {str(r["gate_name"]): int(r["count"]) for _, r in report.iterrows()}


def bench_hierarchy(n_events: int = 1_000_000, repeats: int = 3, *, flowkit: bool = True,
                    folder: Path | None = None) -> dict[str, Any]:
    """File -> counts for the 6-gate hierarchy; cytogate vs FlowKit Session on the same Gating-ML."""
    with tempfile.TemporaryDirectory() as tmp:
        fcs, gml = write_inputs(folder or Path(tmp), n_events)
        ours = _cytogate_counts(gml, fcs)  # warm-up: numba caches, page cache
        best = best_cpu = float("inf")
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            ours = _cytogate_counts(gml, fcs)
            best = min(best, time.perf_counter() - start)
            best_cpu = min(best_cpu, time.process_time() - start_cpu)
        out: dict[str, Any] = {
            "case": f"6-gate hierarchy, {n_events} events x {len(CHANNELS)} channels, file -> counts",
            "file_mb": fcs.stat().st_size / 1e6,
            "cytogate_s": best,
            "cytogate_mev_per_s": n_events / best / 1e6,
            "cytogate_cpu_s": best_cpu,
            "counts": ours,
        }
        if flowkit:
            start, start_cpu = time.perf_counter(), time.process_time()
            theirs = _flowkit_counts(gml, fcs)
            t_fk, cpu_fk = time.perf_counter() - start, time.process_time() - start_cpu
            out.update(flowkit_s=t_fk, flowkit_cpu_s=cpu_fk, flowkit_mev_per_s=n_events / t_fk / 1e6,
                       ratio_vs_flowkit=t_fk / best, cpu_ratio_vs_flowkit=cpu_fk / best_cpu,
                       counts_equal_flowkit=all(theirs.get(_gml_id(k)) == v for k, v in ours.items()),
                       flowkit_counts=theirs)
        return out


_MEMORY_CHILD = """
import json, sys, psutil
import numpy as np
import cytogate
from cytogate.engine.stream import gate
sys.path.insert(0, sys.argv[3])
from bench_gating import CHANNELS, MARKERS, make_events
strategy = cytogate.load_strategy(sys.argv[1])
# warm: load every compiled kernel on a tiny sample, so the baseline is a ready process
tiny = cytogate.Sample.from_arrays(make_events(2000), CHANNELS, markers=MARKERS,
                                   spillover=cytogate.read_fcs(sys.argv[2]).spillover)
gate(strategy, tiny).counts
baseline = psutil.Process().memory_info().rss
table = gate(strategy, cytogate.read_fcs(sys.argv[2])).counts
# VmHWM, not ru_maxrss: the latter survives exec and would report the parent's peak
peak = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"baseline": baseline, "peak": peak, "total": int(table["count"].sum())}))
"""


def bench_memory(n_events: int = 5_000_000, *, folder: Path | None = None) -> dict[str, Any]:
    """Peak RSS of a fresh process reading + gating an ``n_events`` file, against the file size."""
    with tempfile.TemporaryDirectory() as tmp:
        fcs, gml = write_inputs(folder or Path(tmp), n_events)
        size = fcs.stat().st_size
        here = str(Path(__file__).resolve().parent)
        subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(gml), str(fcs), here], check=True,
                       capture_output=True)  # warm numba cache and page cache
        done = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(gml), str(fcs), here], check=True,
                              capture_output=True, text=True)
        info = json.loads(done.stdout)
        return {
            "case": f"peak memory, {n_events} events x {len(CHANNELS)} channels",
            "file_mb": size / 1e6,
            "peak_rss_mb": info["peak"] / 1e6,
            "ready_process_baseline_mb": info["baseline"] / 1e6,
            "peak_over_file": info["peak"] / size,
            "peak_minus_baseline_over_file": (info["peak"] - info["baseline"]) / size,
        }


# -- harness cases (benchmarks/run.py): input="size", the files are built in setup --------------
OPERATION = "6-gate hierarchy, file -> counts"


def setup_cytogate(n_events: int) -> None:
    """Write the inputs once, import cytogate and load every kernel (not timed)."""
    import cytogate
    from cytogate.fcs import Sample

    fcs, gml = write_inputs(DATA_DIR, n_events)
    tiny = Sample.from_arrays(make_events(2000), CHANNELS, markers=MARKERS,
                              spillover=cytogate.read_fcs(fcs).spillover)
    _ = cytogate.gate(cytogate.load_strategy(gml), tiny).counts  # warm the counts path too


def hierarchy_cytogate(n_events: int) -> None:
    fcs, gml = DATA_DIR / f"gating_{n_events}.fcs", DATA_DIR / "six_gates.xml"
    counts = _cytogate_counts(gml, fcs)
    assert counts["Lymphocytes"] > 0


def setup_flowkit(n_events: int) -> None:
    if not ((DATA_DIR / f"gating_{n_events}.fcs").exists() and (DATA_DIR / "six_gates.xml").exists()):
        write_inputs(DATA_DIR, n_events)
    import flowkit  # noqa: F401


def hierarchy_flowkit(n_events: int) -> None:
    fcs, gml = DATA_DIR / f"gating_{n_events}.fcs", DATA_DIR / "six_gates.xml"
    counts = _flowkit_counts(gml, fcs)
    assert counts["Lymphocytes"] > 0


CASES = [
    Case(operation=OPERATION, tool="cytogate", function="hierarchy_cytogate", input="size",
         setup="setup_cytogate"),
    # FlowKit needs ~3.7 GB and minutes at 5M events; 100k and 1M suffice for the ratio.
    Case(operation=OPERATION, tool="flowkit Session", function="hierarchy_flowkit", input="size",
         setup="setup_flowkit", sizes=(100_000, 1_000_000), repeats=2),
]
TARGETS = [(OPERATION, "cytogate", "flowkit Session", 30.0)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--memory-events", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-flowkit", action="store_true")
    parser.add_argument("--keep", metavar="DIR", help="write (and reuse) the input files in DIR")
    args = parser.parse_args(argv)
    folder = Path(args.keep) if args.keep else None
    if folder:
        folder.mkdir(parents=True, exist_ok=True)
    results = [bench_hierarchy(args.events, args.repeats, flowkit=not args.skip_flowkit, folder=folder)]
    if args.memory_events:
        results.append(bench_memory(args.memory_events, folder=folder))
    for r in results:
        print(json.dumps(r, indent=1, default=str))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    sys.exit(main())
