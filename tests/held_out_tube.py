"""A held-out instrument: a 10-colour DC / monocyte / NK tube written without ``cytogate.synth``.

The ready-made strategies were shaped on the project's synthetic cytometer.  This
module models another lab's tube from scratch, sharing no parameter with
:mod:`cytogate.synth`: an LSRFortessa-style file with channels named by
fluorochrome (``FITC-A``, ``BV421-A``), FSC-A and SSC-A only (no FSC-H, no widths),
other scatter and detector gains, no CD45 and no CD303, the viability dye written
``Zombie NIR`` and HLA-DR written ``HLADR``, photon-counting noise that spreads
compensated negatives, and cells the pDC gate must keep out: CD123-intermediate
myeloid DCs and CD16+ DCs in the lymphocyte scatter.

Every event carries its cell type, so the truth is the generating population, as an
independent gating tool would call it: dead cells, doublets and debris belong to no
cell population.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cytogate.compensation.matrix import Spillover

#: (channel, $PnS) in file order after FSC-A and SSC-A.
DETECTORS = (
    ("FITC-A", "CD3"), ("PE-A", "CD56"), ("PerCP-Cy5-5-A", "HLADR"), ("PE-Cy7-A", "CD19"),
    ("APC-A", "CD11c"), ("APC-Cy7-A", "Zombie NIR"), ("BV421-A", "CD123"), ("BV510-A", "CD14"),
    ("BV605-A", "CD16"), ("BV711-A", "CD20"),
)
MARKERS = tuple(m for _, m in DETECTORS)
_SPILL = {("FITC-A", "PE-A"): 0.21, ("PE-A", "PerCP-Cy5-5-A"): 0.06, ("PE-A", "PE-Cy7-A"): 0.02,
          ("PerCP-Cy5-5-A", "PE-Cy7-A"): 0.16, ("APC-A", "APC-Cy7-A"): 0.11, ("PE-Cy7-A", "APC-Cy7-A"): 0.03,
          ("APC-Cy7-A", "PE-Cy7-A"): 0.05, ("BV421-A", "BV510-A"): 0.24, ("BV510-A", "BV605-A"): 0.09,
          ("BV605-A", "BV711-A"): 0.13, ("BV421-A", "BV605-A"): 0.02}


@dataclass(frozen=True)
class Kind:
    """One cell type: share of leukocytes, scatter medians and lognormal SDs, stains (linear)."""

    name: str
    share: float
    fsc: float
    ssc: float
    stains: dict
    autofluorescence: float = 60.0
    spread: float = 0.4
    scatter_sd: tuple = (0.11, 0.2)


_L = dict(fsc=36000.0, ssc=15500.0)
KINDS = (
    Kind("T", 0.205, **_L, stains={"CD3": 5500}),
    Kind("B", 0.034, **_L, stains={"CD19": 4200, "CD20": 11000, "HLADR": 9000, "CD11c": 300}),
    Kind("NK bright", 0.005, 39000, 18000, {"CD56": 18000, "CD16": 250, "CD11c": 600}),
    Kind("NK dim", 0.040, 39000, 18500, {"CD56": 2800, "CD16": 11000, "CD11c": 900}),
    Kind("pDC", 0.0035, 42000, 17500, {"HLADR": 3200, "CD123": 12000}),
    Kind("mDC", 0.005, 46000, 21000, {"HLADR": 14000, "CD11c": 13000, "CD123": 2200}, spread=0.6),
    Kind("CD16+ DC", 0.003, 44000, 20000, {"HLADR": 7000, "CD16": 7500, "CD11c": 8000, "CD123": 3800}),
    Kind("Basophils", 0.006, 40000, 21000, {"CD123": 14000, "CD11c": 400}),
    Kind("Classical monocytes", 0.050, 68000, 47000, {"CD14": 19000, "HLADR": 9000, "CD11c": 7000,
                                                       "CD123": 1100}, autofluorescence=160),
    Kind("Intermediate monocytes", 0.004, 68000, 45000, {"CD14": 14000, "CD16": 4200, "HLADR": 19000,
                                                          "CD11c": 9000}, autofluorescence=160),
    Kind("Non-classical monocytes", 0.007, 64000, 38000, {"CD14": 700, "CD16": 11000, "HLADR": 7000,
                                                           "CD11c": 11000, "CD123": 700}, autofluorescence=150),
    Kind("Neutrophils", 0.60, 82000, 128000, {"CD16": 28000, "CD14": 500, "CD11c": 1800},
         autofluorescence=260, scatter_sd=(0.1, 0.17)),
    Kind("Eosinophils", 0.0375, 78000, 185000, {"CD123": 400}, autofluorescence=500, scatter_sd=(0.1, 0.12)),
)
NAMES = tuple(k.name for k in KINDS) + ("Dead", "Doublet", "Debris")
TRUTH = {
    "Lymphocytes": {"T", "B", "NK bright", "NK dim", "pDC", "mDC", "CD16+ DC", "Basophils"},
    "T cells": {"T"}, "B cells": {"B"}, "NK": {"NK bright", "NK dim"}, "pDC": {"pDC"},
    "Monocytes": {"Classical monocytes", "Intermediate monocytes", "Non-classical monocytes"},
}


# A B-cell tube of the same instrument: no CD45, no CD268, no FSC-H; the B-cell markers
# form a continuum more than clusters (memory B CD27 dim, transitional a CD24/CD38 shoulder).
B_DETECTORS = (
    ("FITC-A", "IgD"), ("PE-A", "CD24"), ("PerCP-Cy5-5-A", "CD19"), ("PE-Cy7-A", "CD27"), ("APC-A", "CD38"),
    ("APC-Cy7-A", "LIVE/DEAD Near-IR"), ("BV421-A", "CD3"), ("BV510-A", "CD20"), ("BV605-A", "CD10"),
    ("BV711-A", "CD14"),
)
_BL = dict(fsc=36000.0, ssc=15500.0)
_B = {"CD19": 4200, "CD20": 11000}
B_KINDS = (
    Kind("T", 0.21, **_BL, stains={"CD3": 5500, "CD38": 500}),
    Kind("NK", 0.045, 39000, 18500, {"CD38": 2500}),
    Kind("Naive B", 0.021, **_BL, stains={**_B, "IgD": 5000, "CD24": 1500, "CD38": 1100}),
    Kind("Transitional B", 0.0016, **_BL, stains={**_B, "IgD": 7000, "CD24": 6500, "CD38": 6000, "CD10": 2500}),
    Kind("Unswitched memory B", 0.0045, **_BL, stains={**_B, "IgD": 3000, "CD27": 2200, "CD24": 4500,
                                                       "CD38": 450}, spread=0.5),
    Kind("Switched memory B", 0.0065, **_BL, stains={**_B, "CD27": 2200, "CD24": 4500, "CD38": 450}, spread=0.5),
    Kind("Plasmablasts", 0.0008, 42000, 19000, {"CD19": 1800, "CD27": 16000, "CD38": 25000}),
    Kind("Classical monocytes", 0.06, 68000, 47000, {"CD14": 19000, "CD38": 1800}, autofluorescence=160),
    Kind("Neutrophils", 0.60, 82000, 128000, {"CD24": 7000, "CD10": 5000, "CD14": 500},
         autofluorescence=260, scatter_sd=(0.1, 0.17)),
    Kind("Eosinophils", 0.0375, 78000, 185000, {"CD24": 3500}, autofluorescence=500, scatter_sd=(0.1, 0.12)),
)
_B_SPILL = {("FITC-A", "PE-A"): 0.21, ("PE-A", "PerCP-Cy5-5-A"): 0.06, ("PE-A", "PE-Cy7-A"): 0.02,
            ("PerCP-Cy5-5-A", "PE-Cy7-A"): 0.16, ("APC-A", "APC-Cy7-A"): 0.11, ("PE-Cy7-A", "APC-Cy7-A"): 0.03,
            ("APC-Cy7-A", "PE-Cy7-A"): 0.05, ("BV421-A", "BV510-A"): 0.24, ("BV510-A", "BV605-A"): 0.09,
            ("BV605-A", "BV711-A"): 0.13}
_BCELLS = {"Naive B", "Transitional B", "Unswitched memory B", "Switched memory B", "Plasmablasts"}
B_TRUTH = {
    "Lymphocytes": {"T", "NK"} | _BCELLS, "T cells": {"T"}, "B cells": _BCELLS,
    "Memory B": {"Unswitched memory B", "Switched memory B"}, "Naive B": {"Naive B"},
    "Monocytes": {"Classical monocytes"},
}


def spillover(detectors=DETECTORS, spill=None) -> Spillover:
    channels = [c for c, _ in detectors]
    matrix = np.eye(len(channels))
    for (src, dst), value in (_SPILL if spill is None else spill).items():
        matrix[channels.index(src), channels.index(dst)] = value
    return Spillover(matrix, channels, source="held-out tube")


def b_tube(n_events: int = 150_000, seed: int = 2027):
    """The B-cell tube: ``(events, channels, markers, spillover, labels)``."""
    return tube(n_events, seed, kinds=B_KINDS, detectors=B_DETECTORS, spill=_B_SPILL, dye="LIVE/DEAD Near-IR")


def tube(n_events: int = 150_000, seed: int = 2026, *, kinds=KINDS, detectors=DETECTORS, spill=None,
         dye: str = "Zombie NIR") -> tuple[np.ndarray, list[str], list[str], Spillover, np.ndarray]:
    """``(events, channels, markers, spillover, labels)``: raw events as the instrument writes them."""
    markers = tuple(m for _, m in detectors)
    rng = np.random.default_rng(seed)
    n_debris, n_dead, n_doublet = int(0.05 * n_events), int(0.04 * n_events), int(0.025 * n_events)
    n_cells = n_events - n_debris - n_dead - n_doublet
    shares = np.array([k.share for k in kinds])
    codes = rng.choice(len(kinds), size=n_cells, p=shares / shares.sum())
    n_fl = len(detectors)
    fsc, ssc, signal = np.empty(n_cells), np.empty(n_cells), np.zeros((n_cells, n_fl))
    for i, kind in enumerate(kinds):
        idx = np.flatnonzero(codes == i)
        fsc[idx] = kind.fsc * np.exp(rng.normal(0, kind.scatter_sd[0], idx.size))
        ssc[idx] = kind.ssc * np.exp(rng.normal(0, kind.scatter_sd[1], idx.size))
        signal[idx] = kind.autofluorescence * np.exp(rng.normal(0, 0.3, (idx.size, 1)))
        for marker, level in kind.stains.items():
            signal[idx, markers.index(marker)] += level * np.exp(rng.normal(0, kind.spread, idx.size))
    dead_of = rng.integers(0, n_cells, n_dead)  # dead cells: smaller, granular, dim, dye-bright
    dead_fsc, dead_ssc = fsc[dead_of] * 0.65, ssc[dead_of] * 1.25
    dead_signal = signal[dead_of] * 0.5
    dead_signal[:, markers.index(dye)] += 9000 * np.exp(rng.normal(0, 0.5, n_dead))
    a, b = rng.integers(0, n_cells, (2, n_doublet))  # doublets: two cells at once
    debris_fsc = 9000 * np.exp(rng.normal(0, 0.5, n_debris))
    debris_ssc = 5000 * np.exp(rng.normal(0, 0.8, n_debris))
    debris_signal = 40 * np.exp(rng.normal(0, 0.5, (n_debris, n_fl)))
    debris_signal[:, markers.index(dye)] = 700 * np.exp(rng.normal(0, 1.0, n_debris))
    fsc = np.r_[fsc, dead_fsc, fsc[a] + fsc[b], debris_fsc]
    ssc = np.r_[ssc, dead_ssc, ssc[a] + ssc[b], debris_ssc]
    signal = np.r_[signal, dead_signal, signal[a] + signal[b], debris_signal]
    labels = np.r_[np.array([k.name for k in kinds])[codes], ["Dead"] * n_dead, ["Doublet"] * n_doublet,
                   ["Debris"] * n_debris]
    matrix = spillover(detectors, spill)
    raw = signal @ matrix.matrix
    raw += rng.normal(0, 1, raw.shape) * np.sqrt(12.0 * np.clip(raw, 0, None) + 35.0 ** 2)  # photons + electronics
    scatter = np.column_stack([fsc, ssc]) * np.exp(rng.normal(0, 0.02, (fsc.size, 2)))
    events = np.clip(np.column_stack([scatter, raw]), -1000, 262143).astype(np.float32)
    order = rng.permutation(events.shape[0])
    channels = ["FSC-A", "SSC-A", *(c for c, _ in detectors)]
    return events[order], channels, ["", "", *markers], matrix, labels[order]


def truth(labels: np.ndarray, table=TRUTH) -> dict[str, np.ndarray]:
    return {name: np.isin(labels, sorted(kinds)) for name, kinds in table.items()}
