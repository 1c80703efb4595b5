"""Regenerate the committed demo data in this folder (deterministic).

    python sample_fcs/make_samples.py            # writes next to this script
    python sample_fcs/make_samples.py --out DIR  # elsewhere

A mini-trial: Placebo and 0.45 mg, two subjects each, Baseline and Week 24,
15,000 events per file, panel ``lupus_pd``, counting beads, mild instrument
drift; see README.md.  Same cytogate version and seed, same bytes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cytogate.synth.trial import synthesize_trial

SEED = 20240524
DESIGN = dict(
    arms={"Placebo": 2, "0.45 mg": 2},
    visits=("Baseline", "Week 24"),
    days=(1, 169),
    n_events=15_000,
    seed=SEED,
    panel="lupus_pd",
    drift=0.5,
    beads_per_test=50_000.0,
    volume_ul=50.0,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    trial = synthesize_trial(args.out, workers=1, **DESIGN)
    size = sum((args.out / f).stat().st_size for f in trial.samples["file"])
    print(f"wrote {len(trial.samples)} files ({size / 1e6:.1f} MB) with samples.csv, truth.csv, trial.json to {args.out}")


if __name__ == "__main__":
    main()
