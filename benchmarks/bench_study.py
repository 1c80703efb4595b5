"""A whole study through one command: ``cytogate run study.yaml`` on 3 panels' synthetic trial files.

The inputs are ``cytogate synth trial --panel t_cell b_cell dc`` files of 20k
events (every subject x visit stained in three tubes), with the ready-made
strategies ``t_cells.yaml``, ``b_cells.yaml`` and ``dendritic_cells.yaml`` as
the panels of one study file.  Generated once per size into
``benchmarks/_data/study_<files>/`` and reused.

Each measured run is ``python -m cytogate -q run study.yaml --out NEW
--no-progress`` from a cold interpreter (start-up, every input's SHA-256,
per-sample commits, the assembled tables), with intensity statistics, on
every core.  Reported: wall time, events/s, the peak resident memory
(``VmHWM``) of the largest process of the run (driver or pool worker; the
process tree is sampled every 50 ms, and ``VmHWM`` only grows, so the last
sample of each process is its peak), and the sizes of the outputs.

``make bench`` runs the 144-file case; standalone,
``python benchmarks/bench_study.py --files 144 1440`` measures both sizes and
prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import DATA_DIR, Case  # noqa: E402

PANELS = {"t_cell": "t_cells.yaml", "b_cell": "b_cells.yaml", "dc": "dendritic_cells.yaml"}
VISITS = 4
EVENTS = 20_000


def study_inputs(n_files: int, data_dir: Path = DATA_DIR) -> Path:
    """``study.yaml`` over ``n_files`` files (3 panels x subjects x 4 visits), generated once."""
    from cytogate.synth.trial import synthesize_trial

    subjects = n_files // (len(PANELS) * VISITS)
    if subjects < 2 or subjects * len(PANELS) * VISITS != n_files:
        raise SystemExit(f"--files must be 3 panels x 4 visits x an even number of subjects, not {n_files}")
    folder = data_dir / f"study_{n_files}"
    study = folder / "study.yaml"
    if not study.exists():
        synthesize_trial(folder / "fcs", arms={"Placebo": subjects // 2, "0.45 mg": subjects - subjects // 2},
                         n_events=EVENTS, seed=19, panel=list(PANELS))
        ready = Path(__import__("cytogate").__file__).parent / "gating_strategies"
        panels = "".join(f"  {p}: {ready / f}\n" for p, f in PANELS.items())
        study.write_text(f"cytogate_study: 1\nname: bench, {n_files} files\nsamples: fcs/samples.csv\n"
                         f"panel_column: panel\npanels:\n{panels}")
    return study


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as handle:
                todo.extend(int(c) for c in handle.read().split())
        except OSError:
            pass
    return found


def _hwm_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def run_study(study: Path, *extra: str) -> dict[str, Any]:
    """One cold ``cytogate run`` of ``study``: seconds, events/s, largest peak RSS, output sizes."""
    out = Path(tempfile.mkdtemp(prefix="cytogate-bench-study-")) / "run"
    log = tempfile.TemporaryFile(mode="w+")  # not a pipe: nobody reads it while the run writes
    try:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "cytogate", "-q", "run", str(study), "--out", str(out),
                                 "--no-progress", *extra], stdout=subprocess.DEVNULL, stderr=log, text=True)
        peaks: dict[int, float] = {}
        while proc.poll() is None:
            for pid in _tree(proc.pid):
                mb = _hwm_mb(pid)
                if mb is not None:
                    peaks[pid] = max(peaks.get(pid, 0.0), mb)
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        log.seek(0)
        err = log.read()
        if proc.returncode not in (0, 3):
            raise RuntimeError(f"cytogate run exited {proc.returncode}: {err.strip()[-500:]}")
        manifest = json.loads((out / "manifest.json").read_text())
        totals = manifest["totals"]
        driver = peaks.get(proc.pid, 0.0)
        sizes = {name: (out / name).stat().st_size for name in
                 ("counts.csv", "counts.parquet", "stats.parquet", "fits.parquet", "failures.csv", "manifest.json")}
        sizes["per-sample results (.cytogate/samples)"] = sum(p.stat().st_size for p in
                                                              (out / ".cytogate" / "samples").glob("*.json"))
        return {"files": totals["files"], "ok": totals["ok"], "failed": totals["failed"],
                "events": totals["events"], "seconds": round(seconds, 2),
                "events_per_second": round(totals["events"] / seconds),
                "peak_rss_mb_largest_process": round(max(peaks.values(), default=0.0), 1),
                "peak_rss_mb_driver": round(driver, 1),
                "peak_rss_mb_largest_worker": round(max((v for k, v in peaks.items() if k != proc.pid),
                                                        default=0.0), 1),
                "processes": len(peaks), "runner": manifest["runner"], "output_bytes": sizes}
    finally:
        log.close()
        shutil.rmtree(out.parent, ignore_errors=True)


def setup(n_files: int) -> None:
    run_study(study_inputs(n_files), "--workers", "1")  # inputs written, numba cache and hash index warm


def cytogate_study(n_files: int) -> None:
    result = run_study(study_inputs(n_files))
    assert result["ok"] == n_files, result


OPERATION = "study CLI, 3 panels x 20k-event files, start-up included (size = files)"
CASES = [Case(OPERATION, "cytogate run study.yaml", "cytogate_study", input="size", sizes=(144,), repeats=1,
              setup="setup")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, nargs="+", default=[144, 1440])
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    extra = () if args.workers is None else ("--workers", str(args.workers))
    results = {}
    for n_files in args.files:
        started = time.perf_counter()
        study = study_inputs(n_files)
        generated = time.perf_counter() - started
        setup_run = run_study(study, *extra)  # first run: numba cache, page cache, hash index
        results[n_files] = {"generate_seconds": round(generated, 1), "first_run": setup_run,
                            "warm_run": run_study(study, *extra), "cpus": os.cpu_count()}
        print(json.dumps({n_files: results[n_files]}, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
