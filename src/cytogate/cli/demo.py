"""``cytogate demo [--out DIR]``: the whole pipeline on a synthetic trial, in under a minute."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction, formatter_class: type[argparse.HelpFormatter]) -> None:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="synthesise a small trial, gate it, compare with placebo, write the report",
        description="Run the whole pipeline: synthesise a small lupus trial with known truth (4 arms x N subjects "
                    "x 4 visits), gate it with gating_strategies/lupus_pd.yaml (progress bar), compute change "
                    "from baseline versus placebo for B cells, CD268+ B cells, pDCs and Tregs, and write the HTML "
                    "report.  Prints where everything is.",
        formatter_class=formatter_class,
    )
    parser.add_argument("--out", default="demo_output", metavar="DIR", help="output folder")
    parser.add_argument("--subjects", type=int, default=4, metavar="N", help="subjects per arm")
    parser.add_argument("--events", type=int, default=20_000, metavar="N", help="events per FCS file")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic trial")
    parser.add_argument("--workers", type=int, metavar="N", help="processes [default: CPUs]")
    parser.add_argument("--max-plots", type=int, default=6, metavar="N", help="samples whose gates the report draws")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    import time

    from ..demo import run_demo
    from ..errors import SynthError

    for name in ("subjects", "events"):
        if getattr(args, name) < 1:
            raise SynthError(f"--{name} must be at least 1, not {getattr(args, name)}")
    started = time.perf_counter()
    result = run_demo(args.out, subjects_per_arm=args.subjects, n_events=args.events, seed=args.seed,
                      workers=args.workers, progress=False if args.quiet else None,
                      max_samples_with_plots=max(0, args.max_plots))
    print(f"cytogate demo: done in {time.perf_counter() - started:.1f} s\n{result.describe()}", file=sys.stderr)
    return 0
