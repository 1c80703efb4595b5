"""``cytogate validate STRATEGY [--fcs FILE ...]``: check a strategy, optionally against files.

Loads the strategy (YAML or Gating-ML; every error names file, line, column and
population) and prints its tree.  With ``--fcs`` it also resolves every gate
dimension in each file ($PnN, $PnS, then the strategy's marker aliases) and
checks that the requested compensation is possible, without gating.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register", "validate"]


def validate(strategy_path: str, fcs: list[str] | None = None) -> dict[str, Any]:
    """Check a strategy (and its fit to FCS files); returns a JSON-ready report.

    Raises
    ------
    StrategyError, MarkerError, CompensationError, FcsError
        The first problem found.
    """
    from ..fcs import read_fcs
    from ..gates.dimensions import resolve_dimension
    from ..plan import compile_plan
    from ..strategy import load_strategy

    strategy = load_strategy(strategy_path)
    report: dict[str, Any] = {
        "strategy": strategy_path,
        "format": strategy.format,
        "populations": [
            {"path": p.path, "gate": p.gate.describe(), "data_driven": bool(p.gate.needs_fit)}
            for p in strategy.populations
        ],
        "transforms": sorted(strategy.transforms),
        "matrices": sorted(strategy.matrices),
        "files": [],
    }
    names = sorted({n for _, d in strategy.dimensions() for n in d.inputs})
    for path in fcs or []:
        sample = read_fcs(path)
        compile_plan(strategy, sample)  # raises on any unresolvable dimension or compensation
        channels = list(sample.channels)
        mapping = {}
        for name in names:
            idx = resolve_dimension(name, sample, strategy.aliases or None)
            marker = sample.markers[idx]
            mapping[name] = channels[idx] + (f" ({marker})" if marker else "")
        report["files"].append({"file": path, "resolved": mapping})
    return report


def register(subparsers: Any, formatter_class: type[argparse.HelpFormatter]) -> None:
    """Add the ``validate`` sub-command."""
    parser = subparsers.add_parser(
        "validate",
        help="check a strategy (YAML or Gating-ML), optionally against FCS files' channels",
        description=__doc__.split("\n\n", 1)[1],
        epilog="exit codes: 0 valid; 2 invalid (the message says file:line:column and population)",
        formatter_class=formatter_class,
    )
    parser.add_argument("strategy", metavar="STRATEGY", help="cytogate YAML or Gating-ML 2.0 file")
    parser.add_argument("--fcs", nargs="+", metavar="FILE", help="FCS files whose channels must fit")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    report = validate(args.strategy, args.fcs)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    pops = report["populations"]
    fitted = sum(p["data_driven"] for p in pops)
    print(f"{args.strategy}: valid {report['format']} strategy: {len(pops)} populations "
          f"({fitted} data-driven), {len(report['transforms'])} transforms, {len(report['matrices'])} matrices")
    for p in pops:
        depth = p["path"].count("/") - 1
        print(f"  {'  ' * depth}{p['path'].rsplit('/', 1)[-1]}: {p['gate']}")
    for f in report["files"]:
        print(f"{f['file']}: every dimension resolves")
        for name, channel in f["resolved"].items():
            print(f"  {name} -> {channel}")
    return 0
