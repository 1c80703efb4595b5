"""The cell populations of the synthetic blood sample and its truth hierarchy.

Population model
----------------
A tube of lysed whole blood, stained and acquired, is a mixture of event
kinds.  Each *leaf* (:data:`LEAVES`) is a cell type with

* a blood concentration (cells/µL) — the relative frequencies of a sample
  follow from these, and trials change them multiplicatively;
* a scatter location (median FSC-A and SSC-A, lognormal spread);
* a marker expression profile: for every marker the median of the *specific*
  stain signal in compensated linear units (0 = the cell does not carry the
  antigen) and its lognormal spread.

Beside the leukocytes, a sample holds ``Debris`` (small, CD45−, a broad
viability-dye signal), ``Doublet`` events (two cells passing together: FSC-A
and fluorescence add up, FSC-H does not, so doublets lie off the FSC-A vs
FSC-H diagonal), ``Dead cell`` events (leukocytes of any kind with smaller
FSC, larger SSC, dimmer markers and a bright Live/Dead signal) and, when
requested, counting ``Bead`` events (small, bright in every detector).

On the logicle display (T 262144, W 0.5, M 4.5) negatives sit at ≈0.11 (−0.1
to 0.33 including their spread, negative values included), dim stains
(500–1,500) at 0.38–0.50, positive ones (3,000–10,000) at 0.57–0.68 and
bright ones (≥ 20,000) above 0.75; a threshold near 0.45–0.5 (≈ 1,000–1,500
linear) separates negative from positive for every marker of the tables.

Frequencies (baseline, cells/µL; a healthy-adult-like differential in the
middle of the usual reference intervals: WBC ≈ 6,100/µL, neutrophils 59%,
lymphocytes 30%, monocytes 7.4%, eosinophils 2.5%, basophils 0.7%):

* T cells 1,300 (72% of lymphocytes): CD4 800, CD8 420, CD4−CD8− 80;
  CD4 = conventional naive 41%, central memory (CM) 30%, effector memory
  (EM) 17.5%, TEMRA 4%, and Tregs 7% (CD25hi CD127lo, the usual 5–8% of CD4
  T cells; 30% of them naive, 70% memory phenotype);
  CD8 = naive 40%, CM 11%, EM 25%, TEMRA 24%.
* B cells 230 (13%): naive 62% (incl. the 5% that are CD268/BAFF-R low),
  transitional 5%, unswitched memory 11%, switched memory 20%, plasmablasts
  2.6%; CD268 (BAFF-R) is on ≈ 92% of B cells (not on plasmablasts).
* NK 280 (15%): CD56bright CD16− 10%, CD56dim CD16+ 90%.
* Monocytes 450: classical (CD14++ CD16−) 84%, intermediate (CD14++ CD16+)
  6%, non-classical (CD14dim CD16++) 10%.
* pDC 12/µL = 0.2% of leukocytes (reported 0.1–0.5%); mDC 25/µL (0.4%).

Truth hierarchy
---------------
:data:`TRUTH` names the populations a gating strategy is expected to find,
each as a path and a set of leaves.  Paths follow the usual gating order
(debris exclusion, singlets, live cells).  In cell terms:

``Cells``       every event that is not debris or a bead (doublets and dead cells included).
``Singlets``    Cells minus doublets.
``Live``        Singlets minus dead cells: all live single leukocytes.
``Leukocytes``  the same events as Live (every live single cell is a CD45+ leukocyte).
``Lymphocytes`` live single cells in the lymphocyte scatter cluster: T, B, NK cells,
                pDC, mDC and basophils.
``Monocytes``   live single classical + intermediate + non-classical monocytes.
``Granulocytes`` live single neutrophils + eosinophils.
``T cells``     live single CD3+ cells (all T leaves incl. CD4−CD8− T).
``CD4 T``       CD3+ CD4+ (conventional and regulatory); ``CD8 T`` CD3+ CD8+.
``CD4 Naive`` … ``CD8 TEMRA``  by CCR7 / CD45RA: naive CCR7+CD45RA+, CM CCR7+CD45RA−,
                EM CCR7−CD45RA−, TEMRA CCR7−CD45RA+; CD4 subsets include the Tregs of
                that phenotype (naive Tregs are CCR7+CD45RA+, memory Tregs CCR7+CD45RA−).
``Tregs``       CD4+ CD25hi CD127lo.
``B cells``     live single CD19+ cells incl. plasmablasts (CD19 lower, CD20−).
``CD268+ B``    B cells carrying BAFF-R: B cells minus plasmablasts and CD268-low naive B.
``Naive B``     IgD+ CD27−, not transitional; ``Transitional B`` IgD+ CD27− CD24hi CD38hi;
                ``Memory B`` CD27+ (switched IgD− and unswitched IgD+); ``Plasmablasts``
                CD27hi CD38hi CD20−.
``NK``          CD3− CD19− CD14− CD56+, split ``CD56bright NK`` and ``CD56dim NK``.
``pDC``         Lin− (CD3− CD19−) HLA-DR+ CD123hi CD303+.  ``mDC`` Lin− HLA-DR+ CD11c+ CD123−.
``Basophils``   Lin− HLA-DR− CD123hi.
Dead cells, doublets and debris belong to no population below ``Cells`` /
``Singlets`` / ``Live`` respectively, even where their markers look alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import SynthError

__all__ = [
    "Leaf",
    "LEAVES",
    "LEAF_NAMES",
    "CATEGORIES",
    "TruthNode",
    "TRUTH",
    "LIN_COCKTAIL",
    "leaves_of",
    "baseline_concentrations",
]

#: Antibodies of the one-colour lineage cocktail ``Lin``.
LIN_COCKTAIL = ("CD3", "CD14", "CD16", "CD19", "CD20", "CD56")
_DEFAULT_SPREAD = 0.35  # lognormal SD of a stain within one population


@dataclass(frozen=True)
class Leaf:
    """One kind of event in the mixture.

    Parameters
    ----------
    name : str
        Label written to the truth labels.
    per_ul : float
        Baseline blood concentration, cells/µL (0 for non-cells).
    fsc, ssc : float
        Median FSC-A and SSC-A (linear, 0–262143).
    autofluorescence : float
        Median cell autofluorescence in violet detectors (other lasers scale it down).
    profile : mapping of marker to float
        Median specific signal per marker; absent markers are 0 (antigen not carried).
    spread : mapping of marker to float
        Lognormal SD per marker where it differs from 0.35.
    scatter_spread : (float, float)
        Lognormal SD of FSC-A and SSC-A.
    """

    name: str
    per_ul: float
    fsc: float
    ssc: float
    autofluorescence: float
    profile: Mapping[str, float]
    spread: Mapping[str, float] = field(default_factory=dict)
    scatter_spread: tuple[float, float] = (0.09, 0.18)

    def __post_init__(self) -> None:
        if self.per_ul < 0 or self.fsc <= 0 or self.ssc <= 0 or self.autofluorescence < 0:
            raise SynthError(f"population {self.name}: concentrations, scatter and autofluorescence must be ≥ 0")
        profile = dict(self.profile)
        if "Lin" not in profile:  # one colour carrying all cocktail antibodies
            profile["Lin"] = sum(profile.get(m, 0.0) for m in LIN_COCKTAIL)
        object.__setattr__(self, "profile", MappingProxyType(profile))
        object.__setattr__(self, "spread", MappingProxyType(dict(self.spread)))

    def level(self, marker: str) -> float:
        return float(self.profile.get(marker, 0.0))

    def sigma(self, marker: str) -> float:
        return float(self.spread.get(marker, _DEFAULT_SPREAD))


def _t(per_ul: float, **profile: float) -> Leaf:
    base = {"CD45": 20000.0, "CD3": 8000.0}
    return Leaf("", per_ul, 52000, 11000, 60, {**base, **profile})


def _named(name: str, leaf: Leaf, **changes: object) -> Leaf:
    fields = {**leaf.__dict__, "name": name, **changes}
    fields["profile"] = {k: v for k, v in fields["profile"].items() if k != "Lin"}
    return Leaf(**fields)


_CD4 = {"CD4": 6000.0}
_CD8 = {"CD8": 12000.0}
_B = {"CD45": 15000.0, "CD19": 6000.0, "CD20": 15000.0, "HLA-DR": 15000.0, "CD45RA": 8000.0, "CCR7": 2000.0,
      "CD268": 4000.0}  # fmt: skip
_LYMPH_B: dict[str, Any] = dict(fsc=50000, ssc=10000, autofluorescence=60)
_MONO: dict[str, Any] = dict(fsc=92000, ssc=40000, autofluorescence=150, scatter_spread=(0.1, 0.2))

LEAVES: tuple[Leaf, ...] = (
    # --- T cells -----------------------------------------------------------------------
    _named("CD4 naive Tconv", _t(330, **_CD4, CD45RA=6000, CCR7=3000, CD27=6000, CD127=3500, CD38=2000)),
    _named("CD4 CM Tconv", _t(240, **_CD4, CCR7=3000, CD27=6000, CD127=3500, CD25=500), spread={"CD25": 0.5}),
    _named("CD4 EM Tconv", _t(140, **_CD4, CD27=2500, CD127=2500, CD25=300), spread={"CD27": 0.6, "CD25": 0.5}),
    _named("CD4 TEMRA Tconv", _t(34, **_CD4, CD45RA=5000, CD127=1500)),
    _named("Naive Treg", _t(17, **_CD4, CD45RA=4000, CCR7=3000, CD25=7000, CD127=300, CD27=6000),
           spread={"CD127": 0.5}),  # fmt: skip
    _named("Memory Treg", _t(39, **_CD4, CCR7=2500, CD25=10000, CD127=300, CD27=5000), spread={"CD127": 0.5}),
    _named("CD8 naive", _t(170, **_CD8, CD45RA=6000, CCR7=3000, CD27=6000, CD127=3000, CD38=2000)),
    _named("CD8 CM", _t(45, **_CD8, CCR7=3000, CD27=6000, CD127=3000)),
    _named("CD8 EM", _t(105, **_CD8, CD27=2500, CD127=1500), spread={"CD27": 0.6}),
    _named("CD8 TEMRA", _t(100, **_CD8, CD45RA=5000, CD127=500), spread={"CD127": 0.5}),
    _named("CD4-CD8- T", _t(80, CD3=10000, CD45RA=3000, CD127=1500)),
    # --- B cells -----------------------------------------------------------------------
    Leaf("Naive B", 142 - 12, **_LYMPH_B, profile={**_B, "IgD": 8000, "CD24": 2000, "CD38": 1500}),
    Leaf("CD268lo naive B", 12, **_LYMPH_B, profile={**_B, "IgD": 8000, "CD24": 2000, "CD38": 1500, "CD268": 150},
         spread={"CD268": 0.5}),  # fmt: skip
    Leaf("Transitional B", 12, **_LYMPH_B, profile={**_B, "IgD": 10000, "CD24": 12000, "CD38": 10000}),
    Leaf("Unswitched memory B", 25, **_LYMPH_B, profile={**_B, "IgD": 6000, "CD27": 5000, "CD24": 8000, "CD38": 600,
                                                         "CD11c": 500}),  # fmt: skip
    Leaf("Switched memory B", 45, **_LYMPH_B, profile={**_B, "CD27": 5000, "CD24": 8000, "CD38": 600, "CD11c": 500}),
    Leaf("Plasmablasts", 6, 62000, 14000, 80,
         {"CD45": 10000, "CD19": 3000, "CD27": 25000, "CD38": 40000, "HLA-DR": 5000, "CD45RA": 2000},
         spread={"CD19": 0.3}),  # fmt: skip
    # --- NK cells ----------------------------------------------------------------------
    Leaf("CD56bright NK", 28, 56000, 14000, 60,
         {"CD45": 15000, "CD56": 25000, "CD16": 400, "CD127": 2000, "CD45RA": 2000, "CD38": 5000, "CD11c": 1000},
         spread={"CD56": 0.3, "CD16": 0.6}),  # fmt: skip
    Leaf("CD56dim NK", 252, 56000, 14000, 60,
         {"CD45": 15000, "CD56": 4000, "CD16": 15000, "CD45RA": 5000, "CD38": 6000, "CD11c": 1500}),
    # --- dendritic cells and basophils ---------------------------------------------------
    Leaf("pDC", 12, 60000, 13000, 70,
         {"CD45": 8000, "HLA-DR": 8000, "CD123": 30000, "CD303": 12000, "CD4": 1500, "CD45RA": 4000, "CD38": 8000}),
    Leaf("mDC", 25, 66000, 17000, 90,
         {"CD45": 10000, "HLA-DR": 20000, "CD11c": 20000, "CD123": 500, "CD4": 1000},
         spread={"CD123": 0.6}),  # fmt: skip
    Leaf("Basophils", 40, 58000, 16000, 80,
         {"CD45": 4000, "CD123": 25000, "CD25": 1000, "CD38": 5000, "CD11c": 800}),
    # --- monocytes -----------------------------------------------------------------------
    Leaf("Classical monocytes", 380, **_MONO,
         profile={"CD45": 12000, "CD14": 25000, "HLA-DR": 15000, "CD11c": 12000, "CD4": 1500, "CD123": 1500,
                  "CD38": 5000},
         spread={"CD123": 0.5}),  # fmt: skip
    Leaf("Intermediate monocytes", 27, **_MONO,
         profile={"CD45": 12000, "CD14": 20000, "CD16": 5000, "HLA-DR": 30000, "CD11c": 15000, "CD4": 1500,
                  "CD123": 1000}),  # fmt: skip
    Leaf("Non-classical monocytes", 45, 86000, 32000, 150,
         {"CD45": 12000, "CD14": 1500, "CD16": 15000, "HLA-DR": 12000, "CD11c": 18000, "CD4": 1000, "CD123": 500},
         spread={"CD14": 0.5, "CD123": 0.6}, scatter_spread=(0.1, 0.2)),  # fmt: skip
    # --- granulocytes --------------------------------------------------------------------
    Leaf("Neutrophils", 3600, 105000, 115000, 200,
         {"CD45": 4000, "CD16": 40000, "CD14": 1200, "CD11c": 3000, "CD24": 10000, "CD38": 1500},
         scatter_spread=(0.1, 0.2)),  # fmt: skip
    Leaf("Eosinophils", 150, 100000, 170000, 400, {"CD45": 7000, "CD24": 5000, "CD123": 600},
         scatter_spread=(0.1, 0.15)),  # fmt: skip
)

# Event kinds that are not live single leukocytes (generated in cytogate.synth.generate).
DEBRIS = Leaf("Debris", 0, 14000, 4000, 30, {"Live/Dead": 1000}, spread={"Live/Dead": 1.0},
              scatter_spread=(0.45, 0.8))  # fmt: skip
BEAD = Leaf("Bead", 0, 20000, 60000, 0, {}, scatter_spread=(0.05, 0.05))
BEAD_LEVEL = 50000.0
DEAD_LIVE_DEAD = 20000.0

LEAF_NAMES: tuple[str, ...] = tuple(leaf.name for leaf in LEAVES)
#: Every label a synthetic event can carry, in code order.
CATEGORIES: tuple[str, ...] = (*LEAF_NAMES, "Dead cell", "Doublet", "Debris", "Bead")


@dataclass(frozen=True)
class TruthNode:
    """A truth population: its gating path and the event labels it contains."""

    name: str
    path: str
    labels: frozenset[str]
    meaning: str = ""

    @property
    def parent(self) -> str:
        return self.path.rsplit("/", 1)[0] or "/"


def _select(*prefixes: str, exact: tuple[str, ...] = ()) -> frozenset[str]:
    out = {n for n in LEAF_NAMES if any(n.startswith(p) for p in prefixes)} | set(exact)
    unknown = set(exact) - set(CATEGORIES)
    if unknown:  # a typo here would silently empty a truth population
        raise SynthError(f"truth definition names unknown labels {sorted(unknown)}")
    return frozenset(out)


_LIVE = frozenset(LEAF_NAMES)
_T_LEAVES = _select("CD4 ", "CD8 ", "CD4-CD8- T", "Naive Treg", "Memory Treg")
_TREG = _select(exact=("Naive Treg", "Memory Treg"))
_CD4_LEAVES = _select("CD4 naive", "CD4 CM", "CD4 EM", "CD4 TEMRA") | _TREG
_CD8_LEAVES = _select("CD8 ")
_B_LEAVES = _select(exact=("Naive B", "CD268lo naive B", "Transitional B", "Unswitched memory B",
                           "Switched memory B", "Plasmablasts"))  # fmt: skip
_NK = _select(exact=("CD56bright NK", "CD56dim NK"))
_MONOS = _select(exact=("Classical monocytes", "Intermediate monocytes", "Non-classical monocytes"))
_GRAN = _select(exact=("Neutrophils", "Eosinophils"))
_LYMPH = _T_LEAVES | _B_LEAVES | _NK | _select(exact=("pDC", "mDC", "Basophils"))

_L = "/Cells/Singlets/Live"
_Y = f"{_L}/Lymphocytes"
_nodes = [
    TruthNode("Beads", "/Beads", frozenset({"Bead"}), "counting beads"),
    TruthNode("Debris", "/Debris", frozenset({"Debris"}), "debris (small, CD45−)"),
    TruthNode("Cells", "/Cells", frozenset(CATEGORIES) - {"Debris", "Bead"}, "all cells incl. doublets and dead"),
    TruthNode("Singlets", "/Cells/Singlets", frozenset(CATEGORIES) - {"Debris", "Bead", "Doublet"}, "single cells"),
    TruthNode("Live", _L, _LIVE, "live single leukocytes"),
    TruthNode("Leukocytes", f"{_L}/Leukocytes", _LIVE, "CD45+ live single cells (= Live)"),
    TruthNode("Granulocytes", f"{_L}/Granulocytes", _GRAN, "neutrophils and eosinophils"),
    TruthNode("Neutrophils", f"{_L}/Granulocytes/Neutrophils", _select(exact=("Neutrophils",))),
    TruthNode("Eosinophils", f"{_L}/Granulocytes/Eosinophils", _select(exact=("Eosinophils",))),
    TruthNode("Monocytes", f"{_L}/Monocytes", _MONOS, "CD14+ and/or CD16+ HLA-DR+ monocytes"),
    TruthNode("Classical monocytes", f"{_L}/Monocytes/Classical monocytes", _select(exact=("Classical monocytes",))),
    TruthNode("Intermediate monocytes", f"{_L}/Monocytes/Intermediate monocytes",
              _select(exact=("Intermediate monocytes",))),  # fmt: skip
    TruthNode("Non-classical monocytes", f"{_L}/Monocytes/Non-classical monocytes",
              _select(exact=("Non-classical monocytes",))),  # fmt: skip
    TruthNode("Lymphocytes", _Y, _LYMPH, "lymphocyte scatter: T, B, NK, pDC, mDC, basophils"),
    TruthNode("T cells", f"{_Y}/T cells", _T_LEAVES, "CD3+"),
    TruthNode("CD4 T", f"{_Y}/T cells/CD4 T", _CD4_LEAVES, "CD3+ CD4+ CD8−"),
    TruthNode("CD4 Naive", f"{_Y}/T cells/CD4 T/CD4 Naive", _select(exact=("CD4 naive Tconv", "Naive Treg"))),
    TruthNode("CD4 CM", f"{_Y}/T cells/CD4 T/CD4 CM", _select(exact=("CD4 CM Tconv", "Memory Treg"))),
    TruthNode("CD4 EM", f"{_Y}/T cells/CD4 T/CD4 EM", _select(exact=("CD4 EM Tconv",))),
    TruthNode("CD4 TEMRA", f"{_Y}/T cells/CD4 T/CD4 TEMRA", _select(exact=("CD4 TEMRA Tconv",))),
    TruthNode("Tregs", f"{_Y}/T cells/CD4 T/Tregs", _TREG, "CD25hi CD127lo"),
    TruthNode("CD8 T", f"{_Y}/T cells/CD8 T", _CD8_LEAVES, "CD3+ CD8+ CD4−"),
    TruthNode("CD8 Naive", f"{_Y}/T cells/CD8 T/CD8 Naive", _select(exact=("CD8 naive",))),
    TruthNode("CD8 CM", f"{_Y}/T cells/CD8 T/CD8 CM", _select(exact=("CD8 CM",))),
    TruthNode("CD8 EM", f"{_Y}/T cells/CD8 T/CD8 EM", _select(exact=("CD8 EM",))),
    TruthNode("CD8 TEMRA", f"{_Y}/T cells/CD8 T/CD8 TEMRA", _select(exact=("CD8 TEMRA",))),
    TruthNode("B cells", f"{_Y}/B cells", _B_LEAVES, "CD19+ (CD3−)"),
    TruthNode("CD268+ B", f"{_Y}/B cells/CD268+ B", _B_LEAVES - {"Plasmablasts", "CD268lo naive B"}, "BAFF-R+"),
    TruthNode("Naive B", f"{_Y}/B cells/Naive B", _select(exact=("Naive B", "CD268lo naive B"))),
    TruthNode("Transitional B", f"{_Y}/B cells/Transitional B", _select(exact=("Transitional B",))),
    TruthNode("Memory B", f"{_Y}/B cells/Memory B", _select(exact=("Unswitched memory B", "Switched memory B"))),
    TruthNode("Switched memory B", f"{_Y}/B cells/Memory B/Switched memory B", _select(exact=("Switched memory B",))),
    TruthNode("Unswitched memory B", f"{_Y}/B cells/Memory B/Unswitched memory B",
              _select(exact=("Unswitched memory B",))),  # fmt: skip
    TruthNode("Plasmablasts", f"{_Y}/B cells/Plasmablasts", _select(exact=("Plasmablasts",))),
    TruthNode("NK", f"{_Y}/NK", _NK, "CD3− CD19− CD56+"),
    TruthNode("CD56bright NK", f"{_Y}/NK/CD56bright NK", _select(exact=("CD56bright NK",))),
    TruthNode("CD56dim NK", f"{_Y}/NK/CD56dim NK", _select(exact=("CD56dim NK",))),
    TruthNode("pDC", f"{_Y}/pDC", _select(exact=("pDC",)), "Lin− HLA-DR+ CD123+ CD303+"),
    TruthNode("mDC", f"{_Y}/mDC", _select(exact=("mDC",)), "Lin− HLA-DR+ CD11c+"),
    TruthNode("Basophils", f"{_Y}/Basophils", _select(exact=("Basophils",)), "Lin− HLA-DR− CD123hi"),
]
#: Truth populations by name.
TRUTH: Mapping[str, TruthNode] = MappingProxyType({node.name: node for node in _nodes})


def leaves_of(name: str) -> frozenset[str]:
    """Labels contained in truth population or leaf ``name``; SynthError when unknown."""
    if name in TRUTH:
        return TRUTH[name].labels
    if name in CATEGORIES:
        return frozenset({name})
    raise SynthError(
        f"unknown population {name!r}; use a truth population ({', '.join(TRUTH)}) or a leaf ({', '.join(LEAF_NAMES)})"
    )


def baseline_concentrations(multipliers: Mapping[str, float] | None = None) -> np.ndarray:
    """``(n_leaves,)`` concentrations in cells/µL, each scaled by every multiplier naming it.

    Parameters
    ----------
    multipliers : mapping of population name to float, optional
        ``{"B cells": 0.4, "Tregs": 2.0}`` multiplies every leaf of each named
        truth population (or leaf).  Multipliers of nested names compound.
    """
    conc = np.array([leaf.per_ul for leaf in LEAVES], dtype=np.float64)
    for name, factor in (multipliers or {}).items():
        factor = float(factor)
        if not np.isfinite(factor) or factor < 0:
            raise SynthError(f"frequency multiplier for {name!r} must be finite and ≥ 0, got {factor}")
        labels = leaves_of(name)
        mask = np.array([n in labels for n in LEAF_NAMES])
        if not mask.any():
            raise SynthError(f"population {name!r} contains no leukocytes whose frequency could change")
        conc[mask] *= factor
    return conc
