"""Each way a data-driven gate fails on another instrument, gated by the ready-made strategies as shipped.

Synthetic samples with per-event truth, one per failure class: the true valley outside the
absolute bounds the strategies used to carry (side scatter x1.6 moves the lymphocyte /
monocyte valley above the old [0.72, 0.80]; CD268 stained at a quarter moves its valley below
the old [0.35, 0.55]), a one-mode marker (no memory B cells: CD27 has one mode in the B cells),
a scatter gain of 1.3, panels without FSC-H, without CD45 and without CD303, a CD45 conjugate
twenty times dimmer, CD45-dim basophils forming a mode of their own, CD45-negative events
in the scatter gates, and the phenotype stains (CD4, CD8, CCR7, CD123, CD11c, CD38, CD56, CD24, CD303) several times dimmer.  Every file
goes through ``cytogate run`` (exit 0, every fit in ``fits.parquet``) and through the library
for F1 against the truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cytogate
from cytogate.cli import main
from cytogate.fcs import Sample
from cytogate.synth import TRUTH, synthesize_sample, truth_membership

STRATEGIES = Path(cytogate.__file__).resolve().parent / "gating_strategies"
EVENTS = 100_000
LYMPH = "/Cells/Singlets/Live/Lymphocytes"

# (file stem, strategy, panel, shift, frequencies, dropped channels)
CASES = [
    ("ssc_gain_1_6", "lupus_pd.yaml", "lupus_pd", "ssc=1.6", None, ()),
    ("scatter_gain_1_3", "lupus_pd.yaml", "lupus_pd", "scatter=1.3", None, ()),
    ("no_fsch_cd45_cd303", "lupus_pd.yaml", "lupus_pd", None, None, ("FSC-H", "CD45", "CD303")),
    ("dc_no_fsch_cd45_cd303", "dendritic_cells.yaml", "dc", "random", None, ("FSC-H", "CD45", "CD303")),
    ("cd268_dim", "b_cells.yaml", "b_cell", "CD268=0.25", None, ()),
    ("no_memory_b", "b_cells.yaml", "b_cell", None, {"Memory B": 0.0}, ()),
    ("b_scatter_gain_1_3", "b_cells.yaml", "b_cell", "scatter=1.3", None, ()),
    ("nk_scatter_gain_1_3", "nk_monocytes.yaml", "nk_mono", "scatter=1.3", None, ()),
    ("cd45_dim", "lupus_pd.yaml", "lupus_pd", "CD45=0.05", None, ()),
    ("pbmc_basophil_mode", "dendritic_cells.yaml", "dc", None,
     {"Neutrophils": 0.0, "Eosinophils": 0.0, "Basophils": 8.0}, ()),
    ("t_subset_stains_dim", "lupus_pd.yaml", "lupus_pd", "CD4=0.15,CD8=0.15,CCR7=0.3", None, ()),
    ("cd123_dim", "dendritic_cells.yaml", "dc", "CD123=0.1", None, ()),
    ("cd11c_dim", "dendritic_cells.yaml", "dc", "CD11c=0.2", None, ()),
    ("cd38_dim", "b_cells.yaml", "b_cell", "CD38=0.3", None, ()),
    ("cd56_dim", "nk_monocytes.yaml", "nk_mono", "CD56=0.15", None, ()),
    ("cd24_dim", "b_cells.yaml", "b_cell", "CD24=0.15", None, ()),
    ("cd303_dim", "lupus_pd.yaml", "lupus_pd", "CD303=0.1", None, ()),
]


def _f1(gated: np.ndarray, truth: np.ndarray) -> float:
    denominator = int(gated.sum() + truth.sum())
    return 2.0 * int(np.sum(gated & truth)) / denominator if denominator else 1.0


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """Each case gated in the library, plus one ``cytogate run`` folder per strategy."""
    root = tmp_path_factory.mktemp("failure_classes")
    out: dict[str, dict] = {}
    for seed, (stem, strategy, panel, shift, frequencies, drop) in enumerate(CASES, start=40):
        synthetic = synthesize_sample(panel, EVENTS, seed=seed, shift=shift, frequencies=frequencies, drop=drop,
                                      name=stem)
        folder = root / strategy.removesuffix(".yaml")
        folder.mkdir(exist_ok=True)
        synthetic.write(folder / f"{stem}.fcs")
        sample = Sample.from_arrays(synthetic.events, synthetic.channels, markers=synthetic.markers,
                                    spillover=synthetic.spillover)
        result = cytogate.gate(cytogate.load_strategy(STRATEGIES / strategy), sample)
        out[stem] = {"synthetic": synthetic, "result": result, "strategy": strategy}
    runs = {}
    for strategy in sorted({c[1] for c in CASES}):
        folder = root / strategy.removesuffix(".yaml")
        run = root / f"run_{folder.name}"
        code = main(["run", str(STRATEGIES / strategy), str(folder), "--out", str(run), "--workers", "1",
                     "--no-progress", "--no-stats"])
        runs[strategy] = (code, run)
    return out, runs


def _scores(case, minimum=1000) -> dict[str, float]:
    result, synthetic = case["result"], case["synthetic"]
    return {name: _f1(result.masks[TRUTH[name].path], truth) for name, truth in truth_membership(synthetic).items()
            if TRUTH[name].path in result.masks and truth.sum() >= minimum}


def _fits(case) -> list[dict]:
    return [dict(f, population=p) for p, gate in case["result"].fitted.items() for f in gate.get("fits", [])]


def test_every_case_runs_as_shipped_with_every_fit_recorded(cases):
    gated, runs = cases
    for strategy, (code, run) in runs.items():
        assert code == 0, strategy
        fits = pd.read_parquet(run / "fits.parquet")
        for stem, case in gated.items():
            if case["strategy"] != strategy:
                continue
            rows = fits[fits["sample"] == stem]
            expected = {(f["population"], f["parameter"] or "threshold") for f in _fits(case) if "threshold" in f["params"]}
            recorded = {(r.population, r.parameter) for r in rows.itertuples() if r.status in ("fitted", "fallback")}
            assert expected and expected <= recorded, (stem, sorted(expected - recorded))


def test_the_true_valley_outside_the_old_bounds_is_found(cases):
    gated, _ = cases
    lymph = next(f for f in _fits(gated["ssc_gain_1_6"]) if f["population"] == LYMPH)
    assert lymph["status"] == "fitted" and lymph["method"] == "density_valley"
    assert lymph["params"]["threshold"] > 0.80  # above the bounds [0.72, 0.80] the strategies used to carry
    cd268 = next(f for f in _fits(gated["cd268_dim"]) if f["population"].endswith("/CD268+ B"))
    assert cd268["status"] == "fitted" and cd268["params"]["threshold"] < 0.35  # below the old [0.35, 0.55]
    for stem in ("ssc_gain_1_6", "cd268_dim"):
        low = {k: round(v, 3) for k, v in _scores(gated[stem]).items() if v < 0.95}
        assert not low, (stem, low)
    assert _scores(gated["cd268_dim"])["CD268+ B"] >= 0.95


def test_a_one_mode_marker_gets_a_tail_cut(cases):
    case = cases[0]["no_memory_b"]
    cd27 = [f for f in _fits(case) if f["parameter"].startswith("CD27")]
    assert cd27 and all(f["status"] == "fitted" and f["method"] == "tail" for f in cd27)
    assert all("density_valley" in f["reason"] for f in cd27)  # says why the valley was not used
    scores = _scores(case, minimum=50)
    for name in ("B cells", "Naive B", "Transitional B", "Plasmablasts"):
        assert scores[name] >= 0.95, (name, round(scores[name], 3))
    assert case["result"].masks[TRUTH["Memory B"].path].sum() < 0.01 * case["result"].masks[TRUTH["B cells"].path].sum()


@pytest.mark.parametrize("stem", ["scatter_gain_1_3", "b_scatter_gain_1_3", "nk_scatter_gain_1_3"])
def test_a_scatter_gain_of_1_3(cases, stem):
    case = cases[0][stem]
    scores = _scores(case)
    assert len(scores) >= 8
    low = {k: round(v, 3) for k, v in scores.items() if v < 0.95}
    assert not low, low
    assert not [f for f in _fits(case) if f["status"] == "fallback"]


@pytest.mark.parametrize("stem", ["no_fsch_cd45_cd303", "dc_no_fsch_cd45_cd303"])
def test_a_panel_without_fsc_h_cd45_or_cd303(cases, stem):
    gated, runs = cases
    case = gated[stem]
    skipped = {(s.population.rsplit("/", 1)[1], s.parameter) for s in case["result"].skipped}
    assert {("Singlets", "FSC-H"), ("Leukocytes", "CD45"), ("pDC", "CD303")} <= skipped
    scores = _scores(case)
    # without FSC-H doublets stay in: lymphocyte doublets sit in the monocyte scatter
    low = {k: round(v, 3) for k, v in scores.items() if v < (0.90 if k == "Monocytes" else 0.95)}
    assert not low, low
    assert _scores(case, minimum=50)["pDC"] >= 0.9
    fits = pd.read_parquet(runs[case["strategy"]][1] / "fits.parquet")
    rows = fits[(fits["sample"] == stem) & (fits["status"] == "skipped")]
    assert {"FSC-H", "CD45", "CD303"} <= set(rows["parameter"])



def test_a_dim_cd45_conjugate_keeps_every_leukocyte(cases):
    case = cases[0]["cd45_dim"]
    leukocytes = next(f for f in _fits(case) if f["population"].endswith("/Leukocytes"))
    assert leukocytes["status"] == "fitted"
    assert leukocytes["params"]["threshold"] < 0.2  # the cut of 0.4 the strategies used to carry kept 57%
    assert _scores(case)["Leukocytes"] >= 0.99


def test_cd45_dim_basophils_forming_their_own_mode_are_not_cut(cases):
    case = cases[0]["pbmc_basophil_mode"]
    result, truth = case["result"], truth_membership(case["synthetic"])
    leukocytes = result.masks[TRUTH["Leukocytes"].path]
    basophils = truth["Basophils"]
    assert basophils.sum() > 0.08 * truth["Leukocytes"].sum()
    assert np.sum(leukocytes & basophils) >= 0.99 * basophils.sum()
    assert _scores(case)["Leukocytes"] >= 0.99


@pytest.mark.parametrize("share", [0.02, 0.1, 0.3])
def test_cd45_negative_events_in_the_scatter_gates_are_removed(share):
    """Non-leukocytes of leukocyte scatter (e.g. a lavage's epithelial cells): CD45 as unstained events."""
    synthetic = synthesize_sample("lupus_pd", EVENTS, seed=60, shift="random")
    truth = truth_membership(synthetic)
    events = synthetic.events.copy()
    column = synthetic.markers.index("CD45")
    rng = np.random.default_rng(1)
    live, debris = np.flatnonzero(truth["Live"]), np.flatnonzero(~truth["Cells"])
    negative = rng.choice(live, int(share * live.size), replace=False)
    events[negative, column] = events[rng.choice(debris, negative.size), column]
    sample = Sample.from_arrays(events, synthetic.channels, markers=synthetic.markers,
                                spillover=synthetic.spillover)
    result = cytogate.gate(cytogate.load_strategy(STRATEGIES / "lupus_pd.yaml"), sample)
    expected = truth["Live"].copy()
    expected[negative] = False
    assert _f1(result.masks[TRUTH["Leukocytes"].path], expected) >= 0.995


def test_dim_phenotype_stains_move_the_subset_cuts_with_them(cases):
    """The CD4 / CD8 and CCR7 / CD45RA dividers and the CD123 cut are valleys of each file's data."""
    t_subsets = _scores(cases[0]["t_subset_stains_dim"])
    for name in ("CD4 T", "CD8 T", "CD4 Naive", "CD4 CM", "CD4 EM", "CD8 Naive", "CD8 EM", "CD8 TEMRA"):
        assert t_subsets[name] >= 0.97, (name, round(t_subsets[name], 3))  # 0.45 fixed: CD4 T 0.67
    dividers = [f for f in _fits(cases[0]["t_subset_stains_dim"]) if f["parameter"].startswith("divider.")]
    assert {f["parameter"] for f in dividers} == {"divider.CD4", "divider.CD8", "divider.CCR7", "divider.CD45RA"}
    assert all(f["status"] == "fitted" for f in dividers)
    dc = _scores(cases[0]["cd123_dim"], minimum=100)
    assert dc["pDC"] >= 0.95 and dc["Basophils"] >= 0.95, dc  # CD123 >= 0.6 fixed: 0.28 and 0.12


def test_dim_cd11c_and_cd38_move_the_dc_and_plasmablast_cuts(cases):
    dc = _scores(cases[0]["cd11c_dim"], minimum=100)
    assert dc["mDC"] >= 0.95 and dc["pDC"] >= 0.95, dc  # CD11c 0.55 fixed: mDC 0.93
    for seed in range(100, 106):  # where the CD11c valley is too shallow, its edge: never the fixed fallback
        synthetic = synthesize_sample("dc", EVENTS, seed=seed, shift="CD11c=0.2")
        sample = Sample.from_arrays(synthetic.events, synthetic.channels, markers=synthetic.markers,
                                    spillover=synthetic.spillover)
        result = cytogate.gate(cytogate.load_strategy(STRATEGIES / "dendritic_cells.yaml"), sample)
        truth = truth_membership(synthetic)
        assert _f1(result.masks[TRUTH["mDC"].path], truth["mDC"]) >= 0.95, seed
        cd11c = [f for f in result.fitted[TRUTH["mDC"].path]["fits"] if f["parameter"].startswith("CD11c")]
        assert cd11c and all(f["status"] == "fitted" for f in cd11c), seed
    b = _scores(cases[0]["cd38_dim"], minimum=50)
    for name in ("Plasmablasts", "Memory B", "Switched memory B", "Naive B"):
        assert b[name] >= 0.95, (name, round(b[name], 3))  # CD38 0.7 fixed: plasmablasts 0.70


def test_a_dim_cd56_keeps_the_nk_subsets(cases):
    nk = _scores(cases[0]["cd56_dim"])
    for name in ("NK", "CD56dim NK"):
        assert nk[name] >= 0.95, (name, round(nk[name], 3))  # a CD56 floor of 0.45: CD56dim NK 0.22


def test_a_dim_cd24_keeps_the_monocytes_of_the_b_cell_tube(cases):
    scores = _scores(cases[0]["cd24_dim"])
    assert scores["Monocytes"] >= 0.95 and scores["Granulocytes"] >= 0.95, scores  # CD24 < 0.5 fixed: 0.32


def test_a_dim_cd303_keeps_the_pdcs(cases):
    case = cases[0]["cd303_dim"]
    assert _scores(case, minimum=50)["pDC"] >= 0.95  # CD303 >= 0.5 fixed: 0.45
    cd303 = [f for f in _fits(case) if f["parameter"] == "CD303.min"]
    assert cd303 and all(f["status"] == "fitted" for f in cd303)


@pytest.mark.parametrize("share", [0.2, 0.3, 0.4])
def test_granulocytes_a_fifth_to_two_fifths_of_leukocytes_stay_live_leukocytes(share):
    """Fewer neutrophils (a neutropenic donor): lymphocytes become the largest mode of CD45 and of
    the viability dye, and the granulocytes' own modes beside them must not be taken for dead or
    CD45-negative cells."""
    synthetic = synthesize_sample("lupus_pd", 60_000, seed=5, frequencies={"Neutrophils": share,
                                                                           "Eosinophils": share})
    truth = truth_membership(synthetic)
    sample = Sample.from_arrays(synthetic.events, synthetic.channels, markers=synthetic.markers,
                                spillover=synthetic.spillover)
    result = cytogate.gate(cytogate.load_strategy(STRATEGIES / "lupus_pd.yaml"), sample)
    for name in ("Live", "Leukocytes", "Granulocytes"):
        assert _f1(result.masks[TRUTH[name].path], truth[name]) >= 0.99, name  # 0.70-0.86 before
