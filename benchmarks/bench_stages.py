"""Where the time of one sample goes, stage by stage, in-process and single-threaded (as a batch worker runs).

Stages of ``cytogate.batch.worker.process_sample`` with the default statistics,
timed one by one on the same file, median of ``--repeats`` after a warm-up:

- ``page cache read``: the file's bytes read into memory (``np.fromfile``), the physical limit;
- ``decode``: ``read_fcs`` and the whole event matrix decoded;
- ``gate``: ``cytogate.gate`` of the strategy (counts and masks);
- ``classes``: the events cut into membership classes (``stats._classes``);
- ``values``: each channel compensated as the gates see it, streamed into class order;
- ``statistics kernel``: every population x channel in one pass per channel;
- ``table``: the JSON table a worker returns;
- ``process_sample``: the whole worker job (read, gate, statistics, hashing excluded
  because the file's hash is given, as in a repeated run).

Run: ``python benchmarks/bench_stages.py [--events 1000000] [--strategy FILE] [--repeats 5]``
(files are written once into ``benchmarks/_data/``).  No ``CASES``: run.py lists it and skips it.
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


def _file(n_events: int) -> tuple[Path, Path]:
    from bench_batch import batch_inputs

    if n_events == 1_000_000:
        files, gml = batch_inputs(n_events, n_files=1)
        return files / "sample_000.fcs", gml
    import numpy as np

    from bench_gating import CHANNELS, FLUOR, MARKERS, make_events, make_strategy, spillover_matrix
    from cytogate.compensation import Spillover
    from cytogate.fcs import write_fcs
    from cytogate.strategy.gatingml_write import save_gatingml

    folder = HERE / "_data" / f"stages_{n_events}"
    folder.mkdir(parents=True, exist_ok=True)
    path, gml = folder / "sample.fcs", folder / "six_gates.xml"
    if not path.exists():
        spill = Spillover(spillover_matrix(len(FLUOR)), tuple(FLUOR), source="bench")
        write_fcs(path, make_events(n_events, seed=0).astype(np.float32), CHANNELS, markers=MARKERS, spillover=spill)
    if not gml.exists():
        save_gatingml(make_strategy(), gml)
    return path, gml


def _median(function: Any, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def stages(path: Path, strategy_path: Path, repeats: int) -> dict[str, float]:
    import numpy as np

    import cytogate
    from cytogate.batch import stats
    from cytogate.batch.file_identity import FileHash, file_signature
    from cytogate.batch.resume import table_document
    from cytogate.batch.worker import RunConfig, SampleTask, process_sample
    from cytogate.threads import set_threads

    set_threads(False)  # a batch worker runs single-threaded
    strategy = cytogate.load_strategy(strategy_path)
    sample = cytogate.read_fcs(path)
    masks = dict(cytogate.gate(strategy, sample).masks)
    channels = [str(c) for c in sample.channels]
    populations = [k for k in masks if k != "/"]
    offsets, positions, members = stats._classes([masks[k] for k in populations], sample.n_events)
    ordered, _ = stats._fill(strategy, sample, "compensated", channels, positions)
    columns = stats.sample_stats_columns(strategy, sample, "compensated", masks, name="s")
    config = RunConfig(strategy=strategy)
    known = FileHash("0" * 64, file_signature(str(path)), time.time_ns())
    task = SampleTask(0, "s", str(path), known=known)
    return {
        "page cache read": _median(lambda: np.fromfile(path, dtype=np.uint8).sum(dtype=np.uint64), repeats),
        "decode": _median(lambda: np.asarray(cytogate.read_fcs(path).events).shape, repeats),
        "gate": _median(lambda: dict(cytogate.gate(strategy, cytogate.read_fcs(path)).masks), repeats),
        "classes": _median(lambda: stats._classes([masks[k] for k in populations], sample.n_events), repeats),
        "values": _median(lambda: stats._fill(strategy, sample, "compensated", channels, positions), repeats),
        "statistics kernel": _median(lambda: stats._class_results(ordered, offsets, members), repeats),
        "table": _median(lambda: table_document(stats.STATS_COLUMNS, stats.STATS_DTYPES, columns), repeats),
        "process_sample": _median(lambda: process_sample(task, config), repeats),
        "process_sample --no-stats": _median(
            lambda: process_sample(task, RunConfig(strategy=strategy, stats=False)), repeats),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--strategy", type=Path, help="strategy file (default: the 6-gate benchmark hierarchy)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    path, gml = _file(args.events)
    for stage, seconds in stages(path, args.strategy or gml, args.repeats).items():
        print(f"{stage:28s} {seconds * 1000:9.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
