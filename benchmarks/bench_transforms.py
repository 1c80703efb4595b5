"""Transforms and compensation, cytogate against flowutils / FlowKit, measured side by side.

Cases:

- ``logicle``: logicle (T=262144, W=0.5, M=4.5, A=0) of 16 channels x 1M events
  (float64, a realistic mix of a negative-ish population near zero and
  log-normal positives), cytogate vs ``flowutils.transforms.logicle`` and
  FlowKit's ``LogicleTransform`` (which calls flowutils); the max absolute
  difference to flowutils is reported next to the speed ratio.
- ``compensation``: 16 detectors x 1M events, ``np.linalg.solve`` on the
  row-major event matrix as FlowKit / flowutils do, vs cytogate's
  :class:`Compensator` (inverse computed once, one matrix product) fed
  contiguous columns (as cytogate's reader provides them) or the same
  row-major matrix; plus the usual case of a strategy reading 3 of 16 columns.

Under ``benchmarks/run.py`` (``CASES`` below, ``input="size"``) every tool
gets the same matrix, built in the untimed setup of a fresh process together
with the tool's imports and a warm-up on a few events (numba kernels loaded);
one call is timed.  Standalone, each timing is the best of ``repeats`` runs
after one warm-up (numba compiled, pages touched): ``python
benchmarks/bench_transforms.py [--events N] [--repeats R]``; the ``bench_*``
functions return plain dicts.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

try:  # run by benchmarks/run.py (benchmarks/ on sys.path) or standalone
    from harness import Case
except ImportError:  # pragma: no cover
    Case = dict  # type: ignore[misc,assignment]

from cytogate.compensation import Compensator, spillover_from_array
from cytogate.transforms import LogicleTransform

LOGICLE = {"t": 262144.0, "w": 0.5, "m": 4.5, "a": 0.0}


def _best_time(fn: Callable[[], Any], repeats: int, *, warm_up: bool = True) -> tuple[float, Any]:
    result = fn() if warm_up else None  # warm-up: numba compilation, page faults
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def make_events(n_events: int, n_channels: int, seed: int = 0) -> np.ndarray:
    """(n_events, n_channels) float64: 30% near zero (with negatives), 70% log-normal up to ~2^18."""
    rng = np.random.default_rng(seed)
    events = rng.lognormal(mean=7.0, sigma=2.0, size=(n_events, n_channels))
    dim = rng.random((n_events, n_channels)) < 0.3
    events[dim] = rng.normal(0.0, 80.0, int(dim.sum()))
    return np.minimum(events, 262143.0)


def bench_logicle(n_events: int = 1_000_000, n_channels: int = 16, repeats: int = 3) -> dict[str, Any]:
    """Logicle of the whole (n_events, n_channels) matrix; returns timings, rates and ratios."""
    import flowutils.transforms as fu

    events = make_events(n_events, n_channels)
    channels = list(range(n_channels))
    transform = LogicleTransform(**LOGICLE)
    t_cyto, ours = _best_time(lambda: transform.apply(events), repeats)
    import numba

    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # the per-core figure, robust to a busy machine
    try:
        t_one, _ = _best_time(lambda: transform.apply(events), repeats)
    finally:
        numba.set_num_threads(threads)
    t_fu, ref = _best_time(
        lambda: fu.logicle(events, channels, t=LOGICLE["t"], m=LOGICLE["m"], w=LOGICLE["w"], a=LOGICLE["a"]),
        1,
        warm_up=False,  # compiled C: nothing to warm up, and each run takes seconds
    )
    result: dict[str, Any] = {
        "case": f"logicle {n_channels} ch x {n_events} events",
        "values": events.size,
        "cytogate_s": t_cyto,
        "flowutils_s": t_fu,
        "cytogate_Mvalues_per_s": events.size / t_cyto / 1e6,
        "flowutils_Mvalues_per_s": events.size / t_fu / 1e6,
        "ratio_vs_flowutils": t_fu / t_cyto,
        "threads": threads,
        "cytogate_1_thread_s": t_one,
        "ratio_1_thread_vs_flowutils": t_fu / t_one,
        "max_abs_diff_vs_flowutils": float(np.max(np.abs(ours - ref))),
    }
    try:
        from flowkit import transforms as fk_transforms

        fk = fk_transforms.LogicleTransform(
            param_t=LOGICLE["t"], param_w=LOGICLE["w"], param_m=LOGICLE["m"], param_a=LOGICLE["a"]
        )
        t_fk, _ = _best_time(lambda: fk.apply(events), 1, warm_up=False)
        result["flowkit_s"] = t_fk
        result["ratio_vs_flowkit"] = t_fk / t_cyto
    except ImportError:  # FlowKit is an optional oracle
        pass
    return result


def bench_compensation(n_events: int = 1_000_000, n_detectors: int = 16, repeats: int = 3) -> dict[str, Any]:
    """Compensate all detectors: Compensator vs np.linalg.solve per call (FlowKit/flowutils)."""
    rng = np.random.default_rng(1)
    names = [f"FL{i + 1}-A" for i in range(n_detectors)]
    matrix = np.eye(n_detectors) + np.triu(rng.uniform(0, 0.2, (n_detectors, n_detectors)), 1) * (
        rng.random((n_detectors, n_detectors)) < 0.4
    )
    spill = spillover_from_array(matrix, names)
    events = make_events(n_events, n_detectors, seed=2)

    columns = np.asfortranarray(events)  # what cytogate's reader hands out: contiguous columns

    def flowkit_way() -> np.ndarray:
        return np.linalg.solve(matrix.T, events.T).T

    def cytogate_columns() -> dict[str | int, np.ndarray]:
        return Compensator(spill, names).columns(lambda i: columns[:, i], names)

    def cytogate_matrix() -> dict[str | int, np.ndarray]:
        return Compensator(spill, names).columns_from_events(events, names)

    t_solve, ref = _best_time(flowkit_way, repeats)
    t_cols, ours = _best_time(cytogate_columns, repeats)
    t_mat, ours_mat = _best_time(cytogate_matrix, repeats)
    max_rel = max(
        float(np.max(np.abs(got[n] - ref[:, k]) / (np.abs(ref[:, k]) + 1.0)))
        for got in (ours, ours_mat)
        for k, n in enumerate(names)
    )
    few = names[:3]  # what a strategy typically reads: a few compensated columns
    t_few, _ = _best_time(lambda: Compensator(spill, names).columns(lambda i: columns[:, i], few), repeats)
    return {
        "case": f"compensation {n_detectors} detectors x {n_events} events",
        "linalg_solve_s": t_solve,
        "cytogate_columns_s": t_cols,
        "ratio_columns_vs_solve": t_solve / t_cols,
        "cytogate_row_major_s": t_mat,
        "ratio_row_major_vs_solve": t_solve / t_mat,
        "cytogate_3_of_16_columns_s": t_few,
        "ratio_3_columns_vs_solve_all": t_solve / t_few,
        "max_rel_diff": max_rel,
    }


# -- harness cases (benchmarks/run.py): input="size", data built in the untimed setup ----------
N_CHANNELS = 16
_STATE: dict[str, Any] = {}


def _touch(result: Any) -> None:
    """Materialise a result (sum it) so that no tool is credited for work it deferred."""
    arrays = list(result.values()) if isinstance(result, dict) else [result]
    _STATE["checksum"] = float(sum(np.nansum(a) for a in arrays))


def setup_logicle(n_events: int) -> None:
    _STATE["events"] = make_events(n_events, N_CHANNELS)
    _STATE["logicle"] = LogicleTransform(**LOGICLE)
    _STATE["logicle"].apply(_STATE["events"][:1000])  # load the kernels (serial and threaded)
    _STATE["logicle"].apply(_STATE["events"][:100_000])


def setup_logicle_flowutils(n_events: int) -> None:
    import flowutils.transforms

    _STATE["events"] = make_events(n_events, N_CHANNELS)
    _STATE["flowutils"] = flowutils.transforms


def setup_logicle_flowkit(n_events: int) -> None:
    from flowkit import transforms

    _STATE["events"] = make_events(n_events, N_CHANNELS)
    _STATE["flowkit"] = transforms.LogicleTransform(param_t=LOGICLE["t"], param_w=LOGICLE["w"],
                                                    param_m=LOGICLE["m"], param_a=LOGICLE["a"])


def logicle_cytogate(n_events: int) -> None:
    _touch(_STATE["logicle"].apply(_STATE["events"]))


def logicle_flowutils(n_events: int) -> None:
    events = _STATE["events"]
    _touch(_STATE["flowutils"].logicle(events, list(range(events.shape[1])), t=LOGICLE["t"], m=LOGICLE["m"],
                                       w=LOGICLE["w"], a=LOGICLE["a"]))


def logicle_flowkit(n_events: int) -> None:
    _touch(_STATE["flowkit"].apply(_STATE["events"]))


def _spill(n_detectors: int) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(1)
    matrix = np.eye(n_detectors) + np.triu(rng.uniform(0, 0.2, (n_detectors, n_detectors)), 1) * (
        rng.random((n_detectors, n_detectors)) < 0.4)
    return matrix, [f"FL{i + 1}-A" for i in range(n_detectors)]


def setup_compensation(n_events: int) -> None:
    matrix, names = _spill(N_CHANNELS)
    _STATE.update(matrix=matrix, names=names, spill=spillover_from_array(matrix, names),
                  events=make_events(n_events, N_CHANNELS, seed=2))
    for n in (1000, 100_000):  # load the serial and the threaded kernels
        Compensator(_STATE["spill"], names).columns_from_events(_STATE["events"][:n], names)


def compensation_cytogate(n_events: int) -> None:
    names = _STATE["names"]
    _touch(Compensator(_STATE["spill"], names).columns_from_events(_STATE["events"], names))


def compensation_solve(n_events: int) -> None:
    _touch(np.linalg.solve(_STATE["matrix"].T, _STATE["events"].T).T)


LOGICLE_OP = f"logicle, {N_CHANNELS} channels"
COMP_OP = f"compensation, {N_CHANNELS} detectors"
_ORACLE_SIZES = (100_000, 1_000_000)  # the oracles take many seconds at 5M events
CASES = [
    Case(operation=LOGICLE_OP, tool="cytogate", function="logicle_cytogate", input="size", setup="setup_logicle"),
    Case(operation=LOGICLE_OP, tool="flowutils", function="logicle_flowutils", input="size",
         setup="setup_logicle_flowutils", sizes=_ORACLE_SIZES, repeats=2),
    Case(operation=LOGICLE_OP, tool="FlowKit", function="logicle_flowkit", input="size",
         setup="setup_logicle_flowkit", sizes=_ORACLE_SIZES, repeats=2),
    Case(operation=COMP_OP, tool="cytogate", function="compensation_cytogate", input="size",
         setup="setup_compensation"),
    Case(operation=COMP_OP, tool="np.linalg.solve (FlowKit)", function="compensation_solve", input="size",
         setup="setup_compensation"),
]
TARGETS = [(LOGICLE_OP, "cytogate", "flowutils", 20.0)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    for result in (bench_logicle(args.events, 16, args.repeats), bench_compensation(args.events, 16, args.repeats)):
        print(result["case"])
        for key, value in result.items():
            if key != "case":
                print(f"  {key:32s} {value:.6g}" if isinstance(value, float) else f"  {key:32s} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
