"""``cytogate mmrm``: a mixed model for repeated measures on any long table."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from .._version import __version__
from ..atomic import write_csv, write_text
from ..errors import OutputError

_DESCRIPTION = """\
Fit a mixed model for repeated measures (MMRM) to a long table (one row per
subject and visit), the way SAS PROC MIXED does with
  CLASS ...; MODEL y = ... / DDFM=...; REPEATED visit / SUBJECT=id TYPE=...;
  LSMEANS arm*visit / DIFF CL;
and write LS means, differences versus a control level, and the fit.

Rows with a missing response or covariate are dropped.  Text columns are
factors (use --factor for numeric codes); the reference level of a factor is
its last level in natural order unless --reference says otherwise.  When a fit
does not converge, a simpler covariance is used (un -> toeph -> ar1h -> cs)
and fit.json records why."""

_EPILOG = """\
example (the SAS example of the openpharma/mmrm package):
  cytogate mmrm fev_data.csv --formula "FEV1 ~ RACE + SEX + ARMCD*AVISIT" \\
      --subject USUBJID --time AVISIT --cov un --method reml --df satterthwaite \\
      --reference RACE=Asian --reference SEX=Male --reference AVISIT=VIS1 \\
      --lsmeans ARMCD:AVISIT --control ARMCD=PBO --out results/

writes results/lsmeans.csv (one column per factor, estimate, se, df, t, p,
ci_low, ci_high), results/contrasts.csv (contrast such as "TRT - PBO", one
column per other factor of --lsmeans, estimate, se, df, t, p, ci_low, ci_high),
results/coef.csv (fixed-effect solution) and results/fit.json (structure used,
notes, -2 log-likelihood, AIC, BIC, convergence, covariance parameters)."""


def _pair(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected COLUMN=LEVEL, got {text!r}")
    key, value = text.split("=", 1)
    if not key.strip():
        raise argparse.ArgumentTypeError(f"expected COLUMN=LEVEL, got {text!r}")
    return key.strip(), value.strip()


# Listed here, not imported from the model, so `cytogate --help` stays fast;
# a test checks they match cytogate.longitudinal.covariance.STRUCTURES.
COVARIANCE_CHOICES = ("un", "cs", "ar1", "toep", "csh", "ar1h", "toeph")


def register(subparsers: Any, formatter_class: type[argparse.HelpFormatter]) -> None:
    """Add the ``mmrm`` sub-command."""
    parser = subparsers.add_parser(
        "mmrm",
        help="mixed model for repeated measures on a long table (SAS-compatible)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=formatter_class,
    )
    parser.add_argument("table", metavar="TABLE", help="long table: .csv, .tsv/.txt or .parquet")
    parser.add_argument("--formula", required=True, help='fixed effects, e.g. "FEV1 ~ RACE + SEX + ARMCD*AVISIT"')
    parser.add_argument("--subject", required=True, help="column identifying the subject")
    parser.add_argument("--time", required=True, help="column of the repeated visit (one row per subject and visit)")
    parser.add_argument("--cov", default="un", choices=COVARIANCE_CHOICES, help="within-subject covariance structure")
    parser.add_argument("--method", default="reml", choices=["reml", "ml"], help="estimation method")
    parser.add_argument(
        "--df", default="satterthwaite", choices=["satterthwaite", "kenward-roger"], help="degrees of freedom"
    )
    parser.add_argument(
        "--reference", action="append", type=_pair, default=[], metavar="COL=LEVEL",
        help="reference level of a factor (repeatable)",
    )
    parser.add_argument(
        "--factor", action="append", default=[], metavar="COL", help="treat a numeric column as a factor (repeatable)"
    )
    parser.add_argument(
        "--lsmeans", metavar="A:B", help="LS means for each combination of these factors, e.g. ARMCD:AVISIT"
    )
    parser.add_argument(
        "--control", type=_pair, metavar="COL=LEVEL",
        help="compare every other level of COL with LEVEL, per level of the other --lsmeans factors",
    )
    parser.add_argument("--alpha", type=float, default=0.05, help="1 - confidence level of the intervals")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    parser.set_defaults(handler=run)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run(args: argparse.Namespace) -> int:
    """Fit, write the outputs, print a short summary; returns the exit code."""
    from ..longitudinal import fit_mmrm
    from ..longitudinal.analysis import load_table

    data = load_table(args.table)
    reference = dict(args.reference)
    if args.control and args.control[0] not in reference:
        # Coefficients then read as differences from the control, as in SAS listings.
        reference[args.control[0]] = args.control[1]
    fit = fit_mmrm(
        data,
        args.formula,
        subject=args.subject,
        time=args.time,
        cov=args.cov,
        method=args.method,
        df=args.df,
        reference=reference,
        factors=args.factor,
    )
    lsmeans = fit.lsmeans(args.lsmeans, alpha=args.alpha) if args.lsmeans else None
    contrasts = None
    if args.control:
        column = args.control[0]
        if args.lsmeans:
            by = [n.strip() for n in args.lsmeans.replace("*", ":").split(":") if n.strip() != column]
        else:
            by = [args.time] if args.time in fit.design.levels else []
        contrasts = fit.contrasts({column: args.control[1]}, by=by or None, alpha=args.alpha)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        if lsmeans is not None:
            write_csv(out / "lsmeans.csv", lsmeans)
        if contrasts is not None:
            write_csv(out / "contrasts.csv", contrasts)
        write_csv(out / "coef.csv", fit.coef)
        info = {"schema": 1, "cytogate_version": __version__, "table": str(args.table), **fit.summary()}
        info["cov_params"] = {k: _clean(v) for k, v in info["cov_params"].items()}
        write_text(out / "fit.json", json.dumps(info, indent=2, default=str) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write results: {exc.strerror or exc}", path=out) from exc
    _print_summary(fit, contrasts, out, args.alpha)
    return 0


def _print_summary(fit: Any, contrasts: Any, out: Path, alpha: float) -> None:
    lines = [
        f"MMRM {fit.method.upper()}, covariance {fit.cov_structure}"
        + (f" (requested {fit.requested_structure})" if fit.cov_structure != fit.requested_structure else "")
        + f", df {fit.df_method}: {fit.n_obs} observations, {fit.n_subjects} subjects",
        f"-2 log-likelihood {fit.neg2_loglik:.4f}   AIC {fit.aic:.1f}   BIC {fit.bic:.1f}"
        + ("" if fit.converged else "   (NOT CONVERGED)"),
    ]
    lines += [f"note: {note}" for note in fit.notes]
    if contrasts is not None:
        stats = ("contrast", "estimate", "se", "df", "t", "p", "ci_low", "ci_high")
        by = [c for c in contrasts.columns if c not in stats]
        for _, row in contrasts.iterrows():
            where = " ".join(f"{c}={row[c]}" for c in by)
            lines.append(
                f"  {row['contrast']:<16} {where:<14} {row['estimate']:10.4f} (SE {row['se']:.4f}, "
                f"df {row['df']:.1f})  {100 * (1 - alpha):g}% CI {row['ci_low']:.4f} to {row['ci_high']:.4f}"
                f"  p={row['p']:.4g}"
            )
    lines.append(f"results in {out}")
    print("\n".join(lines), file=sys.stdout)
