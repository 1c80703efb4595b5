"""A simulated dose-ranging trial on disk: :func:`synthesize_trial`.

Design (defaults modelled on the iberdomide phase 2b lupus trial, scaled
down): four arms (placebo, 0.15, 0.3, 0.45 mg), visits at baseline and weeks
4, 12 and 24 (study days 1, 29, 85, 169), one FCS file per subject × visit
stained with a panel (``lupus_pd``), plus

* ``samples.csv`` — the sample sheet: ``file, sample, subject, arm, dose_mg,
  visit, day, site, panel, volume_ul, beads_per_test, wbc_per_ul``;
* ``truth.csv`` — per file and truth population: the true event ``count`` in
  the file, the population's true blood concentration ``per_ul`` and the
  multiplicative treatment ``effect`` applied to every cell of it at that
  visit (1 when the effect reaches only part of it, e.g. CD4 T for Tregs);
* ``trial.json`` — the design, effects and seed, for provenance.

Model of a population's concentration for subject *i* at visit *v*::

    c[i, v] = c0 · B[i] · W[i, v] · E(arm, day)

``c0`` the baseline concentration of :mod:`.populations`; ``B`` a lognormal
between-subject factor (median 1, log-SD per population in
``between_subject_sd``, default Live 0.2, Lymphocytes 0.25, B cells 0.4, pDC
0.45, Tregs 0.25, NK 0.3 — nested factors compound); ``W`` a lognormal
visit-to-visit factor for the same populations (log-SD
``within_subject_sd``); ``E`` the treatment effect: for each
named population the ratio to placebo at the last visit (``effects``), reached
with an exponential onset (time constant ``onset_days``) so that
``log E(day) = log E_final · (1 − exp(−(day − 1)/τ)) / (1 − exp(−(day_last − 1)/τ))``.
Effects of populations nested in others compound (``CD268+ B`` falls with
``B cells``).  Default effects at week 24, 0.45 mg, placebo-adjusted, as
reported for iberdomide: B cells −58.3% (ratio 0.417, which carries CD268+ B
cells), pDC −73.9% (0.261), Tregs +104.9% (2.049); a lower dose ``d`` gets
``ratio ** (d / 0.45)`` (log-linear in dose).  The counts in a file follow the
concentrations through the sample composition (multinomial counting noise
included), and each file has its own instrument drift (:class:`.Shift`).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._version import __version__
from ..atomic import write_csv, write_text
from ..errors import SynthError
from .panels import get_panel
from .populations import LEAF_NAMES, TRUTH, baseline_concentrations, leaves_of
from .sample import synthesize_sample, truth_counts
from .shift import Shift

__all__ = [
    "DEFAULT_ARMS",
    "DEFAULT_VISITS",
    "DEFAULT_DAYS",
    "TOP_DOSE_EFFECTS",
    "DEFAULT_BETWEEN_SUBJECT_SD",
    "Trial",
    "default_effects",
    "synthesize_trial",
]

log = logging.getLogger(__name__)

DEFAULT_ARMS: Mapping[str, int] = {"Placebo": 10, "0.15 mg": 10, "0.3 mg": 10, "0.45 mg": 10}
DEFAULT_VISITS: tuple[str, ...] = ("Baseline", "Week 4", "Week 12", "Week 24")
DEFAULT_DAYS: tuple[int, ...] = (1, 29, 85, 169)
#: Ratio to placebo at the last visit on the top dose (iberdomide 0.45 mg, week 24).
TOP_DOSE_EFFECTS: Mapping[str, float] = {"B cells": 1 - 0.583, "pDC": 1 - 0.739, "Tregs": 1 + 1.049}
TOP_DOSE_MG = 0.45
#: Lognormal log-SD of the between-subject factor per population (others: 0.2 via "Live").
DEFAULT_BETWEEN_SUBJECT_SD: Mapping[str, float] = {
    "Live": 0.2, "Lymphocytes": 0.25, "B cells": 0.4, "pDC": 0.45, "Tregs": 0.25, "NK": 0.3,
}  # fmt: skip
_DOSE = re.compile(r"(\d+(?:\.\d+)?)\s*mg", re.IGNORECASE)


def _dose_of(arm: str) -> float:
    if arm.strip().lower() in ("placebo", "pbo", "control"):
        return 0.0
    match = _DOSE.search(arm)
    if match is None:
        raise SynthError(f"cannot read a dose from arm {arm!r}; name arms like '0.3 mg' or 'Placebo', or pass effects")
    return float(match.group(1))


def _maybe_dose(arm: str) -> float:
    try:
        return _dose_of(arm)
    except SynthError:
        return float("nan")


def default_effects(arms: Sequence[str], *, top: Mapping[str, float] = TOP_DOSE_EFFECTS) -> dict[str, dict[str, float]]:
    """``{population: {arm: ratio at the last visit}}``: ``top ** (dose / 0.45 mg)`` per arm."""
    doses = {arm: _dose_of(arm) for arm in arms}
    return {pop: {arm: float(ratio ** (dose / TOP_DOSE_MG)) for arm, dose in doses.items()} for pop, ratio in top.items()}


@dataclass(frozen=True)
class Trial:
    """What :func:`synthesize_trial` wrote.

    Attributes
    ----------
    out_dir : Path
    samples : DataFrame
        The sample sheet (also ``samples.csv``).
    truth : DataFrame
        True counts per file and population (also ``truth.csv``).
    effects : dict
        ``{population: {arm: ratio at the last visit}}`` that was applied.
    """

    out_dir: Path
    samples: pd.DataFrame
    truth: pd.DataFrame
    effects: dict[str, dict[str, float]]


def _onset(day: float, last_day: float, tau: float) -> float:
    if day <= 1:
        return 0.0
    if tau <= 0:
        return 1.0
    return float((1 - np.exp(-(day - 1) / tau)) / (1 - np.exp(-(last_day - 1) / tau)))


def _write_one(job: dict[str, Any]) -> dict[str, int]:
    """Generate and write one file; returns its truth counts (runs in worker processes)."""
    sample = synthesize_sample(
        job["panel"], job["n_events"], job["seed"], job["shift"], job["frequencies"],
        beads_per_test=job["beads_per_test"], volume_ul=job["volume_ul"], name=job["sample"],
        keywords=job["keywords"],
    )  # fmt: skip
    sample.write(job["path"])
    return truth_counts(sample)


def synthesize_trial(
    out_dir: str | os.PathLike[str],
    *,
    arms: Mapping[str, int] = DEFAULT_ARMS,
    visits: Sequence[str] = DEFAULT_VISITS,
    days: Sequence[int] = DEFAULT_DAYS,
    effects: Mapping[str, Mapping[str, float]] | None = None,
    onset_days: float = 28.0,
    n_events: int = 20_000,
    seed: int = 0,
    panel: str | Sequence[str] = "lupus_pd",
    between_subject_sd: Mapping[str, float] = DEFAULT_BETWEEN_SUBJECT_SD,
    within_subject_sd: float = 0.12,
    drift: float = 0.5,
    sites: int = 3,
    beads_per_test: float = 50_000.0,
    volume_ul: float = 50.0,
    workers: int | None = None,
) -> Trial:
    """Simulate a trial and write its FCS files, sample sheet and truth to ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Created if missing; existing files of the same names are replaced.
    arms : mapping of arm name to number of subjects
        Arm names carry the dose (``"0.3 mg"``) unless ``effects`` is given; ``"Placebo"`` is dose 0.
    visits, days : sequences of equal length
        Visit labels and study days; the first visit is baseline (no effect yet).
    effects : mapping, optional
        ``{population: {arm: ratio to placebo at the last visit}}`` (arms left out: 1).
        Default :func:`default_effects` (iberdomide-like).
    onset_days : float
        Time constant of the effect's exponential onset (0: full effect from the first post-baseline visit).
    n_events : int
        Events per file.
    seed : int
        Everything (subjects, visits, events, drift) follows from it.
    panel : str or sequence of str
        Staining panel of every file; with several, each visit is stained with
        every panel (one file per tube, named ``<subject>_<visit>_<panel>``, the
        sheet's ``panel`` column saying which), all tubes of a visit from the
        same blood.
    between_subject_sd : mapping of population to float
        Log-SD of each named population's between-subject factor (nested names compound).
    within_subject_sd : float
        Log-SD of the visit-to-visit factor, drawn per visit for each population of ``between_subject_sd``.
    drift : float
        Strength of each file's random instrument / staining drift (0: none; 1: typical day-to-day).
    sites : int
        Subjects are assigned to ``Site 1..sites`` in turn.
    beads_per_test, volume_ul : float
        Counting beads per tube (0: none) and blood volume stained, written to the sample sheet.
    workers : int, optional
        Threads generating and writing files (default: number of CPUs + 1, at most 4).
        The output does not depend on it: every file has its own seed.

    Returns
    -------
    Trial
    """
    specs = [get_panel(p) for p in ([panel] if isinstance(panel, str) else panel)]
    if not specs or len({s.name for s in specs}) != len(specs):
        raise SynthError(f"give one or more different panels, not {panel!r}")
    visits, days = tuple(visits), tuple(int(d) for d in days)
    if not visits or len(visits) != len(days):
        raise SynthError(f"visits ({len(visits)}) and days ({len(days)}) must be non-empty and of equal length")
    if list(days) != sorted(days) or len(set(visits)) != len(visits):
        raise SynthError("visit days must increase and visit names be unique")
    if not arms or any(int(n) < 1 for n in arms.values()):
        raise SynthError("every arm needs at least one subject")
    effects = {p: dict(v) for p, v in (effects if effects is not None else default_effects(list(arms))).items()}
    for pop, by_arm in effects.items():
        leaves_of(pop)  # validates the name
        unknown = set(by_arm) - set(arms)
        if unknown:
            raise SynthError(f"effects for {pop!r} name arms {sorted(unknown)} not in the trial ({', '.join(arms)})")
    for pop in between_subject_sd:
        leaves_of(pop)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    root = np.random.SeedSequence(seed)
    subject_seq, file_seq = root.spawn(2)
    rng = np.random.default_rng(subject_seq)
    codes = [re.sub(r"[^A-Za-z0-9]+", "", v.replace("Week ", "W").replace("Baseline", "BL")) or f"V{i + 1}"
             for i, v in enumerate(visits)]  # fmt: skip
    if len(set(codes)) != len(codes):  # file names must stay unique
        codes = [f"V{i + 1}" for i in range(len(visits))]
    n_files = sum(int(n) for n in arms.values()) * len(visits) * len(specs)
    file_seeds = file_seq.spawn(n_files)

    jobs: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    concentrations: list[dict[str, Any]] = []
    subject_no = 0
    for arm, n_subjects in arms.items():
        for _ in range(int(n_subjects)):
            subject_no += 1
            subject = f"S{subject_no:03d}"
            site = f"Site {(subject_no - 1) % max(1, sites) + 1}"
            between = {p: float(np.exp(rng.normal(0.0, sd))) for p, sd in between_subject_sd.items()}
            for visit, code, day in zip(visits, codes, days, strict=True):
                within = {p: float(np.exp(rng.normal(0.0, within_subject_sd))) for p in between_subject_sd}
                applied = {p: float(by_arm.get(arm, 1.0)) ** _onset(day, days[-1], onset_days)
                           for p, by_arm in effects.items()}  # fmt: skip
                frequencies: dict[str, float] = {}
                for part in (between, within, applied):
                    for p, f in part.items():
                        frequencies[p] = frequencies.get(p, 1.0) * f
                per_ul = baseline_concentrations(frequencies)
                for spec in specs:
                    name = f"{subject}_{code}" + (f"_{spec.name}" if len(specs) > 1 else "")
                    event_seq, shift_seq = file_seeds[len(jobs)].spawn(2)
                    file_rng = np.random.default_rng(shift_seq)
                    shift = Shift.random(spec, file_rng, strength=drift) if drift > 0 else Shift()
                    wbc = float(per_ul.sum()) * float(np.exp(file_rng.normal(0.0, 0.03)))  # analyser error
                    rows.append({
                        "file": f"{name}.fcs", "sample": name, "subject": subject, "arm": arm,
                        "dose_mg": _maybe_dose(arm),
                        "visit": visit, "day": day, "site": site, "panel": spec.name, "volume_ul": volume_ul,
                        "beads_per_test": beads_per_test, "wbc_per_ul": round(wbc),
                    })  # fmt: skip
                    concentrations.append({"per_ul": per_ul, "applied": applied})
                    jobs.append({
                        "panel": spec.name, "n_events": int(n_events), "shift": shift, "frequencies": frequencies,
                        # an int seed, so the file's CYTOGATE_SYNTH_SEED keyword reproduces it
                        "seed": int(event_seq.generate_state(1, np.uint64)[0] >> np.uint64(1)),
                        "beads_per_test": beads_per_test, "volume_ul": volume_ul, "sample": name,
                        "path": str(out / f"{name}.fcs"),
                        "keywords": {"SUBJECT": subject, "ARM": arm, "VISIT": visit, "STUDY_DAY": str(day),
                                     "SITE": site},
                    })  # fmt: skip

    # Threads suffice: numpy's generators and ufuncs release the GIL on large arrays, and
    # the writer waits on the disk (fsync) most of the time.
    workers = max(1, int(workers if workers is not None else min(4, (os.cpu_count() or 1) + 1)))
    log.info("writing %d files of %d events to %s with %d thread(s)", n_files, n_events, out, workers)
    if workers > 1 and n_files > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            counts = list(pool.map(_write_one, jobs))
    else:
        counts = [_write_one(job) for job in jobs]

    samples = pd.DataFrame(rows)
    truth_rows = []
    for row, conc, file_counts in zip(rows, concentrations, counts, strict=True):
        for pop, count in file_counts.items():
            node = TRUTH[pop]
            in_blood = node.labels
            in_ul = float(sum(c for c, leaf in zip(conc["per_ul"], LEAF_NAMES, strict=True) if leaf in in_blood))
            if not in_blood & set(LEAF_NAMES):  # beads, debris: not blood cells
                in_ul = float("nan")
            effect = float(np.prod([f for p, f in conc["applied"].items() if _nested(pop, p)]))
            truth_rows.append({
                "file": row["file"], "sample": row["sample"], "subject": row["subject"], "arm": row["arm"],
                "visit": row["visit"], "day": row["day"], "population": pop, "path": node.path,
                "count": count, "per_ul": in_ul, "effect": effect,
            })  # fmt: skip
    truth = pd.DataFrame(truth_rows)
    write_csv(out / "samples.csv", samples)
    write_csv(out / "truth.csv", truth)
    design = {
        "schema": "cytogate-synth-trial/1", "cytogate": __version__, "seed": seed,
        "panel": specs[0].name if len(specs) == 1 else [s.name for s in specs],
        "arms": dict(arms), "visits": list(visits), "days": list(days), "effects": effects,
        "onset_days": onset_days, "n_events": n_events, "between_subject_sd": dict(between_subject_sd),
        "within_subject_sd": within_subject_sd, "drift": drift, "beads_per_test": beads_per_test,
        "volume_ul": volume_ul,
    }  # fmt: skip
    write_text(out / "trial.json", json.dumps(design, indent=2) + "\n")
    return Trial(out, samples, truth, {k: dict(v) for k, v in effects.items()})


def _nested(population: str, effect_population: str) -> bool:
    """True when every leaf of ``population`` lies inside ``effect_population`` (so its effect applies fully)."""
    inner = TRUTH[population].labels & set(LEAF_NAMES)
    return bool(inner) and inner <= leaves_of(effect_population)
