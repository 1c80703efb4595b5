"""``cytogate change``: change from baseline and comparisons with the control arm."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

__all__ = ["register"]

log = logging.getLogger(__name__)

_DESCRIPTION = """\
Change from baseline per subject and visit, summaries by arm and visit, and
comparisons of each arm with the control arm at every post-baseline visit.

TABLE is a long table: the counts.csv / counts.parquet of `cytogate run` with
sample-sheet columns (subject, arm, visit, day ...), or any CSV/TSV/Parquet
table with one row per subject x visit (x --by group) and a numeric value.

Writes to --out: change.csv (value, baseline, change, % change, log ratio per
subject x visit), summary.csv (n, mean, SD, SE, median, Q1, Q3, min, max of
value, change and % change; geometric mean ratio to baseline with 95% CI),
contrasts.csv (per visit and arm vs control: estimate, se, df, 95% CI and p on
the model scale; ratio and placebo-adjusted % change with CI; p_adj; method),
figures/*.png|svg and analysis.json (settings and notes).

Models: mmrm (default; log count ~ log baseline + ARM*VISIT, unstructured
covariance, REML, Satterthwaite df), ancova (the same model within each visit,
OLS), wilcoxon (rank-sum test on % change, Hodges-Lehmann shift with CI)."""

_EPILOG = """\
example:
  cytogate run panel.yaml fcs/ --samples sheet.csv --out run1
  cytogate change run1/counts.csv --subject subject --arm arm --visit visit \\
      --baseline Baseline --control Placebo --value count --by population \\
      --model ancova --adjust holm --out run1/change
  # the same settings in a file; command-line options win over it:
  cytogate change run1/counts.csv --analysis analysis.yaml --out run1/change"""


def register(subparsers: argparse._SubParsersAction, formatter_class: type[argparse.HelpFormatter]) -> None:
    """Add the ``change`` sub-command."""
    p = subparsers.add_parser(
        "change",
        help="change from baseline and comparisons with the control arm",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=formatter_class,
    )
    p.add_argument("table", metavar="TABLE", help="long table: counts.csv, counts.parquet or any CSV/TSV/Parquet")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--analysis", metavar="YAML", help="analysis settings file (options given here override it)")
    p.add_argument("--subject", metavar="COL", help="subject column")
    p.add_argument("--arm", metavar="COL", help="treatment-arm column")
    p.add_argument("--visit", metavar="COL", help="visit column")
    p.add_argument("--value", metavar="COL", help="value column (e.g. count, freq_parent, cells_per_ul)")
    p.add_argument("--baseline", metavar="LABEL", help="baseline visit label")
    p.add_argument("--control", metavar="LABEL", help="control arm label (e.g. Placebo)")
    p.add_argument("--by", metavar="COL", nargs="+", help="grouping columns analysed separately (e.g. population)")
    p.add_argument("--model", choices=("mmrm", "ancova", "wilcoxon"), help="comparison model [default: mmrm]")
    p.add_argument("--scale", choices=("log", "raw"), help="analysis scale [default: log]")
    p.add_argument("--day", metavar="COL", help="study-day column (orders visits; needed for windows)")
    p.add_argument("--adjust", choices=("holm", "bh"), help="multiplicity adjustment of p values")
    p.add_argument("--lloq", type=float, metavar="X", help="lower limit of quantitation; values below use --lloq-rule")
    p.add_argument("--lloq-rule", choices=("half", "limit", "zero", "missing"), default="half",
                   help="replacement for values below --lloq (half = LLOQ/2)")  # fmt: skip
    p.add_argument("--cov", choices=("un", "cs", "ar1", "toep", "csh", "ar1h", "toeph"),
                   help="MMRM covariance structure [default: un]")  # fmt: skip
    p.add_argument("--df", choices=("satterthwaite", "kenward-roger"), dest="df_method",
                   help="MMRM degrees of freedom [default: satterthwaite]")  # fmt: skip
    p.add_argument("--forest-visit", metavar="LABEL", help="visit of the forest plot [default: last visit]")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from ..errors import ModelError
    from ..longitudinal.analysis import ChangeSettings, run_change_analysis
    from ..longitudinal.change import LloqRule

    overrides = {
        "subject": args.subject, "arm": args.arm, "visit": args.visit, "value": args.value,
        "baseline": args.baseline, "control": args.control, "by": tuple(args.by) if args.by else None,
        "model": args.model, "scale": args.scale, "day": args.day, "adjust": args.adjust, "cov": args.cov, "df": args.df_method,
        "forest_visit": args.forest_visit, "figures": False if args.no_figures else None,
        "lloq": LloqRule(args.lloq, args.lloq_rule) if args.lloq is not None else None,
    }  # fmt: skip
    if args.analysis:
        settings = ChangeSettings.from_yaml(args.analysis, **overrides)
    else:
        missing = [f"--{k}" for k in ("subject", "arm", "visit", "value", "control") if overrides[k] is None]
        if missing:
            raise ModelError(f"missing {', '.join(missing)} (or give them in --analysis YAML)")
        settings = ChangeSettings.from_mapping({}, **overrides)
    outputs = run_change_analysis(Path(args.table), settings, out_dir=Path(args.out))
    for note in outputs.notes:
        log.info("note: %s", note)
    log.info(
        "wrote %d change rows, %d summary rows, %d contrasts and %d figure files to %s",
        len(outputs.change), len(outputs.summary), len(outputs.contrasts), len(outputs.figures), args.out,
    )
    return 0
