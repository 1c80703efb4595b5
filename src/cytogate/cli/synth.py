"""``cytogate synth``: synthetic FCS files and trials with known truth."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..errors import EXIT_BAD_INPUT

log = logging.getLogger(__name__)

_DESCRIPTION = """\
Generate synthetic flow-cytometry data whose truth is known: lysed whole blood
stained with a ready-made panel, with debris, doublets, dead cells, realistic
population frequencies (pDCs ~0.2% of leukocytes, Tregs ~7% of CD4 T cells),
spillover applied (compensate with the file's $SPILLOVER), instrument-style
detector names in $PnN and marker names in $PnS.

  sample  one FCS file (optionally with its per-event truth labels)
  trial   a simulated dose-ranging trial: FCS per subject x visit, samples.csv, truth.csv"""

_SAMPLE_EPILOG = """\
panels: lupus_pd (B, CD268+ B, pDC, T subsets, Tregs), b_cell, t_cell, dc, nk_mono

examples:
  cytogate synth sample --panel lupus_pd --events 50000 --seed 1 --out s1.fcs
  cytogate synth sample --seed 2 --shift fsc=1.15,fluorescence=0.8,CD25=0.6 --out drifted.fcs
  cytogate synth sample --seed 3 --shift random=1.5 --labels s3_truth.parquet --out s3.fcs
  cytogate synth sample --seed 4 --shift scatter=1.3 --drop FSC-H CD45 CD303 --out other_lab.fcs

--shift takes comma-separated KEY=FACTOR items: fsc, ssc, scatter (both),
fluorescence (all detectors), a detector name (B530-A=1.3: that detector's
gain), a marker (CD25=0.6: staining intensity), and random[=STRENGTH] for a
seeded random day-to-day drift that the other items then override.
--labels writes one row per event: the truth label (leaf population, or Dead
cell / Doublet / Debris / Bead) and one boolean column per truth population.
--drop leaves channels out as another lab's panel would: FSC-H is not
recorded, a dropped marker is not stained (no signal, no spillover); the truth
labels stay the same."""

_TRIAL_EPILOG = """\
The default design follows the iberdomide lupus trial scaled down: arms
Placebo, 0.15 mg, 0.3 mg, 0.45 mg; visits Baseline, Week 4, Week 12, Week 24
(days 1, 29, 85, 169); at week 24 on 0.45 mg, relative to placebo, B cells
(incl. CD268+ B) x0.417 (-58.3%), pDC x0.261 (-73.9%), Tregs x2.049 (+104.9%),
smaller on lower doses, with between-subject and visit-to-visit variability
and per-file instrument drift.

examples:
  cytogate synth trial --out trial/
  cytogate synth trial --out small/ --subjects-per-arm 3 --events 10000 --seed 7
  cytogate synth trial --out two_arms/ --arms Placebo=20 "0.45 mg=20" --drift 0"""


def register(subparsers: argparse._SubParsersAction, formatter_class: type[argparse.HelpFormatter]) -> None:
    parser = subparsers.add_parser(
        "synth", help="synthetic FCS files and trials with known truth", description=_DESCRIPTION,
        formatter_class=formatter_class,
    )  # fmt: skip
    parser.set_defaults(handler=lambda args: _usage(parser))
    sub = parser.add_subparsers(title="what to generate", metavar="KIND")

    sample = sub.add_parser(
        "sample", help="one FCS file", description="Generate one synthetic FCS 3.1 file.",
        epilog=_SAMPLE_EPILOG, formatter_class=formatter_class,
    )  # fmt: skip
    sample.add_argument("--out", required=True, type=Path, help="FCS file to write")
    sample.add_argument("--panel", default="lupus_pd", help="staining panel")
    sample.add_argument("--events", type=int, default=50_000, help="events in the file")
    sample.add_argument("--seed", type=int, default=0, help="random seed (same seed, same file)")
    sample.add_argument("--shift", default=None, help="instrument / staining drift, e.g. fsc=1.1,CD25=0.6 or random")
    sample.add_argument("--beads", type=float, default=0.0, metavar="N", help="counting beads per test (0: none)")
    sample.add_argument("--volume", type=float, default=50.0, metavar="UL", help="blood volume stained, µL")
    sample.add_argument("--name", default=None, help="sample name ($SRC; default: the file's stem)")
    sample.add_argument("--labels", type=Path, default=None, metavar="FILE",
                        help="also write per-event truth (.parquet or .csv)")  # fmt: skip
    sample.add_argument("--drop", nargs="+", default=(), metavar="CHANNEL",
                        help="channels or markers the tube lacks (FSC-H, CD45, CD303 ...)")
    sample.set_defaults(handler=_run_sample)

    trial = sub.add_parser(
        "trial", help="a simulated trial (FCS files, samples.csv, truth.csv)",
        description="Simulate a dose-ranging trial and write its files.", epilog=_TRIAL_EPILOG,
        formatter_class=formatter_class,
    )  # fmt: skip
    trial.add_argument("--out", required=True, type=Path, help="output folder (created if missing)")
    trial.add_argument("--subjects-per-arm", type=int, default=10, metavar="N", help="subjects in each arm")
    trial.add_argument("--arms", nargs="+", default=None, metavar="ARM=N",
                       help="arms and sizes instead of the default four arms (overrides --subjects-per-arm)")  # fmt: skip
    trial.add_argument("--events", type=int, default=20_000, help="events per file")
    trial.add_argument("--seed", type=int, default=0, help="random seed")
    trial.add_argument("--panel", nargs="+", default=["lupus_pd"], metavar="PANEL",
                       help="staining panel(s); with several, every visit gets one file per panel "
                            "(<subject>_<visit>_<panel>.fcs) and samples.csv's panel column says which")
    trial.add_argument("--drift", type=float, default=0.5, help="per-file instrument drift strength (0: none)")
    trial.add_argument("--workers", type=int, default=None, help="threads (default: CPUs + 1, at most 4)")
    trial.set_defaults(handler=_run_trial)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_BAD_INPUT


def _run_sample(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..errors import SynthError
    from ..synth import synthesize_sample, truth_counts, truth_membership

    if args.events < 1:
        raise SynthError(f"--events must be ≥ 1, got {args.events}")
    name = args.name or args.out.stem
    sample = synthesize_sample(
        args.panel, args.events, args.seed, args.shift, beads_per_test=args.beads, volume_ul=args.volume, name=name,
        drop=tuple(args.drop),
    )
    sample.write(args.out)
    if args.labels is not None:
        table = pd.DataFrame({"label": sample.labels})
        for population, mask in truth_membership(sample).items():
            table[population] = mask
        if args.labels.suffix.lower() == ".csv":
            table.to_csv(args.labels, index_label="event")
        else:
            table.to_parquet(args.labels)
    counts = truth_counts(sample)
    summary = ", ".join(f"{k} {v}" for k, v in counts.items() if k in ("Live", "T cells", "B cells", "pDC", "Tregs"))
    print(f"wrote {args.out} ({sample.n_events} events, panel {sample.panel.name}; true counts: {summary})")
    return 0


def _run_trial(args: argparse.Namespace) -> int:
    from ..errors import SynthError
    from ..synth.trial import DEFAULT_ARMS, synthesize_trial

    if args.arms:
        arms: dict[str, int] = {}
        for item in args.arms:
            arm, sep, n = item.rpartition("=")
            if not sep or not arm.strip():
                raise SynthError(f"--arms item {item!r} is not ARM=N")
            try:
                arms[arm.strip()] = int(n)
            except ValueError:
                raise SynthError(f"--arms item {item!r}: {n!r} is not a whole number") from None
    else:
        if args.subjects_per_arm < 1:
            raise SynthError(f"--subjects-per-arm must be ≥ 1, got {args.subjects_per_arm}")
        arms = {arm: args.subjects_per_arm for arm in DEFAULT_ARMS}
    if args.events < 1:
        raise SynthError(f"--events must be ≥ 1, got {args.events}")
    trial = synthesize_trial(
        args.out, arms=arms, n_events=args.events, seed=args.seed,
        panel=args.panel[0] if len(args.panel) == 1 else args.panel, drift=args.drift,
        workers=args.workers,
    )  # fmt: skip
    print(
        f"wrote {len(trial.samples)} FCS files, samples.csv, truth.csv and trial.json to {trial.out_dir} "
        f"({len(arms)} arms, {trial.samples['subject'].nunique()} subjects)"
    )
    return 0
