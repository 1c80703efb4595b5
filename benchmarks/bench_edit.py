"""How fast the gate editor answers an edit at a million events.

The ready-made T-cell strategy (17 populations, data-driven and static gates,
compensation, logicle) over a 1M-event file: the sample file S001_BL tiled
67 times with a little noise (so the density valleys stay where they are) and
written with ``cytogate.write_fcs``.  For each edit: the time of
``EditorSession.set_gate`` (the YAML edit, the strategy loaded and validated,
the changed populations gated again from their parent's kept events, the
counts listed) and of ``EditorSession.plot`` (the edited gate's parent
events binned on its axes) — what the page waits for after a drag.  Median
of ``repeats`` edits, each moving the gate back and forth.  Last, the top gate
corrected as a per-sample override (``EditorSession.set_override``).

Run standalone: ``python benchmarks/bench_edit.py [--events N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

EDITS = {  # population -> two gates the edit alternates between
    # the top gate made static and moved: every population below it is gated again (the worst case)
    "/Cells": ({"range": {"FSC-A": {"min": 30000}}}, {"range": {"FSC-A": {"min": 32000}}}),
    "/Cells/Singlets/Live/Leukocytes": ({"range": {"CD45": {"min": 0.42}}}, {"range": {"CD45": {"min": 0.4}}}),
    "/Cells/Singlets/Live/Lymphocytes/T cells/CD4 T": tuple(
        {"quadrant": {"dividers": {"CD4": cut, "CD8": 0.45},
                      "populations": {"CD4+CD8-": "CD4 T", "CD4-CD8+": "CD8 T"}}} for cut in (0.47, 0.45)),
    "/Cells/Singlets/Live/Lymphocytes/T cells/CD4 T/Tregs": tuple(
        {"rectangle": {"CD25": {"min": {"density_valley": {"bounds": [lo, 0.56], "fallback": 0.53}}},
                       "CD127": {"max": {"density_valley": {"bounds": [0.44, 0.52], "fallback": 0.47}}}}}
        for lo in (0.46, 0.45)),
}


def make_sample(path: Path, n_events: int) -> Path:
    from cytogate import read_fcs, write_fcs

    base = read_fcs(ROOT / "sample_fcs" / "S001_BL.fcs")
    events = np.asarray(base.events)
    reps = -(-n_events // events.shape[0])
    rng = np.random.default_rng(1)
    tiled = np.tile(events, (reps, 1))[:n_events]
    tiled = tiled * rng.normal(1.0, 0.002, size=tiled.shape).astype(np.float32)
    return write_fcs(path, tiled.astype(np.float32), list(base.channels), markers=list(base.markers),
                     spillover=base.spillover)


def bench_edit(n_events: int = 1_000_000, repeats: int = 7) -> dict[str, Any]:
    from cytogate.edit.session import EditorSession

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in ("t_cells.yaml", "markers.yaml"):
            shutil.copy(ROOT / "gating_strategies" / name, folder / name)
        sample = make_sample(folder / "big.fcs", n_events)
        clock = time.perf_counter()
        session = EditorSession(folder / "t_cells.yaml", [sample], overrides_path=folder / "review.yaml")
        opened = time.perf_counter() - clock
        out: dict[str, Any] = {"events": n_events, "open_s": round(opened, 3), "edits": {}}
        for path, gates in EDITS.items():
            session.plot(path)  # axes computed once per sample and dimension
            edit_ms, plot_ms = [], []
            for k in range(repeats):
                clock = time.perf_counter()
                session.set_gate(path, gates[k % 2])
                edit_ms.append(1e3 * (time.perf_counter() - clock))
                clock = time.perf_counter()
                session.plot(path)
                plot_ms.append(1e3 * (time.perf_counter() - clock))
            out["edits"][path] = {"edit_ms": round(statistics.median(edit_ms), 1),
                                  "plot_ms": round(statistics.median(plot_ms), 1),
                                  "total_ms": round(statistics.median(e + p for e, p in zip(edit_ms, plot_ms)), 1)}
        # the top gate corrected for this sample only (an override): the same re-gating, plus the overrides file
        path, gates = "/Cells", EDITS["/Cells"]
        edit_ms, plot_ms = [], []
        for k in range(repeats):
            clock = time.perf_counter()
            session.set_override(path, gates[(k + 1) % 2], reason="benchmark", author="bench")
            edit_ms.append(1e3 * (time.perf_counter() - clock))
            clock = time.perf_counter()
            session.plot(path)
            plot_ms.append(1e3 * (time.perf_counter() - clock))
        out["edits"]["override of /Cells"] = {
            "edit_ms": round(statistics.median(edit_ms), 1), "plot_ms": round(statistics.median(plot_ms), 1),
            "total_ms": round(statistics.median(e + p for e, p in zip(edit_ms, plot_ms)), 1)}
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(json.dumps(bench_edit(args.events, args.repeats), indent=2))


if __name__ == "__main__":
    main()
