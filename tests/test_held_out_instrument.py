"""The ready-made strategies as shipped on tubes from an instrument they were not shaped on.

``held_out_tube`` writes a 10-colour DC / monocyte / NK tube (and a B-cell tube) independently of
``cytogate.synth`` (other scatter and detector gains, channels named by fluorochrome, no
FSC-H, no CD45, no CD303, lab spellings of the viability dye and HLA-DR).  Gated by
``nk_monocytes.yaml`` and ``dendritic_cells.yaml`` without edits or a panel file, every file
must gate (exit 0), ``fits.parquet`` must hold its fits, and per-event F1 against the
generating cell types must meet the bars of issue 20: B and T cells >= 0.95, lymphocytes
and NK cells >= 0.90, monocytes >= 0.85, pDCs >= 0.80.  The B-cell tube (no CD45, CD268 or
FSC-H; memory B cells a dim CD27 continuum) is gated by ``b_cells.yaml`` with the same bars and
memory / naive B cells >= 0.90.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from held_out_tube import B_TRUTH, b_tube, tube, truth

import cytogate
from cytogate.cli import main
from cytogate.fcs import write_fcs

STRATEGIES = Path(cytogate.__file__).resolve().parent / "gating_strategies"
BARS = {"B cells": 0.95, "T cells": 0.95, "Lymphocytes": 0.90, "NK": 0.90, "Monocytes": 0.85, "pDC": 0.80}
WHERE = {"nk_monocytes.yaml": ("B cells", "T cells", "Lymphocytes", "NK", "Monocytes"), "dendritic_cells.yaml": ("pDC",)}


def _f1(gated: np.ndarray, reference: np.ndarray) -> float:
    return 2.0 * int(np.sum(gated & reference)) / int(gated.sum() + reference.sum())


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    events, channels, markers, spillover, labels = tube()
    folder = tmp_path_factory.mktemp("held_out")
    write_fcs(folder / "tube.fcs", events, channels, markers=markers, spillover=spillover,
              keywords={"$CYT": "LSRFortessa"})
    return folder, cytogate.read_fcs(folder / "tube.fcs"), labels


@pytest.mark.parametrize("strategy", sorted(WHERE))
def test_held_out_tube_meets_the_bars(held_out, strategy):
    _, sample, labels = held_out
    result = cytogate.gate(cytogate.load_strategy(STRATEGIES / strategy), sample)
    paths = {pop.name: pop.path for pop in result.strategy.populations}
    reference = truth(labels)
    scores = {name: _f1(result.masks[paths[name]], reference[name]) for name in WHERE[strategy]}
    low = {k: round(v, 3) for k, v in scores.items() if v < BARS[k]}
    assert not low, f"{strategy}: F1 below the bar {low} (all: { {k: round(v, 3) for k, v in scores.items()} })"
    skipped = {s.population.rsplit("/", 1)[1] for s in result.skipped}
    assert {"Singlets", "Leukocytes"} <= skipped


def test_pdc_gate_keeps_cd11c_and_cd16_dcs_out(held_out):
    _, sample, labels = held_out
    result = cytogate.gate(cytogate.load_strategy(STRATEGIES / "dendritic_cells.yaml"), sample)
    gated = Counter(labels[result.masks["/Cells/Singlets/Live/Lymphocytes/pDC"]])
    # the tube carries CD123-intermediate mDCs and CD16+ DCs; with CD123 alone many would be counted
    assert gated["mDC"] + gated["CD16+ DC"] <= 0.05 * gated["pDC"], gated
    skipped = {(s.population.rsplit("/", 1)[1], s.parameter) for s in result.skipped}
    assert ("pDC", "CD303") in skipped and ("pDC", "Lin") in skipped and ("pDC", "CD11c") not in skipped


@pytest.mark.parametrize("strategy", sorted(WHERE))
def test_held_out_tube_runs_as_shipped(held_out, strategy, tmp_path):
    folder, sample, _ = held_out
    out = tmp_path / "run"
    code = main(["run", str(STRATEGIES / strategy), str(folder), "--out", str(out), "--workers", "1",
                 "--no-progress", "--no-stats"])
    assert code == 0
    fits = pd.read_parquet(out / "fits.parquet")
    assert set(fits["sample"]) == {"tube"}
    data_driven = {p.path for p in cytogate.load_strategy(STRATEGIES / strategy).populations if p.gate.needs_fit}
    # no FSC-H and no CD45: the singlet and leukocyte gates are skipped, not fitted
    data_driven -= {"/Cells/Singlets", "/Cells/Singlets/Live/Leukocytes"}
    fitted = set(fits.loc[fits["status"].isin(["fitted", "fallback"]), "population"])
    assert data_driven and data_driven <= fitted, sorted(data_driven - fitted)
    assert {"FSC-H", "CD45"} <= set(fits.loc[fits["status"] == "skipped", "parameter"])


def test_held_out_b_tube_meets_the_bars(tmp_path):
    events, channels, markers, spillover, labels = b_tube()
    write_fcs(tmp_path / "b_tube.fcs", events, channels, markers=markers, spillover=spillover)
    sample = cytogate.read_fcs(tmp_path / "b_tube.fcs")
    result = cytogate.gate(cytogate.load_strategy(STRATEGIES / "b_cells.yaml"), sample)
    paths = {pop.name: pop.path for pop in result.strategy.populations}
    bars = {**{k: v for k, v in BARS.items() if k in B_TRUTH}, "Memory B": 0.90, "Naive B": 0.90}
    reference = truth(labels, B_TRUTH)
    scores = {name: _f1(result.masks[paths[name]], reference[name]) for name in bars}
    low = {k: round(v, 3) for k, v in scores.items() if v < bars[k]}
    assert not low, f"F1 below the bar {low} (all: { {k: round(v, 3) for k, v in scores.items()} })"
    skipped = {(s.population.rsplit("/", 1)[1], s.parameter) for s in result.skipped}
    assert {("Singlets", "FSC-H"), ("Leukocytes", "CD45"), ("CD268+ B", "CD268")} <= skipped
    out = tmp_path / "run"
    assert main(["run", str(STRATEGIES / "b_cells.yaml"), str(tmp_path / "b_tube.fcs"), "--out", str(out),
                 "--workers", "1", "--no-progress", "--no-stats"]) == 0
    fits = pd.read_parquet(out / "fits.parquet")
    assert {"IgD.min", "CD27.max", "CD24.min", "CD38.min"} <= set(fits.loc[fits["status"] == "fitted", "parameter"])


@pytest.mark.parametrize("cd16", [28000, 2500], ids=["bright", "dim"])
def test_granulocytes_split_on_cd16_relative_to_the_neutrophil_mode(tmp_path, cd16):
    """Dim CD16 neutrophils (another antibody lot or detector voltage) put the valley below any fixed window."""
    from dataclasses import replace

    from held_out_tube import KINDS

    kinds = [replace(k, stains={**k.stains, "CD16": cd16}) if k.name == "Neutrophils" else k for k in KINDS]
    events, channels, markers, spillover, labels = tube(kinds=kinds)
    write_fcs(tmp_path / "tube.fcs", events, channels, markers=markers, spillover=spillover)
    result = cytogate.gate(cytogate.load_strategy(STRATEGIES / "nk_monocytes.yaml"), cytogate.read_fcs(tmp_path / "tube.fcs"))
    paths = {pop.name: pop.path for pop in result.strategy.populations}
    scores = {name: _f1(result.masks[paths[name]], labels == name) for name in ("Neutrophils", "Eosinophils")}
    assert scores["Neutrophils"] >= 0.95 and scores["Eosinophils"] >= 0.90, scores
    fit = result.fitted[paths["Neutrophils"]]["fits"][0]
    assert fit["status"] == "fitted", fit


@pytest.mark.parametrize("gain", [0.5, 2.0])
def test_lineage_and_hla_dr_cuts_follow_a_detector_gain(tmp_path, gain):
    """All fluorescence detectors at another voltage: the lineage and HLA-DR cuts move with the modes."""
    events, channels, markers, spillover, labels = tube()
    events[:, 2:] = np.clip(events[:, 2:] * gain, -1000, 262143)
    write_fcs(tmp_path / "tube.fcs", events, channels, markers=markers, spillover=spillover)
    result = cytogate.gate(cytogate.load_strategy(STRATEGIES / "dendritic_cells.yaml"),
                           cytogate.read_fcs(tmp_path / "tube.fcs"))
    paths = {pop.name: pop.path for pop in result.strategy.populations}
    reference = truth(labels)
    scores = {name: _f1(result.masks[paths[name]], reference[name]) for name in ("Monocytes", "pDC")}
    assert scores["Monocytes"] >= BARS["Monocytes"] and scores["pDC"] >= BARS["pDC"], scores


def test_too_few_cells_to_locate_a_cut_fall_back_instead_of_failing_the_file(tmp_path):
    """A PBMC tube (granulocytes removed by the density gradient) and a B tube with a few dozen B cells."""
    events, channels, markers, spillover, labels = tube()
    keep = ~np.isin(labels, ["Neutrophils", "Eosinophils"])
    write_fcs(tmp_path / "pbmc.fcs", events[keep], channels, markers=markers, spillover=spillover)
    out = tmp_path / "pbmc"
    assert main(["run", str(STRATEGIES / "nk_monocytes.yaml"), str(tmp_path / "pbmc.fcs"), "--out", str(out),
                 "--workers", "1", "--no-progress", "--no-stats"]) == 0
    events, channels, markers, spillover, labels = b_tube(n_events=1500)
    write_fcs(tmp_path / "few_b.fcs", events, channels, markers=markers, spillover=spillover)
    out = tmp_path / "few_b"
    assert main(["run", str(STRATEGIES / "b_cells.yaml"), str(tmp_path / "few_b.fcs"), "--out", str(out),
                 "--workers", "1", "--no-progress", "--no-stats"]) == 0
    fits = pd.read_parquet(out / "fits.parquet")
    transitional = fits[fits["population"].str.endswith("/Transitional B")]
    assert "fallback" in set(transitional["status"]), transitional
