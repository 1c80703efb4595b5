"""``cytogate run STRATEGY [INPUT...] --out DIR ...``: gate many files, resumably.

The command parses arguments and calls :func:`cytogate.batch.run_batch`, which
does the work (parallel or on Dask, atomic per-sample results, failures
isolated).  Heavy modules are imported in the handler so `cytogate --help`
stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..batch.prehash import HashAhead

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction, formatter_class: type[argparse.HelpFormatter]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="gate FCS files with a strategy and write cell counts",
        description="Gate FCS files, folders, globs or fsspec URLs (or the files of a sample sheet) with a "
                    "cytogate YAML or Gating-ML 2.0 strategy, or a FlowJo 10 / FlowJo 9 Mac workspace "
                    "(detected from content; each file is gated with its own workspace sample's gates, "
                    "matched by $FIL, file name, then URI, and counts.csv gains FlowJo's flowjo_count).  Writes "
                    "DIR/counts.csv, counts.parquet, stats.parquet, failures.csv and manifest.json; with "
                    "--membership also DIR/membership/<sample>.parquet (one boolean column per population). "
                    "Runs in parallel on this machine's cores, or on a Dask cluster with --scheduler.  A run "
                    "killed and started again with the same arguments reuses the samples it finished.",
        epilog="exit codes: 0 success; 2 bad input (nothing written); 3 some inputs failed (see failures.csv); "
               "4 the environment failed (disk full, output folder read-only or in use by another run). "
               "See docs/batch.md for cluster runs.",
        formatter_class=formatter_class,
    )
    parser.add_argument("strategy", help="cytogate YAML, Gating-ML 2.0 or FlowJo workspace (.wsp / FlowJo 9 XML)")
    parser.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="FCS files, folders, glob patterns or fsspec URLs (optional with --samples)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    parser.add_argument("--samples", metavar="SHEET",
                        help="sample sheet (CSV, TSV or Excel) with a 'file' column relative to the sheet; "
                             "its other columns are copied into counts.csv")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="local worker processes (default: cores, limited by memory)")
    parser.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler address, e.g. tcp://host:8786")
    parser.add_argument("--membership", action="store_true",
                        help="also write per-event population membership as parquet")
    parser.add_argument("--stats-scale", choices=("compensated", "raw", "transformed"), default="compensated",
                        help="scale of the intensity statistics in stats.parquet: 'compensated' (default) is the "
                             "values the gates saw (each channel compensated as its gates compensate it, others "
                             "with the file's spillover); 'raw' the FCS scale values; 'transformed' the gates' "
                             "display scale")
    parser.add_argument("--no-stats", action="store_true", help="skip intensity statistics (faster)")
    parser.add_argument("--strict-fits", action="store_true",
                        help="a sample on which a data-driven gate fell back counts as failed (exit 3)")
    parser.add_argument("--qc", choices=("flag", "remove"),
                        help="acquisition QC of flow rate and signal drift over Time (overrides the strategy's)")
    parser.add_argument("--force", action="store_true", help="recompute samples even if cached results match")
    parser.add_argument("--rehash", action="store_true",
                        help="hash every input afresh instead of reusing SHA-256s remembered for files "
                             "unchanged since an earlier run (or set CYTOGATE_HASH_INDEX=off)")
    parser.add_argument("--overrides", metavar="FILE",
                        help="per-sample gate corrections (cytogate_overrides: 1, with reason, author and date); "
                             "only the named samples' populations and their descendants change")
    follow = parser.add_mutually_exclusive_group()
    follow.add_argument("--follow", metavar="REF.fcs",
                        help="template following: move every static gate onto each sample's own data, REF.fcs "
                             "being the file the gates were drawn on (overrides the strategy's follow: reference; "
                             "see docs/follow.md); where each gate landed goes into fits.parquet and gates.json")
    follow.add_argument("--no-follow", action="store_true",
                        help="gate with the static template even when the strategy names a follow reference")
    parser.add_argument("--bead-population", metavar="PATH", help="counting-bead population (default: 'Beads')")
    parser.add_argument("--wbc-reference", metavar="PATH",
                        help="population the sheet's wbc_per_ul refers to (default: 'Leukocytes'/'CD45+')")
    parser.add_argument("--lymphocyte-reference", metavar="PATH",
                        help="population the sheet's lymphocytes_per_ul refers to (default: 'Lymphocytes')")
    tree = parser.add_mutually_exclusive_group()
    tree.add_argument("--sample", metavar="NAME|ID",
                      help="FlowJo workspace: gate every file with this sample's tree instead of its own")
    tree.add_argument("--group", metavar="NAME",
                      help="FlowJo workspace: gate every file with the tree of this group's first sample")
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="always show a progress bar")
    bar.add_argument("--no-progress", dest="progress", action="store_false",
                     help="never show a progress bar (log lines instead)")
    parser.set_defaults(handler=_handle)


def _start_hashing(inputs: list[str], *, rehash: bool) -> HashAhead | None:
    """Start hashing the local inputs in the background (standard library only, before numpy/numba/pandas load)."""
    from ..batch.inputs import expand_inputs, is_url
    from ..batch.prehash import HashAhead
    from ..errors import CytogateError

    try:
        found = expand_inputs(inputs) if inputs else []
    except (CytogateError, OSError, ImportError):
        return None  # run_batch reports the problem with its context
    local = [f.path for f in found if not is_url(f.path)]
    return HashAhead(local, index=None if rehash else True) if local else None


def _skip_numba_blas_probe() -> None:
    """Load numba's array-math registry without its BLAS probe importing all of scipy.linalg.

    numba checks once per process whether BLAS is there by importing
    ``scipy.linalg.cython_blas``, which loads scipy.linalg: about 0.2 s, a
    third of a batch run's start-up before the first event is gated.  No
    cytogate kernel calls BLAS, so the console's own process (and the workers
    it forks) lets the probe fail; scipy.linalg imports normally afterwards.
    Never done in a library caller's process, whose own numba code may need it.
    """
    if "numba.np.arraymath" in sys.modules or "scipy.linalg.cython_blas" in sys.modules:
        return
    sys.modules["scipy.linalg.cython_blas"] = None  # type: ignore[assignment]  # importing it now fails
    try:
        import numba.np.arraymath  # noqa: F401
    except ImportError:
        pass  # numba itself missing: the run reports that with its context
    finally:
        del sys.modules["scipy.linalg.cython_blas"]


def _handle(args: argparse.Namespace) -> int:
    # Parallel work here is one process per core; OpenBLAS's own threads would only
    # spin beside them (numpy and scipy each start a pool when first loaded).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    prehash = _start_hashing(list(args.inputs), rehash=args.rehash)
    if getattr(args, "console", False):
        _skip_numba_blas_probe()
    try:
        from ..batch import AbsoluteOptions, BatchOptions, QcSpec, run_batch

        options = BatchOptions(
            workers=args.workers, scheduler=args.scheduler, membership=args.membership,
            stats_scale=args.stats_scale, stats=not args.no_stats, force=args.force,
            qc=None if args.qc is None else QcSpec(mode=args.qc),
            absolute=AbsoluteOptions(args.bead_population, args.wbc_reference, args.lymphocyte_reference),
            progress=False if args.quiet else args.progress, rehash=args.rehash, overrides=args.overrides,
            strict_fits=args.strict_fits, follow=args.follow, no_follow=args.no_follow,
            sample=args.sample, group=args.group,
        )
        result = run_batch(args.strategy, args.inputs, args.out, samples=args.samples, options=options,
                           prehash=prehash)
    finally:
        if prehash is not None:
            prehash.stop()
    if not args.quiet:
        for note in result.notes:
            print(f"cytogate run: note: {note}", file=sys.stderr)
        print(f"cytogate run: {result.summary.line()}; results in {result.out}", file=sys.stderr)
        if result.flowjo is not None:
            print(f"cytogate run: {result.flowjo.line()}", file=sys.stderr)
    fits = result.manifest.get("fits") or {}
    if fits.get("fallbacks") and not args.quiet:
        print(f"cytogate run: {fits['fallbacks']} of {fits['fits']} data-driven fit(s) fell back to their "
              f"declared fallback; see {result.out / 'fits.parquet'}", file=sys.stderr)
    follow = result.manifest.get("follow") or {}
    if follow.get("fallback") and not args.quiet:
        print(f"cytogate run: {follow['fallback']} followed gate(s) kept their template geometry (low confidence "
              f"or failed registration); see the fallback rows of {result.out / 'fits.parquet'}", file=sys.stderr)
    if result.failures:
        print(f"cytogate run: {len(result.failures)} input(s) failed, listed in {result.out / 'failures.csv'}",
              file=sys.stderr)
    return result.exit_code
