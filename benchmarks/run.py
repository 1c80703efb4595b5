"""Run the cytogate benchmarks: ``python benchmarks/run.py [--quick] [--only TOPIC ...]``.

Discovers every ``benchmarks/bench_<topic>.py`` with a ``CASES`` list (contract:
benchmarks/README.md and the top of harness.py), runs each case in fresh
processes, prints one table per operation and size, and writes
``benchmarks/results/latest.json`` and ``latest.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100k events only, 1 repeat (a smoke test)")
    parser.add_argument("--only", nargs="+", metavar="TOPIC", help="run only these topics (bench_<topic>.py)")
    parser.add_argument("--sizes", nargs="+", type=int, help=f"event counts (default {', '.join(map(str, harness.SIZES))})")
    parser.add_argument("--repeats", type=int, help="fresh-process repeats per case (default 5, --quick 1)")
    parser.add_argument("--tools", nargs="+", help="run only these tools (e.g. cytogate np.fromfile)")
    parser.add_argument("--data-dir", type=Path, default=harness.DATA_DIR, help="where generated FCS files live")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder for latest.json / latest.md")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per run of one case")
    args = parser.parse_args(argv)

    sizes = args.sizes or ([harness.SIZES[0]] if args.quick else list(harness.SIZES))
    repeats = args.repeats or (1 if args.quick else 5)
    topics = harness.discover(args.only)

    def log(message: str) -> None:
        print(f"  running {message}", file=sys.stderr, flush=True)

    results, targets, notes = harness.run_all(
        topics, sizes, repeats, data_dir=args.data_dir, tools=args.tools, timeout=args.timeout, log=log
    )
    checked = harness.check_targets(results, targets)
    meta = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sizes": sizes,
        "repeats": repeats,
        "topics": list(topics),
    }
    json_path, md_path = harness.write_reports(results, checked, notes, args.out, meta)
    print("\n".join(harness.tables(results)))
    for c in checked:
        verdict = "met" if c["met"] else "NOT met"
        print(f"target {c['operation']} @ {c['n_events']:,}: {c['tool']} / {c['reference']} = {c['ratio']:.2f} "
              f"(target >= {c['target']}): {verdict}")
    for note in notes:
        print(f"note: {note}")
    print(f"results: {json_path} and {md_path}")
    failed = [r for r in results if r.error and r.tool == harness.REFERENCE_TOOL]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
