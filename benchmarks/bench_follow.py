"""Template following against static gating: the 12-gate template on a drifted 1M-event file.

The template is ``tests/follow/template.yaml`` (12 static gates: polygons,
rectangles, ranges, an ellipse, a quadrant) drawn on the synthetic
``lupus_pd`` sample of seed 1; the target is a seed-31 sample with scatter
gain 0.85/1.2 and CD3, CD19 staining moved (``--shift fsc=0.85,ssc=1.2,
CD3=0.3,CD19=4``).  Both files are written once into ``benchmarks/_data``.

Cases (issue 14: following must cost at most 3x the static gating):

- ``static``: ``read_fcs`` + ``gate`` + ``.counts`` of the target.
- ``followed``: the same with ``follow=`` a reference prepared in setup (a
  batch run prepares it once for all files; its cost is reported by
  ``--prepare`` in the standalone run).

Each fresh process gates the file once in setup (numba kernels and the
registration libraries loaded, not timed), then times one call.

Run standalone: ``python benchmarks/bench_follow.py [--events N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

try:  # run by benchmarks/run.py (benchmarks/ on sys.path) or standalone
    from harness import DATA_DIR, Case
except ImportError:  # pragma: no cover
    Case = dict  # type: ignore[misc,assignment]
    DATA_DIR = Path(__file__).resolve().parent / "_data"

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "tests" / "follow" / "template.yaml"
DRIFT = "fsc=0.85,ssc=1.2,CD3=0.3,CD19=4"
_STATE: dict[str, Any] = {}


def files(n_events: int) -> tuple[Path, Path]:
    """The reference and the drifted target with ``n_events`` events (written once)."""
    from cytogate.synth import synthesize_sample

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    reference = DATA_DIR / f"follow_reference_{n_events}.fcs"
    target = DATA_DIR / f"follow_target_{n_events}.fcs"
    if not reference.exists():
        synthesize_sample("lupus_pd", n_events, seed=1).write(reference)
    if not target.exists():
        synthesize_sample("lupus_pd", n_events, seed=31, shift=DRIFT).write(target)
    return reference, target


def _prepare(n_events: int) -> None:
    import cytogate
    from cytogate.follow import Reference

    reference, target = files(n_events)
    strategy = cytogate.load_strategy(TEMPLATE)
    _STATE.update(strategy=strategy, target=str(target),
                  reference=Reference(strategy, cytogate.read_fcs(reference)))


def static_gating(n_events: int) -> None:
    import cytogate

    counts = cytogate.gate(_STATE["strategy"], cytogate.read_fcs(_STATE["target"])).counts
    assert int(counts["count"].sum()) > 0


def followed_gating(n_events: int) -> None:
    import cytogate

    result = cytogate.gate(_STATE["strategy"], cytogate.read_fcs(_STATE["target"]), follow=_STATE["reference"])
    assert int(result.counts["count"].sum()) > 0 and result.follow


def setup_static(n_events: int) -> None:
    _prepare(n_events)
    static_gating(n_events)  # numba kernels loaded


def setup_followed(n_events: int) -> None:
    _prepare(n_events)
    followed_gating(n_events)  # numba kernels, SimpleITK and scikit-image loaded


SIZES = (100_000, 1_000_000)
CASES = [
    Case(operation="follow 12 gates", tool="cytogate", function="static_gating", input="size", sizes=SIZES,
         setup="setup_static"),
    Case(operation="follow 12 gates", tool="cytogate --follow", function="followed_gating", input="size",
         sizes=SIZES, setup="setup_followed"),
]
# following may cost at most 3x the static gating: speed ratio >= 1/3
TARGETS = [("follow 12 gates", "cytogate --follow", "cytogate", 1.0 / 3.0)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    import cytogate
    from cytogate.follow import Reference

    reference, _ = files(args.events)
    started = time.perf_counter()
    setup_followed(args.events)
    strategy = _STATE["strategy"]
    clock = time.perf_counter()
    Reference(strategy, cytogate.read_fcs(reference))
    prepare = time.perf_counter() - clock
    static_gating(args.events)
    times: dict[str, list[float]] = {"static": [], "followed": []}
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        for name, fn in (("static", static_gating), ("followed", followed_gating)):
            clock = time.perf_counter()
            fn(args.events)
            times[name].append(time.perf_counter() - clock)
    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    print(f"{args.events:,} events, 12 gates ({time.perf_counter() - started:.0f} s in all)")
    print(f"  prepare the reference (once per run): {prepare:.3f} s")
    for name in times:
        print(f"  {name:9s} median {med[name]:.3f} s, best {best[name]:.3f} s")
    print(f"  followed / static: median {med['followed'] / med['static']:.2f}x, best {best['followed'] / best['static']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
